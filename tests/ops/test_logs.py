"""Structured logs with a request id that follows a request into its tasks; Sentry only when asked."""

import json
import logging
import os
import subprocess  # nosec B404 - the test starts Python itself
import sys
import threading

import pytest
from celery import shared_task
from django.conf import settings

from config import request_id
from config.structured_logs import JsonFormatter, logging_config
from config.tasks import enqueue

seen: dict[str, str | None] = {}
ran = threading.Event()


@shared_task(name="tests.ops.remember_request_id")
def remember_request_id(key: str) -> None:
    logging.getLogger("tests.ops").info("task ran for %s", key)
    seen[key] = request_id.current()
    ran.set()


def test_it_echoes_a_given_request_id(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-0123456789abcdef")
    assert response["X-Request-ID"] == "req-0123456789abcdef"


@pytest.mark.parametrize("given", [None, "short", "has spaces in it", "line\nbreak-0123456789", "x" * 200])
def test_it_makes_one_when_none_or_a_bad_one_is_given(client, db, given):
    headers = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    made = client.get("/healthz", **headers)["X-Request-ID"]
    assert made != given and len(made) == 32 and made.isalnum()
    assert client.get("/healthz")["X-Request-ID"] != made  # one per request


def test_every_log_line_of_a_request_carries_its_id(client, db, caplog):
    from django.urls import path

    def noisy(request):
        from django.http import HttpResponse

        logging.getLogger("tests.ops").warning("inside the view")
        return HttpResponse("ok")

    with caplog.at_level(logging.WARNING, logger="tests.ops"):
        from django.test import override_settings

        urlconf = type("urls", (), {"urlpatterns": [path("noisy", noisy)]})
        with override_settings(ROOT_URLCONF=urlconf):
            client.get("/noisy", HTTP_X_REQUEST_ID="req-follow-me-0001")
    records = [r for r in caplog.records if r.getMessage() == "inside the view"]
    assert records and request_id.RequestIdFilter().filter(records[0])
    assert records[0].request_id == "req-follow-me-0001"


def test_the_json_format_is_one_object_per_line_with_the_request_id():
    record = logging.LogRecord("dispatch.plans", logging.ERROR, __file__, 1, "plan %s failed", (7,), None)
    try:
        raise ValueError("no vehicle")
    except ValueError:
        record.exc_info = sys.exc_info()
    record.plan_id = 7
    with request_id.bound("req-json-000001"):
        request_id.RequestIdFilter().filter(record)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "plan 7 failed" and entry["level"] == "ERROR" and entry["logger"] == "dispatch.plans"
    assert entry["request_id"] == "req-json-000001" and entry["plan_id"] == 7
    assert "ValueError: no vehicle" in entry["exception"] and entry["time"].endswith("+00:00")


def test_it_refuses_an_unknown_log_format():
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="xml", level="INFO")


def _settings_in_a_fresh_process(**env) -> dict:
    code = (
        "import json, django; django.setup(); from django.conf import settings; import sentry_sdk; "
        "client = sentry_sdk.get_client(); "
        "print(json.dumps({'format': settings.LOG_FORMAT, 'sentry': client.is_active(), "
        "'pii': client.options.get('send_default_pii') if client.is_active() else None}))"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", **env}
    environment.pop("SENTRY_DSN", None) if "SENTRY_DSN" not in env else None
    result = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, timeout=60)  # noqa: S603
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_logs_json_and_the_embedded_mode_text():
    production = {"DEBUG": "0", "SECRET_KEY": "k" * 60, "ALLOWED_HOSTS": "dispatch.example.com"}
    assert _settings_in_a_fresh_process(**production)["format"] == "json"
    assert _settings_in_a_fresh_process(DEBUG="1")["format"] == "text"
    assert (
        _settings_in_a_fresh_process(DEBUG="0", SECRET_KEY="k" * 60, ALLOWED_HOSTS="x", LOG_FORMAT="text")["format"]
        == "text"
    )


def test_sentry_is_off_without_a_dsn_and_sends_no_personal_data_with_one():
    assert _settings_in_a_fresh_process()["sentry"] is False
    # A DSN on a closed local port: nothing leaves the machine, the client is configured all the same.
    configured = _settings_in_a_fresh_process(SENTRY_DSN="http://public@127.0.0.1:9/1")
    assert configured["sentry"] is True and configured["pii"] is False


def test_an_inline_task_runs_under_the_request_id_of_its_caller(db):
    with request_id.bound("req-inline-0000001"):
        enqueue(remember_request_id, "inline")
    assert seen["inline"] == "req-inline-0000001"


def test_an_embedded_worker_thread_runs_a_task_under_its_request_id(db, settings):
    settings.TASKS_RUN_INLINE = False
    ran.clear()
    with request_id.bound("req-thread-0000001"):
        enqueue(remember_request_id, "thread")
    assert ran.wait(10)
    assert seen["thread"] == "req-thread-0000001"


def test_a_worker_takes_the_id_from_the_message_headers(db):
    remember_request_id.apply(args=("worker",), headers={"request_id": "req-header-0000001"})
    assert seen["worker"] == "req-header-0000001"


@pytest.mark.skipif(not settings.REDIS_URL, reason="a broker: REDIS_URL")
def test_a_task_published_to_the_broker_carries_the_request_id(db, settings):
    import redis

    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    client = redis.Redis.from_url(settings.REDIS_URL)
    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client.delete(queue)
    try:
        with request_id.bound("req-broker-0000001"):
            enqueue(remember_request_id, "broker")
        raw = client.lindex(queue, 0)
        assert raw is not None
        assert json.loads(raw)["headers"]["request_id"] == "req-broker-0000001"
    finally:
        client.delete(queue)
