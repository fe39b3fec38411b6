"""Give the manager group the model permissions the admin site needs.

Permissions are normally created in post_migrate, after every migration has run, so on a fresh
database they do not exist yet: create them here first for the two apps concerned.
"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

MANAGER = "manager"
APPS = ("dispatch", "customers")
ACTIONS = ("add", "change", "delete", "view")
# Status history is append-only (evidence of delivery): nobody may delete it, managers included.
NO_DELETE = {("dispatch", "orderstatuschange")}


def _manager_permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    for app_label in APPS:
        app_config = apps.get_app_config(app_label)
        # create_permissions skips app configs without a models module; the historical ones have none.
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    wanted = set()
    for app_label in APPS:
        for model in apps.get_app_config(app_label).get_models():
            model_name = model._meta.model_name
            for action in ACTIONS:
                if action == "delete" and (app_label, model_name) in NO_DELETE:
                    continue
                wanted.add((app_label, f"{action}_{model_name}"))
    permissions = [
        permission
        for permission in Permission.objects.filter(content_type__app_label__in=APPS).select_related("content_type")
        if (permission.content_type.app_label, permission.codename) in wanted
    ]
    return permissions


def grant_manager_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=MANAGER)
    group.permissions.add(*_manager_permissions(apps))


def revoke_manager_permissions(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=MANAGER).first()
    if group is not None:
        group.permissions.remove(*_manager_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("dispatch", "0002_role_groups"),
        ("customers", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]
    operations = [migrations.RunPython(grant_manager_permissions, revoke_manager_permissions)]
