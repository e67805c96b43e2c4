"""Which optimiser should the MAP use: compile time, run time and final loss of five BFGS-type solvers.

Every solver minimises the same objective: the negative log joint of
:func:`probkm.core.models.spherical_gmm` in constrained space (no log-Jacobians, as the
``AutoDelta`` MAP optimises it), over unconstrained coordinates (each latent site through
``biject_to`` of its support), divided by the total row weight so that gradients are of
order one. The solvers:

* ``fit_map``: probkm's MAP path, :func:`probkm.inference.map.fit_map` with ``optimizer="bfgs"``
  (at commit cdcab3d NumPyro SVI with ``AutoDelta`` and one ``jax.scipy.optimize.minimize`` solve;
  since then the same objective by :func:`probkm.inference.bfgs.minimize_bfgs`, beside SVI);
* ``jax.scipy``: ``jax.scipy.optimize.minimize(method="BFGS")`` on the objective directly;
* ``optimistix``: ``optimistix.minimise`` with ``optimistix.BFGS(rtol, atol)``;
* ``optimistix.compat``: ``optimistix.compat.minimize(method="bfgs")``;
* ``optax.lbfgs``: ``optax.lbfgs()`` (zoom line search) in a ``lax.while_loop``;
* ``hand BFGS``: :func:`hand_bfgs` below (dense inverse Hessian, backtracking Armijo);
* ``probkm BFGS``: :func:`probkm.inference.bfgs.minimize_bfgs` (dense inverse Hessian, one
  evaluation site, Armijo or approximate Wolfe steps).

Tolerances: gradient max-norm ``GTOL`` on the per-point objective and ``MAXITER`` iterations
(``jax.scipy``, ``optax.lbfgs``, ``hand BFGS``; ``fit_map`` keeps its own settings, the same
``gtol`` with ``200 * n_params`` iterations); optimistix stops on small steps in ``y`` and ``f``
instead, with ``rtol = atol = OPTX_TOL``. Whatever each solver reports, every final point is
judged the same way: its total negative log joint and its gradient max-norm.

Problems, each with rows padded to a bucket and row weights (:func:`probkm.core.shapes.pad_rows`),
on data standardised as probkm does (:class:`probkm.core.scaling.Scaling`): iris with
``K = 3`` and ``K = 12`` (150 rows padded to 256), and a synthetic mixture with ``N = 10,000``,
``D = 8``, ``K = 8`` (padded to 11,648). Starting points are k-means candidates turned into MAP
starts (:func:`probkm.algorithms.kmeans.kmeans_candidates`, :func:`probkm.inference.kmeans_start.map_starts`),
for each of ``SEEDS``: the candidate probkm starts from (lowest negative log joint) and the worst one.
All starts of a problem are solved one after the other (``lax.map``) in one compiled call.

Per solver and problem, in fresh processes (persistent compilation cache off, the same
``XLA_FLAGS`` and thread settings for all): the first call's wall time (trace, compile and run);
in a second fresh process the trace, lower and compile times (``jax.jit(f).trace(...).lower().compile()``);
the median of 5 warm calls; and per start the final loss, iterations and convergence.

    python benchmarks/bench_optimizers.py

Raw results go to ``benchmarks/results/optimizers.json``, the table (written from that file)
to ``benchmarks/results/optimizers.md``; ``--table-only`` rewrites the table from the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SOLVERS = ("fit_map", "jax.scipy", "optimistix", "optimistix.compat", "optax.lbfgs", "hand BFGS", "probkm BFGS")
PROBLEMS = {"iris K=3": ("iris", 3), "iris K=12": ("iris", 12), "synthetic N=10000 D=8 K=8": ("synthetic", 8)}
SEEDS = (0, 1, 2)
GTOL = 1e-5
MAXITER = 500
OPTX_TOL = 1e-6
WARM_CALLS = 5
# one setting for every child process, whatever the calling shell has
CHILD_ENV = {
    "JAX_PLATFORMS": "cpu",
    "JAX_ENABLE_COMPILATION_CACHE": "false",
    "XLA_FLAGS": "",
    "OMP_NUM_THREADS": "1",
    "PYTHONHASHSEED": "0",
}


# ---------------------------------------------------------------- problems and starts


def make_problem(name: str, path: Path) -> None:
    """Write the padded data, row weights and starting points of problem ``name`` to ``path`` (``.npz``)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from probkm.algorithms.annealing import geometric_schedule
    from probkm.algorithms.kmeans import kmeans_candidates
    from probkm.core.models import spherical_gmm
    from probkm.core.scaling import Scaling
    from probkm.core.shapes import pad_rows
    from probkm.datasets import synthetic_mixture
    from probkm.inference.kmeans_start import map_starts
    from probkm.inference.map import negative_log_joint

    data, k = PROBLEMS[name]
    if data == "iris":
        from sklearn.datasets import load_iris

        X = load_iris().data
    else:
        X = synthetic_mixture(10_000, n_components=8, n_features=8, seed=0).X
    x, w = pad_rows(Scaling.of(X).forward(X))
    x, w = jnp.asarray(x, jnp.float32), jnp.asarray(w, jnp.float32)
    starts = []
    for seed in SEEDS:
        # SphericalGMM's defaults: 60 temperatures down to 1e-3, 3 k-means++ restarts
        cands = kmeans_candidates(jax.random.key(seed), x, geometric_schedule(1.0, 1e-3, 60), n_clusters=k, n_init=3, row_weights=w)
        cand_starts = map_starts(cands, jnp.sum(w), x.shape[1], w)
        nlj = np.asarray(negative_log_joint(x, spherical_gmm, cand_starts, n_components=k, row_weights=w))
        for i in (int(np.argmin(nlj)), int(np.argmax(nlj))):
            starts.append({s: np.asarray(v[i]) for s, v in cand_starts.items()})
    np.savez(path, x=np.asarray(x), w=np.asarray(w), k=k, **{s: np.stack([st[s] for st in starts]) for s in starts[0]})

    # the float64 optimum from each start, for reference: float32 cannot resolve the last digits.
    # By hand_bfgs: jax.scipy's BFGS stops early in float64 too (its zoom line search fails)
    jax.config.update("jax_enable_x64", True)
    x64, w64, _, starts64 = load_problem(path, jnp.float64)
    objective, _, unconstrain = make_objective(x64, w64, k, starts64)
    u0s = unconstrain(starts64)
    polish = jax.jit(lambda u0s: jax.lax.map(lambda u0: hand_bfgs(lambda u: objective(u, x64, w64), u0, 1e-8, 2000)[:2], u0s))
    u_ref, nit = polish(u0s)
    start_loss, _ = judge(problem_file=path, u=np.asarray(u0s))
    ref_loss, ref_grad = judge(problem_file=path, u=np.asarray(u_ref))
    return {"n_rows": int(np.sum(np.asarray(w) > 0)), "padded_rows": int(x.shape[0]), "start_loss": start_loss,
            "reference_loss": ref_loss, "reference_grad_max_norm": ref_grad, "reference_n_iter": np.asarray(nit).tolist()}


