"""NUTS (and MAP) at any offset and scale: the posterior of sigma on ``offset + scale * X``.

600 points from 3 spherical clusters with sigma = 1; ``SphericalGMM(3, inference="mcmc",
num_warmup=300, num_samples=300, num_chains=1, random_state=0)``. A correct fit reports
``sigma_ / scale`` near 1 and the means shifted by the offset, whatever the offset and scale.

    python benchmarks/offsets.py                           # this tree
    python benchmarks/offsets.py --baseline-tree OLD_TREE  # and the same run on another checkout

Raw results go to ``benchmarks/results/offsets.json`` (stamped with the commit); the table is
printed from them and written to ``benchmarks/results/offsets.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

CASES = [(0.0, 1.0), (1e4, 1.0), (1e6, 1.0), (1e8, 1.0), (0.0, 1e-6), (0.0, 1e6), (1e6, 1e3)]
HERE = Path(__file__).resolve().parent


def measure() -> list[dict]:
    """Fit every case in this process; return one row per case."""
    import numpy as np

    import probkm

    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [3.0, 5.0]])
    X = centres[rng.integers(0, 3, 600)] + rng.normal(size=(600, 2))
    rows = []
    for offset, scale in CASES:
        data = offset + scale * X
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nuts = probkm.SphericalGMM(3, inference="mcmc", num_warmup=300, num_samples=300, num_chains=1, random_state=0).fit(data)
            gmm = probkm.SphericalGMM(3, random_state=0).fit(data)
        means = np.sort((nuts.means_[:, 0] - offset) / scale)
        rows.append({
            "offset": offset, "scale": scale,
            "nuts_sigma": float(nuts.sigma_ / scale), "map_sigma": float(gmm.sigma_ / scale),
            "nuts_means_x": [float(m) for m in means],
            "warnings": sorted({f"{w.category.__name__}: {str(w.message)[:70]}" for w in caught if "ArviZ" not in str(w.message)}),
        })
    return rows


def _commit(tree: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "probkm"], capture_output=True, text=True).stdout
        return out.stdout.strip() + ("+uncommitted" if dirty.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _table(results: dict) -> str:
    lines = [f"Commit {results['commit']}; true sigma = 1, cluster centres' x at 0, 3, 6.", ""]
    runs = [k for k in ("this tree", "baseline") if k in results]
    header = "| offset | scale | " + " | ".join(f"NUTS sigma_/scale ({r}) | MAP sigma_/scale ({r}) | warnings ({r})" for r in runs) + " |"
    lines += [header, "|" + "---|" * (2 + 3 * len(runs))]
    for i, (offset, scale) in enumerate(CASES):
        cells = []
        for run in runs:
            row = results[run]["rows"][i]
            cells += [f"{row['nuts_sigma']:.3f}", f"{row['map_sigma']:.3f}", "; ".join(row["warnings"]) or "none"]
        lines.append(f"| {offset:g} | {scale:g} | " + " | ".join(cells) + " |")
    if "baseline" in results:
        lines += ["", f"Baseline: {results['baseline']['commit']}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline-tree", type=Path, help="another checkout of probkm to run the same cases on")
    parser.add_argument("--emit-json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.emit_json:
        print(json.dumps(measure()))
        return
    results = {"commit": _commit(HERE.parent), "this tree": {"commit": _commit(HERE.parent), "rows": measure()}}
    if args.baseline_tree:
        env = {**os.environ, "PYTHONPATH": str(args.baseline_tree.resolve())}
        out = subprocess.run([sys.executable, __file__, "--emit-json"], env=env, capture_output=True, text=True, check=True)
        results["baseline"] = {"commit": _commit(args.baseline_tree), "rows": json.loads(out.stdout.strip().splitlines()[-1])}
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "offsets.json").write_text(json.dumps(results, indent=2))
    table = _table(results)
    (HERE / "results" / "offsets.md").write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
