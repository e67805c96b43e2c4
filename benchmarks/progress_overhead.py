"""What the NUTS progress bars cost: warm ``fit_nuts`` with and without ``progress_bar``.

For each N (default 1e3 and 1e4; K = 3, D = 2, a shared-sigma mixture, standardised), both
programs are compiled first (one call each, not timed), then ``--repeats`` pairs of warm calls
are timed, the order inside each pair alternating (off-on, on-off, ...) so that a drift of the
machine's load falls on both. Each call has a new key. Reported per N: the median wall time of
each, the median of the per-pair ratios (bar / no bar; the target is below 1.05), the same for
the process's CPU time (all threads; steadier than wall time on a shared machine), and whether
the compiled programs (``probkm.core.programs.program_count`` and the NUTS driver's own jit
cache) changed after the first call with bars: a new run, with new bars, must reuse the program.

The bars write to stderr as they would for a user (tqdm redraws at most ten times a second);
redirect stderr to a file or /dev/null to keep the terminal clean.

    python benchmarks/progress_overhead.py [--sizes 1000 10000] [--repeats 5]
        [--num-warmup 500] [--num-samples 1000] [--num-chains 2] [--chain-method sequential]

Results go to ``benchmarks/results/progress_overhead.json`` (stamped with the commit) and the
table to ``benchmarks/results/progress_overhead.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from probkm.core.models import data_prior_defaults, spherical_gmm
from probkm.core.programs import program_count
from probkm.datasets import synthetic_mixture
from probkm.inference import nuts
from probkm.inference.nuts import fit_nuts

HERE = Path(__file__).resolve().parent
TARGET = 1.05


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _problem(n_obs: int, seed: int = 0):
    """Standardised data, the model's keyword arguments and a start at the true parameters."""
    data = synthetic_mixture(n_obs, 3, 2, sigma=1.0, seed=seed)
    center, scale = data.X.mean(axis=0), data.X.std()
    x = (data.X - center) / scale
    kwargs = {"n_components": 3, **{k: jnp.asarray(v, jnp.float32) for k, v in data_prior_defaults(x).items()}}
    start = {"weights": jnp.full(3, 1 / 3), "means": jnp.asarray((data.means - center) / scale, jnp.float32), "sigma": 1.0 / scale}
    return jnp.asarray(x, jnp.float32), kwargs, start


