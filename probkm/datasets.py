"""Data for the command line: a synthetic shared-sigma mixture, or a user's CSV / ``.npy`` file."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from probkm._checks import InvalidValue, Options, check, check_numeric_2d
from probkm._tables import array_columns, pick_columns, read_csv_columns
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
    feature_names : tuple of str, or None
        The name of each column of ``X`` (a file's header; ``x0, x1, ...`` without one).
    notes : tuple of str
        What reading the data left out or found missing, one sentence each, for the user to see.

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
    feature_names: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()


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
    normal draws, re-drawn until every pair is at least ``separation / 2`` apart (when many means
    in few features seldom fall apart together, they are placed one by one, and their spread
    widens as needed: every pair is always at least ``separation / 2`` apart). With
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
    scale = separation / np.sqrt(2.0)
    for _ in range(1000):
        means = rng.normal(scale=scale, size=(n_components, n_features))
        gaps = np.linalg.norm(means[:, None] - means[None], axis=-1) + np.eye(n_components) * separation
        if gaps.min() >= separation / 2:
            return means
    # Many means in few features rarely land apart all at once (K = 12 in 2-D: about one draw in
    # 10^4), so place them one at a time, each re-drawn until it is apart from those placed, the
    # spread widening by 5% after every 100 misses. Returning the last joint draw instead would
    # hand out "separated" means 0.4 apart.
    means = np.empty((0, n_features))
    while len(means) < n_components:
        for _ in range(100):
            mean = rng.normal(scale=scale, size=n_features)
            if len(means) == 0 or np.linalg.norm(means - mean, axis=1).min() >= separation / 2:
                means = np.vstack([means, mean])
                break
        else:
            scale *= 1.05
    return means


def _polygon_means(n_components: int, n_features: int, separation: float) -> np.ndarray:
    if n_features < 2 and n_components > 1:
        raise InvalidValue(f"layout='polygon' places the means in two features; got n_features={n_features}.")
    angle = 2 * np.pi * np.arange(n_components) / n_components
    radius = 0.0 if n_components == 1 else separation / (2 * np.sin(np.pi / n_components))
    means = np.zeros((n_components, n_features))
    means[:, :2] = radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)[:, : n_features]
    return means


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
    names = tuple(str(n) for n in getattr(bunch, "feature_names", range(bunch.data.shape[1])))
    return Dataset(np.asarray(bunch.data, dtype=float), np.asarray(bunch.target), None, f"scikit-learn {name}", names)


def load_data(path: str | Path, *, columns: Sequence[str | int] | None = None, label_column: str | int | None = None) -> Dataset:
    """Read data from a ``.csv`` or ``.npy`` file, or a bundled data set.

    A CSV may have a header (quoted or not), R's ``write.csv`` row names (an unnamed first
    column, left out), text columns (left out with a note unless named in ``columns``) and
    missing entries written ``NA``, left empty or ``NaN``, which become NaN. Infinity is refused.

    Parameters
    ----------
    path : str or pathlib.Path
        The file (``.csv``, ``.txt`` or ``.npy``), or ``sklearn:<name>`` for a data set
        bundled with scikit-learn (:func:`load_bundled`).
    columns : sequence of str or int, or None
        The features: header names, or 0-based indices counted after any row-name column
        (a string of digits that is not a name counts as an index). ``None``: every numeric
        column but ``label_column``.
    label_column : str, int or None
        A column kept out of ``X`` and returned as ``labels`` (its entries as written), to
        compare clusters with known classes. Not for bundled data sets, which carry their labels.

    Returns
    -------
    Dataset
        ``X`` of shape ``(n_samples, n_features)`` with NaN where an entry is missing, named
        after the file, with ``feature_names`` and ``notes`` (what was left out or missing).
        :func:`scale_note` says whether one shared sigma suits the features' units.

    Raises
    ------
    FileNotFoundError
        If there is no such file.
    ValueError
        For an unsupported file type, a file that is not a table, an unknown column (the
        message lists the available ones), a chosen column that is not numeric (naming the
        line and value), a column mixing numbers and text, or infinite values.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from probkm.datasets import load_data
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "points.csv").write_text("a,b\\n1,2\\n3,4\\n")
    ...     print(load_data(Path(folder) / "points.csv").X.tolist())
    [[1.0, 2.0], [3.0, 4.0]]
    >>> text = '"","len","kind"\\n"1",1.5,"a"\\n"2",NA,"b"\\n"3",2.5,"a"\\n'  # R's write.csv
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     _ = (Path(folder) / "r.csv").write_text(text)
    ...     data = load_data(Path(folder) / "r.csv", label_column="kind")
    >>> data.X.ravel().tolist(), data.labels.tolist(), data.feature_names
    ([1.5, nan, 2.5], ['a', 'b', 'a'], ('len',))
    >>> load_data("sklearn:wine", columns=["alcohol", 12]).X.shape
    (178, 2)
    """
    if str(path).startswith("sklearn:"):
        bundled = load_bundled(str(path).split(":", 1)[1])
        if label_column is not None:
            raise InvalidValue(f"{path} carries its own labels; label_column applies to files.")
        if columns is None:
            return bundled
        table = array_columns(bundled.X)
        table = [c._replace(name=n) for c, n in zip(table, bundled.feature_names)]
        picked = pick_columns(table, columns_wanted=columns, where=f"{path}: ")
        return bundled._replace(X=picked.X, feature_names=picked.names)
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such data file.")
    suffix = path.suffix.lower()
    notes: list[str] = []
    if suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except ValueError as err:
            raise InvalidValue(f"{path}: not a readable .npy array ({err}).") from None
        table = array_columns(_finite_or_nan(array, str(path)))
    elif suffix in (".csv", ".txt"):
        table, notes = read_csv_columns(path)
    else:
        raise InvalidValue(f"{path}: unsupported file type {suffix!r}; use .csv or .npy.")
    picked = pick_columns(table, columns_wanted=columns, label_column=label_column, where=f"{path}: ")
    X = _finite_or_nan(picked.X, str(path))
    return Dataset(X, picked.labels, None, path.name, picked.names, tuple(notes + picked.notes))


def _finite_or_nan(X: Any, name: str) -> np.ndarray:
    """``X`` as a 2-D float array; NaN (missing) allowed, infinity and anything else refused."""
    arr = np.asarray(X)
    try:
        if arr.dtype.kind in "fc" and arr.ndim == 2:
            check_numeric_2d(np.where(np.isnan(arr), 0.0, arr), name=name)
            return np.asarray(arr, dtype=float)
        return check_numeric_2d(arr, name=name)
    except (TypeError, ValueError) as err:
        raise InvalidValue(str(err)) from None


SCALE_RATIO = 10.0


def scale_note(X: np.ndarray, feature_names: Sequence[str] | None = None, *, ratio: float = SCALE_RATIO) -> str | None:
    """A warning when the features' standard deviations differ more than ``ratio``-fold, else ``None``.

    The model's one shared sigma measures every feature in the same units, so a feature
    with a much larger spread decides the clusters alone. Missing entries (NaN) are ignored;
    constant features are not compared.

    Parameters
    ----------
    X : numpy.ndarray, shape (n_samples, n_features)
    feature_names : sequence of str, optional
        Names for the message; ``x0, x1, ...`` by default.
    ratio : float, default 10
        The largest ratio of standard deviations left without a note.

    Returns
    -------
    str or None
        One sentence naming the features and their standard deviations, and the remedy.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.datasets import scale_note
    >>> rng = np.random.default_rng(0)
    >>> X = np.c_[rng.normal(3.5, 1.1, 272), rng.normal(71, 13.6, 272)]
    >>> print(scale_note(X, ["eruptions", "waiting"]))  # doctest: +NORMALIZE_WHITESPACE
    the features' standard deviations differ 12-fold (eruptions 1.12, waiting 13.6); one shared sigma
    treats a unit of every feature alike, so the widest features decide the clusters. Fit on z-scores
    with --standardize (data.standardize), or rescale the columns to comparable units.
    >>> scale_note((X - X.mean(0)) / X.std(0)) is None
    True
    """
    sd = np.nanstd(np.asarray(X, dtype=float), axis=0)
    names = list(feature_names) if feature_names is not None else [f"x{j}" for j in range(len(sd))]
    varied = [(n, s) for n, s in zip(names, sd) if s > 0]
    if len(varied) < 2:
        return None
    low, high = min(s for _, s in varied), max(s for _, s in varied)
    if high <= ratio * low:
        return None
    shown = varied if len(varied) <= 8 else sorted(varied, key=lambda item: item[1])[:3] + [("...", None)] + sorted(varied, key=lambda item: item[1])[-3:]
    listed = ", ".join(n if s is None else f"{n} {s:.3g}" for n, s in shown)
    return (
        f"the features' standard deviations differ {high / low:.0f}-fold ({listed}); one shared sigma treats a unit of every feature alike, "
        "so the widest features decide the clusters. Fit on z-scores with --standardize (data.standardize), or rescale the columns to comparable units."
    )
