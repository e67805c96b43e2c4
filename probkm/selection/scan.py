"""How many clusters? :func:`select_n_components` scans ``K`` and keeps the best by a criterion.

One fitted :class:`probkm.SphericalGMM` per ``K`` (MAP for BIC, AIC and ICL; NUTS for LOO),
or one annealing for the staircase; the result holds the choice, the criterion per ``K``,
the fits, a table and a figure (:class:`SelectionResult`).
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Callable, Iterable

import numpy as np

from probkm._checks import Either, Integer, InvalidType, InvalidValue, Optional, Options, check, check_numeric_2d, seed_from
from probkm._files import atomic_write
from probkm.estimators.spherical_gmm import SphericalGMM
from probkm.selection.fits import fit_each, scan_bucket
from probkm.selection.criteria import CRITERIA, INFORMATION_CRITERIA, information_criteria
from probkm.selection.plots import plot_criterion, plot_staircase
from probkm.selection.stacking import LOO_RULES, choose_by_loo, compare_loo, sample_stacked
from probkm.selection.staircase import annealing_staircase, widest_plateau

RESERVED = ("n_components", "inference", "random_state")


class SelectionResult:
    """The outcome of :func:`select_n_components`: the choice, the criterion per ``K``, the fits.

    Attributes
    ----------
    criterion : str
        ``"bic"``, ``"aic"``, ``"icl"``, ``"loo"`` or ``"annealing"``.
    candidates_ : ndarray of int, shape (n_candidates,)
        The ``K`` scanned, increasing.
    n_components_ : int
        The chosen ``K``: the lowest score, except for LOO under its default one-standard-error
        rule (``loo_rule``), which may choose a smaller ``K`` than the lowest ``-2 elpd_loo``.
    scores_ : ndarray, shape (n_candidates,)
        The criterion per ``K``, lower is better (scikit-learn's sign): BIC, AIC or ICL;
        ``-2 elpd_loo`` for LOO; minus the width in ``log T`` of the ``K`` step for the
        staircase. NaN where a ``K`` is not eligible (the staircase's ``K = 1``).
    log_likelihood_ : ndarray, shape (n_candidates,)
        Total log-likelihood per ``K``: at the MAP point, or for NUTS the log pointwise
        predictive density ``sum_i log mean_s p(x_i | theta_s)``; NaN where no model was fitted.
    estimators_ : dict
        ``{K: fitted SphericalGMM}``: every ``K``, or only the chosen one for the staircase.
    best_estimator_ : SphericalGMM
        ``estimators_[n_components_]``.
    table_ : list of dict
        One record per ``K`` (see :meth:`to_records`).
    notes_ : dict
        ``{K: text}``: the warnings each ``K``'s fit raised (collected, not shown; those of the
        chosen ``K`` are raised again).
    stacking_weights_ : dict
        LOO only: ``{K: stacking weight}``, summing to 1.
    comparison_ : pandas.DataFrame
        LOO only: :func:`arviz.compare`'s table.
    staircase_ : probkm.selection.staircase.Staircase
        Annealing only.

    Examples
    --------
    >>> import numpy as np
    >>> import probkm
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> result = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0)
    >>> result.n_components_, result.candidates_.tolist(), result.best_estimator_.n_components
    (2, [1, 2, 3], 2)
    """

    def __init__(self, criterion: str, candidates: np.ndarray, scores: np.ndarray, log_likelihood: np.ndarray, estimators: dict, chosen: int, table: list, notes: dict, **extra: Any):
        self.criterion = criterion
        self.candidates_ = candidates
        self.scores_ = scores
        self.log_likelihood_ = log_likelihood
        self.estimators_ = estimators
        self.n_components_ = int(chosen)
        self.best_estimator_ = estimators[int(chosen)]
        self.table_ = table
        self.notes_ = notes
        for name, value in extra.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        return f"SelectionResult(criterion={self.criterion!r}, n_components_={self.n_components_}, candidates_={self.candidates_.tolist()})"

    def to_records(self) -> list[dict[str, Any]]:
        """The table, one dict per ``K``.

        Keys: ``n_components``, the criterion's own columns (``n_parameters``,
        ``log_likelihood``, ``bic``, ``aic``, ``icl``, ``entropy``, ``sigma``; for LOO ``elpd_loo``,
        ``se``, ``elpd_diff``, ``dse``, ``p_loo``, ``looic``, ``weight``; for the staircase ``plateau_width``, ``t_high``,
        ``t_low``, ``bootstrap_frequency``), ``delta`` (score minus the best), ``chosen`` and ``note``.

        Returns
        -------
        list of dict

        Examples
        --------
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> result = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0)
        >>> [(row["n_components"], row["n_parameters"], row["chosen"]) for row in result.to_records()]
        [(1, 3, False), (2, 6, True), (3, 9, False)]
        """
        return [dict(row) for row in self.table_]

    def to_frame(self):
        """The table as a :class:`pandas.DataFrame` indexed by ``n_components`` (pandas comes with xarray and ArviZ).

        Returns
        -------
        pandas.DataFrame

        Examples
        --------
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> frame = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0).to_frame()
        >>> int(frame["bic"].idxmin()), list(frame.columns[:3])
        (2, ['n_parameters', 'log_likelihood', 'bic'])
        """
        import pandas as pd

        return pd.DataFrame.from_records(self.to_records()).set_index("n_components")

    def to_csv(self, path: Any) -> Any:
        """Write the table as CSV (one row per ``K``), atomically.

        Parameters
        ----------
        path : str or os.PathLike

        Returns
        -------
        pathlib.Path
            ``path``.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> result = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     lines = result.to_csv(Path(folder) / "table.csv").read_text().splitlines()
        >>> lines[0].split(",")[:3], len(lines)
        (['n_components', 'n_parameters', 'log_likelihood'], 4)
        """
        return atomic_write(path, lambda tmp: self.to_frame().to_csv(tmp))

    def to_json(self) -> str:
        """The choice and the table as JSON text (NaN written as ``null``).

        Returns
        -------
        str

        Examples
        --------
        >>> import json
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> result = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0)
        >>> parsed = json.loads(result.to_json())
        >>> parsed["criterion"], parsed["n_components"], len(parsed["table"])
        ('bic', 2, 3)
        """
        def clean(value):
            if isinstance(value, (float, np.floating)):
                return None if not np.isfinite(value) else float(value)
            if isinstance(value, (np.integer, np.bool_)):
                return value.item()
            return value

        table = [{k: clean(v) for k, v in row.items()} for row in self.table_]
        return json.dumps({"criterion": self.criterion, "n_components": self.n_components_, "candidates": self.candidates_.tolist(), "table": table}, indent=2)

    def plot(self, *, title: str | None = None):
        """The criterion against ``K``, lower is better (mclust's BIC plot with scikit-learn's sign).

        BIC, AIC and ICL are drawn together, the one that chose in bold; LOO shows ``-2 elpd_loo``
        with two-standard-error bars and the stacking weights; the staircase shows minus the width
        of each step (:meth:`plot_staircase` draws the staircase itself).

        Parameters
        ----------
        title : str, optional

        Returns
        -------
        matplotlib.figure.Figure

        Examples
        --------
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> fig = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0).plot()
        >>> fig.axes[0].get_xlabel()
        'number of components K'
        """
        rows = self.table_
        if self.criterion in INFORMATION_CRITERIA:
            scores = {c: [row[c] for row in rows] for c in INFORMATION_CRITERIA}
            return plot_criterion(self.candidates_, scores, self.criterion, self.n_components_, title=title)
        if self.criterion == "loo":
            return plot_criterion(
                self.candidates_, {"loo": [row["looic"] for row in rows]}, "loo", self.n_components_,
                errors=[2 * row["se"] for row in rows], weights=[row["weight"] for row in rows], title=title,
            )
        return plot_criterion(self.candidates_, {"annealing": self.scores_}, "annealing", self.n_components_, title=title)

    def plot_staircase(self, *, title: str | None = None):
        """The annealing staircase (``criterion="annealing"`` only).

        Parameters
        ----------
        title : str, optional

        Returns
        -------
        matplotlib.figure.Figure

        Raises
        ------
        InvalidValue
            For another criterion.

        Examples
        --------
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(-5, 1, (40, 1)), rng.normal(5, 1, (40, 1))]
        >>> result = probkm.select_n_components(X, range(1, 4), criterion="annealing", n_bootstrap=0, n_temperatures=10, random_state=0)
        >>> result.n_components_, result.plot_staircase().axes[0].get_ylabel()
        (2, 'distinct centroids')
        """
        if self.criterion != "annealing":
            raise InvalidValue(f"plot_staircase needs criterion='annealing'; got criterion={self.criterion!r}.")
        return plot_staircase(self.staircase_, chosen=self.n_components_, title=title)

    def sample(self, n_samples: int = 1, *, random_state: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Generate points: from the chosen model, or (LOO) from the stacked mixture over ``K``.

        With ``criterion="loo"`` each point first draws a ``K`` by its stacking weight, then comes
        from that ``K``'s posterior predictive: generation that carries the uncertainty about
        ``K`` instead of pretending it is known. Otherwise every point comes from ``best_estimator_``.

        Parameters
        ----------
        n_samples : int
            Points to draw.
        random_state : int, numpy random state or None

        Returns
        -------
        X : ndarray, shape (n_samples, n_features)
        k : ndarray of int, shape (n_samples,)
            The ``K`` of the model each point came from (all ``n_components_`` unless stacked).

        Examples
        --------
        >>> import numpy as np
        >>> import probkm
        >>> rng = np.random.default_rng(0)
        >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
        >>> result = probkm.select_n_components(X, range(1, 4), n_temperatures=10, random_state=0)
        >>> X_new, k = result.sample(50, random_state=1)
        >>> X_new.shape, set(k.tolist())
        ((50, 2), {2})
        """
        weights = getattr(self, "stacking_weights_", None) or {self.n_components_: 1.0}
        return sample_stacked({k: self.estimators_[k] for k in weights}, weights, n_samples, random_state=random_state)


