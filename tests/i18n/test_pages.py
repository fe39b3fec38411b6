"""German and English: the main pages in the user's language (their setting), else the browser's
(Accept-Language), else English; the switcher saves the choice."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from dispatch.models import Customer, Order, UserPreference
from routes.models import Plan

# (English, German) labels each page shows; the German page must show the second and not the first.
NAV = [("Closures", "Sperrungen"), ("Log out", "Abmelden")]
PAGES = {
    "today": ("/", [("Orders per status", "Aufträge pro Status"), ("Previous day", "Vorheriger Tag")]),
    "import": ("/orders/import/", [("Import orders", "Aufträge importieren"), ("File format", "Dateiformat")]),
    "plans": ("/plans/", [("Plan the day", "Den Tag planen"), ("Compute plan", "Plan berechnen")]),
    "plan": (None, [("All versions of the day", "Alle Versionen des Tages")]),
    "closures": ("/closures/", [("New closure", "Neue Sperrung"), ("Save closure", "Sperrung speichern")]),
    "live": ("/live/", [("Road closures", "Strassensperrungen"), ("Close a road", "Strasse sperren")]),
    "alerts": ("/alerts/", [("Nothing needs you right now.", "Im Moment gibt es nichts zu tun.")]),
    "inbox": ("/inbox/", [("No messages from customers.", "Keine Nachrichten von Kunden.")]),
    "order": (None, [("Proof of delivery", "Zustellnachweis"), ("Communication log", "Kommunikationsprotokoll")]),
    "analytics": (
        "/analytics/",
        [("Key figures", "Kennzahlen"), ("Deliveries by lateness", "Zustellungen nach Verspätung")],
    ),
}


@pytest.fixture
def order(depot_a):
    customer = Customer.objects.create(name="Anna Muster", email="anna@example.com", language="en")
    return Order.objects.create(
        reference="I18N-1", date=timezone.localdate() + timedelta(days=1), depot=depot_a, customer=customer,
        customer_name="Anna Muster", address="Städtle 1, Vaduz", lat=47.1399, lon=9.5213,
    )  # fmt: skip


@pytest.fixture
def plan(depot_a, dispatcher_a):
    return Plan.objects.create(
        date=timezone.localdate(), depot=depot_a, version=1, status="done", created_by=dispatcher_a
    )


def url_of(name, order, plan):
    path = PAGES[name][0]
    if name == "plan":
        return f"/plans/{plan.pk}/"
    if name == "order":
        return f"/orders/{order.pk}/"
    return path


def client_for(user, accept_language=None) -> Client:
    client = Client(headers={"accept-language": accept_language} if accept_language else {})
    client.force_login(user)
    return client


def assert_speaks(html: str, language: str, labels) -> None:
    assert f'<html lang="{language}">' in html
    for english, german in labels:
        if language == "de":
            if german:
                assert german in html, german
            assert f">{english}<" not in html, f"untranslated {english!r}"
        else:
            assert english in html, english
            if german:
                assert german not in html, german


@pytest.mark.parametrize("name", list(PAGES))
@pytest.mark.parametrize("how", ["setting", "browser", "none"])
def test_main_pages_speak_the_users_language(name, how, manager, order, plan, depot_a):
    depot_a.dispatchers.add(manager)
    if how == "setting":
        UserPreference.objects.create(user=manager, language="de")
    client = client_for(manager, accept_language="de-CH,de;q=0.9" if how == "browser" else "en-US,en;q=0.8")
    response = client.get(url_of(name, order, plan))
    assert response.status_code == 200, response.content[:500]
    html = response.content.decode()
    assert_speaks(html, "en" if how == "none" else "de", PAGES[name][1] + NAV)


def test_the_setting_wins_over_the_browser(manager):
    UserPreference.objects.create(user=manager, language="en")
    html = client_for(manager, accept_language="de").get("/").content.decode()
    assert_speaks(html, "en", NAV)


def test_driver_app_in_german_with_its_script_texts(driver_a):
    UserPreference.objects.create(user=driver_a.user, language="de")
    html = client_for(driver_a.user).get("/driver/").content.decode()
    assert_speaks(html, "de", [("Confirm delivery", "Zustellung bestätigen"), ("Next stop", "Nächster Stopp")])
    # driver.js's texts travel in the page (for offline use), with the fail reasons in German.
    assert '"Offline"' in html and '"Sende\\u2026"' in html
    assert "Niemand zu Hause" in html and "Nobody home" not in html


def test_driver_app_follows_the_browser(driver_a):
    html = client_for(driver_a.user, accept_language="de").get("/driver/").content.decode()
    assert "Zustellung bestätigen" in html
    html = client_for(driver_a.user, accept_language="en").get("/driver/").content.decode()
    assert "Confirm delivery" in html and "Nobody home" in html


@pytest.mark.parametrize("accept, text", [("de", "Benutzername"), ("en", "Username")])
def test_login_page_follows_the_browser(db, accept, text):
    html = Client(headers={"accept-language": accept}).get("/login/").content.decode()
    assert text in html and f'<html lang="{accept}">' in html


def test_switcher_saves_the_choice(manager):
    client = client_for(manager, accept_language="en")
    html = client.get("/").content.decode()
    assert 'name="language" value="de"' in html  # the switcher offers the other language
    response = client.post("/language/", {"language": "de", "next": "/plans/"})
    assert response.status_code == 302 and response["Location"] == "/plans/"
    assert UserPreference.objects.get(user=manager).language == "de"
    # Another browser (no cookie) speaking English: the saved choice still decides.
    assert_speaks(client_for(manager, accept_language="en").get("/").content.decode(), "de", NAV)
    # Back to the browser's language.
    client.post("/language/", {"language": "", "next": "/"})
    assert UserPreference.objects.get(user=manager).language == ""
    assert_speaks(client_for(manager, accept_language="en").get("/").content.decode(), "en", NAV)


def test_switcher_refuses_unknown_languages_and_foreign_redirects(manager):
    client = client_for(manager)
    assert client.post("/language/", {"language": "fr"}).status_code == 400
    response = client.post("/language/", {"language": "de", "next": "https://evil.example/"})
    assert response["Location"] == "/"


def test_switcher_before_login_sets_the_cookie(db):
    client = Client()
    client.post("/language/", {"language": "de", "next": "/login/"})
    assert "Benutzername" in client.get("/login/").content.decode()


def test_javascript_catalog_is_served_locally(db):
    response = Client(headers={"accept-language": "de"}).get("/jsi18n/")
    assert response.status_code == 200 and "Nicht erfasst" in response.content.decode()
