"""The fits of a K-scan: one compiled program for every ``K``, several fits at once, each ``K``'s warnings kept apart.

A scan fits one :class:`probkm.SphericalGMM` per ``K``. Two things make that cheaper than a
loop of ``fit`` calls, with the same numbers:

* every fit pads its components to the bucket of the scan's largest ``K`` (:func:`scan_bucket`),
  so the scan compiles one fit program instead of one per power of two;
* after the first fit (which compiles the program and builds the Ward tree the others reuse),
  the others run ``n_jobs`` at a time in threads (:func:`fit_each`). A fit is a chain of small
  XLA operations that keeps two cores about half busy; two fits side by side fill them (a scan of
  ``K = 1..16`` at 10,000 rows on two cores: 2.7 s one at a time, 1.7-1.8 s two at a time;
  ``docs/shapes.md``). Each fit has its own seed, so the order they run in changes nothing.

Threads are safe here because the fits after the first trace nothing: they run the program the
first compiled. Tracing a NumPyro model in two threads at once is not safe (its effect handlers
are one stack per process), so fits that trace per ``K``, like NUTS, run with ``n_jobs=1``.
"""

from __future__ import annotations

import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from probkm.core.shapes import bucket_components, bucket_rows

# fits at once by default, however many cores: side by side they fill the cores that small XLA
# operations leave idle (on two cores, three at once were no faster than two), while each holds
# its own arrays, which on a large data set and a large machine would add up
DEFAULT_MAX_JOBS = 4


def scan_bucket(candidates: np.ndarray, n_samples: int) -> int:
    """The components every fit of a scan pads to: the bucket of its largest ``K``.

    A fit pads ``K`` to a bucket (:func:`probkm.core.shapes.bucket_components`) so that nearby
    ``K`` share a compiled program. Past :data:`~probkm.core.shapes.SMALL_ROWS` rows the buckets
    are powers of two, and a scan of ``K = 1..16`` would compile five programs (1, 2, 4, 8, 16),
    each about 4 s on two CPU cores at 10,000 rows. Padding every ``K`` to the largest ``K``'s
    bucket compiles one; the small ``K`` then run with masked components, which costs a warm
    scan about a tenth more there (``docs/shapes.md``).

    Parameters
    ----------
    candidates : array_like of int
        The ``K`` of the scan.
    n_samples : int
        Rows of the data.

    Returns
    -------
    int

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.selection.fits import scan_bucket
    >>> scan_bucket(np.arange(1, 17), 10_000), scan_bucket(np.arange(1, 4), 10_000), scan_bucket(np.arange(1, 13), 150)
    (16, 4, 16)
    """
    return bucket_components(int(np.max(candidates)), bucket_rows(int(n_samples)))


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity mask where the system has one).

    Examples
    --------
    >>> import os
    >>> from probkm.selection.fits import usable_cores
    >>> 1 <= usable_cores() <= (os.cpu_count() or 1)
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity masks (macOS, Windows)
        return os.cpu_count() or 1


def resolve_n_jobs(n_jobs: int | None, n_fits: int) -> int:
    """How many fits run at once: ``n_jobs`` (``None``: the usable cores, at most
    :data:`DEFAULT_MAX_JOBS`; negative: that many fewer than the usable cores plus one, as in
    scikit-learn), at most ``n_fits`` and at least 1.

    Examples
    --------
    >>> from probkm.selection.fits import resolve_n_jobs, usable_cores
    >>> resolve_n_jobs(2, 16), resolve_n_jobs(8, 3), resolve_n_jobs(1, 16)
    (2, 3, 1)
    >>> 1 <= resolve_n_jobs(None, 16) <= min(usable_cores(), 4), resolve_n_jobs(-1, 64) == usable_cores()
    (True, True)
    """
    cores = usable_cores()
    wanted = min(cores, DEFAULT_MAX_JOBS) if n_jobs is None else (int(n_jobs) if n_jobs > 0 else max(cores + 1 + int(n_jobs), 1))
    return max(1, min(wanted, int(n_fits)))


class _WarningsByThread:
    """Inside ``with``: every warning, from any thread, is recorded under the key the thread
    set with :meth:`keep` (``warnings.catch_warnings`` is one global switch, not per thread)."""

    def __init__(self):
        self.caught: dict[Any, list] = {}
        self._local = threading.local()
        self._lock = threading.Lock()

    def keep(self, key: Any) -> None:
        self._local.key = key

    def _show(self, message, category, filename, lineno, file=None, line=None):
        record = warnings.WarningMessage(message, category, filename, lineno, file, line)
        with self._lock:
            self.caught.setdefault(getattr(self._local, "key", None), []).append(record)

    def __enter__(self):
        self._saved = warnings.catch_warnings()
        self._saved.__enter__()
        warnings.simplefilter("always")
        warnings.showwarning = self._show
        return self

    def __exit__(self, *exc):
        return self._saved.__exit__(*exc)


def fit_each(
    fit: Callable[[int, Any], Any], candidates: np.ndarray, *, n_jobs: int | None = None, say: Callable[[str], None] = lambda _: None, label: str = "MAP",
) -> tuple[dict[int, Any], dict[int, list]]:
    """``fit(k, shared)`` for every ``k`` in ``candidates``, the first alone, the rest ``n_jobs`` at a time.

    Parameters
    ----------
    fit : callable
        ``fit(k, shared)`` returns ``(estimator, shared)``: ``shared`` is ``None`` for the first
        call and that call's returned ``shared`` (a Ward tree) for the others.
    candidates : ndarray of int
        The ``K`` to fit: the first alone, then the others largest first, so that the
        longest fits do not come last.
    n_jobs : int or None
        Fits at once (:func:`resolve_n_jobs`).
    say : callable
        Called with a line of text as each fit starts (from the thread that runs it).
    label : str
        The kind of fit, for ``say``.

    Returns
    -------
    estimators : dict
        ``{K: estimator}`` in the order of ``candidates``.
    caught : dict
        ``{K: [warnings.WarningMessage, ...]}``: what each ``K``'s fit warned, not shown.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from probkm.selection.fits import fit_each
    >>> def fit(k, shared):
    ...     if k > 2:
    ...         warnings.warn(f"{k} is many")
    ...     return k * k, "tree"
    >>> fitted, caught = fit_each(fit, np.array([1, 2, 3, 4]), n_jobs=2)
    >>> fitted, {k: [str(w.message) for w in ws] for k, ws in caught.items()}
    ({1: 1, 2: 4, 3: 9, 4: 16}, {1: [], 2: [], 3: ['3 is many'], 4: ['4 is many']})
    """
    ks = [int(k) for k in candidates]
    first, rest = ks[0], sorted(ks[1:], reverse=True)
    done: dict[int, Any] = {}
    with _WarningsByThread() as recorder:
        def run(k, shared):
            recorder.keep(k)
            say(f"K = {k}: {label}")
            return fit(k, shared)

        done[first], shared = run(first, None)
        workers = resolve_n_jobs(n_jobs, len(rest))
        if workers == 1 or not rest:
            for k in rest:
                done[k] = run(k, shared)[0]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probkm-scan") as pool:
                futures = {k: pool.submit(run, k, shared) for k in rest}
                for k, future in futures.items():
                    done[k] = future.result()[0]
    return {k: done[k] for k in ks}, {k: recorder.caught.get(k, []) for k in ks}
