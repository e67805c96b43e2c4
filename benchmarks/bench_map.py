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
``probkm.kmeans.kmeans_candidates`` are timed on their own.

``--proposals`` also times the fit with the speed-ups proposed in ``benchmarks/RESULTS.md``
patched in (Lloyd in (K, N) layout with one distance pass per iteration, candidates polished by
``lax.map`` instead of ``vmap``, annealing's fixed point in (K, N) layout, and the likelihood
with a hand-written VJP from ``bench_likelihood.py``), interleaved with the unpatched fit, and
checks the results agree.

The process runs with ``OPENBLAS_NUM_THREADS=1`` and ``OMP_NUM_THREADS=1`` unless set otherwise:
on the shared 2-core machine, under load, scikit-learn's ``GaussianMixture`` ran 2-2.5x faster with
one OpenBLAS thread, and ``KMeans`` (OpenMP) 10x faster with one thread; on a quiet machine one
thread is as fast as two. JAX uses neither for these computations.

    python benchmarks/bench_map.py                     # 4 configs at N=1e5, ~4-5 min
    python benchmarks/bench_map.py --configs 2x5 --proposals
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
from functools import partial

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
import probkm.cluster  # noqa: E402
import probkm.kmeans  # noqa: E402
import probkm.mixture  # noqa: E402
from probkm._base import Scaling, as_jax  # noqa: E402
from probkm.annealing import (  # noqa: E402
    AnnealPath,
    LloydResult,
    anneal,
    geometric_schedule,
    kmeans_plusplus,
    largest_covariance_eigenvalue,
    lloyd,
)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_fit import make_data  # noqa: E402
from bench_likelihood import likelihood_vjp_patched  # noqa: E402


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


GMM_PHASES = ("kmeans_candidates", "_initial_values", "negative_log_joint", "fit_map")
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


