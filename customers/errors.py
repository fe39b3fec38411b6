"""The exception type of the customers app; config.exceptions maps it to the API's error shape."""

from config.errors import DomainError


class CustomersError(DomainError):
    """An error in tracking, feedback, messages or notifications."""
