"""Run configuration: frozen dataclasses, loaded once from YAML and validated.

This is the only module that reads YAML: the configuration of ``probkm run`` and the
settings of ``probkm identifiability``. Each key's constraint is declared once, beside its
default (:func:`setting`), and checked by :func:`probkm._checks.check`, so every error reads
``"<file>: <key> must be <allowed>; got <value>."``. ``probkm run`` without a file uses
:data:`DEFAULT_CONFIG`.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from probkm._checks import Boolean, ColumnKey, Constraint, Either, InputError, Integer, ListOf, Optional, Options, Real, Text, check
from probkm.core.models import SIGMA_PRIORS
from probkm.estimators.annealed_kmeans import SIGMA_SOURCES
from probkm.inference.map import OPTIMIZERS
from probkm.inference.relabel import DEFAULT_RELABEL, RELABEL_METHODS
from probkm.selection.criteria import CRITERIA
from probkm.selection.stacking import LOO_RULES
from probkm.studies.identifiability import SETTINGS


class ConfigError(InputError, ValueError):
    """A configuration file or override is malformed; the message says where and why.

    An :class:`~probkm._checks.InputError` (the command line reports it in one line) and a
    ``ValueError``.

    Examples
    --------
    >>> from probkm.cli.config import ConfigError, load_config
    >>> try:
    ...     load_config(None, ["mcmc.num_samples=0"])
    ... except ConfigError as err:
    ...     print(err)
    default config: mcmc.num_samples must be an int >= 1; got 0.
    """


def setting(default: Any, constraint: Constraint, doc: str) -> Any:
    """A configuration key: its default, its constraint and one line saying what it means.

    Parameters
    ----------
    default : object
        The key's value when the file does not give one.
    constraint : Constraint
        What a value must be (:mod:`probkm._checks`).
    doc : str
        One line saying what the key means.

    Returns
    -------
    dataclasses.Field
        A dataclass field carrying ``constraint`` and ``doc`` in its ``metadata``.

    Examples
    --------
    >>> import dataclasses
    >>> from probkm.cli.config import ModelConfig
    >>> field = dataclasses.fields(ModelConfig)[0]
    >>> field.name, field.default, field.metadata["constraint"].allowed, field.metadata["doc"]
    ('n_components', 3, 'an int >= 1', 'clusters K of every fit')
    """
    return field(default=default, metadata={"constraint": constraint, "doc": doc})


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from: ``"synthetic"`` (the other fields describe it), a path to a
    CSV or ``.npy`` file, or ``"sklearn:<name>"`` for a data set bundled with scikit-learn.

    Each field's constraint and meaning are in its ``metadata`` (:func:`setting`).

    Examples
    --------
    >>> from probkm.cli.config import DataConfig
    >>> data = DataConfig()
    >>> data.source, data.n_samples, data.n_components, data.standardize
    ('synthetic', 450, 3, False)
    """

    source: str = setting("synthetic", Text(), "'synthetic', a CSV or .npy path, or sklearn:iris|wine|breast_cancer|digits")
    n_samples: int = setting(450, Integer(1), "points of the synthetic data")
    n_components: int = setting(3, Integer(1), "clusters of the synthetic data")
    n_features: int = setting(2, Integer(1), "features of the synthetic data")
    sigma: float = setting(1.0, Real(0.0), "shared standard deviation of the synthetic clusters")
    separation: float = setting(8.0, Real(0.0), "distance between neighbouring synthetic cluster centres")
    columns: tuple[str | int, ...] | None = setting(None, Optional(ListOf(ColumnKey())), "features of a file, by header name or 0-based index; null: every numeric column")
    label_column: str | int | None = setting(None, Optional(ColumnKey()), "a file's column of known classes, kept out of the features and compared with the clusters (adjusted Rand index)")
    standardize: bool = setting(False, Boolean(), "fit on z-scores of each column (probkm select reports and generates in the data's units; probkm run reports in z-scores)")
    seed: int = setting(0, Integer(0), "seed of the synthetic data")


