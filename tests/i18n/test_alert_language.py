"""Alerts are stored as text when they are made: in the company's language (settings.LANGUAGE_CODE),
whatever language the request or task that made them speaks."""

import pytest
from django.utils import timezone, translation

from dispatch.live import alerts
from dispatch.models import Alert, Order


@pytest.fixture
def order(depot_a):
    return Order.objects.create(
        reference="I18N-F", date=timezone.localdate(), depot=depot_a, lat=47.14, lon=9.52, status="failed"
    )


@pytest.mark.parametrize(
    "company, expected",
    [
        ("de", "Zustellung von I18N-F gescheitert: niemand zu Hause (Hund bellt)"),
        ("en", "Delivery of I18N-F failed: nobody home (Hund bellt)"),
    ],
)
def test_a_failed_delivery_alert_speaks_the_company_language(settings, order, company, expected):
    settings.LANGUAGE_CODE = company
    with translation.override("en" if company == "de" else "de"):  # the request's language does not matter
        alerts.on_order_status_changed(
            order_id=order.pk, reference=order.reference, depot_id=order.depot_id, to_status="failed",
            reason="not_home", note="Hund bellt",
        )  # fmt: skip
    assert Alert.objects.get(order=order).message == expected
