"""Hyperparameter tuning on Optuna and model selection (optional: ``pip install "mfkit[tune]"``).

:func:`tune` searches one model's hyperparameters for the best ranking metric on a validation
set; :func:`select` tunes several models within one time budget and keeps the best. Both
maximize a metric of :mod:`mfkit.evaluation` ("ndcg@20", "recall@20", "precision@10",
"map@10", "hit_rate@K", "mrr@K": full ranking over all items, the training items excluded).

Never tune on the test set: split a validation set off the training data first, e.g.
``fit_part, valid = mfkit.evaluation.validation_split(train, K=1)`` (or
``train_valid_test_split`` for a three-way random split), tune on ``(fit_part, valid)``, refit
the best parameters on ``train`` and report on ``test`` once.

Search spaces are plain data: ``{parameter: spec}`` with spec one of ``("log", low, high)``
(log-uniform float), ``("float", low, high)``, ``("int", low, high)``, ``("int_log", low,
high)`` or ``("categorical", [choices])``. Every model class has a default in its
``_search_space`` attribute; a ``search_space`` argument (the same format, or an Optuna-style
``callable(trial) -> {parameter: value}``) replaces it.

Pruning: every trial's fit reports the validation metric to Optuna after iterations 2, 4, 8,
16, ... (or every ``evaluate_every``) and stops as soon as the pruner (default: Optuna's
``MedianPruner``) says the trial cannot catch up. The metric is measured on the fit's current
factors: each trial fits with a callback (:mod:`mfkit.callbacks`' protocol) that scores the
model as fitted so far with ``mfkit.evaluation`` and raises ``optuna.TrialPruned`` to stop it.
"""
from __future__ import annotations

import inspect
import math
import time
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from . import _registry
from ._base import Recommender
from ._interactions import Interactions, unwrap_interactions
from ._validation import check_int, check_random_state, check_user_items
from ._warnings import warn_caller
from .evaluation import parse_metric, ranking_metrics
from .exceptions import NumericalError

__all__ = ["SelectionResult", "TuningResult", "check_search_space", "select",
           "starting_point", "suggest", "tune"]

SPEC_KINDS = ("log", "float", "int", "int_log", "categorical")
_INSTALL = 'mfkit.tuning needs Optuna: pip install "mfkit[tune]" (or pip install optuna)'


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError(_INSTALL) from None
    return optuna


# ---------------------------------------------------------------------- arguments
def _model_class(name: str):
    """The registered model class called ``name`` (any case), or None."""
    found = [n for n in _registry.model_names() if n.lower() == name.lower()]
    return _registry.model_class(found[0]) if found else None


def _resolve_model(model) -> tuple:
    """``(class, base parameters, fixed parameters)`` of a model name, class or instance: an
    instance's parameters are the base of every trial, and those set to other than their
    defaults are fixed (left out of the default search space); a name or class fixes none."""
    if isinstance(model, str):
        cls = _model_class(model)
        if cls is None:
            raise ValueError(f"unknown model {model!r}; registered models: "
                             f"{', '.join(n.lower() for n in _registry.model_names())}")
        return cls, {}, {}
    if isinstance(model, type) and issubclass(model, Recommender):
        return model, {}, {}
    if isinstance(model, Recommender):
        defaults = inspect.signature(type(model).__init__).parameters
        params = model.get_params()
        fixed = {k: v for k, v in params.items()
                 if defaults[k].default is inspect.Parameter.empty
                 or repr(v) != repr(defaults[k].default)}
        return type(model), params, fixed
    raise TypeError(f"model must be a model name (e.g. 'als'), an mfkit model class or an "
                    f"instance, got {type(model).__name__}")


