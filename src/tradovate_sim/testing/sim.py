"""What a test holds: the running server's addresses, its admin and demo users, and one call per thing a bot's test
sets up — a quote, the clock, an open or closed market, a funded trader — over plain HTTP (the wire shapes of
`tradovate_sim.model`).
"""

import itertools
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import httpx
import msgspec

from tradovate_sim.client import AsyncTradovate, Tradovate
from tradovate_sim.model.entities import Account, Contract
from tradovate_sim.model.ids import AccountId
from tradovate_sim.model.requests import AccessTokenRequest, EvaluationAccount, EvaluationUser
from tradovate_sim.model.results import (
    AccessTokenResponse,
    CreateEvaluationAccountsResponse,
    CreateEvaluationUsersResponse,
)
from tradovate_sim.model.simulator import (
    ClockRequest,
    ClockState,
    LimitsConfig,
    LimitsUpdate,
    PasswordRequest,
    PasswordState,
    QuoteRequest,
    QuoteState,
    ResetState,
)
from tradovate_sim.testing.server import ADMIN_NAME, DEMO_NAME, SimServer

T = TypeVar("T")

# A Tuesday, 09:00 in Chicago: every CME product's session is open; ESZ6 is the ES front month.
DEFAULT_START_TIME = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
DEFAULT_CASH = 50_000.0


class SimError(RuntimeError):
    """A set-up call the server refused (the message says which and why)."""


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """A user who can log in: `token` is a live access token (`Authorization: Bearer <token>`)."""

    name: str
    password: str
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


class Trader(Credentials, frozen=True, kw_only=True):
    """A user with one funded account and an approved trading permission on it."""

    account_id: int
    account_name: str
    trading_permission_id: int
    cash: float


