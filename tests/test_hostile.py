"""Hostile input for ``SphericalGMM`` and ``AnnealedKMeans``, property-based (hypothesis).

The contract checked for every generated input:

* if the input has a problem (not 2-D, empty, text, non-numeric objects, complex, infinity,
  a row of NaN only, for ``fit`` a column of NaN only, fewer samples than clusters; for
  ``predict`` also the wrong number of features), ``fit``/``predict`` raise ``ValueError`` or
  ``TypeError`` whose message names one of the problems present (an oracle below lists them
  independently of probkm); other NaN entries are missing values, marginalised out;
* otherwise the fit works: finite ``means_``/``cluster_centers_`` inside the data's bounding
  box, finite weights on the simplex, finite ``sigma_ >= 0`` (exactly 0 only with a
  ``ConvergenceWarning`` saying that sigma collapsed), no other warning, and ``predict``
  returns valid labels (``predict_proba`` finite rows summing to one);
* never a raw JAX error, a NaN result or a hang.

Shapes come from a short list, so JAX compiles each estimator a handful of times only.
Inputs that once exposed bugs are pinned by explicit regression tests at the end of the file.
Values are drawn on a grid of halves; features on wildly different scales have their own
regression test (``test_regression_gmm_features_on_different_scales``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.exceptions import ConvergenceWarning

import probkm

HOSTILE = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# (n_samples, n_features, n_clusters): a few shapes so JAX compiles each estimator a few times.
# (2, 2, 2) and (5, 2, 5) have K == N; (1, 1, 1) is one point and one feature.
VALID_SHAPES = [(1, 1, 1), (2, 2, 2), (5, 1, 2), (12, 2, 2), (12, 3, 3), (5, 2, 5)]
TOO_FEW_SAMPLES = [(1, 2, 2), (2, 1, 3)]
# X = offset + scale * Z, Z in [-10, 10]: ordinary values, values near 1e-12 and near 1e12
SCALES = [(1.0, 0.0), (1e-12, 0.0), (1e12, 0.0), (1.0, 1e12)]
VALID_DTYPES = ["float64", "float32", "float16", "int64", "int8", "uint8", "bool", "object", "object-str"]
PREDICT_SHAPES = [(1, 2, 1), (5, 2, 1), (12, 2, 1), (12, 3, 1), (5, 1, 1)]


def make(kind: str, n_clusters: int):
    if kind == "gmm-mcmc":  # a short NUTS run: the standardised path must hold for NUTS too
        return probkm.SphericalGMM(
            n_clusters, n_init=0, n_temperatures=6, inference="mcmc", num_warmup=20, num_samples=20,
            num_chains=1, num_prior_samples=2, random_state=0,
        )
    if kind == "gmm":
        return probkm.SphericalGMM(n_clusters, n_init=0, n_temperatures=6, random_state=0)
    return probkm.AnnealedKMeans(n_clusters, n_init=0, n_temperatures=6, random_state=0)


# --- the oracle: what is wrong with an input, decided without probkm ----------------------


def _as_float(value) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return None


def expected_problems(X, n_clusters: int | None = None, n_features: int | None = None) -> list[tuple[type, str]]:
    """Every problem of ``X`` as ``(exception type, word the message must contain)``.

    ``n_clusters`` is checked for ``fit`` and ``n_features`` for ``predict``; an empty list
    means the input is valid. Object arrays count as numbers when every element converts
    with ``float()`` (numeric strings included: that is what probkm does today).
    """
    arr = np.asarray(X)
    found: list[tuple[type, str]] = []
    if arr.dtype.kind in "USV":
        return [(TypeError, "numeric")]
    if arr.dtype.kind == "c":
        found.append((ValueError, "complex"))
    if arr.ndim != 2:
        found.append((ValueError, "2d"))
    if arr.dtype.kind == "O":
        converted = [_as_float(v) for v in arr.ravel()]
        if any(v is None for v in converted):
            found.append((TypeError, "numeric"))
            return found
        arr = np.asarray(converted, dtype=np.float64).reshape(arr.shape)
    if arr.ndim == 2 and 0 in arr.shape:
        found.append((ValueError, "empty"))
    if arr.dtype.kind in "biuf" and arr.size:
        values = arr.astype(np.float64)
        # NaN entries are missing values: a problem only when a row (or, for fit, a column) has nothing else
        if values.ndim == 2 and np.isnan(values).all(axis=1).any():
            found.append((ValueError, "no observed value"))
        if values.ndim == 2 and n_clusters is not None and np.isnan(values).all(axis=0).any():
            found.append((ValueError, "no observed value"))
        if values.ndim != 2 and np.isnan(values).any():
            found.append((ValueError, "nan"))
        if np.isinf(values).any():
            found.append((ValueError, "infinity"))
    if arr.ndim == 2:
        if n_clusters is not None and arr.shape[0] < n_clusters:
            found.append((ValueError, "n_samples"))
        if n_features is not None and arr.shape[1] != n_features and arr.shape[1] > 0:
            found.append((ValueError, "features"))
    return found


# --- strategies ----------------------------------------------------------------------------


def _cast(values: np.ndarray, dtype: str) -> np.ndarray:
    """``values`` as ``dtype``; overflowing or truncating casts are allowed (they are part of
    the hostility), and so are the warnings they raise while the data are made."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dtype == "object":
            return values.astype(object)
        if dtype == "object-str":  # numbers written as strings, in an object array
            return np.array([repr(float(v)) for v in values.ravel()], dtype=object).reshape(values.shape)
        if dtype == "bool":
            return values > values.mean()
        return values.astype(dtype)