def load_problem(path: Path, dtype=None):
    """Data, row weights, ``K`` and starts (site name to ``(n_starts, ...)``) from :func:`make_problem`'s file.

    ``dtype`` float64 needs ``jax_enable_x64``; the file holds float32 (probkm's precision).
    """
    import jax.numpy as jnp
    import numpy as np

    raw = np.load(path)
    starts = {s: jnp.asarray(raw[s], dtype) for s in ("means", "sigma", "weights")}
    return jnp.asarray(raw["x"], dtype), jnp.asarray(raw["w"], dtype), int(raw["k"]), starts


def judge(problem_file: Path, u) -> tuple[list, list]:
    """Total negative log joint and per-point gradient max-norm at flat unconstrained points ``u`` ``(S, n)``, in float64.

    In float32 the total at ``N = 1e4`` is only good to about 0.01, too coarse to rank the
    solvers; the points themselves are what each solver found (in float32). Switches this
    process to float64: call it after every timing.
    """
    import jax
    import jax.numpy as jnp
    import numpy as np

    jax.config.update("jax_enable_x64", True)
    x, w, k, starts = load_problem(problem_file, jnp.float64)
    objective, _, _ = make_objective(x, w, k, starts)

    @jax.jit
    @jax.vmap
    def one(v):
        value, grad = jax.value_and_grad(objective)(v, x, w)
        return value * jnp.sum(w), jnp.max(jnp.abs(grad))

    loss, gnorm = (np.asarray(a) for a in one(jnp.asarray(np.asarray(u), jnp.float64)))
    return [float(v) if np.isfinite(v) else None for v in loss], [float(v) if np.isfinite(v) else None for v in gnorm]


