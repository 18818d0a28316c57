"""Calling a function with room on CPython's frame stack, so that deep recursion under it does
not map and unmap memory on its way up and down.

CPython (3.11+) keeps Python frames on a per-thread stack made of chunks. A call that does not
fit in the current chunk maps a new one (16 KiB), and the return that empties it unmaps it again.
SQLFluff's parser recurses hundreds of frames deep and crosses such a boundary thousands of times
per file, each time an `mmap`, a `munmap` and freshly zeroed pages. In a lint child that was ~500
page faults and ~15% of the CPU of a small file, and ~20% of a tpcds file (perf: 86% of the
faults in `_PyThreadState_BumpFramePointerSlow`; probe: 300 small files 23-26 -> 19-23 ms
each, tpcds 181 -> 142 ms each, the same findings).

The frame of `call_with_frame_room` asks for a large value stack it never uses, so CPython maps
one 1 MiB chunk for it; every frame called from inside it lands in the unused half of that chunk,
and parse-deep recursion stays clear of a chunk boundary. Nothing else changes: on a Python
without the chunked stack the frame is merely larger.
"""

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# Slots of 8 bytes: a ~510 KiB frame. CPython rounds a chunk up to the next power of two
# (1 MiB here), leaving ~64,000 slots to the callees: SQLFluff's deepest parses use far less.
# A frame of ~1 MiB (a 2 MiB chunk) lost the gain in a probe, for a reason not found.
RESERVED_SLOTS = 65_000


def _call(fn: Callable[..., T], *args: object) -> T:
    return fn(*args)


_call.__code__ = _call.__code__.replace(co_stacksize=RESERVED_SLOTS)


def call_with_frame_room(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, run with room on this thread's frame stack (see the module's docstring)."""
    return _call(fn, *args)
