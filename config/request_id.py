"""One id per request, on every log line it causes, in the tasks it enqueues too.

The id comes from the X-Request-ID header (nginx's $request_id, a load balancer's) when it looks like
one, and is made here otherwise; the response echoes it, so a customer's or a driver's complaint
with that header finds every line of the request, and of the Celery tasks it enqueued: the id
rides on each message as a header (config.tasks stamps it on publish) and is set again around the
task in the worker (task_prerun), or carried by the job in the embedded workers' threads.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from contextlib import contextmanager

HEADER = "X-Request-ID"
TASK_HEADER = "request_id"
# What we accept from outside: short, and only characters that cannot forge a log line.
_VALID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")

_current: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def current() -> str | None:
    return _current.get()


def new_id() -> str:
    return uuid.uuid4().hex


def from_header(value: str | None) -> str:
    return value if value and _VALID.match(value) else new_id()


@contextmanager
def bound(request_id: str | None):
    """Run the block with `request_id` as the current id (None: leave it as it is)."""
    if request_id is None:
        yield
        return
    token = _current.set(request_id)
    try:
        yield
    finally:
        _current.reset(token)


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record ("-" outside a request or task), for any formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = _current.get() or "-"
        return True


class RequestIdMiddleware:
    """Sets the id for the request (sync and async views alike: asgiref copies the context into the
    thread a sync view runs on) and echoes it in the response."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        from asgiref.sync import iscoroutinefunction, markcoroutinefunction

        self.get_response = get_response
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request):
        if self._is_async:
            return self.__acall__(request)
        request_id = from_header(request.headers.get(HEADER))
        request.request_id = request_id
        with bound(request_id):
            response = self.get_response(request)
        response[HEADER] = request_id
        return response

    async def __acall__(self, request):
        request_id = from_header(request.headers.get(HEADER))
        request.request_id = request_id
        with bound(request_id):
            response = await self.get_response(request)
        response[HEADER] = request_id
        return response


# --- Celery ---------------------------------------------------------------------------------------

_task_tokens: dict[str, contextvars.Token] = {}


def _stamp_on_publish(headers=None, **_kwargs) -> None:
    request_id = _current.get()
    if headers is not None and request_id and TASK_HEADER not in headers:
        headers[TASK_HEADER] = request_id


def _task_request_id(task) -> str | None:
    request = getattr(task, "request", None)
    if request is None:
        return None
    found = getattr(request, TASK_HEADER, None)
    if not found:
        found = (getattr(request, "headers", None) or {}).get(TASK_HEADER)
    return found if isinstance(found, str) and _VALID.match(found) else None


def _on_task_prerun(task_id=None, task=None, **_kwargs) -> None:
    # A worker: the id the message carries, or the task's own id (beat's tasks have no request).
    # An eager task (embedded mode, tests) already runs inside its caller's id: keep it.
    request_id = _task_request_id(task) or _current.get() or task_id
    if task_id and request_id:
        _task_tokens[task_id] = _current.set(request_id)


def _on_task_postrun(task_id=None, **_kwargs) -> None:
    token = _task_tokens.pop(task_id, None) if task_id else None
    if token is not None:
        try:
            _current.reset(token)
        except ValueError:  # set in another context (a worker pool's quirk): just clear it
            _current.set(None)


def connect_celery_signals() -> None:
    from celery.signals import before_task_publish, task_postrun, task_prerun

    before_task_publish.connect(_stamp_on_publish, weak=False, dispatch_uid="request-id-publish")
    task_prerun.connect(_on_task_prerun, weak=False, dispatch_uid="request-id-prerun")
    task_postrun.connect(_on_task_postrun, weak=False, dispatch_uid="request-id-postrun")


connect_celery_signals()
