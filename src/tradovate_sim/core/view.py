"""The immutable slice of state one decision needs, loaded by the shell before it calls the core.

Prices inside `Quote` are integer ticks; entities keep Tradovate's float prices.
"""

from datetime import date, datetime

import msgspec

from tradovate_sim.model.entities import (
    Account,
    AccountRiskStatus,
    CashBalance,
    Contract,
    ContractMaturity,
    Fill,
    Order,
    OrderStrategy,
    OrderStrategyLink,
    OrderVersion,
    Position,
    Product,
    UserAccountAutoLiq,
    UserAccountPositionLimit,
    UserAccountRiskParameter,
)
from tradovate_sim.model.enums import ProductType
from tradovate_sim.model.ids import (
    CommandId,
    ContractId,
    ExchangeId,
    OrderId,
    OrganizationId,
    ProductId,
    SessionId,
    UserId,
)


class Value(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Base of the core's own (non-wire) values; immutable, so untracked by the garbage collector."""


class Quote(Value, frozen=True):
    """Top of book in ticks, plus the size shown at each deeper level (the synthetic book is uniform below)."""

    contract_id: int
    timestamp: datetime
    bid: int | None = None
    ask: int | None = None
    bid_size: int = 0
    ask_size: int = 0
    last: int | None = None
    last_size: int = 0
    depth_size: int = 0  # size displayed at each level behind the top
    depth_levels: int = 0  # how many levels behind the top are displayed


class Fees(Value, frozen=True):
    """Per-contract, per-side fees in the account currency."""

    commission: float = 0.0
    exchange_fee: float = 0.0
    clearing_fee: float = 0.0
    nfa_fee: float = 0.0

    @property
    def total(self) -> float:
        return self.commission + self.exchange_fee + self.clearing_fee + self.nfa_fee


class Instrument(Value, frozen=True):
    contract: Contract
    maturity: ContractMaturity
    product: Product
    fees: Fees
    last_trade_date: date


class Caller(Value, frozen=True):
    """Who sends the command: a user, the organization's admin, or the server itself (user_id 0)."""

    user_id: UserId
    organization_id: OrganizationId
    organization_admin: bool = False
    session_id: SessionId | None = None


class Exposure(Value, frozen=True):
    """What an account holds and works in one contract, with what position-limit scopes group the contract by."""

    contract_id: ContractId
    product_id: ProductId
    exchange_id: ExchangeId
    product_type: ProductType
    net_pos: int = 0
    working_buys: int = 0  # quantity left on working buy orders
    working_sells: int = 0


class AccountState(Value, frozen=True):
    account: Account
    risk_status: AccountRiskStatus
    cash_balance: CashBalance
    auto_liq: UserAccountAutoLiq | None = None
    position_limits: tuple[UserAccountPositionLimit, ...] = ()
    risk_parameters: tuple[UserAccountRiskParameter, ...] = ()
    can_trade: bool = False  # the caller holds an active trading permission on the account
    halted: bool = False  # the account's risk category is halted (`setDemoHalt`)
    positions: tuple[Position, ...] = ()  # every position of the account
    exposures: tuple[Exposure, ...] = ()  # every contract held or worked, when the account has position limits


class WorkingOrder(Value, frozen=True):
    """An order that is not done yet, with its current version and what has filled so far."""

    order: Order
    version: OrderVersion
    command_id: CommandId  # the command that created it: execution reports refer to it
    cum_qty: int = 0
    cum_value: float = 0.0  # sum of qty * price of its fills, for avgPx
    triggered: bool = False  # a stop that has triggered and now works as market / limit

    @property
    def has_triggered(self) -> bool:
        """Triggered in this decision, or before: a conditional order that has filled at all has triggered (the
        flag lives only as long as one decision; a remainder keeps working as the market order it became)."""
        return self.triggered or self.cum_qty > 0


class RunningStrategy(Value, frozen=True):
    """An active order strategy with its order links and what its entry has filled so far."""

    strategy: OrderStrategy
    links: tuple[OrderStrategyLink, ...] = ()
    entry_qty: int = 0  # filled quantity of the entry order
    entry_value: float = 0.0  # sum of qty * price of the entry's fills
    exit_qty: int = 0  # filled quantity of its bracket orders


class Book(Value, frozen=True):
    """One account's holdings and working orders in one contract."""

    position: Position | None = None
    open_fills: tuple[Fill, ...] = ()  # fills not yet fully paired, oldest first
    working: tuple[WorkingOrder, ...] = ()
    closing_orders: frozenset[OrderId] = frozenset()  # ids of orders that liquidations sent
    strategies: tuple[RunningStrategy, ...] = ()  # active order strategies on this account and contract


class MarginTerms(Value, frozen=True):
    """One contract's margins now, per contract in the account currency: `initial` and `maintenance` in force (day
    margins while the session is open), `full_initial` the exchange's initial margin."""

    initial: float
    maintenance: float
    full_initial: float


class Holding(Value, frozen=True):
    """An account's position and working orders (quantities still open) in one contract, with its margins."""

    contract_id: int
    net_pos: int
    terms: MarginTerms
    working_buys: int = 0
    working_sells: int = 0


class Margin(Value, frozen=True):
    """What a margin check of an order on one contract reads: the account's funds and holdings, and that contract's
    margins."""

    cash: float
    open_pnl: float
    terms: MarginTerms  # the order's contract
    holdings: tuple[Holding, ...] = ()  # every contract with a position or working orders


class OrderView(Value, frozen=True):
    """Everything an order decision on (account, contract) reads."""

    caller: Caller
    account: AccountState
    instrument: Instrument
    book: Book
    quote: Quote | None
    is_open: bool
    trade_date: date
    back_month: int = 0  # the contract's place among its product's unexpired months (0: the front month)
    margin: Margin | None = None  # None: no margin check (matching, cancelling, liquidating)
