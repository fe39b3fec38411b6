from django.db import migrations


def seed(apps, schema_editor):
    # The wording as shipped at this migration (customers.notifications.texts); managers edit it later.
    from customers.notifications.texts import DEFAULT_TEMPLATES

    NotificationTemplate = apps.get_model("customers", "NotificationTemplate")
    existing = set(NotificationTemplate.objects.values_list("event", "channel", "language"))
    NotificationTemplate.objects.bulk_create(
        [
            NotificationTemplate(event=event, channel=channel, language=language, subject=subject, body=body)
            for (event, channel, language), (subject, body) in DEFAULT_TEMPLATES.items()
            if (event, channel, language) not in existing
        ]
    )


class Migration(migrations.Migration):
    dependencies = [("customers", "0002_notifications_feedback_messages")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
