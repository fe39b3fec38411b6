import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("dispatch")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Each concern keeps its Celery tasks in its own `tasks` module (docs/architecture.md); the workers and the
# embedded mode import these. A task keeps the name it was queued under (name=...), wherever it lives.
TASK_PACKAGES = [
    "dispatch.live",
    "dispatch.partners",
    "routes.plans",
    "routes.learning",
    "routes.closures",
    "customers.notifications",
    "customers.personal_data",
    "analytics",
]
app.autodiscover_tasks(TASK_PACKAGES)
