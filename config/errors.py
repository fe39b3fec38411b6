"""The base of every app's domain error; config.exceptions maps it to the API's one error shape."""


class DomainError(Exception):
    """What was wrong and where.

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
