"""Progress bars of compiled sampling loops: one tqdm bar per chain, updated from inside the program.

A NUTS run (:mod:`probkm.inference.nuts`) is one compiled call, so Python sees nothing of it
until it returns. :func:`report_progress`, traced into the loop, calls back to the host about
fifty times per chain (every ``total // 50`` steps, at the end of warmup and at the last
step) with the chain, the steps done and the divergences of the current phase; the host
moves that chain's bar.

The bars are made outside the compiled function by :func:`chain_bars`, which files them
under a run id, an integer passed into the compiled function as a traced argument. The
callback traced into the program is this module's :func:`_update`, which looks the run up
by that id; so a second run reuses the compiled program with new bars (no Python object is
baked into it), and a run's entry is removed when it ends. Programs that hold a host
callback are not written to JAX's persistent compilation cache; a run without bars compiles
a program with no callback at all.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
import threading
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

# the bars of each run in progress, by run id; entries live only as long as their run
_RUNS: dict[int, _Run] = {}
_RUN_IDS = itertools.count(1)
REPORTS_PER_CHAIN = 50  # every 2% of the steps: at 100 the callbacks cost 9% of a 0.8 s run (benchmarks/progress_overhead.py)


def report_every(total: int) -> int:
    """Steps between two reports of a chain of ``total`` steps (about 50 reports a chain).

    Examples
    --------
    >>> from probkm.inference.progress import report_every
    >>> report_every(1500), report_every(50)
    (30, 1)
    """
    return max(1, total // REPORTS_PER_CHAIN)


def show_progress(progress_bar: bool | None) -> bool:
    """Whether to draw bars: ``progress_bar`` itself, or for ``None`` tqdm's convention (on where
    someone watches: stderr is a terminal, or the code runs in a notebook), so that scripts
    piped to a file, test runs and batch jobs neither print bars nor compile the callback.

    Examples
    --------
    >>> from probkm.inference.progress import show_progress
    >>> show_progress(True), show_progress(False)
    (True, False)
    """
    if progress_bar is not None:
        return bool(progress_bar)
    if getattr(sys.stderr, "isatty", lambda: False)():
        return True
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"  # a Jupyter kernel


def _new_bar(**kwargs: Any):
    """A tqdm bar: the notebook widget where there is one, else text on stderr."""
    from tqdm.auto import tqdm

    return tqdm(**kwargs)


class _Run:
    """The bars of one run and what a report means: steps ``1 .. num_warmup`` are warmup."""

    def __init__(self, bars: list, num_warmup: int):
        self.bars, self.num_warmup = bars, num_warmup
        self.started = [False] * len(bars)
        self.lock = threading.Lock()  # parallel chains report from several threads

    def update(self, chain: int, done: int, divergences: int) -> None:
        phase = "warmup" if done <= self.num_warmup else "sampling"
        bar = self.bars[chain]
        with self.lock:
            if not self.started[chain]:
                # the clock starts at the chain's first step, not at compilation (or, for
                # sequential chains, the end of the chains before it): rates and ETAs are the sampler's
                bar.reset()
                self.started[chain] = True
            bar.set_description(f"chain {chain + 1}/{len(self.bars)} {phase}", refresh=False)
            bar.set_postfix_str(f"divergences={divergences}", refresh=False)
            bar.update(done - bar.n)
            if done == bar.total:
                bar.close()  # now, so that its time and rate are the chain's own


@contextlib.contextmanager
def chain_bars(num_chains: int, num_warmup: int, num_samples: int, *, enabled: bool = True) -> Iterator[int]:
    """One progress bar per chain for the duration of a run; yields the run's id.

    Pass the id (as an integer array) to the compiled function that calls
    :func:`report_progress`. On leaving, the bars are closed after every callback of the run
    has run (the caller should have waited for the run's results).

    Parameters
    ----------
    num_chains : int
        Number of chains (bars).
    num_warmup, num_samples : int
        Steps per chain in each phase; a bar's total is their sum.
    enabled : bool, default True
        ``False`` opens no bar (and yields 0).

    Yields
    ------
    int
        The run id.

    Examples
    --------
    >>> from probkm.inference.progress import chain_bars
    >>> with chain_bars(2, 10, 10, enabled=False) as run_id:
    ...     print(run_id)
    0
    """
    if not enabled:
        yield 0
        return
    run_id = next(_RUN_IDS)
    total = num_warmup + num_samples
    bars = [
        _new_bar(total=total, desc=f"chain {c + 1}/{num_chains} waiting",
                 position=c, leave=True, unit="step", dynamic_ncols=True)
        for c in range(num_chains)
    ]
    _RUNS[run_id] = _Run(bars, num_warmup)
    try:
        yield run_id
        jax.effects_barrier()
    finally:
        del _RUNS[run_id]
        for bar in bars:
            bar.close()


def _update(report) -> None:
    """Host side of :func:`report_progress` (runs outside the compiled program): ``report`` is
    ``(run_id, chain, done, divergences)``."""
    run_id, chain, done, divergences = (int(v) for v in np.asarray(report))
    run = _RUNS.get(run_id)
    if run is not None:  # None: the run's bars are closed already (an interrupted run)
        run.update(chain, done, divergences)


def report_progress(run_id: jax.Array, chain: jax.Array, step: jax.Array, divergences: jax.Array, *, num_warmup: int, total: int) -> None:
    """Inside a compiled loop: report ``step`` of ``total`` to the run's bar of ``chain``.

    Reports after the first step, every :func:`report_every`-th step, at the end of warmup
    and at the last step; the host call sits in a ``lax.cond`` on the (unbatched) step, so the other steps
    cost one comparison. Under ``vmap`` over chains, each chain reports on its own.

    Parameters
    ----------
    run_id : jax.Array
        Integer scalar from :func:`chain_bars`.
    chain : jax.Array
        Integer scalar: the chain's index (traced; batched under ``vmap``).
    step : jax.Array
        Integer scalar: the 0-based index of the step just done.
    divergences : jax.Array
        Integer scalar: divergent transitions so far in the current phase.
    num_warmup, total : int
        Warmup steps and all steps of the chain (static).

    Examples
    --------
    A compiled loop of 10 steps that moves one bar (on stderr):

    >>> import jax, jax.numpy as jnp
    >>> from probkm.inference.progress import chain_bars, report_progress
    >>> @jax.jit
    ... def count(run_id):
    ...     def step(total, i):
    ...         report_progress(run_id, 0, i, 0, num_warmup=5, total=10)
    ...         return total + i, None
    ...     return jax.lax.scan(step, 0, jnp.arange(10))[0]
    >>> with chain_bars(1, 5, 5) as run_id:
    ...     int(count(run_id))
    45
    """
    every = report_every(total)
    done = step + 1
    due = (done % every == 0) | (done == 1) | (done == num_warmup) | (done == total)

    def report():
        # one array, not four scalars: JAX moves each argument to a host array before the
        # call, and that, not the bar, is most of a report's cost (about half with four)
        packed = jnp.stack([jnp.asarray(v, jnp.int32) for v in (run_id, chain, done, divergences)])
        jax.debug.callback(_update, packed, ordered=False)

    jax.lax.cond(due, report, lambda: None)


def count_divergences(divergences: jax.Array, step: jax.Array, diverging: jax.Array, num_warmup: int) -> jax.Array:
    """Divergent transitions of the current phase after ``step``: the count restarts when
    sampling begins, so what a bar shows at the end is the kept draws' count.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.inference.progress import count_divergences
    >>> int(count_divergences(jnp.int32(3), jnp.int32(4), jnp.bool_(True), num_warmup=5))
    4
    >>> int(count_divergences(jnp.int32(3), jnp.int32(5), jnp.bool_(False), num_warmup=5))
    0
    """
    return jnp.where(step == num_warmup, 0, divergences) + diverging.astype(divergences.dtype)
