"""mfkit.tuning: Optuna searches (best params in the space, best model scoring the reported
value, determinism, pruning, user spaces, fixed parameters), model selection, the validation
splits and bad input. Small synthetic data, few trials."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import mfkit
from mfkit.evaluation import (
    ndcg_at_k,
    parse_metric,
    ranking_metrics,
    train_valid_test_split,
    validation_split,
)
from mfkit.tuning import select, tune

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)

ALS_SPACE = {"factors": ("int_log", 4, 32), "regularization": ("log", 0.1, 100.0),
             "alpha": ("log", 0.5, 20.0), "iterations": ("int", 3, 8)}
BPR_SPACE = {"factors": ("int", 4, 16), "learning_rate": ("log", 0.01, 0.1),
             "iterations": ("int", 5, 20)}


@pytest.fixture(scope="module")
def data():
    matrix = mfkit.datasets.synthetic(300, 200, 0.05, seed=1)
    train, valid = validation_split(matrix, K=2, random_state=0)
    return train, valid


def in_space(value, spec):
    kind, *bounds = spec
    if kind == "categorical":
        return value in bounds[0]
    if kind in ("int", "int_log"):
        assert isinstance(value, int)
    return bounds[0] <= value <= bounds[1]


def trial_values(study):
    return [(t.user_attrs["params"], t.value, t.state.name) for t in study.trials]


def test_best_params_lie_in_the_space_and_the_best_model_scores_the_best_value(data):
    train, valid = data
    result = tune("als", train, valid, metric="ndcg@10", n_trials=6, search_space=ALS_SPACE,
                  random_state=0)
    assert set(result.best_params) == set(ALS_SPACE)
    for name, value in result.best_params.items():
        assert in_space(value, ALS_SPACE[name]), (name, value)
        assert result.best_model.get_params()[name] == value
    assert isinstance(result.best_model, mfkit.ALS)
    # the returned model is the best trial's, fitted on train: recompute its score
    assert ndcg_at_k(result.best_model, train, valid, K=10) == pytest.approx(
        result.best_value, rel=1e-12)
    completed = [t.value for t in result.study.trials if t.state.name == "COMPLETE"]
    assert result.best_value == max(completed) == result.study.best_value
    assert result.counts()["complete"] + result.counts()["pruned"] == 6
    assert result.metric == "ndcg@10"
    # and better than a model with absurd regularization
    poor = mfkit.ALS(factors=8, regularization=1e5, iterations=3, random_state=0).fit(
        train, show_progress=False)
    assert result.best_value > ndcg_at_k(poor, train, valid, K=10)


def test_the_same_random_state_gives_the_same_trials(data):
    train, valid = data
    runs = [tune("als", train, valid, metric="recall@10", n_trials=5, search_space=ALS_SPACE,
                 random_state=7) for _ in range(2)]
    assert trial_values(runs[0].study) == trial_values(runs[1].study)
    np.testing.assert_array_equal(runs[0].best_model.item_factors,
                                  runs[1].best_model.item_factors)
    other = tune("als", train, valid, metric="recall@10", n_trials=5, search_space=ALS_SPACE,
                 random_state=8)
    assert trial_values(other.study) != trial_values(runs[0].study)


def test_bad_trials_are_pruned_from_the_validation_metric_during_the_fit(data):
    train, valid = data

    def space(trial):  # the first trial is sensible, the others absurdly regularized
        return {"regularization": 1.0 if trial.number == 0 else 1e6, "iterations": 8}

    reported = []
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    result = tune(mfkit.ALS(factors=8), train, valid, metric="ndcg@10", n_trials=4,
                  search_space=space, pruner=pruner, random_state=0)
    for trial in result.study.trials:
        reported.append(sorted(trial.intermediate_values))
    states = [t.state.name for t in result.study.trials]
    assert states[0] == "COMPLETE"
    assert states[1:] == ["PRUNED"] * 3
    assert reported[0] == [2, 4, 8]  # checkpoints 2, 4, then the final value at 8
    assert all(steps == [2] for steps in reported[1:])  # stopped at the first checkpoint
    assert result.best_params == {"regularization": 1.0, "iterations": 8}
    # the checkpoint of the completed trial is the metric of a fit of that many iterations
    early = mfkit.ALS(factors=8, regularization=1.0, iterations=4,
                      random_state=result.best_model.random_state).fit(train, show_progress=False)
    assert result.study.trials[0].intermediate_values[4] == pytest.approx(
        ndcg_at_k(early, train, valid, K=10), rel=1e-12)


def test_the_first_trial_starts_from_the_defaults_in_the_space(data):
    train, valid = data
    result = tune("als", train, valid, n_trials=2, random_state=0)
    first = result.study.trials[0].user_attrs["params"]
    assert first == {"factors": 64, "regularization": 15.0, "alpha": 2.0, "iterations": 15}
    # only the defaults inside the space; an instance's values replace the class defaults
    result = tune(mfkit.ALS(regularization=3.0), train, valid, n_trials=1, random_state=0,
                  search_space={"regularization": ("log", 0.1, 10.0), "alpha": ("log", 5.0, 9.0),
                                "iterations": ("categorical", [2, 15])})
    first = result.study.trials[0].user_attrs["params"]
    assert first["regularization"] == 3.0 and first["iterations"] == 15
    assert 5.0 <= first["alpha"] <= 9.0  # drawn: the default 2.0 is outside
    off = tune("als", train, valid, n_trials=1, random_state=0, start_from_defaults=False)
    assert off.study.trials[0].user_attrs["params"]["factors"] != 64


def test_a_user_space_is_honoured_and_instance_parameters_stay_fixed(data):
    train, valid = data
    result = tune(mfkit.ALS(iterations=3, alpha=4.0), train, valid, n_trials=4,
                  search_space={"factors": ("categorical", [5, 7])}, random_state=0)
    for trial in result.study.trials:
        assert set(trial.user_attrs["params"]) == {"factors"}
        assert trial.user_attrs["params"]["factors"] in (5, 7)
    assert result.best_model.iterations == 3 and result.best_model.alpha == 4.0
    assert result.best_model.factors in (5, 7)
    assert result.best_model.user_factors.shape[1] == result.best_model.factors

    # default space: the instance's non-default parameters are left out of it
    fixed = tune(mfkit.ALS(factors=6, iterations=3), train, valid, n_trials=3, random_state=0)
    for trial in fixed.study.trials:
        assert set(trial.user_attrs["params"]) == {"regularization", "alpha"}
        for name, value in trial.user_attrs["params"].items():
            assert in_space(value, mfkit.ALS._search_space[name])
    assert fixed.best_model.factors == 6 and fixed.best_model.iterations == 3


def test_refit_fits_the_best_parameters_on_train_and_valid(data):
    train, valid = data
    result = tune("ALS", train, valid, n_trials=2, search_space=ALS_SPACE, random_state=0,
                  refit=True)
    expected = result.new_model().fit(train + valid, show_progress=False)
    np.testing.assert_array_equal(result.best_model.item_factors, expected.item_factors)


def test_valid_users_scores_a_fixed_sample_of_the_validation_users(data):
    train, valid = data
    result = tune("als", train, valid, n_trials=3, search_space=ALS_SPACE, random_state=0,
                  valid_users=25)
    users = result.scored_users
    assert len(users) == 25 and np.all(np.diff(valid.indptr)[users] > 0)
    sample = valid.copy()
    sample.data[~np.isin(np.repeat(np.arange(valid.shape[0]), np.diff(valid.indptr)), users)] = 0
    sample.eliminate_zeros()
    metrics = ranking_metrics(result.best_model, train, sample, K=20)
    assert metrics["users"] == 25 and metrics["ndcg"] == pytest.approx(result.best_value,
                                                                        rel=1e-12)
    assert len(tune("als", train, valid, n_trials=1, search_space=ALS_SPACE,
                    valid_users=10**6).scored_users) == np.count_nonzero(np.diff(valid.indptr))


@pytest.mark.parametrize("name", mfkit._registry.model_names())
def test_every_registered_model_tunes_with_its_default_space(data, name):
    train, valid = (part.sign() for part in data)  # ones: ExplicitMF's SGD steps suit ratings
    cls = mfkit._registry.model_class(name)
    space = mfkit.tuning.check_search_space(cls)
    assert space and set(space) <= set(cls._param_names())
    result = tune(name.lower(), train, valid, n_trials=1, random_state=0)
    assert type(result.best_model) is cls and result.counts()["complete"] == 1
    for param, value in result.best_params.items():
        assert in_space(value, cls._search_space[param])


def test_numerical_errors_fail_the_trial_and_the_search_goes_on(data):
    train, valid = data

    def space(trial):  # the second trial diverges
        return {"learning_rate": 0.05 if trial.number != 1 else 1e30, "iterations": 5}

    result = tune(mfkit.BPR(factors=4, regularization=0.0, num_threads=1), train, valid,
                  n_trials=3, search_space=space, random_state=0)
    assert [t.state.name for t in result.study.trials] == ["COMPLETE", "FAIL", "COMPLETE"]


def test_select_returns_the_best_of_its_table(data):
    train, valid = data
    with pytest.warns(UserWarning, match="skipping 'nosuchmodel'"):
        result = select(train, valid, models=("als", "bpr", "nosuchmodel"), metric="ndcg@10",
                        budget_seconds=60, n_trials=3, random_state=0,
                        search_spaces={"als": ALS_SPACE, "bpr": BPR_SPACE},
                        evaluate_every=2)
    assert [row["model"] for row in result.table] == sorted(
        ("als", "bpr"), key=lambda name: -result.results[name].best_value)
    values = [row["value"] for row in result.table]
    assert values == sorted(values, reverse=True)
    assert result.best_name == result.table[0]["model"]
    assert result.best_value == values[0]
    assert type(result.best_model).__name__.lower() == result.best_name
    assert ranking_metrics(result.best_model, train, valid, K=10)["ndcg"] == pytest.approx(
        result.best_value, rel=1e-12)
    for row in result.table:
        assert row["complete"] + row["pruned"] + row["failed"] == 3
    pd = pytest.importorskip("pandas")
    assert isinstance(result.to_frame(), pd.DataFrame) and len(result.to_frame()) == 2


def test_a_time_budget_stops_the_search(data):
    train, valid = data
    result = tune("bpr", train, valid, n_trials=None, timeout=1.0,
                  search_space={"iterations": ("int", 5, 10)}, random_state=0)
    assert result.counts()["complete"] >= 1
    assert result.seconds < 10


@pytest.mark.parametrize("metric", ["foo@10", "ndcg", "ndcg@0", "auc@10", 20, "ndcg@x"])
def test_unknown_metrics_are_refused(data, metric):
    with pytest.raises(ValueError, match="metric must be NAME@K"):
        tune("als", *data, metric=metric, n_trials=1)


def test_metric_names_parse():
    assert parse_metric("nDCG@20") == ("ndcg", 20)
    assert parse_metric("hit_rate @ 5") == ("hit_rate", 5)


@pytest.mark.parametrize("space, message", [
    ({"factors": ("log", 0, 10)}, "log scale needs low > 0"),
    ({"factors": ("int", 1.5, 3)}, "must be finite integers"),
    ({"factors": ("int", 8, 4)}, "low must be <= high"),
    ({"factors": ("normal", 1, 3)}, "kind one of"),
    ({"factors": ("categorical", [])}, "at least one choice"),
    ({"no_such": ("int", 1, 3)}, "ALS has no parameter 'no_such'"),
    ({}, "search_space is empty"),
])
def test_bad_search_spaces_are_refused(data, space, message):
    with pytest.raises(ValueError, match=message):
        tune("als", *data, search_space=space, n_trials=1)


def test_bad_arguments_are_refused(data):
    train, valid = data
    with pytest.raises(ValueError, match="unknown model 'nope'; registered models: .*als"):
        tune("nope", train, valid, n_trials=1)
    with pytest.raises(TypeError, match="model must be a model name"):
        tune(42, train, valid, n_trials=1)
    with pytest.raises(ValueError, match="same shape"):
        tune("als", train, valid[:, :50], n_trials=1)
    with pytest.raises(ValueError, match="needs a stopping rule"):
        tune("als", train, valid, n_trials=None)
    with pytest.raises(ValueError, match="n_trials"):
        tune("als", train, valid, n_trials=0)
    with pytest.raises(ValueError, match="timeout"):
        tune("als", train, valid, timeout=-1)
    with pytest.raises(ValueError, match="every parameter of ALS's default search space"):
        tune(mfkit.ALS(factors=5, regularization=1.0, alpha=1.0, iterations=2), train, valid)
    with pytest.raises(ValueError, match="no registered model"):
        with pytest.warns(UserWarning):
            select(train, valid, models=("nope",))
    with pytest.raises(TypeError, match="sequence of model names"):
        select(train, valid, models="als")
    with pytest.raises(ValueError, match="budget_seconds"):
        select(train, valid, budget_seconds=0)
    with pytest.raises(ValueError, match="not candidates"):
        select(train, valid, models=("als",), search_spaces={"bpr": BPR_SPACE})


def test_without_optuna_the_error_says_what_to_install(data, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r'pip install "mfkit\[tune\]"'):
        tune("als", *data, n_trials=1)


def test_validation_splits_partition_the_data():
    matrix = mfkit.datasets.synthetic(200, 100, 0.05, seed=2)
    train, valid, test = train_valid_test_split(matrix, valid_size=0.1, test_size=0.2,
                                                random_state=0)
    assert (train + valid + test != matrix).nnz == 0
    assert test.nnz == int(np.floor(0.2 * matrix.nnz + 0.5))
    assert abs(valid.nnz - 0.1 * matrix.nnz) <= 1
    assert train.multiply(valid).nnz == valid.multiply(test).nnz == train.multiply(test).nnz == 0
    again = train_valid_test_split(matrix, valid_size=0.1, test_size=0.2, random_state=0)
    for part, same in zip((train, valid, test), again):
        assert (part != same).nnz == 0
    with pytest.raises(ValueError, match="valid_size \\+ test_size must be < 1"):
        train_valid_test_split(matrix, valid_size=0.5, test_size=0.5)

    fit_part, held = validation_split(train, K=1, random_state=0)
    assert (fit_part + held != train).nnz == 0
    counts = np.diff(train.indptr)
    assert np.array_equal(np.diff(held.indptr), (counts > 1).astype(int))
    fit_part, held = validation_split(train, valid_size=0.25, random_state=0)
    assert held.nnz == int(np.floor(0.25 * train.nnz + 0.5))


def test_factors_are_capped_by_the_data(data):
    """SVD's default range reaches 1024 factors; on data with fewer items every trial stays at
    most min(users, items) (more cannot be fitted)."""
    train, valid = data
    small = min(train.shape)
    result = tune("svd", train, valid, n_trials=3, random_state=0)
    assert all(t.params["factors"] <= small for t in result.study.trials)
    assert result.best_model.user_factors.shape[1] <= small
