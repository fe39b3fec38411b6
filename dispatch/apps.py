from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DispatchConfig(AppConfig):
    name = "dispatch"
    verbose_name = "Dispatch: orders, depots, fleet"

    def ready(self):
        from dispatch.roles import grant_manager_permissions

        # Runs after the permissions of every app exist, so models added later reach managers too.
        post_migrate.connect(grant_manager_permissions, dispatch_uid="dispatch.grant_manager_permissions")
