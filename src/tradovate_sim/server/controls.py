"""The simulator controls' handlers (`/sim/<name>`), bound to the endpoint table's simulator entries by name: each
handler is typed by its entry (it takes the entry's request type and returns its result type), and every entry has
exactly one (checked when the app is built)."""

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from tradovate_sim.model.api import Operation, Served
from tradovate_sim.service.endpoints import Table, check_bound

Req = TypeVar("Req")
Res = TypeVar("Res")

Run = Callable[[Any], Awaitable[object]]


class Bound:
    """One simulator entry and its handler (the types erased: `control` checked them)."""

    def __init__(self, endpoint: Operation[Any, Any], run: Run) -> None:
        self.endpoint = endpoint
        self.run = run


def control(endpoint: Operation[Req, Res], run: Callable[[Req], Awaitable[Res]]) -> Bound:
    """Bind `run` to a simulator entry: mypy checks that it takes the entry's request type and returns its result."""
    return Bound(endpoint, run)


class Controls:
    """The simulator's handlers by the table's key (`get sim/quote` is `get quote`)."""

    def __init__(self, table: Table, bound: Iterable[Bound]) -> None:
        self.by_key: dict[str, Bound] = {}
        for item in bound:
            if item.endpoint.key in self.by_key:
                raise RuntimeError(f"{item.endpoint.key}: two handlers")
            self.by_key[item.endpoint.key] = item
        check_bound(table, Served.SIMULATOR, list(self.by_key))

    def methods_of(self, name: str) -> list[str]:
        """The methods a control takes (`["GET", "POST"]`), none for an unknown name."""
        return sorted(item.endpoint.method for item in self.by_key.values() if item.endpoint.key.split(" ", 1)[1]
                      == name.lower())

    def get(self, method: str, name: str) -> tuple[Operation[Any, Any], Run] | None:
        found = self.by_key.get(f"{method.lower()} {name.lower()}")
        return None if found is None else (found.endpoint, found.run)
