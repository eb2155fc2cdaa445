"""Ranking quality of mfkit's ALS defaults against implicit's ALS defaults on MovieLens, and of
tuned models on Amazon Beauty.

MovieLens latest-small (../shared/data/ml-latest-small, not bundled: see its README for the
terms), ratings >= 4 as positives (value 1), seeded leave-k-out split (5 positives per user held
out; users with 5 or fewer stay in train), metrics at K=10 computed by mfkit.evaluation for both
models (implicit's factors are evaluated by the same code), over several split seeds.

    python benchmarks/bench_quality.py [--data DIR] [--seeds 0 1 2] [--holdout 5]

``--dataset amazon-beauty`` (../shared/data/amazon-beauty: train / valid / test): every row is a
model tuned on valid with the same time budget (Optuna TPE; mfkit rows through
mfkit.tuning.tune, pruning included; implicit rows through the same sampler and search space,
without pruning), refitted on train + valid with the best parameters, then scored on test
(Recall@20 and nDCG@20, full ranking, train + valid items excluded) with its refit time.

    python benchmarks/bench_quality.py --dataset amazon-beauty --budget 150 \
        --models implicit-als implicit-bpr als bpr

A row is ``implicit-als``, ``implicit-bpr`` or any registered mfkit model name with fixed
parameters after a colon: ``als:solver=cg``, ``als:solver=block``, ``svd``,
``bpr:factors=128``. Its search space is the model's ``_search_space`` (implicit rows: that of
mfkit's ALS / BPR) less the fixed parameters.
"""
from __future__ import annotations

import argparse
import ast
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import mfkit
from mfkit.evaluation import leave_k_out_split, ranking_metrics

from common import MOVIELENS, add_json_flag, movielens_positives, write_json

METRICS = ("ndcg", "precision", "recall", "map", "auc")
AMAZON = MOVIELENS.parent / "amazon-beauty"
# implicit's estimators tuned in the rows implicit-als / implicit-bpr: (module, class, the mfkit
# model whose search space they share).
PEERS = {"implicit-als": ("implicit.cpu.als", "AlternatingLeastSquares", mfkit.ALS),
         "implicit-bpr": ("implicit.cpu.bpr", "BayesianPersonalizedRanking", mfkit.BPR)}


def implicit_as_mfkit(train, seed):
    """implicit's ALS with its defaults, its factors wrapped in an mfkit model for evaluation."""
    from implicit.cpu.als import AlternatingLeastSquares

    peer = AlternatingLeastSquares(random_state=seed)
    peer.fit(train, show_progress=False)
    shell = mfkit.ALS(factors=peer.factors)
    shell.user_factors = np.ascontiguousarray(peer.user_factors)
    shell.item_factors = np.ascontiguousarray(peer.item_factors)
    return shell


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("movielens", "amazon-beauty"), default="movielens")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--holdout", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--models", nargs="+",
                        default=["implicit-als", "implicit-bpr", "als", "bpr"],
                        help="amazon-beauty rows (see the module docstring)")
    parser.add_argument("--budget", type=float, default=150.0,
                        help="amazon-beauty: tuning seconds per row")
    parser.add_argument("--metric", default="recall@20", help="amazon-beauty: tuned metric")
    add_json_flag(parser, "quality")
    parser.add_argument("--valid-users", type=int, default=2000,
                        help="amazon-beauty: validation users scored per trial")
    args = parser.parse_args()
    if args.dataset == "amazon-beauty":
        amazon(args)
    else:
        movielens(args)


def movielens(args):
    from threadpoolctl import threadpool_limits

    args.data = args.data or MOVIELENS

    matrix = movielens_positives(args.data)
    print(f"MovieLens latest-small, ratings >= 4: {matrix.shape[0]} users x {matrix.shape[1]} "
          f"items, {matrix.nnz} positives; leave-{args.holdout}-out, K={args.k}")
    print(f"mfkit defaults: {mfkit.ALS()}")
    header = " | ".join(f"{m}@{args.k}" if m != "auc" else "AUC" for m in METRICS)
    print(f"| seed | model | {header} | fit s |")
    print("|---|---|" + "---:|" * (len(METRICS) + 1))
    totals = {"mfkit": [], "implicit": []}
    with threadpool_limits(1, "blas"):
        for seed in args.seeds:
            train, test = leave_k_out_split(matrix, K=args.holdout, random_state=seed)
            for name in ("mfkit", "implicit"):
                start = time.perf_counter()
                if name == "mfkit":
                    model = mfkit.ALS(random_state=seed).fit(train, show_progress=False)
                else:
                    model = implicit_as_mfkit(train, seed)
                seconds = time.perf_counter() - start
                metrics = ranking_metrics(model, train, test, K=args.k)
                totals[name].append([metrics[m] for m in METRICS])
                values = " | ".join(f"{metrics[m]:.4f}" for m in METRICS)
                print(f"| {seed} | {name} | {values} | {seconds:.2f} |", flush=True)
    for name, rows in totals.items():
        mean = np.mean(rows, axis=0)
        print(f"| mean | {name} | " + " | ".join(f"{v:.4f}" for v in mean) + " | |")
    ours, theirs = np.mean(totals["mfkit"], axis=0)[0], np.mean(totals["implicit"], axis=0)[0]
    print(f"\nnDCG@{args.k}: mfkit {ours:.4f} vs implicit {theirs:.4f} "
          f"({'at least as high' if ours >= theirs else 'LOWER'})")