def make_objective(x, w, k, starts):
    """The per-point negative log joint over flat unconstrained coordinates, and the maps to and from them.

    Returns
    -------
    objective : callable
        ``objective(u, x, w)``, ``-log p(x, constrain(u)) / sum(w)``.
    constrain : callable
        Flat ``u`` to a dict of constrained site values.
    unconstrain : callable
        The inverse.
    """
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree
    from numpyro import handlers
    from numpyro.distributions.transforms import biject_to
    from numpyro.infer.util import log_density

    from probkm.core.models import spherical_gmm

    one = {s: v[0] for s, v in starts.items()}
    trace = handlers.trace(handlers.substitute(handlers.seed(spherical_gmm, 0), data=one)).get_trace(x, n_components=k, row_weights=w)
    transforms = {s: biject_to(site["fn"].support) for s, site in trace.items() if site["type"] == "sample" and not site["is_observed"]}
    _, unravel = ravel_pytree({s: transforms[s].inv(v) for s, v in one.items()})

    def constrain(u):
        return {s: transforms[s](v) for s, v in unravel(u).items()}

    def unconstrain(params):
        return ravel_pytree({s: transforms[s].inv(v) for s, v in params.items()})[0]

    def objective(u, x, w):
        log_joint, _ = log_density(spherical_gmm, (x,), {"n_components": k, "row_weights": w}, constrain(u))
        return -log_joint / jnp.sum(w)

    return objective, constrain, jax.jit(jax.vmap(unconstrain))


# ---------------------------------------------------------------- the solvers


def hand_bfgs(fun, u0, gtol=GTOL, maxiter=MAXITER):
    """BFGS with a dense inverse Hessian and a backtracking Armijo line search.

    One loop whose every pass evaluates ``fun`` once (at the start, at a step, or at a
    backtracked step), so that the objective and its gradient are traced and compiled once.

    Parameters
    ----------
    fun : callable
        Scalar function of a flat array.
    u0 : Array, shape (n,)
        Start.
    gtol : float
        Stop when the gradient's max-norm is at most this.
    maxiter : int
        Most iterations.

    Returns
    -------
    u : Array, shape (n,)
    n_iter : Array
    status : Array
        0: gradient at most ``gtol``; 1: ``maxiter`` reached; 2: no lower value found along the
        search direction (20 halvings of the step, or steps too small to move ``u``): the
        precision's resolution reached, or worse.
    """
    import jax
    import jax.numpy as jnp

    eye = jnp.eye(u0.size, dtype=u0.dtype)

    def stalled(c):
        _, u, _, _, _, p, t, n_back = c
        return (n_back > 20) | jnp.all(u + t * p == u)  # smaller steps would not move u at this precision

    def keep_going(c):
        k, _, _, g, _, _, _, _ = c
        return (k < 0) | ((k < maxiter) & (jnp.max(jnp.abs(g)) > gtol) & ~stalled(c))

    def evaluate(c):
        k, u, f, g, h, p, t, n_back = c
        f_t, g_t = jax.value_and_grad(fun)(u + t * p)
        # `f_t < f` too: near the optimum `f + 1e-4 t slope` rounds to `f` in float32 and equal
        # values would pass for ever; a NaN fails both tests, so it backtracks
        accept = (f_t <= f + 1e-4 * t * (g @ p)) & (f_t < f)
        s, y = t * p, g_t - g
        sy = s @ y
        # the first step rescales the identity to the curvature seen (Nocedal & Wright eq. 6.20)
        h = jnp.where(k == 0, sy / (y @ y) * eye, h)
        hy, rho = h @ y, 1.0 / sy
        updated = h - rho * (jnp.outer(s, hy) + jnp.outer(hy, s)) + (rho * rho * (y @ hy) + rho) * jnp.outer(s, s)
        # skip updates without clearly positive curvature (and the start's, which has no step)
        curved = (k >= 0) & (sy > 1e-6 * jnp.linalg.norm(s) * jnp.linalg.norm(y))
        h = jnp.where(curved, updated, jnp.where(k <= 0, eye, h))
        p_new = -h @ g_t
        p_new = jnp.where(g_t @ p_new < 0, p_new, -g_t)  # an estimate gone indefinite by rounding: steepest descent
        accepted = (k + 1, u + s, f_t, g_t, h, p_new, jnp.ones_like(t), 0)
        backtracked = (k, u, f, g, c[4], p, t * 0.5, n_back + 1)
        return jax.tree_util.tree_map(lambda a, b: jnp.where(accept, a, b), accepted, backtracked)

    # k = -1: the first pass evaluates the start itself (step 0), and accepts it (f = inf)
    start = (-1, u0, jnp.asarray(jnp.inf, u0.dtype), jnp.zeros_like(u0), eye, jnp.zeros_like(u0), jnp.ones((), u0.dtype), 0)
    end = jax.lax.while_loop(keep_going, evaluate, start)
    k, u, _, g = end[:4]
    return u, k, _status(jnp.max(jnp.abs(g)) <= gtol, k >= maxiter, stalled(end))


