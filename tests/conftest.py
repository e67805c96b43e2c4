"""Shared fixtures: small data sets and fits that many tests reuse, so each compile serves
many assertions."""

import atexit
import os
import shutil
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# the CLI keeps compiled programs on disk: in tests, not in the user's cache folder
if "PROBKM_CACHE_DIR" not in os.environ:
    os.environ["PROBKM_CACHE_DIR"] = tempfile.mkdtemp(prefix="probkm-test-cache-")
    atexit.register(shutil.rmtree, os.environ["PROBKM_CACHE_DIR"], True)

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import probkm  # noqa: E402
from probkm.core.likelihood import sample_mixture  # noqa: E402


def draw_mixture(seed: int, *, n_obs=2000, n_clusters=4, n_dim=3, sigma=0.7, spread=4.0):
    """Data from a shared-sigma mixture with equal weights; returns ``(X, y, means, sigma)``."""
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=spread, size=(n_clusters, n_dim))
    weights = np.full(n_clusters, 1.0 / n_clusters)
    x, z = sample_mixture(jax.random.key(seed), jax.numpy.asarray(weights), jax.numpy.asarray(means), sigma, (n_obs,))
    return np.asarray(x, dtype=float), np.asarray(z), means, sigma


@pytest.fixture(autouse=True, scope="module")
def _release_compiled_functions():
    """Drop JAX's compiled executables after each test module.

    A single process that compiles a few thousand XLA programs (the scikit-learn estimator
    checks alone try dozens of data shapes) grew without bound and once crashed inside the
    XLA compiler; shared fits are data, so clearing costs only recompilation.
    """
    yield
    jax.clear_caches()


@pytest.fixture(scope="session")
def mixture_data():
    """K=4, D=3, N=2000, sigma=0.7 from the shared-sigma mixture."""
    return draw_mixture(0)


@pytest.fixture(scope="session")
def separated_blobs():
    """450 points in 3 well-separated 2-D clusters, sigma=1 (DESIGN section 6)."""
    means = np.array([[0.0, 0.0], [8.0, 0.0], [0.0, 8.0]])
    x, z = sample_mixture(jax.random.key(11), jax.numpy.full(3, 1 / 3), jax.numpy.asarray(means), 1.0, (450,))
    return np.asarray(x, dtype=float), np.asarray(z), means


@pytest.fixture(scope="session")
def map_fit(mixture_data):
    X = mixture_data[0]
    return probkm.SphericalGMM(4, random_state=0).fit(X)


@pytest.fixture(scope="session")
def nuts_fit(separated_blobs):
    X = separated_blobs[0]
    return probkm.SphericalGMM(
        3, inference="mcmc", num_warmup=500, num_samples=1000, num_chains=2, random_state=0
    ).fit(X)


@pytest.fixture(scope="session")
def kmeans_fit(mixture_data):
    return probkm.AnnealedKMeans(4, random_state=0).fit(mixture_data[0])
