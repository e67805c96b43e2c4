import re
from pathlib import Path

import pytest

from probkm.cli.commands import main
from probkm.cli.config import DEFAULT_CONFIG, ConfigError, config_to_yaml, load_config

# tiny NUTS runs: their convergence warnings are expected, and tested in test_convergence.py
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROOT = Path(__file__).resolve().parents[1]
RUN_CONFIGS = sorted(p for p in (ROOT / "configs").glob("*.yaml") if p.name not in ("identifiability.yaml", "select.yaml"))
TINY = ["mcmc.num_warmup=40", "mcmc.num_samples=40", "mcmc.num_chains=1", "kmeans.n_temperatures=10"]


def test_default_yaml_is_the_embedded_default():
    assert load_config(ROOT / "configs" / "default.yaml") == DEFAULT_CONFIG
    assert load_config(None) == DEFAULT_CONFIG
    assert "source: synthetic" in config_to_yaml(DEFAULT_CONFIG)


@pytest.mark.slow
@pytest.mark.parametrize("path", RUN_CONFIGS, ids=lambda p: p.name)
def test_every_config_runs_in_a_small_setting(path, tmp_path):
    args = ["run", str(path), "--out", str(tmp_path / "out"), "--quiet"]
    for item in TINY:
        args += ["--set", item]
    assert main(args) == 0
    assert (tmp_path / "out" / "report.md").exists()


@pytest.mark.parametrize(
    "text, message",
    [
        ("mcmc:\n  num_chains: 0\n", "mcmc.num_chains must be an int >= 1; got 0."),
        ("mcmc:\n  num_chians: 2\n", "unknown key mcmc.num_chians; allowed keys under mcmc: enabled, num_warmup, num_samples, num_chains, relabel."),
        ("model:\n  sigma_prior: cauchy\n", "model.sigma_prior must be one of 'halfnormal', 'lognormal', 'invgamma'; got 'cauchy'."),
        ("data:\n  n_samples: many\n", "data.n_samples must be an int >= 1; got 'many' of type str."),
        ("map:\n  enabled: 3\n", "map.enabled must be true or false; got 3 of type int."),
        ("outputs: x\n", "unknown key outputs; allowed keys: data, model, map, mcmc, kmeans, generate, identifiability, output, seed."),
        ("- 1\n- 2\n", "the file must be a mapping of keys to values"),
        ("mcmc: [1\n", "not valid YAML"),
    ],
)
def test_malformed_configs_name_file_key_value_and_allowed(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=re.escape(f"{path}: ") + ".*" + re.escape(message)):
        load_config(path)


def test_command_line_overrides_win(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("mcmc:\n  num_samples: 300\n")
    config = load_config(path, ["mcmc.num_samples=20", "model.sigma_prior=lognormal"])
    assert config.mcmc.num_samples == 20 and config.model.sigma_prior == "lognormal"
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config(path, ["mcmc.num_samples"])


def test_bad_config_exits_with_a_message(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("seed: -1\n")
    assert main(["run", str(path), "--out", str(tmp_path / "o")]) == 1
    assert f"{path}: seed must be an int >= 0; got -1." in capsys.readouterr().err
