"""Process-wide memory settings (translate.convert.allocator, glibc), each checked in a process of its own."""

from __future__ import annotations

import subprocess
import sys

#: Frees 300 MiB of 1 MiB blocks kept in the heap by keep_freed_memory, then prints VmRSS (KiB)
#: before and after release_free_memory.
RELEASE_SCRIPT = """
from translate.convert.allocator import keep_freed_memory, release_free_memory

def rss():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmRSS"))

assert keep_freed_memory()
blocks = [bytearray(1 << 20) for _ in range(300)]
del blocks
before = rss()
assert release_free_memory()
print(before, rss())
"""


def test_released_memory_leaves_the_process_although_freed_memory_is_kept():
    result = subprocess.run([sys.executable, "-c", RELEASE_SCRIPT], capture_output=True, text=True, check=True)
    before, after = map(int, result.stdout.split())
    assert before - after > 250 * 1024, (before, after)