def parse_time(value: datetime | str) -> datetime:
    """An aware datetime from a datetime (naive: UTC) or an ISO 8601 string (`Z` or an offset; none: UTC)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class Sim:
    """The test's handle on one server. Every method raises `SimError` when the server refuses it."""

    def __init__(self, server: SimServer, *, start_time: datetime = DEFAULT_START_TIME) -> None:
        self.server = server
        self.start_time = start_time
        self.http = httpx.Client(base_url=server.url, timeout=30.0)
        self._names = itertools.count(1)
        self._tokens: dict[str, Credentials] = {}
        self._limits: LimitsConfig | None = None  # /sim/limits as the server started: restored by every reset
        self._template_id: AccountId | None = None
        self._resetting = False  # a refused admin login restarts the server only in a reset, never mid-test

    def close(self) -> None:
        self.http.close()

    # --- addresses and users -----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's root: `/sim/*` controls, `/health`, `/metrics`."""
        return self.server.url

    @property
    def api_url(self) -> str:
        """Tradovate's REST API (`<api_url>/order/placeorder`): give it to the bot as its base URL."""
        return self.server.api_url

    @property
    def ws_url(self) -> str:
        return self.server.ws_url

    @property
    def admin(self) -> Credentials:
        """The organization admin (the risk desk; the only user the `/sim/*` controls accept), with a live token."""
        return self._live(ADMIN_NAME, self.server.admin_password)

    @property
    def demo(self) -> Credentials:
        """The seeded trader `demo` (accounts DEMO1 and DEMO2, $50,000 each), with a live token."""
        return self._live(DEMO_NAME, self.server.demo_password)

    def _live(self, name: str, password: str) -> Credentials:
        """A seeded user's cached credentials, logged in again if the server no longer takes the token."""
        known = self._login(name, password)
        if self._request("GET", "/v1/auth/me", headers=known.headers).status_code == 401:
            known = self._login(name, password, renew=True)
        return known

    def login(self, name: str, password: str) -> Credentials:
        """Log `name` in (a fresh token)."""
        body = msgspec.json.encode(AccessTokenRequest(name=name, password=password))
        answer = self._decode(self._request("POST", "/v1/auth/accesstokenrequest", content=body, headers=_JSON),
                              AccessTokenResponse, "auth/accesstokenrequest")
        if answer.access_token is None or answer.user_id is None:
            raise SimError(f"auth/accesstokenrequest {name!r}: {answer.error_text}")
        return Credentials(name=name, password=password, user_id=answer.user_id, token=answer.access_token)

    def _login(self, name: str, password: str, *, renew: bool = False) -> Credentials:
        """A cached token, renewed by logging in again when the server said 401 (it lives 90 minutes of real time;
        a third login of the same user ends it)."""
        known = self._tokens.get(name)
        if known is None or renew:
            try:
                known = self._tokens[name] = self.login(name, password)
            except SimError:
                if name != ADMIN_NAME or not self._resetting:
                    raise
                self._restart()  # a test set the admin's password (`/sim/reset` keeps it): the start sets it back
                known = self._tokens[name] = self.login(name, password)
        return known

    def _restart(self) -> None:
        """The server started again on its database: its start gives the admin and demo their passwords again."""
        self.server.restart()
        self._tokens.clear()
        self.http.close()
        self.http = httpx.Client(base_url=self.server.url, timeout=30.0)

    def _as_admin(self, method: str, path: str, *, content: bytes | None = None,
                  params: dict[str, str] | None = None) -> httpx.Response:
        """A request with the admin's token, renewed once if the server no longer takes it."""
        for renew in (False, True):
            admin = self._login(ADMIN_NAME, self.server.admin_password, renew=renew)
            response = self._request(method, path, content=content, params=params,
                                     headers={**admin.headers, **_JSON})
            if response.status_code != 401:
                break
        return response

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One HTTP request; a server that cannot be reached is a `SimError` saying whether it is still running."""
        try:
            return self.http.request(method, path, **options)
        except httpx.TransportError as error:
            if not self.server.alive():
                raise SimError(f"{method} {path}: the tradovate-sim server is not running; its output:\n"
                               f"{self.server.log()[-4000:]}") from error
            raise SimError(f"{method} {path}: {error!r}") from error

    # --- plain calls -------------------------------------------------------------------------------------------

    def call(self, operation: str, body: object = None, *, user: Credentials | None = None) -> Any:
        """`POST /v1/<operation>` as `user` (default: the admin); the decoded JSON answer (HTTP 200 required)."""
        return self._send("POST", f"/v1/{operation}", body, user)

    def query(self, operation: str, *, user: Credentials | None = None, **params: object) -> Any:
        """`GET /v1/<operation>?params` as `user` (default: the admin); the decoded JSON answer."""
        return self._send("GET", f"/v1/{operation}", None, user, params)

    def _send(self, method: str, path: str, body: object, user: Credentials | None,
              params: dict[str, object] | None = None) -> Any:
        content = None if body is None else msgspec.json.encode(body)
        query = {k: str(v) for k, v in (params or {}).items()}
        if user is None:
            response = self._as_admin(method, path, content=content, params=query)
        else:
            response = self._request(method, path, content=content, params=query, headers={**user.headers, **_JSON})
        return self._decode(response, object, path)

    @staticmethod
    def _decode(response: httpx.Response, kind: type[T], what: str) -> T:
        if response.status_code != 200:
            raise SimError(f"{what}: HTTP {response.status_code} {response.text[:500]}")
        try:
            return msgspec.json.decode(response.content, type=kind)
        except msgspec.DecodeError as error:
            raise SimError(f"{what}: unexpected answer {response.text[:500]!r}: {error}") from None

    def _control(self, method: str, action: str, body: msgspec.Struct | None, kind: type[T],
                 params: dict[str, str] | None = None) -> T:
        content = None if body is None else msgspec.json.encode(body)
        return self._decode(self._as_admin(method, f"/sim/{action}", content=content, params=params), kind,
                            f"{method} /sim/{action}")

    # --- typed clients ---------------------------------------------------------------------------------------

    def client(self, user: Credentials | None = None) -> Tradovate:
        """`tradovate_sim.client.Tradovate` on this server as `user` (default: the admin), with its token (and its
        password, to log in again when the token dies). Close it, or use it in a `with`."""
        user = user or self.admin
        return Tradovate(url=self.url, name=user.name, password=user.password, token=user.token)

    def async_client(self, user: Credentials | None = None) -> AsyncTradovate:
        """The asyncio twin of `client`: `async with tradovate_sim.async_client(trader) as client: ...`."""
        user = user or self.admin
        return AsyncTradovate(url=self.url, name=user.name, password=user.password, token=user.token)

    # --- quotes ------------------------------------------------------------------------------------------------

    def quote(self, symbol: str, bid: float | None = None, ask: float | None = None, last: float | None = None, *,
              bid_size: int | None = None, ask_size: int | None = None, last_size: int | None = None,
              depth_size: int | None = None, depth_levels: int | None = None) -> QuoteState:
        """Pin `symbol`'s quote (the whole quote: an omitted side is empty). `last` prints a trade at that price;
        resting orders and stops it reaches fill, and the risk engine acts on it, before this returns."""
        request = QuoteRequest(symbol=symbol, bid=bid, ask=ask, last=last, bid_size=bid_size, ask_size=ask_size,
                               last_size=last_size, depth_size=depth_size, depth_levels=depth_levels)
        return self._control("POST", "quote", request, QuoteState)

    def get_quote(self, symbol: str) -> QuoteState:
        return self._control("GET", "quote", None, QuoteState, {"symbol": symbol})

    def release_quote(self, symbol: str) -> QuoteState:
        """Hand the quote back to the random walk (which moves only if the server's quotes are synthetic)."""
        return self._control("POST", "quote", QuoteRequest(symbol=symbol, release=True), QuoteState)

    # --- the clock and the market ------------------------------------------------------------------------------

    def now(self) -> datetime:
        return self._control("GET", "clock", None, ClockState).now

    def set_time(self, when: datetime | str) -> datetime:
        """Freeze the server's clock at `when` (contracts listed for that date appear)."""
        return self._control("POST", "clock", ClockRequest(now=parse_time(when)), ClockState).now

    def advance(self, by: timedelta | float) -> datetime:
        """Move the frozen clock forward by `by` (a timedelta or seconds); session ends, rolls and unlocks due in
        between happen."""
        seconds = by.total_seconds() if isinstance(by, timedelta) else float(by)
        return self._control("POST", "clock", ClockRequest(advance_seconds=seconds), ClockState).now

    def is_market_open(self, product: str = "ES") -> bool:
        """Whether `product`'s session is open at the server's time (CME hours and holidays)."""
        return _hours(self.server.catalogue, self.server.calendar_cache).is_open(product, self.now())

    def open_market(self, product: str = "ES") -> datetime:
        """Move the clock forward to the next moment `product`'s session is open (no move if it is open now)."""
        now = self.now()
        when = _hours(self.server.catalogue, self.server.calendar_cache).next_open(product, now)
        return now if when == now else self.set_time(when)

    def close_market(self, product: str = "ES") -> datetime:
        """Move the clock forward to the next moment `product`'s session is closed (its next close, or no move)."""
        now = self.now()
        when = _hours(self.server.catalogue, self.server.calendar_cache).next_close(product, now)
        return now if when == now else self.set_time(when)

    def front(self, product: str = "ES") -> Contract:
        """`product`'s front-month contract at the server's time (`front("ES").name` is e.g. `ESZ6`)."""
        found = msgspec.convert(self.query("contract/suggest", t=product, l=1), list[Contract])
        if not found or not found[0].name.startswith(product):
            raise SimError(f"contract/suggest: no contract of {product!r}")
        return found[0]

    # --- users and accounts ------------------------------------------------------------------------------------

    def trader(self, name: str | None = None, *, cash: float = DEFAULT_CASH, password: str | None = None) -> Trader:
        """A new user with one account holding `cash`, its trading permission approved, logged in."""
        name = name or f"trader{next(self._names)}"
        password = password or f"{name}-password"
        user = EvaluationUser(name=name, email=f"{name}@example.com", password=password, first_name="Test",
                              last_name="Trader")
        users = msgspec.convert(self.call("user/createevaluationusers", {"users": [msgspec.to_builtins(user)]}),
                                CreateEvaluationUsersResponse)
        made = users.results[0] if users.results else None
        if made is None or made.user_id is None:
            raise SimError(f"user/createevaluationusers {name!r}: {made.error_text if made else users.error_text}")
        account_name = f"{name.upper()}-1"
        account = EvaluationAccount(user_id=made.user_id, template_account_id=self._template(), name=account_name,
                                    initial_balance=cash)
        accounts = msgspec.convert(self.call("user/createevaluationaccounts",
                                             {"accounts": [msgspec.to_builtins(account)]}),
                                   CreateEvaluationAccountsResponse)
        opened = accounts.results[0] if accounts.results else None
        if opened is None or opened.account_id is None or opened.trading_permission_id is None:
            raise SimError(f"user/createevaluationaccounts {account_name!r}: "
                           f"{opened.error_text if opened else accounts.error_text}")
        login = self.login(name, password)
        return Trader(name=name, password=password, user_id=login.user_id, token=login.token,
                      account_id=opened.account_id, account_name=account_name,
                      trading_permission_id=opened.trading_permission_id, cash=cash)

    def account(self, name: str) -> Account:
        """An account by name (`DEMO1`, or a trader's `account_name`)."""
        return msgspec.convert(self.query("account/find", name=name), Account)

    def _template(self) -> AccountId:
        """The seeded TEMPLATE account (its id is the same after every reset)."""
        if self._template_id is None:
            self._template_id = self.account("TEMPLATE").id
        return self._template_id

    # --- state -------------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the freshly seeded database with the clock at `start_time` and every quote at its reference
        price, unpinned; request limits as the server started, their counters cleared; the admin's and demo's
        passwords as the server started (a test may set them with `/sim/password`, which `/sim/reset` keeps; the
        admin's is set back by restarting the server). The admin's and demo's tokens keep working (unless a test
        changed their password); traders made since are gone."""
        self._resetting = True
        try:
            clock = self._control("GET", "clock", None, ClockState)  # a read: cheaper than moving the clock
            if clock.mode != "fixed" or clock.now != self.start_time:
                self.set_time(self.start_time)  # first: the contracts of that date are listed by the reset
            self._control("POST", "reset", None, ResetState)
            demo = PasswordRequest(name=DEMO_NAME, password=self.server.demo_password)  # a test may have set another
            if self._control("POST", "password", demo, PasswordState).changed:
                self._tokens.pop(DEMO_NAME, None)
            limits = self._control("GET", "limits", None, LimitsConfig)
            if self._limits is None:
                self._limits = limits
            elif limits != self._limits:
                whole = LimitsUpdate(**msgspec.structs.asdict(self._limits))
                self._control("POST", "limits", whole, LimitsConfig)
            self._names = itertools.count(1)
        finally:
            self._resetting = False


_JSON = {"Content-Type": "application/json"}


class _Hours:
    """The products' sessions on CME's calendar, as the server computes them (the same modules)."""

    def __init__(self, catalogue: Path | None, calendar_cache: Path | None) -> None:
        from tradovate_sim.venue.calendar import CmeCalendar
        from tradovate_sim.venue.catalogue import load_catalogue

        self.products = load_catalogue(catalogue)
        self.calendar = CmeCalendar(cache=calendar_cache)  # the server's file, when it has one

    def _intervals(self, product: str, now: datetime) -> list[tuple[datetime, datetime]]:
        spec = self.products.get(product)
        if spec is None:
            raise SimError(f"unknown product {product!r} (known: {', '.join(sorted(self.products))})")
        schedule = self.calendar.schedule(spec, now.date(), days_before=2, days_after=30)
        return [(interval.open, interval.close) for interval in schedule.intervals]

    def is_open(self, product: str, now: datetime) -> bool:
        return any(opens <= now < closes for opens, closes in self._intervals(product, now))

    def next_open(self, product: str, now: datetime) -> datetime:
        for opens, closes in self._intervals(product, now):
            if now < closes:
                return max(opens, now)
        raise SimError(f"{product}: no session in the 30 days after {now.isoformat()}")

    def next_close(self, product: str, now: datetime) -> datetime:
        for opens, closes in self._intervals(product, now):
            if opens <= now < closes:
                return closes
            if now < opens:
                return now
        return now


@cache
def _hours(catalogue: Path | None, calendar_cache: Path | None) -> _Hours:
    return _Hours(catalogue, calendar_cache)
