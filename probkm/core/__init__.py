"""The mathematics, written once: the likelihood, the observed-site distributions, the NumPyro
models and the standardisation every inference path computes in. Imports nothing above it."""
