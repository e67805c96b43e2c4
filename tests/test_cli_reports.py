"""What the reports of ``probkm fit`` say: for NUTS, ArviZ's summary table and the convergence
verdict, the same section as ``probkm run`` writes (``probkm.cli.workflow.nuts_report``)."""

import json

import numpy as np
import pytest

from probkm.cli.commands import main
from probkm.cli.workflow import convergence_verdict

# a few draws: the convergence warnings are expected (and the verdict has to say so)
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SUMMARY_COLUMNS = ["mean", "sd", "hdi_3%", "hdi_97%", "mcse_mean", "ess_bulk", "ess_tail", "r_hat"]


def test_fit_mcmc_report_has_arviz_summary_and_verdict(tmp_path, separated_blobs):
    data = tmp_path / "data.csv"
    np.savetxt(data, separated_blobs[0][:150], delimiter=",")
    out = tmp_path / "fit"
    argv = ["fit", str(data), "-k", "3", "--inference", "mcmc", "--num-warmup", "40", "--num-samples", "30", "--num-chains", "2"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0

    report = (out / "report.md").read_text()
    header = next(line for line in report.splitlines() if line.startswith("|") and "mean" in line and "r_hat" in line)
    columns = [cell.strip() for cell in header.strip("|").split("|")]
    assert set(SUMMARY_COLUMNS) <= set(columns), columns
    rows = [line.split("|")[1].strip() for line in report.splitlines() if line.startswith("|")]
    assert "sigma" in rows and "weights[0]" in rows and "means[2, 1]" in rows, rows
    assert "## NUTS posterior (after relabelling)" in report
    verdict = next(line for line in report.splitlines() if line.startswith("**Convergence:**"))
    assert "R-hat" in verdict and "bulk ESS" in verdict

    params = json.loads((out / "params.json").read_text())
    assert set(SUMMARY_COLUMNS) <= set(params["nuts_summary"]["sigma"])
    assert params["nuts_convergence"]["verdict"] in verdict
    assert params["nuts_convergence"]["converged"] in (True, False)


def test_fit_map_report_has_no_nuts_section(tmp_path, separated_blobs):
    data = tmp_path / "data.csv"
    np.savetxt(data, separated_blobs[0][:150], delimiter=",")
    assert main(["fit", str(data), "-k", "3", "--out", str(tmp_path / "fit"), "--quiet"]) == 0
    report = (tmp_path / "fit" / "report.md").read_text()
    assert "NUTS" not in report and "Convergence" not in report
    assert "nuts_summary" not in json.loads((tmp_path / "fit" / "params.json").read_text())


@pytest.mark.parametrize(
    "convergence, chains, converged, words",
    [
        ({"divergences": 0.0, "r_hat": 1.005, "ess_bulk": 400.0}, 2, True, "converged: no divergences"),
        ({"divergences": 2.0, "r_hat": 1.005, "ess_bulk": 400.0}, 2, False, "2 divergences"),
        ({"divergences": 0.0, "r_hat": 1.05, "ess_bulk": 400.0}, 2, False, "R-hat 1.050 (> 1.01)"),
        ({"divergences": 0.0, "r_hat": 1.0, "ess_bulk": 150.0}, 2, False, "bulk ESS 150 (< 200"),
        ({"divergences": 0.0, "r_hat": float("nan"), "ess_bulk": 150.0}, 1, None, "not judged"),
        ({"divergences": 0.0, "r_hat": float("nan"), "ess_bulk": 50.0}, 1, False, "bulk ESS 50 (< 100"),
    ],
)
def test_convergence_verdict(convergence, chains, converged, words):
    ok, verdict = convergence_verdict(convergence, chains)
    assert ok is converged
    assert words in verdict, verdict