def _status(done, out_of_steps, stuck):
    """A solver's own reason to stop, as a code: 0 its criterion met, 1 out of iterations, 2 stalled or failed."""
    import jax.numpy as jnp

    return jnp.where(done, 0, jnp.where(out_of_steps, 1, jnp.where(stuck, 2, 3)))


def reverse_mode(objective):
    """``objective`` with a JVP rule made of its reverse-mode gradient.

    Optimistix differentiates by ``jax.linearize`` then ``jax.linear_transpose``; probkm's
    likelihood has a custom VJP (with symbolic zeros) that fails under that transpose
    (``TypeError: 'TypedFloat' object is not subscriptable``). With this rule linearising
    costs one ``value_and_grad``, as for the other solvers.
    """
    import jax

    @jax.custom_jvp
    def f(u, x, w):
        return objective(u, x, w)

    @f.defjvp
    def f_jvp(primals, tangents):
        value, grad = jax.value_and_grad(objective)(*primals)
        return value, grad @ tangents[0]  # x and w are data, never differentiated

    return f


def solver_fn(name: str, objective):
    """``solve(x, w, u0s) -> (u (S, n), n_iter (S,), status (S,))`` for the solvers on flat coordinates.

    ``status`` as :func:`_status` codes it.
    """
    import jax
    import jax.numpy as jnp

    if name == "jax.scipy":

        def one(u0, x, w):
            r = jax.scipy.optimize.minimize(objective, u0, (x, w), method="BFGS", options={"gtol": GTOL, "maxiter": MAXITER})
            return r.x, r.nit, _status(r.status == 0, r.status == 1, r.status >= 2)

    elif name == "optimistix":
        import optimistix as optx

        def one(u0, x, w):
            smooth = reverse_mode(objective)
            sol = optx.minimise(lambda u, a: smooth(u, *a), optx.BFGS(rtol=OPTX_TOL, atol=OPTX_TOL), u0, (x, w), max_steps=MAXITER, throw=False)
            ok, out_of_steps = sol.result == optx.RESULTS.successful, sol.result == optx.RESULTS.nonlinear_max_steps_reached
            # accepted steps, comparable with the others' iterations (num_steps counts backtracks too)
            return sol.value, sol.state.num_accepted_steps, _status(ok, out_of_steps, True)

    elif name == "optimistix.compat":
        import optimistix as optx

        def one(u0, x, w):
            r = optx.compat.minimize(reverse_mode(objective), u0, (x, w), method="bfgs", tol=OPTX_TOL, options={"maxiter": MAXITER})
            return r.x, r.nit, _status(r.status == 0, r.status == 1, True)

    elif name == "optax.lbfgs":
        import optax
        import optax.tree_utils as otu

        def one(u0, x, w):
            def fun(u):
                return objective(u, x, w)

            opt = optax.lbfgs()
            value_and_grad = optax.value_and_grad_from_state(fun)

            def step(carry):
                u, state, _ = carry
                value, grad = value_and_grad(u, state=state)
                updates, state = opt.update(grad, state, u, value=value, grad=grad, value_fn=fun)
                return optax.apply_updates(u, updates), state, value

            # optax's documented loop stops on the gradient only; in float32 that norm is out of
            # reach, so it also stops once an iteration no longer lowers the value
            def stalled(carry):
                _, state, previous = carry
                return otu.tree_get(state, "value") >= previous

            def keep_going(carry):
                _, state, _ = carry
                count, grad = otu.tree_get(state, "count"), otu.tree_get(state, "grad")
                return (count == 0) | ((count < MAXITER) & (jnp.max(jnp.abs(grad)) > GTOL) & ~stalled(carry))

            carry = jax.lax.while_loop(keep_going, step, (u0, opt.init(u0), jnp.asarray(jnp.inf, u0.dtype)))
            count, grad = otu.tree_get(carry[1], "count"), otu.tree_get(carry[1], "grad")
            return carry[0], count, _status(jnp.max(jnp.abs(grad)) <= GTOL, count >= MAXITER, stalled(carry))

    elif name == "hand BFGS":

        def one(u0, x, w):
            return hand_bfgs(lambda u: objective(u, x, w), u0)

    elif name == "probkm BFGS":
        from probkm.inference.bfgs import minimize_bfgs

        def one(u0, x, w):
            r = minimize_bfgs(lambda u: objective(u, x, w), u0, max_iter=MAXITER, gtol=GTOL)
            return r.x, r.n_iter, _status(r.converged, r.n_iter >= MAXITER, ~r.converged & (r.n_iter < MAXITER))

    else:
        raise ValueError(name)

    def solve(x, w, u0s):
        # lax.map, as fit_map runs its restarts: a vmapped while_loop runs all until the slowest stops
        return jax.lax.map(lambda u0: one(u0, x, w), u0s)

    return solve