def _check_spec(cls, name, spec) -> tuple:
    where = f"search_space[{name!r}]"
    if name not in cls._param_names():
        raise ValueError(f"{where}: {cls.__name__} has no parameter {name!r}; its parameters: "
                         f"{', '.join(cls._param_names())}")
    if not isinstance(spec, (tuple, list)) or not spec or spec[0] not in SPEC_KINDS:
        raise ValueError(f"{where} must be (kind, low, high) or ('categorical', [choices]) "
                         f"with kind one of {', '.join(SPEC_KINDS)}, got {spec!r}")
    kind = spec[0]
    if kind == "categorical":
        if len(spec) != 2 or not isinstance(spec[1], (tuple, list)) or not spec[1]:
            raise ValueError(f"{where} must be ('categorical', [choices]) with at least one "
                             f"choice, got {spec!r}")
        return kind, list(spec[1])
    if len(spec) != 3:
        raise ValueError(f"{where} must be ({kind!r}, low, high), got {spec!r}")
    low, high = spec[1], spec[2]
    integral = kind in ("int", "int_log")
    for bound in (low, high):
        ok = isinstance(bound, (int, np.integer)) if integral else \
            isinstance(bound, (int, float, np.integer, np.floating))
        if isinstance(bound, (bool, np.bool_)) or not ok or not math.isfinite(bound):
            raise ValueError(f"{where}: bounds of {kind!r} must be finite "
                             f"{'integers' if integral else 'numbers'}, got {spec!r}")
    if low > high:
        raise ValueError(f"{where}: low must be <= high, got {spec!r}")
    if kind in ("log", "int_log") and low <= 0:
        raise ValueError(f"{where}: a log scale needs low > 0, got {spec!r}")
    return kind, low, high


def check_search_space(cls, search_space=None, fixed=()):
    """``search_space`` (None: ``cls._search_space`` less the ``fixed`` parameters) checked
    against the parameters of model class ``cls``: ``{parameter: spec}`` with bounds as
    numbers, or the user's callable unchanged. ``ValueError`` naming the entry at fault."""
    if callable(search_space):
        return search_space
    if search_space is None:
        default = getattr(cls, "_search_space", None)
        if not default:
            raise ValueError(f"{cls.__name__} has no default search space (_search_space); "
                             f"pass search_space={{parameter: spec}}")
        space = {k: v for k, v in default.items() if k not in fixed}
        if not space:
            raise ValueError(f"every parameter of {cls.__name__}'s default search space is fixed "
                             f"by the model instance ({', '.join(default)}); pass search_space")
    elif isinstance(search_space, dict):
        if not search_space:
            raise ValueError("search_space is empty: give at least one parameter to tune")
        space = search_space
    else:
        raise TypeError(f"search_space must be a dict {{parameter: spec}}, a callable(trial) or "
                        f"None, got {type(search_space).__name__}")
    return {name: _check_spec(cls, name, spec) for name, spec in space.items()}


def _within_data(space, shape: tuple):
    """``space`` with a ``factors`` range capped at ``min(shape)``: more latent factors than
    users or items cannot be fitted by a spectral model and add nothing to the others (a
    default range of up to 1024 must still tune a small data set)."""
    if callable(space) or space.get("factors", ("",))[0] not in ("int", "int_log"):
        return space
    kind, low, high = space["factors"]
    limit = int(min(shape))
    if high <= limit:
        return space
    return dict(space, factors=(kind, min(low, limit), limit))


def starting_point(cls, space, base: dict) -> dict:
    """The values of the searched parameters a model would use untuned (``base``, else the
    class defaults) that lie in ``space``: what the first trial tries."""
    if callable(space):
        return {}
    defaults = inspect.signature(cls.__init__).parameters
    point = {}
    for name, (kind, *bounds) in space.items():
        value = base.get(name, defaults[name].default)
        if kind == "categorical":
            inside = any(value is choice or value == choice for choice in bounds[0])
        else:
            inside = isinstance(value, (int, float, np.integer, np.floating)) and \
                not isinstance(value, (bool, np.bool_)) and bounds[0] <= value <= bounds[1] \
                and (kind in ("log", "float") or float(value).is_integer())
        if inside:
            point[name] = int(value) if kind in ("int", "int_log") else value
    return point


def suggest(trial, space) -> dict:
    """One Optuna trial's parameter values drawn from a checked ``space`` (e.g. to tune
    another library on the same space; see :func:`check_search_space`)."""
    if callable(space):
        values = space(trial)
        if not isinstance(values, dict):
            raise TypeError(f"the search_space callable must return a dict of parameters, got "
                            f"{type(values).__name__}")
        return values
    values = {}
    for name, (kind, *bounds) in space.items():
        if kind == "categorical":
            values[name] = trial.suggest_categorical(name, bounds[0])
        elif kind in ("int", "int_log"):
            values[name] = trial.suggest_int(name, int(bounds[0]), int(bounds[1]),
                                             log=kind == "int_log")
        else:
            values[name] = trial.suggest_float(name, float(bounds[0]), float(bounds[1]),
                                               log=kind == "log")
    return values


