"""First-call latency (compilation included) and peak memory of probkm's fits, each in a fresh process.

Target 5, startup: a fresh Python process imports probkm, fits ``SphericalGMM`` (MAP) at N = 1e4
(D=2, K=5) and then fits again with the same shape (no recompilation). Reported: the import, the
first fit, the second fit, and how the first fit's time splits between JAX tracing, lowering
and XLA compilation (``jax.monitoring`` durations) and the rest. ``--repeats`` fresh processes,
median. With ``--persistent-cache`` a second set of processes runs with JAX's persistent
compilation cache in a temporary folder, filled by one process first (the first fit then loads
compiled code from disk instead of compiling), as ``probkm.inference.compilation_cache.enable_compilation_cache``
sets it up and the ``probkm`` command uses it. Each process gets its own string-hash seed: probkm's
graphs do not depend on it (NumPyro's ``Trace_ELBO`` built its terms in ``set`` order, so before
``probkm.inference.map._SortedTraceELBO`` the MAP's graph, and its cache key, changed from one process to
the next).

Target 6, memory: a fresh process per (estimator, N) (D=2, K=5) builds the data with NumPy
(float64, as a user would pass it), records ``ru_maxrss`` (the baseline: interpreter, JAX, probkm
and the data), fits, and records ``ru_maxrss`` again (the peak), and after each step the
estimator calls (which step raised the high-water mark). Reported against the data's own
size (N x D x 8 bytes as float64; probkm works on a float32 copy, half that).

    python benchmarks/bench_startup_memory.py                   # startup x3, memory at 1e6 and 1e7
    python benchmarks/bench_startup_memory.py --part startup --persistent-cache
    python benchmarks/bench_startup_memory.py --part memory --sizes 1000000 10000000
    python benchmarks/bench_startup_memory.py --quick           # startup x1, memory at 1e5 and 1e6
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # inherited by the children, as in the other benchmarks

import numpy as np  # noqa: E402

STARTUP_CHILD = r"""
import json, os, sys, time, warnings
t0 = time.perf_counter()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import collections
import jax, jax.monitoring
events = collections.defaultdict(float)
jax.monitoring.register_event_duration_secs_listener(lambda name, secs, **kw: events.__setitem__(name, events[name] + secs))
import logging, re
import numpy as np
import probkm
t_import = time.perf_counter() - t0
warnings.filterwarnings("ignore")
compiles = collections.defaultdict(float)
class _Grab(logging.Handler):
    def emit(self, record):
        m = re.search(r"Finished XLA compilation of (.+?) in ([0-9.e-]+) sec", record.getMessage())
        if m:
            compiles[m.group(1)] += float(m.group(2))
_h = _Grab(); logging.getLogger("jax").addHandler(_h); logging.getLogger("jax").propagate = False
jax.config.update("jax_log_compiles", True)
n, k, d = {n}, {k}, {d}
rng = np.random.default_rng(0)
centres = rng.normal(scale=4.0, size=(k, d))
X = centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))
events.clear()
start = time.perf_counter(); probkm.SphericalGMM(k, random_state=0).fit(X); first = time.perf_counter() - start
first_events = dict(events); events.clear()
jax.config.update("jax_log_compiles", False)
start = time.perf_counter(); probkm.SphericalGMM(k, random_state=1).fit(X); second = time.perf_counter() - start
def pick(ev, word):
    return sum(v for key, v in ev.items() if word in key)
print("RESULT" + json.dumps({{
    "import": t_import, "first": first, "second": second,
    "trace": pick(first_events, "jaxpr_trace_duration"),
    "lower": pick(first_events, "jaxpr_to_mlir_module_duration"),
    "compile": pick(first_events, "backend_compile_duration"),
    "cache_load": pick(first_events, "cache_retrieval_time"),
    "second_compile": pick(events, "backend_compile_duration"),
    "n_compiles": len(compiles),
    "top_compiles": sorted(compiles.items(), key=lambda kv: -kv[1])[:6],
}}))
"""

MEMORY_CHILD = r"""
import json, os, resource, sys, time, warnings
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
import numpy as np
import probkm, probkm.estimators.annealed_kmeans, probkm.estimators.spherical_gmm
warnings.filterwarnings("ignore")
n, k, d = {n}, {k}, {d}
rng = np.random.default_rng(0)
centres = rng.normal(scale=4.0, size=(k, d))
X = centres[rng.integers(0, k, n)] + rng.normal(size=(n, d))
kib = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
steps = []
def wrap(module, name):
    fn = getattr(module, name)
    def recorded(*args, **kwargs):
        out = jax.block_until_ready(fn(*args, **kwargs))
        steps.append((name, kib()))
        return out
    setattr(module, name, recorded)
for module, names in ((probkm.estimators.spherical_gmm, ("kmeans_candidates", "map_starts", "negative_log_joint", "fit_map")),
                      (probkm.estimators.annealed_kmeans, ("kmeans_candidates", "nearest_centroid", "kmeans_objective_pointwise", "_log_sigma_laplace", "cluster_critical_temperatures"))):
    for name in names:
        wrap(module, name)