# ---------------------------------------------------------------- one measurement per process


def _block(tree):
    import jax

    return jax.block_until_ready(tree)


def measure(solver: str, problem_file: Path, mode: str) -> dict:
    """One solver on one problem, in this (fresh) process.

    ``mode="first"``: first call, warm calls and per-start results; ``mode="aot"``: trace,
    lower and compile times. Times are wall seconds, and CPU seconds of this process beside
    them: the machine is shared, and CPU time is the less disturbed of the two.
    """
    import jax
    import numpy as np

    from probkm.core.models import spherical_gmm
    from probkm.inference.map import _map_restarts, fit_map
    from probkm.inference.model_kwargs import split_model_kwargs

    x, w, k, starts = load_problem(problem_file)
    objective, _, unconstrain = make_objective(x, w, k, starts)
    u0s = _block(unconstrain(starts))
    key = jax.random.key(0)

    if solver == "fit_map":
        static, traced = split_model_kwargs({"n_components": k, "row_weights": w})
        map_kwargs = {"model": spherical_gmm, "static_kwargs": static, "optimizer": "bfgs", "learning_rate": 0.05, "num_steps": 1}

        def call():
            return fit_map(key, x, spherical_gmm, starts, optimizer="bfgs", num_steps=1, n_components=k, row_weights=w)

        def aot():
            return _map_restarts.trace(key, x, starts, traced, **map_kwargs)
    else:
        jitted = jax.jit(solver_fn(solver, objective))

        def call():
            return _block(jitted(x, w, u0s))

        def aot():
            return jitted.trace(x, w, u0s)

    def timed(fn):
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - wall, time.process_time() - cpu

    if mode == "aot":
        traced_fn, trace_s, trace_cpu = timed(aot)
        lowered, lower_s, lower_cpu = timed(traced_fn.lower)
        _, compile_s, compile_cpu = timed(lowered.compile)
        return {"trace_s": trace_s, "lower_s": lower_s, "compile_s": compile_s, "trace_cpu_s": trace_cpu, "lower_cpu_s": lower_cpu, "compile_cpu_s": compile_cpu}

    out, first, first_cpu = timed(call)
    warm = [timed(call)[1] for _ in range(WARM_CALLS)]

    if solver == "fit_map":
        # fit_map keeps only the best restart's point; its compiled function (already in
        # this process's cache: no new compilation) returns every restart's
        params, _, _, _ = _map_restarts(key, x, starts, traced, **map_kwargs)
        u, n_iter, status = unconstrain(params), out.n_iter, [None] * len(out.n_iter)
    else:
        u, n_iter, status = out
        status = np.asarray(status).astype(int).tolist()

    loss, gnorm = judge(problem_file, np.asarray(u))
    return {
        "first_call_s": first,
        "first_call_cpu_s": first_cpu,
        "warm_s": warm,
        "warm_median_s": statistics.median(warm),
        "loss": loss,
        "grad_max_norm": gnorm,
        "n_iter": np.asarray(n_iter).astype(int).tolist(),
        "status": status,
        "n_params": int(u0s.shape[1]),
        "dtype": str(x.dtype),
    }


