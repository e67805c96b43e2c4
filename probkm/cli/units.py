"""The data's units on the command line: ``--standardize``, the notes on a file, and agreement with labels.

With ``--standardize`` the commands fit on z-scores (each feature centred and divided by its
standard deviation ``sd_d``) and report in the data's units. The model's one shared sigma in
z-units is then a different standard deviation per feature in the data's units,
``sigma_d = sigma_z * sd_d`` (a diagonal covariance), and generated points are mapped back
the same way. The estimators never see this: it is a change of coordinates around them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from probkm.datasets import Dataset, scale_note


class FeatureScaling(NamedTuple):
    """The per-feature affine map ``z = (x - center) / scale``; the identity when not standardising.

    Attributes
    ----------
    center : numpy.ndarray, shape (D,)
        Per-feature mean (missing entries ignored), units of the data; zeros for the identity.
    scale : numpy.ndarray, shape (D,)
        Per-feature standard deviation (1 for a constant feature), units of the data; ones for the identity.
    standardized : bool
        Whether this is a standardisation (``False``: the identity).

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.cli.units import FeatureScaling
    >>> X = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> scaling = FeatureScaling.of(X, standardize=True)
    >>> scaling.forward(X).tolist(), scaling.sigma(0.5).tolist()
    ([[-1.0, -1.0], [1.0, 1.0]], [0.5, 5.0])
    >>> bool(np.allclose(scaling.backward(scaling.forward(X)), X))
    True
    """

    center: np.ndarray
    scale: np.ndarray
    standardized: bool

    @classmethod
    def of(cls, X: np.ndarray, standardize: bool) -> FeatureScaling:
        """The z-scores of ``X (N, D)`` (NaN entries ignored) when ``standardize``, else the identity.

        Parameters
        ----------
        X : numpy.ndarray, shape (N, D)
        standardize : bool

        Returns
        -------
        FeatureScaling
        """
        n_features = X.shape[1]
        if not standardize:
            return cls(np.zeros(n_features), np.ones(n_features), False)
        sd = np.nanstd(X, axis=0)
        return cls(np.nanmean(X, axis=0), np.where(sd > 0, sd, 1.0), True)

    def forward(self, X: np.ndarray) -> np.ndarray:
        """Data ``(N, D)`` in the data's units -> z-scores."""
        return (X - self.center) / self.scale

    def backward(self, Z: np.ndarray) -> np.ndarray:
        """Points ``(N, D)`` in z-scores -> the data's units."""
        return Z * self.scale + self.center

    def sigma(self, sigma_z: float) -> np.ndarray:
        """The shared sigma of a fit in z-units as one standard deviation per feature ``(D,)``, units of the data."""
        return float(sigma_z) * self.scale

    @property
    def log_jacobian(self) -> float:
        """``-sum_d log scale_d``: add it to a log density per point in z-units to get one in the data's units."""
        return float(-np.sum(np.log(self.scale)))


def data_section(dataset: Dataset, scaling: FeatureScaling, say: Callable[[str], None]) -> list[str]:
    """Say the notes on the data (columns left out, missing entries, features of unequal
    scale) and return them as a report section.

    The scale note (:func:`probkm.datasets.scale_note`) is given only when not standardising.

    Parameters
    ----------
    dataset : probkm.datasets.Dataset
    scaling : FeatureScaling
    say : callable
        Prints one line for the user.

    Returns
    -------
    list of str
        Markdown lines: a heading, the features used, and each note.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.cli.units import FeatureScaling, data_section
    >>> from probkm.datasets import Dataset
    >>> X = np.c_[np.arange(6.0), 100 * np.arange(6.0) ** 0.5]
    >>> said = []
    >>> lines = data_section(Dataset(X, None, None, "x.csv", ("a", "b")), FeatureScaling.of(X, False), said.append)
    >>> said[0][:60]
    "note: the features' standard deviations differ 43-fold (a 1."
    >>> lines[:3]
    ['## Data', '', 'x.csv: 6 rows; features: a, b.']
    """
    names = dataset.feature_names or tuple(f"x{j}" for j in range(dataset.X.shape[1]))
    notes = list(dataset.notes)
    if scaling.standardized:
        sds = ", ".join(f"{n} {s:.4g}" for n, s in zip(names, scaling.scale))
        notes.append(f"fitted on z-scores (each feature minus its mean, over its sd: {sds}); means, sigma and generated data are in the data's units.")
    else:
        scale = scale_note(dataset.X, names)
        if scale:
            notes.append(scale)
    for note in notes:
        say("note: " + note)
    return ["## Data", "", f"{dataset.name}: {len(dataset.X)} rows; features: {', '.join(names)}.", ""] + [f"- {note}" for note in notes] + [""] * bool(notes)


def sigma_lines(sigma_z: float, scaling: FeatureScaling, names: Sequence[str], *, what: str = "sigma") -> list[str]:
    """The report's line(s) on a fitted shared sigma: one number, or with ``--standardize`` its
    z-units value and the standard deviation it means for each feature.

    Parameters
    ----------
    sigma_z : float
        The fitted sigma in the units the model saw.
    scaling : FeatureScaling
    names : sequence of str
        The features.
    what : str
        What to call it.

    Returns
    -------
    list of str

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.cli.units import FeatureScaling, sigma_lines
    >>> print(sigma_lines(0.5, FeatureScaling(np.zeros(2), np.array([1.0, 10.0]), True), ["a", "b"])[0])
    sigma = 0.5000 in z-units, shared by the features; in the data's units, one sd per feature: a 0.5, b 5.
    """
    if not scaling.standardized:
        return [f"{what} = {sigma_z:.4f}"]
    per_feature = ", ".join(f"{n} {s:.4g}" for n, s in zip(names, scaling.sigma(sigma_z)))
    return [f"{what} = {sigma_z:.4f} in z-units, shared by the features; in the data's units, one sd per feature: {per_feature}."]


def label_agreement(dataset: Dataset, predicted: np.ndarray, label_column: str | int | None) -> tuple[float | None, list[str]]:
    """The adjusted Rand index of the fitted clusters against the file's label column.

    Parameters
    ----------
    dataset : probkm.datasets.Dataset
        Its ``labels`` are the known classes (``None``: nothing to compare).
    predicted : numpy.ndarray, shape (N,)
        The fitted model's cluster of each row.
    label_column : str, int or None
        The column's name or index, for the report.

    Returns
    -------
    ari : float or None
        ``sklearn.metrics.adjusted_rand_score``: 1 for the same partition, about 0 for chance.
    lines : list of str
        The report's section (empty without labels).

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.cli.units import label_agreement
    >>> from probkm.datasets import Dataset
    >>> data = Dataset(np.zeros((4, 1)), np.array(["a", "a", "b", "b"]), None, "x")
    >>> label_agreement(data, np.array([1, 1, 0, 0]), "kind")[0]
    1.0
    """
    if dataset.labels is None or label_column is None:
        return None, []
    from sklearn.metrics import adjusted_rand_score

    ari = float(adjusted_rand_score(dataset.labels, predicted))
    n_classes = len(np.unique(dataset.labels))
    sentence = (
        f"Adjusted Rand index of the clusters against column {label_column!r} ({n_classes} classes): {ari:.4f} "
        "(1: the same partition; about 0: no better than chance)."
    )
    return ari, ["## Agreement with the labels", "", sentence, ""]
