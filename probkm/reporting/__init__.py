"""Figures and atomic file outputs, used by :mod:`probkm.studies` and :mod:`probkm.cli`."""
