"""The scikit-learn estimators :class:`SphericalGMM` and :class:`AnnealedKMeans`, their shared
base, and saving and loading. They wire :mod:`probkm.inference` and :mod:`probkm.algorithms`
together and hold no mathematics of their own."""