def _candidates(n_components: Any, n_samples: int) -> np.ndarray:
    values = range(1, n_components + 1) if isinstance(n_components, (int, np.integer)) and not isinstance(n_components, bool) else n_components
    try:
        ks = sorted({int(k) for k in values} if all(isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in values) else [])
    except TypeError:
        raise InvalidType(f"n_components must be an int or an iterable of ints; got {n_components!r}.") from None
    if not ks or ks[0] < 1 or ks[-1] > n_samples:
        raise InvalidValue(f"n_components must be a non-empty set of ints from 1 to n_samples ({n_samples}); got {n_components!r}.")
    return np.asarray(ks, dtype=int)


def _fitter(params: dict, X: np.ndarray, seed: int, bucket: int, **fixed: Any) -> Callable:
    """``fit(k, ward)`` for :func:`probkm.selection.fits.fit_each`: a ``SphericalGMM`` of ``k``
    components fitted to ``X``, its programs padded to ``bucket`` components, reusing ``ward``
    (the Ward tree of an earlier fit to ``X`` with the same seed: one tree serves every ``K``)."""
    def fit(k: int, ward: Any) -> tuple[SphericalGMM, Any]:
        est = SphericalGMM(int(k), random_state=seed, **fixed, **params)._fit(X, ward=ward, components_bucket=bucket)
        return est, est._ward_tree

    return fit


