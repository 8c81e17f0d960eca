"""A login session, sans I/O: the credentials, the current token, and each call as a generator of steps (an
`HttpRequest` to send, whose `HttpAnswer` is sent back in, or a `Sleep`) that returns the call's result. The
blocking and the asyncio clients drive the same generator; neither repeats this logic.

- Token: logged in on the first call that needs one; renewed (`auth/renewAccessToken`) when it expires within
  `renew_before` (15 minutes by default; Tradovate's tokens live 90 minutes). A renewal refused with a 401 logs in
  again.
- Two-session rule: Tradovate keeps two sessions per user; a third login ends the oldest, whose token then gets 401.
  A call answered 401 logs in again once (with `relogin`, the default) and is sent again; a second 401 is raised.
  Without credentials (a client made from a token) a 401 is raised at once.
- Penalty tickets (`p-ticket`, `p-time`, `p-captcha`): the client waits `p-time` seconds and sends the same request
  again carrying the ticket, at most `max_tickets` times; `p-captcha: true` raises `PenaltyCaptchaError` at once.
- HTTP 429 (the user-level limit, no ticket) is raised as `RateLimitedError`: Tradovate says to wait, up to an hour.
  A renewal that is penalized or limited keeps the current token while it lives (renewed on a later call).
"""

from collections.abc import Callable, Generator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import msgspec

from tradovate_sim.client.calls import HttpAnswer, HttpRequest, Sleep, answer_of, http_request
from tradovate_sim.client.errors import AuthError, PenaltyCaptchaError, RateLimitedError
from tradovate_sim.model.api import Auth, Operation
from tradovate_sim.model.queries import NoParameters
from tradovate_sim.model.requests import AccessTokenRequest
from tradovate_sim.model.results import AccessTokenResponse, PenaltyTicket

Req = TypeVar("Req")
Res = TypeVar("Res")
Steps = Generator[HttpRequest | Sleep, HttpAnswer | None, Res]

RENEW_BEFORE = timedelta(minutes=15)
MAX_TICKETS = 3


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """Tradovate's login fields (`auth/accessTokenRequest`)."""

    name: str
    password: str
    app_id: str | None = None
    app_version: str | None = None
    cid: int | str | None = None
    sec: str | None = None
    device_id: str | None = None

    def request(self) -> AccessTokenRequest:
        return AccessTokenRequest(name=self.name, password=self.password, app_id=self.app_id,
                                  app_version=self.app_version, device_id=self.device_id, cid=self.cid, sec=self.sec)

    def __repr__(self) -> str:  # the password and the secret are never shown
        return f"Credentials(name={self.name!r}, app_id={self.app_id!r})"


class Session:
    """One user's session with one server (see the module's docstring)."""

    def __init__(self, credentials: Credentials | None, token: str | None = None, *,
                 renew_before: timedelta = RENEW_BEFORE, relogin: bool = True, max_tickets: int = MAX_TICKETS,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.credentials = credentials
        self.token = token
        self.md_token: str | None = None
        self.expires: datetime | None = None
        self.user_id: int | None = None
        self.renew_before = renew_before
        self.relogin = relogin
        self.max_tickets = max_tickets
        self.clock = clock
        self.logins = 0  # accessTokenRequests that gave a token
        self.renewals = 0

    def call(self, operation: Operation[Req, Res], request: Req) -> Steps[Res]:
        """One operation: logged in and renewed first when needed, penalties waited out, a lost session renewed."""
        if operation.public:
            return (yield from self.send(operation, request, None))
        yield from self.fresh_token()
        try:
            return (yield from self.send(operation, request, self.token))
        except AuthError:
            if self.credentials is None or not self.relogin:
                raise
        yield from self.login()  # the session ended (a third login elsewhere, a reset): once more, on a new one
        return (yield from self.send(operation, request, self.token))

    def send(self, operation: Operation[Req, Res], request: Req, token: str | None) -> Steps[Res]:
        """Send; wait out penalty tickets (at most `max_tickets`), each time sending again with the ticket."""
        ticket: str | None = None
        for _ in range(self.max_tickets + 1):
            answer = yield http_request(operation, request, token, ticket)
            assert answer is not None
            outcome = answer_of(operation, answer)
            if not isinstance(outcome, PenaltyTicket):
                return outcome
            if outcome.p_captcha:
                raise PenaltyCaptchaError(operation.name, outcome.p_time)
            yield Sleep(float(outcome.p_time))
            ticket = outcome.p_ticket
        raise RateLimitedError(operation.name, 200, f"still penalized after {self.max_tickets} tickets")

    def login(self) -> Steps[AccessTokenResponse]:
        """`auth/accessTokenRequest` with the credentials; an `AuthError` when it gives no token."""
        if self.credentials is None:
            raise AuthError(Auth.access_token_request.name, 401, "no credentials to log in with")
        response = yield from self.send(Auth.access_token_request, self.credentials.request(), None)
        self.take(Auth.access_token_request, response)
        self.logins += 1
        return response

    def renew(self) -> Steps[AccessTokenResponse]:
        """`auth/renewAccessToken`: a new token on the same session, a later expiry."""
        response = yield from self.send(Auth.renew_access_token, NoParameters(), self.token)
        self.take(Auth.renew_access_token, response)
        self.renewals += 1
        return response

    def fresh_token(self) -> Steps[None]:
        """Log in when there is no token; renew one about to expire (log in again when renewing is refused)."""
        if self.token is None:
            yield from self.login()
            return
        if self.expires is None or self.expires - self.clock() > self.renew_before:
            return
        try:
            yield from self.renew()
        except AuthError:
            if self.credentials is None:
                raise
            yield from self.login()
        except (RateLimitedError, PenaltyCaptchaError):
            if self.expires <= self.clock():
                raise
            # renewing is penalized but the token still lives: use it, renew on a later call

    def take(self, operation: Operation[Any, Any], response: AccessTokenResponse) -> None:
        if response.access_token is None:
            raise AuthError(operation.name, 200, response.error_text or "no access token in the answer")
        self.token = response.access_token
        self.md_token = response.md_access_token or self.md_token
        self.expires = response.expiration_time
        self.user_id = response.user_id if response.user_id is not None else self.user_id
