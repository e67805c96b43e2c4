"""``probkm.load``: a fitted estimator back from the folder :func:`probkm.estimators.persistence.save` wrote."""

from __future__ import annotations

import os

from probkm.estimators.annealed_kmeans import AnnealedKMeans
from probkm.estimators.persistence import read_saved
from probkm.estimators.spherical_gmm import SphericalGMM

_CLASSES = {cls.__name__: cls for cls in (SphericalGMM, AnnealedKMeans)}


def load(path: str | os.PathLike):
    """Load an estimator saved by ``est.save(path)``; raises naming the bad file.

    Parameters
    ----------
    path : str or os.PathLike
        A folder written by :meth:`SphericalGMM.save <probkm.SphericalGMM.save>` or
        :meth:`AnnealedKMeans.save <probkm.AnnealedKMeans.save>`.

    Returns
    -------
    SphericalGMM or AnnealedKMeans
        Fitted as it was saved: its arrays bit for bit, and for ``SphericalGMM`` its
        ``idata_``.

    Raises
    ------
    FileNotFoundError
        A file of the folder is missing.
    InvalidValue
        A file is truncated, foreign or of another format version.

    See Also
    --------
    probkm.estimators.persistence.save : What writes the folder.

    Examples
    --------
    >>> import numpy as np, probkm, tempfile, os
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> km = probkm.AnnealedKMeans(2, n_temperatures=10, random_state=0).fit(X)
    >>> folder = km.save(os.path.join(tempfile.mkdtemp(), "km"))
    >>> bool((probkm.load(folder).predict(X) == km.predict(X)).all())
    True
    """
    saved = read_saved(path)
    est = _CLASSES[saved.class_name](**saved.params)
    for name, value in saved.fitted.items():
        setattr(est, name, value)
    if saved.idata is not None:
        est.idata_ = saved.idata
    return est
