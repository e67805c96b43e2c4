"""probkm's compiled programs, and a bound on how many a process keeps.

Every compiled entry point of probkm is made by :func:`compiled` (``jax.jit`` plus a record
of the function). JAX keeps each program it compiles for the life of the process, and each
holds memory mappings of its machine code (about fifteen for a small program, hundreds for
a fit). Shape buckets (:mod:`probkm.core.shapes`) bound the programs a workload needs, but a
long session over data of many feature counts still adds more; past about 65,000 mappings
(Linux's default ``vm.max_map_count``) the process dies. :func:`trim_programs`, which every
fit calls, drops probkm's compiled programs once they number more than a budget; the next
call of a dropped program compiles it again (or loads it from the persistent compilation
cache, :mod:`probkm.inference.compilation_cache`). Dropping a program does not free what JAX's
tracing and lowering caches keep of it, about 11 MiB of resident memory per data shape, so a
trim also clears those (:func:`jax.clear_caches`) and hands the freed heap back to the operating
system: over a long session the resident memory then stays flat instead of growing with every
shape (``benchmarks/soak.py``). JAX's caches are global, so after a trim the user's own jitted
functions compile again on their next call; a trim happens once per :data:`MAX_PROGRAMS`
programs, not per fit.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import math
from typing import Any, Callable

import jax

from probkm.core.exported import DiskProgram

# programs kept before trimming: a K-scan or a cross-validation needs a handful; a program
# holds about 250 memory mappings (benchmarks/soak.py), so 64 stay far below the 65,530 limit
MAX_PROGRAMS = 64

# programs whose largest array has at most this many elements compile at LLVM optimisation
# level 1: below it a fit runs in tens of milliseconds and its compilation costs seconds. Fits
# of up to 30,000 x 4 ran as fast at level 1 as at the default; at 100,000 x 2 AnnealedKMeans ran
# 2.6x slower, so the limit stays well below that
QUICK_ELEMENTS = 2**16
QUICK_OPTIONS = {"xla_backend_optimization_level": 1}

_COMPILED: list = []  # every function made by `compiled`, recorded once, at import


def compiler_options(args: tuple, kwargs: dict) -> dict | None:
    """XLA's options for a program called with ``args`` and ``kwargs``: :data:`QUICK_OPTIONS` on a
    CPU when no array among them has more than :data:`QUICK_ELEMENTS` elements, else ``None``
    (XLA's defaults).

    Examples
    --------
    >>> import jax, numpy as np
    >>> from probkm.core.programs import compiler_options
    >>> small, large = compiler_options((np.ones((150, 4)),), {}), compiler_options((np.ones((100_000, 8)),), {})
    >>> (small is not None) == (jax.default_backend() == "cpu"), large
    (True, None)
    """
    return QUICK_OPTIONS if _quick(jax.tree.leaves((args, kwargs))) else None


def _quick(leaves: list) -> bool:
    """Whether a program called with these argument leaves compiles at :data:`QUICK_OPTIONS`."""
    if jax.default_backend() != "cpu":
        return False
    return max((math.prod(getattr(leaf, "shape", ())) for leaf in leaves), default=0) <= QUICK_ELEMENTS


class _Program:
    """``jax.jit(fun)`` twice, at XLA's default options and at :data:`QUICK_OPTIONS`; a call
    runs the one :func:`compiler_options` picks for its arguments (inside another program's
    trace, the default one: the outer program's options apply)."""

    def __init__(self, fun: Callable, jit_kwargs: dict):
        self.default = jax.jit(fun, **jit_kwargs)
        self.quick = jax.jit(fun, compiler_options=QUICK_OPTIONS, **jit_kwargs)
        functools.update_wrapper(self, fun)  # name, module, docstring and signature of ``fun``

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        leaves = jax.tree.leaves((args, kwargs))  # flattened once for both questions
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves) or not _quick(leaves):
            return self.default(*args, **kwargs)
        return self.quick(*args, **kwargs)

    def clear_cache(self) -> None:
        self.default.clear_cache()
        self.quick.clear_cache()

    def _cache_size(self) -> int:
        return self.default._cache_size() + self.quick._cache_size()


def compiled(fun: Callable | None = None, *, on_disk: bool = False, **jit_kwargs: Any) -> Callable:
    """``jax.jit(fun, **jit_kwargs)``, recorded so that :func:`trim_programs` can drop its programs,
    with XLA's options chosen per call by :func:`compiler_options`.

    Usable as ``@compiled`` or ``@compiled(static_argnames=...)``.

    Parameters
    ----------
    fun : callable, optional
        The function to compile.
    on_disk : bool, default False
        Also keep its traced programs on disk while a compilation cache folder is set, so a
        fresh process neither traces nor lowers them again (:mod:`probkm.core.exported`). For
        the few programs a fit runs from the top; their static arguments must be keyword-only.
    **jit_kwargs
        Passed to ``jax.jit``.

    Returns
    -------
    callable
        The jitted function.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.programs import compiled
    >>> @compiled(static_argnames=("power",))
    ... def raise_to(x, power):
    ...     return x**power
    >>> float(raise_to(jnp.asarray(3.0), power=2))
    9.0
    """
    if fun is None:
        return lambda f: compiled(f, on_disk=on_disk, **jit_kwargs)
    jitted = _Program(fun, jit_kwargs)
    if on_disk:
        jitted = DiskProgram(fun, jitted, tuple(jit_kwargs.get("static_argnames", ())), compiler_options)
    _COMPILED.append(jitted)
    return jitted


def program_count() -> int:
    """How many programs probkm's compiled functions hold now.

    Examples
    --------
    >>> from probkm.core.programs import program_count
    >>> program_count() >= 0
    True
    """
    return sum(getattr(f, "_cache_size", lambda: 0)() for f in _COMPILED)


def trim_programs(max_programs: int | None = None) -> int:
    """Drop all of probkm's compiled programs if they number more than ``max_programs``.

    Parameters
    ----------
    max_programs : int, optional
        The budget; :data:`MAX_PROGRAMS` (read at each call, so a program can set it) by default.

    Returns
    -------
    int
        How many programs were dropped (0 within the budget).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.programs import compiled, program_count, trim_programs
    >>> double = compiled(lambda x: 2 * x)
    >>> _ = [double(jnp.ones(n)) for n in (1, 2, 3)]
    >>> trim_programs(max_programs=program_count()), trim_programs(max_programs=0) >= 3, program_count()
    (0, True, 0)
    """
    count = program_count()
    if count <= (MAX_PROGRAMS if max_programs is None else max_programs):
        return 0
    for f in _COMPILED:
        f.clear_cache()
    release_memory()
    return count


def release_memory() -> None:
    """Clear JAX's tracing, lowering and compilation caches and return the freed heap to the OS.

    A dropped program's jaxpr, MLIR module and executable stay reachable from JAX's internal
    caches; clearing them frees the memory, and ``malloc_trim`` (glibc only; elsewhere nothing)
    gives it back instead of keeping it in the allocator's free lists.

    Examples
    --------
    >>> from probkm.core.programs import release_memory
    >>> release_memory()
    """
    jax.clear_caches()
    gc.collect()
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError, TypeError):  # not glibc: the allocator keeps its own policy
        pass