def _matrices(train, valid) -> tuple:
    """``train`` and ``valid`` as canonical CSR of one shape (raw ids of ``train`` kept)."""
    train_matrix, raw_ids = unwrap_interactions(train)
    # float64 keeps the user's values exactly; each model converts to its own dtype.
    train_matrix = check_user_items(train_matrix, np.dtype(np.float64), name="train")
    valid_matrix = check_user_items(unwrap_interactions(valid)[0], np.dtype(np.float64),
                                    name="valid")
    if train_matrix.shape != valid_matrix.shape:
        raise ValueError(f"train and valid must have the same shape (users x items), got "
                         f"{train_matrix.shape} and {valid_matrix.shape}; split valid off the "
                         f"training data with mfkit.evaluation.validation_split")
    return train_matrix, valid_matrix, raw_ids


def _seed(random_state):
    """An int seed for Optuna's sampler and the trials' models (None stays None)."""
    if random_state is None:
        return None
    return int(check_random_state(random_state).integers(2**31 - 1))


# ---------------------------------------------------------------------- results
@dataclass
class TuningResult:
    """What :func:`tune` found.

    Attributes
    ----------
    best_params : dict
        The tuned parameters of the best trial (the search space's names).
    best_value : float
        Its validation metric (``metric``, on the ``valid`` given to :func:`tune`).
    best_model : Recommender
        The best trial's fitted model (fitted on ``train``; on ``train + valid`` with
        ``refit=True``). Its full parameters: ``best_model.get_params()``.
    study : optuna.Study
        Every trial, its values and its state (COMPLETE, PRUNED, FAIL).
    metric : str
    seconds : float
        Wall time of the search.
    scored_users : ndarray of int
        The users whose validation items were scored (all of them unless ``valid_users``).
    """

    best_params: dict
    best_value: float
    best_model: Recommender
    study: object
    metric: str
    seconds: float
    scored_users: np.ndarray

    def new_model(self) -> Recommender:
        """An unfitted model with the best parameters (e.g. to refit on more data)."""
        return type(self.best_model)(**self.best_model.get_params())

    def counts(self) -> dict:
        """Number of trials by state: ``{"complete": n, "pruned": n, "fail": n}``."""
        states = [trial.state.name.lower() for trial in self.study.trials]
        return {state: states.count(state) for state in ("complete", "pruned", "fail")}


@dataclass
class SelectionResult:
    """What :func:`select` found: the best model and one row per candidate."""

    best_name: str
    best_model: Recommender
    best_value: float
    metric: str
    table: list = field(default_factory=list)  # one dict per candidate, best first
    results: dict = field(default_factory=dict)  # {name: TuningResult}

    def to_frame(self):
        """The comparison table as a pandas DataFrame (needs pandas)."""
        import pandas as pd
        return pd.DataFrame(self.table)


# ---------------------------------------------------------------------- the search
class _Trial:
    """One trial: fit a model, reporting the validation metric at checkpoints for pruning (a fit
    callback: it sees the model as fitted so far after every iteration)."""

    def __init__(self, search, trial):
        self.search, self.trial, self.total = search, trial, None

    def on_iteration(self, progress) -> bool:
        search, done = self.search, progress.iteration + 1
        if done >= self.total:
            return False  # the finished model is scored after the fit
        if search.out_of_time():
            self.trial.set_user_attr("stopped", "time budget")
            raise search.optuna.TrialPruned(f"time budget spent after iteration {done}")
        if search.checkpoint(done):
            self.trial.report(search.score(progress.model), done)
            if self.trial.should_prune():
                raise search.optuna.TrialPruned(f"pruned after iteration {done}")
        return False

    def run(self, model) -> float:
        self.total = model._validate_params()[model._iterations_parameter]
        model.fit(self.search.train, callback=self, show_progress=False)
        value = self.search.score(model)
        self.trial.report(value, self.total)
        return value


