"""Saving and loading fitted estimators.

A saved estimator is a folder:

* ``estimator.json``: the class, its constructor parameters, its scalar fitted attributes,
  and the versions of probkm, JAX, NumPyro, ArviZ and NumPy that wrote it;
* ``arrays.npz``: its array-valued fitted attributes, bit for bit;
* ``idata.nc``: the ArviZ InferenceData (``SphericalGMM`` only).

The folder is written next to its destination under a temporary name and renamed into
place, so an interrupted save leaves the previous folder (or none) intact.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

FORMAT = 1
MANIFEST = "estimator.json"
ARRAYS = "arrays.npz"
IDATA = "idata.nc"


def _versions() -> dict[str, str]:
    out = {}
    for package in ("probkm", "jax", "numpyro", "arviz", "numpy", "scikit-learn"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "unknown"
    return out


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _fitted_state(est) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Split fitted attributes into JSON scalars and arrays; NamedTuples and dicts are flattened."""
    scalars: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for name, value in vars(est).items():
        if not name.endswith("_") or name.startswith("__"):
            if name != "_n_features_out":
                continue
        if hasattr(value, "_fields"):  # a NamedTuple of arrays, e.g. Draws
            scalars[name] = {"namedtuple": type(value).__name__, "fields": list(value._fields)}
            for field in value._fields:
                arrays[f"{name}.{field}"] = np.asarray(getattr(value, field))
        elif isinstance(value, dict):
            scalars[name] = {"dict": list(value)}
            for key, item in value.items():
                arrays[f"{name}.{key}"] = np.asarray(item)
        elif isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, tuple) and _jsonable(list(value)):
            scalars[name] = {"tuple": list(value)}
        elif _jsonable(value):
            scalars[name] = value
        elif isinstance(value, (np.floating, np.integer)):
            scalars[name] = value.item()
    return scalars, arrays


def save(est, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Save a fitted probkm estimator into the folder ``path``.

    :param overwrite: replace an existing folder; without it an existing ``path`` is an error.
    """
    check_is_fitted(est)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    params = est.get_params(deep=False)
    bad = [k for k, v in params.items() if not _jsonable(v)]
    if bad:
        raise TypeError(f"cannot save {type(est).__name__}: parameter {bad[0]}={params[bad[0]]!r} is not JSON-serialisable; use an int random_state.")
    scalars, arrays = _fitted_state(est)
    manifest = {"format": FORMAT, "class": type(est).__name__, "params": params, "fitted": scalars, "versions": _versions()}
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        np.savez(staging / ARRAYS, **arrays)
        if hasattr(type(est), "idata_"):
            est.idata_.to_netcdf(str(staging / IDATA))
        if path.exists():
            backup = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, backup / "previous")
            os.replace(staging, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return path


def load(path: str | os.PathLike):
    """Load an estimator saved by :func:`save` (or ``est.save``); raises naming the bad file."""
    import probkm
    from probkm._base import Scaling
    from probkm.predictive import Draws

    namedtuples = {"Draws": lambda fields: Draws(*fields), "Scaling": lambda fields: Scaling(fields[0], float(fields[1]))}

    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path}: not found; {path} is not a saved probkm estimator.")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{manifest_path}: not a valid probkm manifest ({err}); the file is truncated or foreign.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("class") not in ("SphericalGMM", "AnnealedKMeans"):
        raise ValueError(f"{manifest_path}: not a probkm estimator manifest (format {FORMAT}, class SphericalGMM or AnnealedKMeans).")
    est = getattr(probkm, manifest["class"])(**manifest["params"])
    try:
        with open(path / ARRAYS, "rb") as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path / ARRAYS}: not found; the saved estimator is incomplete.") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path / ARRAYS}: unreadable ({err}); the file is truncated or foreign.") from None
    for name, value in manifest["fitted"].items():
        if isinstance(value, dict) and "namedtuple" in value:
            value = namedtuples[value["namedtuple"]]([arrays[f"{name}.{f}"] for f in value["fields"]])
        elif isinstance(value, dict) and "dict" in value:
            value = {key: arrays[f"{name}.{key}"] for key in value["dict"]}
        elif isinstance(value, dict) and "tuple" in value:
            value = tuple(value["tuple"])
        setattr(est, name, value)
    for name, value in arrays.items():
        if "." not in name:
            setattr(est, name, value)
    if hasattr(type(est), "idata_"):
        import arviz as az

        try:
            est._idata = az.from_netcdf(str(path / IDATA))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path / IDATA}: not found; the saved estimator is incomplete.") from None
        except (OSError, ValueError) as err:
            raise ValueError(f"{path / IDATA}: unreadable ({err}); the file is truncated or foreign.") from None
    return est