@dataclass(frozen=True)
class ModelConfig:
    """The model every fit shares.

    Examples
    --------
    >>> from probkm.cli.config import ModelConfig
    >>> ModelConfig()
    ModelConfig(n_components=3, sigma_prior='halfnormal', sigma_scale=None, sigma=None, weights=None, means=None)
    """

    n_components: int = setting(3, Integer(1), "clusters K of every fit")
    sigma_prior: str = setting("halfnormal", Options(SIGMA_PRIORS), "prior on the shared sigma")
    sigma_scale: float | None = setting(None, Optional(Real(0.0)), "scale of sigma's prior in units of the data; null: the data's pooled sd")
    sigma: float | None = setting(None, Optional(Real(0.0)), "a known sigma in units of the data, fixed in the GMM fits; null: fitted")
    weights: str | None = setting(None, Optional(Options(("equal",))), "'equal' fixes every GMM weight at 1/K; null: fitted")
    means: tuple[tuple[float, ...], ...] | None = setting(
        None, Optional(ListOf(ListOf(Real()))), "known means in units of the data, one list of n_features numbers per component, fixed in the GMM fits; null: fitted"
    )


@dataclass(frozen=True)
class MapConfig:
    """The MAP fit of the spherical GMM.

    Examples
    --------
    >>> from probkm.cli.config import MapConfig
    >>> MapConfig().optimizer, MapConfig().n_init
    ('bfgs', 3)
    """

    enabled: bool = setting(True, Boolean(), "run the MAP fit")
    num_steps: int = setting(500, Integer(1), "Adam steps (BFGS runs to convergence in one step)")
    optimizer: str = setting("bfgs", Options(OPTIMIZERS), "the MAP optimiser")
    n_init: int = setting(3, Integer(0), "k-means++ restarts beside annealing for the start")


@dataclass(frozen=True)
class McmcConfig:
    """The NUTS fit of the spherical GMM (and of the k-means objective model).

    Examples
    --------
    >>> from probkm.cli.config import McmcConfig
    >>> McmcConfig()
    McmcConfig(enabled=True, num_warmup=500, num_samples=1000, num_chains=2, relabel='hungarian')
    """

    enabled: bool = setting(True, Boolean(), "run NUTS")
    num_warmup: int = setting(500, Integer(0), "warmup iterations per chain")
    num_samples: int = setting(1000, Integer(1), "kept draws per chain")
    num_chains: int = setting(2, Integer(1), "chains")
    relabel: str = setting(DEFAULT_RELABEL, Options(RELABEL_METHODS), "how draws are relabelled: 'hungarian' (means matched to the MAP) or 'stephens' (KL on the classification probabilities)")


@dataclass(frozen=True)
class KMeansConfig:
    """``AnnealedKMeans``.

    Examples
    --------
    >>> from probkm.cli.config import KMeansConfig
    >>> KMeansConfig()
    KMeansConfig(enabled=True, n_temperatures=60, t_min=0.001, n_init=3)
    """

    enabled: bool = setting(True, Boolean(), "run annealed k-means")
    n_temperatures: int = setting(60, Integer(1), "steps of the annealing schedule")
    t_min: float = setting(1e-3, Real(0.0, 0.5, why="below the first critical temperature"), "lowest annealing temperature")
    n_init: int = setting(3, Integer(0), "k-means++ restarts beside annealing")


@dataclass(frozen=True)
class GenerateConfig:
    """Generated data.

    Examples
    --------
    >>> from probkm.cli.config import GenerateConfig
    >>> GenerateConfig().sigma_sources
    ('plugin', 'prior', 'posterior')
    """

    n_samples: int = setting(450, Integer(1), "points generated from each model")
    sigma_sources: tuple[str, ...] = setting(("plugin", "prior", "posterior"), ListOf(Options(SIGMA_SOURCES)), "where k-means gets its sigma when generating")


@dataclass(frozen=True)
class IdentifiabilityConfig:
    """The short identifiability summary of ``probkm run``.

    Examples
    --------
    >>> from probkm.cli.config import IdentifiabilityConfig
    >>> IdentifiabilityConfig()
    IdentifiabilityConfig(enabled=True, tau=1.0)
    """

    enabled: bool = setting(True, Boolean(), "fit the k-means objective model by NUTS")
    tau: float = setting(1.0, Real(0.0), "Gibbs temperature of the k-means objective model, squared units of the data")


