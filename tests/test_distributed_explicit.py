"""mfkit.distributed.fit_explicit_als: ALS-WR on a Dask cluster equals ExplicitMF(solver="als"),
bit for bit (factors, biases, global mean), on a LocalCluster of two worker processes."""
from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit

distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")

import mfkit.distributed as mfd  # noqa: E402

PARAMS = dict(factors=6, regularization=0.1, iterations=3, random_state=5)


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def ratings():
    """Half-star ratings, a stored 0 rating, a user and an item without ratings."""
    rng = np.random.default_rng(0)
    matrix = sp.random(90, 70, density=0.1, random_state=1, format="csr")
    matrix.data = np.round(rng.uniform(0.5, 5.0, matrix.nnz) * 2) / 2
    matrix.data[0] = 0.0
    matrix = sp.lil_matrix(matrix)
    matrix[7, :] = 0
    matrix[:, 11] = 0
    matrix = sp.csr_matrix(matrix)
    matrix.data[0] = 0.0  # sp.random stored it; csr keeps it as a rating
    return matrix


def assert_same_fit(distributed_model, single):
    assert type(distributed_model) is mfkit.ExplicitMF
    for name in ("user_factors", "item_factors", "user_bias", "item_bias", "rating_range"):
        np.testing.assert_array_equal(getattr(distributed_model, name), getattr(single, name))
    assert distributed_model.global_mean == single.global_mean
    # The loss adds the blocks' sums: equal up to rounding.
    np.testing.assert_allclose(distributed_model.loss_history, single.loss_history, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("biased", [True, False])
@pytest.mark.parametrize("n_blocks", [2, 7])
def test_fit_equals_single_machine(client, ratings, dtype, biased, n_blocks):
    params = dict(PARAMS, dtype=dtype, biased=biased)
    model = mfd.fit_explicit_als(ratings, client, n_blocks=n_blocks, show_progress=False,
                                 **params)
    single = mfkit.ExplicitMF(solver="als", **params).fit(ratings, show_progress=False)
    assert_same_fit(model, single)
    assert not model.user_factors[7].any() and not model.item_factors[11].any()
    assert model.loss_history[-1] < model.loss_history[0]


def test_raw_ids_serve_and_checkpoints_resume(client, ratings, tmp_path):
    users = np.array([f"u{u:03d}" for u in range(ratings.shape[0])])
    items = np.array([f"i{i:03d}" for i in range(ratings.shape[1])])
    data = mfkit.datasets.Interactions(ratings.astype(np.float32), users, items)
    params = dict(PARAMS, iterations=4)
    whole = mfd.fit_explicit_als(data, client, checkpoint_dir=tmp_path, checkpoint_every=2,
                                 show_progress=False, **params)
    single = mfkit.ExplicitMF(solver="als", **params).fit(data, show_progress=False)
    assert_same_fit(whole, single)
    np.testing.assert_array_equal(whole.user_ids, users)
    ranked = [model.recommend_raw("u003", N=4)[0].tolist() for model in (whole, single)]
    assert ranked[0] == ranked[1] and len(ranked[0]) == 4
    assert sorted(os.listdir(tmp_path)) == [f"explicitmf-iteration-00000{i}.{ext}"
                                            for i in (2, 4) for ext in ("json", "npz")]
    calls = []
    resumed = mfd.fit_explicit_als(
        data, client, resume_from=tmp_path / "explicitmf-iteration-000002.json",
        callback=lambda i, elapsed, loss: calls.append((i, loss)), show_progress=False,
        **params)
    assert [i for i, _ in calls] == [2, 3]
    assert_same_fit(resumed, whole)
    with pytest.raises(ValueError, match="regularization=0.1 there, 0.2 here"):
        mfd.fit_explicit_als(data, client, resume_from=tmp_path,
                             **dict(params, regularization=0.2))
    with pytest.raises(ValueError, match="no checkpoint of an ALS fit"):
        mfd.fit_als(ratings, client, resume_from=tmp_path)


def test_recommend_all_equals_recommend(client, ratings, tmp_path):
    """Every user's top 5 from the workers: ExplicitMF's own ranking (biases added), the rated
    items left out, the stored 0 rating among them."""
    pq = pytest.importorskip("pyarrow.parquet")
    model = mfd.fit_explicit_als(ratings, client, show_progress=False, **PARAMS)
    mfd.recommend_all(model, ratings, N=5, client=client, path=tmp_path, n_blocks=3)
    table = pq.read_table(tmp_path).to_pandas().sort_values(["user", "rank"], kind="stable")
    ids, scores = model.recommend(np.arange(ratings.shape[0]), ratings, N=5)
    found = ids >= 0
    np.testing.assert_array_equal(table["item"], ids[found])
    np.testing.assert_array_equal(table["score"], scores[found])
    zero_user = int(np.searchsorted(ratings.indptr, 0, side="right")) - 1
    zero_item = ratings.indices[0]
    assert ratings.data[0] == 0 and ratings[zero_user, zero_item] == 0
    assert zero_item not in table[table["user"] == zero_user]["item"].tolist()


def test_a_singular_system_names_the_row_of_the_whole_matrix(client):
    """λ = 0 and item 3 (in the last item block) rated by users whose factors span 2 of 3
    dimensions: the error names the iteration, the item's row in the whole matrix and the
    remedy, as on one machine."""
    dense = np.zeros((6, 4))
    dense[:, 3] = 1.0
    dense[5] = [2.0, 3.0, 0.0, 1.0]
    params = dict(factors=3, regularization=0.0, iterations=1, random_state=0, biased=False,
                  dtype=np.float64)
    with pytest.raises(mfkit.NumericalError) as single:
        mfkit.ExplicitMF(solver="als", **params).fit(dense, show_progress=False)
    with pytest.raises(mfkit.NumericalError) as spread:
        mfd.fit_explicit_als(dense, client, n_blocks=3, show_progress=False, **params)
    assert str(spread.value) == str(single.value)
    assert "row 3 is singular in iteration 0; raise regularization" in str(spread.value)


def test_bad_input(client, ratings):
    with pytest.raises(ValueError, match="solver must be 'als'"):
        mfd.fit_explicit_als(ratings, client, solver="sgd")
    implicit = mfd.layout_from_matrix(ratings, client, 2, np.float32)
    with pytest.raises(ValueError, match="built from implicit interactions.*ratings=True"):
        mfd.fit_explicit_als(implicit, client)
    explicit = mfd.layout_from_matrix(ratings, client, 2, np.float32, ratings=True)
    with pytest.raises(ValueError, match="built from ratings.*ratings=False"):
        mfd.fit_als(explicit, client)
    with pytest.raises(ValueError, match="no observed rating"):
        mfd.fit_explicit_als(sp.csr_matrix((4, 3)), client)
    with pytest.raises(ValueError, match="NaN"):
        mfd.fit_explicit_als(np.array([[1.0, np.nan], [2.0, 0.0]]), client)
    duplicated = sp.coo_matrix(([4.0, 5.0], ([0, 0], [1, 1])), shape=(2, 2))
    with pytest.raises(ValueError, match="ratings"):
        mfd.fit_explicit_als(duplicated, client)
    with pytest.raises(ValueError, match="magnitude|finite"):
        mfd.fit_explicit_als(sp.csr_matrix(np.array([[1e30, 1.0], [0.0, 2.0]])), client)
    with pytest.raises(ValueError, match="regularization"):
        mfd.fit_explicit_als(ratings, client, regularization=-1)
