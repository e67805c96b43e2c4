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

    :param means: ``(..., n_clusters, n_dim)`` draws of the means.
    :param reference: ``(n_clusters, n_dim)`` reference means.
    :return: integer array ``(..., n_clusters)``.
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

    :param samples: site name to draws with any leading sample axes, e.g. ``(chain, draw, ...)``;
        must contain ``means``.
    :param reference: ``(n_clusters, n_dim)``.
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
