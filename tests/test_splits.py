"""Train / test splits: exact sizes, exact partitions, reproducibility, time order, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import splits
from mfkit.datasets import Interactions
from mfkit.splits import leave_k_out_split, time_split, train_test_split


def cells(m) -> set:
    coo = sp.coo_matrix(m)
    return set(zip(coo.row.tolist(), coo.col.tolist()))


def assert_partition(ratings, train, test):
    """Same shape and dtype, canonical, disjoint, and train + test == ratings exactly."""
    source = ratings.matrix if isinstance(ratings, Interactions) else sp.csr_matrix(ratings)
    for part in (train, test):
        assert isinstance(part, sp.csr_matrix)
        assert part.shape == source.shape and part.dtype == source.dtype
        assert part.has_canonical_format and not np.any(part.data == 0)
    assert not cells(train) & cells(test)
    total = (train + test).toarray()
    assert np.array_equal(total, source.toarray())  # exact: values are moved, never recomputed
    nonzero = int(np.count_nonzero(source.toarray()))
    assert train.nnz + test.nnz == nonzero


def snapshot(m):
    return m.data.copy(), m.indices.copy(), m.indptr.copy()


def assert_unchanged(m, snap):
    for now, before in zip((m.data, m.indices, m.indptr), snap):
        assert np.array_equal(now, before)


def per_user(m) -> np.ndarray:
    return np.diff(sp.csr_matrix(m).indptr)


@pytest.fixture
def timed() -> tuple:
    """A matrix and timestamps with the same structure (distinct times, one tie group)."""
    m = mfkit.datasets.synthetic(80, 50, 0.08, seed=5)
    rng = np.random.default_rng(1)
    ts = m.copy().astype(np.float64)
    ts.data = rng.permutation(m.nnz).astype(np.float64) * 10.0
    return m, ts


# ---------------------------------------------------------------- train_test_split

@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.5, 0.93])
def test_random_split_exact_size_and_partition(implicit_matrix, test_size):
    snap = snapshot(implicit_matrix)
    train, test = train_test_split(implicit_matrix, test_size, random_state=0)
    assert test.nnz == int(np.floor(test_size * implicit_matrix.nnz + 0.5))
    assert_partition(implicit_matrix, train, test)
    assert_unchanged(implicit_matrix, snap)


def test_random_split_reproducible(small_matrix):
    a = train_test_split(small_matrix, 0.3, random_state=7)
    b = train_test_split(small_matrix, 0.3, random_state=7)
    c = train_test_split(small_matrix, 0.3, random_state=8)
    d = train_test_split(small_matrix, 0.3, random_state=np.random.default_rng(7))
    assert cells(a[1]) == cells(b[1]) == cells(d[1])
    assert cells(a[1]) != cells(c[1])


def test_random_split_is_uniform_over_entries():
    m = sp.csr_matrix(np.ones((2, 5)))
    hits = np.zeros((2, 5))
    for seed in range(300):
        hits += train_test_split(m, 0.2, random_state=seed)[1].toarray() != 0
    assert hits.sum() == 600 and hits.min() > 30 and hits.max() < 95  # expected 60 each


def test_random_split_accepts_other_inputs(small_matrix):
    dense = small_matrix.toarray()
    coo = sp.coo_matrix(small_matrix)
    array = sp.csr_array(small_matrix)
    expected = train_test_split(small_matrix, 0.25, random_state=3)
    for other in (dense, coo, array):
        train, test = train_test_split(other, 0.25, random_state=3)
        assert cells(test) == cells(expected[1])
        assert_partition(small_matrix, train, test)


def test_non_canonical_input_is_summed_and_not_mutated():
    m = sp.csr_matrix((np.array([1.0, 2.0, 0.0, 4.0, 5.0]), np.array([3, 1, 2, 1, 0]),
                       np.array([0, 3, 5])), shape=(2, 4))  # unsorted, a stored zero
    m2 = sp.coo_matrix((np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 1]))),
                       shape=(2, 2))  # a duplicate
    snap = snapshot(m)
    for source, n in ((m, 4), (m2, 2)):
        train, test = train_test_split(source, 0.5, random_state=0)
        assert train.nnz + test.nnz == n and test.nnz == round(n / 2)
        assert_partition(source, train, test)
    assert_unchanged(m, snap)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_preserved(small_matrix, dtype):
    train, test = train_test_split(small_matrix.astype(dtype), 0.2, random_state=0)
    assert train.dtype == dtype and test.dtype == dtype


# ---------------------------------------------------------------- leave_k_out_split

@pytest.mark.parametrize("K", [1, 2, 5])
def test_leave_k_out_exact_per_user(implicit_matrix, K):
    snap = snapshot(implicit_matrix)
    train, test = leave_k_out_split(implicit_matrix, K=K, random_state=1)
    assert_partition(implicit_matrix, train, test)
    counts = per_user(implicit_matrix)
    expected = np.where(counts > K, K, 0)
    assert np.array_equal(per_user(test), expected)
    small = np.flatnonzero(counts <= K)
    assert (implicit_matrix[small] != train[small]).nnz == 0  # small users untouched
    assert_unchanged(implicit_matrix, snap)


def test_leave_k_out_reproducible_and_random(small_matrix):
    a = leave_k_out_split(small_matrix, 2, random_state=11)[1]
    b = leave_k_out_split(small_matrix, 2, random_state=11)[1]
    c = leave_k_out_split(small_matrix, 2, random_state=12)[1]
    assert cells(a) == cells(b) and cells(a) != cells(c)


def test_leave_k_out_is_uniform_within_a_user():
    m = sp.csr_matrix(np.array([[1.0, 2.0, 3.0, 4.0], [1.0, 0.0, 0.0, 0.0]]))
    hits = np.zeros((2, 4))
    for seed in range(400):
        hits += leave_k_out_split(m, 1, random_state=seed)[1].toarray() != 0
    assert hits[1].sum() == 0 and hits[0].sum() == 400
    assert hits[0].min() > 70 and hits[0].max() < 130  # expected 100 each


def test_leave_k_out_many_users_vectorized():
    rng = np.random.default_rng(0)
    n_users = 150_000
    counts = rng.integers(1, 6, size=n_users)
    rows = np.repeat(np.arange(n_users), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    cols = np.arange(len(rows)) - starts + rng.integers(0, 190, size=n_users)[rows]
    m = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, 200))
    train, test = leave_k_out_split(m, 2, random_state=0)
    assert np.array_equal(per_user(test), np.where(counts > 2, 2, 0))
    assert train.nnz + test.nnz == m.nnz


# ---------------------------------------------------------------- time_split

@pytest.mark.parametrize("test_size", [0.2, 0.5])
def test_time_split_global_takes_the_latest(timed, test_size):
    m, ts = timed
    snaps = snapshot(m), snapshot(ts)
    train, test = time_split(m, ts, test_size=test_size)
    assert_partition(m, train, test)
    assert test.nnz == int(np.floor(test_size * m.nnz + 0.5))
    times = ts.toarray()
    test_times = times[test.toarray() != 0]
    train_times = times[train.toarray() != 0]
    assert test_times.min() > train_times.max()
    assert_unchanged(m, snaps[0])
    assert_unchanged(ts, snaps[1])


def test_time_split_ties_broken_by_position():
    m = sp.csr_matrix(np.arange(1.0, 13.0).reshape(3, 4))
    ts = m.copy()
    ts.data[:] = 5.0  # all at the same time
    train, test = time_split(m, ts, test_size=0.25)
    assert cells(test) == {(2, 1), (2, 2), (2, 3)}  # the last three in row-major order


@pytest.mark.parametrize("test_size", [0.2, 0.5, 0.9])
def test_time_split_per_user(timed, test_size):
    m, ts = timed
    m = m.tolil()
    m[3, :] = 0
    m[3, 7] = 1.0  # a user with exactly one interaction
    m = m.tocsr()
    m.eliminate_zeros()
    ts = m.copy().astype(np.float64)
    ts.data = np.random.default_rng(2).permutation(m.nnz) * 1.0
    train, test = time_split(m, ts, test_size=test_size, per_user=True)
    assert_partition(m, train, test)
    counts = per_user(m)
    expected = np.minimum(np.floor(test_size * counts + 0.5), np.maximum(counts - 1, 0))
    assert np.array_equal(per_user(test), expected)
    assert per_user(test)[3] == 0 and train[3, 7] == 1.0
    assert np.all(per_user(train)[counts > 0] >= 1)
    times = ts.toarray()
    for u in np.flatnonzero(per_user(test)):
        test_times = times[u][test[u].toarray()[0] != 0]
        assert test_times.min() > times[u][train[u].toarray()[0] != 0].max()


def test_time_split_from_interactions_and_override(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("u,i,t\n1,1,10\n1,2,40\n1,3,20\n2,1,30\n2,2,50\n")
    it = mfkit.datasets.from_csv(path, user_col="u", item_col="i", timestamp_col="t")
    train, test = (part.matrix for part in time_split(it, test_size=0.4))
    assert cells(test) == {(1, 1), (0, 1)}  # times 50 and 40
    assert_partition(it, train, test)
    reversed_ts = it.timestamps.copy()
    reversed_ts.data = -reversed_ts.data
    assert cells(time_split(it, reversed_ts, test_size=0.4)[1].matrix) == {(0, 0), (0, 2)}
    train, test = (part.matrix for part in train_test_split(it, 0.4, random_state=0))
    assert test.nnz == 2 and isinstance(test, sp.csr_matrix)
    assert_partition(it, train, test)
    assert leave_k_out_split(it, 1, random_state=0)[1].nnz == 2


SPLITS_OF_INTERACTIONS = {
    "train_test_split": lambda it: train_test_split(it, 0.3, random_state=0),
    "leave_k_out_split": lambda it: leave_k_out_split(it, 2, random_state=0),
    "time_split": lambda it: time_split(it, test_size=0.3),
    "time_split per user": lambda it: time_split(it, test_size=0.3, per_user=True),
}


@pytest.mark.parametrize("split", SPLITS_OF_INTERACTIONS.values(), ids=SPLITS_OF_INTERACTIONS)
def test_splits_of_interactions_keep_raw_ids_and_timestamps(timed, split):
    m, ts = timed
    m = m.copy()
    m.data[::7] = 0  # stored zeros: not interactions, dropped from both parts
    users = np.arange(m.shape[0]) * 3 + 100
    items = np.array([f"i{j:03d}" for j in range(m.shape[1])])
    it = Interactions(m, users, items, ts)
    train, test = split(it)
    dense_times = ts.toarray()
    for part in (train, test):
        assert isinstance(part, Interactions)
        assert part.user_ids.tolist() == users.tolist()
        assert part.item_ids.tolist() == items.tolist()
        # the timestamps of the part's own entries (same structure, same values as the input)
        assert np.array_equal(part.timestamps.indptr, part.matrix.indptr)
        assert np.array_equal(part.timestamps.indices, part.matrix.indices)
        rows, cols = part.matrix.nonzero()
        assert np.array_equal(part.timestamps.data, dense_times[rows, cols])
    assert_partition(it, train.matrix, test.matrix)


def test_splits_of_plain_matrices_stay_matrices(timed):
    m, ts = timed
    for train, test in (train_test_split(m, 0.3, random_state=0), leave_k_out_split(m, 1),
                        time_split(m, ts, test_size=0.3)):
        assert isinstance(train, sp.csr_matrix) and isinstance(test, sp.csr_matrix)


def test_split_of_interactions_without_timestamps(small_matrix):
    it = Interactions(small_matrix.tocsr(), np.arange(60), np.arange(40))
    train, test = leave_k_out_split(it, 1, random_state=0)
    assert train.timestamps is None and test.timestamps is None
    expected = leave_k_out_split(small_matrix, 1, random_state=0)
    assert_partition(it, train.matrix, test.matrix)
    for part, want in zip((train, test), expected):
        assert cells(part.matrix) == cells(want)


def test_time_split_drops_stored_zeros_consistently():
    m = sp.csr_matrix((np.array([1.0, 0.0, 3.0, 4.0]), np.array([0, 1, 2, 0]),
                       np.array([0, 3, 4])), shape=(2, 3))
    ts = sp.csr_matrix((np.array([1.0, 99.0, 3.0, 2.0]), m.indices.copy(), m.indptr.copy()),
                       shape=(2, 3))
    train, test = time_split(m, ts, test_size=0.34)
    assert cells(test) == {(0, 2)}  # the zero at time 99 is not an interaction
    assert_partition(m, train, test)


def test_time_split_timestamp_errors(timed):
    m, ts = timed
    with pytest.raises(ValueError, match="timestamps"):
        time_split(m)
    it = Interactions(m, np.arange(m.shape[0]), np.arange(m.shape[1]))
    with pytest.raises(ValueError, match="timestamps"):
        time_split(it)
    with pytest.raises(ValueError, match="timestamps.*structure"):
        time_split(m, sp.csr_matrix(np.ones(m.shape)))
    with pytest.raises(ValueError, match="timestamps.*shape"):
        time_split(m, sp.csr_matrix(np.ones((2, 2))))
    with pytest.raises(TypeError, match="timestamps"):
        time_split(m, ts.toarray())
    bad = ts.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="timestamps"):
        time_split(m, bad)
    with pytest.raises(TypeError, match="per_user"):
        time_split(m, ts, per_user="yes")


# ---------------------------------------------------------------- argument errors

@pytest.mark.parametrize("split", [
    lambda m, t: train_test_split(m, test_size=t),
    lambda m, t: time_split(m, m, test_size=t),
])
@pytest.mark.parametrize("test_size, error", [
    (0, ValueError), (1, ValueError), (1.5, ValueError), (-0.1, ValueError),
    (float("nan"), ValueError), ("0.2", TypeError), (True, TypeError), (None, TypeError),
])
def test_test_size_errors_name_it(small_matrix, split, test_size, error):
    with pytest.raises(error, match="test_size"):
        split(small_matrix, test_size)


@pytest.mark.parametrize("K, error", [(0, ValueError), (-1, ValueError), (1.5, TypeError),
                                      (True, TypeError), ("1", TypeError)])
def test_k_errors_name_it(small_matrix, K, error):
    with pytest.raises(error, match="K"):
        leave_k_out_split(small_matrix, K=K)


def test_other_argument_errors(small_matrix):
    for split in (train_test_split, leave_k_out_split):
        with pytest.raises(TypeError, match="random_state"):
            split(small_matrix, random_state="seed")
        with pytest.raises(ValueError, match="random_state"):
            split(small_matrix, random_state=-1)
        with pytest.raises(TypeError, match="ratings"):
            split("not a matrix")
        with pytest.raises(ValueError, match="ratings"):
            split(np.ones(5))


def test_exports():
    assert set(splits.__all__) == {"train_test_split", "leave_k_out_split", "time_split",
                                   "train_valid_test_split", "validation_split"}
