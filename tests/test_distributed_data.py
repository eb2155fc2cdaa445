"""The block layout built from a Dask DataFrame equals what the single-machine reader builds:
the raw-id maps of ``mfkit.datasets.from_dataframe`` and the CSR arrays (by user and by item) of
its matrix, exactly, for any number of blocks and partitions."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dask.distributed")
pd = pytest.importorskip("pandas")

import dask  # noqa: E402
import dask.dataframe as dd  # noqa: E402
from distributed import Client, LocalCluster  # noqa: E402

import mfkit  # noqa: E402
from mfkit._containers import CsrArrays  # noqa: E402
from mfkit._csr import csr_arrays, transposed  # noqa: E402
from mfkit.distributed import fit_als, layout_from_dataframe  # noqa: E402

MOVIELENS = (Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"
             / "ratings.csv")


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as client:
        yield client


def stacked(blocks: list) -> CsrArrays:
    """The blocks' rows, one block after the other, as one CsrArrays."""
    indptr, offset = [np.zeros(1, dtype=np.int64)], 0
    for block in blocks:
        indptr.append(block.indptr[1:] + offset)
        offset += int(block.indptr[-1])
    return CsrArrays(np.concatenate(indptr), np.concatenate([b.indices for b in blocks]),
                     np.concatenate([b.data for b in blocks]),
                     (sum(b.shape[0] for b in blocks), blocks[0].shape[1]))


def assert_same_arrays(actual: CsrArrays, expected: CsrArrays) -> None:
    assert actual.shape == expected.shape
    for name in ("indptr", "indices", "data"):
        a, e = getattr(actual, name), getattr(expected, name)
        assert a.dtype == e.dtype, name
        np.testing.assert_array_equal(a, e, err_msg=name)


def assert_layout_equals(client, layout, interactions, n_blocks: int, dtype) -> None:
    """``layout`` holds exactly ``interactions``'s ids and matrix (cast to ``dtype``)."""
    assert layout.shape == interactions.shape
    for ids, expected in ((layout.user_ids, interactions.user_ids),
                          (layout.item_ids, interactions.item_ids)):
        assert ids.dtype.kind == expected.dtype.kind
        np.testing.assert_array_equal(ids, expected)
    for starts, size in ((layout.user_starts, layout.shape[0]),
                         (layout.item_starts, layout.shape[1])):
        assert starts.dtype == np.int64 and len(starts) == n_blocks + 1
        assert starts[0] == 0 and starts[-1] == size and np.all(np.diff(starts) >= 0)
    matrix = interactions.matrix.astype(dtype)
    user_blocks = client.gather(layout.user_blocks)
    item_blocks = client.gather(layout.item_blocks)
    assert [b.shape[0] for b in user_blocks] == list(np.diff(layout.user_starts))
    assert [b.shape[0] for b in item_blocks] == list(np.diff(layout.item_starts))
    assert_same_arrays(stacked(user_blocks), csr_arrays(matrix))
    assert_same_arrays(stacked(item_blocks), transposed(csr_arrays(matrix)))


def frame_of(chunks: list):
    """A Dask DataFrame with exactly these pandas frames as partitions (empty ones included)."""
    return dd.from_delayed([dask.delayed(chunk) for chunk in chunks], meta=chunks[0].iloc[:0],
                           verify_meta=False)


# ----------------------------------------------------------------------------- MovieLens
@pytest.fixture(scope="module")
def movielens(tmp_path_factory):
    """MovieLens ratings with string raw ids ("u1", "m31"): the pandas frame and a Parquet
    dataset of 5 files of it."""
    if not MOVIELENS.exists():
        pytest.skip(f"MovieLens not found at {MOVIELENS}")
    pytest.importorskip("pyarrow")
    ratings = pd.read_csv(MOVIELENS)
    frame = pd.DataFrame({"user": "u" + ratings["userId"].astype(str),
                          "item": "m" + ratings["movieId"].astype(str),
                          "rating": ratings["rating"]})
    folder = tmp_path_factory.mktemp("ratings")
    for i, chunk in enumerate(np.array_split(np.arange(len(frame)), 5)):
        frame.iloc[chunk].to_parquet(folder / f"part-{i}.parquet", index=False)
    return frame, str(folder)


