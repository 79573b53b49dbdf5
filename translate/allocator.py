"""Keep freed memory for reuse in a conversion process (glibc's malloc settings).

In inference mode a generator frees each activation as soon as the next layer has used
it. glibc hands blocks above its mmap threshold (adjusted on the fly, 128 KiB to 32 MiB)
back to the system on ``free`` and trims the top of its heap, so every layer of every
image maps fresh pages and the kernel faults them in and zeroes them: ``translate
convert`` spent 1.5-4× the naive loop's system time on that (3-5× its page faults,
varying from run to run). Fixing the threshold at its maximum and keeping up to 1 GiB
of freed heap makes the same blocks serve image after image. Activations larger than
32 MiB are still mapped afresh, which is why CPU batches stay small
(:data:`translate.convert.CPU_BATCH_PIXELS`).
"""

from __future__ import annotations

import ctypes
import ctypes.util

#: ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 << 20
#: Freed memory at the top of the heap kept rather than returned to the system.
TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Set glibc's mmap threshold to :data:`MMAP_THRESHOLD` and its trim threshold to :data:`TRIM_THRESHOLD`.

    Process-wide; returns ``False`` (and changes nothing) where the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
