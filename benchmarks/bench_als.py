"""mfkit ALS against implicit's ALS on the same data, threads and objective.

Both fit the seeded synthetic power-law matrix from ``mfkit.datasets.synthetic``. implicit is fed
the confidences ``1 + alpha·r`` with its own ``alpha=1`` so that both minimize the same
Hu et al. objective; both final losses are evaluated by the same function (mfkit's ``als_loss``).
BLAS is held at one thread for both (implicit asks for that; mfkit does not call BLAS here).

    python benchmarks/bench_als.py                      # full size: 100k x 20k, ~2M nonzeros
    python benchmarks/bench_als.py --users 20000 --items 5000 --density 0.004   # quick

Prints seconds per iteration (median over the iterations of a fit, then the best of
``--repeats`` fits, run alternately mfkit / implicit so that both see the same machine noise), the
ratio mfkit / implicit (lower is better for mfkit) and both final training losses.

``--compare-solvers`` instead compares mfkit's own solvers (CG, Cholesky and iALS++'s block
solver at each ``--block-sizes``) on the same fit, alternating them within every repeat: seconds
per iteration, the training loss after every iteration, and the loss each reaches within the time
CG takes for all ``--iterations`` (equal time)::

    python benchmarks/bench_als.py --compare-solvers --users 3000 --items 1500 --density 0.005 \
        --factors 128 256 512 1024 --block-sizes 32 128 --iterations 4 --repeats 2

(add ``--regularization-exponent 1 --regularization-scheme frequency`` for Rendle et al.'s
setting, in which Cholesky loses the Woodbury shortcut: per-row λ).
"""
from __future__ import annotations

import argparse
import statistics

import numpy as np

import mfkit
from mfkit import _cpp
from mfkit._csr import csr_arrays
from mfkit._validation import check_user_items

from common import add_data_flags, add_json_flag, per_iteration_times, synthetic, write_json


def fit_mfkit(data, args, factors, solver):
    times, callback = per_iteration_times()
    model = mfkit.ALS(factors=factors, solver=solver, iterations=args.iterations,
                      regularization=args.regularization, alpha=args.alpha,
                      num_threads=args.threads, random_state=args.seed)
    model.fit(data, callback=callback, show_progress=False)
    return statistics.median(times), model.user_factors, model.item_factors


def fit_implicit(data, args, factors, solver):
    from implicit.cpu.als import AlternatingLeastSquares

    confidence = data.copy()
    confidence.data = 1 + args.alpha * confidence.data
    times, callback = per_iteration_times()
    model = AlternatingLeastSquares(factors=factors, regularization=args.regularization, alpha=1.0,
                                    use_cg=solver == "cg", iterations=args.iterations,
                                    num_threads=args.threads, random_state=args.seed)
    model.fit(confidence, callback=callback, show_progress=False)
    return statistics.median(times), model.user_factors, model.item_factors


def fit_solver(data, args, factors, solver, block_size):
    """``(seconds of every iteration, loss after every iteration)`` of one mfkit fit."""
    times, callback = per_iteration_times()
    model = mfkit.ALS(factors=factors, solver=solver, block_size=block_size or 32,
                      iterations=args.iterations, regularization=args.regularization,
                      alpha=args.alpha, num_threads=args.threads, random_state=args.seed,
                      regularization_exponent=args.regularization_exponent,
                      regularization_scheme=args.regularization_scheme,
                      calculate_training_loss=True)
    model.fit(data, callback=callback, show_progress=False)  # times exclude the loss
    return times, model.loss_history


