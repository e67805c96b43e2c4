"""Deterministic annealing with SQUAREM extrapolation against the plain fixed-point iteration.

Two worker processes run the same checkout, one with ``anneal(..., accelerate=False)`` wired
into the k-means candidates (the plain iteration), the other as shipped (SQUAREM). The parent
hands both the same fits, alternating which goes first, and records for each data set, ``K``
and seed:

- the ``AnnealedKMeans(K, random_state=s)`` inertia, recomputed in float64 from the centres;
- the ``SphericalGMM(K, random_state=s)`` training log-likelihood per row (``score``);
- the annealing's fixed-point map evaluations (summed over the schedule, from the fit itself);
- warm fit times (median of interleaved repeats).

Workers run on one thread, pinned to one core (``taskset -c 0`` when available). Results go
to ``benchmarks/results/anneal_acceleration.json`` and ``.md``, stamped with the git commit.

Usage::

    python benchmarks/anneal_acceleration.py            # the full grid
    python benchmarks/anneal_acceleration.py --quick    # iris and one blobs set, K = 3, one seed
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
VARIANTS = ("plain", "squarem")
REAL_SETS = ("iris", "wine", "breast_cancer", "digits")
SYNTHETIC_SETS = ("blobs_d2_k5", "blobs_d10_k10", "imbalanced", "unequal_variances", "overlap")
N_SYNTHETIC = 100_000


def load(name: str, seed: int = 0) -> np.ndarray:
    """Training rows of a named set (real sets standardised, as in ``benchmarks/suite/data.py``)."""
    sys.path.insert(0, str(HERE))
    from suite import data

    if name in REAL_SETS:
        return data.real(name, seed)[0]
    if name.startswith("blobs"):
        dim, k = (int(part[1:]) for part in name.split("_")[1:])
        return data.blobs(N_SYNTHETIC, k, dim, seed)[0]
    return getattr(data, name)(N_SYNTHETIC, seed)[0]


# ---------------------------------------------------------------------------- worker side


def worker(variant: str) -> None:
    """Answer fit requests (JSON lines on stdin) with JSON lines on stdout."""
    import functools

    import jax

    import probkm.algorithms.kmeans as kmeans_module
    from probkm import AnnealedKMeans, SphericalGMM
    from probkm.algorithms.annealing import anneal

    evaluations: list[int] = []

    def recorded_anneal(*args, **kwargs):
        path = anneal(*args, accelerate=variant == "squarem", **kwargs)
        jax.debug.callback(lambda n: evaluations.append(int(n)), path.n_iter.sum())
        return path

    kmeans_module.anneal = functools.wraps(anneal)(recorded_anneal)
    cache: dict[str, np.ndarray] = {}
    for line in sys.stdin:
        task = json.loads(line)
        x = cache.setdefault(task["data"], load(task["data"]))
        k, seed, kind = task["k"], task["seed"], task["kind"]
        evaluations.clear()
        start = time.perf_counter()
        if kind == "kmeans":
            model = AnnealedKMeans(k, random_state=seed).fit(x)
        else:
            model = SphericalGMM(k, random_state=seed).fit(x)
        seconds = time.perf_counter() - start
        jax.effects_barrier()
        answer = {"seconds": seconds, "anneal_evaluations": evaluations[-1] if evaluations else None}
        if task.get("measure"):
            if kind == "kmeans":
                centers = np.asarray(model.cluster_centers_, dtype=np.float64)
                dist = ((x[:, None, :] - centers[None]) ** 2).sum(-1)
                answer["inertia"] = float(dist.min(axis=1).sum())
            else:
                answer["loglik_per_row"] = float(model.score(x))
        print(json.dumps(answer), flush=True)


# ---------------------------------------------------------------------------- parent side


class Worker:
    def __init__(self, variant: str):
        env = dict(os.environ)
        env.update(
            XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
            OMP_NUM_THREADS="1",
            PYTHONPATH=str(ROOT),
        )
        env.pop("JAX_COMPILATION_CACHE_DIR", None)  # no program may pass between the variants
        command = [sys.executable, str(Path(__file__).resolve()), "--worker", variant]
        if shutil.which("taskset"):
            command = ["taskset", "-c", "0", *command]
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT)

    def run(self, task: dict) -> dict:
        self.process.stdin.write(json.dumps(task) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"worker died on {task}")
        return json.loads(line)

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()


def git_commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, check=False)
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=VARIANTS)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeats", type=int, default=3, help="warm timed fits per variant and estimator")
    parser.add_argument("--gmm-repeats", type=int, default=1)
    parser.add_argument("--out", default=str(RESULTS / "anneal_acceleration"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker)
        return

    sets = ("iris", "blobs_d2_k5") if args.quick else REAL_SETS + SYNTHETIC_SETS
    ks, seeds = ((3,), (0,)) if args.quick else ((3, 6, 10), (0, 1))
    workers = {v: Worker(v) for v in VARIANTS}
    rows = []
    try:
        for name in sets:
            for k in ks:
                for seed in seeds:
                    row = {"data": name, "k": k, "seed": seed}
                    for kind, repeats in (("kmeans", args.repeats), ("gmm", args.gmm_repeats)):
                        times = {v: [] for v in VARIANTS}
                        for rep in range(1 + repeats):  # the first fit compiles and measures
                            order = VARIANTS if (rep + seed) % 2 == 0 else VARIANTS[::-1]
                            for v in order:
                                answer = workers[v].run({"data": name, "k": k, "seed": seed, "kind": kind, "measure": rep == 0})
                                if rep == 0:
                                    row.update({f"{kind}_{key}_{v}": value for key, value in answer.items() if key != "seconds"})
                                else:
                                    times[v].append(answer["seconds"])
                        for v in VARIANTS:
                            row[f"{kind}_seconds_{v}"] = statistics.median(times[v]) if times[v] else None
                            row[f"{kind}_seconds_all_{v}"] = times[v]
                    rows.append(row)
                    print(summary_line(row), flush=True)
    finally:
        for w in workers.values():
            w.close()
    report = {
        "commit": git_commit(),
        "command": "python benchmarks/anneal_acceleration.py" + (" --quick" if args.quick else ""),
        "threads": 1,
        "repeats": args.repeats,
        "gmm_repeats": args.gmm_repeats,
        "rows": rows,
        "aggregate": aggregate(rows),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def _rel(row, kind, key):
    return row[f"{kind}_{key}_squarem"] / row[f"{kind}_{key}_plain"] - 1.0


def summary_line(row) -> str:
    return (
        f"{row['data']:>18} K={row['k']:<2} s={row['seed']}  "
        f"inertia rel {_rel(row, 'kmeans', 'inertia'):+.2e}  "
        f"loglik diff {row['gmm_loglik_per_row_squarem'] - row['gmm_loglik_per_row_plain']:+.2e}  "
        f"evals {row['kmeans_anneal_evaluations_plain']} -> {row['kmeans_anneal_evaluations_squarem']}  "
        f"kmeans {row['kmeans_seconds_plain'] * 1e3:.1f} -> {row['kmeans_seconds_squarem'] * 1e3:.1f} ms  "
        f"gmm {row['gmm_seconds_plain'] * 1e3:.1f} -> {row['gmm_seconds_squarem'] * 1e3:.1f} ms"
    )


def aggregate(rows) -> dict:
    inertia = [_rel(r, "kmeans", "inertia") for r in rows]
    loglik = [r["gmm_loglik_per_row_squarem"] - r["gmm_loglik_per_row_plain"] for r in rows]
    evals = [r["kmeans_anneal_evaluations_squarem"] / r["kmeans_anneal_evaluations_plain"] for r in rows]
    kmeans_time = [r["kmeans_seconds_squarem"] / r["kmeans_seconds_plain"] for r in rows]
    gmm_time = [r["gmm_seconds_squarem"] / r["gmm_seconds_plain"] for r in rows]
    return {
        "inertia_rel_mean": float(np.mean(inertia)),
        "inertia_rel_worst": float(np.max(inertia)),
        "inertia_rel_best": float(np.min(inertia)),
        "inertia_worse_than_1e-4": int(sum(i > 1e-4 for i in inertia)),
        "inertia_better_than_1e-4": int(sum(i < -1e-4 for i in inertia)),
        "loglik_diff_mean": float(np.mean(loglik)),
        "loglik_diff_worst": float(np.min(loglik)),
        "loglik_diff_best": float(np.max(loglik)),
        "loglik_worse_than_1e-4": int(sum(d < -1e-4 for d in loglik)),
        "loglik_better_than_1e-4": int(sum(d > 1e-4 for d in loglik)),
        "evaluations_ratio_median": float(np.median(evals)),
        "kmeans_time_ratio_median": float(np.median(kmeans_time)),
        "gmm_time_ratio_median": float(np.median(gmm_time)),
        "n_fits": len(rows),
    }


def markdown(report) -> str:
    lines = [
        "# Deterministic annealing: SQUAREM against the plain fixed-point iteration",
        "",
        (
            f"Commit `{report['commit']}`; `{report['command']}`; one thread, one core; times are medians of "
            f"{report['repeats']} (k-means) and {report['gmm_repeats']} (GMM) warm fits per variant, the variants interleaved."
        ),
        (
            "Inertia: `AnnealedKMeans` in float64 (relative change, negative is better); log-lik: `SphericalGMM.score` "
            "per training row (difference, positive is better); evals: fixed-point map evaluations of the annealing."
        ),
        "",
        "| data | K | seed | inertia rel | log-lik diff | evals plain | evals SQUAREM | k-means ms plain | SQUAREM | GMM ms plain | SQUAREM |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['data']} | {r['k']} | {r['seed']} | {_rel(r, 'kmeans', 'inertia'):+.1e} "
            f"| {r['gmm_loglik_per_row_squarem'] - r['gmm_loglik_per_row_plain']:+.1e} "
            f"| {r['kmeans_anneal_evaluations_plain']} | {r['kmeans_anneal_evaluations_squarem']} "
            f"| {r['kmeans_seconds_plain'] * 1e3:.1f} | {r['kmeans_seconds_squarem'] * 1e3:.1f} "
            f"| {r['gmm_seconds_plain'] * 1e3:.1f} | {r['gmm_seconds_squarem'] * 1e3:.1f} |"
        )
    lines += ["", "Aggregate:", "", *(f"- {key}: {value:.4g}" if isinstance(value, float) else f"- {key}: {value}" for key, value in report["aggregate"].items()), ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
