# Learned travel models (issue 18): TravelModel and the version a plan used.

import django.utils.timezone
from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [
        ("routes", "0009_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="plan",
            name="travel_model_version",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="The learned travel model its times came from; empty: the road network's default speeds",
                null=True,
                verbose_name="travel model version",
            ),
        ),
        migrations.CreateModel(
            name="TravelModel",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("version", models.PositiveIntegerField(unique=True, verbose_name="version")),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now, verbose_name="created at")),
                ("trained_from", models.DateField(blank=True, null=True, verbose_name="trained from")),
                ("trained_to", models.DateField(blank=True, null=True, verbose_name="trained to")),
                (
                    "held_out_day",
                    models.DateField(
                        blank=True,
                        help_text="The day its score was measured on",
                        null=True,
                        verbose_name="held-out day",
                    ),
                ),
                (
                    "score",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Leg-time errors on the held-out day (seconds): this version's and the one active then",
                        verbose_name="score",
                    ),
                ),
                ("active", models.BooleanField(db_index=True, default=False, verbose_name="active")),
                ("activated_at", models.DateTimeField(blank=True, null=True, verbose_name="activated at")),
                (
                    "network_path",
                    models.CharField(
                        blank=True,
                        help_text="The road network build it was learned on",
                        max_length=255,
                        verbose_name="network",
                    ),
                ),
                (
                    "speeds",
                    models.BinaryField(
                        blank=True,
                        default=b"",
                        help_text="Learned speed factors per profile, day type, hour and road stretch (compressed numpy)",
                        verbose_name="speeds",
                    ),
                ),
                (
                    "parameters",
                    models.JSONField(
                        blank=True,
                        default=dict,
                        help_text="Doorstep times and learning statistics",
                        verbose_name="parameters",
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=255, verbose_name="note")),
            ],
            options={
                "verbose_name": "travel model",
                "verbose_name_plural": "travel models",
                "ordering": ["-version"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=Q(active=True), fields=("active",), name="travel_model_one_active"
                    )
                ],
            },
        ),
    ]
