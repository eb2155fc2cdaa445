"""Properties every model keeps on any small training matrix, checked with hypothesis.

The matrices are drawn small and nasty: a single user or item, empty rows and columns, no entry
at all, duplicate entries, stored zeros, unsorted indices, tiny and huge magnitudes, negative
values (where the model takes them), float32 / float64 values, as CSR, CSC, COO, a csr_array or
a dense array. On them, for every model and solver:

- fit returns finite factors or refuses with a clear ``ValueError`` / ``mfkit.NumericalError``;
- fit never modifies the caller's matrix;
- fit is deterministic: the same ``random_state`` gives the same model, bit for bit;
- recommend (one user or a batch, with every filter) never returns a filtered item, an id twice
  or an id out of range, ranks best first and pads with -1 / -inf only at the end;
- save -> load gives the same model, bit for bit;
- the C++ and reference backends agree (the tolerances of tests/test_*_backends.py), on values
  of ordinary magnitude.

The examples are derandomized: every run, CI's included, checks the same ones. To search for
new counterexamples, run with ``HYPOTHESIS_PROFILE=explore``.
"""
from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_contract import MODELS, Spec, rows_of

import mfkit

settings.register_profile("ci", max_examples=30, deadline=None, derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.register_profile("explore", max_examples=500, deadline=None, database=None,
                          suppress_health_check=[HealthCheck.too_slow], print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
SPECS = {spec.id(): spec for spec in MODELS}


# ------------------------------------------------------------------------------------ the models
@dataclass(frozen=True)
class Variant:
    """A model of test_contract.py's MODELS (its fast one-thread fit) with one solver."""
    spec: Spec
    params: dict
    tolerance: dict  # model dtype -> scaled_error allowed between the backends
    negatives: bool = True  # the model takes negative values (NMF refuses them)

    def __str__(self):
        return "-".join([str(self.spec), *map(str, self.params.values())])

    def fit(self, matrix, **params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # format conversions, NMF's ConvergenceWarning
            return self.spec.fit(matrix, **{**self.params, **params})


VARIANTS = {str(variant): variant for variant in [
    Variant(SPECS["ALS"], dict(solver="cg"), {F64: 1e-7, F32: 1e-4}),
    Variant(SPECS["ALS"], dict(solver="cholesky"), {F64: 1e-9, F32: 1e-4}),
    Variant(SPECS["ALS-block"], dict(solver="block"), {F64: 1e-7, F32: 1e-4}),
    Variant(SPECS["BPR"], dict(negative_sampling="uniform"), {F64: 1e-6, F32: 1e-3}),
    Variant(SPECS["ExplicitMF"], dict(solver="sgd"), {F64: 1e-9, F32: 1e-4}),
    Variant(SPECS["ExplicitMF"], dict(solver="als"), {F64: 1e-9, F32: 1e-4}),
    Variant(SPECS["NMF"], dict(solver="cd"), {F64: 1e-9, F32: 2e-4}, negatives=False),
    Variant(SPECS["NMF"], dict(solver="mu"), {F64: 1e-9, F32: 2e-4}, negatives=False),
]}
each_model = pytest.mark.parametrize("name", VARIANTS)  # a name: what hypothesis prints


# ---------------------------------------------------------------------------- training matrices
@dataclass(frozen=True)
class Case:
    """A drawn training matrix; its repr (as hypothesis prints it) is enough to rebuild it."""
    shape: tuple
    entries: tuple  # ((row, column, value), ...) in stored order, duplicates kept
    kind: str  # "csr", "csc", "coo", "csr_array" or "dense" (duplicates summed)
    dtype: str  # of the stored values

    def matrix(self):
        rows = np.array([entry[0] for entry in self.entries], dtype=np.int64)
        cols = np.array([entry[1] for entry in self.entries], dtype=np.int64)
        values = np.array([entry[2] for entry in self.entries], dtype=np.float64)
        with np.errstate(over="ignore"):
            values = values.astype(self.dtype)  # float32: beyond ~3.4e38 the caller holds inf
        if self.kind == "dense":
            dense = np.zeros(self.shape, self.dtype)
            np.add.at(dense, (rows, cols), values)
            return dense
        if self.kind == "coo":
            return sp.coo_matrix((values, (rows, cols)), shape=self.shape)
        by_rows = self.kind != "csc"
        major, minor = (rows, cols) if by_rows else (cols, rows)
        order = np.argsort(major, kind="stable")  # rows in order; columns as drawn
        counts = np.bincount(major, minlength=self.shape[0 if by_rows else 1])
        arrays = (values[order], minor[order].astype(np.int32), np.r_[0, np.cumsum(counts)])
        container = {"csr": sp.csr_matrix, "csc": sp.csc_matrix, "csr_array": sp.csr_array}
        return container[self.kind](arrays, shape=self.shape)


def magnitudes(extreme: bool):
    """Positive values: ordinary ones in [0.1, 10), and (``extreme``) any power of ten that a
    float64 holds, subnormal ones included."""
    exponents = st.integers(-1, 0)
    if extreme:
        exponents = st.one_of(st.integers(-3, 3), st.integers(-45, 45), st.integers(-320, 307))
    return st.builds(lambda mantissa, exponent: mantissa * 10.0**exponent,
                     st.floats(1.0, 10.0, exclude_max=True), exponents)


@st.composite
def cases(draw, variant: Variant, extreme: bool = True):
    n_users, n_items = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    value = magnitudes(extreme)
    if variant.negatives:
        value = st.one_of(value, value.map(lambda v: -v))
    value = st.one_of(value, st.just(0.0))  # a stored zero
    cell = st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1))
    # Ratings refuse a second entry for a cell (test_contract.py checks how): one per cell.
    unique = None if variant.spec.sums_duplicates else (lambda entry: entry[:2])
    entries = draw(st.lists(st.tuples(cell, value).map(lambda e: (*e[0], e[1])),
                            max_size=3 * n_users * n_items, unique_by=unique))
    kind = draw(st.sampled_from(["csr", "csc", "coo", "csr_array", "dense"]))
    dtype = draw(st.sampled_from(["float64", "float32"]))
    return Case((n_users, n_items), tuple(entries), kind, dtype)


DTYPES = st.sampled_from([F64, F32])


# ------------------------------------------------------------------------------------- helpers
@dataclass(frozen=True)
class Raised:
    kind: type
    message: str


def outcome(call, *args, **kwargs):
    """What ``call`` returns, or the exception it raises as a :class:`Raised`."""
    try:
        return call(*args, **kwargs)
    except Exception as error:
        return Raised(type(error), str(error))


def refused(result) -> bool:
    """Whether an :func:`outcome` is a refusal, which must be clear: a ValueError or a
    NumericalError with a message, not numpy's LinAlgError (a ValueError that names no cause)."""
    if not isinstance(result, Raised):
        return False
    clear = issubclass(result.kind, (ValueError, mfkit.NumericalError))
    assert clear and not issubclass(result.kind, np.linalg.LinAlgError) and result.message, \
        result
    return True


def learned(model):
    """{name: value} of every real number fit learned: factors, biases, losses, scalars."""
    values = {name: np.asarray(getattr(model, name))
              for name in (*model._fitted_arrays, *model._fitted_scalars)}
    return {name: value for name, value in values.items()
            if np.issubdtype(value.dtype, np.floating)}


def finite(model) -> bool:
    return all(np.all(np.isfinite(value)) for value in learned(model).values())


def fitted(variant, matrix, **params):
    """A fitted model with finite factors, else the example is rejected: fits that refuse or
    return non-finite factors are test_fit_gives_finite_factors_or_a_clear_error's business."""
    model = outcome(variant.fit, matrix, **params)
    assume(not isinstance(model, Raised) and finite(model))
    return model


def assert_bitwise_equal(a, b):
    """The same class, parameters, fitted arrays and scalars, bit for bit (NaN included)."""
    assert type(a) is type(b) and a.get_params() == b.get_params()
    for name in (*type(a)._fitted_arrays, *type(a)._fitted_scalars):
        x, y = np.asarray(getattr(a, name)), np.asarray(getattr(b, name))
        assert (x.dtype, x.shape, x.tobytes()) == (y.dtype, y.shape, y.tobytes()), name


def contents(matrix):
    """Everything of the caller's matrix that fit must leave alone."""
    names = ("data", "indices", "indptr", "row", "col") if sp.issparse(matrix) else ()
    arrays = [np.asarray(getattr(matrix, name)) for name in names if hasattr(matrix, name)]
    arrays = arrays or [np.asarray(matrix)]
    return (type(matrix), getattr(matrix, "format", None), matrix.shape, matrix.dtype,
            [(a.dtype, a.shape, a.tobytes()) for a in arrays])


# ---------------------------------------------------------------------------------------- fit
@each_model
@given(data=st.data())
def test_fit_gives_finite_factors_or_a_clear_error(name, data):
    variant = VARIANTS[name]
    case = data.draw(cases(variant), "case")
    dtype = data.draw(DTYPES, "dtype")
    backend = data.draw(st.sampled_from(["cpp", "reference"]), "backend")
    model = outcome(variant.fit, case.matrix(), dtype=dtype, backend=backend)
    if not refused(model):
        for key, value in learned(model).items():
            assert np.all(np.isfinite(value)), f"{key} is not finite"


@each_model
@given(data=st.data())
def test_fit_never_modifies_its_input(name, data):
    variant = VARIANTS[name]
    matrix = data.draw(cases(variant), "case").matrix()
    before = contents(matrix)
    outcome(variant.fit, matrix, dtype=data.draw(DTYPES, "dtype"))
    assert contents(matrix) == before


@each_model
@given(data=st.data())
def test_fit_is_deterministic(name, data):
    variant = VARIANTS[name]
    case = data.draw(cases(variant), "case")
    params = dict(dtype=data.draw(DTYPES, "dtype"),
                  random_state=data.draw(st.integers(0, 2**32 - 1), "random_state"))
    first, second = (outcome(variant.fit, case.matrix(), **params) for _ in range(2))
    if isinstance(first, Raised):
        assert first == second
    else:
        assert_bitwise_equal(second, first)


# ---------------------------------------------------------------------------------- recommend
def drawn_fit(name, data):
    """``(variant, case, matrix, fitted model)`` drawn for model ``name`` (case, then dtype)."""
    variant = VARIANTS[name]
    case = data.draw(cases(variant), "case")
    matrix = case.matrix()
    return variant, case, matrix, fitted(variant, matrix, dtype=data.draw(DTYPES, "dtype"))


@each_model
@given(data=st.data())
def test_recommend_keeps_its_promises(name, data):
    variant, case, matrix, model = drawn_fit(name, data)
    n_users, n_items = case.shape
    user, item = st.integers(0, n_users - 1), st.integers(0, n_items - 1)
    users = np.array(data.draw(st.one_of(user, st.lists(user, min_size=1, max_size=12)),
                               "userid"))
    N = data.draw(st.integers(1, n_items + 2), "N")
    filter_liked = data.draw(st.booleans(), "filter_already_liked_items")
    recalculate = data.draw(st.booleans(), "recalculate_user")
    choice = data.draw(st.sampled_from(["all", "filter_items", "items"]), "candidates")
    ids_of = {"all": st.none(), "filter_items": st.lists(item, max_size=n_items, unique=True),
              "items": st.lists(item, min_size=1, max_size=n_items, unique=True)}[choice]
    candidates = {choice: data.draw(ids_of, choice)} if choice != "all" else {}
    rows = sp.csr_matrix(matrix)[np.atleast_1d(users)]
    answer = outcome(model.recommend, users if users.ndim else int(users), rows, N=N,
                     filter_already_liked_items=filter_liked, recalculate_user=recalculate,
                     **candidates)
    if isinstance(answer, Raised):
        assert recalculate and refused(answer), answer  # a fold-in may refuse, as fit does
        return
    ids, scores = answer

    assert ids.ndim == scores.ndim == users.ndim + 1 and ids.shape == scores.shape
    liked = rows_of(model, rows)
    allowed = set(candidates.get("items", range(n_items)))
    for row, (row_ids, row_scores) in enumerate(zip(np.atleast_2d(ids), np.atleast_2d(scores))):
        excluded = set(candidates.get("filter_items", []))
        if filter_liked:
            excluded |= set(liked[row].indices)
        expected = min(N, len(allowed - excluded))
        listed = row_ids[:expected]
        assert len(listed) == expected and np.all(listed >= 0), "fewer items than candidates"
        assert len(set(listed)) == expected, "an id twice"
        assert set(listed) <= allowed - excluded, "a filtered or unknown id"
        assert np.all(row_ids[expected:] == -1) and np.all(np.isneginf(row_scores[expected:])), \
            "padding elsewhere than at the end"
        assert not np.isnan(row_scores).any(), "a NaN score"
        assert np.all(row_scores[:-1] >= row_scores[1:]), "not best first"
    if users.ndim == 0:
        assert len(ids) == expected  # one user: no padding, shorter


# -------------------------------------------------------------------------------- persistence
def same_answers(a, b):
    if isinstance(a, Raised):
        assert a == b
    else:
        assert all(x.dtype == y.dtype and x.tobytes() == y.tobytes() for x, y in zip(a, b))


@each_model
@given(data=st.data())
def test_save_load_is_exact(name, data):
    variant, case, matrix, model = drawn_fit(name, data)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "model.npz")
        model.save(path)
        loaded = mfkit.load(path)
    assert_bitwise_equal(loaded, model)
    rows = sp.csr_matrix(matrix)
    users = np.arange(case.shape[0])
    for userid, user_items, recalculate in ((users, rows, False), (0, rows[0], True)):
        same_answers(*(outcome(m.recommend, userid, user_items, N=3,
                               recalculate_user=recalculate) for m in (loaded, model)))


