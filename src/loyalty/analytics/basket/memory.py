"""Keep freed memory in the process while mining: glibc's thresholds raised once (Linux only).

The miner allocates and frees arrays of a few hundred KiB to a few MiB per level. By default glibc
serves blocks above its mmap threshold (128 KiB, rising only as such blocks are freed) with fresh
``mmap`` calls and gives freed heap tops above its trim threshold back to the kernel; each next level's
arrays then fault their pages in again, zero-filled, which cost more than the work on small data
sets (docs/analytics-basket.md). Raising the two thresholds (``mallopt``) keeps freed blocks for reuse, at
the price of up to :data:`TRIM_BYTES` of freed memory held by the process. A user's own
``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` settings are left alone, as is any other C
library.
"""

from __future__ import annotations

import ctypes
import os
import sys

#: blocks up to this size come from the heap rather than from their own mmap
MMAP_BYTES = 32 << 20
#: freed memory at the top of the heap kept for reuse, up to this much
TRIM_BYTES = 128 << 20
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_state = {"done": False}


def keep_freed_memory() -> None:
    """Raise glibc's mmap and trim thresholds, once per process (a no-op elsewhere)."""
    if _state["done"]:
        return
    _state["done"] = True
    if not sys.platform.startswith("linux"):
        return
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, …): its allocator is its own business
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    mallopt(_M_MMAP_THRESHOLD, MMAP_BYTES)
    mallopt(_M_TRIM_THRESHOLD, TRIM_BYTES)
