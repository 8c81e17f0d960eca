"""Long answers made in slices: a list of tens of thousands of entities (`order/list` of a risk desk, the snapshot
of `user/syncrequest`) is filtered a slice at a time, and the event loop runs what waits between two slices, so
that no other request waits behind the whole answer (issue 9: a 5,000-account snapshot held the loop 0.6 s).

The answer stays one moment's: its entities are taken at one step of the loop (a C-level copy of the table, or of
its values), and only looking through them is sliced."""

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

ROWS = 1_000  # entities looked at (visibility, ownership) between two turns of the event loop: ~2 ms


async def turn() -> None:
    """Let the event loop run what is ready (requests, answers of the writer) before going on."""
    await asyncio.sleep(0)


async def kept(items: Sequence[T], keep: Callable[[T], bool], rows: int | None = None) -> list[T]:
    """`[item for item in items if keep(item)]`, `rows` items (default `ROWS`) at a time with a turn of the loop
    between."""
    rows = rows or ROWS
    if len(items) <= rows:
        return [item for item in items if keep(item)]
    found: list[T] = []
    for start in range(0, len(items), rows):
        if start:
            await turn()
        found += [item for item in items[start:start + rows] if keep(item)]
    return found
