"""How many clusters: K-scans by BIC, AIC, ICL, PSIS-LOO with stacking, and the annealing staircase.

:mod:`.criteria` (the information criteria, plain NumPy), :mod:`.staircase` (distinct centroids
against temperature), :mod:`.stacking` (PSIS-LOO over ``K`` and the stacked mixture),
:mod:`.scan` (:func:`select_n_components` and its result), :mod:`.plots` (the figures) and
:mod:`.report` (the files ``probkm select`` writes).
"""
