"""Two processes making an order's first promise at the same moment (a plan's notification and a
live ETA, in two workers): one promise, one "scheduled" message, no duplicate-key error."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Event, Notification, PromisedWindow
from customers.notifications.promises import promise_check
from tests.customers.conftest import make_order


@pytest.mark.django_db(transaction=True)
def test_two_processes_making_the_first_promise_together_make_it_once(depot_a, customer):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite takes its write lock when the transaction begins (IMMEDIATE): there is no race")
    order = make_order(depot_a, "RACE-1", customer=customer, day=timezone.localdate())
    etas = [timezone.now() + timedelta(hours=2), timezone.now() + timedelta(hours=2, minutes=1)]
    start_together = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def make_promise(eta):
        try:
            start_together.wait()
            with transaction.atomic():
                promise_check(order=order, eta=eta, driver_first_name="Dana")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=make_promise, args=(eta,)) for eta in etas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert PromisedWindow.objects.filter(order=order).count() == 1
    assert Notification.objects.filter(order=order, event=Event.SCHEDULED).values("occasion").distinct().count() == 1
