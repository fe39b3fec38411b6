"""The exception type of the dispatch app; config.exceptions maps it to the API's error shape."""

from django.utils.translation import ngettext

from config.errors import DomainError


class DispatchError(DomainError):
    """An error in orders, fleet or status changes."""


class OrderImportError(DispatchError):
    """Raised with every bad row of an import; nothing has been written."""

    def __init__(self, errors: list[dict]):
        # In the request's language, like each row's message (made where the error is found).
        count = len(errors)
        super().__init__(
            ngettext(
                "%(count)s error in the file; nothing was imported",
                "%(count)s errors in the file; nothing was imported",
                count,
            )
            % {"count": count},
            errors=errors,
        )


class OrderImportTooLarge(OrderImportError):
    """The file (or the request carrying it) is over ORDER_IMPORT_MAX_BYTES."""

    status_code = 413


class InvalidTransition(DispatchError):
    status_code = 409
