"""The C++ backend and the pure-numpy reference backend compute the same thing.

Both backends draw the initial factors from the same ``random_state`` in Python, so after the
same number of iterations their factors and objective history must agree to rounding error.
"""
from __future__ import annotations

import numpy as np
import pytest

import mfkit
import mfkit._cpp
import mfkit.reference

# (dtype, solver) -> tolerated relative error.
TOLERANCE = {
    (np.float64, "cholesky"): 1e-9,
    (np.float64, "cg"): 1e-7,
    (np.float32, "cholesky"): 1e-4,
    (np.float32, "cg"): 1e-4,
}


def fit_both(matrix, **params):
    models = {}
    for backend in ("cpp", "reference"):
        model = mfkit.ALS(backend=backend, calculate_training_loss=True, **params)
        models[backend] = model.fit(matrix, show_progress=False)
    return models["cpp"], models["reference"]


def assert_backends_agree(cpp, ref, tol, rel_err):
    assert cpp.user_factors.dtype == ref.user_factors.dtype
    assert cpp.item_factors.dtype == ref.item_factors.dtype
    assert np.all(np.isfinite(cpp.user_factors)) and np.all(np.isfinite(cpp.item_factors))
    assert rel_err(cpp.user_factors, ref.user_factors) <= tol
    assert rel_err(cpp.item_factors, ref.item_factors) <= tol
    assert len(cpp.loss_history) == len(ref.loss_history)
    assert rel_err(cpp.loss_history, ref.loss_history) <= tol


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
@pytest.mark.parametrize("iterations", [1, 5])
def test_backends_agree(implicit_matrix, dtype, solver, iterations, rel_err):
    cpp, ref = fit_both(implicit_matrix, factors=8, iterations=iterations, solver=solver,
                        dtype=dtype, random_state=42, alpha=5.0, regularization=0.1,
                        num_threads=1)
    assert len(cpp.loss_history) == iterations
    assert_backends_agree(cpp, ref, TOLERANCE[dtype, solver], rel_err)


@pytest.mark.parametrize("exponent", [1.0, 0.5])
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("solver", ["cholesky", "cg"])
def test_backends_agree_with_regularization_exponent(implicit_matrix, exponent, dtype, solver,
                                                     rel_err):
    cpp, ref = fit_both(implicit_matrix, factors=6, iterations=5, solver=solver, dtype=dtype,
                        random_state=7, alpha=3.0, regularization=0.05,
                        regularization_exponent=exponent, num_threads=2)
    assert_backends_agree(cpp, ref, TOLERANCE[dtype, solver], rel_err)


def test_backends_agree_on_model_loss(small_matrix, rel_err):
    model = mfkit.ALS(factors=5, iterations=3, dtype=np.float64, random_state=0,
                      regularization_exponent=0.5, solver="cholesky")
    model.fit(small_matrix, show_progress=False)
    cpp_loss = model.loss(small_matrix)
    ref_loss = model.set_params(backend="reference").loss(small_matrix)
    assert isinstance(cpp_loss, float) and isinstance(ref_loss, float)
    assert rel_err(cpp_loss, ref_loss) <= 1e-12


@pytest.mark.parametrize("cg_steps", [1, 2, 4])
def test_backends_agree_with_cg_steps(small_matrix, cg_steps, rel_err):
    # cg_steps well below the number of factors: CG has not yet reached the rounding-noise
    # regime in which finite-precision CG amplifies tiny differences (steps ~ factors).
    cpp, ref = fit_both(small_matrix, factors=10, iterations=4, solver="cg", cg_steps=cg_steps,
                        dtype=np.float64, random_state=3, num_threads=1)
    assert_backends_agree(cpp, ref, 1e-7, rel_err)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)],
                         ids=["f64", "f32"])
@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (50, 17), (203, 33)])
@pytest.mark.parametrize("num_threads", [1, 2])
def test_gram_matches_reference(dtype, tol, shape, num_threads, rel_err):
    factors = np.random.default_rng(shape[0] * 31 + shape[1]).standard_normal(shape).astype(dtype)
    got = mfkit._cpp.gram(factors, num_threads=num_threads)
    expected = mfkit.reference.gram(factors, num_threads=num_threads)
    assert got.shape == (shape[1], shape[1])
    assert got.dtype == dtype
    assert np.array_equal(got, got.T), "the Gram matrix must be exactly symmetric"
    assert rel_err(got, expected) <= tol
    exact = factors.astype(np.float64).T @ factors.astype(np.float64)
    assert rel_err(got, exact) <= tol
