"""`tradovate-sim migrate` and `copy`: look after a server's database (SQLite or PostgreSQL)."""

import argparse
import asyncio
import sys
from typing import Any

from tradovate_sim.settings import from_environment

COMMANDS = ("migrate", "copy")


def add_database(commands: "argparse._SubParsersAction[Any]") -> None:
    migrate = commands.add_parser("migrate", help="bring a database's schema to this version (SQLite files are also"
                                                       " migrated by a server that opens them)")
    migrate.add_argument("--db", help="the database (default: TRADOVATE_SIM_DB, else sqlite:///tradovate-sim.db)")
    copy = commands.add_parser("copy", help="copy a database (entities, journal, meta) between SQLite and PostgreSQL;"
                                            " no server may be running on either")
    copy.add_argument("--from", dest="source", required=True, help="sqlite:///x.db or postgresql://...")
    copy.add_argument("--to", dest="target", required=True, help="sqlite:///y.db or postgresql://...")
    copy.add_argument("--force", action="store_true", help="replace what the target holds (else a target that is"
                                                           " not empty is refused)")


def manage(args: argparse.Namespace) -> int:
    """`migrate` and `copy`: one line on stdout when done, one line on stderr (exit 1) when not."""
    from tradovate_sim.storage.errors import StoreError
    from tradovate_sim.storage.transfer import copy_database, migrate_database

    try:
        if args.command == "migrate":
            db = from_environment({"db": args.db}).db
            line = asyncio.run(migrate_database(db))
        else:
            for url in (args.source, args.target):
                from_environment({"db": url})  # the same checks as --db
            line = asyncio.run(copy_database(args.source, args.target, force=args.force))
    except (StoreError, ValueError) as error:
        print(f"tradovate-sim {args.command}: {error}", file=sys.stderr)
        return 1
    print(f"tradovate-sim {args.command}: {line}")
    return 0