base = kib()
est = {estimator}
start = time.perf_counter(); est.fit(X); seconds = time.perf_counter() - start
print("RESULT" + json.dumps({{"base_kib": base, "peak_kib": kib(), "seconds": seconds, "steps": steps}}))
"""

ESTIMATORS = {
    "SphericalGMM (MAP)": "probkm.SphericalGMM(k, random_state=0)",
    "SphericalGMM (minibatch SVI, batch 4096)": "probkm.SphericalGMM(k, batch_size=4096, optimizer='adam', random_state=0)",
    "AnnealedKMeans": "probkm.AnnealedKMeans(k, random_state=0)",
}


def run_child(code, env=None):
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, **(env or {})})
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT"):
            return json.loads(line[len("RESULT"):])
    raise RuntimeError(f"child failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")


def startup(args):
    code = STARTUP_CHILD.format(n=args.startup_n, k=5, d=2)
    modes = {"no persistent cache": None}
    cache_dir = None
    if args.persistent_cache:
        cache_dir = tempfile.mkdtemp(prefix="probkm-jax-cache-")
        cache_env = {
            "JAX_COMPILATION_CACHE_DIR": cache_dir,
            "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
            "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
        }
        run_child(code, cache_env)  # fills the cache
        modes["persistent cache, filled by an earlier process"] = cache_env
    results = {mode: [] for mode in modes}
    try:
        for i in range(args.repeats):  # interleaved: mode A, mode B, A, B, ...
            for mode, env in modes.items():
                res = run_child(code, env)
                results[mode].append(res)
                print(f"startup [{mode}] run {i}: import {res['import']:.2f}s first fit {res['first']:.2f}s "
                      f"second fit {res['second']:.3f}s", flush=True)
    finally:
        if cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    print()
    print(f"### Target 5: first MAP fit in a fresh process, N={args.startup_n}, D=2, K=5 (median of {args.repeats} processes)")
    print()
    print("| mode | import probkm (s) | first fit (s) | of which trace (s) | lower (s) | XLA compile (s) | cache load (s) | XLA compiles | second fit (s) | target: first fit < 3 s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    numeric = ("import", "first", "trace", "lower", "compile", "cache_load", "second", "n_compiles")
    for mode, runs in results.items():
        med = {key: float(np.median([r[key] for r in runs])) for key in numeric}
        print(f"| {mode} | {med['import']:.2f} | {med['first']:.2f} | {med['trace']:.2f} | {med['lower']:.2f} | {med['compile']:.2f} | "
              f"{med['cache_load']:.2f} | {med['n_compiles']:.0f} | {med['second']:.3f} | {'met' if med['first'] < 3 else 'not met'} |")
    print()
    print("Largest XLA compilations in the first fit (first process of each mode):")
    print()
    print("| mode | function | XLA compile (s) |")
    print("|---|---|---|")
    for mode, runs in results.items():
        for name, secs in runs[0]["top_compiles"]:
            print(f"| {mode} | {name} | {secs:.2f} |")


def memory(args):
    rows = []
    for n in args.sizes:
        for name in args.estimators:
            ctor = ESTIMATORS[name]
            res = run_child(MEMORY_CHILD.format(n=n, k=5, d=2, estimator=ctor))
            rows.append((n, name, res))
            print(f"memory N={n} {name}: baseline {res['base_kib'] / 1024:.0f} MiB, peak {res['peak_kib'] / 1024:.0f} MiB, "
                  f"fit {res['seconds']:.1f}s", flush=True)
    print()
    print("### Target 6: peak RSS of one fit in a fresh process, D=2, K=5 (ru_maxrss)")
    print()
    print("| N | estimator | data float64 (MiB) | baseline RSS: imports + data (MiB) | peak RSS (MiB) | peak - baseline (MiB) | (peak - baseline) / data | fit time (s) |")
    print("|---|---|---|---|---|---|---|---|")
    for n, name, res in rows:
        data = n * 2 * 8 / 2**20
        base, peak = res["base_kib"] / 1024, res["peak_kib"] / 1024
        print(f"| {n} | {name} | {data:.0f} | {base:.0f} | {peak:.0f} | {peak - base:.0f} | {(peak - base) / data:.1f} | {res['seconds']:.1f} |")
    print()
    print("Where the high-water mark rose: ru_maxrss after each step of the fit returned (MiB above the baseline;")
    print("a step that does not raise it shows the same value as the step before)")
    print()
    print("| N | estimator | step | high-water mark after it, above baseline (MiB) |")
    print("|---|---|---|---|")
    for n, name, res in rows:
        for step, kib in res["steps"]:
            print(f"| {n} | {name} | {step} | {(kib - res['base_kib']) / 1024:.0f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("startup", "memory", "all"), default="all")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per startup mode")
    parser.add_argument("--startup-n", type=int, default=10_000)
    parser.add_argument("--persistent-cache", action="store_true", help="also time startup with JAX's persistent compilation cache")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--estimators", nargs="+", choices=list(ESTIMATORS), default=list(ESTIMATORS))
    parser.add_argument("--quick", action="store_true", help="1 startup process; memory at 1e5 and 1e6")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.sizes = 1, [100_000, 1_000_000]
    if args.part in ("startup", "all"):
        startup(args)
    if args.part in ("memory", "all"):
        if args.part == "all":
            print()
        memory(args)


if __name__ == "__main__":
    main()
