"""Memory settings of a conversion process: glibc keeps freed memory for reuse, PyTorch asks for huge pages.

In inference mode a generator frees each activation as soon as the next layer has used
it. glibc hands blocks above its mmap threshold (adjusted on the fly, 128 KiB to 32 MiB)
back to the system on ``free`` and trims the top of its heap, so every layer of every
image maps fresh pages and the kernel faults them in and zeroes them: ``translate
convert`` spent 1.5-4× the naive loop's system time on that (3-5× its page faults,
varying from run to run). Fixing the threshold at its maximum and keeping up to 1 GiB
of freed heap makes the same blocks serve image after image. Activations larger than
32 MiB are still mapped afresh, which is why CPU batches stay small
(:data:`translate.convert.CPU_BATCH_PIXELS`).

Those larger activations are every full-resolution layer of an image above about 360×360 pixels
(64 channels of float32), and every layer of a 768² tile: each was faulted in 4 KiB at a time,
and a 1024×768 photo spent half its conversion in the kernel (ResNet-9, whole process: 64 s of
system time in 130 s). Backing them with transparent huge pages (:func:`huge_pages_for_tensors`)
cut its page faults from 28 to 1.3 million: 94 s, at the same peak memory (256² images: 4% faster, and 4-9% more peak
memory for the 2 MiB granules). Turning mmap off altogether was as fast but raised the peak by a third.

Memory that will not be reused the same way is handed back explicitly (:func:`release_free_memory`):
ONNX Runtime's sessions are built through transient copies of the model and, on the first run of each
input size, allocate every activation on its own before running later images in one mapped block.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
from typing import Any

#: ``mallopt`` parameters (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: glibc's largest mmap threshold on 64-bit systems (``DEFAULT_MMAP_THRESHOLD_MAX``).
MMAP_THRESHOLD = 32 << 20
#: Freed memory at the top of the heap kept rather than returned to the system.
TRIM_THRESHOLD = 1 << 30
#: PyTorch's switch for CPU tensors of 2 MiB or more in memory advised for huge pages (``madvise``);
#: read once, at torch's first allocation (while ``import torch`` runs).
HUGE_PAGES_SWITCH = "THP_MEM_ALLOC_ENABLE"


def keep_freed_memory() -> bool:
    """Set glibc's mmap threshold to :data:`MMAP_THRESHOLD` and its trim threshold to :data:`TRIM_THRESHOLD`.

    Process-wide; returns ``False`` (and changes nothing) where the C library is not glibc.
    """
    mallopt = _glibc_function("mallopt")
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def release_free_memory() -> bool:
    """Hand the free pages of every glibc heap back to the system (``malloc_trim(0)``), also those
    :func:`keep_freed_memory` would keep.

    Returns ``False`` (and changes nothing) where the C library is not glibc.
    """
    malloc_trim = _glibc_function("malloc_trim")
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True


@functools.cache
def _glibc_function(name: str) -> Any:
    """The C library's function ``name``, or ``None`` where it has none (not glibc)."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def huge_pages_for_tensors() -> bool:
    """Have PyTorch back CPU tensors of 2 MiB and more with transparent huge pages.

    Takes effect only before torch is imported, and only where the kernel grants huge pages on
    request (``/sys/kernel/mm/transparent_hugepage/enabled`` is ``always`` or ``madvise``, the
    usual default). A ``THP_MEM_ALLOC_ENABLE`` the user set is left alone. Returns whether the
    switch is on for this process.
    """
    if "torch" not in sys.modules:
        os.environ.setdefault(HUGE_PAGES_SWITCH, "1")
    return os.environ.get(HUGE_PAGES_SWITCH) == "1"