@dataclass(frozen=True)
class RunConfig:
    """One run of ``probkm run``.

    Frozen: derive a variant with :func:`dataclasses.replace`, or load one with
    :func:`load_config`.

    Examples
    --------
    >>> import dataclasses
    >>> from probkm.cli.config import McmcConfig, RunConfig
    >>> config = dataclasses.replace(RunConfig(), mcmc=McmcConfig(enabled=False), seed=1)
    >>> config.mcmc.enabled, config.seed, config.output
    (False, 1, 'probkm-output')
    """

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    map: MapConfig = field(default_factory=MapConfig)
    mcmc: McmcConfig = field(default_factory=McmcConfig)
    kmeans: KMeansConfig = field(default_factory=KMeansConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    identifiability: IdentifiabilityConfig = field(default_factory=IdentifiabilityConfig)
    output: str = setting("probkm-output", Text("a folder"), "output folder")
    seed: int = setting(0, Integer(0), "seed of every fit")


DEFAULT_CONFIG = RunConfig()


@dataclass(frozen=True)
class SelectConfig:
    """One run of ``probkm select``: the data, the ``K`` to scan and the criterion.

    Examples
    --------
    >>> from probkm.cli.config import SelectConfig
    >>> config = SelectConfig()
    >>> config.k_min, config.k_max, config.criterion, config.data.source
    (1, 12, 'bic', 'synthetic')
    """

    data: DataConfig = field(default_factory=DataConfig)
    k_min: int = setting(1, Integer(1), "smallest K scanned")
    k_max: int = setting(12, Integer(1), "largest K scanned (the staircase anneals twice this many centroids)")
    criterion: str = setting("bic", Options(CRITERIA), "bic, aic, icl, loo (NUTS and stacking) or annealing (the staircase)")
    n_init: int = setting(3, Integer(0), "k-means++ restarts beside annealing for each K's MAP start")
    map_restarts: int | str = setting("auto", Either(Options(("auto",)), Integer(1)), "MAP optimisations per K, from the best-ranked starts; auto: every start up to 1,000 rows, else 1")
    split_merge: bool | str = setting("auto", Either(Options(("auto",)), Boolean()), "split-and-merge moves after each K's MAP; auto: up to 1,000 rows")
    num_warmup: int = setting(500, Integer(0), "loo: NUTS warmup iterations per chain")
    num_samples: int = setting(500, Integer(1), "loo: NUTS draws kept per chain")
    num_chains: int = setting(2, Integer(1), "loo: NUTS chains")
    loo_rule: str = setting("one_se", Options(LOO_RULES), "loo: one_se (the smallest K within one standard error of the best elpd) or best (the highest elpd)")
    n_jobs: int | None = setting(None, Optional(Either(Integer(1), Integer(None, -1))), "fits that run at once, in threads; null: one per usable CPU core, at most 4; -1: every core; 1: one at a time (the numbers do not change)")
    n_bootstrap: int = setting(20, Integer(0), "annealing: resamples of the rows for the band")
    distinct_tol: float = setting(0.02, Real(0.0), "annealing: centroids closer than this times the data's pooled sd are one")
    n_generate: int | None = setting(None, Optional(Integer(1)), "points generated from the chosen (or stacked) model; null: as many as the data")
    output: str = setting("probkm-select", Text("a folder"), "output folder")
    seed: int = setting(0, Integer(0), "seed of every fit")


def load_select_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> SelectConfig:
    """Load and validate the configuration of ``probkm select`` (defaults: :class:`SelectConfig`).

    Parameters
    ----------
    path : str, pathlib.Path or None
        A YAML file (see ``configs/select.yaml``); ``None`` for the defaults.
    overrides : sequence of str
        ``KEY=VALUE`` strings applied on top.

    Returns
    -------
    SelectConfig

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, unknown key, bad value, or ``k_min > k_max``.

    Examples
    --------
    >>> from probkm.cli.config import load_select_config
    >>> config = load_select_config(None, ["criterion=icl", "k_max=6"])
    >>> config.criterion, config.k_min, config.k_max
    ('icl', 1, 6)
    """
    raw: Any = {}
    where = "default select config"
    if path is not None:
        where = str(path)
        raw = _read_yaml(path) or {}
    for text in overrides:
        raw = _merge(raw, parse_override(text)) if isinstance(raw, dict) else raw
    config = _build(SelectConfig, raw, where)
    if config.k_min > config.k_max:
        raise ConfigError(f"{where}: k_min must be at most k_max; got k_min={config.k_min}, k_max={config.k_max}.")
    return config


def _build(cls, raw: Any, where: str, prefix: str = ""):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {prefix.rstrip('.') or 'the file'} must be a mapping of keys to values; got {raw!r}.")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {prefix}{unknown[0]!s}; allowed keys{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(fields)}."
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], value, where, prefix + name + ".")
        else:
            values[name] = _checked(prefix + name, value, fields[name].metadata["constraint"], where)
    return cls(**values)


def _checked(key: str, value: Any, constraint: Constraint, where: str) -> Any:
    """:func:`probkm._checks.check` with the file in the message, as a :class:`ConfigError`."""
    try:
        return check(key, value, constraint, where=f"{where}: ")
    except InputError as err:
        hint = " (YAML reads 1e-3 as text: write 1.0e-3 or 0.001)" if isinstance(value, str) and _parses_as_float(value) else ""
        raise ConfigError(f"{err}{hint}") from None


