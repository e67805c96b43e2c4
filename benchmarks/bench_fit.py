"""Fit time and quality: probkm against scikit-learn at N = 1e3, 1e4, 1e5.

Same data for every method (a shared-sigma mixture, K=5, D=2 by default). For each method
it reports the first call (compilation included, for probkm) and the median of repeated
calls, then quality: mean log-likelihood per point for the mixtures, inertia for k-means.
scikit-learn's GaussianMixture(spherical) has one sigma per component, so it has K-1 more
parameters than probkm's shared-sigma mixture; on shared-sigma data both should agree.

    python benchmarks/bench_fit.py [--sizes 1000 10000 100000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.mixture import GaussianMixture  # noqa: E402

import probkm  # noqa: E402
from probkm.core.likelihood import sample_mixture  # noqa: E402


def make_data(n_obs, n_clusters, n_dim, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(n_clusters, n_dim))
    x, _ = sample_mixture(jax.random.key(seed), jax.numpy.full(n_clusters, 1 / n_clusters), jax.numpy.asarray(means), 1.0, (n_obs,))
    return np.asarray(x, dtype=np.float64)


def timed(fn, repeats):
    start = time.perf_counter()
    result = fn()
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times)), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    k = args.clusters
    rows = []
    for n in args.sizes:
        X = make_data(n, k, args.dim)
        methods = {
            "probkm SphericalGMM (MAP, bfgs, default)": lambda: probkm.SphericalGMM(k, random_state=0).fit(X),
            "probkm SphericalGMM (MAP, adam 500)": lambda: probkm.SphericalGMM(k, optimizer="adam", num_steps=500, random_state=0).fit(X),
            "sklearn GaussianMixture(spherical)": lambda: GaussianMixture(k, covariance_type="spherical", random_state=0).fit(X),
            "probkm AnnealedKMeans": lambda: probkm.AnnealedKMeans(k, random_state=0).fit(X),
            "sklearn KMeans(n_init=10)": lambda: KMeans(k, n_init=10, random_state=0).fit(X),
        }
        for name, fn in methods.items():
            first, warm, est = timed(fn, args.repeats)
            quality = f"loglik/pt {est.score(X):.4f}" if hasattr(est, "score_samples") else f"inertia {est.inertia_:.2f}"
            rows.append((n, name, first, warm, quality))
            print(f"{n:>8} {name:<38} first {first:8.3f}s  warm {warm:8.3f}s  {quality}", flush=True)
    print()
    print("| N | method | first call (s) | warm call (s) | quality |")
    print("|---|---|---|---|---|")
    for n, name, first, warm, quality in rows:
        print(f"| {n} | {name} | {first:.3f} | {warm:.3f} | {quality} |")


if __name__ == "__main__":
    main()
