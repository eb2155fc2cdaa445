"""mfkit.distributed: ALS on a Dask cluster equals the single-machine fit, bit for bit.

One LocalCluster of two worker processes (one thread each) serves the whole module; the tests
are skipped when Dask is not installed (``pip install "mfkit[dask]"``).
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import make_implicit_matrix

import mfkit
from mfkit import _cpp
from mfkit._csr import csr_arrays
from mfkit._validation import check_user_items

distributed = pytest.importorskip("distributed")
pq = pytest.importorskip("pyarrow.parquet")

import mfkit.distributed as mfd  # noqa: E402
from mfkit.distributed._woodbury import padding_rows  # noqa: E402

PARAMS = dict(factors=16, regularization=0.5, alpha=2.0, iterations=3, random_state=7,
              calculate_training_loss=True)
USERS, ITEMS = 120, 90


@pytest.fixture(scope="module")
def client(dask_client):
    return dask_client


@pytest.fixture(scope="module")
def matrix():
    return make_implicit_matrix(seed=3, n_users=USERS, n_items=ITEMS, density=0.08)


@pytest.fixture(scope="module")
def interactions(matrix):
    users = np.array([f"user-{u:03d}" for u in range(USERS)])
    items = np.array([f"item-{i:03d}" for i in range(ITEMS)])
    return mfkit.datasets.Interactions(matrix.astype(np.float32), users, items)


def assert_same_fit(distributed_model, single):
    assert type(distributed_model) is mfkit.ALS
    np.testing.assert_array_equal(distributed_model.user_factors, single.user_factors)
    np.testing.assert_array_equal(distributed_model.item_factors, single.item_factors)
    # The loss sums the same row terms by blocks, the regularization in float64: equal up to
    # rounding (in float32 the kernel rounds each row's regularization term to float32).
    rtol = 1e-7 if single.user_factors.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(distributed_model.loss_history, single.loss_history, rtol=rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["cg", "cholesky", "block"])
def test_half_sweep_is_gram_then_solve_rows(matrix, solver, dtype):
    """What the distributed fit relies on: the single-machine half-sweep is the gram followed by
    the row solve, bit for bit, and the rows solved by blocks equal the rows solved at once."""
    rng = np.random.default_rng(0)
    by_user = csr_arrays(check_user_items(matrix, dtype))
    fixed = rng.normal(0, 0.3, (ITEMS, 16)).astype(dtype)
    start = rng.normal(0, 0.3, (USERS, 16)).astype(dtype)
    options = dict(regularization=0.5, regularization_exponent=0.0, alpha=2.0, solver=solver,
                   cg_steps=3)
    whole = start.copy()
    _cpp.als_half_sweep(by_user, fixed, whole, num_threads=2, **options)
    parts = start.copy()
    _cpp.als_solve_rows(by_user, fixed, _cpp.gram(fixed, num_threads=1), parts, num_threads=1,
                        **options)
    np.testing.assert_array_equal(parts, whole)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("n_blocks", [2, 25])
def test_fit_equals_single_machine(client, matrix, solver, dtype, n_blocks):
    params = dict(PARAMS, solver=solver, dtype=dtype)
    single = mfkit.ALS(**params).fit(matrix, show_progress=False)
    assert_same_fit(mfd.fit_als(matrix, client, n_blocks=n_blocks, show_progress=False,
                                **params), single)


def test_block_solver_and_frequency_scheme_equal_single_machine(client, matrix):
    """iALS++'s block solver and Rendle et al.'s frequency-scaled regularization reach the
    workers' row solves and the distributed loss (the latter's offset N/alpha per side)."""
    params = dict(PARAMS, solver="block", block_size=5, block_sweeps=2, dtype=np.float64,
                  regularization_scheme="frequency", regularization_exponent=0.5)
    single = mfkit.ALS(**params).fit(matrix, show_progress=False)
    assert_same_fit(mfd.fit_als(matrix, client, n_blocks=3, show_progress=False, **params),
                    single)


def test_cholesky_blocks_keep_the_woodbury_path(matrix):
    """The 25 blocks above would solve their short rows otherwise than the whole matrix (the
    padding of _woodbury is what keeps the cholesky fits equal)."""
    by_user = csr_arrays(check_user_items(matrix, np.float32))
    starts = mfd._layout.block_starts(by_user.indptr, 25)
    lengths = [np.diff(by_user.indptr[a:b + 1]) for a, b in zip(starts[:-1], starts[1:])]
    params = dict(factors=16, solver="cholesky", regularization_exponent=0.0, alpha=2.0)
    assert any(padding_rows(lengths, ITEMS, params))


def test_interactions_keep_raw_ids_and_save(client, interactions, tmp_path):
    single = mfkit.ALS(**PARAMS).fit(interactions, show_progress=False)
    model = mfd.fit_als(interactions, client, show_progress=False, **PARAMS)
    assert_same_fit(model, single)
    np.testing.assert_array_equal(model.user_ids, interactions.user_ids)
    np.testing.assert_array_equal(model.item_ids, interactions.item_ids)
    raw = model.recommend_raw("user-005", N=3, filter_already_liked_items=False)
    assert raw[0].tolist() == single.recommend_raw("user-005", N=3,
                                                   filter_already_liked_items=False)[0].tolist()
    model.save(tmp_path / "model.npz")
    loaded = mfkit.load(tmp_path / "model.npz")
    np.testing.assert_array_equal(loaded.item_factors, single.item_factors)
    np.testing.assert_array_equal(loaded.user_ids, interactions.user_ids)


def test_layout_is_reused_and_callback_sees_every_iteration(client, matrix):
    layout = mfd.layout_from_matrix(matrix, client, 3, np.float64)
    assert isinstance(layout, mfd.BlockLayout)
    assert layout.user_starts[0] == 0 and layout.user_starts[-1] == USERS
    assert layout.item_starts[-1] == ITEMS
    calls = []
    params = dict(PARAMS, dtype=np.float64)
    model = mfd.fit_als(layout, client, callback=lambda *a: calls.append(a),
                        show_progress=False, **params)
    assert_same_fit(model, mfkit.ALS(**params).fit(matrix, show_progress=False))
    assert [c[0] for c in calls] == [0, 1, 2]
    assert [c[2] for c in calls] == model.loss_history


def test_a_callback_sees_the_model_so_far_and_stops_the_fit(client, matrix):
    """on_iteration callbacks work as with ALS.fit: the model so far (gathered) equals the
    shorter single-machine fit, and returning True stops the fit there."""
    seen = []

    class StopAfterTwo:
        def on_iteration(self, progress):
            seen.append(progress.model.user_factors.copy())
            return progress.iteration == 1

    model = mfd.fit_als(matrix, client, n_blocks=3, callback=StopAfterTwo(),
                        show_progress=False, **dict(PARAMS, iterations=5))
    shorter = mfkit.ALS(**dict(PARAMS, iterations=2)).fit(matrix, show_progress=False)
    assert_same_fit(model, shorter)
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[1], shorter.user_factors)


def test_checkpoint_and_resume_equal_an_uninterrupted_fit(client, matrix, tmp_path):
    params = dict(PARAMS, iterations=4)
    whole = mfd.fit_als(matrix, client, checkpoint_dir=tmp_path, checkpoint_every=3,
                        show_progress=False, **params)
    written = sorted(name for name in os.listdir(tmp_path))
    assert written == ["als-iteration-000003.json", "als-iteration-000003.npz",
                       "als-iteration-000004.json", "als-iteration-000004.npz"]
    saved = mfkit.load(tmp_path / "als-iteration-000003.npz")
    assert_same_fit(saved, mfkit.ALS(**dict(PARAMS, iterations=3)).fit(matrix,
                                                                       show_progress=False))
    assert json.loads((tmp_path / "als-iteration-000003.json").read_text())["iterations"] == 3
    calls = []
    resumed = mfd.fit_als(matrix, client, resume_from=tmp_path / "als-iteration-000003.json",
                          callback=lambda *a: calls.append(a[0]), show_progress=False,
                          **params)
    assert calls == [3]
    assert_same_fit(resumed, whole)
    # A directory resumes from its latest checkpoint: nothing left to do.
    done = mfd.fit_als(matrix, client, resume_from=tmp_path, show_progress=False, **params)
    assert_same_fit(done, whole)
    with pytest.raises(ValueError, match="alpha=2.0 there, 1.0 here"):
        mfd.fit_als(matrix, client, resume_from=tmp_path, **dict(params, alpha=1.0))
    with pytest.raises(ValueError, match="checkpoint directory or"):
        mfd.fit_als(matrix, client, resume_from=tmp_path / "elsewhere", **params)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no checkpoint"):
        mfd.fit_als(matrix, client, resume_from=tmp_path / "empty", **params)


def test_a_killed_worker_changes_nothing(client, matrix):
    """A worker process dies between iterations: Dask rebuilds its blocks from their tasks on
    the other worker (or the restarted one) and the fit ends with the same factors."""
    killed = []

    def kill_a_worker(iteration, elapsed, loss):
        if iteration == 0:
            address = sorted(client.scheduler_info()["workers"])[0]
            killed.append(address)
            with contextlib.suppress(Exception):  # the worker dies before it answers
                client.run(os._exit, 1, workers=[address])

    params = dict(PARAMS, iterations=3)
    model = mfd.fit_als(matrix, client, n_blocks=4, callback=kill_a_worker,
                        show_progress=False, **params)
    assert_same_fit(model, mfkit.ALS(**params).fit(matrix, show_progress=False))
    client.wait_for_workers(2, timeout=300)  # a busy machine restarts a worker slowly
    assert killed and killed[0] not in client.scheduler_info()["workers"]  # a new process


class DieInASolve(distributed.WorkerPlugin):
    """Kills its worker's process as the worker starts its ``nth`` block solve; once per
    ``marker`` file (created atomically), so that one worker dies, and the restarted one does
    not die again."""

    def __init__(self, marker: str, nth: int):
        self.marker, self.nth, self.solves = marker, nth, 0

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and "_solve_block" in str(key):
            self.solves += 1
            if self.solves == self.nth:
                try:
                    os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    return
                os._exit(1)


def test_a_worker_killed_inside_a_half_sweep_changes_nothing(client, matrix, tmp_path):
    """A worker process dies as it starts a block's solve (its third: in the middle of a
    half-sweep, other solves in flight): the iteration runs again from the client's copy on
    the rebuilt blocks and the fit ends with the single-machine factors."""
    marker = tmp_path / "killed"
    client.register_plugin(DieInASolve(str(marker), nth=3), name="die-in-a-solve")
    try:
        before = set(client.nthreads())
        params = dict(PARAMS, iterations=3)
        model = mfd.fit_als(matrix, client, n_blocks=4, show_progress=False, **params)
    finally:
        client.unregister_worker_plugin("die-in-a-solve")
    assert marker.exists()  # a worker did die mid-fit
    assert_same_fit(model, mfkit.ALS(**params).fit(matrix, show_progress=False))
    client.wait_for_workers(2, timeout=300)  # a busy machine restarts a worker slowly
    assert set(client.nthreads()) != before  # a new worker process took the dead one's place


def test_a_half_sweep_that_loses_its_data_runs_again(client, matrix):
    """Scattered factors lost with a worker (FutureCancelledError) -> run again; a cluster that
    keeps losing them -> RuntimeError saying so."""
    layout = mfd.layout_from_matrix(matrix, client, 2, np.float64)
    model = mfkit.ALS(dtype=np.float64)
    sweeps = mfd._als._AlsSweeps(client, layout, model._validate_params(), model)
    calls = []

    def lose(times):
        def run():
            calls.append(1)
            if len(calls) <= times:
                raise distributed.client.FutureCancelledError("x", "scattered data lost")
            return "done"
        return run

    assert sweeps._attempts(lose(2), "the user half-sweep") == "done"
    calls.clear()
    with pytest.raises(RuntimeError, match="the user half-sweep failed 3 times"):
        sweeps._attempts(lose(3), "the user half-sweep")


@pytest.mark.parametrize("filter_liked", [True, False])
def test_recommend_all_equals_recommend(client, interactions, tmp_path, filter_liked):
    model = mfkit.ALS(factors=8, iterations=2, random_state=0).fit(interactions,
                                                                   show_progress=False)
    files = mfd.recommend_all(model, interactions, N=7, client=client, path=tmp_path / "recs",
                              filter_already_liked_items=filter_liked, n_blocks=3)
    assert len(files) == 3
    table = pq.read_table(tmp_path / "recs").to_pandas()
    assert list(table.columns) == ["user", "rank", "item", "score"]
    users = np.arange(USERS)
    ids, scores = model.recommend(users, interactions.matrix, N=7,
                                  filter_already_liked_items=filter_liked)
    found = ids >= 0
    expected_users = np.repeat(interactions.user_ids, 7).reshape(ids.shape)[found]
    table = table.sort_values(["user", "rank"], kind="stable")
    np.testing.assert_array_equal(table["user"], expected_users)
    np.testing.assert_array_equal(table["item"], interactions.item_ids[ids[found]])
    np.testing.assert_array_equal(table["score"], scores[found])
    np.testing.assert_array_equal(table["rank"], np.tile(np.arange(1, 8), USERS)[found.ravel()])


def test_recommend_all_without_raw_ids_writes_row_ids(client, matrix, tmp_path):
    model = mfkit.ALS(factors=4, iterations=1, random_state=0).fit(matrix, show_progress=False)
    mfd.recommend_all(model, matrix, N=2, client=client, path=str(tmp_path), n_blocks=2)
    table = pq.read_table(tmp_path).to_pandas().sort_values(["user", "rank"])
    ids, _ = model.recommend(np.arange(USERS), matrix, N=2)
    np.testing.assert_array_equal(table["item"], ids[ids >= 0])
    assert table["user"].dtype == np.int64


def scaled(exponent, one=False):
    """Values scaled to a largest of 10**exponent (only one of them, with ``one``)."""
    matrix = sp.csr_matrix(mfkit.datasets.synthetic(300, 200, 0.05, seed=0).astype(np.float64))
    if one:
        matrix.data[len(matrix.data) // 2] = 10.0**exponent
    else:
        matrix.data *= 10.0**exponent / matrix.data.max()
    return matrix


@pytest.mark.parametrize("data, params", [
    (scaled(36), dict(solver="cholesky")),  # the kernel's failure, blaming the value scale
    (scaled(16, one=True), dict(solver="cg")),  # factors not finite after an iteration
    (mfkit.datasets.synthetic(20, 3, 0.6, seed=0), dict(factors=10, regularization=0.0,
                                                        solver="cholesky")),
    (scaled(20), dict(solver="cg")),  # beyond the confidence limit: refused before fitting
], ids=["cholesky-scale", "cg-not-finite", "singular", "limit"])
def test_the_guards_of_als(client, data, params):
    """The same refusals and NumericalErrors as ALS.fit, with the same messages."""
    params = dict(params, random_state=0)
    with pytest.raises((ValueError, mfkit.NumericalError)) as single:
        mfkit.ALS(**params).fit(data, show_progress=False)
    with pytest.raises(single.type) as spread:
        mfd.fit_als(data, client, show_progress=False, **params)
    # The first failing row the kernel meets depends on its threads: compare without it.
    def unnumbered(error):
        return re.sub(r"row \d+", "row N", str(error)).replace("user_items", "interactions")

    assert unnumbered(spread.value) == unnumbered(single.value)


def test_bad_input(client, matrix, tmp_path):
    with pytest.raises(TypeError, match="distributed.Client"):
        mfd.fit_als(matrix, client="tcp://localhost:8786")
    with pytest.raises(TypeError, match="interactions must be"):
        mfd.fit_als({"user": [1]}, client)
    with pytest.raises(ValueError, match="factors"):
        mfd.fit_als(matrix, client, factors=0)
    with pytest.raises(TypeError):
        mfd.fit_als(matrix, client, no_such_argument=1)
    with pytest.raises(ValueError, match="n_blocks"):
        mfd.fit_als(matrix, client, n_blocks=0)
    with pytest.raises(ValueError, match="checkpoint_every"):
        mfd.fit_als(matrix, client, checkpoint_every=0)
    with pytest.raises(ValueError, match="magnitude"):
        mfd.fit_als(sp.csr_matrix(np.array([[1e30, 1.0], [0.0, 2.0]])), client)
    layout = mfd.layout_from_matrix(matrix, client, 2, np.float64)
    with pytest.raises(ValueError, match="float64 values"):
        mfd.fit_als(layout, client, dtype=np.float32)
    with pytest.raises(ValueError, match="n_blocks cannot"):
        mfd.fit_als(layout, client, n_blocks=2)
    model = mfkit.ALS(factors=4, iterations=1).fit(matrix[:10], show_progress=False)
    with pytest.raises(ValueError, match="shape"):
        mfd.recommend_all(model, matrix, client=client, path=tmp_path)
    with pytest.raises(TypeError, match="path"):
        mfd.recommend_all(model, matrix[:10], client=client)
    with pytest.raises(mfkit.NotFittedError):
        mfd.recommend_all(mfkit.ALS(), matrix, client=client, path=tmp_path)


def test_a_closed_client_is_refused(client, matrix):
    other = distributed.Client(client.scheduler.address)
    other.close()
    with pytest.raises(ValueError, match="closed"):
        mfd.fit_als(matrix, other)


def test_a_dask_dataframe_goes_through_layout_from_dataframe(client):
    dd = pytest.importorskip("dask.dataframe")
    pandas = pytest.importorskip("pandas")
    frame = dd.from_pandas(pandas.DataFrame({"user": ["a"], "item": ["b"]}), npartitions=1)
    with pytest.raises(TypeError, match="layout_from_dataframe"):
        mfd.fit_als(frame, client)


def test_dask_is_optional(tmp_path):
    """``import mfkit`` never imports Dask; without it mfkit.distributed says what to install."""
    code = ("import sys, mfkit; assert 'dask' not in sys.modules and 'distributed' not in "
            "sys.modules; sys.modules['distributed'] = None\n"
            "try:\n    import mfkit.distributed\nexcept ImportError as e:\n    print(e)")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert 'pip install "mfkit[dask]"' in result.stdout
