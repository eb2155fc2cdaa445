"""BPR inputs and reproducibility (the inputs every model accepts and rejects are in
test_contract.py): the core's array checks; seeds fix results bit for bit at one thread."""
from __future__ import annotations

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
                    callback=lambda e, t, info, calls=calls: calls.append(info["auc"]))
        assert np.all(np.isfinite(model.user_factors)) and np.all(np.isfinite(model.item_factors))
        infos[threads] = calls[-1]
    assert abs(infos[1] - infos[2]) < 0.02


def test_parameter_names():
    assert set(mfkit.BPR().get_params()) == {
        "factors", "learning_rate", "regularization", "iterations", "verify_negative_samples",
        "negative_sampling", "dtype", "random_state", "num_threads", "backend"}
