"""Scale: minibatch SVI, sharding over devices, float64, and no recompilation."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import probkm
from probkm.datasets import synthetic_mixture

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, **env) -> str:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "JAX_PLATFORMS": "cpu", **env}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, env=full_env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_minibatch_map_agrees_with_full_batch_within_sampling_error():
    X = synthetic_mixture(20000, 3, 2, sigma=1.0, seed=1).X
    full = probkm.SphericalGMM(3, random_state=0).fit(X)
    mini = probkm.SphericalGMM(3, optimizer="adam", batch_size=500, num_steps=2000, random_state=0).fit(X)
    order_full, order_mini = np.argsort(full.means_[:, 0]), np.argsort(mini.means_[:, 0])
    standard_error = full.sigma_ / np.sqrt(len(X) / 3)  # of each cluster mean
    assert np.abs(mini.means_[order_mini] - full.means_[order_full]).max() < 3 * standard_error
    assert mini.sigma_ == pytest.approx(full.sigma_, rel=0.01)
    np.testing.assert_allclose(mini.weights_[order_mini], full.weights_[order_full], atol=0.01)


def test_minibatches_need_adam():
    with pytest.raises(ValueError, match="batch_size=100 needs optimizer='adam'"):
        probkm.SphericalGMM(2, batch_size=100).fit(np.random.default_rng(0).normal(size=(300, 2)))


SHARDED = """
import json, jax, jax.numpy as jnp, numpy as np
from probkm.datasets import synthetic_mixture
from probkm.inference.map import fit_map
from probkm.inference.nuts import fit_nuts
from probkm.core.models import spherical_gmm, data_prior_defaults
from probkm.inference.sharding import shard_rows
assert len(jax.devices()) == 2
X = synthetic_mixture(2000, 3, 2, seed=4).X
kw = dict(n_components=3, **data_prior_defaults(X))
init = {"means": jnp.asarray(X[[0, 700, 1400]], jnp.float32)[None], "weights": jnp.full((1, 3), 1 / 3), "sigma": jnp.ones(1)}
single = fit_map(jax.random.key(0), jnp.asarray(X, jnp.float32), spherical_gmm, init, num_steps=300, optimizer="adam", **kw)
x_sharded = shard_rows(X)
assert len(x_sharded.sharding.device_set) == 2
sharded = fit_map(jax.random.key(0), x_sharded, spherical_gmm, init, num_steps=300, optimizer="adam", **kw)
point = {k: jnp.asarray(v) for k, v in single.params.items()}
mcmc = fit_nuts(jax.random.key(1), x_sharded, spherical_gmm, num_warmup=50, num_samples=50, num_chains=2, chain_method="parallel", init_values=point, **kw)
print(json.dumps({k: [np.asarray(single.params[k]).tolist(), np.asarray(sharded.params[k]).tolist()] for k in single.params} | {"loss": [float(single.loss), float(sharded.loss)], "nuts_sigma_shape": list(mcmc.get_samples(group_by_chain=True)["sigma"].shape)}))
"""


@pytest.mark.slow
def test_sharded_likelihood_matches_one_device():
    out = json.loads(run_python(SHARDED, XLA_FLAGS="--xla_force_host_platform_device_count=2"))
    for name in ("means", "weights", "sigma"):
        np.testing.assert_allclose(out[name][0], out[name][1], rtol=1e-4, atol=1e-5)
    assert out["loss"][0] == pytest.approx(out["loss"][1], rel=1e-5)
    assert out["nuts_sigma_shape"] == [2, 50]  # two chains, one per device


def test_shard_rows_needs_divisible_rows():
    from probkm.inference.sharding import shard_rows

    import jax

    if len(jax.devices()) == 1:
        assert shard_rows(np.zeros((3, 2))).shape == (3, 2)
    with pytest.raises(ValueError, match="do not split evenly over 2 devices"):
        shard_rows(np.zeros((3, 2)), devices=jax.devices() * 2)


FLOAT64 = """
import jax, numpy as np
from probkm.algorithms.annealing import anneal, geometric_schedule
import probkm
X = np.random.default_rng(0).normal(size=(300, 2)) + np.repeat([[0, 0], [5, 5], [0, 8]], 100, axis=0)
path = anneal(jax.random.key(0), jax.numpy.asarray(X), geometric_schedule(1.0, 1e-12, 40), n_clusters=3)
km = probkm.AnnealedKMeans(3, t_min=1e-12, random_state=0).fit(X)
print(path.centers.dtype, bool(np.all(np.isfinite(np.asarray(path.path)))), bool(np.isfinite(km.inertia_)), km.cluster_centers_.round(6).tolist())
"""


@pytest.mark.slow
@pytest.mark.parametrize("x64", ["0", "1"])
def test_annealing_to_tiny_temperatures_stays_finite(x64):
    line = run_python(FLOAT64, JAX_ENABLE_X64=x64)
    dtype, path_finite, inertia_finite, _ = line.split(" ", 3)
    assert dtype == ("float64" if x64 == "1" else "float32")
    assert path_finite == "True" and inertia_finite == "True"
