"""Ranking quality of mfkit's ALS defaults against implicit's ALS defaults on MovieLens.

MovieLens latest-small (../shared/data/ml-latest-small, not bundled: see its README for the
terms), ratings >= 4 as positives (value 1), seeded leave-k-out split (5 positives per user held
out; users with 5 or fewer stay in train), metrics at K=10 computed by mfkit.evaluation for both
models (implicit's factors are evaluated by the same code), over several split seeds.

    python benchmarks/bench_quality.py [--data DIR] [--seeds 0 1 2] [--holdout 5]
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

import mfkit
from mfkit.evaluation import leave_k_out_split, ranking_metrics

from common import MOVIELENS, movielens_positives

METRICS = ("ndcg", "precision", "recall", "map", "auc")


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
    parser.add_argument("--data", type=Path, default=MOVIELENS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--holdout", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

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


if __name__ == "__main__":
    main()
