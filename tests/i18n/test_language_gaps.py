"""German and English where the pages used to speak English only: import errors, API errors, re-plan
alerts (company language), the admin's scripts, model help texts, dates, analytics figures and the
dispatch button's question. Each in both languages; machine keys (row, field, value, codes) never move."""

import re
from datetime import date, timedelta

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.functional import Promise

from analytics.units import decimal, distance_km, duration_hm, money, percent
from dispatch.models import Order, UserPreference
from routes.models import Plan
from routes.plans.proposals import _why, proposal_summary

BAD_IMPORT = b"reference,date,depot,latitude,longitude,weight_kg\nR-1,2026-02-30,A,47.14,9.52,1\nR-2,2026-05-04,A,47.14,9.52,-3\n"
# (row, field, value) of BAD_IMPORT's errors, and their message in each language.
IMPORT_ERRORS = [
    ((2, "date", "2026-02-30"), "not a real date in YYYY-MM-DD form", "kein gültiges Datum im Format JJJJ-MM-TT"),
    ((3, "weight_kg", "-3"), "must not be negative", "darf nicht negativ sein"),
]


def _upload(client, data: bytes, **headers):
    file = SimpleUploadedFile("orders.csv", data, "text/csv")
    return client.post("/api/orders/import/", {"file": file}, format="multipart", **headers)


# --- 1. Import errors: in the request's language, same machine keys --------------------------------


