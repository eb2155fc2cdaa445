"""mfkit.callbacks and the on_iteration protocol: a callback sees the model as fitted so far and
can stop the fit; the ready-made callbacks measure, log and plot what the fit did."""
from __future__ import annotations

import csv

import numpy as np
import pytest
from conftest import make_implicit_matrix

import mfkit
from mfkit.callbacks import CallbackList, CSVLogger, EarlyStopping, LivePlot
from mfkit.evaluation import leave_k_out_split, ndcg_at_k

PARAMS = dict(factors=8, regularization=0.5, random_state=3, calculate_training_loss=True)


@pytest.fixture(scope="module")
def split():
    matrix = make_implicit_matrix(seed=4, n_users=80, n_items=60, density=0.15)
    return leave_k_out_split(matrix, K=2, random_state=0)


class Recorder:
    def __init__(self, stop_after=None):
        self.seen, self.stop_after = [], stop_after

    def on_iteration(self, progress):
        self.seen.append((progress.iteration, progress.value,
                          progress.model.user_factors.copy(),
                          getattr(progress.model, "loss_history", None)))
        return self.stop_after is not None and progress.iteration + 1 >= self.stop_after


def test_the_model_so_far_equals_a_shorter_fit(split):
    """After iteration i the callback's model is the model fitted with i + 1 iterations."""
    train, _ = split
    recorder = Recorder()
    mfkit.ALS(iterations=3, **PARAMS).fit(train, callback=recorder, show_progress=False)
    for iteration, value, user_factors, history in recorder.seen:
        shorter = mfkit.ALS(iterations=iteration + 1, **PARAMS).fit(train, show_progress=False)
        np.testing.assert_array_equal(user_factors, shorter.user_factors)
        assert value == shorter.loss_history[-1] and history == shorter.loss_history


@pytest.mark.parametrize("model", [
    mfkit.ALS(iterations=6, **PARAMS),
    mfkit.BPR(factors=8, iterations=6, random_state=0),
    mfkit.ExplicitMF(factors=4, solver="als", iterations=6, random_state=0),
    mfkit.NMF(n_components=4, max_iter=6, tol=0.0, random_state=0),
], ids=lambda m: type(m).__name__)
def test_returning_true_stops_the_fit(split, model):
    train, _ = split
    recorder = Recorder(stop_after=2)
    model.fit(abs(train), callback=recorder, show_progress=False)
    assert [seen[0] for seen in recorder.seen] == [0, 1]
    stopped = getattr(model, "loss_history", None)
    if isinstance(model, mfkit.NMF):
        assert model.n_iter_ == 2
    elif stopped is not None and len(stopped):
        assert len(stopped) == 2


def test_early_stopping_scores_and_stops(split):
    train, valid = split
    # No gain can exceed min_delta=1 (ndcg <= 1): stops after `patience` more evaluations.
    stopper = EarlyStopping(train, valid, metric="ndcg@5", every=2, patience=2, min_delta=1.0)
    model = mfkit.ALS(iterations=20, **PARAMS).fit(train, callback=stopper, show_progress=False)
    assert [i for i, _ in stopper.history] == [1, 3, 5]
    assert stopper.stopped_iteration == 5 and len(model.loss_history) == 6
    for iteration, score in stopper.history:
        shorter = mfkit.ALS(iterations=iteration + 1, **PARAMS).fit(train, show_progress=False)
        assert score == ndcg_at_k(shorter, train, valid, K=5)
    assert stopper.best_iteration == 1 and stopper.best_score == stopper.history[0][1]
    at_best = mfkit.ALS(iterations=2, **PARAMS).fit(train, show_progress=False)
    np.testing.assert_array_equal(stopper.best_model.item_factors, at_best.item_factors)
    assert stopper.best_model.recommend(0, train[0], N=3)[0].tolist() == \
        at_best.recommend(0, train[0], N=3)[0].tolist()


def test_early_stopping_keeps_the_best(split):
    train, valid = split
    stopper = EarlyStopping(train, valid, metric="recall@10", patience=100)
    mfkit.ALS(iterations=5, **PARAMS).fit(train, callback=stopper, show_progress=False)
    scores = [score for _, score in stopper.history]
    assert len(scores) == 5 and stopper.stopped_iteration is None
    assert stopper.best_score == max(scores)
    assert stopper.best_iteration == stopper.history[scores.index(max(scores))][0]


def test_csv_logger_and_callback_list(split, tmp_path):
    train, _ = split
    calls = []
    path = tmp_path / "fit.csv"
    both = CallbackList(CSVLogger(path), lambda i, elapsed, loss: calls.append(loss))
    model = mfkit.ALS(iterations=3, **PARAMS).fit(train, callback=both, show_progress=False)
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert [int(r["iteration"]) for r in rows] == [0, 1, 2]
    assert [float(r["value"]) for r in rows] == model.loss_history == calls
    assert all(float(r["elapsed_seconds"]) >= 0 for r in rows)
    # BPR reports a dict: one column per key.
    bpr_path = tmp_path / "bpr.csv"
    mfkit.BPR(factors=4, iterations=2, random_state=0).fit(train, callback=CSVLogger(bpr_path),
                                                          show_progress=False)
    with open(bpr_path, newline="") as file:
        header = next(csv.reader(file))
    assert header[:2] == ["iteration", "elapsed_seconds"] and len(header) > 2


def test_live_plot_draws_the_loss_and_the_validation(split):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    train, valid = split
    stopper = EarlyStopping(train, valid, metric="ndcg@5", patience=100)
    plot = LivePlot(validation=stopper)
    model = mfkit.ALS(iterations=3, **PARAMS).fit(train, callback=CallbackList(stopper, plot),
                                                  show_progress=False)
    lines = {line.get_label(): line for ax in plot.figure.axes for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["loss"].get_ydata(), model.loss_history)
    np.testing.assert_array_equal(lines["ndcg@5 (validation)"].get_ydata(),
                                  [score for _, score in stopper.history])
    assert plot.figure.axes[0].get_xlabel() == "iteration"


def test_bad_arguments(split):
    train, valid = split
    with pytest.raises(ValueError, match="metric must be NAME@K"):
        EarlyStopping(train, valid, metric="rmse")
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(train, valid, patience=0)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(train, valid, min_delta=-1)
    with pytest.raises(TypeError, match="on_iteration"):
        mfkit.ALS().fit(train, callback=object())
    with pytest.raises(TypeError, match="each callback"):
        CallbackList(3)
    with pytest.raises(TypeError, match="path"):
        CSVLogger(None)
