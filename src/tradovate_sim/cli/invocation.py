"""One run of a client command: its arguments, its output, its connection, and the client and names made from
them on first use (the token kept for the next run when the command ends)."""

import argparse
from collections.abc import Callable, Sequence

from tradovate_sim.cli.connection import Connection
from tradovate_sim.cli.failure import Exit
from tradovate_sim.cli.names import ITEMS_PER_REQUEST, Names
from tradovate_sim.cli.output import Output
from tradovate_sim.client import Tradovate


class Invocation:
    def __init__(self, args: argparse.Namespace, out: Output, connection: Connection) -> None:
        self.args = args
        self.out = out
        self.connection = connection
        self.opened: Tradovate | None = None
        self.known: Names | None = None
        self.keep = True  # keep the client's token for the next run (not after the server refused it)

    @property
    def client(self) -> Tradovate:
        if self.opened is None:
            self.opened = self.connection.client()
        return self.opened

    @property
    def names(self) -> Names:
        if self.known is None:
            self.known = Names(self.client, self.connection.profile.account)
        return self.known

    def close(self) -> None:
        if self.opened is not None:
            if self.keep:
                self.connection.remember(self.opened.session)
            self.opened.close()


Command = Callable[[Invocation], Exit]


def chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i:i + ITEMS_PER_REQUEST]) for i in range(0, len(ids), ITEMS_PER_REQUEST)]
