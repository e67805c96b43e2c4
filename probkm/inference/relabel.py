"""Label switching: relabel mixture draws by Hungarian matching of means, or by Stephens' algorithm.

A mixture's likelihood is invariant to permuting its components, so different draws (and
different chains) may use different labels for the same cluster. Before any summary,
probkm permutes each draw's components. Every site with a ``cluster`` axis (``means``,
``weights``) is permuted with the same permutation, so each draw stays a valid parameter
vector, and every label-invariant quantity (``sigma``, the predictive density) is untouched.
Two methods:

* ``"hungarian"``: the permutation minimises ``sum_k ||mu_draw[perm[k]] - mu_ref[k]||^2`` to
  reference means (the MAP by default), found exactly by the Hungarian algorithm
  (``scipy.optimize.linear_sum_assignment``). It looks at the means alone, one draw at a time.
* ``"stephens"``: Stephens' (2000) Kullback-Leibler relabelling. Each draw ``s`` gives
  classification probabilities ``p[s, i, j] = p(z_i = j | x_i, theta_s)`` of the data; starting
  from the Hungarian labelling, the algorithm alternates between (a) their average under the
  current labels, ``q[i, k] = mean_s p[s, i, perm_s[k]]``, and (b) for each draw, the permutation
  minimising ``sum_k KL(p[s, :, perm_s[k]] || q[:, k])``, an assignment problem with cost
  ``C[s, j, k] = sum_i p[s, i, j] log(p[s, i, j] / q[i, k])``, until no permutation changes.
  Each step lowers the total divergence, so it stops. It labels clusters by the points they
  explain, not by where their means sit, which is what tells overlapping clusters apart.

Which is the default (:data:`DEFAULT_RELABEL`, ``"hungarian"``) was measured on overlapping
clusters whose labels switch during sampling: K = 3 clusters 1.5 sigma apart, N = 200, equal
weights, NUTS 2 chains x (300 + 300) from the MAP, the same draws relabelled by each method.
About 5 draws in 6 were permuted (the sampler visits every labelling), and the means' split
R-hat (largest over components and features) and bulk ESS (smallest), averaged over seeds, were:

* 1-D, means on a line, 12 seeds: R-hat 1.017 (Hungarian) and 1.017 (Stephens); ESS 179 and 161;
* 2-D, means on a line, 12 seeds: R-hat 1.021 and 1.024; ESS 158 and 133;
* 2-D, means on a triangle, 8 seeds: R-hat 1.014 and 1.021; ESS 223 and 181;
* 2-D, a triangle of side 2 sigma, 8 seeds: R-hat 1.024 and 1.030; ESS 161 and 166.

Hungarian matching was as good or better in R-hat in every layout, and in ESS in three of the
four (3% lower in the fourth), so it is the default. Where the clusters
overlap this much, their classification probabilities are shared between components, and
Stephens' labels let a component's mean wander into another's region more often than matching
to the MAP means does, which carves the means' space into one cell per MAP mean. At 2.5 sigma
apart the labels no longer switched within a chain and the two methods gave the same draws.
``tests/test_relabel.py`` repeats the comparison through ``SphericalGMM`` on four 1-D seeds (the
other method applied to the same draws), within a tolerance for their noise: there the averages
were R-hat 1.013 (Hungarian) and 1.014 (Stephens), bulk ESS 188 and 192.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.special import xlogy

from probkm._checks import Options, check
from probkm.core.likelihood import nearest_centroid, responsibilities
from probkm.core.programs import compiled
from probkm.core.scaling import as_jax
from probkm.core.shapes import pad_rows

CLUSTER_SITES = {"means": -2, "weights": -1}  # site name -> axis of the cluster dimension
RELABEL_METHODS = ("stephens", "hungarian")
DEFAULT_RELABEL = "hungarian"
# Stephens' algorithm holds the classification probabilities of every draw on the rows it uses,
# draws x rows x clusters float64 numbers: the rows are capped so that this stays near 64 MB
# (and never above MAX_ROWS rows). Evenly spread rows of a large data set label the clusters as
# all of them do: each cluster is recognised by the points it explains, and a thousand points
# already give every cluster of a few percent weight dozens of them.
MAX_ROWS = 1024
MIN_ROWS = 128
_MAX_ELEMENTS = 2**23
_LOG_FLOOR = np.finfo(float).tiny  # q = 0 (a hard assignment no draw shares) costs log(tiny), finite


def _assign(cost: np.ndarray) -> np.ndarray:
    """Per-draw optimal assignments of a ``(S, K, K)`` cost (row ``j``: a draw's component, column
    ``k``: a label) as permutations ``perm`` with ``perm[k] = j``."""
    perms = np.empty(cost.shape[:2], dtype=np.int64)
    for i, c in enumerate(cost):
        rows, cols = linear_sum_assignment(c)
        perms[i, cols] = rows
    return perms


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
    return _assign(cost).reshape(means.shape[:-1])


def stephens_permutations(
    probabilities: np.ndarray, start: np.ndarray | None = None, row_weights: np.ndarray | None = None, *, max_iter: int = 100
) -> np.ndarray:
    """Stephens' (2000) relabelling: per-draw permutations that make the classification probabilities agree.

    Alternates between the average ``q[i, k] = mean_s p[s, i, perm_s[k]]`` and, per draw, the
    permutation minimising ``sum_k sum_i w_i p[s, i, perm_s[k]] log(p[s, i, perm_s[k]] / q[i, k])``
    (an assignment problem), until no permutation changes.

    Parameters
    ----------
    probabilities : array_like, shape (n_draws, n_obs, n_clusters)
        ``p[s, i, j]``: the probability that point ``i`` belongs to component ``j`` of draw ``s``
        (rows sum to one).
    start : array_like of int, shape (n_draws, n_clusters), optional
        The permutations to start from (the Hungarian ones, say); the identity by default.
    row_weights : array_like, shape (n_obs,), optional
        Weight of each point in the divergences (0 drops a row); ones by default.
    max_iter : int, default 100
        At most this many averaging steps.

    Returns
    -------
    numpy.ndarray of int64, shape (n_draws, n_clusters)
        ``perm`` with component ``perm[s, k]`` of draw ``s`` relabelled ``k``.

    Examples
    --------
    Three draws that agree on how the points split, the last with its labels swapped:

    >>> import numpy as np
    >>> from probkm.inference.relabel import stephens_permutations
    >>> p = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9]])
    >>> stephens_permutations(np.stack([p, p, p[:, ::-1]])).tolist()
    [[0, 1], [0, 1], [1, 0]]
    """
    p = np.asarray(probabilities, dtype=float)
    n_draws, n_obs, n_clusters = p.shape
    w = np.ones(n_obs) if row_weights is None else np.asarray(row_weights, dtype=float)
    perms = np.tile(np.arange(n_clusters), (n_draws, 1)) if start is None else np.asarray(start, dtype=np.int64).reshape(n_draws, n_clusters)
    # sum_i w_i p log p: the part of each cost that does not depend on the label k
    own = np.einsum("i,sij->sj", w, xlogy(p, p))
    p_t = np.ascontiguousarray(p.transpose(0, 2, 1))  # (S, K, N): the cost's product is then one matmul
    for _ in range(max_iter):
        q = np.take_along_axis(p, perms[:, None, :], axis=2).mean(axis=0)
        cost = own[:, :, None] - p_t @ (w[:, None] * np.log(np.maximum(q, _LOG_FLOOR)))
        new = _assign(cost)
        if np.array_equal(new, perms):
            break
        perms = new
    return perms


@compiled
def _soft_probabilities(x, weights, means, sigma, temperature, observed=None):
    """Responsibilities ``(S, N, K)`` of ``S`` draws, a batch of draws at a time (memory stays ``batch x N x K``)."""
    return jax.lax.map(lambda d: responsibilities(x, *d, temperature, observed), (weights, means, sigma), batch_size=64)


@compiled
def _hard_probabilities(x, means, observed=None):
    """One-hot nearest-centroid assignments ``(S, N, K)``: the classification of a k-means Gibbs likelihood."""
    return jax.lax.map(lambda m: jax.nn.one_hot(nearest_centroid(x, m, observed), m.shape[0], dtype=x.dtype), means, batch_size=64)


def _rows_for(
    x: np.ndarray, row_weights: np.ndarray, n_draws: int, n_clusters: int, observed: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows Stephens' algorithm looks at (with their mask of observed entries): all of them,
    or evenly spread ones when the classification probabilities of every draw on all rows would
    pass the memory cap (padded to a row bucket, so one compiled program serves many sizes)."""
    used = np.flatnonzero(row_weights > 0)
    cap = min(MAX_ROWS, max(MIN_ROWS, _MAX_ELEMENTS // max(1, n_draws * n_clusters)))
    if used.size <= cap:
        return x, row_weights, observed
    index = used[np.round(np.linspace(0, used.size - 1, cap)).astype(int)]
    x_kept, rows = pad_rows(x[index], row_weights[index])
    if observed is not None:  # padding rows count as observed (their weight is 0)
        observed = np.concatenate([observed[index], np.ones((x_kept.shape[0] - index.size, x.shape[1]))])
    return x_kept, rows, observed


def classification_probabilities(
    x: np.ndarray, means: np.ndarray, weights: np.ndarray | None = None, sigma: np.ndarray | None = None, *, temperature: float = 1.0, hard: bool = False,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """``p[s, i, k] = p(z_i = k | x_i, theta_s)`` for each draw: the responsibilities at ``temperature``, or hard.

    Parameters
    ----------
    x : array_like, shape (n_obs, n_dim)
        Points.
    means : array_like, shape (n_draws, n_clusters, n_dim)
        Draws of the means, in the units of ``x``.
    weights : array_like, shape (n_draws, n_clusters), optional
        Draws of the weights; equal weights by default.
    sigma : array_like, shape (n_draws,), optional
        Draws of sigma, in the units of ``x``; needed unless ``hard``.
    temperature : float, default 1.0
        The likelihood's temperature (an annealed model's).
    hard : bool, default False
        One-hot nearest-centroid assignments (the k-means objective's likelihood) instead.
    observed : array_like, shape (n_obs, n_dim), optional
        Nonzero where an entry of ``x`` is observed; the others are marginalised out.

    Returns
    -------
    numpy.ndarray, shape (n_draws, n_obs, n_clusters)
        Rows sum to one.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.inference.relabel import classification_probabilities
    >>> means = np.array([[[0.0], [4.0]], [[4.0], [0.0]]])  # two draws, labels swapped
    >>> p = classification_probabilities(np.array([[0.0], [4.0]]), means, sigma=np.ones(2))
    >>> p.round(2).tolist()
    [[[1.0, 0.0], [0.0, 1.0]], [[0.0, 1.0], [1.0, 0.0]]]
    """
    means = as_jax(means)
    x = as_jax(x)
    observed = None if observed is None else as_jax(observed)
    if hard:
        return np.asarray(_hard_probabilities(x, means, observed), dtype=float)
    n_draws, n_clusters = means.shape[:2]
    weights = np.full((n_draws, n_clusters), 1.0 / n_clusters) if weights is None else weights
    sigma = np.broadcast_to(np.asarray(sigma, dtype=float), (n_draws,))
    return np.asarray(_soft_probabilities(x, as_jax(weights), means, as_jax(sigma), as_jax(temperature), observed), dtype=float)


def permute_samples(samples: Mapping[str, np.ndarray], perms: np.ndarray) -> dict[str, np.ndarray]:
    """Return a copy of ``samples`` with every cluster-indexed site permuted by ``perms``.

    Parameters
    ----------
    samples : mapping of str to array_like
        Site name to draws with leading sample axes ``(...)``.
    perms : array_like of int, shape (..., n_clusters)
        Component ``perms[..., k]`` of each draw becomes component ``k``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``means`` and ``weights`` permuted, the other sites as they were.

    Examples
    --------
    >>> import numpy as np
    >>> from probkm.inference.relabel import permute_samples
    >>> out = permute_samples({"weights": np.array([[0.7, 0.3]]), "sigma": np.array([1.0])}, np.array([[1, 0]]))
    >>> out["weights"].tolist(), out["sigma"].tolist()
    ([[0.3, 0.7]], [1.0])
    """
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
    return permute_samples(samples, matching_permutations(samples["means"], reference))


def relabel_permutations(
    samples: Mapping[str, np.ndarray],
    reference: np.ndarray,
    *,
    method: str = DEFAULT_RELABEL,
    x: np.ndarray | None = None,
    row_weights: np.ndarray | None = None,
    fixed: Mapping[str, Any] | None = None,
    temperature: float = 1.0,
    hard: bool = False,
    observed: np.ndarray | None = None,
) -> np.ndarray:
    """The permutations that relabel ``samples`` by ``method``.

    Parameters
    ----------
    samples : mapping of str to array_like
        Site name to draws with leading sample axes, e.g. ``(chain, draw, ...)``; must contain
        ``means`` (and ``weights`` and ``sigma`` unless they are in ``fixed``).
    reference : array_like, shape (n_clusters, n_dim)
        Reference means, in the units of the draws: Hungarian's target, and Stephens' start.
    method : {"stephens", "hungarian"}, default :data:`DEFAULT_RELABEL`
        The relabelling (see the module's docstring).
    x : array_like, shape (n_obs, n_dim), optional
        The data, in the units of the draws; Stephens' algorithm needs it. At most
        :data:`MAX_ROWS` evenly spread rows are used (fewer when there are many draws).
    row_weights : array_like, shape (n_obs,), optional
        Weight of each row (``sample_weight``; 0 on padding).
    fixed : mapping, optional
        Known ``weights`` (``"equal"`` or ``(K,)``) and ``sigma`` of a model that does not sample them.
    temperature : float, default 1.0
        The likelihood's temperature (an annealed model's).
    hard : bool, default False
        Classify by the nearest mean (a k-means Gibbs likelihood) rather than by responsibilities.
    observed : array_like, shape (n_obs, n_dim), optional
        Nonzero where an entry of ``x`` is observed (missing entries classify on the others).

    Returns
    -------
    numpy.ndarray of int64, shape (..., n_clusters)

    Raises
    ------
    ValueError
        An unknown ``method``, or ``"stephens"`` without ``x``.

    Examples
    --------
    Two draws with their labels swapped:

    >>> import numpy as np
    >>> from probkm.inference.relabel import relabel_permutations
    >>> x = np.array([[0.0], [1.0], [3.0], [4.0]])
    >>> draws = {"means": np.array([[[0.5], [3.5]], [[3.5], [0.5]]]), "weights": np.full((2, 2), 0.5), "sigma": np.ones(2)}
    >>> relabel_permutations(draws, np.array([[0.0], [4.0]]), method="stephens", x=x).tolist()
    [[0, 1], [1, 0]]
    """
    check("relabel", method, Options(RELABEL_METHODS))
    means = np.asarray(samples["means"], dtype=float)
    lead, (n_clusters, n_dim) = means.shape[:-2], means.shape[-2:]
    perms = matching_permutations(means, reference)
    if method == "hungarian" or n_clusters == 1:
        return perms
    if x is None:
        raise ValueError("relabel='stephens' needs the data x to classify.")
    n_draws = int(np.prod(lead))
    x = np.asarray(x, dtype=float)
    rows = np.ones(x.shape[0]) if row_weights is None else np.asarray(row_weights, dtype=float)
    x, rows, observed = _rows_for(x, rows, n_draws, n_clusters, None if observed is None else np.asarray(observed, dtype=float))
    flat_means = means.reshape(n_draws, n_clusters, n_dim)
    fixed = dict(fixed or {})
    if hard:
        p = classification_probabilities(x, flat_means, hard=True, observed=observed)
    else:
        weights = samples["weights"] if "weights" in samples else fixed.get("weights", "equal")
        weights = np.full(n_clusters, 1.0 / n_clusters) if isinstance(weights, str) else np.asarray(weights, dtype=float)
        sigma = samples["sigma"] if "sigma" in samples else fixed["sigma"]
        weights = np.broadcast_to(weights, lead + (n_clusters,)).reshape(n_draws, n_clusters)
        sigma = np.broadcast_to(np.asarray(sigma, dtype=float), lead).reshape(n_draws)
        p = classification_probabilities(x, flat_means, weights, sigma, temperature=temperature, observed=observed)
    return stephens_permutations(p, perms.reshape(n_draws, n_clusters), rows).reshape(lead + (n_clusters,))
