"""Loading interaction logs: Interactions, from_csv, from_dataframe, movielens_small."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from mfkit import datasets
from mfkit.datasets import Interactions, from_csv, from_dataframe, movielens_small

MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"


def write(tmp_path, text, name="log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


LOG = """user,item,rating,ts
alice,apple,4,100
bob,apple,2,50
alice,pear,1,70
carol,fig,5,10
alice,apple,1.5,300
"""


@pytest.fixture
def log(tmp_path) -> Interactions:
    return from_csv(write(tmp_path, LOG), value_col="rating", timestamp_col="ts")


def dense(it: Interactions) -> dict:
    """{(raw user, raw item): value} of the stored cells."""
    coo = it.matrix.tocoo()
    return {(it.user_ids[r].item(), it.item_ids[c].item()): float(v)
            for r, c, v in zip(coo.row, coo.col, coo.data)}


# ---------------------------------------------------------------- Interactions and id maps

def test_structure_and_dtypes(log):
    m = log.matrix
    assert isinstance(m, sp.csr_matrix) and m.dtype == np.float32
    assert m.has_canonical_format
    assert log.shape == (3, 3) == (log.n_users, log.n_items) and log.nnz == 4
    assert list(log.user_ids) == ["alice", "bob", "carol"]
    assert list(log.item_ids) == ["apple", "fig", "pear"]
    ts = log.timestamps
    assert isinstance(ts, sp.csr_matrix) and ts.dtype == np.float64
    assert np.array_equal(ts.indptr, m.indptr) and np.array_equal(ts.indices, m.indices)
    assert "3 users x 3 items, 4 interactions, with timestamps" in repr(log)


def test_duplicates_summed_and_latest_timestamp_kept(log):
    assert dense(log) == {("alice", "apple"): 5.5, ("bob", "apple"): 2.0,
                          ("alice", "pear"): 1.0, ("carol", "fig"): 5.0}
    u, i = log.user_index("alice"), log.item_index("apple")
    assert log.timestamps[u, i] == 300.0
    assert log.timestamps[log.user_index("bob"), i] == 50.0


def test_round_trip_raw_ids_and_indices(log):
    users = np.array(["carol", "alice", "bob", "alice"])
    idx = log.user_index(users)
    assert idx.dtype == np.int64 and list(idx) == [2, 0, 1, 0]
    assert list(log.to_raw_users(idx)) == list(users)
    for raw in log.item_ids:
        assert log.to_raw_items(log.item_index(raw)) == raw
    assert isinstance(log.item_index("fig"), int)
    grid = np.array([[0, 1], [2, 0]])
    assert log.item_index(log.to_raw_items(grid)).tolist() == grid.tolist()


def test_index_lookups_take_any_sequence_of_ids(log):
    assert log.user_index(["bob", "carol"]).tolist() == [1, 2]
    assert log.user_index(("alice",)).tolist() == [0]
    assert log.user_index([]).tolist() == []
    pd = pytest.importorskip("pandas")
    assert log.item_index(pd.Series(["pear", "apple"])).tolist() == [2, 0]
    with pytest.raises(KeyError, match="1"):
        log.user_index(["bob", 1])  # mixed kinds: the int is unknown (never str(1))


def test_unknown_ids_raise_key_error_naming_them(log):
    with pytest.raises(KeyError, match="dave"):
        log.user_index("dave")
    with pytest.raises(KeyError, match="kiwi"):
        log.item_index(["apple", "kiwi"])
    with pytest.raises(KeyError, match="7"):
        log.user_index(7)  # string ids: an int is unknown, not a crash


def test_to_raw_items_maps_padding_to_none(log):
    assert log.to_raw_items(-1) is None
    out = log.to_raw_items(np.array([[1, -1], [0, 2]]))
    assert out.dtype == object and out.tolist() == [["fig", None], ["apple", "pear"]]
    plain = log.to_raw_items(np.array([2, 0]))
    assert plain.dtype.kind == "U" and plain.tolist() == ["pear", "apple"]
    with pytest.raises(ValueError, match="indices"):
        log.to_raw_items(3)
    with pytest.raises(ValueError, match="indices"):
        log.to_raw_items([-2])
    with pytest.raises(TypeError, match="indices"):
        log.to_raw_items(["a"])


def test_interactions_is_frozen_and_ids_read_only(log):
    with pytest.raises(dataclasses.FrozenInstanceError):
        log.matrix = None
    with pytest.raises(ValueError):
        log.user_ids[0] = "mallory"


def test_interactions_constructor_checks():
    m = sp.csr_matrix(np.eye(2, dtype=np.float32))
    ok = Interactions(m, np.array([1, 2]), np.array(["a", "b"]))
    assert ok.timestamps is None and "without" not in repr(ok)
    with pytest.raises(ValueError, match="shape"):
        Interactions(m, np.array([1, 2, 3]), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="sorted"):
        Interactions(m, np.array([2, 1]), np.array(["a", "b"]))
    with pytest.raises(TypeError, match="matrix"):
        Interactions(m.toarray(), np.array([1, 2]), np.array(["a", "b"]))
    with pytest.raises(ValueError, match="timestamps"):
        Interactions(m, np.array([1, 2]), np.array(["a", "b"]), sp.csr_matrix(np.ones((2, 2))))


# ---------------------------------------------------------------- from_csv

def test_integer_ids_become_int64_and_sort_numerically(tmp_path):
    it = from_csv(write(tmp_path, "user,item\n10,5\n9,-3\n10,100\n"))
    assert it.user_ids.dtype == np.int64 and it.user_ids.tolist() == [9, 10]
    assert it.item_ids.dtype == np.int64 and it.item_ids.tolist() == [-3, 5, 100]
    assert it.user_index(10) == 1 and it.item_index(np.array([100, -3])).tolist() == [2, 0]
    assert it.user_index(np.int32(9)) == 0
    assert isinstance(it.to_raw_users(0), int)
    with pytest.raises(KeyError, match="'10'"):
        it.user_index("10")


def test_non_canonical_integers_keep_the_column_as_strings(tmp_path):
    it = from_csv(write(tmp_path, "user,item\n007,1\n7,2\n+8,3\n"))
    assert it.user_ids.dtype.kind == "U"
    assert sorted(it.user_ids.tolist()) == ["+8", "007", "7"]  # "007" and "7" stay distinct
    assert it.item_ids.dtype == np.int64  # each column decided on its own


def test_value_col_none_counts_rows(tmp_path):
    it = from_csv(write(tmp_path, "user,item\na,x\na,x\na,y\nb,x\na,x\n"))
    assert dense(it) == {("a", "x"): 3.0, ("a", "y"): 1.0, ("b", "x"): 1.0}
    assert it.timestamps is None


def test_zero_sum_cells_are_not_stored(tmp_path):
    it = from_csv(write(tmp_path, "u,i,v\na,x,1\na,x,-1\nb,y,-2\n"),
                  user_col="u", item_col="i", value_col="v")
    assert dense(it) == {("b", "y"): -2.0}
    assert it.user_ids.tolist() == ["a", "b"]  # the user keeps an (empty) row


def test_delimiter_quotes_whitespace_bom_and_blank_lines(tmp_path):
    text = '\ufeffuser\titem\tw\n "a, b" \tx\t 2 \n\nc\t"y\tz"\t1\n\n'
    it = from_csv(write(tmp_path, text), value_col="w", delimiter="\t")
    assert dense(it) == {("a, b", "x"): 2.0, ("c", "y\tz"): 1.0}


BAD_ROWS = [
    ("user,item,r,t\na,x,1,5\nb,y,2\n", 3, "expected 4 fields"),
    ("user,item,r,t\na,x,1,5,9\n", 2, "expected 4 fields"),
    ("user,item,r,t\na,x,1,5\n ,y,2,5\n", 3, "empty user id"),
    ("user,item,r,t\na,,1,5\n", 2, "empty item id"),
    ("user,item,r,t\na,x,1,5\nb,x,1,5\nc,x,high,5\n", 4, "not a number: 'high'"),
    ("user,item,r,t\na,x,,5\n", 2, "not a number"),
    ("user,item,r,t\na,x,nan,5\n", 2, "not finite"),
    ("user,item,r,t\na,x,1,inf\n", 2, "timestamp column 't' is not finite"),
    ("user,item,r,t\na,x,1,yesterday\n", 2, "timestamp column 't' is not a number"),
    ("user,item,r,t\na,x,1,5\n\nb,x,1\n", 4, "expected 4 fields"),  # blank lines still count
]


@pytest.mark.parametrize("text, line, problem", BAD_ROWS)
def test_bad_rows_name_the_line_and_problem(tmp_path, text, line, problem):
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        from_csv(path, value_col="r", timestamp_col="t")
    message = str(info.value)
    assert f"line {line}:" in message and problem in message and str(path) in message


def test_missing_column_lists_available_columns(tmp_path):
    path = write(tmp_path, "userId,movieId,rating\n1,2,3\n")
    with pytest.raises(ValueError) as info:
        from_csv(path, user_col="userId", item_col="itemId")
    message = str(info.value)
    assert "'itemId' (item_col)" in message and "line 1" in message
    assert "'userId', 'movieId', 'rating'" in message
    with pytest.raises(ValueError, match="'stamp' \\(timestamp_col\\)"):
        from_csv(path, user_col="userId", item_col="movieId", timestamp_col="stamp")


def test_empty_files_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        from_csv(write(tmp_path, ""))
    with pytest.raises(ValueError, match="empty"):
        from_csv(write(tmp_path, "\n\n"))
    with pytest.raises(ValueError, match="no data rows"):
        from_csv(write(tmp_path, "user,item\n\n"))
    with pytest.raises(FileNotFoundError):
        from_csv(tmp_path / "nope.csv")


def test_argument_errors_name_the_argument(tmp_path):
    path = write(tmp_path, "user,item\na,b\n")
    with pytest.raises(TypeError, match="user_col"):
        from_csv(path, user_col=1)
    with pytest.raises(TypeError, match="value_col"):
        from_csv(path, value_col=3)
    with pytest.raises(ValueError, match="delimiter"):
        from_csv(path, delimiter=";;")
    with pytest.raises(ValueError, match="user_col and item_col"):
        from_csv(path, user_col="user", item_col="user")
    with pytest.raises(TypeError, match="path"):
        from_csv(None)


# ---------------------------------------------------------------- from_dataframe

def assert_same(a: Interactions, b: Interactions):
    assert a.user_ids.dtype.kind == b.user_ids.dtype.kind
    assert np.array_equal(a.user_ids, b.user_ids) and np.array_equal(a.item_ids, b.item_ids)
    assert a.matrix.dtype == b.matrix.dtype and (a.matrix != b.matrix).nnz == 0
    assert np.array_equal(a.matrix.indptr, b.matrix.indptr)
    assert (a.timestamps is None) == (b.timestamps is None)
    if a.timestamps is not None:
        assert np.array_equal(a.timestamps.data, b.timestamps.data)


@pytest.mark.parametrize("text", [LOG, LOG.replace("alice", "1").replace("bob", "2")
                                  .replace("carol", "30")])
def test_from_dataframe_equals_from_csv(tmp_path, text):
    pd = pytest.importorskip("pandas")
    path = write(tmp_path, text)
    frame = pd.read_csv(path)
    for value_col, ts_col in [(None, None), ("rating", "ts"), ("rating", None)]:
        assert_same(from_dataframe(frame, "user", "item", value_col, ts_col),
                    from_csv(path, value_col=value_col, timestamp_col=ts_col))


def test_from_dataframe_errors_and_conversions():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"u": ["a", "b", None], "i": [1, 2, 3], "v": [1.0, 2.0, 3.0]},
                         index=[10, 11, 12])
    with pytest.raises(ValueError) as info:
        from_dataframe(frame, "u", "item")
    assert "'item' (item_col)" in str(info.value) and "'u', 'i', 'v'" in str(info.value)
    with pytest.raises(ValueError, match="row 2 \\(index label 12\\): missing id"):
        from_dataframe(frame, "u", "i")
    frame["u"] = ["a", "b", "c"]
    frame.loc[11, "v"] = np.nan
    with pytest.raises(ValueError, match="row 1 .*'v' \\(value_col\\)"):
        from_dataframe(frame, "u", "i", value_col="v")
    with pytest.raises(TypeError, match="'v' \\(user_col\\)"):
        from_dataframe(frame.assign(v=[0.5, 1.0, 2.0]), "v", "i")
    with pytest.raises(TypeError, match="only integers or only strings"):
        from_dataframe(frame.assign(u=["a", 1, "c"]), "u", "i")
    with pytest.raises(ValueError, match="no rows"):
        from_dataframe(frame.iloc[:0], "u", "i")
    with pytest.raises(TypeError, match="df"):
        from_dataframe({"u": [1]}, "u", "i")

    when = pd.to_datetime(["1970-01-01 00:00:10", "1970-01-01 00:01:00", "2001-09-09 01:46:40"])
    it = from_dataframe(pd.DataFrame({"u": [1.0, 2.0, 2.0], "i": ["x", "y", "x"], "t": when}),
                        "u", "i", timestamp_col="t")
    assert it.user_ids.dtype == np.int64 and it.user_ids.tolist() == [1, 2]
    assert sorted(it.timestamps.data.tolist()) == [10.0, 60.0, 1e9]


# ---------------------------------------------------------------- MovieLens

def test_movielens_is_not_bundled():
    with pytest.raises(ValueError, match="not bundled"):
        movielens_small()


@pytest.mark.skipif(not (MOVIELENS / "ratings.csv").is_file(),
                    reason="MovieLens latest-small not available")
def test_movielens_small_loads():
    it = movielens_small(MOVIELENS)
    assert it.shape == (610, 9724) and it.nnz == 100836
    assert it.user_ids.dtype == np.int64 and it.item_ids.dtype == np.int64
    assert it.matrix.data.min() == 0.5 and it.matrix.data.max() == 5.0
    assert it.timestamps.nnz == it.nnz
    # First data line: 1,1,4.0,964982703
    u, i = it.user_index(1), it.item_index(1)
    assert it.matrix[u, i] == 4.0 and it.timestamps[u, i] == 964982703
    assert datasets.movielens_small(MOVIELENS / "ratings.csv").nnz == it.nnz
