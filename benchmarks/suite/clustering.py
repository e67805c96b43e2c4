"""The map, kmeans and hard suites: probkm's MAP and annealed k-means against scikit-learn.

Each case is a data set and K; each seed draws the data (or the split) and is every
estimator's ``random_state``. Rows: probkm with its defaults; scikit-learn with its defaults;
scikit-learn at matched work (as many starts as probkm, comparable stopping rules).
"""

from __future__ import annotations

import warnings

import numpy as np

from . import data as datasets
from .quality import gmm_quality, kmeans_quality
from .timing import first_call, interleaved

# probkm's MAP stops when the largest gradient entry of the per-row objective is below 1e-5,
# or after 10 steps in a row that change it by under 8 float32 epsilons (~1e-6 relative, a few
# 1e-6 absolute per row); EM's tol is the change of the per-row lower bound: 1e-5 is comparable
# (and 100x the default 1e-3's strictness).
GMM_MATCHED_TOL = 1e-5
GMM_MATCHED_MAX_ITER = 1000
MATCHED_REPEATS = 1  # matched-work peers are slow and compile nothing: one timed call per seed


def cases(suite, quick):
    """(case name, loader(seed) -> (X, X_test, K, note), groups) for ``suite``."""
    n = 2_000 if quick else 100_000
    if suite in ("map", "kmeans"):
        configs = [(2, 3)] if quick else [(2, 5), (2, 10), (10, 5), (10, 10)]
        group = "gmm" if suite == "map" else "kmeans"
        return [(f"blobs N={n} D={d} K={k}", (lambda s, d=d, k=k: datasets.blobs(n, k, d, s)), (group,)) for d, k in configs]
    if suite == "hard":
        out = [
            (f"imbalanced N={n}", lambda s: datasets.imbalanced(n, s), ("gmm", "kmeans")),
            (f"unequal variances N={n}", lambda s: datasets.unequal_variances(n, s), ("gmm", "kmeans")),
            (f"overlap N={n}", lambda s: datasets.overlap(n, s), ("gmm", "kmeans")),
        ]
        names = ["iris"] if quick else list(datasets.REAL)
        out += [(name, (lambda s, name=name: datasets.real(name, s)), ("gmm", "kmeans")) for name in names]
        return out
    raise ValueError(f"unknown clustering suite {suite!r}")


def methods_for(group, k, seed):
    """name -> (role, factory) for a group of comparable estimators."""
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    import probkm

    if group == "gmm":
        starts = probkm.SphericalGMM().n_init + 1  # annealing's start and n_init k-means++ starts
        return {
            "probkm SphericalGMM": ("probkm", lambda: probkm.SphericalGMM(k, random_state=seed), None),
            "sklearn GMM default": ("default", lambda: GaussianMixture(k, covariance_type="spherical", random_state=seed), None),
            f"sklearn GMM n_init={starts} tol={GMM_MATCHED_TOL:g}": (
                "matched",
                lambda: GaussianMixture(k, covariance_type="spherical", n_init=starts, tol=GMM_MATCHED_TOL,
                                        max_iter=GMM_MATCHED_MAX_ITER, random_state=seed),
                MATCHED_REPEATS,
            ),
        }
    starts = probkm.AnnealedKMeans().n_init + 1
    return {
        "probkm AnnealedKMeans": ("probkm", lambda: probkm.AnnealedKMeans(k, random_state=seed), None),
        "sklearn KMeans n_init=10": ("target", lambda: KMeans(k, n_init=10, random_state=seed), None),
        "sklearn KMeans default": ("default", lambda: KMeans(k, random_state=seed), None),
        f"sklearn KMeans n_init={starts} tol=0": ("matched", lambda: KMeans(k, n_init=starts, tol=0.0, random_state=seed), MATCHED_REPEATS),
    }


def _quality(group, role, est, X, X_test):
    if group == "gmm":
        q = gmm_quality(est, X, X_test, "probkm" if role == "probkm" else "sklearn")
        q["n_iter"] = int(getattr(est, "n_iter_", -1) or -1)
        return q
    return kmeans_quality(est.cluster_centers_, X, X_test)


def run(suite, seeds, repeats, quick, log):
    """Warm timings and quality for every case, seed and estimator of ``suite``."""
    warnings.filterwarnings("ignore")
    records = []
    for case, load, groups in cases(suite, quick):
        for seed in seeds:
            X, X_test, k, note = load(seed)
            for group in groups:
                methods = methods_for(group, k, seed)
                timed = {name: ((lambda f=factory, X=X: f().fit(X)), r) for name, (_, factory, r) in methods.items()}
                # warm-up only on the first seed: later seeds reuse the compiled programs
                times, fitted = interleaved(timed, repeats, warm_up=(seed == seeds[0]))
                for name, (role, _, _) in methods.items():
                    rec = {"suite": suite, "case": case, "note": note, "group": group, "K": k, "n_obs": len(X), "n_dim": X.shape[1],
                           "seed": seed, "method": name, "role": role, "times": times[name], "warm": float(np.median(times[name])),
                           **_quality(group, role, fitted[name], X, X_test)}
                    records.append(rec)
                    log(f"{case} seed={seed} {name}: {rec['warm']:.3f}s " + " ".join(f"{q}={rec[q]:.6g}" for q in ("loglik", "heldout_loglik", "inertia") if q in rec))
    return records


def first_calls(suite, case_index, quick, log):
    """First call of each estimator for one case, seed 0, in this fresh process."""
    warnings.filterwarnings("ignore")
    case, load, groups = cases(suite, quick)[case_index]
    X, _, k, _ = load(0)
    records = []
    for group in groups:
        for name, (role, factory, _) in methods_for(group, k, 0).items():
            seconds, _ = first_call(lambda f=factory: f().fit(X))
            records.append({"suite": suite, "case": case, "group": group, "method": name, "role": role, "seed": 0, "first": seconds})
            log(f"first call {case} {name}: {seconds:.2f}s")
    return records
