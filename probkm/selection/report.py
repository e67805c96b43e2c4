"""The files of a K-scan: the table (CSV and JSON), the figures, ``report.md`` and generated data.

Every file is written atomically (:mod:`probkm.reporting.outputs`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from probkm.reporting.outputs import write_csv, write_figure, write_text

WHAT = {
    "bic": "BIC at each K's MAP (lower is better)",
    "aic": "AIC at each K's MAP (lower is better)",
    "icl": "ICL = BIC + 2 x entropy of the responsibilities, at each K's MAP (lower is better)",
    "loo": "PSIS-LOO of each K's NUTS fit, with stacking weights (-2 elpd_loo, lower is better)",
    "annealing": "the widest step of the deterministic-annealing staircase (K = 1 excluded)",
}


def _markdown_table(records: list[dict[str, Any]]) -> list[str]:
    columns = [c for c in records[0] if c != "note"]
    def cell(v):
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else ""
        if isinstance(v, (float, np.floating)):
            return "" if not np.isfinite(v) else f"{v:.6g}"
        return str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r[c]) for c in columns) + " |" for r in records]
    return lines


def write_selection(
    result: Any, out_dir: str | Path, *, data_name: str, n_generate: int, random_state: Any = None,
    to_data_units: Callable[[np.ndarray], np.ndarray] | None = None, feature_names: Sequence[str] | None = None, extra_lines: Sequence[str] = (),
) -> dict[str, Path]:
    """Write a :class:`probkm.selection.scan.SelectionResult` into ``out_dir``.

    Files: ``selection.csv`` and ``selection.json`` (the table), ``criterion.png``,
    ``staircase.png`` (staircase only), ``generated.csv`` (``n_generate`` points from the chosen
    model, or from the stacked mixture over ``K`` for LOO, with the ``K`` each came from as
    ``label``) and ``report.md``.

    Parameters
    ----------
    result : SelectionResult
    out_dir : str or pathlib.Path
        An existing folder.
    data_name : str
        What the data is, for the report.
    n_generate : int
        Points to generate.
    random_state : int, numpy random state or None
        Seed of the generated points.
    to_data_units : callable, optional
        Maps generated points ``(n, D)`` from the coordinates of the fit to the data's units
        (e.g. back from z-scores); default: they are the same.
    feature_names : sequence of str, optional
        The header of ``generated.csv``; default ``x0, x1, ...``.
    extra_lines : sequence of str
        Markdown lines for the report, after the chosen K (notes on the data, agreement with labels).

    Returns
    -------
    dict
        ``{file name: path}`` of what was written.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> import probkm
    >>> from probkm.selection.report import write_selection
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> result = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0)
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     sorted(write_selection(result, folder, data_name="two blobs", n_generate=40))
    ['criterion.png', 'generated.csv', 'report.md', 'selection.csv', 'selection.json']
    """
    out = Path(out_dir)
    written = {"selection.csv": result.to_csv(out / "selection.csv"), "selection.json": write_text(out / "selection.json", result.to_json())}
    written["criterion.png"] = write_figure(out / "criterion.png", result.plot())
    if result.criterion == "annealing":
        written["staircase.png"] = write_figure(out / "staircase.png", result.plot_staircase())
    X_new, k = result.sample(n_generate, random_state=random_state)
    if to_data_units is not None:
        X_new = to_data_units(X_new)
    written["generated.csv"] = write_csv(out / "generated.csv", X_new, k, names=feature_names)
    records = result.to_records()
    lines = [
        "# probkm select", "",
        f"Data: {data_name}. Criterion: {WHAT[result.criterion]}.", "",
        f"**Chosen: K = {result.n_components_}.**", "",
        *extra_lines,
        *_markdown_table(records), "",
    ]
    if result.criterion == "loo":
        weights = ", ".join(f"K={k}: {w:.3f}" for k, w in result.stacking_weights_.items() if w > 5e-4)
        lines += [f"Stacking weights (at least 0.0005): {weights}. `generated.csv` draws each point's K by these weights.", ""]
    if result.criterion == "annealing":
        stairs = result.staircase_
        lines += ["## Splits against the analytic critical temperatures", "", "| T above | T below | K before | K after | T_c of the group that split | observed / T_c | agrees |", "|---|---|---|---|---|---|---|"]
        lines += [f"| {s.t_above:.4g} | {s.t_below:.4g} | {s.n_before} | {s.n_after} | {s.t_critical:.4g} | {s.ratio:.3f} | {'yes' if s.agrees else 'no'} |" for s in stairs.splits]
        if stairs.bootstrap_choices.size:
            values, counts = np.unique(stairs.bootstrap_choices, return_counts=True)
            lines += ["", "Bootstrap choices: " + ", ".join(f"K={v}: {c}/{stairs.bootstrap_choices.size}" for v, c in zip(values, counts)) + "."]
        lines += [""]
    notes = [f"- K = {k}: {text}" for k, text in result.notes_.items() if text]
    if notes:
        lines += ["## Warnings raised by the fits", "", *notes, ""]
    lines += [f"`generated.csv`: {n_generate} points; its `label` column is the K of the model each came from.", ""]
    written["report.md"] = write_text(out / "report.md", "\n".join(lines))
    return written


__all__ = ["write_selection"]
