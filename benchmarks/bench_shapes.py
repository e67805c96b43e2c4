"""Speed on new data shapes: a new N or K in a compiled bucket, a K-scan, and the process's growth.

Each measurement runs in a fresh process, on standardised iris (150 x 4) unless said
otherwise, with the peers' time for the same work beside it; every process gets the same
cores (XLA's, BLAS's and R's threads are left at the machine's count):

* ``new N``: fit ``SphericalGMM(3)`` (and ``AnnealedKMeans(3)``) on iris, then time the first
  fit and predict of ``iris[:140]``, ``iris[:120]`` and ``iris[:100]``; the same at N = 10,000
  (first fits at five new sizes, N = 9,800 to 10,050, after one at 10,000, synthetic data,
  D = 4, K = 5; median and range);
* ``K-scan``: ``SphericalGMM(k).fit`` for ``k = 1..12``, total time: first calls in a fresh
  process with an empty persistent compilation cache (``cold``), in a second fresh process
  with that cache filled (``cached``), and again in the first process (``warm``); the pair
  of processes runs ``--repeats`` times (3), each time with a new cache, and the table gives
  the median and range; scikit-learn's
  ``GaussianMixture(covariance_type="spherical")`` and R's ``mclustBIC(X, G = 1:12,
  modelNames = "EII")`` (the same shared-sigma model), each first call and warm;
* ``growth``: memory mappings (``/proc/self/maps``) added by fits of 20 new sizes ``N = 60..250``
  and 12 new ``K``.

    python benchmarks/bench_shapes.py [--baseline-tree OLD_CHECKOUT] [--measures ...] [--repeats 3]

Raw results go to ``benchmarks/results/bench_shapes.json`` (stamped with the commit), the table
to ``benchmarks/results/bench_shapes.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEASURES = ("new_n", "kscan_cold", "kscan_cached", "growth")
NEW_N_10K = (9_800, 9_850, 9_900, 9_950, 10_050)  # new sizes in the bucket of 10,000 rows, each fitted first once
MCLUST_SCAN = """
suppressMessages(library(mclust))
X <- as.matrix(read.csv("{path}", header = FALSE))
first <- system.time(b <- mclustBIC(X, G = 1:12, modelNames = "EII", verbose = FALSE))[["elapsed"]]
warm <- system.time(b <- mclustBIC(X, G = 1:12, modelNames = "EII", verbose = FALSE))[["elapsed"]]
cat(first, warm, "\n")
"""


def _iris():
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(load_iris().data)


def _maps() -> int:
    with open("/proc/self/maps") as handle:
        return sum(1 for _ in handle)


def _timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _kscan(X) -> float:
    import probkm

    return _timed(lambda: [probkm.SphericalGMM(k, random_state=0).fit(X).bic(X) for k in range(1, 13)])


def _sklearn_kscan(X) -> float:
    from sklearn.mixture import GaussianMixture

    return _timed(lambda: [GaussianMixture(k, covariance_type="spherical", random_state=0).fit(X).bic(X) for k in range(1, 13)])


def _mclust_kscan(X) -> list[float] | None:
    """mclust's first and warm time for the same scan, timed inside R; ``None`` without R's mclust."""
    if shutil.which("Rscript") is None:
        return None
    import numpy as np

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.csv"
        np.savetxt(path, X, delimiter=",")
        run = subprocess.run(["Rscript", "-e", MCLUST_SCAN.format(path=path)], capture_output=True, text=True)
    if run.returncode != 0:
        return None
    return [float(v) for v in run.stdout.split()]


def measure(what: str, cache_dir: str | None = None) -> dict:
    """One measurement, in this (fresh) process."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    if cache_dir:
        from probkm.inference.compilation_cache import enable_compilation_cache

        enable_compilation_cache(cache_dir)
    import probkm
    from probkm.datasets import synthetic_mixture

    warnings.simplefilter("ignore", ConvergenceWarning)
    X = _iris()
    if what == "new_n":
        out = {}
        big = synthetic_mixture(n_samples=10_000, n_components=5, n_features=4, seed=0).X
        for name, make in (("SphericalGMM", lambda k: probkm.SphericalGMM(k, random_state=0)), ("AnnealedKMeans", lambda k: probkm.AnnealedKMeans(k, random_state=0))):
            est = make(3).fit(X)
            est.predict(X)
            out[name] = [_timed(lambda: est.fit(X[:n]).predict(X[:n])) for n in (140, 120, 100)]
            est = make(5).fit(big)
            est.predict(big)
            out[name + " 10k"] = [_timed(lambda: est.fit(big[:n]).predict(big[:n])) for n in NEW_N_10K]
        for n in (150, 140):
            out["sklearn GaussianMixture"] = [_timed(lambda: GaussianMixture(3, covariance_type="spherical", random_state=0).fit(X[:n]).predict(X[:n]))]
        gm = lambda: GaussianMixture(5, covariance_type="spherical", random_state=0).fit(big[:9_800]).predict(big[:9_800])  # noqa: E731
        gm()
        out["sklearn GaussianMixture 10k"] = [_timed(gm)]
        return out
    if what in ("kscan_cold", "kscan_cached"):
        first = _kscan(X)
        out = {"probkm": first, "probkm_warm": _kscan(X)}
        if what == "kscan_cold":
            out["sklearn"], out["sklearn_warm"] = _sklearn_kscan(X), _sklearn_kscan(X)
            out["mclust"] = _mclust_kscan(X)
        return out
    before = _maps()
    rng = np.random.default_rng(0)
    for n in rng.integers(60, 250, 20):
        probkm.SphericalGMM(3, random_state=0).fit(X[rng.integers(0, 150, n)])
    after_n = _maps()
    for k in range(1, 13):
        probkm.SphericalGMM(k, random_state=0).fit(X)
    return {"maps_added": after_n - before, "maps_added_k": _maps() - after_n, "sizes": 20}


