"""Run configuration: frozen dataclasses, loaded once from YAML and validated.

This is the only module that reads YAML. Every error names the file, the key, what was
given and what is allowed. ``probkm run`` without a file uses :data:`DEFAULT_CONFIG`.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from probkm.models import SIGMA_PRIORS


class ConfigError(ValueError):
    """A configuration file or override is malformed; the message says where and why."""


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from: ``"synthetic"`` (the other fields describe it), a path to a
    CSV or ``.npy`` file, or ``"sklearn:<name>"`` for a data set bundled with scikit-learn."""

    source: str = "synthetic"
    n_samples: int = 450
    n_components: int = 3
    n_features: int = 2
    sigma: float = 1.0
    separation: float = 8.0
    standardize: bool = False
    seed: int = 0


@dataclass(frozen=True)
class ModelConfig:
    n_components: int = 3
    sigma_prior: str = "halfnormal"
    sigma_scale: float | None = None


@dataclass(frozen=True)
class MapConfig:
    enabled: bool = True
    num_steps: int = 500  # Adam steps; BFGS runs to convergence in one SVI step
    optimizer: str = "bfgs"
    n_init: int = 3


@dataclass(frozen=True)
class McmcConfig:
    enabled: bool = True
    num_warmup: int = 500
    num_samples: int = 500
    num_chains: int = 2


@dataclass(frozen=True)
class KMeansConfig:
    enabled: bool = True
    n_temperatures: int = 60
    t_min: float = 1e-3
    n_init: int = 3


@dataclass(frozen=True)
class GenerateConfig:
    n_samples: int = 450
    sigma_sources: tuple[str, ...] = ("plugin", "prior", "posterior")


@dataclass(frozen=True)
class IdentifiabilityConfig:
    enabled: bool = True
    tau: float = 1.0


@dataclass(frozen=True)
class RunConfig:
    """One run of ``probkm run``."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    map: MapConfig = field(default_factory=MapConfig)
    mcmc: McmcConfig = field(default_factory=McmcConfig)
    kmeans: KMeansConfig = field(default_factory=KMeansConfig)
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    identifiability: IdentifiabilityConfig = field(default_factory=IdentifiabilityConfig)
    output: str = "probkm-output"
    seed: int = 0


DEFAULT_CONFIG = RunConfig()

_CHOICES = {
    ("model", "sigma_prior"): SIGMA_PRIORS,
    ("map", "optimizer"): ("bfgs", "adam"),
}
_POSITIVE = {"n_samples", "n_components", "n_features", "num_steps", "num_samples", "num_chains", "n_temperatures", "sigma", "separation", "tau", "t_min"}
_NON_NEGATIVE = {"num_warmup", "n_init", "seed"}


def _describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _coerce(where: str, key: str, value: Any, tp: Any) -> Any:
    """Check ``value`` against the annotated type ``tp``; return it in that type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        tp = next(a for a in args if a is not type(None))
        origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: {key} must be a list of strings; got {value!r}.")
        return tuple(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: {key} must be true or false; got {value!r}.")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: {key} must be an int; got {value!r}.")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {key} must be a number; got {value!r}.")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: {key} must be a string; got {value!r}.")
        return value
    raise ConfigError(f"{where}: {key} has unsupported type {_describe(tp)}.")


def _build(cls, raw: Any, where: str, prefix: str = ""):
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: {prefix or 'the file'} must be a mapping of keys to values; got {raw!r}.")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {prefix}{unknown[0]!s}; allowed keys{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(fields)}."
        )
    values = {}
    for name, value in raw.items():
        key = prefix + name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            values[name] = _build(tp, value, where, key + ".")
            continue
        value = _coerce(where, key, value, tp)
        section = prefix.rstrip(".")
        if (section, name) in _CHOICES and value not in _CHOICES[(section, name)]:
            raise ConfigError(f"{where}: {key} must be one of {', '.join(_CHOICES[(section, name)])}; got {value!r}.")
        if name in _POSITIVE and value is not None and value <= 0:
            raise ConfigError(f"{where}: {key} must be > 0; got {value!r}.")
        if name in _NON_NEGATIVE and value < 0:
            raise ConfigError(f"{where}: {key} must be >= 0; got {value!r}.")
        values[name] = value
    return cls(**values)


def _as_dict(config: RunConfig) -> dict:
    return dataclasses.asdict(config)


def _merge(base: dict, update: dict) -> dict:
    out = dict(base)
    for key, value in update.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def parse_override(text: str) -> dict:
    """``"mcmc.num_samples=200"`` -> ``{"mcmc": {"num_samples": 200}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"--set {text!r}: expected KEY=VALUE, for example mcmc.num_samples=200.")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw)
    for part in reversed(key.strip().split(".")):
        value = {part: value}
    return value


def load_config(path: str | Path | None = None, overrides: typing.Sequence[str] = ()) -> RunConfig:
    """Load and validate a run configuration.

    :param path: a YAML file; ``None`` for the embedded default.
    :param overrides: ``KEY=VALUE`` strings applied on top (for ``--set``).
    """
    raw: dict = {}
    where = "default config"
    if path is not None:
        where = str(path)
        try:
            text = Path(path).read_text()
        except OSError as err:
            raise ConfigError(f"{where}: cannot read the config file ({err.strerror}).") from None
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as err:
            raise ConfigError(f"{where}: not valid YAML ({err}).") from None
    for text in overrides:
        raw = _merge(raw, parse_override(text)) if isinstance(raw, dict) else raw
    return _build(RunConfig, raw, where)


def config_to_yaml(config: RunConfig) -> str:
    """The configuration as YAML text (what a run writes next to its results)."""
    data = _as_dict(config)
    data["generate"]["sigma_sources"] = list(data["generate"]["sigma_sources"])
    return yaml.safe_dump(data, sort_keys=False)
