"""What the command line's tests share: `Cli`, which runs `tradovate-sim` through its `main()` in this process with
its own environment (no TRADOVATE_* of the machine, config and token cache under a temporary home) and checks on
every run that no password it knows of was printed; and `spawn`, the same as a subprocess."""

import io
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from server import ADMIN_PASSWORD, DEMO_PASSWORD

from tradovate_sim.cli import main


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


@dataclass
class Cli:
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    home: Path
    url: str
    secrets: set[str] = field(default_factory=lambda: {DEMO_PASSWORD, ADMIN_PASSWORD})

    def environment(self, **variables: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TRADOVATE_", "XDG_"))}
        env.update({"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / "config"),
                    "XDG_CACHE_HOME": str(self.home / "cache"), "TRADOVATE_URL": self.url, **variables})
        return env

    def __call__(self, *argv: str, stdin: str = "", **variables: str) -> Ran:
        """`tradovate-sim *argv` with the variables given (`TRADOVATE_USER="demo"`...)."""
        self.capsys.readouterr()
        with self.monkeypatch.context() as patch:
            for name in [n for n in os.environ if n.startswith(("TRADOVATE_", "XDG_"))]:
                patch.delenv(name)
            for name, value in self.environment(**variables).items():
                patch.setenv(name, value)
            patch.setattr(sys, "stdin", io.StringIO(stdin))
            code = main(list(argv))
        out, err = self.capsys.readouterr()
        self.check(out, err)
        return Ran(code, out, err)

    def check(self, out: str, err: str) -> None:
        for secret in self.secrets:
            assert secret not in out and secret not in err, f"a password was printed:\n{out}\n{err}"
        assert "Traceback" not in err, err
        assert len(err.strip().splitlines()) <= 1, f"more than one line on stderr:\n{err}"

    def demo(self, *argv: str, **variables: str) -> Ran:
        return self(*argv, TRADOVATE_USER="demo", TRADOVATE_PASSWORD=DEMO_PASSWORD, **variables)

    def admin(self, *argv: str, **variables: str) -> Ran:
        return self(*argv, TRADOVATE_USER="admin", TRADOVATE_PASSWORD=ADMIN_PASSWORD, **variables)


def spawn(cli: Cli, *argv: str, **variables: str) -> "subprocess.Popen[str]":
    """`python -m tradovate_sim.cli *argv` as a process (stdout and stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "tradovate_sim.cli", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                            env=cli.environment(**variables))