@pytest.mark.parametrize("n_blocks, dtype", [(1, np.float32), (3, np.float64), (7, np.float32)])
def test_movielens_parquet_equals_from_dataframe(client, movielens, n_blocks, dtype):
    frame, folder = movielens
    ddf = dd.read_parquet(folder)
    assert ddf.npartitions == 5
    layout = layout_from_dataframe(ddf, "user", "item", "rating", client=client,
                                   n_blocks=n_blocks, dtype=dtype)
    expected = mfkit.datasets.from_dataframe(frame, "user", "item", "rating")
    assert expected.user_ids.dtype.kind == "U"
    assert_layout_equals(client, layout, expected, n_blocks, dtype)


def test_fit_on_movielens_parquet_equals_the_single_machine_fit(client, movielens):
    """The issue's end-to-end case: raw string ids in Parquet files -> blocks on the workers ->
    mfkit.distributed.fit_als, bit for bit the ALS fitted on from_dataframe's Interactions."""
    frame, folder = movielens
    layout = layout_from_dataframe(dd.read_parquet(folder), "user", "item", "rating",
                                   client=client, n_blocks=3, dtype=np.float32)
    params = dict(factors=8, iterations=3, random_state=0)
    distributed_model = fit_als(layout, client, show_progress=False, **params)
    single = mfkit.ALS(**params).fit(mfkit.datasets.from_dataframe(frame, "user", "item",
                                                                  "rating"), show_progress=False)
    np.testing.assert_array_equal(distributed_model.user_factors, single.user_factors)
    np.testing.assert_array_equal(distributed_model.item_factors, single.item_factors)
    np.testing.assert_array_equal(distributed_model.user_ids, single.user_ids)
    np.testing.assert_array_equal(distributed_model.item_ids, single.item_ids)


def test_blocks_lost_with_a_worker_are_recomputed(client, movielens):
    """The blocks are results of tasks (not scattered data): when a worker dies, Dask recomputes
    the blocks it held from the Parquet files, and they are the same."""
    frame, folder = movielens
    layout = layout_from_dataframe(dd.read_parquet(folder), "user", "item", client=client,
                                   n_blocks=3, dtype=np.float32)
    futures = layout.user_blocks + layout.item_blocks
    holders = client.who_has(futures)
    victim = holders[layout.user_blocks[0].key][0]
    lost = [future.key for future in futures if victim in holders[future.key]]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))  # the nanny starts a new one
    deadline = time.monotonic() + 30
    while victim in client.scheduler_info()["workers"] and time.monotonic() < deadline:
        time.sleep(0.05)
    client.wait_for_workers(2, timeout=30)
    assert lost and all(victim not in addresses for addresses in client.who_has(futures).values())
    expected = mfkit.datasets.from_dataframe(frame, "user", "item")
    assert_layout_equals(client, layout, expected, 3, np.float32)


