"""Celery task of personal data: the nightly retention run (CELERY_BEAT_SCHEDULE in config/settings.py)."""

from celery import shared_task

from customers.personal_data.services import personal_data_expire as expire


@shared_task(name="customers.tasks.personal_data_expire", acks_late=True)
def personal_data_expire() -> int:
    """Beat, nightly: personal data of orders completed before PERSONAL_DATA_RETENTION_DAYS, anonymized."""

    return expire()
