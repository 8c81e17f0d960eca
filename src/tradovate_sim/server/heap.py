"""Memory for the state's growth, mapped before a request needs it (issue 9: no pauses under load).

The state in memory is dicts of entities and indexes by id. A dict grows by doubling: one insert allocates a table
twice the size and copies every entry into it. The copy is quick (~25 ns an entry); the new table's memory is not:
the kernel maps each 4 KiB page at its first touch, 2 to 13 µs a page on the machines measured, so an 87,000-entry
table's growth (5 MB, 1,280 pages) held the event loop 16 to 33 ms, and the tables of several kinds, which cross a
size together, held it ~100 ms (bench/RESULTS.md, session 12).

`Reserve` keeps free memory in the C heap whose pages are mapped already. glibc's malloc is told to take every
block from its heap (never a fresh `mmap` of its own) and never to hand the heap's top back to the kernel. Every
`INTERVAL` the reserve allocates its target in one block; the pages of it that no top-up mapped before (none when
the reserve is whole: the block is the one mapped last time) are mapped by a thread of its own
(`madvise(MADV_POPULATE_WRITE)`, or a `memset` where the kernel lacks it; either runs without the GIL, so the event
loop goes on), and the block is freed. The next tables the dicts need are carved from that
free memory without a page fault. The block is half the heap's extent (its start to the program break), at least
`FLOOR`: at rest the heap then holds as much free and mapped as it has in use. The tables that cross a size together
are a part of what is in use, and their next tables are twice their size. The heap reaches that size anyway
at the next doubling of its largest tables (the old and new tables are held together while one is copied); the
reserve maps it ahead of time. Elsewhere than glibc on Linux (`mallinfo2` or /proc missing) it does nothing.
"""

import asyncio
import ctypes
import logging
import mmap
from typing import Any

from tradovate_sim.service.periodic import Ticker

__all__ = ["FLOOR", "Heap", "Reserve"]

log = logging.getLogger("tradovate_sim.heap")

FLOOR = 32 << 20  # bytes kept free and mapped at the least
SHARE = 0.5  # and this part of the heap's extent (at rest: as much free and mapped as in use)
CEILING = 1 << 30  # and no more (a free top over `_NEVER_TRIM` would be given back)
INTERVAL = 0.25  # seconds between two looks at the heap
CHUNK = 1 << 20  # bytes mapped in one call (256 pages: 0.1 to 3 ms; a call takes the GIL again after it)

# mallopt(3) parameters and madvise(2)'s advice, from the C headers
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
_NEVER_TRIM = 2**31 - 1  # the free bytes at the heap's top it keeps (an int: the largest)
_MADV_POPULATE_WRITE = 23  # Linux 5.14


class Heap:
    """The C library's allocator, through ctypes: what `Reserve` needs of glibc."""

    def __init__(self) -> None:
        try:
            libc: Any = ctypes.CDLL(None)
        except (OSError, TypeError):  # no C library to open by that name (Windows)
            libc = None
        # glibc (mallinfo2 says so: 2.33 or later) on Linux (/proc says where the heap starts)
        self.start = _heap_start() if hasattr(libc, "mallinfo2") and hasattr(libc, "mallopt") else None
        self.available = self.start is not None
        self.populates = True  # madvise(MADV_POPULATE_WRITE) works, until it fails once
        if not self.available:
            return
        libc.sbrk.restype = ctypes.c_void_p
        libc.sbrk.argtypes = [ctypes.c_ssize_t]
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.malloc.restype = ctypes.c_void_p
        libc.malloc.argtypes = [ctypes.c_size_t]
        libc.free.argtypes = [ctypes.c_void_p]
        libc.memset.restype = ctypes.c_void_p
        libc.memset.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
        libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        self.libc = libc

    def keep(self) -> bool:
        """Take every block from the heap and never trim it; whether glibc took both settings."""
        return bool(self.libc.mallopt(_M_MMAP_MAX, 0)) and bool(self.libc.mallopt(_M_TRIM_THRESHOLD, _NEVER_TRIM))

    def extent(self) -> int:
        """Bytes from the heap's start to the program break: in use or free, the memory of the main arena (where
        the event loop's thread allocates). Read in a call (`mallinfo2` would walk every free chunk: 33 ms over
        200,000 of them)."""
        return int(self.libc.sbrk(0) or 0) - (self.start or 0)

    def allocate(self, size: int) -> int:
        address: int | None = self.libc.malloc(size)
        if not address:
            raise MemoryError(size)
        return address

    def map(self, ranges: list[tuple[int, int]]) -> None:
        """Have the kernel map every page of these page-aligned [start, end) ranges, `CHUNK` bytes a call: the
        kernel holds the process's memory map while it populates, and the event loop's thread, if it grows the heap
        meanwhile, waits for one chunk at most."""
        for start, end in ranges:
            for chunk in range(start, end, CHUNK):
                length = min(CHUNK, end - chunk)
                if not (self.populates and self.libc.madvise(chunk, length, _MADV_POPULATE_WRITE) == 0):
                    self.populates = False  # an older kernel (EINVAL): write the chunk instead
                    self.libc.memset(chunk, 0, length)

    def free(self, address: int) -> None:
        self.libc.free(address)