class _Search:
    """The state of one :func:`tune` call shared by its trials."""

    def __init__(self, optuna, cls, base, space, train, valid, metric, evaluate_every,
                 model_seed, deadline):
        self.optuna, self.cls, self.base, self.space = optuna, cls, base, space
        self.train, self.valid = train, valid
        self.metric_name, self.K = parse_metric(metric)
        self.evaluate_every, self.model_seed, self.deadline = evaluate_every, model_seed, deadline
        self.best = (-math.inf, None, None)  # (value, fitted model, trial number)

    def checkpoint(self, done: int) -> bool:
        if self.evaluate_every is None:
            return done >= 2 and done & (done - 1) == 0  # 2, 4, 8, 16, ...
        return done % self.evaluate_every == 0

    def out_of_time(self) -> bool:
        # The first completed trial is never cut: a search always returns a model.
        return self.deadline is not None and self.best[1] is not None and \
            time.perf_counter() > self.deadline

    def score(self, model) -> float:
        return ranking_metrics(model, self.train, self.valid, K=self.K)[self.metric_name]

    def objective(self, trial) -> float:
        params = dict(self.base)
        if self.model_seed is not None and params.get("random_state") is None:
            params["random_state"] = self.model_seed
        sampled = suggest(trial, self.space)
        trial.set_user_attr("params", sampled)  # also what a search_space callable chose
        params.update(sampled)
        unknown = set(params) - set(self.cls._param_names())
        if unknown:
            raise ValueError(f"search_space gave parameters {self.cls.__name__} does not have: "
                             f"{', '.join(sorted(unknown))}")
        model = self.cls(**params)
        value = _Trial(self, trial).run(model)
        if value > self.best[0]:
            self.best = (value, model, trial.number)
        return value


