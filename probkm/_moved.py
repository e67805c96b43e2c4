"""Old flat module paths (``probkm.infer``, ``probkm.data``, ...) keep importing, with a warning.

Before the sub-packages, every module sat in ``probkm/``. Code written then (``from
probkm.infer import fit_map``) imports the module at its new path through the finder below,
which warns once with the new path. Nothing is copied: the old name is the new module.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import warnings

MOVED = {
    "probkm.likelihood": "probkm.core.likelihood",
    "probkm.distributions": "probkm.core.distributions",
    "probkm.models": "probkm.core.models",
    "probkm.annealing": "probkm.algorithms.annealing",
    "probkm.kmeans": "probkm.algorithms.kmeans",
    "probkm.infer": "probkm.inference.map",
    "probkm.nuts": "probkm.inference.nuts",
    "probkm.predictive": "probkm.inference.predictive",
    "probkm.relabel": "probkm.inference.relabel",
    "probkm.inference_data": "probkm.inference.inference_data",
    "probkm.convergence": "probkm.inference.convergence",
    "probkm.sharding": "probkm.inference.sharding",
    "probkm.compilation_cache": "probkm.inference.compilation_cache",
    "probkm.mixture": "probkm.estimators.spherical_gmm",
    "probkm.cluster": "probkm.estimators.annealed_kmeans",
    "probkm.persistence": "probkm.estimators.persistence",
    "probkm.plots": "probkm.reporting.plots",
    "probkm.outputs": "probkm.reporting.outputs",
    "probkm.diagnostics": "probkm.studies.diagnostics",
    "probkm.metrics": "probkm.studies.metrics",
    "probkm.identifiability": "probkm.studies.identifiability",
    "probkm.identifiability_plots": "probkm.studies.identifiability_report",
    "probkm.calibration": "probkm.studies.calibration",
    "probkm.config": "probkm.cli.config",
    "probkm.workflow": "probkm.cli.workflow",
    "probkm.data": "probkm.datasets",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        warnings.warn(f"{spec.name} has moved to {self.target}; import it from there.", DeprecationWarning, stacklevel=2)
        return importlib.import_module(self.target)

    def exec_module(self, module) -> None:
        """The module is the one at the new path, already executed."""


class MovedModuleFinder(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`MOVED` by their old names.

    ``import probkm`` puts one on ``sys.meta_path``. Importing an old name warns with a
    ``DeprecationWarning`` and gives the module at its new path.

    Examples
    --------
    >>> from probkm._moved import MovedModuleFinder
    >>> spec = MovedModuleFinder().find_spec("probkm.infer")
    >>> spec.name, spec.loader.target
    ('probkm.infer', 'probkm.inference.map')
    >>> MovedModuleFinder().find_spec("probkm.core.models") is None  # not moved
    True
    """

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, _Alias(MOVED[fullname]))
