"""The heap's reserve (server/heap.py): its bookkeeping of mapped pages against a model, that a cancelled top-up
frees its block only once the mapping thread is through, and, on glibc, that a dict's growth after a top-up maps no
new page (counted, not timed)."""

import asyncio
import mmap
import resource
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradovate_sim.server.heap import Heap, Reserve

PAGE = mmap.PAGESIZE


class FakeHeap(Heap):
    """A heap whose `map` waits for `go` (in its thread) and which records every call."""

    def __init__(self, extent: int = 0) -> None:
        self.available, self.populates, self.start = True, True, 0
        self.size = extent
        self.calls: list[tuple[str, object]] = []
        self.go = threading.Event()
        self.next_address = 1 << 30

    def keep(self) -> bool:
        return True

    def extent(self) -> int:
        return self.size

    def allocate(self, size: int) -> int:
        self.calls.append(("allocate", size))
        return self.next_address

    def map(self, ranges: list[tuple[int, int]]) -> None:
        self.go.wait(5)
        self.calls.append(("map", ranges))

    def free(self, address: int) -> None:
        self.calls.append(("free", address))


ranges = st.lists(st.tuples(st.integers(0, 60), st.integers(1, 20)).map(lambda r: (r[0] * PAGE, (r[0] + r[1]) * PAGE)),
                  max_size=12)


@given(ranges, st.tuples(st.integers(0, 80), st.integers(0, 30)))
def test_unmapped_parts_are_the_pages_no_top_up_mapped(added: list[tuple[int, int]], asked: tuple[int, int]) -> None:
    reserve = Reserve(FakeHeap())
    pages: set[int] = set()
    for start, end in added:
        reserve.add(start, end)
        pages.update(range(start // PAGE, end // PAGE))
    assert all(low < high for low, high in reserve.mapped)
    assert all(a[1] < b[0] for a, b in zip(reserve.mapped, reserve.mapped[1:], strict=False))  # disjoint, apart
    assert {p for low, high in reserve.mapped for p in range(low // PAGE, high // PAGE)} == pages
    start, end = asked[0] * PAGE, (asked[0] + asked[1]) * PAGE
    gaps = reserve.unmapped(start, end)
    assert {p for low, high in gaps for p in range(low // PAGE, high // PAGE)} == set(range(start // PAGE,
                                                                                              end // PAGE)) - pages
    assert all(low < high for low, high in gaps)


async def test_a_cancelled_top_up_frees_its_block_only_after_the_thread() -> None:
    heap = FakeHeap(extent=20 * PAGE)
    reserve = Reserve(heap, floor=4 * PAGE)
    task = asyncio.create_task(reserve.top_up())
    await asyncio.sleep(0.05)  # the thread is mapping (waiting for `go`)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [name for name, _ in heap.calls] == ["allocate"]  # not freed while the thread may still write
    heap.go.set()
    for _ in range(100):
        await asyncio.sleep(0.01)
        if len(heap.calls) == 3:
            break
    assert [name for name, _ in heap.calls] == ["allocate", "map", "free"]
    assert reserve.mapped == [(heap.next_address, heap.next_address + 10 * PAGE)]  # mapped all the same


async def test_a_whole_reserve_is_freed_at_once() -> None:
    heap = FakeHeap(extent=20 * PAGE)
    heap.go.set()
    reserve = Reserve(heap, floor=4 * PAGE)
    await reserve.top_up()
    assert reserve.mapped == [(heap.next_address, heap.next_address + 10 * PAGE)]
    heap.calls.clear()
    await reserve.top_up()  # the same block again: nothing to map
    assert [name for name, _ in heap.calls] == ["allocate", "free"]


@pytest.mark.skipif(not Heap().available, reason="glibc's malloc only")
async def test_a_dict_grows_into_the_reserve_without_a_page_fault() -> None:
    tables: list[dict[int, None]] = [dict.fromkeys(range(40_000)) for _ in range(4)]
    reserve = Reserve(floor=64 << 20)
    await reserve.start()
    try:
        assert reserve.mapped
        keys = list(range(40_000, 90_000))  # made first: new ints map pages of their own
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for key in keys:  # each table grows past 43,690 and 87,381 entries: two new tables each
            for table in tables:
                table[key] = None
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
        # The four tables' last two sizes are ~21 MB of pages (5,000 pages); without the reserve every one faults.
        assert faults < 500
    finally:
        await reserve.stop()