def _time(x, kwargs, start, key, settings, progress_bar: bool) -> tuple[float, float]:
    """Wall time and the process's CPU time (all threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fit_nuts(key, x, spherical_gmm, init_values=start, progress_bar=progress_bar, **settings, **kwargs)
    jax.block_until_ready(result.samples)
    return time.perf_counter() - wall, time.process_time() - cpu


def _programs() -> tuple[int, int]:
    return program_count(), nuts._nuts_chains._cache_size()


def measure(n_obs: int, repeats: int, settings: dict) -> dict:
    """Compile both programs, then time ``repeats`` interleaved pairs of warm calls."""
    x, kwargs, start = _problem(n_obs)
    keys = iter(jax.random.split(jax.random.key(n_obs), 2 * repeats + 3))
    first = {flag: _time(x, kwargs, start, next(keys), settings, flag)[0] for flag in (False, True)}  # compiles
    after_first = _programs()
    second_with_bars = _time(x, kwargs, start, next(keys), settings, True)[0]
    after_second = _programs()
    times = {False: [], True: []}
    for i in range(repeats):
        for flag in ((False, True) if i % 2 == 0 else (True, False)):
            times[flag].append(_time(x, kwargs, start, next(keys), settings, flag))
    after_all = _programs()
    wall = {flag: [t[0] for t in ts] for flag, ts in times.items()}
    cpu = {flag: [t[1] for t in ts] for flag, ts in times.items()}
    return {
        "n_obs": n_obs,
        "first_call_s": {"no_bar": first[False], "bar": first[True]},
        "second_call_with_bar_s": second_with_bars,
        "no_bar_s": wall[False],
        "bar_s": wall[True],
        "no_bar_cpu_s": cpu[False],
        "bar_cpu_s": cpu[True],
        "median_no_bar_s": float(np.median(wall[False])),
        "median_bar_s": float(np.median(wall[True])),
        "median_pair_ratio": float(np.median([on / off for on, off in zip(wall[True], wall[False])])),
        "ratio_of_medians": float(np.median(wall[True]) / np.median(wall[False])),
        "median_no_bar_cpu_s": float(np.median(cpu[False])),
        "median_bar_cpu_s": float(np.median(cpu[True])),
        "median_pair_ratio_cpu": float(np.median([on / off for on, off in zip(cpu[True], cpu[False])])),
        "programs_after_first_calls": after_first,
        "programs_after_second_bar_call": after_second,
        "programs_after_all": after_all,
        "recompiled_on_second_run": after_second != after_first,
        "recompiled_in_repeats": after_all != after_first,
    }


def _table(results: dict) -> str:
    s = results["settings"]
    lines = [
        f"Commit {results['commit']}; {results['cores']} cores; jax {results['jax']}; K = 3, D = 2; "
        f"{s['num_chains']} chains ({s['chain_method']}) x ({s['num_warmup']} warmup + {s['num_samples']} draws); "
        f"{results['repeats']} interleaved pairs of warm calls per N.",
        "",
        "| N | median wall without bar (s) | with bar (s) | median pair ratio, wall (target < 1.05) | ratio of medians, wall | "
        "median CPU without bar (s) | with bar (s) | median pair ratio, CPU | a second run recompiled? | programs (probkm total, NUTS driver) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["runs"]:
        lines.append(
            f"| {r['n_obs']} | {r['median_no_bar_s']:.3f} | {r['median_bar_s']:.3f} | {r['median_pair_ratio']:.3f} | "
            f"{r['ratio_of_medians']:.3f} | {r['median_no_bar_cpu_s']:.3f} | {r['median_bar_cpu_s']:.3f} | {r['median_pair_ratio_cpu']:.3f} | "
            f"{'yes' if r['recompiled_on_second_run'] or r['recompiled_in_repeats'] else 'no'} | "
            f"{tuple(r['programs_after_first_calls'])} -> {tuple(r['programs_after_all'])} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--num-warmup", type=int, default=500)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--num-chains", type=int, default=2)
    parser.add_argument("--chain-method", default="sequential", choices=nuts.CHAIN_METHODS)
    args = parser.parse_args()
    settings = {"num_warmup": args.num_warmup, "num_samples": args.num_samples, "num_chains": args.num_chains, "chain_method": args.chain_method}
    runs = []
    for n_obs in args.sizes:
        runs.append(measure(n_obs, args.repeats, settings))
        r = runs[-1]
        print(f"N={n_obs}: without bar {r['median_no_bar_s']:.3f} s, with bar {r['median_bar_s']:.3f} s, "
              f"median pair ratio {r['median_pair_ratio']:.3f} (CPU time {r['median_pair_ratio_cpu']:.3f}), recompiled on the second run: {r['recompiled_on_second_run']}", flush=True)
    results = {"commit": _commit(), "cores": os.cpu_count(), "jax": jax.__version__, "repeats": args.repeats, "settings": settings, "runs": runs}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "progress_overhead.json").write_text(json.dumps(results, indent=2) + "\n")
    table = _table(results)
    (HERE / "results" / "progress_overhead.md").write_text(table + "\n")
    print(table)
    worst = max(r["median_pair_ratio"] for r in runs)
    worst_cpu = max(r["median_pair_ratio_cpu"] for r in runs)
    print(f"worst median overhead {100 * (worst - 1):.1f}% of wall time, {100 * (worst_cpu - 1):.1f}% of CPU time (target < {100 * (TARGET - 1):.0f}%)")


if __name__ == "__main__":
    main()
