"""EM steps towards the MAP of the shared-sigma mixture: cheap passes over many rows before BFGS polishes.

BFGS learns the curvature of the log joint from its own steps, so from a start it needs tens
of evaluations, each a pass over all rows. An EM step is one such pass too, but it divides the
gradient by the complete-data curvature (``N_k / sigma^2`` for a mean), which for separated
clusters is nearly the whole curvature: there it lands on the optimum in two or three steps.
:func:`optimize_restarts <probkm.inference.map.optimize_restarts>` therefore runs a few EM steps
on all rows between its BFGS on a subsample and its BFGS on all rows, for the models whose
complete-data maximisation is known here (:func:`em_applies`).

The steps maximise the same objective as the optimiser: AutoDelta's log joint, the log
likelihood plus the log prior densities of ``weights`` (Dirichlet), ``means`` (Normal) and
``sigma`` (the model's prior, :func:`probkm.core.models.sigma_prior_distribution`), in
constrained space. Each step is an ECM step (Meng and Rubin 1993): responsibilities, then the
weights and means in closed form, then ``log sigma`` by Newton's method given the new means, so
the log joint never decreases.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import Array

from probkm.core.distributions import active_weights
from probkm.core.likelihood import Columns, column_distances, columns, scores_from_distances
from probkm.core.models import prior_settings, sigma_prior_distribution, spherical_gmm

SIGMA_NEWTON_STEPS = 4  # the prior on sigma is weak: Newton from the likelihood's maximiser converges in two or three
SLIVER = 1e-3  # a masked component's weight, before renormalising: it must stay inside the simplex


def responsibilities(data: Columns, weights: Array, means: Array, sigma: Array, in_use: Array, rows: Array) -> Array:
    """The E-step: each row's posterior over the components, times the row's weight.

    Parameters
    ----------
    data : Columns
        The data, from :func:`probkm.core.likelihood.columns` (complete rows).
    weights : Array, shape (K,)
        Mixture weights.
    means : Array, shape (K, D)
        Component means.
    sigma : Array, shape ()
        The shared standard deviation.
    in_use : Array of bool, shape (K,)
        The components in use; the others get no rows.
    rows : Array, shape (N,)
        Row weights (``sample_weight``; 0 on padding rows).

    Returns
    -------
    Array, shape (K, N)
        Responsibilities, components first; column ``i`` sums to ``rows[i]``.

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from probkm.core.likelihood import columns
    >>> from probkm.inference.em import responsibilities
    >>> r = responsibilities(columns(jnp.array([[-1.0], [1.0]])), jnp.array([0.5, 0.5]), jnp.array([[-1.0], [1.0]]),
    ...                      jnp.asarray(0.1), jnp.array([True, True]), jnp.ones(2))
    >>> [[round(float(v), 3) for v in row] for row in r]
    [[1.0, 0.0], [0.0, 1.0]]
    """
    log_weights = jnp.where(in_use, jnp.log(jnp.where(in_use, weights, 1.0)), -jnp.inf)[:, None]
    return jax.nn.softmax(scores_from_distances(column_distances(data, means), log_weights, sigma), axis=0) * rows[None, :]


def em_applies(model: Callable, kwargs: dict[str, Any]) -> bool:
    """Whether :func:`em_steps` maximises ``model``'s log joint: probkm's mixture, complete data, full batch.

    Examples
    --------
    >>> from probkm.core.models import spherical_gmm, kmeans_objective_model
    >>> from probkm.inference.em import em_applies
    >>> em_applies(spherical_gmm, {"n_components": 2}), em_applies(kmeans_objective_model, {"n_components": 2})
    (True, False)
    """
    return model is spherical_gmm and kwargs.get("observed") is None and kwargs.get("subsample_size") is None


def em_steps(x: Array, values: dict[str, Array], kwargs: dict[str, Any], *, max_steps: int, tol: float = 1e-4) -> tuple[dict[str, Array], Array]:
    """ECM steps on the log joint of :func:`probkm.core.models.spherical_gmm`, from ``values``.

    Parameters
    ----------
    x : Array, shape (n_obs, n_dim)
        Data, complete (no missing entries).
    values : dict of str to Array
        The sampled sites' values (constrained): any of ``weights (K,)``, ``means (K, D)`` and
        ``sigma ()``; the others are fixed by ``kwargs`` and stay so.
    kwargs : dict
        The model's keyword arguments (``n_components``, prior settings, ``row_weights``,
        ``component_mask``, fixed ``weights``/``means``/``sigma``).
    max_steps : int
        Most steps (static).
    tol : float, default 1e-4
        Stop once no mean moves by more than ``tol * sigma``, ``sigma`` by more than ``tol``
        relative, and no weight by more than ``tol``.

    Returns
    -------
    values : dict of str to Array
        The sites after the steps, as ``values``.
    n_steps : Array, shape ()
        Steps run.

    Examples
    --------
    >>> import jax.numpy as jnp, numpy as np
    >>> from probkm.inference.em import em_steps
    >>> rng = np.random.default_rng(0)
    >>> x = jnp.asarray(np.vstack([rng.normal(-3.0, 1.0, (200, 2)), rng.normal(3.0, 1.0, (200, 2))]))
    >>> start = {"weights": jnp.array([0.3, 0.7]), "means": jnp.array([[-1.0, 0.0], [1.0, 0.0]]), "sigma": jnp.asarray(2.0)}
    >>> found, n_steps = em_steps(x, start, {"n_components": 2}, max_steps=50)
    >>> bool(np.allclose(found["means"][:, 0], [-3.0, 3.0], atol=0.2)), round(float(found["sigma"]), 1)
    (True, 1.0)
    """
    n_clusters = kwargs["n_components"]
    mask = kwargs.get("component_mask")
    in_use = jnp.ones(n_clusters, bool) if mask is None else jnp.asarray(mask) > 0
    rows = kwargs.get("row_weights")
    rows = jnp.ones(x.shape[0], x.dtype) if rows is None else rows
    n_dim = x.shape[1]
    loc_center, loc_scale, sigma_scale = prior_settings(
        x, n_dim, kwargs.get("loc_center"), kwargs.get("loc_scale"), kwargs.get("sigma_scale"), kwargs.get("row_weights")
    )
    sigma_prior = sigma_prior_distribution(kwargs.get("sigma_prior", "halfnormal"), sigma_scale)
    alpha = kwargs.get("weight_concentration", 1.0)
    data = columns(x)
    row_sq = data.sq  # (N,) squared norms, for the sum of squared residuals
    n_entries = n_dim * jnp.sum(rows)

    def weights_of(current):
        w = current.get("weights")
        if w is None:
            given = kwargs.get("weights")
            w = jnp.ones(n_clusters, x.dtype) if isinstance(given, str) else jnp.asarray(given, x.dtype)
        return active_weights(w, in_use)

    def means_of(current):
        m = current.get("means")
        return jnp.asarray(kwargs["means"], x.dtype) if m is None else m

    def sigma_of(current):
        s = current.get("sigma")
        return jnp.asarray(kwargs["sigma"], x.dtype) if s is None else s

    def newton_log_sigma(log_sigma, sum_sq):
        # AutoDelta's objective in sigma (constrained, no Jacobian): -n log sigma - S / (2 sigma^2) + log p(sigma)
        def objective(u):
            return -n_entries * u - 0.5 * sum_sq * jnp.exp(-2.0 * u) + sigma_prior.log_prob(jnp.exp(u))

        def step(_, u):
            slope, curve = jax.grad(objective)(u), jax.grad(jax.grad(objective))(u)
            # concave in u for every prior probkm offers; the guard keeps rounding from stepping uphill
            return u - slope / jnp.minimum(curve, -1e-12)

        start = 0.5 * jnp.log(jnp.maximum(sum_sq / n_entries, 1e-30))  # the likelihood's maximiser
        return jax.lax.fori_loop(0, SIGMA_NEWTON_STEPS, step, jnp.where(jnp.isfinite(start), start, log_sigma))

    def step(current):
        weights, means, sigma = weights_of(current), means_of(current), sigma_of(current)
        resp = responsibilities(data, weights, means, sigma, in_use, rows)
        counts = jnp.sum(resp, axis=1)  # (K,)
        sums = resp @ x  # (K, D)
        new = {}
        if "weights" in current:
            kept = jnp.where(in_use, jnp.maximum(counts + alpha - 1.0, 1e-12 * jnp.sum(rows)), 0.0)
            kept = kept / jnp.sum(kept)
            new["weights"] = jnp.where(in_use, kept, SLIVER / n_clusters)
            new["weights"] = new["weights"] / jnp.sum(new["weights"])
        if "means" in current:
            precision = counts[:, None] / sigma**2 + 1.0 / loc_scale**2
            shrunk = (sums / sigma**2 + loc_center / loc_scale**2) / precision
            means = jnp.where(in_use[:, None], shrunk, means)
            new["means"] = means
        if "sigma" in current:
            sum_sq = jnp.sum(resp @ row_sq) - 2.0 * jnp.sum(means * sums) + jnp.sum(counts * jnp.sum(means * means, axis=1))
            new["sigma"] = jnp.exp(newton_log_sigma(jnp.log(sigma), jnp.maximum(sum_sq, 0.0)))
        return new

    def moved(old, new):
        scale = sigma_of(new)
        shifts = [jnp.zeros((), x.dtype)]
        if "means" in new:
            shifts.append(jnp.max(jnp.where(in_use[:, None], jnp.abs(new["means"] - old["means"]), 0.0)) / scale)
        if "sigma" in new:
            shifts.append(jnp.abs(new["sigma"] - old["sigma"]) / scale)
        if "weights" in new:
            shifts.append(jnp.max(jnp.abs(new["weights"] - old["weights"])))
        return jnp.max(jnp.stack(shifts))

    def body(carry):
        current, _, it = carry
        new = step(current)
        # a step that fails (NaN from a degenerate start) keeps the last values and stops
        finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(v)) for v in jax.tree_util.tree_leaves(new)]))
        shift = jnp.where(finite, moved(current, new), 0.0)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new, current), shift, it + 1

    def keep_going(carry):
        _, shift, it = carry
        return (shift > tol) & (it < max_steps)

    start = {k: jnp.asarray(v, x.dtype) for k, v in values.items() if k in ("weights", "means", "sigma")}
    if not start:
        return dict(values), jnp.zeros((), jnp.int32)
    found, _, n_steps = jax.lax.while_loop(keep_going, body, (start, jnp.asarray(jnp.inf, x.dtype), jnp.zeros((), jnp.int32)))
    return {**values, **found}, n_steps


__all__ = ["em_applies", "em_steps", "responsibilities"]
