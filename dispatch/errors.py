"""The exception type of the dispatch app; config.exceptions maps it to the API's error shape."""

from config.errors import DomainError


class DispatchError(DomainError):
    """An error in orders, fleet or status changes."""


class OrderImportError(DispatchError):
    """Raised with every bad row of an import; nothing has been written."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} error(s) in the file; nothing was imported", errors=errors)


class OrderImportTooLarge(OrderImportError):
    """The file (or the request carrying it) is over ORDER_IMPORT_MAX_BYTES."""

    status_code = 413


class InvalidTransition(DispatchError):
    status_code = 409