def _heap_start() -> int | None:
    """Where this process's heap starts (`start_brk`, /proc/self/stat's 47th field), if Linux says."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            return int(stat.read().rsplit(b")", 1)[1].split()[44])
    except (OSError, IndexError, ValueError):
        return None


class Reserve:
    """Keeps a block of `share` of the heap's extent, `floor` at the least and `CEILING` at the most, free and
    mapped (see the module)."""

    def __init__(self, heap: Heap | None = None, *, floor: int = FLOOR, share: float = SHARE) -> None:
        self.heap = heap or Heap()
        self.floor = floor
        self.share = share
        # The pages of the heap mapped by top-ups, as sorted, disjoint [start, end) ranges. A page mapped stays
        # mapped: the heap is never trimmed, and glibc gives a free block's pages back to the kernel only then.
        self.mapped: list[tuple[int, int]] = []
        self.ticker = Ticker("heap-reserve", INTERVAL, self.top_up, log=log,
                             failed="topping up the heap's reserve failed (%d in a row)")

    @property
    def target(self) -> int:
        return min(CEILING, max(self.floor, int(self.heap.extent() * self.share)))

    async def start(self) -> None:
        """Set glibc's malloc up, fill the reserve once, then top it up every `INTERVAL` until `stop()`."""
        if not self.heap.available:
            log.info("no glibc malloc: the heap's reserve is off")
            return
        if not self.heap.keep():
            log.warning("glibc's malloc refused the reserve's settings: the reserve is off")
            return
        await self.top_up()
        self.ticker.start()

    async def stop(self) -> None:
        await self.ticker.stop()

    async def top_up(self) -> None:
        """Allocate the target in one block; map in a thread the pages of it no top-up mapped before, then free
        it (never before the thread is through, even when the top-up is cancelled)."""
        size = self.target
        address = self.heap.allocate(size)
        start = -(-address // mmap.PAGESIZE) * mmap.PAGESIZE  # the whole pages inside the block
        end = (address + size) // mmap.PAGESIZE * mmap.PAGESIZE
        gaps = self.unmapped(start, end)
        if not gaps:
            self.heap.free(address)
            return
        mapping = asyncio.get_running_loop().run_in_executor(None, self.heap.map, gaps)

        def mapped(done: asyncio.Future[None]) -> None:
            self.heap.free(address)
            if not done.cancelled() and done.exception() is None:
                self.add(start, end)

        mapping.add_done_callback(mapped)
        await asyncio.shield(mapping)

    def unmapped(self, start: int, end: int) -> list[tuple[int, int]]:
        """The parts of [start, end) outside every mapped range."""
        gaps, at = [], start
        for low, high in self.mapped:
            if high <= at:
                continue
            if low >= end:
                break
            if low > at:
                gaps.append((at, low))
            at = max(at, high)
        if at < end:
            gaps.append((at, end))
        return gaps

    def add(self, start: int, end: int) -> None:
        """Count [start, end) as mapped, merging it with the ranges it touches or overlaps."""
        kept = []
        for low, high in self.mapped:
            if high < start or low > end:
                kept.append((low, high))
            else:
                start, end = min(start, low), max(end, high)
        self.mapped = sorted([*kept, (start, end)])
