"""ExplicitMF rejects bad parameters and bad input with errors naming the argument."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import ExplicitMF

GOOD = sp.csr_matrix(np.array([[5.0, 0, 3], [4, 2, 0], [0, 1, 4]]))


def fit(matrix, **params):
    params.setdefault("factors", 2)
    params.setdefault("iterations", 2)
    params.setdefault("random_state", 0)
    return ExplicitMF(**params).fit(matrix, show_progress=False)


@pytest.mark.parametrize("matrix,error,match", [
    (np.array([1.0, 2.0]), ValueError, "2-D"),
    (np.array([[1.0, np.nan]]), ValueError, "NaN"),
    (sp.csr_matrix(np.array([[1.0, np.inf]])), ValueError, "NaN or infinite"),
    (np.array([[1 + 1j, 2]]), TypeError, "real"),
    (np.array([["a", "b"]]), TypeError, "real"),
    ("ratings.csv", TypeError, "scipy.sparse"),
    (np.zeros((3, 3)), ValueError, "no observed rating"),
    (np.zeros((0, 3)), ValueError, "at least one row"),
])
def test_bad_ratings(matrix, error, match):
    with pytest.raises(error, match=match):
        fit(matrix)


def test_duplicate_entries_are_rejected_not_summed():
    duplicated = sp.csr_matrix((np.array([4.0, 5.0, 3.0]), np.array([1, 1, 0]),
                                np.array([0, 2, 3])), shape=(2, 2))
    with pytest.raises(ValueError, match="duplicate"):
        fit(duplicated)
    coo = sp.coo_matrix((np.array([4.0, 5.0]), (np.array([0, 0]), np.array([1, 1]))),
                        shape=(2, 2))
    with pytest.raises(ValueError, match="duplicate"):
        fit(coo)


def test_divergence_is_a_numerical_error():
    big = sp.csr_matrix(np.full((4, 4), 1e3))
    with pytest.raises(mfkit.NumericalError, match="learning_rate"):
        fit(big, learning_rate=10.0, iterations=20, factors=3)


def test_bad_predict_arguments():
    model = fit(GOOD)
    with pytest.raises(ValueError, match="negative"):
        model.predict(-1, 0)
    with pytest.raises(TypeError, match="item_ids"):
        model.predict(0, 1.5)
    with pytest.raises(ValueError, match="same length"):
        model.predict([0, 1], [0, 1, 2])
    with pytest.raises(TypeError, match="clip"):
        model.predict(0, 0, clip="yes")
    with pytest.raises(mfkit.NotFittedError):
        ExplicitMF().predict(0, 0)


def test_duplicate_serving_rows_rejected():
    model = fit(GOOD)
    with pytest.raises(ValueError, match="duplicate"):
        model.recommend(0, sp.csr_matrix((np.array([1.0, 2.0]), np.array([0, 0]),
                                          np.array([0, 2])), shape=(1, 3)))
