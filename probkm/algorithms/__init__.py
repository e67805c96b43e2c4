"""Pure JAX algorithms on arrays: deterministic annealing, Lloyd, k-means++ seeding, the
k-means candidates, and the Laplace approximation of sigma. No NumPyro inference, no I/O."""
