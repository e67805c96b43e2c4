"""Interleaved timing: a warm-up call per method, then rounds A, B, C, A, B, C, ..."""

from __future__ import annotations

import time


def interleaved(methods, repeats, warm_up=True):
    """Time ``methods`` (name -> (callable, repeats or None)) in interleaved rounds.

    With ``warm_up``, each method whose repeats are the default (None) runs once untimed first
    (it compiles); methods with their own repeat count (slow peers that compile nothing) do not.

    Returns
    -------
    (dict, dict)
        name -> list of seconds of the timed calls, name -> the last call's result.
    """
    results, times = {}, {name: [] for name in methods}
    if warm_up:
        for name, (fn, r) in methods.items():
            if r is None:
                results[name] = fn()
    rounds = max((r if r is not None else repeats) for _, r in methods.values())
    for i in range(rounds):
        for name, (fn, r) in methods.items():
            if i >= (r if r is not None else repeats):
                continue
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return times, results


def first_call(fn):
    """Seconds of one call (the first of its kind in a fresh process), and its result."""
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out