def tune(model, train, valid, metric: str = "ndcg@20", n_trials: int | None = 50,
         timeout: float | None = None, search_space=None, random_state=None, pruner=None,
         sampler=None, evaluate_every: int | None = None, valid_users: int | None = None,
         start_from_defaults: bool = True, refit: bool = False) -> TuningResult:
    """Search ``model``'s hyperparameters for the best ``metric`` on ``valid``, with Optuna.

    Parameters
    ----------
    model : str, model class or model instance
        A registered model name (``"als"``, ``"bpr"``, ``"explicitmf"``, ``"nmf"``, ... any
        case), its class, or an instance whose parameters set to other than their defaults stay
        fixed (left out of the default search space; every trial starts from its parameters).
    train, valid : sparse matrix or Interactions, users x items
        Trials fit on ``train`` and are scored on ``valid`` (its stored entries are the
        relevant items; training items are never ranked). Keep the test set out: see
        :func:`mfkit.evaluation.validation_split`.
    metric : str, default "ndcg@20"
        ``NAME@K`` with NAME one of ndcg, recall, precision, map, hit_rate, mrr (maximized).
    n_trials : int or None, default 50
        Number of trials (None: until ``timeout``).
    timeout : float or None
        Seconds for the whole search. Once a trial has completed, a trial still running at the
        deadline is stopped (PRUNED, user attribute ``stopped="time budget"``).
    search_space : dict, callable or None
        ``{parameter: spec}`` (module docstring) or ``callable(trial) -> {parameter: value}``;
        None uses the model class's ``_search_space``.
    random_state : None, int or numpy.random.Generator
        Seeds the TPE sampler and every trial's model (unless the instance has its own
        ``random_state``): the same value gives the same trials, as far as the fits are
        deterministic (BPR only with ``num_threads=1``) and ``timeout`` does not cut them.
    pruner : optuna pruner, optional
        Default ``MedianPruner(n_startup_trials=5, n_warmup_steps=4)``; pass
        ``optuna.pruners.NopPruner()`` to never prune.
    sampler : optuna sampler, optional
        Default ``TPESampler(seed=...)`` seeded from ``random_state``.
    evaluate_every : int or None
        Report the validation metric every this many iterations; None: after iterations 2, 4,
        8, 16, ... (few evaluations, at the same steps in every trial).
    valid_users : int or None
        Score on at most this many of the users with validation items, drawn once from
        ``random_state`` (every trial sees the same users): on large catalogues a full-ranking
        evaluation can cost more than a fit. None: all of them.
    start_from_defaults : bool, default True
        The first trial tries the values the model would use untuned (the instance's, else
        the class defaults) for those searched parameters whose value lies in the space, so
        that a short search starts from a known-good point.
    refit : bool, default False
        Refit the best parameters on ``train + valid`` for ``best_model`` (else the best
        trial's model, fitted on ``train``, is kept).

    Returns
    -------
    TuningResult
        ``best_params``, ``best_value``, ``best_model``, ``study``.

    Raises
    ------
    ImportError
        Optuna is not installed (``pip install "mfkit[tune]"``).
    ValueError
        Unknown metric or model, a bad search space, mismatched shapes, no stopping rule, or
        no trial completed. Trials whose fit raises :class:`mfkit.NumericalError` are recorded
        as FAIL and the search goes on.
    """
    optuna = _optuna()
    metric_name, K = parse_metric(metric)
    cls, base, fixed = _resolve_model(model)
    space = check_search_space(cls, search_space, fixed)
    if n_trials is not None:
        n_trials = check_int(n_trials, "n_trials", 1)
    if timeout is not None:
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or \
                not timeout > 0 or not math.isfinite(timeout):
            raise ValueError(f"timeout must be a positive number of seconds or None, got "
                             f"{timeout!r}")
    if n_trials is None and timeout is None:
        raise ValueError("give n_trials or timeout (or both): the search needs a stopping rule")
    if evaluate_every is not None:
        evaluate_every = check_int(evaluate_every, "evaluate_every", 1)
    if not isinstance(refit, (bool, np.bool_)):
        raise TypeError(f"refit must be a bool, got {type(refit).__name__}")
    train_matrix, valid_matrix, raw_ids = _matrices(train, valid)
    space = _within_data(space, train_matrix.shape)
    rng = check_random_state(random_state)
    seed = _seed(rng) if random_state is not None else None
    if valid_users is not None:
        valid_matrix = _some_users(valid_matrix, check_int(valid_users, "valid_users", 1), rng)
    start = time.perf_counter()
    search = _Search(optuna, cls, base, space, train_matrix, valid_matrix,
                     f"{metric_name}@{K}", evaluate_every, seed,
                     None if timeout is None else start + timeout)
    study = optuna.create_study(
        direction="maximize",
        sampler=sampler if sampler is not None else optuna.samplers.TPESampler(seed=seed),
        pruner=pruner if pruner is not None else
        optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=4))
    if not isinstance(start_from_defaults, (bool, np.bool_)):
        raise TypeError(f"start_from_defaults must be a bool, got "
                        f"{type(start_from_defaults).__name__}")
    point = starting_point(cls, space, base) if start_from_defaults else {}
    if point:
        study.enqueue_trial(point)
    study.optimize(search.objective, n_trials=n_trials, timeout=timeout,
                   catch=(NumericalError,))
    best_value, best_model, number = search.best
    if best_model is None:
        raise ValueError(f"no trial of {cls.__name__} completed ({len(study.trials)} trials: "
                         f"see result.study); widen the time budget or change the search space")
    if refit:
        best_model = type(best_model)(**best_model.get_params())
        best_model.fit(_union(train_matrix, valid_matrix, raw_ids), show_progress=False)
    elif raw_ids[0] is not None:
        best_model.user_ids, best_model.item_ids = raw_ids
    return TuningResult(best_params=dict(study.trials[number].user_attrs["params"]),
                        best_value=float(best_value), best_model=best_model, study=study,
                        metric=f"{metric_name}@{K}", seconds=time.perf_counter() - start,
                        scored_users=np.flatnonzero(np.diff(valid_matrix.indptr)))


def _some_users(valid: sp.csr_matrix, count: int, rng) -> sp.csr_matrix:
    """``valid`` with the rows of at most ``count`` of its non-empty users (the others
    emptied), chosen uniformly at random."""
    users = np.flatnonzero(np.diff(valid.indptr))
    if len(users) <= count:
        return valid
    keep = np.zeros(valid.shape[0], dtype=bool)
    keep[rng.choice(users, size=count, replace=False)] = True
    some = valid.copy()
    some.data[~keep[np.repeat(np.arange(valid.shape[0]), np.diff(valid.indptr))]] = 0
    some.eliminate_zeros()
    return some


def _union(train: sp.csr_matrix, valid: sp.csr_matrix, raw_ids):
    """``train + valid`` (an Interactions with the raw ids when ``train`` had them)."""
    matrix = (train + valid).tocsr()
    if raw_ids[0] is None:
        return matrix
    return Interactions(matrix=matrix, user_ids=raw_ids[0], item_ids=raw_ids[1], timestamps=None)


