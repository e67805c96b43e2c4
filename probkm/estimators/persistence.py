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
import zipfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from sklearn.utils.validation import check_is_fitted

from probkm._checks import InvalidType, InvalidValue
from probkm._files import atomic_folder
from probkm.core.scaling import Scaling
from probkm.inference.predictive import Draws

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

    The folder is written under a temporary name next to ``path`` and renamed into place, so
    an interrupted save leaves the previous folder (or none) intact.

    Parameters
    ----------
    est : SphericalGMM or AnnealedKMeans
        A fitted estimator whose constructor parameters are JSON-serialisable.
    path : str or os.PathLike
        The folder to write.
    overwrite : bool
        Replace an existing folder; without it an existing ``path`` is an error.

    Returns
    -------
    pathlib.Path
        The folder written.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        ``est`` is not fitted.
    FileExistsError
        ``path`` exists and ``overwrite`` is false.
    InvalidType
        A constructor parameter is not JSON-serialisable (e.g. a NumPy random state).

    See Also
    --------
    read_saved : Read the folder back.
    probkm.load : Read it back as an estimator.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from probkm import AnnealedKMeans
    >>> from probkm.estimators.persistence import save
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
    >>> folder = save(km, os.path.join(tempfile.mkdtemp(), "km"))
    >>> sorted(os.listdir(folder)), save(km, folder, overwrite=True) == folder
    (['arrays.npz', 'estimator.json'], True)
    """
    check_is_fitted(est)
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it.")
    # array parameters (means_init) are saved as nested lists, which the estimator takes back as they are
    params = {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in est.get_params(deep=False).items()}
    bad = [k for k, v in params.items() if not _jsonable(v)]
    if bad:
        hint = "; use an int random_state" if bad[0] == "random_state" else ""
        raise InvalidType(f"cannot save {type(est).__name__}: parameter {bad[0]}={params[bad[0]]!r} is not JSON-serialisable{hint}.")
    scalars, arrays = _fitted_state(est)
    manifest = {"format": FORMAT, "class": type(est).__name__, "params": params, "fitted": scalars, "versions": _versions()}

    def fill(staging: Path) -> None:
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2))
        np.savez(staging / ARRAYS, **arrays)
        if hasattr(type(est), "idata_"):
            est.idata_.to_netcdf(str(staging / IDATA))

    return atomic_folder(path, fill)


class Saved(NamedTuple):
    """What :func:`read_saved` found in a saved folder.

    Attributes
    ----------
    class_name : str
        ``"SphericalGMM"`` or ``"AnnealedKMeans"``.
    params : dict
        The constructor parameters.
    fitted : dict
        Fitted attribute name to value (arrays, named tuples and dicts rebuilt).
    idata : arviz.InferenceData or None
        The ``arviz.InferenceData``, or ``None`` for an estimator without one.

    Examples
    --------
    >>> from probkm.estimators.persistence import Saved
    >>> Saved._fields
    ('class_name', 'params', 'fitted', 'idata')
    """

    class_name: str
    params: dict[str, Any]
    fitted: dict[str, Any]
    idata: Any


CLASSES = ("SphericalGMM", "AnnealedKMeans")


def read_saved(path: str | os.PathLike) -> Saved:
    """Read a folder written by :func:`save`; every error names the bad file.

    Parameters
    ----------
    path : str or os.PathLike
        A folder written by :func:`save`.

    Returns
    -------
    Saved

    Raises
    ------
    FileNotFoundError
        The manifest, the arrays or the InferenceData file is missing.
    InvalidValue
        A file is truncated, foreign or of another format version.

    See Also
    --------
    probkm.load : Rebuild the estimator from the folder.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from probkm import AnnealedKMeans
    >>> from probkm.estimators.persistence import read_saved
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))]
    >>> km = AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
    >>> saved = read_saved(km.save(os.path.join(tempfile.mkdtemp(), "km")))
    >>> saved.class_name, saved.params["n_clusters"], saved.idata is None
    ('AnnealedKMeans', 2, True)
    >>> bool(np.array_equal(saved.fitted["cluster_centers_"], km.cluster_centers_))
    True
    """
    path = Path(path)
    manifest_path = path / MANIFEST
    if not manifest_path.exists():
        raise FileNotFoundError(f"{manifest_path}: not found; {path} is not a saved probkm estimator.")
    try:
        manifest = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InvalidValue(f"{manifest_path}: not a valid probkm manifest ({err}); the file is truncated or foreign.") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or manifest.get("class") not in CLASSES:
        raise InvalidValue(f"{manifest_path}: not a probkm estimator manifest (format {FORMAT}, class SphericalGMM or AnnealedKMeans).")
    try:
        with open(path / ARRAYS, "rb") as handle, np.load(handle, allow_pickle=False) as stored:
            arrays = {k: stored[k] for k in stored.files}
    except FileNotFoundError:
        raise FileNotFoundError(f"{path / ARRAYS}: not found; the saved estimator is incomplete.") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise InvalidValue(f"{path / ARRAYS}: unreadable ({err}); the file is truncated or foreign.") from None
    namedtuples = {"Draws": lambda fields: Draws(*fields), "Scaling": lambda fields: Scaling(fields[0], float(fields[1]))}
    fitted = {name: value for name, value in arrays.items() if "." not in name}
    for name, value in manifest["fitted"].items():
        if isinstance(value, dict) and "namedtuple" in value:
            value = namedtuples[value["namedtuple"]]([arrays[f"{name}.{f}"] for f in value["fields"]])
        elif isinstance(value, dict) and "dict" in value:
            value = {key: arrays[f"{name}.{key}"] for key in value["dict"]}
        elif isinstance(value, dict) and "tuple" in value:
            value = tuple(value["tuple"])
        fitted[name] = value
    return Saved(manifest["class"], manifest["params"], fitted, _read_idata(path) if manifest["class"] == "SphericalGMM" else None)


def _read_idata(path: Path):
    import arviz as az

    try:
        return az.from_netcdf(str(path / IDATA))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path / IDATA}: not found; the saved estimator is incomplete.") from None
    except (OSError, ValueError) as err:
        raise InvalidValue(f"{path / IDATA}: unreadable ({err}); the file is truncated or foreign.") from None