@pytest.mark.parametrize("language", ["en", "de"])
def test_import_errors_speak_the_requests_language(dispatcher_a_client, depot_a, language):
    response = _upload(dispatcher_a_client, BAD_IMPORT, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    body = response.json()
    got = [((e["row"], e["field"], e["value"]), e["message"]) for e in body["errors"]]
    assert got == [(keys, english if language == "en" else german) for keys, english, german in IMPORT_ERRORS]
    expected = "2 errors in the file; nothing was imported" if language == "en" else "2 Fehler in der Datei; nichts"
    assert body["detail"].startswith(expected)
    assert Order.objects.count() == 0


def test_file_level_import_errors_speak_german_too(dispatcher_a_client, depot_a):
    response = _upload(dispatcher_a_client, b"reference;date\n", HTTP_ACCEPT_LANGUAGE="de")
    assert response.json()["errors"] == [
        {"row": 2, "field": "", "value": None, "message": "die Datei enthält keine Auftragszeilen"}
    ]


def test_import_page_shows_the_errors_in_the_users_setting(dispatcher_a, depot_a):
    UserPreference.objects.create(user=dispatcher_a, language="de")
    client = Client(headers={"accept-language": "en"})
    client.force_login(dispatcher_a)
    response = client.post("/orders/import/", {"file": SimpleUploadedFile("orders.csv", BAD_IMPORT, "text/csv")})
    html = response.content.decode()
    assert "kein gültiges Datum im Format JJJJ-MM-TT" in html and "darf nicht negativ sein" in html
    assert "must not be negative" not in html


# --- 2. API errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "text"), [("en", "`from` is after `to`"), ("de", "`from` liegt nach `to`")])
def test_api_domain_errors_speak_the_requests_language(manager_client, language, text):
    response = manager_client.get("/api/analytics/kpis/?from=2026-03-10&to=2026-03-01", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert response.json() == {
        "detail": text, "errors": [{"field": "from", "value": "2026-03-10", "message": text}]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("language", "unknown", "invalid"),
    [("en", "Unknown depot 'ZZ'", "Invalid input"), ("de", "Unbekanntes Depot 'ZZ'", "Ungültige Eingabe")],
)
def test_api_errors_of_fleet_and_validation_speak_the_requests_language(
    manager_client, depot_a, language, unknown, invalid
):
    body = {
        "name": "Van 9", "depot": "ZZ", "kind": "van", "capacity_kg": 500,
        "shift_start": "08:00", "shift_end": "17:00", "cost_per_km": 0.5, "cost_per_hour": 30,
    }  # fmt: skip
    response = manager_client.post("/api/vehicles/", body, format="json", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 400
    assert response.json() == {"detail": invalid, "errors": [{"field": "depot", "value": "ZZ", "message": unknown}]}
    missing = Client(headers={"accept-language": language}).get("/api/no-such-thing/")
    assert missing.json()["detail"] == ("Not found." if language == "en" else "Nicht gefunden.")


# --- 3. Re-plan proposals: the company's language, whatever the request speaks ----------------------


PROPOSAL = {"moved_count": 2, "dropped_count": 1, "max_eta_shift_min": 25, "flagged_count": 1, "cost_delta": -12.5}


@pytest.mark.parametrize(
    ("company", "summary", "why"),
    [
        (
            "en",
            "2 stop(s) move to another vehicle, 1 dropped, ETAs shift by up to 25 min, 1 flagged late/overtime, "
            "cost -12.50",
            "road closed (Gas leak)",
        ),
        (
            "de",
            "2 Stopp(s) wechseln auf ein anderes Fahrzeug, 1 entfallen, ETAs verschieben sich um bis zu 25 min, "
            "1 als verspätet/Überzeit markiert, Kosten -12.50",
            "Strasse gesperrt (Gas leak)",
        ),
    ],
)
def test_proposal_texts_speak_the_company_language(settings, company, summary, why):
    settings.LANGUAGE_CODE = company
    with translation.override("de" if company == "en" else "en"):
        assert proposal_summary(PROPOSAL) == summary
        assert _why(Plan(reason="closure 3 v1 change: road closed (Gas leak): keep")) == why


# --- 4. The admin's scripts find the project's catalog ---------------------------------------------


@pytest.mark.parametrize(
    ("language", "text"), [("de", "Gebiet der Zone zeichnen"), ("de", "Keine Vorschau."), ("de", "ist kein Faktor")]
)
def test_admin_javascript_catalog_carries_the_projects_texts(manager, language, text):
    client = Client(headers={"accept-language": language})
    client.force_login(manager)
    response = client.get("/admin/jsi18n/")
    assert response.status_code == 200 and text in response.content.decode()


@pytest.mark.parametrize(
    ("path", "script"),
    [
        ("/admin/dispatch/zone/add/", "js/admin_zone_map.js"),
        ("/admin/routes/trafficprofile/add/", "js/admin_traffic_profile.js"),
    ],
)
def test_admin_pages_load_the_catalog_before_their_scripts(manager, depot_a, path, script):
    client = Client(headers={"accept-language": "de"})
    client.force_login(manager)
    html = client.get(path).content.decode()
    assert 'src="/admin/jsi18n/"' in html and script in html
    assert html.index('src="/admin/jsi18n/"') < html.index(script)


# --- 5. Model texts the admin shows -------------------------------------------------------------


def test_model_help_texts_and_choices_are_translated():
    field = Order._meta.get_field("geocoded")
    with translation.override("de"):
        assert str(field.help_text) == "Die Koordinaten stammen aus der Adresse, nicht aus dem Import"
        assert str(Order._meta.get_field("snap_distance_m").help_text) == "Abstand zur nächsten befahrbaren Strasse"
    with translation.override("en"):
        assert str(field.help_text) == "Coordinates came from the address, not the import"


@pytest.mark.parametrize(
    ("language", "title", "labels"),
    [
        ("de", "Fahrzeug hinzufügen", ["Kapazität (kg)", "Kosten pro km", "Erlaubte Zonen", "Schichtbeginn"]),
        ("en", "Add vehicle", ["Capacity kg", "Cost per km", "Allowed zones", "Shift start"]),
    ],
)
def test_the_admin_names_models_and_fields_in_the_managers_language(manager, depot_a, language, title, labels):
    """Every model and field has a translatable name (the English one Django derived before)."""
    client = Client(headers={"accept-language": language})
    client.force_login(manager)
    html = client.get("/admin/dispatch/vehicle/add/").content.decode()
    assert title in html
    for label in labels:
        assert f">{label}:</label>" in html, label


def test_every_model_and_field_name_is_translatable():
    plain = [
        f"{model.__name__}.{field.name}"
        for app in ("dispatch", "routes", "customers", "analytics")
        for model in apps.get_app_config(app).get_models()
        for field in model._meta.get_fields()
        if field.concrete and not field.auto_created and not isinstance(field.verbose_name, Promise)
    ]
    plain += [
        model.__name__
        for app in ("dispatch", "routes", "customers", "analytics")
        for model in apps.get_app_config(app).get_models()
        if not isinstance(model._meta.verbose_name_plural, Promise)
    ]
    assert plain == []


# --- 6. Dates in each language's own form ------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "long", "month_day"),
    [("en", "Friday, 4 December 2026", "4 December"), ("de", "Freitag, 4. Dezember 2026", "4. Dezember")],
)
def test_named_date_formats_follow_the_language(language, long, month_day):
    day = date(2026, 12, 4)
    with translation.override(language):
        assert f"{date_format(day, 'l')}, {date_format(day, 'DATE_FORMAT')}" == long
        assert date_format(day, "MONTH_DAY_FORMAT") == month_day


@pytest.mark.parametrize("language", ["en", "de"])
def test_day_pages_write_the_day_as_the_language_does(dispatcher_a, depot_a, language):
    day = timezone.localdate() + timedelta(days=3)
    client = Client(headers={"accept-language": language})
    client.force_login(dispatcher_a)
    with translation.override(language):
        heading = f"{date_format(day, 'l')}, {date_format(day, 'DATE_FORMAT')}"
    for path in ("/", "/plans/"):
        html = client.get(path, {"date": day.isoformat()}).content.decode()
        assert heading in html, path
    if language == "de":
        assert re.search(rf"{day.day}\. \w+ {day.year}", heading)


# --- 7. Analytics figures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("en", ["2.2 km", "CHF 1\u202f234.50", "12.3 %", "+12.3 pts", "−1.50", "1:05 h", "123\u202f457 km"]),
        ("de", ["2,2 km", "CHF 1\u202f234,50", "12,3 %", "+12,3 Pp.", "−1,50", "1:05 h", "123\u202f457 km"]),
    ],
)
def test_analytics_figures_follow_the_language(settings, language, expected):
    settings.CURRENCY = "CHF"
    with translation.override(language):
        got = [
            distance_km(2200), money(1234.5), percent(0.123), percent(0.123, signed=True), decimal(-1.5),
            duration_hm(3900), distance_km(123_456_789),
        ]  # fmt: skip
    assert got == expected


# --- 8. The dispatch button's question -----------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "question"),
    [
        ("en", "Send 0 routes to their drivers? 0 stops in all. The orders become dispatched"),
        ("de", "0 Touren an ihre Fahrer senden? Insgesamt 0 Stopps. Die Aufträge werden disponiert"),
    ],
)
def test_dispatch_button_asks_in_the_users_language(dispatcher_a, depot_a, language, question):
    plan = Plan.objects.create(
        date=timezone.localdate(), depot=depot_a, version=1, status="done", created_by=dispatcher_a
    )
    client = Client(headers={"accept-language": language})
    client.force_login(dispatcher_a)
    html = client.get(f"/plans/{plan.pk}/").content.decode()
    confirm = re.search(r'id="dispatch-button"[^>]*data-confirm="([^"]*)"', html)
    assert confirm and confirm.group(1).startswith(question), confirm and confirm.group(1)
