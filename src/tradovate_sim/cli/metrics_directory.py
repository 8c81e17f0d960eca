"""The private directory a `--workers N` supervisor gives its workers for prometheus_client's multiprocess mode.

Its name carries its supervisor's pid and start time (`tradovate-sim-metrics-<pid>-<start>-<random>`), so that a
later supervisor can tell a directory whose owner is gone (killed with SIGKILL, it could not remove it) from one
still in use, even once the pid has been given to another process. A supervisor removes, as it starts, the
directories of supervisors no longer alive: only directories (not links) of that name, owned by this user and
private (0700), in the same temporary directory. Directories of the older name (no pid) are left alone.
"""

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path

PREFIX = "tradovate-sim-metrics-"


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux' /proc), 0 where there is no /proc (whether the
    pid is alive is all that can be known there); None: no such process."""
    if not Path("/proc/self/stat").exists():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:  # alive, another user's
            pass
        return 0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    if fields[0] == "Z":  # a zombie has ended; it only waits to be reaped
        return None
    return int(fields[19])  # field 22 of proc_pid_stat(5); fields[0] is field 3


def make() -> str:
    """A new directory (0700) named for this process."""
    pid = os.getpid()
    return tempfile.mkdtemp(prefix=f"{PREFIX}{pid}-{start_time(pid) or 0}-")


def owner(name: str) -> tuple[int, int] | None:
    """The pid and start time a directory's name carries; None for any other name."""
    if not name.startswith(PREFIX):
        return None
    parts = name[len(PREFIX):].split("-", 2)
    if len(parts) != 3 or not (parts[0].isdigit() and parts[1].isdigit()):
        return None
    return int(parts[0]), int(parts[1])


def is_alive(pid: int, started: int) -> bool:
    """Whether that process still runs (0: a start time that could not be known, so the pid alone decides)."""
    now = start_time(pid)
    return now is not None and (started == 0 or now in (0, started))


def remove_abandoned(directory: str | None = None) -> list[str]:
    """Remove the metrics directories of supervisors no longer alive; returns their paths."""
    base = Path(directory or tempfile.gettempdir())
    removed: list[str] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(base):
            found = owner(entry.name)
            if found is None or is_alive(*found):
                continue
            try:
                status = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if (not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid()
                    or stat.S_IMODE(status.st_mode) != 0o700):
                continue
            shutil.rmtree(entry.path, ignore_errors=True)
            removed.append(entry.path)
    return removed