def candidate_substeps(X, k, n_init=3, anneal_samples=10_000, repeats=3):
    """The sub-steps of ``kmeans_candidates`` (as SphericalGMM calls it) timed one by one."""
    x = as_jax(Scaling.of(X).forward(X))
    key_anneal, key_seed, key_sub = jax.random.split(jax.random.key(0), 3)
    temps = geometric_schedule(1.0, 1e-3, 60)
    subset = x
    if x.shape[0] > anneal_samples:
        subset = x[jax.random.choice(key_sub, x.shape[0], (anneal_samples,), replace=False)]
    seeds_fn = jax.jit(lambda key: jax.vmap(lambda kk: kmeans_plusplus(kk, x, n_clusters=k))(jax.random.split(key, n_init)))
    lloyd_vmap = jax.jit(lambda starts: jax.vmap(lambda c: lloyd(x, c, max_iter=300))(starts))
    path = anneal(key_anneal, subset, temps, n_clusters=k)
    starts = jnp.concatenate([path.centers[None], seeds_fn(key_seed)], axis=0)
    polished = lloyd_vmap(starts)
    steps = {
        f"anneal ({subset.shape[0]} pts, {int(path.n_iter.sum())} fixed-point iters)": lambda: anneal(key_anneal, subset, temps, n_clusters=k),
        f"kmeans_plusplus x{n_init}": lambda: seeds_fn(key_seed),
        f"lloyd, vmap over {n_init + 1} starts (iters {np.asarray(polished.n_iter).tolist()})": lambda: lloyd_vmap(starts),
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
# proposed speed-ups (patched in with --proposals; see RESULTS.md)
# ---------------------------------------------------------------------------------------------
@partial(jax.jit, static_argnames=("max_iter",))
def lloyd_kn(x, centers, *, max_iter=300, tol=0.0):
    """Lloyd with (K, N) distances and one distance pass per iteration.

    Each iteration computes the distances of the current centres once and takes from them both
    the labels (for the update) and the inertia of the current centres (for the stopping rule),
    where probkm's ``lloyd`` computes them twice (``nearest_centroid`` then
    ``kmeans_objective_pointwise`` of the new centres). Stops at the first iteration whose
    inertia did not fall, like probkm's, and returns the centres after that update.
    """
    xt = x.T  # (D, N), once, outside the loop
    x_sq = jnp.sum(xt * xt, axis=0)
    k = centers.shape[0]

    def dists(c):  # (K, N)
        return jnp.maximum(x_sq[None] - 2.0 * (c @ xt) + jnp.sum(c * c, -1)[:, None], 0.0)

    def body(carry):
        current, inertia, _, it = carry
        d = dists(current)
        labels = jnp.argmin(d, axis=0)
        onehot = (labels[None, :] == jnp.arange(k)[:, None]).astype(x.dtype)  # (K, N)
        mass = jnp.sum(onehot, axis=1)
        new = jnp.where(mass[:, None] > 0, (onehot @ x) / jnp.maximum(mass, 1e-30)[:, None], current)
        return new, jnp.sum(jnp.min(d, axis=0)), inertia, it + 1

    def keep_going(carry):
        _, inertia, previous, it = carry
        return (inertia < previous * (1.0 - tol)) & (it <= max_iter)

    big = jnp.asarray(jnp.finfo(x.dtype).max, x.dtype)
    init = (centers, big, jnp.asarray(jnp.inf, x.dtype), 0)
    centers, _, _, n_iter = jax.lax.while_loop(keep_going, body, init)
    d = dists(centers)
    return LloydResult(centers, jnp.argmin(d, axis=0).astype(jnp.int32), jnp.sum(jnp.min(d, axis=0)), n_iter - 1)


@partial(jax.jit, static_argnames=("n_clusters", "max_iter"))
def anneal_kn(rng_key, x, temperatures, *, n_clusters, max_iter=100, tol=1e-5, perturbation=1e-3):
    """probkm's ``anneal`` with the fixed-point body in (K, N) layout (same formula, same schedule)."""
    center = jnp.mean(x, axis=0)
    xc = x - center
    sigma_ref = jnp.sqrt(2.0 * largest_covariance_eigenvalue(xc))
    xt = xc.T
    x_sq = jnp.sum(xt * xt, axis=0)
    log_w = jnp.full((n_clusters, 1), -jnp.log(n_clusters), x.dtype)
    keys = jax.random.split(rng_key, temperatures.shape[0])

    def solve(means, inputs):
        key, temperature = inputs
        means = means + perturbation * sigma_ref * jax.random.normal(key, means.shape, means.dtype)

        def body(carry):
            current, _, it = carry
            d = jnp.maximum(x_sq[None] - 2.0 * (current @ xt) + jnp.sum(current * current, -1)[:, None], 0.0)
            a = (log_w - d / (2.0 * sigma_ref**2)) / temperature
            e = jnp.exp(a - jnp.max(a, axis=0, keepdims=True))
            resp = e / jnp.sum(e, axis=0, keepdims=True)  # (K, N)
            mass = jnp.sum(resp, axis=1)
            new = jnp.where(mass[:, None] > 0, (resp @ xc) / jnp.maximum(mass, 1e-30)[:, None], current)
            return new, jnp.max(jnp.abs(new - current)), it + 1

        def keep_going(carry):
            _, shift, it = carry
            return (shift > tol * sigma_ref) & (it < max_iter)

        means, _, n_iter = jax.lax.while_loop(keep_going, body, (means, jnp.inf, 0))
        return means, (means, n_iter)

    start = jnp.zeros((n_clusters, x.shape[1]), x.dtype)
    final, (path, n_iter) = jax.lax.scan(solve, start, (keys, temperatures))
    return AnnealPath(final + center, temperatures, path + center, n_iter, sigma_ref)


@partial(jax.jit, static_argnames=("n_clusters", "n_init", "anneal_max_iter", "max_iter", "anneal_samples"))
def kmeans_candidates_proposed(rng_key, x, temperatures, *, n_clusters, n_init, anneal_max_iter=100, max_iter=300, anneal_samples=10_000):
    """``probkm.kmeans.kmeans_candidates`` with the three proposals: anneal_kn, lloyd_kn, lax.map."""
    key_anneal, key_seed, key_sub = jax.random.split(rng_key, 3)
    subset = x
    if x.shape[0] > anneal_samples:
        subset = x[jax.random.choice(key_sub, x.shape[0], (anneal_samples,), replace=False)]
    path = anneal_kn(key_anneal, subset, temperatures, n_clusters=n_clusters, max_iter=anneal_max_iter)
    starts = path.centers[None]
    if n_init > 0:
        seeds = jax.vmap(lambda k: kmeans_plusplus(k, x, n_clusters=n_clusters))(jax.random.split(key_seed, n_init))
        starts = jnp.concatenate([starts, seeds], axis=0)
    polished = jax.lax.map(lambda c: lloyd_kn(x, c, max_iter=max_iter), starts)
    return probkm.kmeans.KMeansCandidates(polished.centers, polished.labels, polished.inertia, polished.n_iter, path)


@contextlib.contextmanager
def proposals_patched():
    """kmeans_candidates_proposed in both estimators, and the likelihood with a hand-written VJP."""
    saved = (probkm.mixture.kmeans_candidates, probkm.cluster.kmeans_candidates)
    probkm.mixture.kmeans_candidates = kmeans_candidates_proposed
    probkm.cluster.kmeans_candidates = kmeans_candidates_proposed
    try:
        with likelihood_vjp_patched():
            yield
    finally:
        probkm.mixture.kmeans_candidates, probkm.cluster.kmeans_candidates = saved


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
    parser.add_argument("--proposals", action="store_true", help="also time the proposed speed-ups (patched in)")
    parser.add_argument("--quick", action="store_true", help="N=1e4, D=2, K=5, 2 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_obs, args.configs, args.repeats = 10_000, ["2x5"], 2
    warnings.filterwarnings("ignore")
    n = args.n_obs
    print(f"N={n}, repeats={args.repeats} (interleaved, median), jax {jax.__version__}, {os.cpu_count()} CPUs", flush=True)

    main_rows, phase_rows, sub_rows, prop_rows = [], [], [], []
    for config in args.configs:
        dim, k = parse_config(config)
        X = make_data(n, k, dim)
        methods = {
            "probkm GMM": lambda: probkm.SphericalGMM(k, random_state=0).fit(X),
            "sklearn GMM": lambda: GaussianMixture(k, covariance_type="spherical", random_state=0).fit(X),
            "probkm AnnealedKMeans": lambda: probkm.AnnealedKMeans(k, random_state=0).fit(X),
            "sklearn KMeans": lambda: KMeans(k, n_init=10, random_state=0).fit(X),
        }
        if args.proposals:
            def patched(fn):
                def run():
                    with proposals_patched():
                        return fn()
                return run
            methods["probkm GMM (proposed)"] = patched(methods["probkm GMM"])
            methods["probkm AnnealedKMeans (proposed)"] = patched(methods["probkm AnnealedKMeans"])
        med, fitted = interleaved(methods, args.repeats)
        gmm, skg, akm, skm = (fitted[m] for m in ("probkm GMM", "sklearn GMM", "probkm AnnealedKMeans", "sklearn KMeans"))
        row = {
            "D": dim, "K": k,
            "gmm": med["probkm GMM"], "gmm_first": med["probkm GMM [first]"], "skg": med["sklearn GMM"],
            "ll": gmm.score(X), "ll64": probkm_score_f64(X, gmm), "skll": skg.score(X),
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
        if args.proposals:
            pg, pa = fitted["probkm GMM (proposed)"], fitted["probkm AnnealedKMeans (proposed)"]
            prop_rows.append({
                "D": dim, "K": k,
                "gmm": med["probkm GMM"], "gmm_p": med["probkm GMM (proposed)"], "ll": probkm_score_f64(X, gmm), "ll_p": probkm_score_f64(X, pg),
                "akm": med["probkm AnnealedKMeans"], "akm_p": med["probkm AnnealedKMeans (proposed)"],
                "in": inertia64(X, akm.cluster_centers_), "in_p": inertia64(X, pa.cluster_centers_), "skg": med["sklearn GMM"], "skm": med["sklearn KMeans"],
            })
        if not args.no_phases:
            ph_g = timed_phases(lambda: probkm.SphericalGMM(k, random_state=0).fit(X), probkm.mixture, GMM_PHASES)
            ph_k = timed_phases(lambda: probkm.AnnealedKMeans(k, random_state=0).fit(X), probkm.cluster, KM_PHASES)
            phase_rows.append((dim, k, "", ph_g, ph_k))
            if args.proposals:
                with proposals_patched():
                    ph_g = timed_phases(lambda: probkm.SphericalGMM(k, random_state=0).fit(X), probkm.mixture, GMM_PHASES)
                    ph_k = timed_phases(lambda: probkm.AnnealedKMeans(k, random_state=0).fit(X), probkm.cluster, KM_PHASES)
                phase_rows.append((dim, k, " (proposals patched in)", ph_g, ph_k))
            sub_rows.append((dim, k, candidate_substeps(X, k)))

    print()
    print(f"### Target 1: SphericalGMM (MAP) vs GaussianMixture(spherical), N={n}, warm calls")
    print()
    print("| D | K | probkm fit (s) | sklearn fit (s) | time ratio (target <= 2) | probkm loglik/pt | probkm (sk f64) | sklearn loglik/pt | probkm - sklearn | probkm first call (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in main_rows:
        print(
            f"| {r['D']} | {r['K']} | {r['gmm']:.3f} | {r['skg']:.3f} | {r['gmm'] / r['skg']:.2f} | {r['ll']:.6f} | {r['ll64']:.6f} | "
            f"{r['skll']:.6f} | {r['ll64'] - r['skll']:+.2e} | {r['gmm_first']:.2f} |"
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
        print("### Sub-steps of kmeans_candidates (as SphericalGMM calls it: n_init=3), timed alone, median of 3")
        print()
        print("| D | K | sub-step | seconds |")
        print("|---|---|---|---|")
        for dim, k, sub in sub_rows:
            for name, sec in sub.items():
                print(f"| {dim} | {k} | {name} | {sec:.3f} |")
    if prop_rows:
        print()
        print("### Proposed speed-ups patched in (kmeans_candidates: anneal and Lloyd in (K, N) layout, one-pass Lloyd, lax.map; likelihood VJP)")
        print()
        print("| D | K | GMM now (s) | GMM proposed (s) | gain | proposed / sklearn GMM | loglik now | loglik proposed | k-means now (s) | k-means proposed (s) | gain | proposed / sklearn KMeans | inertia now | inertia proposed |")
        print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in prop_rows:
            print(
                f"| {r['D']} | {r['K']} | {r['gmm']:.3f} | {r['gmm_p']:.3f} | {r['gmm'] / r['gmm_p']:.2f}x | {r['gmm_p'] / r['skg']:.2f} | "
                f"{r['ll']:.6f} | {r['ll_p']:.6f} | {r['akm']:.3f} | {r['akm_p']:.3f} | {r['akm'] / r['akm_p']:.2f}x | {r['akm_p'] / r['skm']:.2f} | "
                f"{r['in']:.2f} | {r['in_p']:.2f} |"
            )


if __name__ == "__main__":
    main()
