"""Common base of every mfkit model: scikit-learn style parameters, the fit template and the
serving API.

A model declares its constructor arguments in ``_parameter_constraints`` and fills in the hooks of
the fit template (:meth:`Recommender._prepare`, :meth:`~Recommender._iterate`,
:meth:`~Recommender._after_iteration`, :meth:`~Recommender._finish`); the template validates the
arguments once, resolves ``random_state``, unwraps an ``Interactions`` (keeping its raw ids), runs
the progress bar / timing / callback loop, and sets the fitted state. For serving, a model provides
``user_factors`` / ``item_factors`` and two hooks, ``_fold_in_users(user_items)`` and
``_fold_in_items(item_users)``, that solve factors for given interaction rows with the other side
fixed. Everything else here (recommend, similar items and users, partial fits, save) is built on
those. ``docs/architecture.md`` shows how to add a model.
"""
from __future__ import annotations

import copy
import functools
import inspect
import time
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from . import _cpp, _ranking, _registry, ann, reference
from ._fit_events import check_callback, notify
from ._interactions import (
    as_raw_ids,
    history_row,
    plain_id,
    raw_positions,
    unwrap_interactions,
)
from ._params import validate_params
from ._persistence import save_model
from ._progress import progress_bar
from ._threads import resolve_num_threads
from ._typing import Callback, Data, History, Ids, PathLike, Ranked, RawId, Rows
from ._validation import (
    all_finite,
    check_bool,
    check_ids,
    check_int,
    check_random_state,
    check_user_items,
)
from .exceptions import NotFittedError, NumericalError


def get_backend(name: str):
    """The module implementing the kernels for ``backend=name``."""
    return _cpp if name == "cpp" else reference


