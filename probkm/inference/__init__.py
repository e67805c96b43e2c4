"""Inference for the models of :mod:`probkm.core`: MAP by SVI, the compiled NUTS driver, the
standardised NUTS path, relabelling, prediction, ArviZ ``InferenceData``, convergence
checks, sharding and the compilation cache."""