def _run(tree: Path, what: str, cache_dir: str | None = None) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu"}
    env.pop("PROBKM_CACHE_DIR", None)
    env.pop("JAX_COMPILATION_CACHE_DIR", None)
    command = [sys.executable, __file__, "--measure", what] + (["--cache-dir", cache_dir] if cache_dir else [])
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _scans(tree: Path, repeats: int) -> dict:
    """The cold and cached K-scans ``repeats`` times, each pair with its own new cache folder
    (empty for the cold scan, filled by it for the cached one): per number, the median, and
    every repeat under ``<name>_all``."""
    runs = {"kscan_cold": [], "kscan_cached": []}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as cache:
            for what in runs:
                runs[what].append(_run(tree, what, cache))
    out = {}
    for what, results in runs.items():
        out[what] = dict(results[len(results) // 2])  # the others' numbers follow, the median first
        for name, value in results[0].items():
            if isinstance(value, float):
                values = sorted(r[name] for r in results)
                out[what][name], out[what][name + "_all"] = values[len(values) // 2], values
    return out


def _runs(tree: Path, measures=MEASURES, repeats: int = 3) -> dict:
    out = {what: _run(tree, what) for what in measures if not what.startswith("kscan")}
    if any(what.startswith("kscan") for what in measures):
        out.update(_scans(tree, repeats))
    return out


def _commit(tree: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "probkm"], capture_output=True, text=True).stdout.strip()
        return head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _new_sizes(times: list[float] | None) -> str:
    """Milliseconds of first fits at new sizes: the one, or the median and range of several."""
    if not times:
        return "not measured"
    ms = sorted(1000 * t for t in times)
    return f"{ms[0]:.0f}" if len(ms) == 1 else f"{ms[len(ms) // 2]:.0f} ({ms[0]:.0f}-{ms[-1]:.0f}, {len(ms)} sizes)"


def _spread(run: dict, name: str, digits: int) -> str:
    """``median (min-max, n runs)`` of a repeated number, or the number alone."""
    values = run.get(name + "_all")
    if not values or len(values) == 1:
        return f"{run[name]:.{digits}f}"
    return f"{run[name]:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f}, {len(values)} runs)"


def _table(results: dict) -> str:
    runs = list(results["runs"])
    r = results["runs"]
    lines = [f"Commit {results['commit']}; {results['cores']} cores; a fresh process per measurement.", ""]
    for name, run in r.items():
        commits = sorted(set(run.get("measured_on", {}).values()))
        if len(commits) > 1:  # a partial rerun: say which rows each commit measured
            lines += [f"Column '{name}': " + "; ".join(
                f"{', '.join(w for w, c in run['measured_on'].items() if c == commit)} measured on {commit}" for commit in commits) + ".", ""]
    lines += ["| measurement | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]

    def row(label, cell):
        lines.append(f"| {label} | " + " | ".join(cell(r[name]) for name in runs) + " |")

    for name in ("SphericalGMM", "AnnealedKMeans"):
        row(f"first fit + predict of N = 140 / 120 / 100 after N = 150, {name} (ms)", lambda m: " / ".join(f"{t * 1000:.0f}" for t in m["new_n"][name]))
        row(f"first fit + predict of a new N = 9,800..10,050 after N = 10,000 (K = 5, D = 4), {name} (ms; median, range over new sizes)", lambda m: _new_sizes(m["new_n"].get(name + " 10k")))
    row("the same, scikit-learn GaussianMixture(spherical), N = 140 / N = 9,800 (ms)", lambda m: f"{m['new_n']['sklearn GaussianMixture'][0] * 1000:.0f} / {m['new_n'].get('sklearn GaussianMixture 10k', [float('nan')])[0] * 1000:.0f}")
    row("K-scan k = 1..12, SphericalGMM: fresh process, empty compilation cache (s; median, range)", lambda m: _spread(m["kscan_cold"], "probkm", 2))
    row("the same, fresh process, compilation cache filled (s; median, range)", lambda m: _spread(m["kscan_cached"], "probkm", 2))
    row("the same, again in a warm process (s)", lambda m: f"{m['kscan_cold']['probkm_warm']:.3f}")
    row("K-scan k = 1..12, scikit-learn GaussianMixture(spherical): first / warm (s)", lambda m: f"{m['kscan_cold']['sklearn']:.3f} / {m['kscan_cold']['sklearn_warm']:.3f}")
    row("K-scan G = 1:12, R mclust mclustBIC(EII): first / warm (s)", lambda m: "not installed" if not m["kscan_cold"].get("mclust") else " / ".join(f"{t:.3f}" for t in m["kscan_cold"]["mclust"]))
    row("memory mappings added by 20 new sizes N = 60..250", lambda m: str(m["growth"]["maps_added"]))
    row("memory mappings added by 12 new K", lambda m: str(m["growth"].get("maps_added_k", "")))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-tree", type=Path, help="another checkout of probkm, measured the same way")
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", help=argparse.SUPPRESS)
    parser.add_argument("--measures", nargs="+", choices=MEASURES, help="remeasure only these, keeping the others in the saved JSON")
    parser.add_argument("--repeats", type=int, default=3, help="cold and cached K-scans per tree, each in new processes with a new cache (median and range reported)")
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.cache_dir)))
        return
    trees = {f"this tree ({_commit(HERE.parent)})": HERE.parent}
    if args.baseline_tree:
        trees[f"baseline ({_commit(args.baseline_tree)})"] = args.baseline_tree.resolve()
    saved = HERE / "results" / "bench_shapes.json"
    if args.measures:  # a partial rerun replaces those measures of this tree; the table says which commit measured each
        results = json.loads(saved.read_text())
        label = next(iter(trees))
        previous = next((k for k in results["runs"] if k.startswith("this tree")), None)
        run = results["runs"].pop(previous, {}) if previous else {}
        measured_on = run.pop("measured_on", None) or {what: previous[len("this tree ("):-1] for what in run} if previous else {}
        measures = set(args.measures)
        if measures & {"kscan_cold", "kscan_cached"}:  # the cached scan reads the cold one's cache
            measures |= {"kscan_cold", "kscan_cached"}
        measures = sorted(measures, key=MEASURES.index)
        run.update(_runs(HERE.parent, measures, args.repeats))
        measured_on.update({what: _commit(HERE.parent) for what in measures})
        results["runs"] = {label: {**run, "measured_on": measured_on}, **results["runs"]}
        results["commit"] = _commit(HERE.parent)
    else:
        results = {"commit": _commit(HERE.parent), "cores": os.cpu_count(), "runs": {}}
        for label, tree in trees.items():
            results["runs"][label] = _runs(tree, MEASURES, args.repeats)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_shapes.json").write_text(json.dumps(results, indent=2))
    table = _table(results)
    (HERE / "results" / "bench_shapes.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
