"""Label switching: relabel mixture draws by Hungarian matching to reference means.

A mixture's likelihood is invariant to permuting its components, so different draws (and
different chains) may use different labels for the same cluster. Before any summary,
probkm permutes each draw's components to best match a reference (the MAP means by
default): the permutation minimises ``sum_k ||mu_draw[perm[k]] - mu_ref[k]||^2``, found
exactly by the Hungarian algorithm (``scipy.optimize.linear_sum_assignment``). Every
site with a ``cluster`` axis (``means``, ``weights``) is permuted with the same
permutation, so each draw stays a valid parameter vector.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from scipy.optimize import linear_sum_assignment

CLUSTER_SITES = {"means": -2, "weights": -1}  # site name -> axis of the cluster dimension


def matching_permutations(means: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per-draw permutations ``perm`` with ``means[..., perm[k], :]`` matched to ``reference[k]``.

    Parameters
    ----------
    means : array_like, shape (..., n_clusters, n_dim)
        Draws of the means.
    reference : array_like, shape (n_clusters, n_dim)
        Reference means.

    Returns
    -------
    numpy.ndarray of int64, shape (..., n_clusters)

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.inference.relabel import matching_permutations
    >>> reference = np.array([[0.0, 0.0], [5.0, 5.0]])
    >>> draws = np.array([[[5.1, 4.9], [0.1, 0.0]], [[0.0, 0.2], [4.8, 5.0]]])
    >>> matching_permutations(draws, reference).tolist()
    [[1, 0], [0, 1]]
    """
    means = np.asarray(means, dtype=float)
    flat = means.reshape((-1,) + means.shape[-2:])
    cost = np.sum((flat[:, :, None, :] - np.asarray(reference, float)[None, None, :, :]) ** 2, axis=-1)
    perms = np.empty(flat.shape[:2], dtype=np.int64)
    for i, c in enumerate(cost):
        rows, cols = linear_sum_assignment(c)
        perms[i, cols] = rows
    return perms.reshape(means.shape[:-1])


def relabel_samples(samples: Mapping[str, np.ndarray], reference: np.ndarray) -> dict[str, np.ndarray]:
    """Return a copy of ``samples`` with every cluster-indexed site permuted to match ``reference``.

    Parameters
    ----------
    samples : mapping of str to array_like
        Site name to draws with any leading sample axes, e.g. ``(chain, draw, ...)``; must
        contain ``means``.
    reference : array_like, shape (n_clusters, n_dim)
        Reference means.

    Returns
    -------
    dict of str to numpy.ndarray
        ``means`` and ``weights`` permuted, the other sites as they were.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.inference.relabel import relabel_samples
    >>> means = np.array([[[5.1, 4.9], [0.1, 0.0]], [[0.0, 0.2], [4.8, 5.0]]])  # two draws
    >>> samples = {"means": means, "weights": np.array([[0.7, 0.3], [0.3, 0.7]]), "sigma": np.array([1.0, 1.1])}
    >>> out = relabel_samples(samples, reference=np.array([[0.0, 0.0], [5.0, 5.0]]))
    >>> out["weights"].tolist(), out["means"][0].tolist(), out["sigma"].tolist()
    ([[0.3, 0.7], [0.3, 0.7]], [[0.1, 0.0], [5.1, 4.9]], [1.0, 1.1])
    """
    perms = matching_permutations(samples["means"], reference)
    out = {}
    for name, value in samples.items():
        value = np.asarray(value)
        axis = CLUSTER_SITES.get(name)
        if axis is None:
            out[name] = value
            continue
        index = perms if axis == -1 else perms[..., None]
        out[name] = np.take_along_axis(value, index, axis=axis)
    return out
