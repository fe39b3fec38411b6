"""SMS backends that fail on purpose, for retry tests (also loaded by the real worker in test_worker)."""

from customers.notifications.backends import TransientSendError


class FailFirstAttemptSmsBackend:
    """Fails the first attempt of each message (the row's attempt counter says which one this is)."""

    def send(self, notification) -> str:
        if notification.attempts <= 1:
            raise TransientSendError("gateway timeout (forced)")
        return "flaky-ok"


class AlwaysDownSmsBackend:
    def send(self, notification) -> str:
        raise TransientSendError("connection refused (forced)")
