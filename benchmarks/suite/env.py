"""Thread settings for a child process, and the stamps every raw result carries.

Nothing here imports numpy or jax at module level: :func:`child_environment` is applied before
the child imports them (OpenBLAS, OpenMP and XLA read their thread counts when they load).
"""

from __future__ import annotations

import os
import platform
import subprocess
import time

# XLA on CPU: no Eigen thread pool for its intra-op work. The process is also pinned to one core
# (sched_setaffinity), which bounds every library's threads whatever they read; the child records
# its CPU time over wall time so the raw results show the bound held.
ONE_THREAD_XLA_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def available_cores() -> list[int]:
    """The cores this process may run on, sorted."""
    return sorted(os.sched_getaffinity(0))


def child_environment(threads: str, base: dict | None = None) -> tuple[dict, list[int]]:
    """Environment and core list for a child measuring at ``threads`` ("1" or "all").

    Returns
    -------
    (dict, list of int)
        The environment (JAX on CPU, no persistent compilation cache, the thread variables) and
        the cores the child pins itself to.
    """
    env = dict(os.environ if base is None else base)
    cores = available_cores()
    if threads == "1":
        cores = cores[:1]
        env["XLA_FLAGS"] = ONE_THREAD_XLA_FLAGS
    elif threads == "all":
        env.pop("XLA_FLAGS", None)
    else:
        raise ValueError(f"threads must be '1' or 'all'; got {threads!r}.")
    for name in THREAD_VARS:
        env[name] = str(len(cores))
    env["JAX_PLATFORMS"] = "cpu"
    # first calls must compile: no persistent cache from an earlier process
    for name in ("JAX_COMPILATION_CACHE_DIR", "PROBKM_CACHE_DIR"):
        env.pop(name, None)
    env["JAX_ENABLE_COMPILATION_CACHE"] = "false"
    env["PYTHONHASHSEED"] = "0"
    return env, cores


def pin(cores: list[int]) -> None:
    """Pin this process (and the threads it starts later) to ``cores``."""
    os.sched_setaffinity(0, set(cores))


def _git(*args: str) -> str:
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        return subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def commit_stamp() -> dict:
    """The commit measured and whether tracked files differed from it. Excluded: what the driver
    writes (``benchmarks/results``, ``RESULTS.md``, the README), the report module and the tests,
    none of which changes a measurement."""
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/results", ":(exclude)README.md",
                 ":(exclude)benchmarks/RESULTS.md", ":(exclude)benchmarks/suite/report.py", ":(exclude)tests")
    return {"commit": _git("rev-parse", "--short", "HEAD") or "unknown", "dirty": bool(dirty)}


def machine_stamp() -> dict:
    """CPU model, cores, memory and the load average now."""
    model = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory_gib = None
    try:
        with open("/proc/meminfo") as fh:
            memory_gib = round(int(fh.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpu": model, "cores": os.cpu_count(), "cores_allowed": len(available_cores()), "memory_gib": memory_gib,
        "platform": platform.platform(), "load_average": list(os.getloadavg()), "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def library_versions() -> dict:
    """Versions of the libraries compared (None where one is not installed)."""
    from importlib import metadata

    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "numpyro", "numpy", "scikit-learn", "arviz", "pymc", "pytensor", "blackjax", "scipy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def process_cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
