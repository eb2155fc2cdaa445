"""BPR inputs and reproducibility: what ALS accepts and rejects, BPR accepts and rejects alike;
seeds fix results bit for bit at one thread; the caller's matrix is never modified."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit


def fit(matrix, callback=None, **params):
    params = {"factors": 4, "iterations": 3, "random_state": 0, **params}
    return mfkit.BPR(**params).fit(matrix, callback=callback, show_progress=False)


@pytest.fixture
def tiny():
    return sp.csr_matrix(np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]]))


# ---------------------------------------------------------------------------- accepted
@pytest.mark.parametrize("model_dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("data_dtype", [np.float32, np.float64, np.int64, np.uint8, bool])
def test_data_dtypes_give_the_same_model(model_dtype, data_dtype):
    matrix = mfkit.datasets.synthetic(40, 25, 0.1, seed=2)
    model = fit(matrix.astype(data_dtype), dtype=model_dtype)
    assert model.user_factors.dtype == model_dtype and model.item_bias.dtype == model_dtype
    # only the sign of a stored value matters
    assert np.array_equal(model.user_factors, fit(matrix, dtype=model_dtype).user_factors)


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil"])
def test_other_formats_dense_and_lists(fmt):
    matrix = mfkit.datasets.synthetic(30, 20, 0.2, seed=5)
    expected = fit(matrix).user_factors
    with pytest.warns(UserWarning, match="user_items"):
        assert np.array_equal(fit(matrix.asformat(fmt)).user_factors, expected)
    assert np.array_equal(fit(matrix.toarray()).user_factors, expected)
    assert np.array_equal(fit(sp.csr_array(matrix)).user_factors, expected)
    assert fit([[1, 0, 2], [0, 3, 0]]).user_factors.shape == (2, 4)


def test_caller_matrix_is_never_modified():
    matrix = mfkit.datasets.synthetic(50, 30, 0.1, seed=0).tocoo()
    unsorted = sp.csr_matrix((np.r_[matrix.data, 1.0, 0.0], (np.r_[matrix.row, 0, 1],
                              np.r_[matrix.col, 0, 2])), shape=matrix.shape)
    unsorted.indices[:] = unsorted.indices.copy()
    before = (unsorted.data.copy(), unsorted.indices.copy(), unsorted.indptr.copy())
    fit(unsorted)
    assert all(np.array_equal(a, b) for a, b in
               zip(before, (unsorted.data, unsorted.indices, unsorted.indptr)))


def test_interactions_keep_raw_ids(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\nalice,x,5\nbob,y,4\nalice,z,3\ncarol,x,1\n")
    data = mfkit.datasets.from_csv(path, user_col="user", item_col="item", value_col="rating")
    model = fit(data)
    assert list(model.user_ids) == list(data.user_ids)
    assert list(model.item_ids) == list(data.item_ids)


def test_numpy_scalar_parameters(tiny):
    model = fit(tiny, factors=np.int64(3), iterations=np.int32(2),
                learning_rate=np.float32(0.05), regularization=np.float64(0.01), dtype="float64")
    assert model.user_factors.shape == (2, 3) and model.user_factors.dtype == np.float64


# ---------------------------------------------------------------------------- rejected
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("kind", ["csr", "dense", "coo"])
def test_non_finite_values_rejected(bad, kind):
    dense = np.array([[1.0, 0.0, 2.0], [0.0, bad, 0.0]])
    matrix = {"csr": sp.csr_matrix(dense), "dense": dense, "coo": sp.coo_matrix(dense)}[kind]
    with pytest.warns(UserWarning) if kind == "coo" else contextlib.nullcontext():
        with pytest.raises(ValueError, match="user_items"):
            fit(matrix)


@pytest.mark.parametrize("matrix", [np.ones(5), np.ones((2, 3, 4)), np.zeros((0, 3)),
                                    sp.csr_matrix((3, 0))], ids=["1-D", "3-D", "0xn", "nx0"])
def test_bad_shapes_rejected(matrix):
    with pytest.raises(ValueError, match="user_items"):
        fit(matrix)


@pytest.mark.parametrize("matrix", ["abc", None, 3.0], ids=repr)
def test_non_matrix_rejected(matrix):
    with pytest.raises(TypeError, match="user_items"):
        fit(matrix)


def test_out_of_range_indices_rejected():
    matrix = sp.csr_matrix((np.ones(2), np.array([0, 1]), np.array([0, 1, 2])), shape=(2, 3))
    matrix.indices[1] = 7
    with pytest.raises(ValueError, match="user_items"):
        fit(matrix)


@pytest.mark.parametrize("name,value", [
    ("factors", 0), ("iterations", 0), ("learning_rate", 0.0), ("learning_rate", -0.1),
    ("learning_rate", np.inf), ("regularization", -1.0), ("regularization", np.nan),
    ("negative_sampling", "hard"), ("negative_sampling", None), ("backend", "gpu"),
    ("dtype", np.int32), ("num_threads", -1), ("random_state", -1), ("num_threads", 2**40),
])
def test_bad_parameter_value_raises_value_error(tiny, name, value):
    with pytest.raises(ValueError, match=name):
        fit(tiny, **{name: value})


@pytest.mark.parametrize("name,value", [
    ("factors", 2.5), ("iterations", "3"), ("learning_rate", "0.1"), ("regularization", None),
    ("verify_negative_samples", 1), ("random_state", 1.5), ("dtype", "not-a-dtype"),
])
def test_bad_parameter_type_raises_type_error(tiny, name, value):
    with pytest.raises(TypeError, match=name):
        fit(tiny, **{name: value})


def test_invalid_parameters_fail_before_any_work(tiny):
    model = mfkit.BPR(factors=0)
    with pytest.raises(ValueError, match="factors"):
        model.fit(tiny, show_progress=False)
    assert not hasattr(model, "user_factors")
    with pytest.raises(TypeError, match="callback"):
        mfkit.BPR().fit(tiny, callback=3, show_progress=False)
    with pytest.raises(TypeError, match="show_progress"):
        mfkit.BPR().fit(tiny, show_progress="yes")


def test_not_fitted(tiny):
    with pytest.raises(mfkit.NotFittedError):
        mfkit.BPR().recommend(0, tiny[0])


def test_core_rejects_mismatched_arrays(tiny):
    import mfkit._cpp as cpp
    from mfkit._validation import check_user_items
    from mfkit.models.bpr import positive_entries

    positives = positive_entries(check_user_items(tiny, np.dtype(np.float64)))
    index = cpp.bpr_index(positives)
    X, Y, b = np.zeros((2, 3)), np.zeros((3, 3)), np.zeros(3)
    options = dict(learning_rate=0.1, regularization=0.0, negative_sampling="uniform",
                   verify_negative_samples=True, seed=0, num_threads=1)
    with pytest.raises(ValueError, match="item_bias"):
        cpp.bpr_epoch(positives, index, X, Y, np.zeros(2), **options)
    with pytest.raises(ValueError, match="user_factors"):
        cpp.bpr_epoch(positives, index, np.zeros((3, 3)), Y, b, **options)
    with pytest.raises(ValueError, match="item_factors"):
        cpp.bpr_epoch(positives, index, X, np.zeros((3, 3), np.float32), b, **options)
    with pytest.raises(ValueError, match="filter"):
        cpp.bpr_epoch(positives, index._replace(pair_filter=np.zeros(7, np.uint64)), X, Y, b,
                      **options)
    with pytest.raises(ValueError, match="entry_rows"):
        cpp.bpr_epoch(positives, index._replace(entry_rows=np.zeros(3, np.int32)), X, Y, b,
                      **options)
    with pytest.raises(ValueError, match="out of range"):
        cpp.bpr_update(X, Y, b, np.array([5], np.int32), np.array([0], np.int32),
                       np.array([1], np.int32), learning_rate=0.1, regularization=0.0,
                       num_threads=1)


# ------------------------------------------------------------------------ reproducibility
@pytest.fixture(scope="module")
def medium():
    return mfkit.datasets.synthetic(2000, 300, 0.02, seed=4)  # large enough for 2 OS threads


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_one_thread_is_bitwise_reproducible(medium, dtype, sampling):
    a = fit(medium, dtype=dtype, negative_sampling=sampling, num_threads=1, random_state=123)
    b = fit(medium, dtype=dtype, negative_sampling=sampling, num_threads=1, random_state=123)
    for name in ("user_factors", "item_factors", "item_bias"):
        assert getattr(a, name).tobytes() == getattr(b, name).tobytes()
    c = fit(medium, dtype=dtype, negative_sampling=sampling, num_threads=1, random_state=124)
    assert not np.array_equal(a.item_factors, c.item_factors)


def test_generator_random_state_and_refit(medium):
    a = fit(medium, num_threads=1, random_state=np.random.default_rng(5))
    b = fit(medium, num_threads=1, random_state=np.random.default_rng(5))
    assert np.array_equal(a.user_factors, b.user_factors)
    a.set_params(factors=6).fit(medium[:50], show_progress=False)
    assert a.user_factors.shape == (50, 6)


def test_parallel_fit_is_finite_and_as_good(medium):
    infos = {}
    for threads in (1, 2):
        calls = []
        # 16 factors: enough work per epoch for the core to run two OS threads
        model = fit(medium, num_threads=threads, factors=16, iterations=8,
                    callback=lambda e, t, info: calls.append(info["auc"]))
        assert np.all(np.isfinite(model.user_factors)) and np.all(np.isfinite(model.item_factors))
        infos[threads] = calls[-1]
    assert abs(infos[1] - infos[2]) < 0.02


def test_get_params_and_clone(tiny):
    model = mfkit.BPR(factors=5, learning_rate=0.02, negative_sampling="popularity")
    params = model.get_params()
    assert set(params) == {"factors", "learning_rate", "regularization", "iterations",
                           "verify_negative_samples", "negative_sampling", "dtype",
                           "random_state", "num_threads", "backend"}
    assert mfkit.BPR(**params).get_params() == params
    assert "negative_sampling='popularity'" in repr(model)
    sklearn_base = pytest.importorskip("sklearn.base")
    assert sklearn_base.clone(model).get_params() == params
