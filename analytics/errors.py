"""The exception type of the analytics app; config.exceptions maps it to the API's error shape."""

from config.errors import DomainError


class AnalyticsError(DomainError):
    """A bad analytics request: a range, a filter or a value that cannot be used."""
