"""How the command line fails: its exit codes, and one clear line for each error (never a traceback).

| code | meaning |
|---|---|
| 0 | done |
| 1 | the server refused it (a business failure: `failureReason`, `errorText`, violations) |
| 2 | usage: a wrong flag or value, a missing setting, a request the server answered 400 |
| 3 | connection or authentication: no server or no API at the URL, wrong credentials, an ended session, a rate limit |
| 4 | not found: an unknown account, symbol, order or user |
| 5 | the server failed: a 5xx, an answer that is not Tradovate's protocol |
| 130 | interrupted (Ctrl-C; `watch` ends with 0) |
"""

import enum

import httpx

from tradovate_sim.client import (
    AuthError,
    BadRequestError,
    NotFoundError,
    PenaltyCaptchaError,
    ProtocolError,
    RateLimitedError,
    StatusError,
    TradovateError,
    TransportError,
)


class Exit(enum.IntEnum):
    OK = 0
    REJECTED = 1
    USAGE = 2
    CONNECTION = 3
    NOT_FOUND = 4
    SERVER = 5
    INTERRUPTED = 130


class CliError(Exception):
    """One line for stderr and the exit code that goes with it."""

    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def usage(message: str) -> CliError:
    return CliError(Exit.USAGE, message)


def not_found(message: str) -> CliError:
    return CliError(Exit.NOT_FOUND, message)


def rejected(message: str) -> CliError:
    return CliError(Exit.REJECTED, message)


def unreachable(url: str, error: BaseException | None) -> str:
    cause = error.__cause__ if error is not None else None
    match cause:
        case httpx.ConnectError() if "SSL" in str(cause):
            why = f"the TLS handshake failed ({cause}); a server without TLS is http://, not https://"
        case httpx.ConnectError():
            why = "connection refused or host unknown (is the server running?)"
        case httpx.TimeoutException():
            why = "timed out"
        case _:
            why = str(error) if error is not None else "no answer"
    return f"cannot reach {url}: {why}"


def from_client(error: TradovateError, url: str) -> CliError:
    """The exit code and line of a client error (its message never holds the password: the client never sends it
    anywhere but the login's body)."""
    match error:
        case TransportError():
            return CliError(Exit.CONNECTION, unreachable(url, error))
        case AuthError():
            return CliError(Exit.CONNECTION, f"not authorized: {error.message or error}")
        case BadRequestError():
            return CliError(Exit.USAGE, f"refused: {error.message or error}")
        case NotFoundError() if error.operation.startswith("auth/"):  # every Tradovate API has these
            return CliError(Exit.CONNECTION, f"no Tradovate API at {url}: {error.operation} answered HTTP 404; "
                                             "give the server's root (http://host:port) or demo, live, local")
        case NotFoundError():
            return CliError(Exit.NOT_FOUND, f"not found: {error.message or error}")
        case PenaltyCaptchaError() if "tradovateapi.com" not in url:  # this server: no need to wait the hour
            return CliError(Exit.CONNECTION, f"rate limited: {error}; tradovate-sim forgets its counts when it "
                                             "restarts (or serve --rate-limits off)")
        case RateLimitedError() | PenaltyCaptchaError():
            return CliError(Exit.CONNECTION, f"rate limited: {error}")
        case StatusError():
            return CliError(Exit.SERVER, f"server error: HTTP {error.status}: {error.message or error.operation}")
        case ProtocolError():
            return CliError(Exit.SERVER, f"not a Tradovate answer from {url}: {error}")
    return CliError(Exit.SERVER, str(error))