# ----------------------------------------------------------------------------------- backends
def scaled_error(a, b) -> float:
    """max|a - b| relative to max|b|, or absolute below 1: an exact 0 comes out of either backend
    as rounding noise of the intermediate values (of size 1 for ordinary values), so a relative
    error of two noises means nothing."""
    scale = max(float(np.max(np.abs(b), initial=0.0)), 1.0)
    return float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0)) / scale


@each_model
@given(data=st.data())
def test_backends_agree(name, data):
    variant = VARIANTS[name]
    case = data.draw(cases(variant, extreme=False), "case")
    dtype = data.draw(DTYPES, "dtype")
    cpp, reference = (outcome(variant.fit, case.matrix(), dtype=dtype, backend=backend)
                      for backend in ("cpp", "reference"))
    assert refused(cpp) == refused(reference), (cpp, reference)
    if not refused(cpp):
        ours, theirs = learned(cpp), learned(reference)
        # NMF's reconstruction_err_, √(‖X‖² − 2⟨X, WH⟩ + ‖WH‖²), is the root of rounding noise
        # (~1.5e-8 ‖X‖) for an exact fit: the factors it comes from are compared instead.
        ours.pop("reconstruction_err_", None)
        if name.startswith("NMF"):
            # A component whose W column is (numerically) zero leaves its H row undetermined by
            # the data: HALS then divides rounding noise by a ~1e-34 curvature (scikit-learn skips
            # the step only when it is exactly 0), e.g. NMF-cd with 4 components on [[1, 0]]
            # gives H rows 0.107 apart between backends whose reconstructions agree. NMF's
            # objective determines W and the reconstruction W H: those are compared.
            for fitted in (ours, theirs):
                fitted["item_factors"] = fitted["user_factors"] @ fitted["item_factors"].T
        for key, value in ours.items():
            assert value.dtype == theirs[key].dtype
            assert scaled_error(value, theirs[key]) <= variant.tolerance[dtype], key
