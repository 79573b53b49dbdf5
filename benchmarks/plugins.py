"""`translate plugins` with the plugin catalog cached against the first call, measured side by side.

Each round empties a fresh cache folder (``TRANSLATE_CACHE_DIR``), then runs the console
script ``translate plugins`` in fresh processes: once with the cache empty (it imports every
plugin and torch, and writes the cache) and ``--repeats`` times after that (the cache
answers). ``translate --help`` is timed as well: the start-up floor of any command. Prints
the median wall time of each and the ratio first / repeated (the goal is at least 5x).
Run: ``python benchmarks/plugins.py`` (``--rounds 5 --repeats 5`` by default; well under a minute).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: The console script next to this Python.
TRANSLATE = Path(sys.executable).parent / "translate"


def timed(*args: str, cache: str) -> float:
    """Wall time of ``translate ARGS`` in a fresh process using the cache folder ``cache``."""
    env = {**os.environ, "TRANSLATE_CACHE_DIR": cache}
    started = time.perf_counter()
    subprocess.run([str(TRANSLATE), *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="Rounds, each from an empty cache.")
    parser.add_argument("--repeats", type=int, default=5, help="Repeated calls per round.")
    args = parser.parse_args()
    first, repeated, floor = [], [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix="translate-plugin-cache-") as cache:
            first.append(timed("plugins", cache=cache))
            repeated += [timed("plugins", cache=cache) for _ in range(args.repeats)]
            floor.append(timed("--help", cache=cache))
    first_s, repeated_s, floor_s = (statistics.median(times) for times in (first, repeated, floor))
    print(f"translate plugins, {args.rounds} rounds x (1 first + {args.repeats} repeated), fresh processes, medians:")
    print(f"first call (empty cache)    {first_s:6.3f} s")
    print(f"repeated call (cached)      {repeated_s:6.3f} s   {first_s / repeated_s:5.1f}x faster than the first")
    print(f"translate --help (floor)    {floor_s:6.3f} s")


if __name__ == "__main__":
    main()
