"""Names a person types, turned into the ids the API takes: accounts (by name or id) and contracts (by symbol,
through `contract/find`; a product's root, `ES`, is its front month, through `contract/suggest`)."""

import re
from collections.abc import Iterable

from tradovate_sim.cli.failure import not_found, usage
from tradovate_sim.client import NotFoundError, Tradovate
from tradovate_sim.model.entities import Account, Contract
from tradovate_sim.venue.catalogue import MONTH_CODES

ITEMS_PER_REQUEST = 500  # ids in one `items`/`ldeps` request (the server takes at most 1000)
SUGGESTED = 20  # contracts asked of `contract/suggest` for a root (ES's come first, then MES's and the like)


def front_month(root: str, suggested: Iterable[Contract]) -> Contract | None:
    """The first suggested contract of the product `root` (the root, a month code, the year: `ES` -> `ESZ6`);
    `contract/suggest` names the contracts still trading first, the nearest expiry first."""
    pattern = re.compile(rf"{re.escape(root)}[{MONTH_CODES}]\d{{1,2}}")
    return next((c for c in suggested if pattern.fullmatch(c.name)), None)


def pick_account(accounts: list[Account], given: str | None) -> Account:
    """The account named (or numbered) `given`; without one, the only account there is."""
    if given is None:
        if len(accounts) == 1:
            return accounts[0]
        names = ", ".join(a.name for a in accounts) or "none"
        raise usage(f"which account? give --account NAME or ID (yours: {names})")
    for account in accounts:
        if account.name == given or (given.isdigit() and account.id == int(given)):
            return account
    for account in accounts:
        if account.name.lower() == given.lower():
            return account
    names = ", ".join(a.name for a in accounts[:20]) or "none"
    raise not_found(f"unknown account {given!r} (yours: {names}{', ...' if len(accounts) > 20 else ''})")


class Names:
    """Looks names up once per run."""

    def __init__(self, client: Tradovate, default_account: str | None = None) -> None:
        self.client = client
        self.default_account = default_account
        self.known_accounts: list[Account] | None = None
        self.symbol_of: dict[int, str] = {}

    def accounts(self) -> list[Account]:
        if self.known_accounts is None:
            self.known_accounts = sorted(self.client.account.list(), key=lambda a: a.id)
        return self.known_accounts

    def account(self, given: str | None) -> Account:
        """The account named (or numbered) `given`, else the default (`--account`, TRADOVATE_ACCOUNT, the profile's),
        else the only account the user has."""
        return pick_account(self.accounts(), given or self.default_account)

    def selected(self, given: str | None) -> list[Account]:
        """One account when one is named (flag, variable or profile), else every account the user sees."""
        return [self.account(given)] if given or self.default_account else self.accounts()

    def account_name(self, account_id: int) -> str:
        for account in self.accounts():
            if account.id == account_id:
                return account.name
        return str(account_id)

    def contract(self, symbol: str) -> Contract:
        """`contract/find`; a name no contract has but a product's root (`ES`) is that product's front month. An
        unknown symbol is a not-found error naming it."""
        name = symbol.upper()
        try:
            contract = self.client.contract.find(name)
        except NotFoundError:
            found = front_month(name, self.client.contract.suggest(name, SUGGESTED))
            if found is None:
                raise not_found(f"unknown symbol {symbol!r}") from None
            contract = found
        self.symbol_of[contract.id] = contract.name
        return contract

    def symbols(self, contract_ids: Iterable[int]) -> dict[int, str]:
        """The symbol of each contract (`contract/items`, once per run for each)."""
        missing = sorted({i for i in contract_ids if i not in self.symbol_of})
        for start in range(0, len(missing), ITEMS_PER_REQUEST):
            for contract in self.client.contract.items(missing[start:start + ITEMS_PER_REQUEST]):
                self.symbol_of[contract.id] = contract.name
        return self.symbol_of
