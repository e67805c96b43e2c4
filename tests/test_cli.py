import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from probkm.cli.commands import main

# tiny NUTS runs: their convergence warnings are expected, and tested in test_convergence.py
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--set", "mcmc.num_warmup=60", "--set", "mcmc.num_samples=60", "--set", "mcmc.num_chains=1", "--set", "kmeans.n_temperatures=15"]
RUN_FILES = {
    "config.yaml", "report.md", "summary.json", "gmm_map.nc", "gmm_nuts.nc", "kmeans_objective_nuts.nc",
    "generated_gmm.csv", "generated_kmeans_plugin.csv", "generated_kmeans_prior.csv", "generated_kmeans_posterior.csv",
    "clusters.png", "generated.png", "annealing_path.png", "trace.png", "sigma.png",
}


def unexpected_warnings(stderr: str) -> list[str]:
    """Python warnings printed in ``stderr``, less ArviZ's daily notice on import
    (a ``FutureWarning`` whose message starts "ArviZ is undergoing a major refactor")."""
    found = []
    for match in re.finditer(r"\b(\w*Warning): ", stderr):
        message = stderr[match.end() :].lstrip()
        if not (match.group(1) == "FutureWarning" and message.startswith("ArviZ is undergoing a major refactor")):
            found.append(stderr[match.start() : match.end() + 300])
    return found


def test_unexpected_warnings_keeps_all_but_the_arviz_notice():
    arviz = "/site-packages/arviz/__init__.py:51: FutureWarning: \nArviZ is undergoing a major refactor to improve\n  warn(\n"
    ours = "/probkm/estimators/spherical_gmm.py:9: ConvergenceWarning: sigma collapsed to 0\n"
    future = "/x.py:3: FutureWarning: this argument will change\n"
    assert unexpected_warnings("[probkm 0.2s] writing\n" + arviz) == []
    assert [w.split(":")[0] for w in unexpected_warnings(arviz + ours + future)] == ["ConvergenceWarning", "FutureWarning"]


@pytest.mark.slow
def test_probkm_run_without_arguments_through_the_entry_point(tmp_path):
    exe = shutil.which("probkm", path=str(Path(sys.executable).parent)) or shutil.which("probkm")
    assert exe, "the probkm entry point is not installed"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}  # Python's default filters
    run = subprocess.run([exe, "run"], cwd=tmp_path, capture_output=True, text=True, timeout=900, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert not unexpected_warnings(run.stderr), unexpected_warnings(run.stderr)
    out = tmp_path / "probkm-output"
    assert str(out) in run.stdout  # it names the folder on screen
    assert RUN_FILES <= {p.name for p in out.iterdir()}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["identifiability"]["gmm"]["contraction"] > 0.9
    assert summary["identifiability"]["kmeans"]["contraction"] < 0.3
    generated = np.loadtxt(out / "generated_gmm.csv", delimiter=",", skiprows=1)
    assert generated.shape == (450, 3)
    assert "| GMM posterior predictive |" in (out / "report.md").read_text()


def test_run_refuses_an_existing_folder_without_force(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("previous results")
    code = main(["run", "--out", str(out), "--quiet", *SMALL])
    assert code == 1
    assert "already exists and is not empty; pass --force" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "previous results"


def test_run_small_with_force_and_quiet(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x")
    code = main(["run", "--out", str(out), "--force", "--quiet", *SMALL, "--set", "identifiability.enabled=false"])
    assert code == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    names = {p.name for p in out.iterdir()}
    assert "old.txt" not in names and {"report.md", "gmm_nuts.nc", "generated.png"} <= names
    assert not [n for n in names if n.endswith(".tmp")]


def test_fit_and_generate_on_a_user_file(tmp_path, mixture_data):
    data = tmp_path / "data.csv"
    np.savetxt(data, mixture_data[0][:300], delimiter=",", header="a,b,c", comments="")
    assert main(["fit", str(data), "-k", "4", "--out", str(tmp_path / "fit"), "--quiet"]) == 0
    params = json.loads((tmp_path / "fit" / "params.json").read_text())
    assert np.asarray(params["means"]).shape == (4, 3) and params["sigma"] > 0
    assert (tmp_path / "fit" / "idata.nc").exists()
    np.save(tmp_path / "data.npy", mixture_data[0][:300])
    assert main(["generate", str(tmp_path / "data.npy"), "-k", "4", "--n", "50", "--sigma", "posterior", "--out", str(tmp_path / "gen"), "--quiet"]) == 0
    generated = np.loadtxt(tmp_path / "gen" / "generated.csv", delimiter=",", skiprows=1)
    assert generated.shape == (50, 4)


@pytest.mark.parametrize(
    "content, message",
    [
        ("1,2\n3,x\n", "line 2 has the non-numeric value 'x'"),
        ("1,2\n3\n", "line 2 has 1 columns, but line 1 has 2"),
        ("1,2\ninf,4\n", "contains infinity at row 1, column 0"),
    ],
)
def test_bad_data_files_are_named(tmp_path, capsys, content, message):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    assert main(["fit", str(data), "-k", "1", "--out", str(tmp_path / "o"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(data) in err and message in err


def test_missing_data_file(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "nope.csv"), "-k", "2", "--quiet"]) == 1
    assert "no such data file" in capsys.readouterr().err


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = capsys.readouterr().out
    for command in ("run", "fit", "generate", "identifiability"):
        assert command in text


@pytest.mark.parametrize("bug", [KeyError("means"), ValueError("operands could not be broadcast"), TypeError("unhashable type")])
def test_a_bug_keeps_its_traceback_rather_than_reading_as_a_user_error(monkeypatch, tmp_path, capsys, bug):
    """Only the user's mistakes (probkm's InputError, missing files) become a one-line error."""
    import probkm.cli.commands as cli

    def broken(args, say):
        raise bug

    monkeypatch.setattr(cli, "_cmd_run", broken)
    with pytest.raises(type(bug)):
        cli.main(["run", "--out", str(tmp_path / "o"), "--quiet"])
    assert "error:" not in capsys.readouterr().err
