"""Progress bars of NUTS runs (probkm.inference.progress): one bar per chain, updated from inside
the compiled run, no recompilation for a new run, nothing printed without them."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.base import clone
from tqdm.std import tqdm

import probkm
from probkm._checks import InputError
from probkm.cli.commands import main
from probkm.core.models import spherical_gmm
from probkm.core.programs import program_count
from probkm.inference import nuts, progress
from probkm.inference.nuts import fit_nuts
from probkm.inference.progress import show_progress

RNG = np.random.default_rng(0)
X = jnp.asarray(np.vstack([RNG.normal(-2.0, 0.5, (20, 2)), RNG.normal(2.0, 0.5, (20, 2))]), jnp.float32)
INIT = {"weights": jnp.full(2, 0.5), "means": jnp.array([[-2.0, -2.0], [2.0, 2.0]]), "sigma": 0.5}
SETTINGS = {"num_warmup": 50, "num_samples": 50, "num_chains": 2, "init_values": INIT, "n_components": 2}


class RecordingBar(tqdm):
    """A text bar into a string that keeps (description, postfix, count) at every update."""

    def __init__(self, **kwargs):
        super().__init__(file=io.StringIO(), mininterval=0, miniters=1, **kwargs)
        self.history = []

    def update(self, n=1):
        shown = super().update(n)
        self.history.append((self.desc, self.postfix, self.n))
        return shown


@pytest.fixture
def bars(monkeypatch):
    made = []

    def factory(**kwargs):
        made.append(RecordingBar(**kwargs))
        return made[-1]

    monkeypatch.setattr(progress, "_new_bar", factory)
    return made


def _divergences(postfix: str) -> int:
    assert postfix.startswith("divergences=")
    return int(postfix.split("=")[1])


@pytest.mark.parametrize("chain_method", ["sequential", "vectorized"])
def test_each_chain_reaches_the_end_through_warmup_then_sampling(bars, chain_method):
    result = fit_nuts(jax.random.key(0), X, spherical_gmm, chain_method=chain_method, progress_bar=True, **SETTINGS)
    assert len(bars) == 2 and not progress._RUNS  # the run's entry is gone with it
    diverging = np.asarray(result.get_extra_fields(group_by_chain=True)["diverging"])
    for chain, bar in enumerate(bars):
        assert bar.total == 100 and bar.n == 100 and bar.disable  # full, then closed
        phases = [desc.rstrip(": ").split()[-1] for desc, _, _ in bar.history]
        assert all(desc.startswith(f"chain {chain + 1}/2 ") for desc, _, _ in bar.history)
        assert phases[0] == "warmup" and phases[-1] == "sampling"
        assert phases == sorted(phases, key=["warmup", "sampling"].index)  # warmup, then sampling, never back
        counts = [n for _, _, n in bar.history]
        assert counts == sorted(counts) and counts[0] == 1
        assert 20 <= len(bar.history) <= 102  # about 50 reports a chain, not one per NUTS step's tree
        # the count restarts with sampling, and ends at the kept draws' divergences
        assert _divergences(bar.history[-1][1]) == int(diverging[chain].sum())
        assert "100%" in bar.fp.getvalue()


def test_a_second_run_reuses_the_compiled_program_and_the_bar_leaves_the_draws_alone(bars, capsys):
    first = fit_nuts(jax.random.key(3), X, spherical_gmm, progress_bar=True, **SETTINGS)
    count, cached = program_count(), nuts._nuts_chains._cache_size()
    second = fit_nuts(jax.random.key(4), X, spherical_gmm, progress_bar=True, **SETTINGS)
    assert (program_count(), nuts._nuts_chains._cache_size()) == (count, cached)
    assert len(bars) == 4 and all(bar.n == 100 for bar in bars)  # the second run moved its own bars
    assert not np.array_equal(np.asarray(first.samples["sigma"]), np.asarray(second.samples["sigma"]))

    capsys.readouterr()
    quiet = fit_nuts(jax.random.key(3), X, spherical_gmm, progress_bar=False, **SETTINGS)
    assert len(bars) == 4  # no bar made
    assert capsys.readouterr() == ("", "")
    for name in ("sigma", "means"):
        np.testing.assert_array_equal(np.asarray(quiet.samples[name]), np.asarray(first.samples[name]))


def test_progress_bar_must_be_a_bool():
    with pytest.raises(InputError, match="progress_bar must be true or false; got 'yes' of type str."):
        fit_nuts(jax.random.key(0), X, spherical_gmm, progress_bar="yes", **SETTINGS)
    with pytest.raises(InputError, match="progress_bar must be None or true or false; got 1 of type int."):
        probkm.SphericalGMM(2, inference="mcmc", progress_bar=1).fit(np.asarray(X))


class _Stream(io.StringIO):
    def __init__(self, tty):
        super().__init__()
        self.tty = tty

    def isatty(self):
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
def test_the_default_shows_bars_where_someone_watches(monkeypatch, tty):
    # tqdm's convention: bars at a terminal (or in a notebook), none in a pipe, a log file or a test run
    monkeypatch.setattr(sys, "stderr", _Stream(tty))
    assert show_progress(None) is tty
    assert show_progress(True) is True and show_progress(False) is False


def test_the_estimator_default_is_auto_and_a_clone_keeps_the_setting():
    # saving writes get_params(), so the setting round-trips (tests/test_persistence.py)
    assert probkm.SphericalGMM().progress_bar is None
    assert clone(probkm.SphericalGMM(progress_bar=False)).get_params()["progress_bar"] is False


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")  # 30 draws are too few, as meant
def test_cli_shows_bars_on_stderr_and_none_with_quiet(tmp_path, capsys):
    data = tmp_path / "data.npy"
    np.save(data, np.asarray(X, dtype=float))
    argv = ["fit", str(data), "-k", "2", "--inference", "mcmc", "--num-warmup", "30", "--num-samples", "30", "--num-chains", "1", "--seed", "0"]
    assert main([*argv, "--out", str(tmp_path / "loud")]) == 0
    out, err = capsys.readouterr()
    assert "chain 1/1 sampling" in err and "100%" in err and "divergences=" in err
    assert "chain" not in out  # stdout holds only the result line
    assert main([*argv, "--out", str(tmp_path / "quiet"), "--quiet"]) == 0
    assert capsys.readouterr() == ("", "")
    params = [json.loads((tmp_path / name / "params.json").read_text()) for name in ("loud", "quiet")]
    assert params[0]["sigma"] == params[1]["sigma"]  # the bar does not change the draws


PARALLEL = """
import jax, jax.numpy as jnp, numpy as np
from tqdm.std import tqdm
from probkm.core.models import spherical_gmm
from probkm.inference import progress
from probkm.inference.nuts import fit_nuts
from probkm.inference.progress import show_progress
assert len(jax.devices()) == 2
made = []
progress._new_bar = lambda **kw: made.append(tqdm(mininterval=0, **kw)) or made[-1]
rng = np.random.default_rng(0)
x = jnp.asarray(np.vstack([rng.normal(-2.0, 0.5, (20, 2)), rng.normal(2.0, 0.5, (20, 2))]), jnp.float32)
init = {"weights": jnp.full(2, 0.5), "means": jnp.array([[-2.0, -2.0], [2.0, 2.0]]), "sigma": 0.5}
fit_nuts(jax.random.key(0), x, spherical_gmm, num_warmup=30, num_samples=30, num_chains=2, chain_method="parallel",
         init_values=init, n_components=2, progress_bar=True)
print([(bar.n, bar.desc) for bar in made])
"""


@pytest.mark.slow
def test_parallel_chains_report_from_their_devices():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "JAX_PLATFORMS": "cpu",
           "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", PARALLEL], capture_output=True, text=True, env=env, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    line = done.stdout.strip().splitlines()[-1]
    assert line == "[(60, 'chain 1/2 sampling: '), (60, 'chain 2/2 sampling: ')]"