# ---------------------------------------------------------------------- model selection
def select(train, valid, models=("als", "bpr", "svd"), metric: str = "ndcg@20",
           budget_seconds: float = 300.0, n_trials: int | None = None, search_spaces=None,
           random_state=None, refit: bool = False, **tune_options) -> SelectionResult:
    """Tune each candidate model within a shared time budget and keep the best.

    The candidates run one after the other; each gets an equal share of the time still left
    (a candidate that finishes its ``n_trials`` early leaves its time to the next ones), and a
    trial running past its share is stopped once one trial of that model has completed.

    Parameters
    ----------
    train, valid : sparse matrix or Interactions
        As in :func:`tune`.
    models : sequence of str, model classes or instances
        Candidates. Names that are not registered models are skipped with a warning (so the
        default works with or without ``mfkit.SVD``); a ``ValueError`` if none is left.
    metric : str, default "ndcg@20"
    budget_seconds : float, default 300
        Wall time of the whole selection.
    n_trials : int or None
        At most this many trials per candidate (None: as many as the time allows).
    search_spaces : dict, optional
        ``{name: search_space}`` for some candidates (keyed like ``models``); the others use
        their default space.
    random_state : None, int or numpy.random.Generator
        Seeds every candidate's search.
    refit : bool, default False
        Refit the winner on ``train + valid``.
    **tune_options
        Passed on to :func:`tune` (``pruner``, ``evaluate_every``, ...).

    Returns
    -------
    SelectionResult
        ``best_name``, ``best_model``, ``best_value``, ``table`` (list of dicts, best first:
        model, value, params, trials complete / pruned / failed, seconds; ``to_frame()`` for
        pandas) and ``results`` ({name: TuningResult}).
    """
    parse_metric(metric)
    if isinstance(budget_seconds, bool) or not isinstance(budget_seconds, (int, float)) or \
            not budget_seconds > 0 or not math.isfinite(budget_seconds):
        raise ValueError(f"budget_seconds must be a positive number, got {budget_seconds!r}")
    if isinstance(models, (str, type, Recommender)) or not hasattr(models, "__iter__"):
        raise TypeError("models must be a sequence of model names, classes or instances, e.g. "
                        "('als', 'bpr')")
    search_spaces = {} if search_spaces is None else search_spaces
    if not isinstance(search_spaces, dict):
        raise TypeError(f"search_spaces must be a dict {{name: search_space}}, got "
                        f"{type(search_spaces).__name__}")
    candidates = []
    for candidate in models:
        if isinstance(candidate, str) and _model_class(candidate) is None:
            warn_caller(f"select: skipping {candidate!r}, not a registered model (registered: "
                        f"{', '.join(n.lower() for n in _registry.model_names())})")
            continue
        name = candidate if isinstance(candidate, str) else \
            _resolve_model(candidate)[0].__name__.lower()
        candidates.append((name, candidate))
    if not candidates:
        raise ValueError(f"select: no registered model among models={tuple(models)!r}")
    unknown = set(search_spaces) - {name for name, _ in candidates}
    if unknown:
        raise ValueError(f"search_spaces names models that are not candidates: "
                         f"{', '.join(sorted(map(str, unknown)))}")
    rng = check_random_state(random_state)
    seeds = [_seed(rng) if random_state is not None else None for _ in candidates]
    deadline = time.perf_counter() + budget_seconds
    results, table = {}, []
    for index, (name, candidate) in enumerate(candidates):
        share = (deadline - time.perf_counter()) / (len(candidates) - index)
        result = tune(candidate, train, valid, metric=metric, n_trials=n_trials,
                      timeout=max(share, 1e-3), search_space=search_spaces.get(name),
                      random_state=seeds[index], **tune_options)
        results[name] = result
        counts = result.counts()
        table.append({"model": name, "value": result.best_value, "params": result.best_params,
                      "complete": counts["complete"], "pruned": counts["pruned"],
                      "failed": counts["fail"], "seconds": round(result.seconds, 3)})
    table.sort(key=lambda row: -row["value"])
    best = table[0]["model"]
    best_model = results[best].best_model
    if refit:
        train_matrix, valid_matrix, raw_ids = _matrices(train, valid)
        best_model = results[best].new_model()
        best_model.fit(_union(train_matrix, valid_matrix, raw_ids), show_progress=False)
    return SelectionResult(best_name=best, best_model=best_model,
                           best_value=results[best].best_value, metric=metric, table=table,
                           results=results)
