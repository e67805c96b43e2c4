"""probkm: k-means as a generative model, and what that does and does not buy.

A spherical Gaussian mixture with one shared sigma, its temperature-annealed variant whose
zero-temperature limit is k-means, MAP (SVI) and NUTS inference ending in ArviZ
``InferenceData``, and generation of new data from the posterior predictive.
"""

from probkm.cluster import AnnealedKMeans as AnnealedKMeans
from probkm.cluster import from_sklearn as from_sklearn
from probkm.mixture import SphericalGMM as SphericalGMM
from probkm.models import annealed_gmm as annealed_gmm
from probkm.persistence import load as load
from probkm.models import kmeans_objective_model as kmeans_objective_model
from probkm.models import spherical_gmm as spherical_gmm

__version__ = "0.1.0"

__all__ = [
    "AnnealedKMeans",
    "SphericalGMM",
    "from_sklearn",
    "load",
    "annealed_gmm",
    "kmeans_objective_model",
    "spherical_gmm",
]
