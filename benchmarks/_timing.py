"""Timing helper shared by the benchmark scripts (run as ``python benchmarks/NAME.py``)."""

from __future__ import annotations

import statistics
import time


def median_seconds(fn, repeat: int, clock=time.perf_counter) -> float:
    """Median time of ``repeat`` calls of ``fn`` after one warm-up call: wall time, or CPU time with
    ``clock=time.process_time``."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        times.append(clock() - t0)
    return statistics.median(times)