# ---------------------------------------------------------------------- amazon-beauty, tuned
def load_amazon(folder: Path):
    """train, valid, test: binary CSR matrices of one shape from ``user item 1`` lines."""
    parts = [np.loadtxt(folder / f"{name}.txt", dtype=np.int64, ndmin=2)
             for name in ("train", "valid", "test")]
    shape = (max(int(p[:, 0].max()) for p in parts) + 1,
             max(int(p[:, 1].max()) for p in parts) + 1)
    return [sp.csr_matrix((np.ones(len(p), np.float32), (p[:, 0], p[:, 1])), shape=shape)
            for p in parts]


def parse_row(text: str):
    """``name[:param=value,...]`` -> (name, {param: value}) with values read as Python
    literals when they are (numbers, True), else kept as text."""
    name, _, rest = text.partition(":")
    fixed = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            fixed[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            fixed[key] = value
    return name, fixed


def as_mfkit(user_factors, item_factors):
    """Factors of another library in an mfkit model, so mfkit.evaluation scores them."""
    shell = mfkit.ALS(factors=item_factors.shape[1])
    shell.user_factors = np.ascontiguousarray(user_factors, dtype=np.float32)
    shell.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
    return shell


def tune_peer(name, fixed, train, valid, args):
    """implicit's model tuned like tune() does (same sampler, seed, space, metric, users,
    first trial at the defaults), without pruning; returns (best params, best validation value,
    trials, factory). implicit's ALS is fed ``1 + alpha·r`` with its ``alpha=1`` (its
    confidence is ``alpha·r``), so that it minimizes mfkit's objective and the two share the
    search space and first trial (mfkit's defaults); implicit's BPR starts from its own
    defaults."""
    import importlib

    import optuna

    module, class_name, twin = PEERS[name]
    cls = getattr(importlib.import_module(module), class_name)
    space = mfkit.tuning.check_search_space(twin, None, fixed)
    metric, K = mfkit.evaluation.parse_metric(args.metric)
    rng = np.random.default_rng(args.seeds[0])
    seed = int(rng.integers(2**31 - 1))
    scored = mfkit.tuning._some_users(valid, args.valid_users, rng)

    def make(params):
        def fit(data):
            settings = {**fixed, **params}
            if name == "implicit-als":
                data = data.copy()
                data.data = 1 + settings.pop("alpha", 1.0) * data.data
                settings["alpha"] = 1.0
            peer = cls(**settings, random_state=seed)
            peer.fit(data, show_progress=False)
            return as_mfkit(peer.user_factors, peer.item_factors)
        return fit

    def objective(trial):
        params = mfkit.tuning.suggest(trial, space)
        return ranking_metrics(make(params)(train), train, scored, K=K)[metric]

    study = optuna.create_study(direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=seed))
    start = mfkit.tuning.starting_point(twin if name == "implicit-als" else cls, space, fixed)
    if start:
        study.enqueue_trial(start)
    study.optimize(objective, timeout=args.budget)
    return study.best_params, study.best_value, len(study.trials), make(study.best_params)


def tune_mfkit(name, fixed, train, valid, args):
    """An mfkit model tuned by mfkit.tuning.tune: (best params, value, trials, factory)."""
    result = mfkit.tuning.tune(mfkit.tuning._model_class(name)(**fixed), train, valid,
                               metric=args.metric, n_trials=None, timeout=args.budget,
                               random_state=args.seeds[0], valid_users=args.valid_users)
    counts = result.counts()

    def fit(data):
        return result.new_model().fit(data, show_progress=False)

    trials = f"{len(result.study.trials)} ({counts['pruned']} pruned, {counts['fail']} failed)"
    return result.best_params, result.best_value, trials, fit


def amazon(args):
    import optuna
    from threadpoolctl import threadpool_limits

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    train, valid, test = load_amazon(args.data or AMAZON)
    full = (train + valid).tocsr()
    print(f"Amazon Beauty: {train.shape[0]} users x {train.shape[1]} items; train {train.nnz}, "
          f"valid {valid.nnz}, test {test.nnz}; tuning {args.metric} on {args.valid_users} "
          f"validation users, {args.budget:.0f}s per row, seed {args.seeds[0]}")
    print("| row | trials | best valid | test Recall@20 | test nDCG@20 | refit s | parameters |")
    print("|---|---:|---:|---:|---:|---:|---|")
    rows = []
    with threadpool_limits(1, "blas"):
        for row in args.models:
            name, fixed = parse_row(row)
            tuner = tune_peer if name in PEERS else tune_mfkit
            params, value, trials, fit = tuner(name, fixed, train, valid, args)
            start = time.perf_counter()
            model = fit(full)
            seconds = time.perf_counter() - start
            metrics = ranking_metrics(model, full, test, K=20)
            shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                              for k, v in params.items())
            print(f"| {row} | {trials} | {value:.4f} | {metrics['recall']:.4f} | "
                  f"{metrics['ndcg']:.4f} | {seconds:.1f} | {shown} |", flush=True)
            rows.append({"model": row, "recall@20": metrics["recall"],
                         "ndcg@20": metrics["ndcg"], "fit_seconds": seconds,
                         "parameters": {k: v for k, v in params.items()}})
    write_json(args.json, rows, data="Amazon Beauty (test, fitted on train + valid)",
               metric="recall@20", budget_seconds=args.budget)


if __name__ == "__main__":
    main()