@st.composite
def valid_matrices(draw, shapes=VALID_SHAPES):
    """``(X, n_clusters)``: valid 2-D data of one of ``shapes``, with hostile values and dtype:
    duplicated or identical rows, magnitudes near 1e-12 or 1e12, a 1e12 offset, integer, bool,
    half-precision and object dtypes."""
    n, d, k = draw(st.sampled_from(shapes))
    # halves in [-10, 10]: arbitrary floats would give features whose spreads differ by 1e300,
    # which hits the known mixed-scale bug on almost every example
    z = draw(hnp.arrays(np.float64, (n, d), elements=st.integers(-20, 20).map(lambda i: i / 2)))
    pattern = draw(st.sampled_from(["as drawn", "duplicated rows", "identical rows"]))
    if pattern == "duplicated rows":
        z = z[draw(hnp.arrays(np.int64, n, elements=st.integers(0, max(n // 2 - 1, 0))))]
    elif pattern == "identical rows":
        z = np.repeat(z[:1], n, axis=0)
    dtype = draw(st.sampled_from(VALID_DTYPES))
    # float16 overflows at 65504: keep it at unit scale so the input stays valid
    scale, offset = draw(st.sampled_from(SCALES[:1] if dtype == "float16" else SCALES))
    X = _cast(offset + scale * z, dtype)
    assert not expected_problems(X, n_clusters=k), X
    return X, k


@st.composite
def invalid_matrices(draw, shapes=VALID_SHAPES + TOO_FEW_SAMPLES):
    """``(X, n_clusters)``: 2-D data with at least one problem: infinity anywhere or a row of
    NaN only (besides, maybe, scattered NaN entries, which are valid missing values), text
    (unicode or bytes), a word among numbers in an object array, complex values, or fewer
    samples than clusters."""
    n, d, k = draw(st.sampled_from(shapes))
    values = draw(hnp.arrays(np.float64, (n, d), elements=st.floats(-1e12, 1e12, allow_subnormal=False)))
    problem = draw(st.sampled_from(["non-finite", "unicode", "bytes", "object-word", "complex", "too few samples"]))
    if problem == "too few samples":
        n, d, k = draw(st.sampled_from(TOO_FEW_SAMPLES))
        values = np.zeros((n, d))
    elif problem == "non-finite" or draw(st.booleans()):
        for _ in range(draw(st.integers(0, 2))):  # missing values: not a problem by themselves
            values[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = np.nan
        if draw(st.booleans()):
            values[draw(st.integers(0, n - 1))] = np.nan  # a row with no observed value
        else:
            for _ in range(draw(st.integers(1, 3))):
                i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))
                values[i, j] = draw(st.sampled_from([np.inf, -np.inf]))
    if problem == "unicode":
        X = values.astype(str)
    elif problem == "bytes":
        X = values.astype(str).astype(bytes)
    elif problem == "object-word":
        X = values.astype(object)
        word = draw(st.text(min_size=0, max_size=5).filter(lambda t: _as_float(t) is None))
        X[draw(st.integers(0, n - 1)), draw(st.integers(0, d - 1))] = word
    elif problem == "complex":
        X = values + 1j
    else:
        X = _cast(values, draw(st.sampled_from(["float64", "float32", "object"])))
    assert expected_problems(X, n_clusters=k), X
    return X, k


@st.composite
def any_shape(draw):
    """Arrays of 0, 1 or 3 dimensions, or 2-D with an empty side, of several dtypes."""
    ndim = draw(st.sampled_from([0, 1, 2, 3]))
    if ndim == 2:
        shape = draw(st.sampled_from([(0, 2), (3, 0), (0, 0)]))
    else:
        shape = draw(hnp.array_shapes(min_dims=ndim, max_dims=ndim, min_side=0, max_side=3)) if ndim else ()
    values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-1e12, 1e12) | st.sampled_from([np.nan, np.inf])))
    dtype = draw(st.sampled_from(["float64", "int64", "object", "unicode", "complex"]))
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = values.astype(str) if dtype == "unicode" else values + 1j if dtype == "complex" else values.astype(dtype)
    return X, draw(st.sampled_from([1, 2]))


# --- checking an outcome ---------------------------------------------------------------


def _call(fn, *args):
    """``(result or exception, warnings)``; ``ValueError``/``TypeError`` are returned, any
    other exception propagates (a raw JAX error, an ``OverflowError``...) and fails the test."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn(*args)
        except (ValueError, TypeError) as err:
            result = err
    return result, caught


def assert_names_a_problem(err: Exception, problems, X) -> None:
    message = str(err).lower()
    ok = any(isinstance(err, kind) and word in message for kind, word in problems)
    assert ok, f"{type(err).__name__}({err}) names none of {problems} for input {np.asarray(X)!r}"


def _bounding_box_tolerance(X: np.ndarray) -> float:
    # float32 arithmetic inside JAX: allow its rounding relative to the data's magnitude
    return 1e-4 * float(np.ptp(X, axis=0).max()) + 1e-6 * float(np.abs(X).max()) + 1e-300


def assert_valid_fit(est, X, n_clusters: int, caught) -> None:
    X = np.asarray(X).astype(np.float64)
    others = [f"{w.category.__name__}: {w.message}" for w in caught if not issubclass(w.category, ConvergenceWarning)]
    assert not others, others
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if isinstance(est, probkm.SphericalGMM):
        means, weights = est.means_, est.weights_
    else:
        means, weights = est.cluster_centers_, est.weights_
    assert means.shape == (n_clusters, X.shape[1])
    assert np.isfinite(means).all(), means
    assert np.isfinite(weights).all() and (weights >= 0).all() and weights.sum() == pytest.approx(1.0)
    assert np.isfinite(est.sigma_) and est.sigma_ >= 0, f"sigma_={est.sigma_}"
    if est.sigma_ == 0:
        collapse = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning) and "sigma collapsed" in str(w.message)]
        assert collapse, f"sigma_=0 without a ConvergenceWarning saying 'sigma collapsed': {[str(w.message) for w in caught]}"
    if not warned:
        # MAP means and k-means centroids are weighted averages of the data (and, for the MAP,
        # of the prior centre, which is the data mean): they cannot leave the bounding box
        tol = _bounding_box_tolerance(X)
        assert (means >= X.min(axis=0) - tol).all() and (means <= X.max(axis=0) + tol).all(), (means, X.min(0), X.max(0))


def assert_valid_predictions(est, X, n_clusters: int) -> None:
    labels, caught = _call(est.predict, X)
    assert not isinstance(labels, Exception), labels
    assert not [w for w in caught if not issubclass(w.category, ConvergenceWarning)], [str(w.message) for w in caught]
    assert labels.shape == (np.shape(X)[0],) and np.issubdtype(labels.dtype, np.integer)
    assert ((labels >= 0) & (labels < n_clusters)).all()
    if isinstance(est, probkm.SphericalGMM):
        proba, _ = _call(est.predict_proba, X)
        assert np.isfinite(proba).all() and np.allclose(proba.sum(axis=1), 1.0), proba


# --- property tests ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["gmm", "gmm-mcmc", "kmeans"])
@HOSTILE
@given(case=valid_matrices())
def test_fit_works_on_valid_hostile_values(kind, case):
    X, n_clusters = case
    est = make(kind, n_clusters)
    result, caught = _call(est.fit, X)
    assert not isinstance(result, Exception), f"rejected a valid input {X!r}: {result!r}"
    warned = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    event(f"fitted {np.shape(X)}, K={n_clusters}" + (" with a ConvergenceWarning" if warned else ""))
    assert_valid_fit(est, X, n_clusters, caught)
    assert_valid_predictions(est, X, n_clusters)


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
@HOSTILE
@given(case=invalid_matrices() | any_shape())
def test_fit_rejects_invalid_input_naming_the_problem(kind, case):
    X, n_clusters = case
    result, _ = _call(make(kind, n_clusters).fit, X)
    problems = expected_problems(X, n_clusters=n_clusters)
    event(f"rejected ({', '.join(word for _, word in problems)})")
    assert problems, f"the strategies should only draw invalid inputs: {X!r}"
    assert isinstance(result, Exception), f"accepted an input with problems {problems}: {X!r}"
    assert_names_a_problem(result, problems, X)


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(0)
    X = np.r_[rng.normal(size=(6, 2)), rng.normal(size=(6, 2)) + 6.0]
    return {kind: make(kind, 2).fit(X) for kind in ("gmm", "kmeans")}


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
@HOSTILE
@given(case=valid_matrices(shapes=PREDICT_SHAPES) | invalid_matrices(shapes=PREDICT_SHAPES) | any_shape())
def test_predict_on_hostile_input(kind, case, fitted):
    """Fitted on 2 features: valid 2-feature input gets labels, anything else a clear error."""
    X, _ = case
    est = fitted[kind]
    problems = expected_problems(X, n_features=2)
    event("rejected" if problems else "predicted")
    if problems:
        result, _ = _call(est.predict, X)
        assert isinstance(result, Exception), f"predicted on an input with problems {problems}: {X!r}"
        assert_names_a_problem(result, problems, X)
    else:
        assert_valid_predictions(est, X, 2)


# --- explicit cases of the contract that hold ------------------------------------------------

BASE = np.random.default_rng(0).normal(size=(12, 2))


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
@pytest.mark.parametrize("scale", [1e-12, 1e12])
def test_labels_do_not_depend_on_the_units(kind, scale):
    reference = make(kind, 2).fit(BASE)
    scaled = make(kind, 2).fit(BASE * scale)
    np.testing.assert_array_equal(scaled.predict(BASE * scale), reference.predict(BASE))
    centres = scaled.means_ if kind == "gmm" else scaled.cluster_centers_
    expected = reference.means_ if kind == "gmm" else reference.cluster_centers_
    np.testing.assert_allclose(centres / scale, expected, rtol=1e-4, atol=1e-4)
    assert scaled.sigma_ == pytest.approx(reference.sigma_ * scale, rel=1e-4)


def test_gmm_fit_does_not_depend_on_the_origin():
    reference = make("gmm", 2).fit(BASE)
    moved = make("gmm", 2).fit(BASE + 1e12)
    np.testing.assert_allclose(moved.means_ - 1e12, reference.means_, atol=1e-3)
    assert moved.sigma_ == pytest.approx(reference.sigma_, rel=1e-4)


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
@pytest.mark.parametrize(
    "X, word",
    [
        (np.array([[1.0, "a"], [2.0, 3.0]], dtype=object), "numeric"),
        (np.array([["1", "2"], ["3", "4"]]), "numeric"),
        (np.array([[b"1", b"2"], [b"3", b"4"]]), "numeric"),
        (BASE.astype(complex), "complex"),
        (np.array([[None, None], [2.0, 3.0]], dtype=object), "no observed value in row 0"),
        ([[1.0, 2.0], [3.0]], "inhomogeneous"),
    ],
    ids=["object-word", "unicode", "bytes", "complex", "object-None", "ragged-list"],
)
def test_clear_errors_for_non_numbers(kind, X, word):
    with pytest.raises((ValueError, TypeError), match=f"(?i){word}"):
        make(kind, 1).fit(X)


@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
def test_predict_rejects_wrong_width_infinity_empty_rows_and_unfitted(kind, fitted):
    est = fitted[kind]
    with pytest.raises(ValueError, match="3 features"):
        est.predict(np.zeros((4, 3)))
    with pytest.raises(ValueError, match="infinity at row 1, column 0"):
        est.predict(np.array([[0.0, 0.0], [np.inf, 0.0]]))
    with pytest.raises(ValueError, match="no observed value in row 1"):
        est.predict(np.array([[0.0, 0.0], [np.nan, np.nan]]))
    assert est.predict(np.array([[0.0, np.nan], [np.nan, 6.0]])).shape == (2,)  # missing values are fine
    with pytest.raises(ValueError, match="(?i)not fitted"):
        make(kind, 2).predict(np.zeros((4, 2)))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_kmeans_warns_on_identical_points_and_k_equal_n():
    with pytest.warns(ConvergenceWarning, match="sigma collapsed"):
        make("kmeans", 2).fit(np.full((12, 2), 3.3))
    with pytest.warns(ConvergenceWarning, match="sigma collapsed"):
        make("kmeans", 5).fit(BASE[:5])


# --- regressions: minimal reproducers of bugs that hostile input once exposed ---------------------------


# fixed regression: check_numeric_2d (probkm/_checks.py) catches only TypeError/ValueError around
#   arr.astype(np.float64): an object array holding an int too large for a float (10**400) escapes
#   as a raw OverflowError ('int too large to convert to float')
@pytest.mark.parametrize("kind", ["gmm", "kmeans"])
def test_regression_object_array_with_huge_int(kind):
    X = np.array([[10**400, 1.0], [2.0, 3.0]], dtype=object)
    with pytest.raises((ValueError, TypeError), match="row 0, column 0"):
        make(kind, 1).fit(X)


# fixed regression: AnnealedKMeans._set_solution runs _log_sigma_laplace /
#   likelihood.log_sigma_derivatives on unstandardised data in float32: (2 sigma^2)^-2
#   under/overflows for a data scale beyond about 1e9 or below 1e-9, so log_sigma_posterior_ is (nan,
#   nan), silently, and sample(sigma='posterior') returns NaN points
@pytest.mark.parametrize("scale", [1e12, 1e-12])
def test_regression_kmeans_sigma_posterior_nan_at_extreme_scales(scale):
    km = make("kmeans", 2).fit(BASE * scale)
    assert np.isfinite(km.log_sigma_posterior_).all(), km.log_sigma_posterior_
    assert np.isfinite(km.sample(5, sigma="posterior")[0]).all()


def test_kmeans_sigma_posterior_is_finite_at_unit_scale():
    """Control for the bug above: at the data's natural scale the Laplace posterior is fine."""
    km = make("kmeans", 2).fit(BASE)
    assert np.isfinite(km.log_sigma_posterior_).all()
    assert abs(km.log_sigma_posterior_[0] - np.log(km.sigma_)) < 0.5


# fixed regression: AnnealedKMeans fits raw data cast to float32 (as_jax) without centring: for X =
#   1e12 + N(0, 1) every point rounds to the same float32, so it returns sigma_=0 and meaningless
#   centres with a 'duplicated points' ConvergenceWarning although the points are distinct; k-means
#   is translation invariant, the labels should equal those of X - 1e12
def test_regression_kmeans_translation_invariance():
    reference = make("kmeans", 2).fit(BASE)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        moved = make("kmeans", 2).fit(BASE + 1e12)
    assert not caught, [str(w.message) for w in caught]
    np.testing.assert_array_equal(moved.labels_, reference.labels_)


# fixed regression: AnnealedKMeans on |x| ~ 1e20: squared distances overflow float32 (likelihood.
#   squared_distances), the centres become NaN, 'sigma collapsed to nan' is warned and fit then
#   fails inside scipy's linear_sum_assignment (relabel.matching_permutations, called for
#   annealing_path_) with 'matrix contains invalid numeric entries', which does not name the problem
def test_regression_kmeans_values_beyond_float32_range():
    """Standardised first, the fit is the unit-scale fit times 1e20."""
    X = BASE * 1e20
    result, caught = _call(make("kmeans", 2).fit, X)
    assert not isinstance(result, Exception), result
    assert_valid_fit(result, X, 2, caught)
    assert not caught, [str(w.message) for w in caught]
    reference = make("kmeans", 2).fit(BASE)
    np.testing.assert_array_equal(result.labels_, reference.labels_)
    np.testing.assert_allclose(result.cluster_centers_ / 1e20, reference.cluster_centers_, rtol=1e-4, atol=1e-4)
    assert result.sigma_ == pytest.approx(reference.sigma_ * 1e20, rel=1e-4)


# fixed regression: SphericalGMM on X = 1e300 * N(0, 1): Scaling.of (probkm/_base.py) and
#   data_prior_defaults overflow the variance to inf, so means_, weights_ and sigma_ are NaN (with
#   overflow RuntimeWarnings); it raises a ValueError naming the magnitude and the remedy
def test_regression_gmm_values_near_float64_max():
    X = BASE * 1e300
    with pytest.raises(ValueError, match=r"X is too large to compute with: its values reach 2\.33e\+300.*Divide X by a constant first"):
        make("gmm", 2).fit(X)


# fixed regression: SphericalGMM fits standardised data but predict/predict_proba evaluate the raw X
#   in float32 (predictive_responsibilities(as_jax(X), ...)): for X = 1e12 + N(0, 1) every row gets
#   proba == weights_ and label 0 although means_ are right; at |x| ~ 1e20 the squares overflow and
#   predict_proba is NaN; at |x| ~ 1e-20 they underflow and every label is 0
@pytest.mark.parametrize("transform", [lambda x: x + 1e12, lambda x: x * 1e20, lambda x: x * 1e-20], ids=["offset-1e12", "scale-1e20", "scale-1e-20"])
def test_regression_gmm_predict_disagrees_with_its_own_fit(transform):
    X = transform(BASE)
    gmm = make("gmm", 2).fit(X)
    # the fitted model's own assignment, in float64
    d2 = ((X[:, None, :] - gmm.means_[None]) ** 2).sum(-1)
    expected = np.argmax(np.log(gmm.weights_) - d2 / (2 * gmm.sigma_**2), axis=1)
    np.testing.assert_array_equal(gmm.predict(X), expected)
    assert len(set(expected)) == 2  # the data are two clusters to the fit: the check is not vacuous


def test_gmm_predict_agrees_with_its_own_fit_at_unit_scale():
    """Control for the bug above."""
    gmm = make("gmm", 2).fit(BASE)
    d2 = ((BASE[:, None, :] - gmm.means_[None]) ** 2).sum(-1)
    expected = np.argmax(np.log(gmm.weights_) - d2 / (2 * gmm.sigma_**2), axis=1)
    np.testing.assert_array_equal(gmm.predict(BASE), expected)


# fixed regression: SphericalGMM with features on different scales (feature 0 about 1e4 times
#   feature 1): the pooled standardisation (Scaling.of) plus the per-feature data-derived loc_scale
#   prior leave a prior sd of ~1e-4 on feature 1 in standardised units; the default BFGS MAP step
#   then diverges and means_[:, 1] comes out near +-3e6 for data in [-1.3, 1.4], with no warning
#   (optimizer='adam' gives sensible means)
def test_regression_gmm_features_on_different_scales():
    X = np.c_[BASE[:, 0] * 1e4, BASE[:, 1]]
    result, caught = _call(make("gmm", 2).fit, X)
    assert not isinstance(result, Exception), result
    assert_valid_fit(result, X, 2, caught)


# fixed regression: SphericalGMM on identical points returns a degenerate sigma_ (1e-3 for 7.0, an
#   artefact of the 1e-6 floor on sigma^2 in map_starts; 6e-20 for 3.3, whose
#   rounding-level variance ~1e-31 Scaling.of takes for the data scale) and weights [0.93, 0.07]
#   without any ConvergenceWarning; AnnealedKMeans warns 'sigma collapsed'
@pytest.mark.parametrize("value", [3.3, 7.0])
def test_regression_gmm_silent_on_identical_points(value):
    with pytest.warns(ConvergenceWarning):
        make("gmm", 2).fit(np.full((12, 2), value))


# fixed regression: SphericalGMM with n_components == n_samples: the MAP does not exist (the log
#   joint is unbounded as sigma -> 0), and BFGS stops anywhere: for X = [[0, 0], [0.5, 1.5]], K=2,
#   fit returns sigma_ = 7.6e-5, means_ [[0.625, 0.208], [-0.125, 1.29]] (outside the data's
#   bounding box, not at the points) and log_joint_ = -7.6e7, without a ConvergenceWarning
#   (check_degenerate only looks at sigma_ < 1e-6 * data scale); AnnealedKMeans warns
@pytest.mark.parametrize("X", [np.array([[0.0, 0.0], [0.5, 1.5]]), BASE[:2]], ids=["grid", "normal"])
def test_regression_gmm_silent_when_k_equals_n(X):
    # data-dependent: BASE[:5] with K=5 does collapse to sigma 9e-20, and then it warns
    with pytest.warns(ConvergenceWarning):
        make("gmm", 2).fit(X)


def _eleven_zeros_and_one_point():
    X = np.zeros((12, 2))
    X[-1, 1] = 0.5
    return X


# fixed regression: SphericalGMM predict_proba is NaN for every row after sigma_ collapses: (a) 11
#   copies of (0, 0) plus (0, 0.5), K=2 (also with default n_init and n_temperatures): the BFGS MAP
#   drives sigma to exactly 0.0 and the second mean to (0, -67), far outside the data; fit warns
#   'sigma collapsed to 0' but log_joint_ is NaN; (b) 12 identical points (0, 3.3), K=2: sigma_ =
#   4e-20 and no warning at all. predictive_responsibilities divides by sigma^2 (0 or below float32
#   range), so predict labels everything 0
@pytest.mark.parametrize("X", [_eleven_zeros_and_one_point(), np.c_[np.zeros(12), np.full(12, 3.3)]], ids=["one-off-point", "identical-3.3"])
def test_regression_gmm_predict_proba_nan_after_sigma_collapse(X):
    gmm, _ = _call(make("gmm", 2).fit, X)
    assert not isinstance(gmm, Exception), gmm
    assert np.isfinite(gmm.log_joint_), gmm.log_joint_
    proba = gmm.predict_proba(X)
    assert np.isfinite(proba).all(), proba
