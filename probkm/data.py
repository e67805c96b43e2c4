"""Data for the command line: a synthetic shared-sigma mixture, or a user's CSV / ``.npy`` file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from probkm._checks import check_numeric_2d
from probkm.likelihood import sample_mixture


class Dataset(NamedTuple):
    """``X (N, D)``; ``labels (N,)`` and ``means (K, D)`` when known (synthetic data), else ``None``."""

    X: np.ndarray
    labels: np.ndarray | None
    means: np.ndarray | None
    name: str


def synthetic_mixture(
    n_samples: int = 450,
    n_components: int = 3,
    n_features: int = 2,
    *,
    sigma: float = 1.0,
    separation: float = 8.0,
    seed: int = 0,
) -> Dataset:
    """Equal-weight shared-sigma mixture with means spread ``separation`` apart (units of x).

    Means sit on a scaled simplex-like layout: ``separation`` times independent standard
    normal draws, re-drawn until every pair is at least ``separation / 2`` apart.
    """
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        means = rng.normal(scale=separation / np.sqrt(2.0), size=(n_components, n_features))
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(n_components) * separation
        if gaps.min() >= separation / 2:
            break
    weights = jnp.full((n_components,), 1.0 / n_components)
    x, z = sample_mixture(jax.random.key(seed), weights, jnp.asarray(means), sigma, (n_samples,))
    return Dataset(np.asarray(x, dtype=float), np.asarray(z), means, f"synthetic mixture (K={n_components}, D={n_features}, sigma={sigma})")


def _read_csv(path: Path) -> np.ndarray:
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path}: the file has no data rows.")
    start = 0
    try:
        [float(cell) for cell in rows[0]]
    except ValueError:
        start = 1  # a header row
    width = len(rows[start]) if start < len(rows) else 0
    values = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if len(row) != width:
            raise ValueError(f"{path}: line {number} has {len(row)} columns, but line {start + 1} has {width}.")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            bad = next(cell for cell in row if not _is_float(cell))
            raise ValueError(f"{path}: line {number} has the non-numeric value {bad!r}; every value must be a number.") from None
    return np.asarray(values, dtype=float)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "digits")


def load_bundled(name: str) -> Dataset:
    """A data set that ships inside scikit-learn (no download): ``iris``, ``wine``, ``breast_cancer``, ``digits``."""
    if name not in SKLEARN_DATASETS:
        raise ValueError(f"unknown bundled data set {name!r}; choose one of {', '.join(SKLEARN_DATASETS)}.")
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    return Dataset(np.asarray(bunch.data, dtype=float), np.asarray(bunch.target), None, f"scikit-learn {name}")


def load_data(path: str | Path) -> Dataset:
    """Read ``(n_samples, n_features)`` data from a ``.csv`` (optional header) or ``.npy`` file,
    or a data set bundled with scikit-learn given as ``sklearn:<name>``."""
    if str(path).startswith("sklearn:"):
        return load_bundled(str(path).split(":", 1)[1])
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such data file.")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        try:
            X = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise ValueError(f"{path}: not a readable .npy array ({err}).") from None
    elif suffix in (".csv", ".txt"):
        X = _read_csv(path)
    else:
        raise ValueError(f"{path}: unsupported file type {suffix!r}; use .csv or .npy.")
    try:
        X = check_numeric_2d(X, name=str(path))
    except (TypeError, ValueError) as err:
        raise ValueError(str(err)) from None
    return Dataset(X, None, None, path.name)
