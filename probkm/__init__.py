"""probkm: k-means as a generative model, and what that does and does not buy.

A spherical Gaussian mixture with one shared sigma, its temperature-annealed variant whose
zero-temperature limit is k-means, MAP (SVI) and NUTS inference ending in ArviZ
``InferenceData``, and generation of new data from the posterior predictive.
"""

import sys

from probkm._moved import MovedModuleFinder
from probkm.core.models import annealed_gmm as annealed_gmm
from probkm.core.models import kmeans_objective_model as kmeans_objective_model
from probkm.core.models import spherical_gmm as spherical_gmm
from probkm.estimators.annealed_kmeans import AnnealedKMeans as AnnealedKMeans
from probkm.estimators.annealed_kmeans import from_sklearn as from_sklearn
from probkm.estimators.loading import load as load
from probkm.estimators.spherical_gmm import SphericalGMM as SphericalGMM
from probkm.selection.scan import select_n_components as select_n_components

# the flat module paths of earlier versions (probkm.infer, probkm.data, ...) still import
if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
    sys.meta_path.append(MovedModuleFinder())

__version__ = "0.1.0"

__all__ = [
    "AnnealedKMeans",
    "SphericalGMM",
    "from_sklearn",
    "load",
    "select_n_components",
    "annealed_gmm",
    "kmeans_objective_model",
    "spherical_gmm",
]
