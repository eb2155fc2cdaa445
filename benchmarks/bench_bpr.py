"""mfkit BPR against implicit's BPR: seconds per epoch, and ranking quality on MovieLens.

Speed: both fit the seeded synthetic power-law matrix (``mfkit.datasets.synthetic``, 100k users
x 20k items, ~2M nonzeros) with the same factors, epochs and threads. implicit draws negatives in
proportion to item popularity (the item of a random stored entry) and skips a sample whose
negative the user has; mfkit draws uniformly by default and redraws rejected negatives. Both
mfkit samplers are timed, so ``popularity`` is the like-for-like row. Seconds per epoch are the
median over the epochs of one fit, best of ``--repeats`` fits run alternately (mfkit, implicit)
so that both see the same machine noise.

Quality: MovieLens latest-small (../shared/data/ml-latest-small), ratings >= 4 as positives,
seeded leave-5-out split per seed (as bench_quality.py), nDCG@10 (and AUC) from
``mfkit.evaluation.ranking_metrics`` for all models (implicit's factors are evaluated by the same
code: its last factor column is the item bias, with a constant 1 on the user side), with equal
hyperparameters: mfkit's defaults, implicit's defaults, and the best settings of mfkit's
popularity sampler and of implicit on the grid below (factors 64 for all). ``--grid`` also tunes
each model over that grid and reports each one's best.

    python benchmarks/bench_bpr.py                       # speed and quality
    python benchmarks/bench_bpr.py --skip-quality --epochs 3 --repeats 2
    python benchmarks/bench_bpr.py --skip-speed --grid
"""
from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

import numpy as np

import mfkit
from mfkit.evaluation import leave_k_out_split, ranking_metrics

from common import MOVIELENS, add_data_flags, movielens_positives, synthetic

IMPLICIT_DEFAULTS = dict(learning_rate=0.01, regularization=0.01, iterations=100)


# ---------------------------------------------------------------------------------- models
def fit_mfkit(data, factors, threads, seed, sampling, callback=None, **hyper):
    model = mfkit.BPR(factors=factors, num_threads=threads, random_state=seed,
                      negative_sampling=sampling, **hyper)
    return model.fit(data, callback=callback, show_progress=False)


