"""Quality figures recomputed in float64 NumPy from fitted parameters, on every row.

Each mixture is scored as its own model: probkm's with one shared variance, scikit-learn's
spherical model with one variance per component. Nothing here calls probkm.
"""

from __future__ import annotations

import numpy as np

CHUNK = 16_384


def _sq_dist(X, centers):
    X = np.asarray(X, np.float64)
    centers = np.asarray(centers, np.float64)
    for start in range(0, len(X), CHUNK):
        block = X[start:start + CHUNK]
        yield ((block[:, None, :] - centers[None]) ** 2).sum(-1)


def mixture_loglik(X, weights, means, variances):
    """Mean log-likelihood per row of a spherical Gaussian mixture (``variances``: scalar or (K,))."""
    weights = np.asarray(weights, np.float64)
    means = np.asarray(means, np.float64)
    d = means.shape[1]
    var = np.broadcast_to(np.asarray(variances, np.float64), weights.shape)
    with np.errstate(divide="ignore"):
        const = np.log(weights) - 0.5 * d * np.log(2 * np.pi * var)
    total = 0.0
    for sq in _sq_dist(X, means):
        a = const[None] - sq / (2 * var[None])
        m = a.max(axis=1, keepdims=True)
        total += float((m[:, 0] + np.log(np.exp(a - m).sum(axis=1))).sum())
    return total / len(X)


def inertia(X, centers):
    """Sum over rows of the squared distance to the nearest centre."""
    return float(sum(sq.min(axis=1).sum() for sq in _sq_dist(X, centers)))


def gmm_quality(est, X_train, X_test, kind):
    """Own-model train and held-out log-likelihood per row, and the means' inertia."""
    if kind == "probkm":
        w, mu, var = est.weights_, est.means_, float(est.sigma_) ** 2
    else:
        w, mu, var = est.weights_, est.means_, est.covariances_
    return {
        "loglik": mixture_loglik(X_train, w, mu, var),
        "heldout_loglik": mixture_loglik(X_test, w, mu, var),
        "inertia": inertia(X_train, mu),
    }


def kmeans_quality(centers, X_train, X_test):
    """Inertia on the training rows and on the held-out rows (per row there)."""
    return {"inertia": inertia(X_train, centers), "heldout_inertia_per_row": inertia(X_test, centers) / len(X_test)}
