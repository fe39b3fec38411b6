"""The one exception type of the dispatch app; config.exceptions maps it to the API's error shape."""


class DispatchError(Exception):
    """A domain error with what was wrong and where.

    `errors` is a list of {"row"?, "field", "value", "message"} dicts, the shape the API returns.
    """

    status_code = 400

    def __init__(
        self, message: str, *, field: str = "", value=None, errors: list[dict] | None = None, status_code=None
    ):
        super().__init__(message)
        self.message = message
        self.errors = errors if errors is not None else [{"field": field, "value": value, "message": message}]
        if status_code is not None:
            self.status_code = status_code


class OrderImportError(DispatchError):
    """Raised with every bad row of an import; nothing has been written."""

    def __init__(self, errors: list[dict]):
        super().__init__(f"{len(errors)} error(s) in the file; nothing was imported", errors=errors)


class InvalidTransition(DispatchError):
    status_code = 409
