"""Transport-level failures: a bad request, a missing token, an unknown entity. Business refusals are values."""


class ApiError(Exception):
    """An HTTP-status failure (400, 401, 404, ...) with a message that names the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def denied(message: str = "Access is denied") -> ApiError:
    return ApiError(401, message)


def field_message(message: str) -> str:
    """msgspec says 'Expected `int`, got `str` - at `$.accountId`'; lead with the field."""
    text, _, where = message.rpartition(" - at `")
    if not text:
        return f"body: {message}"
    field = where.rstrip("`").removeprefix("$.").removeprefix("$") or "body"
    return f"{field}: {text}"
