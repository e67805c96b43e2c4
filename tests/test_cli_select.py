"""``probkm select``: the files it writes, its configuration and its one-line errors."""

import json
from pathlib import Path

import numpy as np
import pytest

from probkm.cli.commands import main
from probkm.cli.config import ConfigError, SelectConfig, load_select_config
from probkm.datasets import synthetic_mixture

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory):
    X = synthetic_mixture(120, n_components=2, n_features=2, sigma=1.0, separation=8.0, seed=3).X
    path = tmp_path_factory.mktemp("data") / "blobs.csv"
    np.savetxt(path, X, delimiter=",", header="a,b", comments="")
    return path


def test_select_bic_writes_table_figure_report_and_generated_data(data_csv, tmp_path):
    out = tmp_path / "out"
    assert main(["select", str(data_csv), "--k", "1:3", "--out", str(out), "--quiet", "--seed", "0"]) == 0
    assert {"selection.csv", "selection.json", "criterion.png", "report.md", "generated.csv"} <= {p.name for p in out.iterdir()}
    table = json.loads((out / "selection.json").read_text())
    assert table["criterion"] == "bic" and table["n_components"] == 2 and table["candidates"] == [1, 2, 3]
    assert "**Chosen: K = 2.**" in (out / "report.md").read_text()
    generated = np.loadtxt(out / "generated.csv", delimiter=",", skiprows=1)
    assert generated.shape == (120, 3) and set(generated[:, 2].astype(int)) == {2}
    assert (out / "selection.csv").read_text().startswith("n_components,n_parameters,log_likelihood,bic")


def test_select_annealing_from_the_config_file(data_csv, tmp_path):
    out = tmp_path / "stairs"
    args = ["select", str(data_csv), "--config", str(ROOT / "configs" / "select.yaml"), "--criterion", "annealing", "--k", "1:5",
            "--set", "n_bootstrap=2", "--set", "n_generate=50", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert (out / "staircase.png").exists()
    report = (out / "report.md").read_text()
    assert "Splits against the analytic critical temperatures" in report and "Bootstrap choices:" in report
    assert np.loadtxt(out / "generated.csv", delimiter=",", skiprows=1).shape == (50, 3)


def test_select_config_file_is_valid_and_documented():
    config = load_select_config(ROOT / "configs" / "select.yaml")
    assert isinstance(config, SelectConfig) and config.output == "probkm-select"
    assert config.criterion in ("bic", "aic", "icl", "loo", "annealing")


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["k_min=5", "k_max=3"], "k_min must be at most k_max; got k_min=5, k_max=3."),
        (["criterion=waic"], "criterion must be one of 'bic', 'aic', 'icl', 'loo', 'annealing'; got 'waic'."),
        (["k_maxx=3"], "unknown key k_maxx"),
    ],
)
def test_bad_select_settings_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_select_config(None, overrides)


def test_bad_k_range_is_one_line(tmp_path, capsys):
    assert main(["select", "--k", "a:b", "--out", str(tmp_path / "o")]) == 1
    assert "probkm select: error: --k must be LOW:HIGH or N with positive ints, e.g. 1:12; got 'a:b'." in capsys.readouterr().err


def test_select_refuses_an_existing_folder(data_csv, tmp_path, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    assert main(["select", str(data_csv), "--k", "1:2", "--out", str(out)]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