def _child(args: list[str], pythonpath: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PROBKM_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR")}
    env.update(CHILD_ENV, PYTHONPATH=str(pythonpath))
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the report


def _commit() -> str:
    tree = HERE.parent
    try:
        head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(tree), "status", "--porcelain", "--", "probkm", "benchmarks/bench_optimizers.py"], capture_output=True, text=True, check=False).stdout.strip()
        return head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _fmt(v, spec):
    return "—" if v is None else format(v, spec)


def table(results: dict) -> str:
    """The Markdown table of ``results`` (the saved JSON)."""
    meta = results["meta"]
    lines = [
        (
            f"Commit {meta['commit']}; {meta['cores']} cores (shared with other work while measured); solvers in {meta['dtype']}; "
            f"fresh process per measurement, persistent compilation cache off, XLA_FLAGS={meta['env']['XLA_FLAGS']!r}, "
            f"OMP_NUM_THREADS={meta['env']['OMP_NUM_THREADS']}; jax {meta['versions']['jax']}, numpyro {meta['versions']['numpyro']}, "
            f"optax {meta['versions']['optax']}, optimistix {meta['versions']['optimistix']}."
        ),
        "",
        (
            f"Each call solves {meta['n_starts']} starts (seeds {', '.join(map(str, meta['seeds']))}: the best and the worst "
            f"k-means candidate of each) one after the other. gtol {meta['gtol']:g} (gradient max-norm of the per-point "
            f"objective), maxiter {meta['maxiter']}; optimistix: rtol = atol = {meta['optx_tol']:g}."
        ),
        "",
        (
            "first call: the first call in a fresh process (trace + compile + run), wall seconds (CPU seconds); "
            "trace / lower / compile: `jax.jit(f).trace(...).lower().compile()` in another fresh process, wall (compile's CPU); "
            f"warm: median of {meta['warm_calls']} further calls. Losses are the total negative log joint, evaluated in float64 "
            "at the solver's (float32) point. best loss: the lowest over starts, what the MAP keeps. excess: final loss minus "
            "the float64 optimum from the same start (BFGS to gradient 1e-8), worst start (negative: a better optimum than "
            "that one). stops: starts where the solver's own criterion held / it ran out of iterations / it found no lower "
            "value along its search direction (fit_map does not say). grad: largest final gradient max-norm (float64) of "
            "the per-point objective."
        ),
        "",
        "| problem | solver | first call, s | trace / lower / compile, s | warm, ms | best loss | excess | stops | iterations | grad |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for problem, runs in results["problems"].items():
        ref = results["references"][problem]
        lines.append(
            f"| {problem} | float64 optimum | | | | {min(ref['reference_loss']):.3f} | | | {min(ref['reference_n_iter'])}-"
            f"{max(ref['reference_n_iter'])} | {max(ref['reference_grad_max_norm']):.0e} |"
        )
        lines.append(f"| {problem} | start | | | | {min(ref['start_loss']):.3f} | {max(a - b for a, b in zip(ref['start_loss'], ref['reference_loss'])):.3g} | | | |")
        for solver, run in runs.items():
            first, aot = run["first"], run["aot"]
            if "error" in first:
                lines.append(f"| {problem} | {solver} | error: {first['error']} | | | | | | | |")
                continue
            if "error" in aot:
                stages = "error"
            else:
                stages = f"{aot['trace_s']:.2f} / {aot['lower_s']:.2f} / {aot['compile_s']:.2f} ({aot['compile_cpu_s']:.2f})"
            losses = first["loss"]
            finite = [v for v in losses if v is not None]
            excess = max((v - r if v is not None else float("inf")) for v, r in zip(losses, ref["reference_loss"])) if finite else None
            status = first["status"]
            stops = "—" if all(c is None for c in status) else " / ".join(str(status.count(c)) for c in (0, 1, 2))
            gmax = max((g for g in first["grad_max_norm"] if g is not None), default=None)
            lines.append(
                f"| {problem} | {solver} | {first['first_call_s']:.2f} ({first['first_call_cpu_s']:.2f}) | {stages} | "
                f"{first['warm_median_s'] * 1000:.1f} | {_fmt(min(finite) if finite else None, '.3f')} | {_fmt(excess, '.2g')} | "
                f"{stops} | {min(first['n_iter'])}-{max(first['n_iter'])} | {_fmt(gmax, '.0e')} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--table-only", action="store_true", help="rewrite the table from the saved JSON")
    parser.add_argument("--solvers", nargs="+", choices=SOLVERS, default=list(SOLVERS))
    parser.add_argument("--problems", nargs="+", choices=list(PROBLEMS), default=list(PROBLEMS))
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOLVER", "PROBLEM_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--make-problem", nargs=2, metavar=("PROBLEM", "FILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, solver, path = args.child
        print(json.dumps(measure(solver, Path(path), mode)))
        return
    if args.make_problem:
        print(json.dumps(make_problem(args.make_problem[0], Path(args.make_problem[1]))))
        return
    if args.table_only:
        text = table(json.loads((RESULTS / "optimizers.json").read_text()))
        (RESULTS / "optimizers.md").write_text(text + "\n")
        print(text)
        return

    import importlib.metadata as md

    results = {
        "meta": {
            "commit": _commit(),
            "cores": os.cpu_count(),
            "env": CHILD_ENV,
            "versions": {p: md.version(p) for p in ("jax", "jaxlib", "numpyro", "optax", "optimistix")},
            "seeds": list(SEEDS),
            "n_starts": 2 * len(SEEDS),
            "gtol": GTOL,
            "maxiter": MAXITER,
            "optx_tol": OPTX_TOL,
            "warm_calls": WARM_CALLS,
            "dtype": None,
        },
        "references": {},
        "problems": {},
    }
    tree = HERE.parent
    with tempfile.TemporaryDirectory() as tmp:
        for problem in args.problems:
            path = Path(tmp) / f"problem{len(results['problems'])}.npz"
            made = _child(["--make-problem", problem, str(path)], tree)
            if "error" in made:
                raise RuntimeError(f"{problem}: {made['error']}")
            results["references"][problem] = made
            runs = results["problems"][problem] = {}
            for solver in args.solvers:
                runs[solver] = {mode: _child(["--child", mode, solver, str(path)], tree) for mode in ("first", "aot")}
                first = runs[solver]["first"]
                results["meta"]["dtype"] = results["meta"]["dtype"] or first.get("dtype")
                print(f"{problem:28s} {solver:18s} " + (first.get("error") or f"first {first['first_call_s']:.2f} s, warm {first['warm_median_s'] * 1000:.1f} ms, compile {runs[solver]['aot'].get('compile_s', float('nan')):.2f} s"), flush=True)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "optimizers.json").write_text(json.dumps(results, indent=2))
    text = table(results)
    (RESULTS / "optimizers.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
