"""What the command line prints: rich tables for people, or `--json` for scripts (one JSON value per line, keys the
wire's names); errors are one line on stderr (cli/failure.py). Progress bars go to stderr, only on a terminal."""

import enum
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TextIO

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

WIDE = 200  # columns of a table written to a pipe or a file (a terminal's own width otherwise)


def cell(value: object) -> str:
    """One value as a table shows it: nothing for None, floats without noise, times in UTC to the second."""
    match value:
        case None:
            return ""
        case bool():
            return "yes" if value else "no"
        case float():
            return f"{value:.10g}"
        case datetime():
            return value.strftime("%Y-%m-%d %H:%M:%S") + ("Z" if value.utcoffset() is not None else "")
        case enum.Enum():
            return str(value.value)
        case {"year": int(year), "month": int(month), "day": int(day)}:  # a TradeDate
            return f"{year}-{month:02}-{day:02}"
    return str(value)


class Output:
    """Where a command's answer goes (`json`: one JSON value per line)."""

    def __init__(self, *, json: bool, stream: TextIO | None = None, errors: TextIO | None = None) -> None:
        self.json = json
        self.stream = stream or sys.stdout
        self.errors = errors or sys.stderr
        terminal = self.stream.isatty()
        self.console = Console(file=self.stream, width=None if terminal else WIDE, highlight=False,
                               soft_wrap=not terminal)
        self.encoder = msgspec.json.Encoder()

    def value(self, value: object) -> None:
        """One JSON line: Structs with their wire names."""
        self.stream.write(self.encoder.encode(value).decode() + "\n")
        self.stream.flush()

    def table(self, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[object]], *,
              header: bool = True) -> None:
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False, box=None,
                      header_style="bold", show_header=header)
        for column in columns:
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(*(cell(v) for v in row))
        if not rows:
            self.line(f"{title}: none" if title else "none")
            return
        self.console.print(table)

    def fields(self, title: str | None, pairs: Sequence[tuple[str, object]]) -> None:
        """A record as `name  value` lines."""
        self.table(title, ["field", "value"], [(name, value) for name, value in pairs if value is not None],
                   header=False)

    def line(self, text: str) -> None:
        self.console.print(text, markup=False)
        self.stream.flush()

    def warn(self, text: str) -> None:
        print(f"tradovate-sim: {text}", file=self.errors, flush=True)

    @contextmanager
    def progress(self, description: str, total: int) -> Iterator["Step"]:
        """A progress bar on stderr (a terminal only, never with --json)."""
        console = Console(file=self.errors)
        bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console,
                       disable=self.json or not console.is_terminal, transient=False)
        with bar:
            yield Step(bar, bar.add_task(description, total=total))


class Step:
    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar = bar
        self.task = task

    def advance(self) -> None:
        self.bar.advance(self.task)
