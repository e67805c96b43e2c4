"""Soak: many random data shapes fitted in one process, whose compiled code stays bounded.

Fits ``--shapes`` random shapes (``N`` log-uniform in 20..20,000, ``K`` in 1..16, ``D`` in
1..16; ``SphericalGMM`` MAP, ``AnnealedKMeans``, and every eighth a short NUTS run on at most
500 rows) in one process, and records after each fit the process's memory mappings
(``/proc/self/maps``), its resident memory and how many compiled programs probkm holds
(:func:`probkm.core.programs.program_count`). ``--only 3,7`` fits just those shapes, so a
fresh process can check that a shape fitted late in a long session gives the same numbers.

    python benchmarks/soak.py --shapes 300 --out benchmarks/results/soak.json

The file holds every fit's record and the peaks; ``--max-programs`` lowers the program
budget (:data:`probkm.core.programs.MAX_PROGRAMS`) to reach the trimming sooner.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def shapes(n_shapes: int, seed: int = 0) -> list[dict]:
    """The random shapes, the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_shapes):
        n_obs = int(np.exp(rng.uniform(np.log(20), np.log(20_000))))
        n_dim = int(rng.integers(1, 17))
        n_components = int(rng.integers(1, min(16, n_obs // 2) + 1))
        kind = "nuts" if i % 8 == 5 else ("gmm" if i % 2 == 0 else "kmeans")
        if kind == "nuts":
            n_obs, n_components = min(n_obs, 500), min(n_components, 3)
        out.append({"index": i, "kind": kind, "n_obs": n_obs, "n_components": n_components, "n_dim": n_dim, "seed": seed * 100_003 + i})
    return out


def _maps() -> int:
    with open("/proc/self/maps") as handle:
        return sum(1 for _ in handle)


def _rss_mib() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def fit_one(shape: dict) -> dict:
    """Fit one shape; the numbers a fresh process must reproduce."""
    import probkm

    rng = np.random.default_rng(shape["seed"])
    n_obs, n_dim, k = shape["n_obs"], shape["n_dim"], shape["n_components"]
    centers = rng.normal(0.0, 4.0, (k, n_dim))
    X = centers[rng.integers(0, k, n_obs)] + rng.normal(size=(n_obs, n_dim))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short NUTS runs and tiny clusters warn, by design
        if shape["kind"] == "kmeans":
            km = probkm.AnnealedKMeans(k, random_state=shape["seed"]).fit(X)
            return {"inertia": float(km.inertia_), "sigma": float(km.sigma_), "predict_sum": int(km.predict(X).sum())}
        if shape["kind"] == "gmm":
            gmm = probkm.SphericalGMM(k, random_state=shape["seed"]).fit(X)
            return {"log_joint": float(gmm.log_joint_), "sigma": float(gmm.sigma_), "score": float(gmm.score(X))}
        nuts = probkm.SphericalGMM(k, inference="mcmc", num_warmup=30, num_samples=30, num_chains=1, random_state=shape["seed"]).fit(X)
        return {"sigma": float(nuts.sigma_), "score": float(nuts.score(X))}


def soak(todo: list[dict], max_programs: int | None = None) -> dict:
    """Fit every shape of ``todo`` in this process; records and peaks."""
    from probkm.core import programs

    if max_programs is not None:
        programs.MAX_PROGRAMS = max_programs
    records = []
    start = time.perf_counter()
    for shape in todo:
        t0 = time.perf_counter()
        result = fit_one(shape)
        records.append({**shape, "result": result, "seconds": time.perf_counter() - t0, "maps": _maps(), "rss_mib": _rss_mib(), "programs": programs.program_count()})
    return {
        "records": records,
        "peak_maps": max(r["maps"] for r in records),
        "peak_rss_mib": max(r["rss_mib"] for r in records),
        "seconds": time.perf_counter() - start,
        "max_programs": programs.MAX_PROGRAMS,
    }


def fresh(indices: list[int], n_shapes: int, seed: int) -> dict:
    """Fit the shapes ``indices`` in a fresh process; their results by index."""
    command = [sys.executable, str(Path(__file__).resolve()), "--shapes", str(n_shapes), "--seed", str(seed), "--only", ",".join(map(str, indices))]
    out = subprocess.run(command, capture_output=True, text=True, check=True, env={**os.environ})
    return {r["index"]: r["result"] for r in json.loads(out.stdout)["records"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default=None, help="comma-separated shape indices to fit (the rest are skipped)")
    parser.add_argument("--max-programs", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the JSON here instead of printing it")
    args = parser.parse_args(argv)
    todo = shapes(args.shapes, args.seed)
    if args.only:
        wanted = {int(i) for i in args.only.split(",")}
        todo = [s for s in todo if s["index"] in wanted]
    summary = soak(todo, args.max_programs)
    text = json.dumps(summary, indent=1)
    if args.out:
        Path(args.out).write_text(text)
        print(f"{len(todo)} fits in {summary['seconds']:.0f} s; peak {summary['peak_maps']} mappings, {summary['peak_rss_mib']:.0f} MiB")
    else:
        print(text)


if __name__ == "__main__":
    main()
