"""The client's one exception tree. Business failures are NOT exceptions: they come back as the result's values
(`failureReason`/`failureText`, `errorText`, `violations`), as Tradovate answers them with HTTP 200.

```
TradovateError
├── TransportError        the request did not get an answer (connection refused, timeout, socket closed)
├── ProtocolError         an answer that is not what the protocol says (not JSON, not the declared shape)
├── PenaltyCaptchaError   a penalty ticket asks a captcha: a program cannot go on (wait about an hour)
└── StatusError           an HTTP (or socket) status other than 200: `.status` and the server's `.message`
    ├── BadRequestError   400 (the message names the field)
    ├── AuthError         401, a refused login (wrong password) or a session that cannot be renewed
    ├── NotFoundError     404
    ├── RateLimitedError  429 (Tradovate's user-level limit: no ticket, wait)
    └── ServerError       5xx, and any other status
```
"""

from typing import ClassVar


class TradovateError(Exception):
    """Base of every error the client raises."""


class TransportError(TradovateError):
    """No answer: the server could not be reached, the request timed out, or the socket closed."""


class ProtocolError(TradovateError):
    """An answer that does not follow the protocol: not JSON, or not the shape the operation declares."""


class PenaltyCaptchaError(TradovateError):
    """A penalty ticket with `p-captcha: true`: Tradovate wants a captcha, which a program cannot solve."""

    def __init__(self, operation: str, wait_seconds: int) -> None:
        super().__init__(f"{operation}: the server asks a captcha (penalty of {wait_seconds} s); wait and retry later")
        self.operation = operation
        self.wait_seconds = wait_seconds


class StatusError(TradovateError):
    """An answer with a status other than 200: `status` and the server's `message` (its `errorText`, or the text)."""

    status_code: ClassVar[int | None] = None

    def __init__(self, operation: str, status: int, message: str) -> None:
        super().__init__(f"{operation}: HTTP {status}: {message}" if message else f"{operation}: HTTP {status}")
        self.operation = operation
        self.status = status
        self.message = message


class BadRequestError(StatusError):
    status_code = 400


class AuthError(StatusError):
    """401; also a login refused with an `errorText` (status 200), and a token that cannot be renewed."""

    status_code = 401


class NotFoundError(StatusError):
    status_code = 404


class RateLimitedError(StatusError):
    """429: the user-level limit (Tradovate answers no body and no ticket; wait before sending again)."""

    status_code = 429


class ServerError(StatusError):
    """5xx, or any other status the client does not know."""


def status_error(operation: str, status: int, message: str) -> StatusError:
    """The exception for `status`."""
    for kind in (BadRequestError, AuthError, NotFoundError, RateLimitedError):
        if kind.status_code == status:
            return kind(operation, status, message)
    return ServerError(operation, status, message)
