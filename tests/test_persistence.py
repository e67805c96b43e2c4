import json

import numpy as np
import pytest

import probkm
from probkm.estimators import persistence

# tiny NUTS runs: their convergence warnings are expected, and tested in test_convergence.py
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def small():
    from probkm.datasets import synthetic_mixture

    return synthetic_mixture(200, seed=3).X


@pytest.mark.parametrize(
    "make",
    [
        lambda: probkm.SphericalGMM(3, random_state=0),
        lambda: probkm.SphericalGMM(3, inference="mcmc", num_warmup=30, num_samples=30, num_chains=1, random_state=0),
        lambda: probkm.AnnealedKMeans(3, random_state=0),
    ],
)
def test_round_trip_gives_identical_predictions_and_samples(make, small, tmp_path):
    est = make().fit(small)
    est.save(tmp_path / "model")
    back = probkm.load(tmp_path / "model")
    assert type(back) is type(est) and back.get_params() == est.get_params()
    np.testing.assert_array_equal(back.predict(small), est.predict(small))
    np.testing.assert_array_equal(back.sample(25)[0], est.sample(25)[0])
    np.testing.assert_array_equal(back.score(small), est.score(small))
    manifest = json.loads((tmp_path / "model" / "estimator.json").read_text())
    assert {"probkm", "jax", "numpyro", "arviz", "numpy"} <= set(manifest["versions"])
    if hasattr(est, "idata_"):
        np.testing.assert_array_equal(back.idata_.posterior["sigma"].values, est.idata_.posterior["sigma"].values)


def test_save_refuses_to_overwrite_unless_asked(small, tmp_path):
    a = probkm.AnnealedKMeans(3, random_state=0).fit(small)
    b = probkm.AnnealedKMeans(2, random_state=0).fit(small)
    a.save(tmp_path / "m")
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        b.save(tmp_path / "m")
    assert probkm.load(tmp_path / "m").n_clusters == 3
    b.save(tmp_path / "m", overwrite=True)
    assert probkm.load(tmp_path / "m").n_clusters == 2
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no staging folders left


def test_interrupted_save_keeps_the_previous_model(small, tmp_path, monkeypatch):
    probkm.AnnealedKMeans(3, random_state=0).fit(small).save(tmp_path / "m")

    def broken(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(persistence.np, "savez", broken)
    with pytest.raises(KeyboardInterrupt):
        probkm.AnnealedKMeans(2, random_state=0).fit(small).save(tmp_path / "m", overwrite=True)
    monkeypatch.undo()
    assert probkm.load(tmp_path / "m").n_clusters == 3
    assert [p.name for p in tmp_path.iterdir()] == ["m"]


def test_unfitted_estimators_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        probkm.AnnealedKMeans(2).save(tmp_path / "m")


@pytest.mark.parametrize(
    "damage, error, message",
    [
        (lambda d: (d / "estimator.json").write_text('{"format": 1, "cla'), ValueError, "estimator.json: not a valid probkm manifest"),
        (lambda d: (d / "estimator.json").write_text('{"hello": "world"}'), ValueError, "estimator.json: not a probkm estimator manifest"),
        (lambda d: (d / "arrays.npz").write_bytes(b"PK\x03\x04 truncated"), ValueError, "arrays.npz: unreadable"),
        (lambda d: (d / "arrays.npz").unlink(), FileNotFoundError, "arrays.npz: not found"),
        (lambda d: (d / "estimator.json").unlink(), FileNotFoundError, "estimator.json: not found"),
    ],
)
def test_damaged_files_are_named(small, tmp_path, damage, error, message):
    probkm.AnnealedKMeans(3, random_state=0).fit(small).save(tmp_path / "m")
    damage(tmp_path / "m")
    with pytest.raises(error, match=message):
        probkm.load(tmp_path / "m")