def _parses_as_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_yaml(path: str | os.PathLike) -> Any:
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file ({err.strerror}).") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err}).") from None


def _as_dict(config: RunConfig) -> dict:
    return dataclasses.asdict(config)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def parse_override(text: str) -> dict:
    """``"mcmc.num_samples=200"`` -> ``{"mcmc": {"num_samples": 200}}`` (value parsed as YAML).

    Parameters
    ----------
    text : str
        ``KEY=VALUE``, the key dotted through the sections.

    Returns
    -------
    dict
        Nested by the parts of the key.

    Raises
    ------
    ConfigError
        ``text`` has no ``=``.

    Examples
    --------
    >>> from probkm.cli.config import parse_override
    >>> parse_override("mcmc.num_samples=200")
    {'mcmc': {'num_samples': 200}}
    >>> parse_override("generate.sigma_sources=[plugin, prior]")
    {'generate': {'sigma_sources': ['plugin', 'prior']}}
    """
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example mcmc.num_samples=200.")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw)
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Load and validate a run configuration.

    Parameters
    ----------
    path : str, pathlib.Path or None
        A YAML file; ``None`` for the embedded default.
    overrides : sequence of str
        ``KEY=VALUE`` strings applied on top (for ``--set``).

    Returns
    -------
    RunConfig

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, unknown key or bad value; the message names the
        file, the key, what was given and what is allowed.

    Examples
    --------
    >>> from probkm.cli.config import load_config
    >>> config = load_config(None, ["mcmc.num_samples=200", "data.n_samples=60"])
    >>> config.mcmc.num_samples, config.data.n_samples, config.map.optimizer
    (200, 60, 'bfgs')
    """
    raw: Any = {}
    where = "default config"
    if path is not None:
        where = str(path)
        raw = _read_yaml(path) or {}
    for text in overrides:
        raw = _merge(raw, parse_override(text)) if isinstance(raw, dict) else raw
    return _build(RunConfig, raw, where)


def config_to_yaml(config: RunConfig) -> str:
    """The configuration as YAML text (what a run writes next to its results).

    Parameters
    ----------
    config : RunConfig

    Returns
    -------
    str
        YAML that :func:`load_config` reads back to ``config``.

    Examples
    --------
    >>> from probkm.cli.config import DEFAULT_CONFIG, config_to_yaml
    >>> config_to_yaml(DEFAULT_CONFIG).splitlines()[:3]
    ['data:', '  source: synthetic', '  n_samples: 450']
    """
    data = _as_dict(config)
    data["generate"]["sigma_sources"] = list(data["generate"]["sigma_sources"])
    if data["data"]["columns"] is not None:
        data["data"]["columns"] = list(data["data"]["columns"])
    if data["model"]["means"] is not None:
        data["model"]["means"] = [list(row) for row in data["model"]["means"]]
    return yaml.safe_dump(data, sort_keys=False)


def load_identifiability_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML file of :func:`probkm.studies.identifiability.run_identifiability` keyword
    arguments plus ``output``.

    Parameters
    ----------
    path : str or os.PathLike
        A YAML mapping of setting names to values.

    Returns
    -------
    dict
        The validated keyword arguments (lists as tuples), plus ``output`` (a folder
        name) when the file gives one, so a caller can apply its own default.

    Raises
    ------
    ConfigError
        Unreadable file, invalid YAML, unknown key or bad value; the message names the
        file, the key, what was given and what is allowed.

    Examples
    --------
    >>> import os, tempfile
    >>> import yaml
    >>> from probkm.cli.config import load_identifiability_config
    >>> path = os.path.join(tempfile.mkdtemp(), "study.yaml")
    >>> with open(path, "w") as handle:
    ...     yaml.safe_dump({"n_components": 2, "sigma_grid": [0.5, 2]}, handle)
    >>> load_identifiability_config(path)
    {'n_components': 2, 'sigma_grid': (0.5, 2.0)}
    """
    where = str(path)
    raw = _read_yaml(path)
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the file must be a mapping of setting names to values; got {raw!r}.")
    constraints = {**SETTINGS, "output": Text("a folder")}
    unknown = sorted(set(raw) - set(constraints))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (given {raw[unknown[0]]!r}); allowed keys: {', '.join(sorted(constraints))}.")
    return {key: _checked(key, value, constraints[key], where) for key, value in raw.items()}
