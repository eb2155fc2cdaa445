"""Resolve the ``num_threads`` argument once, in Python, before any parallel C++ call."""
from __future__ import annotations

import functools
import os


@functools.cache
def available_cores() -> int:
    """Cores this process may use: CPU affinity, then a cgroup v2 CPU quota if one is set.

    Read once per process (it opens a file; serving calls resolve threads on every request).
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        with open("/sys/fs/cgroup/cpu.max") as f:
            quota, period = f.read().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) // int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def resolve_num_threads(num_threads: int) -> int:
    """0 means "all cores": ``OMP_NUM_THREADS`` when set, otherwise :func:`available_cores`."""
    if num_threads > 0:
        return num_threads
    env = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return available_cores()