def _normalized(factors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; all-zero rows stay zero (cosine 0 with everything)."""
    norms = np.linalg.norm(factors, axis=1, keepdims=True)
    return factors / np.where(norms > 0, norms, 1).astype(factors.dtype)


class Step(NamedTuple):
    """What :meth:`Recommender._after_iteration` reports about one iteration."""

    value: object = None  # the callback's third argument (a loss, a stopping measure, a dict)
    postfix: dict | None = None  # shown next to the progress bar
    stop: bool = False  # early stopping: no further iteration


class Recommender:
    """Base class. ``__init__`` of a subclass only stores its arguments; ``fit`` validates them
    against ``_parameter_constraints``."""

    # Fitted arrays written by save() and restored by mfkit.load().
    _fitted_arrays = ("user_factors", "item_factors")
    # Fitted scalars (plain attributes), written into the saved file's JSON metadata.
    _fitted_scalars: tuple = ()
    # Format-1 files stored fitted scalars as 0-d arrays: {array name: attribute}.
    _format1_scalars: dict = {}
    # {constructor argument: constraint} (see mfkit._params); every argument has an entry.
    _parameter_constraints: dict = {}
    # The argument that bounds the number of fit iterations.
    _iterations_parameter = "iterations"
    _constructor_args: tuple = ()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        signature = inspect.signature(cls.__init__)
        cls._constructor_args = tuple(sorted(p for p in signature.parameters if p != "self"))
        if cls.__module__.startswith("mfkit."):  # only mfkit's own models are saved and loaded
            _registry.register(cls)

    def __setattr__(self, name, value):
        if name in self._constructor_args:  # validated again before its next use
            self.__dict__.pop("_params", None)
        object.__setattr__(self, name, value)

    # ------------------------------------------------------------------ scikit-learn protocol
    # Enough of scikit-learn's estimator protocol for clone, GridSearchCV, Pipeline and its HTML
    # repr, without depending on scikit-learn (imported only when scikit-learn asks for tags).
    # A recommender has no ``y`` and no ``score``: ``fit(X)`` learns from a whole users × items
    # matrix, so GridSearchCV needs ``scoring=`` (a callable ``scorer(model, X, y=None)``, e.g.
    # ``ndcg_at_k(model, X, test)`` over held-out interactions) and ``cv=[(rows, rows)]`` (the
    # held-out data are interactions, not rows); README, "scikit-learn".
    @classmethod
    def _param_names(cls):
        return cls._constructor_args

    def get_params(self, deep: bool = True) -> dict:
        """Constructor arguments, as scikit-learn expects (so ``sklearn.base.clone`` works)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> Recommender:
        """Set constructor arguments; unknown names raise ``ValueError``. They are validated by
        the next ``fit`` (for a fitted model, by the next call that uses them)."""
        valid = set(self._param_names())
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {name!r}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """scikit-learn style: only the arguments that differ from their defaults (by repr)."""
        defaults = inspect.signature(type(self).__init__).parameters
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items()
                         if repr(v) != repr(defaults[k].default))
        return f"{type(self).__name__}({args})"

    def __sklearn_is_fitted__(self) -> bool:
        return all(getattr(self, name, None) is not None
                   for name in ("user_factors", "item_factors"))

    def __sklearn_tags__(self):
        """scikit-learn's tags (1.6+): no target, sparse input; neither classifier nor
        regressor. Models adjust them (NMF is a transformer of non-negative data)."""
        from sklearn.utils import InputTags, Tags, TargetTags
        return Tags(estimator_type=None, target_tags=TargetTags(required=False),
                    input_tags=InputTags(sparse=True))

    def _check_fitted(self):
        if not self.__sklearn_is_fitted__():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit first")

    # ------------------------------------------------------------------ parameters
    def _validate_params(self) -> dict:
        """The constructor arguments checked against ``_parameter_constraints`` and
        :meth:`_check_params`, as cleaned values."""
        params = validate_params(self._parameter_constraints, self.get_params())
        self._check_params(params)
        return params

    def _check_params(self, params: dict) -> None:
        """Hook: rules between arguments (raise ``ValueError``); may complete ``params``."""

    def _settings(self) -> dict:
        """The validated constructor arguments, used by every serving call: those of the last
        ``fit``, validated again only after an argument is assigned (``set_params``)."""
        params = self.__dict__.get("_params")
        if params is None:
            params = self._params = self._validate_params()
        return params

    # ------------------------------------------------------------------ the fit template
    def fit(self, user_items: Data, callback: Callback | None = None,
            show_progress: bool = True) -> Recommender:
        """Fit the model to ``user_items`` (see the model's class docstring); returns ``self``."""
        self._fit(user_items, callback, show_progress)
        return self

    def _fit(self, data, callback, show_progress, **fit_inputs) -> None:
        """Validate, prepare, iterate with progress bar, timing and callback, set fitted state.

        ``callback(iteration, elapsed_seconds, value)`` follows every iteration with the 0-based
        iteration, the seconds :meth:`_iterate` took and :attr:`Step.value`; a callback object's
        ``on_iteration(progress)`` gets them with the model so far, and stops the fit early by
        returning True (:mod:`mfkit._fit_events`).
        """
        params = self._validate_params()
        check_callback(callback)
        show_progress = check_bool(show_progress, "show_progress")
        rng = check_random_state(self.random_state)
        self.__dict__.pop("_cache", None)
        data, raw_ids = unwrap_interactions(data)
        state = self._prepare(data, params, rng, **fit_inputs)
        total = params[self._iterations_parameter]
        bar = progress_bar(total, self._progress_label(params), show_progress)
        done = 0
        try:
            for iteration in range(total):
                start = time.perf_counter()
                self._iterate(state, iteration)
                elapsed = time.perf_counter() - start
                arrays, largest = self._finite_state(state)
                self._check_finite(arrays, f"after iteration {iteration}", params, largest)
                step = self._after_iteration(state, iteration)
                done = iteration + 1
                bar.update(**(step.postfix or {}))
                stop = notify(callback, iteration, elapsed, step.value,
                              functools.partial(self._snapshot, state, done, params, raw_ids))
                if step.stop or stop:
                    bar.stop_early()
                    break
        finally:
            bar.close()
        fitted = self._finish(state, done)
        self.__dict__.pop("_cache", None)
        for name, value in fitted.items():
            setattr(self, name, value)
        self.user_ids, self.item_ids = raw_ids
        self._params = params

    def _snapshot(self, state, done: int, params: dict, raw_ids: tuple) -> Recommender:
        """A fitted copy of the model after ``done`` iterations of the fit ``state`` (for
        callbacks: the copy shares the fit's arrays where ``_finish`` hands them over)."""
        snapshot = copy.copy(self)
        snapshot.__dict__.pop("_cache", None)
        snapshot.__dict__.update({name: list(value) if isinstance(value, list) else value
                                  for name, value in self._finish(state, done).items()})
        snapshot.user_ids, snapshot.item_ids = raw_ids
        snapshot._params = params
        return snapshot

    def _progress_label(self, params: dict) -> str:
        return type(self).__name__

    def _prepare(self, data, params: dict, rng: np.random.Generator, **fit_inputs):
        """Hook: validate ``data`` and build the fit state (initial factors, kernel inputs)."""
        raise NotImplementedError

    def _iterate(self, state, iteration: int) -> None:
        """Hook: one iteration (timed)."""
        raise NotImplementedError

    def _after_iteration(self, state, iteration: int) -> Step:
        """Hook: measure the iteration (not timed): loss, stopping rule, divergence checks."""
        return Step()

    def _finite_state(self, state) -> tuple[dict, float]:
        """Hook: ``({name: array}, largest)``: the arrays of the fit state that must stay finite
        (checked after every iteration, one pass each) and the largest magnitude of the data,
        for :meth:`_remedy`."""
        raise NotImplementedError

    def _remedy(self, params: dict, largest: float) -> str:
        """Hook: what to change when factors stop being finite, given the largest magnitude of
        the data they were solved from (a clause naming the arguments)."""
        return f"raise regularization (now {params['regularization']})"

    def _check_finite(self, arrays: dict, where: str, params: dict, largest: float) -> None:
        """``NumericalError`` naming the non-finite ``arrays``, ``where`` and the remedy."""
        bad = [name for name, array in arrays.items() if not all_finite(array)]
        if bad:
            raise self._not_finite(f"{' and '.join(bad)} are", where, params, largest)

    def _not_finite(self, what: str, where: str, params: dict, largest: float):
        """The one message of every non-finite result: what, where, and the model's remedy."""
        return NumericalError(f"{type(self).__name__}: {what} not finite {where}; "
                              f"{self._remedy(params, largest)}")

    def _finish(self, state, iterations: int) -> dict:
        """Hook: ``{fitted attribute: value}`` once ``iterations`` iterations ran."""
        raise NotImplementedError

    # ------------------------------------------------------------------ hooks and caches
    def _fold_in_users(self, user_items) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} cannot recalculate users")

    def _fold_in_items(self, item_users) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} cannot recalculate items")

    def _folded_in(self, kind: str, rows) -> np.ndarray:
        """:meth:`_fold_in_users` / :meth:`_fold_in_items` of validated ``rows``, checked finite."""
        fold_in = self._fold_in_users if kind == "user" else self._fold_in_items
        solved = fold_in(rows)
        self._check_solved({f"the {kind} factors": solved}, rows, f"{kind}s")
        return solved

    def _check_solved(self, arrays: dict, rows, what: str) -> None:
        """``NumericalError`` if a fold-in gave non-finite ``arrays`` for the interaction
        ``rows`` (a validated CSR matrix) of the ``what`` being solved."""
        largest = float(np.abs(rows.data).max(initial=0.0))
        self._check_finite(arrays, f"for the {what} solved from the given interactions",
                           self._settings(), largest)

    def _ranking_users(self, user_factors: np.ndarray) -> np.ndarray:
        """Query vectors that rank items by ``query · target`` (recommend, evaluation).

        Hook for models whose score has more than a dot product: e.g. with item biases, append
        a column of ones here and the biases in :meth:`_ranking_items`.
        """
        return user_factors

    def _ranking_items(self) -> np.ndarray:
        """Target vectors matching :meth:`_ranking_users`."""
        return self.item_factors

    def _cached(self, name: str, source: np.ndarray, compute):
        """``compute(source)``, recomputed whenever ``source`` is a different array object.

        Fits and partial fits assign new arrays, so caches follow them; editing factors in place
        is not detected (assign a new array instead).
        """
        cache = self.__dict__.setdefault("_cache", {})
        entry = cache.get(name)
        if entry is None or entry[0] is not source:
            entry = cache[name] = (source, compute(source))
        return entry[1]

    def _transposed(self, targets: np.ndarray) -> np.ndarray:
        """``targets.T`` as a C-contiguous array, cached for the last few target arrays (item
        factors, normalized factors for similar_*, ...) until new arrays are assigned."""
        cache = self.__dict__.setdefault("_cache", {}).setdefault("transposed", [])
        for source, value in cache:
            if source is targets:
                return value
        value = np.ascontiguousarray(targets.T)
        cache.insert(0, (targets, value))
        del cache[4:]
        return value

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_cache", None)  # derived data: recomputed on demand
        return state

    def _threads(self) -> int:
        return resolve_num_threads(self._settings()["num_threads"])

    def _backend(self):
        return get_backend(self._settings()["backend"])

    def _check_rows(self, rows, name: str):
        """Hook: interaction rows given to a serving call as canonical CSR in the model dtype."""
        return check_user_items(rows, self.item_factors.dtype, name=name)

    def _interaction_rows(self, rows, count: int, columns: int, name: str, what: str):
        """Validated CSR with one row per requested id (``count``) and ``columns`` columns."""
        matrix = self._check_rows(rows, name)
        if matrix.shape != (count, columns):
            raise ValueError(
                f"{name} must have one row per {what} and {columns} columns: expected shape "
                f"{(count, columns)}, got {matrix.shape} (pass only the rows of the requested "
                f"{what}s, e.g. {name}[ids])"
            )
        return matrix

    # ------------------------------------------------------------------ ranking
    def _rank(self, queries, targets, N, exclude_rows=None, exclude=None, subset=None,
              index=None):
        """Best ``N`` targets for each query row by dot product, best first: see
        :func:`mfkit._ranking.rank` (with the model's backend, threads and transposed targets);
        with an ``index`` (an :class:`mfkit.ann.ItemIndex` of ``targets``), the same answer from
        its candidates (:func:`mfkit.ann.rank_approximately`)."""
        def exact(queries, exclude_rows):
            return _ranking.rank(queries, targets, N, backend=self._backend(),
                                 num_threads=self._threads(), exclude_rows=exclude_rows,
                                 exclude=exclude, subset=subset, transpose=self._transposed)

        if index is None:
            return exact(queries, exclude_rows)
        return ann.rank_approximately(index, queries, targets, N, num_threads=self._threads(),
                                      exact=exact, exclude_rows=exclude_rows, exclude=exclude,
                                      subset=subset)

    # ------------------------------------------------------------------ approximate serving
    def build_index(self, backend: str = "voyager", *,
                    serve: tuple = ("recommend", "similar_items"), **backend_params: Any
                    ) -> Recommender:
        """Build approximate nearest-neighbour indexes of the items for
        ``recommend(..., approximate=True)`` and ``similar_items(..., approximate=True)``.

        Parameters
        ----------
        backend : {"voyager", "faiss"}, default "voyager"
            The library (optional packages: ``pip install mfkit[ann]``).
        serve : tuple of {"recommend", "similar_items"}
            Which calls get an index (each its own: inner products of the ranking vectors for
            ``recommend``, cosine of the item factors for ``similar_items``). Replaces the
            indexes built before.
        **backend_params
            Build and search parameters of the backend (listed in :mod:`mfkit.ann`), e.g.
            ``M=32, ef=200`` for voyager or ``index="IVF1024,Flat", nprobe=32`` for faiss, and
            ``mips``: ``"reduction"`` (default: Euclidean search after the max-inner-product
            reduction) or ``"native"`` (the backend's inner-product metric; with faiss' HNSW
            much better recall when item lengths spread widely, see :mod:`mfkit.ann._index`).
            Search parameters can be changed later on ``model.ann_indexes[use]``
            (:meth:`mfkit.ann.ItemIndex.set_search_params`).

        Returns
        -------
        self

        Notes
        -----
        The indexes are kept in ``model.ann_indexes`` and saved with the model. Once the item
        factors change (refit, ``partial_fit_items``), approximate calls raise
        :class:`mfkit.ann.StaleIndexError` until the index is built again: a rebuild can take
        minutes, so it is never done behind a serving call.
        """
        self._check_fitted()
        uses = (serve,) if isinstance(serve, str) else tuple(serve)
        if not uses or any(use not in ("recommend", "similar_items") for use in uses):
            raise ValueError("serve must name some of 'recommend', 'similar_items', got "
                             f"{serve!r}")
        if "recommend" in uses and "approximate" not in \
                inspect.signature(type(self).recommend).parameters:
            raise TypeError(f"{type(self).__name__}.recommend scores more than a dot product of "
                            "ranking vectors, so it cannot be served approximately; build the "
                            "index with serve=('similar_items',)")
        self.ann_indexes = {
            use: ann.ItemIndex.build(self._index_targets(use), backend,
                                     num_threads=self._threads(), **backend_params)
            for use in dict.fromkeys(uses)}
        return self

    def _index_targets(self, use: str) -> np.ndarray:
        """The vectors an index for ``use`` ranks by inner product."""
        if use == "recommend":
            return self._ranking_items()
        return self._cached("item_unit", self.item_factors, _normalized)

    def _ann_index(self, use: str):
        """The model's index for ``use``, checked against the current targets."""
        index = (getattr(self, "ann_indexes", None) or {}).get(use)
        if index is None:
            raise ValueError(f"{use}(..., approximate=True) needs an index of the items: call "
                             f"model.build_index(backend=...) first (serve must include {use!r})")
        if not index.matches(self._index_targets(use)):
            raise ann.StaleIndexError(
                f"the {use} index was built on other item vectors than the model has now (it "
                "was refit, or partial_fit_items / set_params changed them): call "
                "model.build_index(...) again, or serve with approximate=False")
        return index

    @staticmethod
    def _answer(ids, scores, scalar: bool):
        if not scalar:
            return ids, scores
        found = int(np.count_nonzero(ids[0] >= 0))
        return ids[0, :found], scores[0, :found]

    @staticmethod
    def _check_candidates(filter_items, items, n_targets: int, kind: str = "item"):
        excluded, allowed = f"filter_{kind}s", f"{kind}s"
        if items is not None and filter_items is not None:
            raise ValueError(f"{allowed} and {excluded} cannot be combined: pass only the allowed "
                             f"ones ({allowed}=...) or only the excluded ones ({excluded}=...)")
        if filter_items is not None:
            filter_items, _ = check_ids(filter_items, excluded, n_targets)
        if items is not None:
            items, _ = check_ids(items, allowed, n_targets)
            if len(np.unique(items)) != len(items):
                raise ValueError(f"{allowed} contains duplicate ids")
        return filter_items, items

    def recommend(self, userid: Ids, user_items: Rows | None = None, N: int = 10,
                  filter_already_liked_items: bool = True, filter_items: ArrayLike | None = None,
                  recalculate_user: bool = False, items: ArrayLike | None = None,
                  approximate: bool = False) -> Ranked:
        """Top-``N`` items for one user or a batch of users, best first.

        Parameters
        ----------
        userid : int or array of int
            A scalar gives 1-D results; an array gives 2-D results, row ``i`` answering
            ``userid[i]``.
        user_items : sparse matrix, optional
            One row per requested user (``user_items[userid]`` of the training matrix): the
            items to filter out and, with ``recalculate_user``, the history the user's factor is
            solved from. Needed only for those two options.
        N : int, default 10
            Number of items to return.
        filter_already_liked_items : bool, default True
            Leave out the items stored in the user's row of ``user_items``.
        filter_items : array of int, optional
            Items never to return, for every user.
        recalculate_user : bool, default False
            Solve the user's factor from ``user_items`` (item factors fixed) instead of using the
            stored one: works for new users (any id) and for changed histories.
        items : array of int, optional
            Rank only these items (cannot be combined with ``filter_items``).
        approximate : bool, default False
            Take the candidates from the index of :meth:`build_index` (same filters, shapes and
            exact scores; the ranking may miss some of the true top items).

        Returns
        -------
        ids, scores : ndarray
            Item ids (int32) and scores, best first. With fewer than ``N`` candidates left, 1-D
            results are shorter and 2-D results are padded with id -1 and score -inf.
        """
        self._check_fitted()
        n_users, n_items = len(self.user_factors), len(self.item_factors)
        recalculate_user = check_bool(recalculate_user, "recalculate_user")
        index = self._ann_index("recommend") if check_bool(approximate, "approximate") else None
        filter_liked = check_bool(filter_already_liked_items, "filter_already_liked_items")
        users, scalar = check_ids(userid, "userid", None if recalculate_user else n_users)
        N = check_int(N, "N", 1)
        filter_items, items = self._check_candidates(filter_items, items, n_items)
        rows = None
        if user_items is not None:
            rows = self._interaction_rows(user_items, len(users), n_items, "user_items", "userid")
        elif filter_liked or recalculate_user:
            raise ValueError(
                "user_items is required to filter already liked items or to recalculate users: "
                "pass user_items[userid], or filter_already_liked_items=False")
        queries = self._folded_in("user", rows) if recalculate_user else self.user_factors[users]
        ids, scores = self._rank(self._ranking_users(queries), self._ranking_items(), N,
                                 exclude_rows=rows if filter_liked else None,
                                 exclude=filter_items, subset=items, index=index)
        return self._answer(ids, scores, scalar)

    def _similar(self, query_ids, factors, N, filter_items, items, recalculate, rows, kind,
                 approximate=False):
        self._check_fitted()
        index = self._ann_index(f"similar_{kind}s") if check_bool(approximate, "approximate") \
            else None
        n = len(factors)
        recalculate = check_bool(recalculate, f"recalculate_{kind}")
        ids, scalar = check_ids(query_ids, f"{kind}id", None if recalculate else n)
        N = check_int(N, "N", 1)
        filter_items, items = self._check_candidates(filter_items, items, n, kind)
        if recalculate:
            if rows is None:
                raise ValueError(f"recalculate_{kind}=True needs the {kind}'s interactions")
            other = len(self.user_factors if kind == "item" else self.item_factors)
            name = "item_users" if kind == "item" else "user_items"
            matrix = self._interaction_rows(rows, len(ids), other, name, f"{kind}id")
            queries = _normalized(self._folded_in(kind, matrix))
        else:
            queries = self._cached(f"{kind}_unit", factors, _normalized)[ids]
        targets = self._cached(f"{kind}_unit", factors, _normalized)
        result = self._rank(queries, targets, N, exclude=filter_items, subset=items, index=index)
        return self._answer(*result, scalar)

    def similar_items(self, itemid: Ids, N: int = 10, filter_items: ArrayLike | None = None,
                      items: ArrayLike | None = None, recalculate_item: bool = False,
                      item_users: Rows | None = None, approximate: bool = False) -> Ranked:
        """The ``N`` items most similar to ``itemid`` by cosine of the item factors.

        The item itself comes first with score ≈ 1 (unless filtered). ``itemid`` may be an array
        (2-D results). ``recalculate_item=True`` solves the item's factor from ``item_users``
        (one row per item id, users as columns) with the user factors fixed, e.g. for a new item.
        ``filter_items`` / ``items`` work as in :meth:`recommend`; ``approximate=True`` takes
        the candidates from the index of :meth:`build_index`, as in :meth:`recommend`.
        """
        return self._similar(itemid, getattr(self, "item_factors", None), N, filter_items,
                             items, recalculate_item, item_users, "item", approximate)

    def similar_users(self, userid: Ids, N: int = 10, filter_users: ArrayLike | None = None,
                      users: ArrayLike | None = None, recalculate_user: bool = False,
                      user_items: Rows | None = None) -> Ranked:
        """The ``N`` users most similar to ``userid`` by cosine of the user factors.

        Mirrors :meth:`similar_items`: ``filter_users`` / ``users`` restrict the candidates and
        ``recalculate_user=True`` solves the user's factor from ``user_items``.
        """
        return self._similar(userid, getattr(self, "user_factors", None), N, filter_users,
                             users, recalculate_user, user_items, "user")

    # ------------------------------------------------------------------ serving by raw ids
    def _raw_map(self, kind: str, method: str) -> np.ndarray:
        """The raw ``kind`` ids (row / column index -> raw id) the model was fitted with."""
        self._check_fitted()
        ids = getattr(self, f"{kind}_ids", None)
        if ids is None:
            raise ValueError(
                f"{method} needs the raw {kind} ids, and this {type(self).__name__} has none: fit "
                "it on an mfkit.datasets.Interactions (datasets.from_dataframe / from_csv) to "
                f"keep them, or call {method[:-4]} with row indices")
        return np.asarray(ids)

    @staticmethod
    def _raw_row(ids: np.ndarray, raw, name: str, kind: str) -> int:
        """Index of the one raw id ``raw`` (-1 if unknown)."""
        if np.ndim(raw) != 0:
            raise TypeError(f"{name} must be one raw {kind} id, got {type(raw).__name__}: the raw "
                            f"path serves one {kind} at a time (for batches, map the ids with "
                            f"Interactions.{kind}_index and call the row-index methods)")
        return int(raw_positions(ids, raw, name, kind)[0])

    @staticmethod
    def _raw_candidates(ids: np.ndarray, excluded, allowed, kind: str):
        """``filter_{kind}s`` / ``{kind}s`` as row indices: unknown excluded ids are dropped (the
        model can never return them), an unknown allowed id is a KeyError."""
        if excluded is not None:
            rows = raw_positions(ids, excluded, f"filter_{kind}s", kind)
            excluded = rows[rows >= 0]
        if allowed is not None:
            raw = as_raw_ids(allowed)
            rows = raw_positions(ids, raw, f"{kind}s", kind)
            if (rows < 0).any():
                unknown = raw.reshape(-1)[np.argmin(rows)]
                raise KeyError(f"{kind}s: unknown {kind} id {plain_id(unknown)!r} (the model "
                               "has no factors for it, so it cannot rank it)")
            allowed = rows
        return excluded, allowed

    def recommend_raw(self, user: RawId, history: History | None = None, N: int = 10,
                      filter_already_liked_items: bool = True,
                      filter_items: ArrayLike | None = None, items: ArrayLike | None = None,
                      recalculate_user: bool = False, approximate: bool = False) -> Ranked:
        """Top-``N`` items for one user by raw ids, for a model fitted on an ``Interactions``.

        The raw-id twin of :meth:`recommend` (same ranking and scores): ``user``, ``history``,
        ``filter_items`` and ``items`` are raw ids looked up in the model's ``user_ids`` /
        ``item_ids``, and the returned ids are raw item ids.

        Parameters
        ----------
        user : int or str
            One raw user id (batches: :meth:`recommend` with ``Interactions.user_index``).
            Unknown without a ``history``: ``KeyError`` naming it.
        history : list of raw item ids, dict {raw item id: value} or Interactions, optional
            What the user has: its items are left out of the results (with
            ``filter_already_liked_items``) and, for a user the model does not know or with
            ``recalculate_user=True``, the user's factor is solved from it (item factors
            fixed; values 1 for a plain list, so pass a dict of ratings to ExplicitMF). An
            ``Interactions`` (e.g. the training data) gives its row of ``user``. Items the
            model does not know are skipped (it cannot recommend or learn from them); a
            history of which no item is known raises ``ValueError`` (ids of another column or
            data set). Without it nothing is filtered: the model keeps no interactions.
        N, filter_already_liked_items, recalculate_user, approximate : as in :meth:`recommend`
        filter_items : raw item ids, optional
            Never returned; ids unknown to the model are ignored (it never returns them).
        items : raw item ids, optional
            Rank only these; an id unknown to the model is a ``KeyError``.

        Returns
        -------
        ids, scores : ndarray
            Raw item ids (the dtype of ``item_ids``) and scores, best first; shorter than ``N``
            when fewer candidates remain.

        Notes
        -----
        Ids of the wrong kind (a string where the model has integer ids, ...) are a
        ``TypeError``; a model fitted without raw ids a ``ValueError`` telling to fit on an
        ``Interactions``.
        """
        user_ids = self._raw_map("user", "recommend_raw")
        item_ids = self._raw_map("item", "recommend_raw")
        recalculate_user = check_bool(recalculate_user, "recalculate_user")
        filter_liked = check_bool(filter_already_liked_items, "filter_already_liked_items")
        row = self._raw_row(user_ids, user, "user", "user")
        rows = None if history is None else history_row(history, user, item_ids)
        if row < 0:
            if rows is None or rows.nnz == 0:
                raise KeyError(f"unknown user id {plain_id(user)!r}: not a user of the model; "
                               "pass history= (its raw item ids) to fold a new user in")
            recalculate_user = True
        elif recalculate_user and rows is None:
            raise ValueError("recalculate_user=True needs history= (the user's raw item ids)")
        filter_items, items = self._raw_candidates(item_ids, filter_items, items, "item")
        ids, scores = self.recommend(max(row, 0), rows, N=N,
                                     filter_already_liked_items=filter_liked and rows is not None,
                                     filter_items=filter_items, recalculate_user=recalculate_user,
                                     items=items, approximate=approximate)
        return item_ids[ids], scores

    def _similar_raw(self, kind: str, raw, N, excluded, allowed, **options):
        ids = self._raw_map(kind, f"similar_{kind}s_raw")
        row = self._raw_row(ids, raw, kind, kind)
        if row < 0:
            raise KeyError(f"unknown {kind} id {plain_id(raw)!r}: the model has no such {kind}")
        excluded, allowed = self._raw_candidates(ids, excluded, allowed, kind)
        similar = self.similar_items if kind == "item" else self.similar_users
        found, scores = similar(row, N=N, **{f"filter_{kind}s": excluded, f"{kind}s": allowed},
                                **options)
        return ids[found], scores

    def similar_items_raw(self, item: RawId, N: int = 10, filter_items: ArrayLike | None = None,
                          items: ArrayLike | None = None, approximate: bool = False) -> Ranked:
        """The ``N`` items most similar to the raw item id ``item``, as raw ids: the raw-id twin
        of :meth:`similar_items` (same scores). Unknown ``item`` or ``items`` ids are a
        ``KeyError``; unknown ``filter_items`` ids are ignored (see :meth:`recommend_raw`)."""
        return self._similar_raw("item", item, N, filter_items, items, approximate=approximate)

    def similar_users_raw(self, user: RawId, N: int = 10, filter_users: ArrayLike | None = None,
                          users: ArrayLike | None = None) -> Ranked:
        """The ``N`` users most similar to the raw user id ``user``, as raw ids: the raw-id twin
        of :meth:`similar_users` (see :meth:`similar_items_raw`)."""
        return self._similar_raw("user", user, N, filter_users, users)

    # ------------------------------------------------------------------ partial fits
    def partial_fit_users(self, userids: ArrayLike, user_items: Rows) -> Recommender:
        """Re-solve only the given users' factors from ``user_items`` (one row per id).

        Ids at or beyond the current number of users ``n`` add users: the ``m`` new ids must be
        exactly ``n, n+1, ..., n+m-1`` (in any order), otherwise ``ValueError`` (no gaps, so a
        stray large id cannot allocate a huge array). Other rows are untouched. Returns ``self``.
        """
        return self._partial_fit("user", userids, user_items)

    def partial_fit_items(self, itemids: ArrayLike, item_users: Rows) -> Recommender:
        """Re-solve only the given items' factors from ``item_users`` (one row per id, users as
        columns); new ids ``n, ..., n+m-1`` (``n`` items so far, no gaps) grow ``item_factors``
        as in :meth:`partial_fit_users`."""
        return self._partial_fit("item", itemids, item_users)

    def _partial_fit(self, kind: str, ids, rows):
        self._check_fitted()
        other = "item" if kind == "user" else "user"
        ids, _ = check_ids(ids, f"{kind}ids")
        if len(np.unique(ids)) != len(ids):
            raise ValueError(f"{kind}ids contains duplicate ids")
        old_size = len(getattr(self, f"{kind}_factors"))
        new_ids = np.sort(ids[ids >= old_size])
        size = old_size + len(new_ids)
        if len(new_ids) and new_ids[-1] >= size:  # unique and sorted: a gap iff the last is past
            expected = f"{old_size}" if size == old_size + 1 else \
                f"{old_size}..{size - 1} (in any order)"
            raise ValueError(
                f"{kind}ids: new ids must continue the existing ones without a gap: the model "
                f"has {old_size} {kind}s (ids 0..{old_size - 1}), so {len(new_ids)} new "
                f"id(s) must be {expected}, got up to {new_ids[-1]}")
        rows = self._interaction_rows(rows, len(ids), len(getattr(self, f"{other}_factors")),
                                      f"{kind}_{other}s", f"{kind}id")
        # New arrays, so that caches keyed on them see the change; the factors last, as caches
        # of derived arrays (e.g. factors with biases) are keyed on the factors.
        solved_arrays = self._partial_solve(kind, rows)
        self._check_solved({f"{kind}_{name}": value for name, value in solved_arrays.items()},
                           rows, f"{kind}ids")
        for name, solved in reversed(solved_arrays.items()):
            current = getattr(self, f"{kind}_{name}")
            grown = np.zeros((size, *current.shape[1:]), dtype=current.dtype)
            grown[:old_size] = current
            grown[ids] = solved
            setattr(self, f"{kind}_{name}", grown)
        if size != old_size:
            setattr(self, f"{kind}_ids", None)  # raw ids of the new rows are unknown
        return self

    def _partial_solve(self, kind: str, rows) -> dict:
        """Hook: ``{array name: solved rows}`` for :meth:`partial_fit_users` / ``_items``, the
        factors first (``"factors"`` → ``user_factors``); other per-row arrays (biases) follow."""
        fold_in = self._fold_in_users if kind == "user" else self._fold_in_items
        return {"factors": fold_in(rows)}

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathLike) -> None:
        """Write the fitted model to ``path`` (an ``.npz`` file); read it with ``mfkit.load``."""
        save_model(self, path)