# ----------------------------------------------------------------------------- synthetic
def events(seed: int, n: int, n_users: int = 40, n_items: int = 30):
    """Random events with many repeated (user, item) pairs, non-integer values and cells that
    sum to exactly 0."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"user": rng.integers(-5, n_users, n) * 7,
                          "item": rng.integers(0, n_items, n) + 10**12,
                          "value": rng.normal(size=n)})
    cancel = frame.iloc[:20].assign(value=-frame["value"].iloc[:20])
    return pd.concat([frame, cancel], ignore_index=True)


@pytest.mark.parametrize("value_col", ["value", None])
def test_int_ids_duplicates_and_empty_partitions(client, value_col):
    frame = events(0, 3000)
    empty = frame.iloc[:0]
    cuts = [0, 700, 700, 1900, 3020]  # the cancelling events land in another partition
    chunks = [empty] + [frame.iloc[a:b] for a, b in zip(cuts[:-1], cuts[1:])] + [empty]
    ddf = frame_of(chunks)
    expected = mfkit.datasets.from_dataframe(frame, "user", "item", value_col)
    assert expected.user_ids.dtype == np.int64
    assert expected.nnz < len(frame)  # duplicates summed, zero cells dropped
    for n_blocks, dtype in ((1, np.float64), (4, np.float32), (13, np.float64)):
        layout = layout_from_dataframe(ddf, "user", "item", value_col, client=client,
                                       n_blocks=n_blocks, dtype=dtype)
        assert_layout_equals(client, layout, expected, n_blocks, dtype)


@pytest.mark.parametrize("n_blocks", [2, 5])  # 5: more blocks than users, some empty
def test_integral_float_ids_and_numeric_strings(client, n_blocks):
    frame = pd.DataFrame({"u": [3.0, 1.0, 3.0, 2.0], "i": ["10", "9", "10", "x"],
                          "v": [1, 2, 3, 4]})
    layout = layout_from_dataframe(dd.from_pandas(frame, npartitions=2), "u", "i", "v",
                                   client=client, n_blocks=n_blocks, dtype=np.float64)
    expected = mfkit.datasets.from_dataframe(frame, "u", "i", "v")
    assert_layout_equals(client, layout, expected, n_blocks, np.float64)
    np.testing.assert_array_equal(layout.item_ids, ["10", "9", "x"])  # strings, not re-parsed


# ----------------------------------------------------------------------------- bad input
def small_frame():
    return pd.DataFrame({"user": ["a", "b", "c", "a"], "item": ["x", "y", "x", "z"],
                         "value": [1.0, 2.0, 3.0, 4.0]})


def layout_of(client, frame, value_col="value", npartitions=2, **kwargs):
    options = {"client": client, "n_blocks": 2, "dtype": np.float32, **kwargs}
    ddf = frame if isinstance(frame, dd.DataFrame) else dd.from_pandas(frame, npartitions)
    return layout_from_dataframe(ddf, "user", "item", value_col, **options)


def test_missing_column(client):
    with pytest.raises(ValueError, match=r"column 'rating' \(value_col\) is not in the "
                                         r"DataFrame; available columns: 'user', 'item', 'value'"):
        layout_of(client, small_frame(), value_col="rating")


@pytest.mark.parametrize("column, bad, error, message", [
    ("value", np.nan, ValueError, r"column 'value' \(value_col\) is missing or not finite"),
    ("value", np.inf, ValueError, r"column 'value' \(value_col\) is missing or not finite"),
    ("value", "many", ValueError, r"column 'value' \(value_col\) is not a number: 'many'"),
    ("value", None, ValueError, r"column 'value' \(value_col\) is missing or not finite"),
    ("user", None, ValueError, r"missing id in column 'user' \(user_col\)"),
    ("item", np.nan, ValueError, r"missing id in column 'item' \(item_col\)"),
    ("item", "", ValueError, r"empty id in column 'item' \(item_col\)"),
])
def test_bad_values_name_the_partition_row_and_column(client, column, bad, error, message):
    frame = small_frame().astype({column: object})
    frame.loc[3, column] = bad
    with pytest.raises(error, match=r"partition 1: row 1 \(index label 3\): " + message):
        layout_of(client, frame)
    with pytest.raises(error, match=message):  # the single-machine reader agrees
        mfkit.datasets.from_dataframe(frame, "user", "item", "value")


def test_ids_of_two_kinds_in_different_partitions(client):
    frame = pd.DataFrame({"user": ["a", "b", 1, 2], "item": ["x"] * 4}, dtype=object)
    # (Dask's string conversion would turn the integers into strings.)
    with dask.config.set({"dataframe.convert-string": False}), \
            pytest.raises(TypeError, match=r"column 'user' \(user_col\) must hold only integers "
                                           "or only strings, got integers in some partitions"):
        layout_of(client, frame_of([frame.iloc[:2], frame.iloc[2:]]), value_col=None)


def test_empty_dataframe(client):
    with pytest.raises(ValueError, match="ddf has no rows"):
        layout_of(client, small_frame().iloc[:0], npartitions=1)
    with pytest.raises(ValueError, match="ddf has no rows"):
        layout_of(client, frame_of([small_frame().iloc[:0]] * 3))


def test_bad_arguments(client):
    frame = small_frame()
    with pytest.raises(TypeError, match="ddf must be a dask DataFrame, got DataFrame"):
        layout_from_dataframe(frame, "user", "item", client=client, n_blocks=1,
                              dtype=np.float32)
    with pytest.raises(TypeError, match="client must be a distributed.Client"):
        layout_of(None, frame)
    with pytest.raises(ValueError, match="n_blocks must be >= 1"):
        layout_of(client, frame, n_blocks=0)
    with pytest.raises(ValueError, match="dtype must be np.float32 or np.float64"):
        layout_of(client, frame, dtype=np.int32)
    with pytest.raises(TypeError, match="user_col must be a column name"):
        layout_from_dataframe(dd.from_pandas(frame, 1), ["user"], "item", client=client,
                              n_blocks=1, dtype=np.float32)


def test_closed_client(client):
    closed = Client(client.scheduler.address)
    closed.close()
    with pytest.raises(ValueError, match="client is not running"):
        layout_of(closed, small_frame())
