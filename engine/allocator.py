"""Keep freed memory in the process for reuse instead of handing it back to the kernel (glibc's malloc).

Why: a decode allocates tensors of a few to ~30 MB (10 s of stereo STFT frames is 14 MB a float tensor). glibc
serves blocks that large with mmap and unmaps them on free, so every call faults in fresh zeroed pages. Measured
on 10 s of noise, 2 threads (docs/codec_speed.txt): the polar step took 21-32 ms instead of 11.6, the whole
decode 196-213 ms instead of 181. Raising the mmap threshold to glibc's maximum (32 MiB) and the trim threshold
to 1 GiB keeps such blocks in the heap, where the next call reuses them. The price: the process's resident
memory stays near its peak instead of shrinking after a large call (for `cascade reconstruct`, which streams
in chunks, that peak is one chunk's).

Called once per process by the command line (`instrument.cli.run`: every command and the app) and by the
benchmarks that time the engine, so they measure what the engine gets. A no-op where malloc is not glibc's.
"""

from __future__ import annotations

import ctypes
import sys

M_TRIM_THRESHOLD = -1  # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024  # glibc's largest allowed on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)
TRIM_THRESHOLD_BYTES = 1024 * 1024 * 1024

_applied: bool | None = None

__all__ = ["keep_freed_memory"]


def keep_freed_memory() -> bool:
    """Set the thresholds (once; later calls return the first answer). True if glibc took both."""
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt symbol to speak of)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    _applied = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and \
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    return _applied
