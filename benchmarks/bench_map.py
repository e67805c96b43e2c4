"""MAP fit and annealed k-means against scikit-learn, warm calls, with phase timings.

Targets (N = 1e5, D = 2..10, K = 5..10):

1. ``SphericalGMM`` (MAP) wall time at most 2x scikit-learn's
   ``GaussianMixture(covariance_type="spherical")``, with a log-likelihood per point at least as
   high. scikit-learn's model has one variance per component (K-1 more parameters than probkm's
   shared sigma): the table gives both models' ``score``, and probkm's parameters scored by
   scikit-learn's own float64 code (``probkm (sk f64)``) so both numbers come from one function.
2. ``AnnealedKMeans`` at most 3x the wall time of scikit-learn ``KMeans(n_init=10)`` with an
   inertia at most as high (both inertias recomputed in float64 from the centroids).

Every estimator runs once untimed (compilation), then ``--repeats`` interleaved rounds
(probkm GMM, sklearn GMM, probkm k-means, sklearn KMeans, again ...); the medians and their ratio
are reported. After that, one more instrumented fit of each probkm estimator times its phases
(the functions the estimator calls, wrapped with ``block_until_ready``), and the sub-steps of
``probkm.algorithms.kmeans.kmeans_candidates`` are timed on their own.

The log-likelihoods are also compared on held-out data: ``N`` fresh points from the same
mixture. There a model with K-1 more variance parameters than the data needs gains nothing.

The process runs with ``OPENBLAS_NUM_THREADS=1`` and ``OMP_NUM_THREADS=1`` unless set otherwise:
on the shared 2-core machine, under load, scikit-learn's ``GaussianMixture`` ran 2-2.5x faster with
one OpenBLAS thread, and ``KMeans`` (OpenMP) 10x faster with one thread; on a quiet machine one
thread is as fast as two. JAX uses neither for these computations.

    python benchmarks/bench_map.py                     # 4 configs at N=1e5, ~4-5 min
    python benchmarks/bench_map.py --configs 2x5 --no-phases
    python benchmarks/bench_map.py --quick             # N=1e4, D=2, K=5
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from collections import defaultdict

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# OpenBLAS's threads stall on a loaded 2-core machine (sklearn's GaussianMixture ran 2-2.5x slower
# with the default); one thread is sklearn's best case here, so the comparison does not flatter probkm
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
# likewise OpenMP (scikit-learn's KMeans): under contention its spinning threads made KMeans(n_init=10)
# 10-17x slower (1.7 s instead of 0.1 s at N=1e5); on a quiet machine one thread is as fast
os.environ.setdefault("OMP_NUM_THREADS", "1")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

import probkm  # noqa: E402
import probkm.estimators.annealed_kmeans  # noqa: E402
import probkm.algorithms.kmeans  # noqa: E402
import probkm.estimators.spherical_gmm  # noqa: E402
from probkm.core.scaling import Scaling, as_jax  # noqa: E402
from probkm.algorithms.annealing import anneal, geometric_schedule, kmeans_plusplus, lloyd  # noqa: E402
from probkm.algorithms.kmeans import subsample_rows  # noqa: E402
from probkm.core.likelihood import sample_mixture  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_fit import make_data  # noqa: E402


def held_out(n_obs, n_clusters, n_dim, seed=0):
    """Fresh draws from the mixture ``make_data(n_obs, n_clusters, n_dim, seed)`` samples."""
    means = np.random.default_rng(seed).normal(scale=4.0, size=(n_clusters, n_dim))
    x, _ = sample_mixture(jax.random.key(seed + 10_000), jnp.full(n_clusters, 1 / n_clusters), jnp.asarray(means), 1.0, (n_obs,))
    return np.asarray(x, dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# quality, in float64, from fitted parameters
# ---------------------------------------------------------------------------------------------
def inertia64(X, centers):
    d = ((X[:, None, :] - np.asarray(centers, float)[None]) ** 2).sum(-1)
    return float(d.min(axis=1).sum())


def probkm_score_f64(X, est):
    """probkm's fitted mixture scored by scikit-learn's float64 code (all variances = sigma^2)."""
    k = est.n_components
    gm = GaussianMixture(k, covariance_type="spherical")
    gm.weights_ = np.asarray(est.weights_, float)
    gm.means_ = np.asarray(est.means_, float)
    gm.covariances_ = np.full(k, est.sigma_**2)
    gm.precisions_cholesky_ = np.full(k, 1.0 / est.sigma_)
    return float(gm.score(X))


# ---------------------------------------------------------------------------------------------
# phase timing: wrap the functions the estimators call
# ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def phase_timer(module, names, acc):
    originals = {name: getattr(module, name) for name in names}

    def wrap(name, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            out = fn(*args, **kwargs)
            jax.block_until_ready(out)
            acc[name] += time.perf_counter() - start
            return out

        return timed

    for name, fn in originals.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield acc
    finally:
        for name, fn in originals.items():
            setattr(module, name, fn)


GMM_PHASES = ("kmeans_candidates", "map_starts", "negative_log_joint", "fit_map")
KM_PHASES = (
    "kmeans_candidates",
    "nearest_centroid",
    "kmeans_objective_pointwise",
    "_log_sigma_laplace",
    "matching_permutations",
    "cluster_critical_temperatures",
)


def timed_phases(fit, module, names, repeats=1):
    rows = defaultdict(list)
    for _ in range(repeats):
        acc = defaultdict(float)
        with phase_timer(module, names, acc):
            start = time.perf_counter()
            fit()
            total = time.perf_counter() - start
        for name in names:
            rows[name].append(acc[name])
        rows["(rest of fit: validation, bookkeeping)"].append(total - sum(acc[n] for n in names))
        rows["total"].append(total)
    return {k: float(np.median(v)) for k, v in rows.items()}


def candidate_substeps(X, k, n_init=3, init_samples=10_000, anneal_samples=3_000, repeats=3):
    """The sub-steps of ``kmeans_candidates`` (as AnnealedKMeans calls it) timed one by one."""
    x = as_jax(Scaling.of(X).forward(X))
    key_anneal, key_seed, key_sub, key_anneal_sub = jax.random.split(jax.random.key(0), 4)
    temps = geometric_schedule(1.0, 1e-3, 60)
    subset = subsample_rows(key_sub, x, init_samples)[0]
    anneal_subset = subsample_rows(key_anneal_sub, x, anneal_samples)[0]
    seeds_fn = jax.jit(lambda key: jax.vmap(lambda kk: kmeans_plusplus(kk, subset, n_clusters=k))(jax.random.split(key, n_init)))
    lloyd_sub = jax.jit(lambda starts: jax.lax.map(lambda c: lloyd(subset, c, max_iter=300), starts))
    lloyd_all = jax.jit(lambda starts: jax.lax.map(lambda c: lloyd(x, c, max_iter=300), starts))
    path = anneal(key_anneal, anneal_subset, temps, n_clusters=k)
    starts = jnp.concatenate([path.centers[None], seeds_fn(key_seed)], axis=0)
    rough = lloyd_sub(starts)
    polished = lloyd_all(rough.centers)
    steps = {
        f"anneal ({anneal_subset.shape[0]} pts, {int(path.n_iter.sum())} fixed-point iters)": lambda: anneal(key_anneal, anneal_subset, temps, n_clusters=k),
        f"kmeans_plusplus x{n_init} ({subset.shape[0]} pts)": lambda: seeds_fn(key_seed),
        f"Lloyd on {subset.shape[0]} pts, {n_init + 1} starts (iters {np.asarray(rough.n_iter).tolist()})": lambda: lloyd_sub(starts),
        f"Lloyd on all {x.shape[0]} pts (iters {np.asarray(polished.n_iter).tolist()})": lambda: lloyd_all(rough.centers),
    }
    out = {}
    for name, fn in steps.items():
        jax.block_until_ready(fn())
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times.append(time.perf_counter() - start)
        out[name] = float(np.median(times))
    return out


# ---------------------------------------------------------------------------------------------
def interleaved(methods, repeats):
    """Run each method once untimed, then ``repeats`` interleaved rounds; median seconds."""
    results, times = {}, {name: [] for name in methods}
    for name, fn in methods.items():
        start = time.perf_counter()
        results[name] = fn()
        times[name + " [first]"] = [time.perf_counter() - start]
    for _ in range(repeats):
        for name, fn in methods.items():
            start = time.perf_counter()
            results[name] = fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}, results


def parse_config(text):
    d, k = text.lower().split("x")
    return int(d), int(k)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-obs", type=int, default=100_000)
    parser.add_argument("--configs", nargs="+", default=["2x5", "2x10", "10x5", "10x10"], help="DxK pairs")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-phases", action="store_true", help="skip the phase breakdown")
    parser.add_argument("--quick", action="store_true", help="N=1e4, D=2, K=5, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_obs, args.configs, args.repeats = 10_000, ["2x5"], 2
    warnings.filterwarnings("ignore")
    n = args.n_obs
    import subprocess

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    print(f"Commit {commit}; N={n}, repeats={args.repeats} (interleaved, median), jax {jax.__version__}, {os.cpu_count()} CPUs", flush=True)

    main_rows, phase_rows, sub_rows = [], [], []
    for config in args.configs:
        dim, k = parse_config(config)
        X, X_test = make_data(n, k, dim), held_out(n, k, dim)
        methods = {
            "probkm GMM": lambda: probkm.SphericalGMM(k, random_state=0).fit(X),
            "sklearn GMM": lambda: GaussianMixture(k, covariance_type="spherical", random_state=0).fit(X),
            "probkm AnnealedKMeans": lambda: probkm.AnnealedKMeans(k, random_state=0).fit(X),
            "sklearn KMeans": lambda: KMeans(k, n_init=10, random_state=0).fit(X),
        }
        med, fitted = interleaved(methods, args.repeats)
        gmm, skg, akm, skm = (fitted[m] for m in ("probkm GMM", "sklearn GMM", "probkm AnnealedKMeans", "sklearn KMeans"))
        row = {
            "D": dim, "K": k,
            "gmm": med["probkm GMM"], "gmm_first": med["probkm GMM [first]"], "skg": med["sklearn GMM"],
            "ll": gmm.score(X), "ll64": probkm_score_f64(X, gmm), "skll": skg.score(X),
            "ho": probkm_score_f64(X_test, gmm), "skho": skg.score(X_test),
            "akm": med["probkm AnnealedKMeans"], "akm_first": med["probkm AnnealedKMeans [first]"], "skm": med["sklearn KMeans"],
            "in": inertia64(X, akm.cluster_centers_), "skin": inertia64(X, skm.cluster_centers_),
        }
        main_rows.append(row)
        print(
            f"D={dim} K={k}: GMM {row['gmm']:.3f}s vs {row['skg']:.3f}s (x{row['gmm'] / row['skg']:.2f}), "
            f"loglik {row['ll64']:.6f} vs {row['skll']:.6f}; k-means {row['akm']:.3f}s vs {row['skm']:.3f}s "
            f"(x{row['akm'] / row['skm']:.2f}), inertia {row['in']:.2f} vs {row['skin']:.2f}",
            flush=True,
        )
        if not args.no_phases:
            ph_g = timed_phases(lambda: probkm.SphericalGMM(k, random_state=0).fit(X), probkm.estimators.spherical_gmm, GMM_PHASES)
            ph_k = timed_phases(lambda: probkm.AnnealedKMeans(k, random_state=0).fit(X), probkm.estimators.annealed_kmeans, KM_PHASES)
            phase_rows.append((dim, k, "", ph_g, ph_k))
            sub_rows.append((dim, k, candidate_substeps(X, k)))

    print()
    print(f"### Target 1: SphericalGMM (MAP) vs GaussianMixture(spherical), N={n}, warm calls")
    print()
    print("| D | K | probkm fit (s) | sklearn fit (s) | time ratio (target <= 2) | probkm loglik/pt | probkm (sk f64) | sklearn loglik/pt | probkm - sklearn | held-out: probkm - sklearn | probkm first call (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in main_rows:
        print(
            f"| {r['D']} | {r['K']} | {r['gmm']:.3f} | {r['skg']:.3f} | {r['gmm'] / r['skg']:.2f} | {r['ll']:.6f} | {r['ll64']:.6f} | "
            f"{r['skll']:.6f} | {r['ll64'] - r['skll']:+.2e} | {r['ho'] - r['skho']:+.2e} | {r['gmm_first']:.2f} |"
        )
    print()
    print(f"### Target 2: AnnealedKMeans vs KMeans(n_init=10), N={n}, warm calls")
    print()
    print("| D | K | probkm fit (s) | sklearn fit (s) | time ratio (target <= 3) | probkm inertia | sklearn inertia | inertia ratio (target <= 1) | probkm first call (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in main_rows:
        print(
            f"| {r['D']} | {r['K']} | {r['akm']:.3f} | {r['skm']:.3f} | {r['akm'] / r['skm']:.2f} | {r['in']:.2f} | {r['skin']:.2f} | "
            f"{r['in'] / r['skin']:.7f} | {r['akm_first']:.2f} |"
        )
    if phase_rows:
        print()
        print("### Phases of one warm fit (s; each wrapped function blocked until ready)")
        for dim, k, note, ph_g, ph_k in phase_rows:
            print()
            print(f"D={dim} K={k}{note}")
            print()
            print("| estimator | phase | seconds | share |")
            print("|---|---|---|---|")
            for est, ph in (("SphericalGMM", ph_g), ("AnnealedKMeans", ph_k)):
                for name, sec in ph.items():
                    print(f"| {est} | {name} | {sec:.3f} | {sec / ph['total']:.0%} |")
        print()
        print("### Sub-steps of kmeans_candidates (as AnnealedKMeans calls it: n_init=3), timed alone, median of 3")
        print()
        print("| D | K | sub-step | seconds |")
        print("|---|---|---|---|")
        for dim, k, sub in sub_rows:
            for name, sec in sub.items():
                print(f"| {dim} | {k} | {name} | {sec:.3f} |")

if __name__ == "__main__":
    main()