def fit_implicit(data, factors, threads, seed, callback=None, **hyper):
    """implicit's BPR, its factors wrapped in an mfkit.BPR (bias column split off)."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    peer = BayesianPersonalizedRanking(factors=factors, num_threads=threads, random_state=seed,
                                       verify_negative_samples=True, **hyper)
    peer.fit(data, show_progress=False, callback=callback)
    shell = mfkit.BPR(factors=factors)
    shell.user_factors = np.ascontiguousarray(peer.user_factors[:, :factors])
    shell.item_factors = np.ascontiguousarray(peer.item_factors[:, :factors])
    shell.item_bias = np.ascontiguousarray(peer.item_factors[:, factors])
    shell.item_popularity = np.zeros(len(shell.item_bias), dtype=np.int64)
    return shell


# ----------------------------------------------------------------------------------- speed
def epoch_seconds(fit):
    times = []
    fit(lambda epoch, elapsed, *rest: times.append(elapsed))
    return statistics.median(times)


def speed(args):
    data = synthetic(args, seed=0)
    print(f"factors={args.factors}, "
          f"epochs={args.epochs}, threads={args.threads}, mfkit {mfkit.__version__}, "
          f"OpenMP={mfkit._core.has_openmp}\n")
    hyper = dict(iterations=args.epochs)
    best = {"uniform": float("inf"), "popularity": float("inf"), "implicit": float("inf")}
    for _ in range(args.repeats):
        for name in best:
            def run(cb, name=name):
                if name == "implicit":
                    return fit_implicit(data, args.factors, args.threads, 0, cb, **hyper)
                return fit_mfkit(data, args.factors, args.threads, 0, name, cb, **hyper)

            best[name] = min(best[name], epoch_seconds(run))
    print("| mfkit negatives | mfkit s/epoch | implicit s/epoch (popularity, skip) | ratio |")
    print("|---|---:|---:|---:|")
    for name in ("popularity", "uniform"):
        print(f"| {name} | {best[name]:.3f} | {best['implicit']:.3f} | "
              f"{best[name] / best['implicit']:.2f} |", flush=True)


# --------------------------------------------------------------------------------- quality
MODELS = {
    "mfkit (uniform)": lambda train, f, seed, hyper: fit_mfkit(train, f, 1, seed, "uniform",
                                                               **hyper),
    "mfkit (popularity)": lambda train, f, seed, hyper: fit_mfkit(train, f, 1, seed,
                                                                  "popularity", **hyper),
    "implicit": lambda train, f, seed, hyper: fit_implicit(train, f, 1, seed, **hyper),
}


def mean_metrics(splits, make, factors, hyper, k):
    rows = []
    for seed, (train, test) in enumerate(splits):
        metrics = ranking_metrics(make(train, factors, seed, hyper), train, test, K=k)
        rows.append((metrics["ndcg"], metrics["auc"]))
    return np.mean(rows, axis=0)


def quality(args):
    from threadpoolctl import threadpool_limits

    matrix = movielens_positives(args.data)
    splits = [leave_k_out_split(matrix, K=args.holdout, random_state=s) for s in args.seeds]
    print(f"\nMovieLens latest-small, ratings >= 4: {matrix.shape[0]} users x "
          f"{matrix.shape[1]} items, {matrix.nnz} positives; leave-{args.holdout}-out, "
          f"K={args.k}, seeds {args.seeds}, factors {args.factors}, one thread each\n")
    defaults = mfkit.BPR().get_params()
    settings = {
        "mfkit defaults": {n: defaults[n] for n in ("learning_rate", "regularization",
                                                    "iterations")},
        "implicit defaults": IMPLICIT_DEFAULTS,
        # the best of each popularity sampler on the --grid below (equal for all models)
        "best for mfkit (popularity)": dict(learning_rate=0.01, regularization=0.002,
                                            iterations=50),
        "best for implicit": dict(learning_rate=0.01, regularization=0.005, iterations=100),
    }
    print(f"| hyperparameters (equal for all) | model | nDCG@{args.k} | AUC |")
    print("|---|---|---:|---:|")
    with threadpool_limits(1, "blas"):
        for label, hyper in settings.items():
            text = (f"{label}: lr {hyper['learning_rate']}, reg {hyper['regularization']}, "
                    f"{hyper['iterations']} epochs")
            for name, make in MODELS.items():
                ndcg, auc = mean_metrics(splits, make, args.factors, hyper, args.k)
                print(f"| {text} | {name} | {ndcg:.4f} | {auc:.4f} |", flush=True)
        if args.grid:
            grid = list(itertools.product(args.grid_lr, args.grid_reg, args.grid_epochs))
            print(f"\nEach model tuned on the grid learning_rate {args.grid_lr} x "
                  f"regularization {args.grid_reg} x epochs {args.grid_epochs}:\n")
            print(f"| model | best nDCG@{args.k} | AUC | lr | reg | epochs |")
            print("|---|---:|---:|---:|---:|---:|")
            for name, make in MODELS.items():
                results = []
                for lr, reg, epochs in grid:
                    hyper = dict(learning_rate=lr, regularization=reg, iterations=epochs)
                    results.append((*mean_metrics(splits, make, args.factors, hyper, args.k),
                                    lr, reg, epochs))
                ndcg, auc, lr, reg, epochs = max(results)
                print(f"| {name} | {ndcg:.4f} | {auc:.4f} | {lr} | {reg} | {epochs} |",
                      flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--data", type=Path, default=MOVIELENS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--holdout", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--grid", action="store_true", help="also tune each model on a grid")
    parser.add_argument("--grid-lr", type=float, nargs="+", default=[0.01, 0.02, 0.05, 0.1])
    parser.add_argument("--grid-reg", type=float, nargs="+", default=[0.002, 0.005, 0.01])
    parser.add_argument("--grid-epochs", type=int, nargs="+", default=[50, 100, 200, 400])
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()

    if not args.skip_speed:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(1, "blas"):
            speed(args)
    if not args.skip_quality:
        quality(args)


if __name__ == "__main__":
    main()
