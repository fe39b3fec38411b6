"""Seed the editable traffic profiles with the engine's default weekday/weekend rush hours."""

from django.db import migrations


def seed(apps, schema_editor):
    from routes.network.traffic import default_weekday_factors, default_weekend_factors

    TrafficProfile = apps.get_model("routes", "TrafficProfile")
    for day_type, table in (("weekday", default_weekday_factors()), ("weekend", default_weekend_factors())):
        for road_class, factors in table.items():
            TrafficProfile.objects.get_or_create(
                road_class=road_class, day_type=day_type, defaults={"hourly_factors": [round(f, 3) for f in factors]}
            )


class Migration(migrations.Migration):
    dependencies = [("routes", "0001_initial")]
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
