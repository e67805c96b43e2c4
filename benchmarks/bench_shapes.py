"""Speed on new data shapes: a new N in a compiled bucket, a K-scan, and the process's growth.

Each measurement runs in a fresh process (JAX's persistent compilation cache off), on
standardised iris (150 x 4), with scikit-learn's time for the same work beside it:

* ``new N``: fit ``SphericalGMM(3)`` (and ``AnnealedKMeans(3)``) on iris, then time the first
  fit and predict of ``iris[:140]``, ``iris[:120]`` and ``iris[:100]``;
* ``K-scan``: ``SphericalGMM(k).fit`` for ``k = 1..12``, total time;
* ``growth``: memory mappings (``/proc/self/maps``) added by fits of 20 new sizes ``N = 60..250``.

    python benchmarks/bench_shapes.py [--baseline-tree OLD_CHECKOUT]

Raw results go to ``benchmarks/results/bench_shapes.json`` (stamped with the commit), the table
to ``benchmarks/results/bench_shapes.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
MEASURES = ("new_n", "kscan", "growth")


def _iris():
    from sklearn.datasets import load_iris
    from sklearn.preprocessing import StandardScaler

    return StandardScaler().fit_transform(load_iris().data)


def _maps() -> int:
    with open("/proc/self/maps") as handle:
        return sum(1 for _ in handle)


def measure(what: str) -> dict:
    """One measurement, in this (fresh) process."""
    import warnings

    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture

    import probkm

    warnings.simplefilter("ignore", ConvergenceWarning)
    X = _iris()
    if what == "new_n":
        out = {}
        for name, make in (("SphericalGMM", lambda: probkm.SphericalGMM(3, random_state=0)), ("AnnealedKMeans", lambda: probkm.AnnealedKMeans(3, random_state=0))):
            est = make().fit(X)
            est.predict(X)
            times = []
            for n in (140, 120, 100):
                start = time.perf_counter()
                est.fit(X[:n]).predict(X[:n])
                times.append(time.perf_counter() - start)
            out[name] = times
        start = time.perf_counter()
        GaussianMixture(3, covariance_type="spherical", random_state=0).fit(X[:140]).predict(X[:140])
        out["sklearn GaussianMixture"] = [time.perf_counter() - start]
        return out
    if what == "kscan":
        start = time.perf_counter()
        bic = [probkm.SphericalGMM(k, random_state=0).fit(X).bic(X) for k in range(1, 13)]
        probkm_time = time.perf_counter() - start
        start = time.perf_counter()
        for k in range(1, 13):
            GaussianMixture(k, covariance_type="spherical", random_state=0).fit(X).bic(X)
        return {"probkm": probkm_time, "sklearn": time.perf_counter() - start, "probkm_bic": bic}
    before = _maps()
    rng = np.random.default_rng(0)
    for n in rng.integers(60, 250, 20):
        probkm.SphericalGMM(3, random_state=0).fit(X[rng.integers(0, 150, n)])
    return {"maps_added": _maps() - before, "sizes": 20}


def _run(tree: Path, what: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "JAX_PLATFORMS": "cpu"}
    env.pop("PROBKM_CACHE_DIR", None)
    out = subprocess.run([sys.executable, __file__, "--measure", what], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _commit(tree: Path) -> str:
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "probkm"], capture_output=True, text=True).stdout.strip()
        return head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _table(results: dict) -> str:
    runs = list(results["runs"])
    lines = [f"Commit {results['commit']}; {results['cores']} cores; fresh process per row, persistent cache off.", ""]
    lines += ["| measurement | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for name in ("SphericalGMM", "AnnealedKMeans"):
        cells = [" / ".join(f"{t * 1000:.0f}" for t in results["runs"][r]["new_n"][name]) for r in runs]
        lines.append(f"| first fit + predict of N = 140 / 120 / 100 after N = 150, {name} (ms) | " + " | ".join(cells) + " |")
    lines.append("| the same, scikit-learn GaussianMixture(spherical), N = 140 (ms) | " + " | ".join(f"{results['runs'][r]['new_n']['sklearn GaussianMixture'][0] * 1000:.0f}" for r in runs) + " |")
    lines.append("| K-scan k = 1..12, SphericalGMM, first calls (s) | " + " | ".join(f"{results['runs'][r]['kscan']['probkm']:.1f}" for r in runs) + " |")
    lines.append("| K-scan k = 1..12, scikit-learn GaussianMixture(spherical) (s) | " + " | ".join(f"{results['runs'][r]['kscan']['sklearn']:.2f}" for r in runs) + " |")
    lines.append("| memory mappings added by 20 new sizes N = 60..250 | " + " | ".join(str(results["runs"][r]["growth"]["maps_added"]) for r in runs) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-tree", type=Path, help="another checkout of probkm, measured the same way")
    parser.add_argument("--measure", choices=MEASURES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return
    trees = {f"this tree ({_commit(HERE.parent)})": HERE.parent}
    if args.baseline_tree:
        trees[f"baseline ({_commit(args.baseline_tree)})"] = args.baseline_tree.resolve()
    results = {"commit": _commit(HERE.parent), "cores": os.cpu_count(), "runs": {}}
    for label, tree in trees.items():
        results["runs"][label] = {what: _run(tree, what) for what in MEASURES}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "bench_shapes.json").write_text(json.dumps(results, indent=2))
    table = _table(results)
    (HERE / "results" / "bench_shapes.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
