"""Data for the command line: a synthetic shared-sigma mixture, or a user's CSV / ``.npy`` file."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from probkm._checks import InvalidValue, Options, check, check_numeric_2d
from probkm.core.likelihood import sample_mixture

LAYOUTS = ("random", "polygon")


class Dataset(NamedTuple):
    """A data set, with its true labels and means when they are known.

    Attributes
    ----------
    X : numpy.ndarray, shape (N, D)
        The data.
    labels : numpy.ndarray, shape (N,), or None
        True labels, when known (synthetic and bundled data), else ``None``.
    means : numpy.ndarray, shape (K, D), or None
        True means, when known (synthetic data), else ``None``.
    name : str
        A description for reports.

    Examples
    --------
    >>> from probkm.datasets import synthetic_mixture
    >>> data = synthetic_mixture(30, n_components=3, seed=0)
    >>> data.X.shape, data.labels.shape, data.means.shape, data.name
    ((30, 2), (30,), (3, 2), 'synthetic mixture (K=3, D=2, sigma=1.0)')
    """

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
    layout: str = "random",
    seed: int = 0,
) -> Dataset:
    """Equal-weight shared-sigma mixture with means spread ``separation`` apart (units of x).

    With ``layout="random"`` the means are ``separation / sqrt(2)`` times independent standard
    normal draws, re-drawn until every pair is at least ``separation / 2`` apart. With
    ``layout="polygon"`` they sit on a regular polygon in the first two features, neighbours
    exactly ``separation`` apart (other features 0): every cluster equally far from its
    neighbours, the identifiability study's default data.

    Parameters
    ----------
    n_samples : int, default 450
        ``N``.
    n_components : int, default 3
        ``K``.
    n_features : int, default 2
        ``D``.
    sigma : float, default 1.0
        The shared standard deviation.
    separation : float, default 8.0
        Spread of the means.
    layout : {"random", "polygon"}, default "random"
        Where the means sit; ``"polygon"`` needs ``n_features >= 2`` unless ``n_components == 1``.
    seed : int, default 0
        Seed of the means and of the draws.

    Returns
    -------
    Dataset
        With ``labels`` and ``means``.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.datasets import synthetic_mixture
    >>> data = synthetic_mixture(60, n_components=3, separation=8.0, seed=1)
    >>> gaps = np.linalg.norm(data.means[:, None] - data.means[None], axis=-1)
    >>> bool(gaps[np.triu_indices(3, 1)].min() >= 4.0), sorted(set(data.labels.tolist()))
    (True, [0, 1, 2])
    >>> triangle = synthetic_mixture(60, n_components=3, layout="polygon").means  # neighbours 8 apart
    >>> np.round(np.linalg.norm(triangle - np.roll(triangle, 1, axis=0), axis=1), 6).tolist()
    [8.0, 8.0, 8.0]
    """
    check("layout", layout, Options(LAYOUTS))
    means = _polygon_means(n_components, n_features, separation) if layout == "polygon" else _random_means(n_components, n_features, separation, seed)
    weights = jnp.full((n_components,), 1.0 / n_components)
    x, z = sample_mixture(jax.random.key(seed), weights, jnp.asarray(means), sigma, (n_samples,))
    return Dataset(np.asarray(x, dtype=float), np.asarray(z), means, f"synthetic mixture (K={n_components}, D={n_features}, sigma={sigma})")


def _random_means(n_components: int, n_features: int, separation: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    for _ in range(1000):
        means = rng.normal(scale=separation / np.sqrt(2.0), size=(n_components, n_features))
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(n_components) * separation
        if gaps.min() >= separation / 2:
            break
    return means


def _polygon_means(n_components: int, n_features: int, separation: float) -> np.ndarray:
    if n_features < 2 and n_components > 1:
        raise InvalidValue(f"layout='polygon' places the means in two features; got n_features={n_features}.")
    angle = 2 * np.pi * np.arange(n_components) / n_components
    radius = 0.0 if n_components == 1 else separation / (2 * np.sin(np.pi / n_components))
    means = np.zeros((n_components, n_features))
    means[:, :2] = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)[:, : n_features]
    return means


def _read_csv(path: Path) -> np.ndarray:
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise InvalidValue(f"{path}: the file has no data rows.")
    start = 0
    try:
        [float(cell) for cell in rows[0]]
    except ValueError:
        start = 1  # a header row
    width = len(rows[start]) if start < len(rows) else 0
    values = []
    for number, row in enumerate(rows[start:], start=start + 1):
        if len(row) != width:
            raise InvalidValue(f"{path}: line {number} has {len(row)} columns, but line {start + 1} has {width}.")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            bad = next(cell for cell in row if not _is_float(cell))
            raise InvalidValue(f"{path}: line {number} has the non-numeric value {bad!r}; every value must be a number.") from None
    return np.asarray(values, dtype=float)


def _is_float(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


SKLEARN_DATASETS = ("iris", "wine", "breast_cancer", "digits")


def load_bundled(name: str) -> Dataset:
    """A data set that ships inside scikit-learn (no download).

    Parameters
    ----------
    name : {"iris", "wine", "breast_cancer", "digits"}
        Which one.

    Returns
    -------
    Dataset
        With the data set's ``labels``; ``means`` is ``None``.

    Raises
    ------
    ValueError
        For any other ``name``.

    Examples
    --------
    >>> from probkm.datasets import load_bundled
    >>> iris = load_bundled("iris")
    >>> iris.X.shape, iris.labels.shape, iris.name
    ((150, 4), (150,), 'scikit-learn iris')
    """
    if name not in SKLEARN_DATASETS:
        raise InvalidValue(f"unknown bundled data set {name!r}; choose one of {', '.join(SKLEARN_DATASETS)}.")
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, f"load_{name}")()
    return Dataset(np.asarray(bunch.data, dtype=float), np.asarray(bunch.target), None, f"scikit-learn {name}")


def load_data(path: str | Path) -> Dataset:
    """Read data from a ``.csv`` (optional header) or ``.npy`` file, or a bundled data set.

    Parameters
    ----------
    path : str or pathlib.Path
        The file (``.csv``, ``.txt`` or ``.npy``), or ``sklearn:<name>`` for a data set
        bundled with scikit-learn (:func:`load_bundled`).

    Returns
    -------
    Dataset
        ``X`` of shape ``(n_samples, n_features)``, named after the file.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        For an unsupported file type, or a file that is not a numeric table.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from probkm.datasets import load_data
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "points.csv").write_text("a,b\\n1,2\\n3,4\\n")
    ...     print(load_data(Path(folder) / "points.csv").X.tolist())
    [[1.0, 2.0], [3.0, 4.0]]
    >>> load_data("sklearn:wine").X.shape
    (178, 13)
    """
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
            raise InvalidValue(f"{path}: not a readable .npy array ({err}).") from None
    elif suffix in (".csv", ".txt"):
        X = _read_csv(path)
    else:
        raise InvalidValue(f"{path}: unsupported file type {suffix!r}; use .csv or .npy.")
    try:
        X = check_numeric_2d(X, name=str(path))
    except (TypeError, ValueError) as err:
        raise InvalidValue(str(err)) from None
    return Dataset(X, None, None, path.name)
