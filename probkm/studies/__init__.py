"""Studies built on the estimators: ArviZ diagnostics, the identifiability study and its report,
simulation-based calibration, and the metrics of generated data."""
