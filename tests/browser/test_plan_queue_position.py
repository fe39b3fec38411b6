"""A dispatcher who asks to compare three plans while the plans queue is busy sees where each one
stands ("2 tasks ahead") instead of a bare "Waiting to start" (issue #14).

The live server runs the embedded mode's queues (a thread per queue in this process); a long task
keeps the plans queue's thread busy while the page is looked at.
"""

import re

import pytest

from routes.models import Plan
from tests.browser.conftest import log_in
from tests.celery_workers import wait_for
from tests.test_task_priorities import hold

pytestmark = pytest.mark.django_db(transaction=True)
DAY = "2030-06-03"  # a day to come, whatever the hour of the run


@pytest.fixture
def embedded_queues(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.TASKS_RUN_INLINE = False
    settings.DEBUG = True  # static files from the finders, plain-HTTP cookies
    settings.CELERY_WORK_QUEUES = {**settings.CELERY_WORK_QUEUES, "plans": f"browser-plans-{id(settings)}"}


def test_the_plan_page_says_how_many_tasks_wait_ahead(browser, live_server, embedded_queues, dispatcher_a, vehicle_a):
    busy = hold("plans")
    try:
        page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
        errors = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, live_server.url, dispatcher_a.username)
        page.goto(f"{live_server.url}/plans/?date={DAY}")
        page.check("input[name=objective][value=compare]")
        page.click("#plan-form button[type=submit]")
        page.wait_for_url(re.compile(r".*/plans/\d+/$"))

        from playwright.sync_api import expect

        # Each version's progress is fetched on its own and the answers may come back in any order:
        # wait for all three, not for the last one asked.
        expect(page.locator("#plan-progress .progress-stage")).to_have_text(
            ["Waiting to start · next in line", "Waiting to start · 1 task ahead", "Waiting to start · 2 tasks ahead"],
            timeout=15_000,
        )
        assert errors == []
    finally:
        busy.released.set()
        # No road network here: the three fail at once; none may run on once the database is gone.
        wait_for(lambda: not Plan.objects.filter(status__in=["queued", "running"]).exists(), 60, "the plans")
