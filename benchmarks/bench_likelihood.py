"""Value and gradient of the mixture log-likelihood: probkm's form against the fastest we can write.

Times ``jax.jit(jax.value_and_grad(f, argnums=(0, 1, 2)))(weights, means, sigma)`` where ``f`` is
the summed log-likelihood of the shared-sigma spherical mixture at ``N`` points (float32, CPU),
for these forms of ``f``:

* ``probkm``: ``probkm.core.likelihood.mixture_log_likelihood(x, w, mu, sigma).sum()``: pointwise
  values (as the models need them) with a hand-written VJP from the saved responsibilities;
* ``naive``: broadcast differences ``(N, K, D)``, ``jax.nn.logsumexp``, autodiff (reference);
* ``expanded``: the same maths as probkm written inline (``|x|^2 - 2 x.mu + |mu|^2``,
  ``logsumexp``), autodiff;
* ``custom_vjp``: one pass computes the value and the sufficient statistics of the gradient
  (with responsibilities ``r``: ``dL/dw_k = sum_i r_ik / w_k``,
  ``dL/dmu_k = sum_i r_ik (x_i - mu_k) / sigma^2``,
  ``dL/dsigma = sum_ik r_ik d_ik / sigma^3 - N D / sigma``), a hand-written ``jax.custom_vjp``;
* ``custom_vjp_chunked``: the same, accumulated over row blocks by ``lax.map`` so the
  ``(block, K)`` intermediates stay in cache;
* ``custom_vjp_KN``: the same with the ``(K, N)`` layout (points on the fast axis);
* ``probkm forward, autodiff``: probkm's forward pass differentiated by autodiff, which is what
  probkm did before its pointwise log-likelihood got a hand-written VJP.

Two reference points that are not gradients: ``value only`` (probkm's forward pass) and
``read x`` (``jnp.sum(x)``, the memory-bandwidth floor of one pass over the data).

The fastest gradient form is the floor; the table reports each form's time over it.
Calls are interleaved (A, B, C, A, B, C, ...) and the median of ``--repeats`` rounds is kept,
as the machine is shared. Every form is checked against ``naive`` in float64-free arithmetic
(relative error of value and gradients).

    python benchmarks/bench_likelihood.py [--n-obs 1000000] [--clusters 5] [--dim 2] [--repeats 15]
    python benchmarks/bench_likelihood.py --quick
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as for the other benchmarks (see RESULTS.md)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

from probkm.core.likelihood import _annealed_forward, mixture_log_likelihood, sample_mixture  # noqa: E402

_LOG_2PI = float(np.log(2 * np.pi))


def naive_loglik(x, w, mu, s):
    d = jnp.sum((x[:, None, :] - mu[None]) ** 2, axis=-1)
    a = jnp.log(w) - d / (2 * s**2)
    return jnp.sum(jax.nn.logsumexp(a, axis=-1)) - x.shape[0] * 0.5 * x.shape[1] * (_LOG_2PI + 2 * jnp.log(s))


def expanded_loglik(x, w, mu, s):
    d = jnp.sum(x * x, -1)[:, None] - 2 * x @ mu.T + jnp.sum(mu * mu, -1)[None]
    a = jnp.log(w) - d / (2 * s**2)
    return jnp.sum(jax.nn.logsumexp(a, axis=-1)) - x.shape[0] * 0.5 * x.shape[1] * (_LOG_2PI + 2 * jnp.log(s))


def _stats_nk(x, w, mu, s):
    """One pass over rows: summed log-sum-exp, sum_i r_ik, sum_i r_ik x_i, sum_ik r_ik d_ik."""
    d = jnp.maximum(jnp.sum(x * x, -1)[:, None] - 2 * x @ mu.T + jnp.sum(mu * mu, -1)[None], 0.0)
    a = jnp.log(w) - d / (2 * s**2)
    top = jnp.max(a, axis=-1, keepdims=True)
    e = jnp.exp(a - top)
    z = jnp.sum(e, axis=-1, keepdims=True)
    r = e / z
    lse = jnp.sum(top[:, 0] + jnp.log(z[:, 0]))
    return lse, jnp.sum(r, 0), r.T @ x, jnp.sum(r * d)


def _stats_kn(x, w, mu, s):
    """As :func:`_stats_nk` with ``(K, N)`` intermediates (points on the fast axis)."""
    xt = x.T  # (D, N)
    d = jnp.maximum(jnp.sum(xt * xt, 0)[None] - 2 * mu @ xt + jnp.sum(mu * mu, -1)[:, None], 0.0)
    a = jnp.log(w)[:, None] - d / (2 * s**2)
    top = jnp.max(a, axis=0, keepdims=True)
    e = jnp.exp(a - top)
    z = jnp.sum(e, axis=0, keepdims=True)
    r = e / z
    lse = jnp.sum(top[0] + jnp.log(z[0]))
    return lse, jnp.sum(r, 1), r @ x, jnp.sum(r * d)


def _stats_chunked(x, w, mu, s, block):
    n = x.shape[0]
    n_blocks = n // block
    head = x[: n_blocks * block].reshape(n_blocks, block, x.shape[1])
    parts = jax.lax.map(lambda xb: _stats_nk(xb, w, mu, s), head)
    total = jax.tree_util.tree_map(lambda p: jnp.sum(p, 0), parts)
    if n_blocks * block < n:
        tail = _stats_nk(x[n_blocks * block :], w, mu, s)
        total = jax.tree_util.tree_map(jnp.add, total, tail)
    return total


def make_custom(stats_fn):
    """A summed log-likelihood whose gradient is assembled from one pass of sufficient statistics."""

    @jax.custom_vjp
    def loglik(x, w, mu, s):
        return _fwd(x, w, mu, s)[0]

    def _fwd(x, w, mu, s):
        n, dim = x.shape
        lse, rk, rx, rd = stats_fn(x, w, mu, s)
        value = lse - n * 0.5 * dim * (_LOG_2PI + 2 * jnp.log(s))
        g_w = rk / w
        g_mu = (rx - rk[:, None] * mu) / s**2
        g_s = rd / s**3 - n * dim / s
        return value, (g_w, g_mu, g_s, x)

    def _bwd(res, g):
        g_w, g_mu, g_s, x = res
        return jnp.zeros_like(x), g * g_w, g * g_mu, g * g_s

    loglik.defvjp(_fwd, _bwd)
    return loglik


def autodiff_loglik(x, w, mu, s):
    """probkm's forward pass differentiated by autodiff (probkm's form before its hand-written VJP)."""
    return jnp.sum(_annealed_forward(x, w, mu, s, jnp.asarray(1.0, x.dtype))[0])


def probkm_loglik(x, w, mu, s):
    return jnp.sum(mixture_log_likelihood(x, w, mu, s))


def build_forms(block):
    custom_nk = make_custom(_stats_nk)
    custom_kn = make_custom(_stats_kn)
    custom_chunked = make_custom(lambda x, w, mu, s: _stats_chunked(x, w, mu, s, block))
    grads = {
        "probkm": probkm_loglik,
        "naive": naive_loglik,
        "expanded": expanded_loglik,
        "custom_vjp": custom_nk,
        f"custom_vjp_chunked({block})": custom_chunked,
        "custom_vjp_KN": custom_kn,
        "probkm forward, autodiff": autodiff_loglik,
    }
    compiled = {name: jax.jit(jax.value_and_grad(f, argnums=(1, 2, 3))) for name, f in grads.items()}
    refs = {
        "value only (probkm)": jax.jit(probkm_loglik),
        "read x (jnp.sum(x))": jax.jit(lambda x, w, mu, s: jnp.sum(x)),
    }
    return compiled, refs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-obs", type=int, default=1_000_000)
    parser.add_argument("--clusters", type=int, default=5)
    parser.add_argument("--dim", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--block", type=int, default=65536, help="rows per block of the chunked form")
    parser.add_argument("--quick", action="store_true", help="N = 1e5, 5 repeats")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_obs, args.repeats = 100_000, 5
    n, k, dim = args.n_obs, args.clusters, args.dim

    rng = np.random.default_rng(0)
    true_means = jnp.asarray(rng.normal(scale=4.0, size=(k, dim)), jnp.float32)
    x, _ = sample_mixture(jax.random.key(0), jnp.full(k, 1.0 / k), true_means, 1.0, (n,))
    x = jax.block_until_ready(x.astype(jnp.float32))
    w = jnp.asarray(rng.dirichlet(np.full(k, 5.0)), jnp.float32)
    mu = true_means + jnp.asarray(rng.normal(scale=0.3, size=(k, dim)), jnp.float32)
    s = jnp.asarray(1.1, jnp.float32)
    params = (x, w, mu, s)

    compiled, refs = build_forms(args.block)
    everything = {**compiled, **refs}
    compile_s = {}
    for name, fn in everything.items():
        start = time.perf_counter()
        jax.block_until_ready(fn(*params))
        compile_s[name] = time.perf_counter() - start

    # accuracy against the naive form, evaluated in float64 on the host for the value
    ref_val, ref_grads = compiled["naive"](*params)
    errors = {}
    for name, fn in compiled.items():
        val, grads = fn(*params)
        rel = [abs(float(val) - float(ref_val)) / abs(float(ref_val))]
        for g, r in zip(grads, ref_grads):
            rel.append(float(jnp.max(jnp.abs(g - r)) / (jnp.max(jnp.abs(r)) + 1e-30)))
        errors[name] = max(rel)

    times = {name: [] for name in everything}
    for _ in range(args.repeats):
        for name, fn in everything.items():
            start = time.perf_counter()
            jax.block_until_ready(fn(*params))
            times[name].append(time.perf_counter() - start)
    med = {name: float(np.median(t)) for name, t in times.items()}
    floor_name = min(compiled, key=med.get)
    floor = med[floor_name]

    print(f"N={n} K={k} D={dim} float32, {args.repeats} interleaved rounds, median; floor = {floor_name}")
    print()
    print("| form | median (ms) | min (ms) | / floor | max rel. error vs naive | first call incl. compile (s) |")
    print("|---|---|---|---|---|---|")
    for name in everything:
        err = f"{errors[name]:.1e}" if name in errors else "-"
        print(
            f"| {name} | {1e3 * med[name]:.2f} | {1e3 * min(times[name]):.2f} | {med[name] / floor:.2f} | {err} | {compile_s[name]:.2f} |"
        )
    print()
    print(f"probkm / floor = {med['probkm'] / floor:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