def compare_solvers(data, args):
    """The ``--compare-solvers`` table (see the module docstring)."""
    print("| factors | solver | s/iter | loss after each iteration | loss at CG's time |")
    print("|---:|---|---:|---|---:|")
    runs = [("cg", None), ("cholesky", None)] + [("block", b) for b in args.block_sizes]
    for factors in args.factors:
        fits = {run: [] for run in runs}
        for _ in range(args.repeats):
            for run in runs:  # alternate, so that every solver sees the same machine noise
                fits[run].append(fit_solver(data, args, factors, *run))
        # per iteration: the median over the repeats (the losses are the same in every repeat)
        seconds = {run: np.median([times for times, _ in fits[run]], axis=0) for run in runs}
        budget = np.sum(seconds["cg", None])
        for run in runs:
            elapsed, losses = np.cumsum(seconds[run]), fits[run][0][1]
            within = [loss for t, loss in zip(elapsed, losses) if t <= budget * 1.0001]
            name = run[0] if run[1] is None else f"block b={run[1]}"
            at_budget = f"{within[-1]:.6g}" if within else "(none)"
            print(f"| {factors} | {name} | {np.median(seconds[run]):.3f} | "
                  f"{', '.join(f'{loss:.6g}' for loss in losses)} | {at_budget} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser)
    parser.add_argument("--factors", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--solvers", nargs="+", default=["cg", "cholesky"])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--regularization", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare-solvers", action="store_true",
                        help="mfkit's CG, Cholesky and block solvers instead of implicit")
    parser.add_argument("--block-sizes", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--regularization-exponent", type=float, default=0.0,
                        help="ν (--compare-solvers only; ν > 0 takes Cholesky off Woodbury)")
    parser.add_argument("--regularization-scheme", default="count",
                        choices=["count", "frequency"], help="--compare-solvers only")
    add_json_flag(parser, "als")
    args = parser.parse_args()

    from threadpoolctl import threadpool_limits

    data = synthetic(args, args.seed)
    print(f"threads={args.threads}, "
          f"iterations={args.iterations}, regularization={args.regularization}, "
          f"alpha={args.alpha}, mfkit {mfkit.__version__}, OpenMP={mfkit._core.has_openmp}")
    if args.compare_solvers:
        print(f"regularization_exponent={args.regularization_exponent}, "
              f"regularization_scheme={args.regularization_scheme}")
        with threadpool_limits(1, "blas"):
            compare_solvers(data, args)
        return
    matrix = csr_arrays(check_user_items(data, np.dtype(np.float32)))

    def loss(user_factors, item_factors):
        return _cpp.als_loss(matrix, np.ascontiguousarray(user_factors),
                             np.ascontiguousarray(item_factors),
                             regularization=args.regularization, regularization_exponent=0.0,
                             alpha=args.alpha, num_threads=args.threads)

    print("| factors | solver | mfkit s/iter | implicit s/iter | ratio | mfkit loss "
          "| implicit loss |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    rows = []
    with threadpool_limits(1, "blas"):
        for factors in args.factors:
            for solver in args.solvers:
                # implicit has no block solver: mfkit's alone on that row
                peer = fit_implicit if solver in ("cg", "cholesky") else None
                ours, theirs = (float("inf"),), (float("inf"),)
                for _ in range(args.repeats):
                    ours = min(ours, fit_mfkit(data, args, factors, solver), key=lambda r: r[0])
                    if peer is not None:
                        theirs = min(theirs, peer(data, args, factors, solver),
                                     key=lambda r: r[0])
                rows.append(dict(library="mfkit", solver=solver, factors=factors,
                                 seconds_per_iteration=ours[0], loss=loss(*ours[1:])))
                if peer is None:
                    print(f"| {factors} | {solver} | {ours[0]:.3f} | | | {rows[-1]['loss']:.6g} "
                          "| |", flush=True)
                    continue
                rows.append(dict(library="implicit", solver=solver, factors=factors,
                                 seconds_per_iteration=theirs[0], loss=loss(*theirs[1:])))
                print(f"| {factors} | {solver} | {ours[0]:.3f} | {theirs[0]:.3f} | "
                      f"{ours[0] / theirs[0]:.2f} | {rows[-2]['loss']:.6g} | "
                      f"{rows[-1]['loss']:.6g} |", flush=True)
    write_json(args.json, rows, data=f"synthetic {data.shape[0]} x {data.shape[1]}, "
               f"{data.nnz} nonzeros", threads=args.threads)


if __name__ == "__main__":
    main()