def _notes(caught: list) -> str:
    return "; ".join(dict.fromkeys(str(w.message).strip().splitlines()[0] for w in caught))


def _scan_information(X, candidates, criterion, seed, params, n_jobs, say) -> dict[str, Any]:
    fit = _fitter(params, X, seed, scan_bucket(candidates, X.shape[0]))
    estimators, caught_by_k = fit_each(fit, candidates, n_jobs=n_jobs, say=say, label="MAP")
    notes = {k: _notes(caught) for k, caught in caught_by_k.items() if caught}
    rows = []
    for k, est in estimators.items():
        values = information_criteria(est, X)
        order = ("n_parameters", "log_likelihood", "bic", "aic", "icl", "entropy")
        rows.append({"n_components": int(k), **{name: values[name] for name in order}, "sigma": float(est.sigma_)})
    scores = np.array([row[criterion] for row in rows])
    log_lik = np.array([row["log_likelihood"] for row in rows])
    return {"scores": scores, "log_likelihood": log_lik, "estimators": estimators, "rows": rows, "notes": notes, "caught": caught_by_k, "extra": {}}


def _scan_loo(X, candidates, seed, params, rule, say) -> dict[str, Any]:
    fit = _fitter(params, X, seed, scan_bucket(candidates, X.shape[0]), inference="mcmc")
    # one at a time: each K's NUTS traces its model anew, and NumPyro's effect handlers are one
    # stack for the whole process, which two threads tracing at once would mix up
    estimators, caught_by_k = fit_each(fit, candidates, n_jobs=1, say=say, label="NUTS")
    notes = {k: _notes(caught) for k, caught in caught_by_k.items() if caught}
    table, loo_notes = compare_loo(estimators, X)
    for k, text in loo_notes.items():
        notes[k] = "; ".join(filter(None, [notes.get(k), text]))
    rows = []
    for k in candidates:
        r = table.loc[int(k)]
        elpd = float(r["elpd_loo"])
        rows.append({
            "n_components": int(k), "log_likelihood": float(np.sum(estimators[int(k)].score_samples(X))), "elpd_loo": elpd,
            "se": float(r["se"]), "elpd_diff": float(r["elpd_diff"]), "dse": float(r["dse"]), "p_loo": float(r["p_loo"]),
            "looic": -2.0 * elpd, "weight": float(r["weight"]),
        })
    weights = {row["n_components"]: row["weight"] for row in rows}
    total = sum(weights.values())
    extra = {"stacking_weights_": {k: w / total for k, w in weights.items()}, "comparison_": table}
    return {
        "scores": np.array([row["looic"] for row in rows]), "log_likelihood": np.array([row["log_likelihood"] for row in rows]),
        "estimators": estimators, "rows": rows, "notes": notes, "caught": caught_by_k, "extra": extra,
        "chosen": choose_by_loo(table, rule),
    }


