"""Seeded data sets, drawn with NumPy (not probkm), each split into training and held-out rows.

Every generator returns ``(X_train, X_test, n_clusters, note)``; synthetic sets draw
``n_obs`` training rows and ``n_obs // 4`` held-out rows from the same mixture, real sets are
standardised and split 80 / 20 at random by ``seed``.
"""

from __future__ import annotations

import os

import numpy as np


def _mixture(rng, n_total, means, sds, weights, exact=False):
    k = len(weights)
    if exact:  # rounded counts, so a 0.01% cluster of 1e5 rows has exactly 10
        counts = np.maximum(np.round(np.asarray(weights) * n_total).astype(int), 1)
        counts[np.argmax(counts)] += n_total - counts.sum()
    else:
        counts = rng.multinomial(n_total, weights)
    labels = np.repeat(np.arange(k), counts)
    rng.shuffle(labels)
    X = means[labels] + rng.standard_normal((n_total, means.shape[1])) * np.asarray(sds)[labels, None]
    return X


def _split_synthetic(X, n_obs):
    return X[:n_obs], X[n_obs:]


def blobs(n_obs, n_clusters, n_dim, seed):
    """Equal weights, one sd of 1, means drawn N(0, 4^2): probkm's own model."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=4.0, size=(n_clusters, n_dim))
    X = _mixture(rng, n_obs + n_obs // 4, means, np.ones(n_clusters), np.full(n_clusters, 1 / n_clusters))
    return (*_split_synthetic(X, n_obs), n_clusters, "equal weights, sd 1, means ~ N(0, 4^2)")


def imbalanced(n_obs, seed, n_dim=2):
    """Five clusters; weights 0.01%, 0.1% and the rest equal (10 and 100 rows of 1e5), sd 1,
    means 8 sd apart on a circle (every cluster separable, the small ones hard to find)."""
    rng = np.random.default_rng(seed)
    k = 5
    angle = 2 * np.pi * np.arange(k) / k + rng.uniform(0, 2 * np.pi)
    means = np.zeros((k, n_dim))
    means[:, 0], means[:, 1] = 8 * np.cos(angle) / (2 * np.sin(np.pi / k)), 8 * np.sin(angle) / (2 * np.sin(np.pi / k))
    weights = np.array([1e-4, 1e-3, *([(1 - 1.1e-3) / 3] * 3)])
    rng_test = np.random.default_rng(seed + 1000)
    X = _mixture(rng, n_obs, means, np.ones(k), weights, exact=True)
    X_test = _mixture(rng_test, n_obs // 4, means, np.ones(k), weights, exact=True)
    return X, X_test, k, "K=5, weights 0.01%, 0.1%, 3 x 33.3%; sd 1; means 8 sd apart"


def unequal_variances(n_obs, seed, n_dim=2):
    """Three clusters with sds 1, 3 and 10, means 12 apart (probkm's shared sigma is wrong here)."""
    rng = np.random.default_rng(seed)
    means = np.array([[0.0, 0.0], [12.0, 0.0], [6.0, 12.0]])
    if n_dim > 2:
        means = np.hstack([means, np.zeros((3, n_dim - 2))])
    X = _mixture(rng, n_obs + n_obs // 4, means, [1.0, 3.0, 10.0], np.full(3, 1 / 3))
    return (*_split_synthetic(X, n_obs), 3, "K=3, sd 1 : 3 : 10, means 12 apart")


def overlap(n_obs, seed, n_dim=2):
    """Five clusters, sd 1, means drawn N(0, 1): neighbours about one sd apart."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=1.0, size=(5, n_dim))
    X = _mixture(rng, n_obs + n_obs // 4, means, np.ones(5), np.full(5, 0.2))
    return (*_split_synthetic(X, n_obs), 5, "K=5, sd 1, means ~ N(0, 1) (about 1 sd apart)")


REAL = {"iris": 3, "wine": 3, "breast_cancer": 2, "digits": 10}


def real(name, seed):
    """A data set scikit-learn ships (no download), standardised per feature, split 80 / 20."""
    from sklearn import datasets

    X = getattr(datasets, f"load_{name}")().data.astype(np.float64)
    sd = X.std(axis=0)
    X = (X - X.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    order = np.random.default_rng(seed).permutation(len(X))
    n_train = round(0.8 * len(X))
    return X[order[:n_train]], X[order[n_train:]], REAL[name], f"scikit-learn {name}, {X.shape[0]} x {X.shape[1]}, standardised, K={REAL[name]}"


def cached_large_sets() -> dict:
    """Larger scikit-learn data sets already on disk (none is downloaded)."""
    home = os.environ.get("SCIKIT_LEARN_DATA", os.path.expanduser("~/scikit_learn_data"))
    found = {}
    for name in ("covertype", "covtype", "kddcup99", "california_housing", "cal_housing"):
        path = os.path.join(home, name)
        found[name] = os.path.exists(path) or os.path.exists(path + ".zip")
    return {"folder": home, "exists": os.path.isdir(home), "found": found}
