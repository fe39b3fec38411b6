"""Celery task of the learned travel model: thin, it calls one service."""

from celery import shared_task

from routes.learning.services import travel_model_learn


@shared_task(name="routes.tasks.learn_travel_model", acks_late=True, reject_on_worker_lost=True)
def learn_travel_model(note: str = "nightly") -> int | None:
    """Learn a new travel model version (nightly, or on demand from the admin); returns its version."""
    model = travel_model_learn(note=note)
    return model.version if model else None