def _scan_annealing(X, candidates, seed, params, staircase_settings, say) -> dict[str, Any]:
    k_max = int(candidates[-1])
    say(f"annealing the staircase up to K = {k_max} ({staircase_settings['n_bootstrap']} bootstrap resamples)")
    stairs = annealing_staircase(X, k_max, random_state=seed, **staircase_settings)
    eligible = tuple(int(k) for k in candidates if k >= 2)
    chosen = widest_plateau(stairs.plateaus, eligible, k_max)
    chosen = chosen if chosen in candidates else int(candidates[np.argmin(np.abs(candidates - chosen))])
    fitted, caught_by_k = fit_each(_fitter(params, X, seed, 0), np.array([chosen]), say=say, label="MAP")
    est, caught = fitted[chosen], caught_by_k[chosen]
    boot = stairs.bootstrap_choices
    rows, scores, log_lik = [], [], []
    for k in candidates:
        steps = [p for p in stairs.plateaus if p.n_components == k]
        width = stairs.widths.get(int(k), 0.0)
        scores.append(-width if k in eligible else np.nan)
        log_lik.append(float(np.sum(est.score_samples(X))) if k == chosen else np.nan)
        rows.append({
            "n_components": int(k), "plateau_width": width, "t_high": steps[0].t_high if steps else np.nan,
            "t_low": steps[0].t_low if steps else np.nan, "eligible": bool(k in eligible),
            "bootstrap_frequency": float(np.mean(boot == k)) if boot.size else np.nan, "log_likelihood": log_lik[-1],
        })
    return {
        "scores": np.array(scores), "log_likelihood": np.array(log_lik), "estimators": {chosen: est}, "rows": rows,
        "notes": {chosen: _notes(caught)} if caught else {}, "caught": {chosen: caught}, "extra": {"staircase_": stairs}, "chosen": chosen,
    }


