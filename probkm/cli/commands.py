"""The ``probkm`` command line.

``probkm run [CONFIG]`` runs the main job (the embedded default when no CONFIG is given);
``probkm fit``, ``probkm generate``, ``probkm select`` and ``probkm identifiability`` work on a
user's CSV or ``.npy`` file. Every command writes into a fresh output folder and refuses to overwrite one
unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

# probkm.inference.relabel.RELABEL_METHODS, spelt out: parsing the command line imports no JAX
RELABEL_CHOICES = ("stephens", "hungarian")

EXAMPLES = """examples:
  probkm run                                   the default job on built-in synthetic data
  probkm run configs/nuts_wine.yaml --set mcmc.num_samples=200
  probkm fit data.csv -k 3 --inference mcmc --out fit-out
  probkm fit iris.csv -k 3 --label-column Species --standardize --out iris-fit
  probkm generate data.csv -k 3 --n 1000 --model kmeans --sigma plugin --out gen-out
  probkm select data.csv --k 1:12 --criterion bic --out select-out
  probkm select --config configs/select.yaml --criterion annealing
  probkm identifiability --data data.csv -k 3 --out ident-out
"""


def _progress(quiet: bool):
    start = time.perf_counter()

    def say(message: str) -> None:
        if not quiet:
            print(f"[probkm {time.perf_counter() - start:6.1f}s] {message}", file=sys.stderr, flush=True)

    return say


def _common(parser: argparse.ArgumentParser, default_out: str | None) -> None:
    parser.add_argument("--out", default=default_out, help="output folder (created; must not exist unless --force)" + (f"; default {default_out}" if default_out else ""))
    parser.add_argument("--force", action="store_true", help="replace the output folder if it exists")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    parser.add_argument("--seed", type=int, default=None, help="random seed (same seed, same numbers)")


def _data_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--columns", default=None, metavar="COLS", help="the features: comma-separated header names or 0-based indices (default: every numeric column; text columns are left out with a note)")
    parser.add_argument("--label-column", default=None, metavar="COL", help="a column of known classes (name or 0-based index), kept out of the features; the report gives the adjusted Rand index of the clusters against it")
    parser.add_argument("--standardize", action="store_true", help="fit on z-scores of each feature; means, sigma (one sd per feature) and generated data are reported in the data's units")


def _column_keys(text: str | None) -> list[str] | None:
    """``"a, b,2"`` -> ``["a", "b", "2"]`` (names, or indices as digits)."""
    return None if text is None else [part.strip() for part in text.split(",")]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``probkm`` and its commands ``run``, ``fit``, ``generate``, ``select``
    and ``identifiability``.

    Returns
    -------
    argparse.ArgumentParser
        ``args.command`` is the command given, or ``None``.

    Examples
    --------
    >>> from probkm.cli.commands import build_parser
    >>> args = build_parser().parse_args(["fit", "data.csv", "-k", "3"])
    >>> args.command, args.n_components, args.model, args.inference, args.out
    ('fit', 3, 'gmm', 'map', 'probkm-fit')
    >>> build_parser().parse_args(["run", "--set", "mcmc.num_samples=200"]).set
    ['mcmc.num_samples=200']
    >>> args = build_parser().parse_args(["select", "data.csv", "--k", "1:12", "--criterion", "icl"])
    >>> args.command, args.data, args.k, args.criterion
    ('select', 'data.csv', '1:12', 'icl')
    """
    parser = argparse.ArgumentParser(prog="probkm", description="k-means as a generative model: fit, anneal, generate, and test whether sigma is identifiable.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="the main job: GMM by MAP and NUTS, annealed k-means, generation, identifiability summary", description="Run the main job from a YAML config (the embedded default when CONFIG is omitted).")
    run.add_argument("config", nargs="?", help="YAML config file (see configs/); omitted: the embedded default")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config value, e.g. --set mcmc.num_samples=200 (repeatable)")
    _common(run, None)

    fit = sub.add_parser("fit", help="fit a model to a CSV or .npy file", description="Fit the shared-sigma GMM (MAP or NUTS) or annealed k-means to DATA.")
    fit.add_argument("data", help="CSV (optional header) or .npy file of shape (n_samples, n_features)")
    fit.add_argument("-k", "--n-components", type=int, required=True, help="number of clusters K")
    fit.add_argument("--model", choices=("gmm", "kmeans"), default="gmm", help="gmm (default) or kmeans")
    fit.add_argument("--inference", choices=("map", "mcmc"), default="map", help="for gmm: map (default) or mcmc (NUTS)")
    fit.add_argument("--num-samples", type=int, default=1000, help="NUTS draws per chain")
    fit.add_argument("--num-warmup", type=int, default=500, help="NUTS warmup steps per chain")
    fit.add_argument("--num-chains", type=int, default=2, help="NUTS chains")
    fit.add_argument("--relabel", choices=RELABEL_CHOICES, default=None, help="for gmm with mcmc: how NUTS draws are relabelled (default: the estimator's)")
    fit.add_argument("--known-sigma", type=float, default=None, metavar="SIGMA", help="for gmm: fix sigma at this value (units of DATA; z-units with --standardize) instead of fitting it")
    fit.add_argument("--equal-weights", action="store_true", help="for gmm: fix every weight at 1/K instead of fitting them")
    fit.add_argument("--known-means", default=None, metavar="FILE", help="for gmm: fix the means at the K rows of this CSV or .npy file (units of DATA; z-units with --standardize) instead of fitting them")
    _data_options(fit)
    _common(fit, "probkm-fit")

    gen = sub.add_parser("generate", help="fit, then generate new data like DATA", description="Fit a model to DATA and write N new points with their labels.")
    gen.add_argument("data", help="CSV (optional header) or .npy file")
    gen.add_argument("-k", "--n-components", type=int, required=True, help="number of clusters K")
    gen.add_argument("--n", type=int, default=None, help="points to generate (default: as many as DATA has)")
    gen.add_argument("--model", choices=("gmm", "kmeans"), default="kmeans", help="kmeans (default) or gmm")
    gen.add_argument("--inference", choices=("map", "mcmc"), default="map", help="for gmm: map or mcmc")
    gen.add_argument("--sigma", default="plugin", help="for kmeans: plugin, prior, posterior, or a positive number (units of DATA; z-units with --standardize)")
    _data_options(gen)
    _common(gen, "probkm-generate")

    select = sub.add_parser("select", help="how many clusters: scan K by BIC, AIC, ICL, LOO or the annealing staircase", description="Scan K on DATA (or the configured data), choose one by the criterion, and write the table, the figures, a report and data generated from the chosen (or, for loo, the stacked) model.")
    select.add_argument("data", nargs="?", help="CSV or .npy file, or sklearn:<name> (default: the config's data, synthetic without a config)")
    select.add_argument("--config", default=None, help="YAML file of select settings (see configs/select.yaml)")
    select.add_argument("--k", default=None, metavar="LOW:HIGH", help="the K to scan, e.g. 1:12 (or one number N for 1:N)")
    select.add_argument("--criterion", choices=("bic", "aic", "icl", "loo", "annealing"), default=None, help="default bic (or the config's)")
    select.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a select setting, e.g. --set num_samples=200 (repeatable)")
    _data_options(select)
    _common(select, None)

    ident = sub.add_parser("identifiability", help="the sigma identifiability study (NUTS on GMM, annealed and k-means models)", description="Show, with ArviZ diagnostics, that sigma is identified by the mixture and not by the k-means objective.")
    ident.add_argument("config", nargs="?", help="YAML file of study settings (see configs/identifiability.yaml)")
    ident.add_argument("--data", default=None, help="CSV or .npy file (default: a synthetic shared-sigma mixture)")
    ident.add_argument("-k", "--n-components", type=int, default=None, help="number of clusters K")
    _common(ident, None)
    return parser


def _configure_runtime() -> None:
    """Process-wide settings that belong to the program, not the library: figures are
    rendered off-screen, and compiled XLA programs are kept on disk between runs
    (:mod:`probkm.inference.compilation_cache`; ``PROBKM_CACHE_DIR`` moves the folder). JAX picks its
    device (GPU when present; set JAX_PLATFORMS=cpu to force the CPU)."""
    import matplotlib

    from probkm.inference.compilation_cache import enable_compilation_cache

    matplotlib.use("Agg")
    enable_compilation_cache()


def _cmd_run(args, say) -> Path:
    from probkm.cli.config import load_config
    from probkm.reporting.outputs import prepare_output_dir
    from probkm.cli.workflow import run_main_job

    overrides = list(args.set) + ([f"seed={args.seed}"] if args.seed is not None else [])
    config = load_config(args.config, overrides)
    out = prepare_output_dir(args.out or config.output, force=args.force)
    say(f"writing into {out.resolve()}")
    run_main_job(config, out, progress=say, progress_bar=not args.quiet)
    return out


def _fit_estimator(args, X):
    import probkm

    seed = 0 if args.seed is None else args.seed
    if args.model == "kmeans":
        return probkm.AnnealedKMeans(args.n_components, random_state=seed).fit(X)
    settings = {"num_samples": getattr(args, "num_samples", 1000), "num_warmup": getattr(args, "num_warmup", 500), "num_chains": getattr(args, "num_chains", 2)}
    if getattr(args, "relabel", None) is not None:
        settings["relabel"] = args.relabel
    known = {"sigma": getattr(args, "known_sigma", None), "weights": "equal" if getattr(args, "equal_weights", False) else None}
    if getattr(args, "known_means", None) is not None:
        from probkm.datasets import load_data

        known["means"] = load_data(args.known_means).X
    gmm = probkm.SphericalGMM(args.n_components, inference=args.inference, random_state=seed, progress_bar=not args.quiet, **settings, **known)
    return gmm.fit(X)


def _load(args, say):
    """The data of ``fit`` and ``generate``: read, noted, and in the coordinates the model sees."""
    from probkm.cli.units import FeatureScaling, data_section
    from probkm.datasets import load_data

    dataset = load_data(args.data, columns=_column_keys(args.columns), label_column=args.label_column)
    scaling = FeatureScaling.of(dataset.X, args.standardize)
    return dataset, scaling, data_section(dataset, scaling, say)


def _cmd_fit(args, say) -> Path:
    import json

    from probkm.cli.units import label_agreement, sigma_lines
    from probkm.cli.workflow import nuts_report
    from probkm.reporting.outputs import prepare_output_dir, write_csv, write_figure, write_netcdf, write_text
    from probkm.reporting.plots import plot_clusters

    dataset, scaling, data_lines = _load(args, say)
    Z = scaling.forward(dataset.X)
    out = prepare_output_dir(args.out, force=args.force)
    say(f"fitting {args.model} (K={args.n_components}) to {dataset.name}; writing into {out.resolve()}")
    est = _fit_estimator(args, Z)
    sigma_name = "plugin_sigma" if args.model == "kmeans" else "sigma"
    if args.model == "kmeans":
        means_z, sigma, labels = est.cluster_centers_, est.sigma_, est.labels_
        params = {"cluster_centers": scaling.backward(means_z).tolist(), "inertia": est.inertia_, "weights": est.weights_.tolist()}
    else:
        means_z, sigma, labels = est.means_, est.sigma_, est.predict(Z)
        params = {"means": scaling.backward(means_z).tolist(), "weights": est.weights_.tolist(), "mean_log_likelihood": est.score(Z) + scaling.log_jacobian}
        write_netcdf(out / "idata.nc", est.idata_)
    if scaling.standardized:  # one sigma in z-units is one sd per feature in the data's units
        params.update({f"{sigma_name}_z": sigma, f"{sigma_name}_per_feature": scaling.sigma(sigma).tolist(), "standardized": {"mean": scaling.center.tolist(), "sd": scaling.scale.tolist()}})
    else:
        params[sigma_name] = sigma
    ari, ari_lines = label_agreement(dataset, labels, args.label_column)
    if ari is not None:
        params["adjusted_rand_index"] = ari
        say(f"adjusted Rand index against {args.label_column!r}: {ari:.4f}")
    section = nuts_report(est.idata_, est.convergence_) if args.model == "gmm" and args.inference == "mcmc" else None
    write_csv(out / "labels.csv", dataset.X, labels, names=dataset.feature_names)
    write_text(out / "params.json", json.dumps({**params, **(section.summary if section else {})}, indent=2))
    rows = ["# probkm fit", "", f"{args.model} with K = {args.n_components} on {dataset.name}.", "", *data_lines, "| cluster | mean |", "|---|---|"]
    rows += [f"| {k} | ({', '.join(f'{v:.4f}' for v in m)}) |" for k, m in enumerate(scaling.backward(means_z))]
    rows += ["", *sigma_lines(sigma, scaling, dataset.feature_names or [f"x{j}" for j in range(Z.shape[1])]), "", *ari_lines] + (section.lines if section else [])
    write_text(out / "report.md", "\n".join(rows))
    title = "z-scores, fitted centroids and one-sigma circles" if scaling.standardized else "Data, fitted centroids and one-sigma circles"
    write_figure(out / "clusters.png", plot_clusters(Z, means_z, sigma, labels=labels, title=title))
    return out


def _cmd_generate(args, say) -> Path:
    from probkm.cli.units import label_agreement, sigma_lines
    from probkm.reporting.outputs import prepare_output_dir, write_csv, write_figure, write_text
    from probkm.reporting.plots import plot_generated

    dataset, scaling, data_lines = _load(args, say)
    Z = scaling.forward(dataset.X)
    sigma = args.sigma
    try:
        sigma = float(sigma)
    except ValueError:
        pass
    out = prepare_output_dir(args.out, force=args.force)
    est = _fit_estimator(args, Z)
    n = args.n or len(dataset.X)
    seed = 1 if args.seed is None else args.seed + 1
    Zg, y = est.sample(n, sigma=sigma, random_state=seed) if args.model == "kmeans" else est.sample(n, random_state=seed)
    X = scaling.backward(Zg)
    write_csv(out / "generated.csv", X, y, names=dataset.feature_names)
    name = f"k-means, sigma={args.sigma}" if args.model == "kmeans" else f"GMM ({args.inference})"
    write_figure(out / "generated.png", plot_generated(dataset.X, [(name, X, y)]))
    _, ari_lines = label_agreement(dataset, est.labels_ if args.model == "kmeans" else est.predict(Z), args.label_column)
    names = dataset.feature_names or [f"x{j}" for j in range(Z.shape[1])]
    fitted = sigma_lines(est.sigma_, scaling, names, what="fitted sigma" if args.model == "gmm" else "plug-in sigma")
    rows = ["# probkm generate", "", f"{n} points from {name}, fitted to {dataset.name} with K = {args.n_components}.", "", *data_lines, *fitted, ""]
    if scaling.standardized:
        rows += ["Generated in z-scores and mapped back to the data's units (each feature times its sd, plus its mean).", ""]
    write_text(out / "report.md", "\n".join(rows + ari_lines))
    say(f"wrote {n} points to {out / 'generated.csv'}")
    return out


def _k_range(text: str) -> list[str]:
    """``"1:12"`` -> overrides of ``k_min`` and ``k_max``; ``"6"`` means ``1:6``."""
    from probkm.cli.config import ConfigError

    low, _, high = text.partition(":") if ":" in text else ("1", "", text)
    if not (low.strip().isdigit() and high.strip().isdigit()):
        raise ConfigError(f"--k must be LOW:HIGH or N with positive ints, e.g. 1:12; got {text!r}.")
    return [f"k_min={int(low)}", f"k_max={int(high)}"]


def _cmd_select(args, say) -> Path:
    import dataclasses

    from probkm.cli.config import load_select_config
    from probkm.cli.units import FeatureScaling, data_section, label_agreement, sigma_lines
    from probkm.cli.workflow import load_dataset
    from probkm.reporting.outputs import prepare_output_dir
    from probkm.selection.report import write_selection
    from probkm.selection.scan import select_n_components

    overrides = list(args.set) + (_k_range(args.k) if args.k else [])
    overrides += [f"criterion={args.criterion}"] * bool(args.criterion) + [f"seed={args.seed}"] * (args.seed is not None)
    config = load_select_config(args.config, overrides)
    given = {"source": args.data, "columns": _column_keys(args.columns), "label_column": args.label_column, "standardize": args.standardize or None}
    config = dataclasses.replace(config, data=dataclasses.replace(config.data, **{k: v for k, v in given.items() if v is not None}))
    dataset = load_dataset(config, standardize=False)
    scaling = FeatureScaling.of(dataset.X, config.data.standardize)
    data_lines = data_section(dataset, scaling, say)
    Z = scaling.forward(dataset.X)
    out = prepare_output_dir(args.out or config.output, force=args.force)
    say(f"selecting K in {config.k_min}..{config.k_max} by {config.criterion} on {dataset.name}; writing into {out.resolve()}")
    params = {"n_init": config.n_init, "map_restarts": config.map_restarts, "split_merge": config.split_merge, "progress_bar": not args.quiet}
    if config.criterion == "loo":
        params.update(num_warmup=config.num_warmup, num_samples=config.num_samples, num_chains=config.num_chains)
    result = select_n_components(
        Z, range(config.k_min, config.k_max + 1), config.criterion, config.seed,
        n_bootstrap=config.n_bootstrap, distinct_tol=config.distinct_tol, loo_rule=config.loo_rule, n_jobs=config.n_jobs, progress=say, **params,
    )
    best = result.best_estimator_
    ari, ari_lines = label_agreement(dataset, best.predict(Z), config.data.label_column)
    if ari is not None:
        say(f"adjusted Rand index of K = {result.n_components_} against {config.data.label_column!r}: {ari:.4f}")
    names = dataset.feature_names or [f"x{j}" for j in range(Z.shape[1])]
    chosen = sigma_lines(best.sigma_, scaling, names, what=f"sigma of the chosen K = {result.n_components_}") if scaling.standardized else []
    write_selection(
        result, out, data_name=dataset.name, n_generate=config.n_generate or len(dataset.X), random_state=config.seed + 1,
        to_data_units=scaling.backward, feature_names=dataset.feature_names, extra_lines=data_lines + chosen + [""] * bool(chosen) + ari_lines,
    )
    say(f"chose K = {result.n_components_}")
    return out


def _cmd_identifiability(args, say) -> Path:
    from probkm.datasets import load_data
    from probkm.cli.config import load_identifiability_config
    from probkm.studies.identifiability import run_identifiability
    from probkm.studies.identifiability_report import write_identifiability
    from probkm.reporting.outputs import prepare_output_dir

    settings = load_identifiability_config(args.config) if args.config else {}
    default_out = settings.pop("output", "probkm-identifiability")
    if args.n_components is not None:
        settings["n_components"] = args.n_components
    if args.seed is not None:
        settings["random_state"] = args.seed
    settings["progress_bar"] = not args.quiet
    X = load_data(args.data).X if args.data else None
    out = prepare_output_dir(args.out or default_out, force=args.force)
    say(f"identifiability study; writing into {out.resolve()}")
    result = run_identifiability(X, progress=say, **settings)
    write_identifiability(result, out)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code.

    Parameters
    ----------
    argv : sequence of str or None
        The arguments after ``probkm``; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success (the output folder is printed unless ``--quiet``); 1 for the user's
        mistake (a bad config, file, value or output folder), reported in one line on
        stderr; 2 when no command is given (the help is printed). Malformed arguments exit
        through argparse with status 2.

    Examples
    --------
    >>> import contextlib, io
    >>> from probkm.cli.commands import main
    >>> with contextlib.redirect_stdout(io.StringIO()) as shown:
    ...     code = main([])
    >>> code, shown.getvalue().startswith("usage: probkm")
    (2, True)
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    _configure_runtime()
    say = _progress(args.quiet)
    from probkm._checks import InputError

    handlers = {"run": _cmd_run, "fit": _cmd_fit, "generate": _cmd_generate, "select": _cmd_select, "identifiability": _cmd_identifiability}
    # the user's mistakes (a bad config, file, value or output folder) get one line; anything
    # else is a bug in probkm and keeps its traceback
    try:
        out = handlers[args.command](args, say)
    except (InputError, FileNotFoundError, FileExistsError) as err:
        print(f"probkm {args.command}: error: {err}", file=sys.stderr)
        return 1
    if not args.quiet:
        print(f"probkm {args.command}: results in {Path(out).resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