def select_n_components(
    X: Any,
    n_components: Iterable[int] | int = range(1, 13),
    criterion: str = "bic",
    random_state: Any = None,
    *,
    n_bootstrap: int = 20,
    distinct_tol: float = 0.02,
    staircase_temperatures: int = 120,
    staircase_t_min: float = 1e-4,
    loo_rule: str = "one_se",
    n_jobs: int | None = None,
    progress: Callable[[str], None] | None = None,
    **estimator_params: Any,
) -> SelectionResult:
    """Choose the number of components ``K`` of the shared-sigma mixture.

    Criteria (all lower-is-better, scikit-learn's sign):

    * ``"bic"``: ``-2 log L + p log N`` at each ``K``'s MAP, with ``p = (K - 1) + K D + 1``
      free parameters (fewer when sigma or the weights are known);
    * ``"aic"``: ``-2 log L + 2 p``;
    * ``"icl"``: ``BIC + 2 sum_i sum_k -r_ik log r_ik``, BIC plus twice the entropy of the
      responsibilities: overlapping components pay for the uncertainty of their assignments
      (mclust's ``icl`` uses the hard form, :mod:`probkm.selection.criteria`);
    * ``"loo"``: NUTS at each ``K``, PSIS-LOO and stacking weights by :func:`arviz.compare`;
      the score is ``-2 elpd_loo``, the choice by default the smallest ``K`` within one standard
      error of the best (``loo_rule``), and :meth:`SelectionResult.sample` draws from the
      mixture over ``K`` with the stacking weights;
    * ``"annealing"``: the widest step, ``K = 2 .. K_max`` with ``K_max = max(n_components)``,
      of the deterministic-annealing staircase (twice ``K_max`` centroids, so that the
      ``K_max`` step ends at a split too; the trivial ``K = 1`` step excluded;
      :mod:`probkm.selection.staircase`), with a bootstrap over the rows; only the chosen ``K``
      is then fitted (MAP).

    Parameters
    ----------
    X : array_like, shape (n_samples, n_features)
    n_components : iterable of int or int, default range(1, 13)
        The ``K`` to scan (an int ``n`` means ``1 .. n``).
    criterion : {"bic", "aic", "icl", "loo", "annealing"}, default "bic"
    random_state : int, numpy random state or None
        One seed for every fit (``None``: a fresh one).
    n_bootstrap : int, default 20
        Staircase only: resamples of the rows.
    distinct_tol : float, default 0.02
        Staircase only: centroids closer than this times the data's pooled sd are one.
    staircase_temperatures : int, default 120
        Staircase only: steps of its schedule from ``T = 1``.
    staircase_t_min : float, default 1e-4
        Staircase only: the schedule's end.
    loo_rule : {"one_se", "best"}, default "one_se"
        LOO only: ``"one_se"`` chooses the smallest ``K`` whose ``elpd_loo`` is within one
        standard error of its difference from the best (``elpd_diff <= dse``), ``"best"`` the
        highest ``elpd_loo`` (:func:`probkm.selection.stacking.choose_by_loo`). The stacking
        weights do not depend on it.
    n_jobs : int or None, default None
        BIC, AIC and ICL: MAP fits that run at once, in threads, after the first: ``None`` for
        one per CPU core this process may use (its affinity mask), at most four, a negative number for that
        many fewer plus one (``-1``: every core), ``1`` for one at a time. Each ``K`` has its
        own seed, so the results do not depend on it (:mod:`probkm.selection.fits`). LOO's
        NUTS fits run one at a time (each traces its model, and NumPyro's effect handlers are
        one stack per process).
    progress : callable, optional
        Called with a line of text as each fit starts (from the thread that runs it).
    **estimator_params
        Passed to every :class:`probkm.SphericalGMM` (``n_init``, ``map_restarts``,
        ``num_samples``, ``sigma``, ...), except ``n_components``, ``inference`` and ``random_state``.

    Returns
    -------
    SelectionResult

    Raises
    ------
    InvalidValue, InvalidType
        An unknown criterion, candidates outside ``1 .. n_samples``, a reserved estimator
        parameter, or ``X`` that is not a finite 2-D array.

    Warns
    -----
    ConvergenceWarning
        The warnings of the chosen ``K``'s fit, raised again (those of the others are in ``notes_``).

    Examples
    --------
    >>> import numpy as np
    >>> import probkm
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> result = probkm.select_n_components(X, range(1, 4), criterion="icl", n_temperatures=10, random_state=0)
    >>> result.n_components_, bool(np.all(np.diff(result.scores_[:2]) < 0))
    (2, True)
    >>> [round(float(v)) for v in result.scores_]
    [430, 293, 312]
    """
    criterion = check("criterion", criterion, Options(CRITERIA))
    loo_rule = check("loo_rule", loo_rule, Options(LOO_RULES))
    n_jobs = check("n_jobs", n_jobs, Optional(Either(Integer(1), Integer(None, -1))))
    X = check_numeric_2d(X)
    candidates = _candidates(n_components, X.shape[0])
    reserved = sorted(set(estimator_params) & set(RESERVED))
    if reserved:
        raise InvalidValue(f"{reserved[0]} is set by select_n_components; got {reserved[0]}={estimator_params[reserved[0]]!r}. Remove it from the keyword arguments.")
    seed = seed_from(random_state)
    say = progress or (lambda _: None)
    if criterion in INFORMATION_CRITERIA:
        found = _scan_information(X, candidates, criterion, seed, estimator_params, n_jobs, say)
    elif criterion == "loo":
        found = _scan_loo(X, candidates, seed, estimator_params, loo_rule, say)
    else:
        settings = {"n_bootstrap": n_bootstrap, "distinct_tol": distinct_tol, "n_temperatures": staircase_temperatures, "t_min": staircase_t_min}
        found = _scan_annealing(X, candidates, seed, estimator_params, settings, say)
    scores = found["scores"]
    chosen = found.get("chosen", int(candidates[np.nanargmin(scores)]) if np.isfinite(scores).any() else None)
    best = np.nanmin(scores) if np.isfinite(scores).any() else np.nan
    table = [
        {**row, "delta": float(s - best) if np.isfinite(s) else np.nan, "chosen": row["n_components"] == chosen, "note": found["notes"].get(row["n_components"], "")}
        for row, s in zip(found["rows"], scores)
    ]
    for w in found["caught"].get(chosen, []):
        warnings.warn_explicit(f"K = {chosen}: {w.message}", w.category, w.filename, w.lineno)
    return SelectionResult(criterion, candidates, scores, found["log_likelihood"], found["estimators"], chosen, table, found["notes"], **found["extra"])


__all__ = ["SelectionResult", "select_n_components"]
