"""mfkit serving (``recommend``) against implicit's on the same float32 factors and threads.

mfkit's ALS is fitted briefly on the seeded synthetic power-law matrix from
``mfkit.datasets.synthetic``; implicit's ``AlternatingLeastSquares`` is then given exactly the
same ``user_factors`` / ``item_factors`` arrays, so both rank the same scores. An agreement check
(same ids, same filtering) is printed before any timing.

    python benchmarks/bench_recommend.py             # full size: 50k users x 20k items, 64 factors
    python benchmarks/bench_recommend.py --users 5000 --latency-users 100 --repeats 1   # quick

Measured, with both libraries at ``--threads`` threads (mfkit ``num_threads``, implicit's model
``num_threads``) and under each OpenBLAS setting of ``--blas`` (``default``: the process's own
setting, untouched; ``1``: ``threadpoolctl.threadpool_limits(1, "blas")``). Both libraries compute
the score matrix with numpy's BLAS (``queries @ item_factors.T``), so the BLAS setting matters to
both. mfkit leaves BLAS alone (its normal use is ``default``); implicit warns at construction
unless BLAS has one thread (its normal use is ``1``).

1. single-user latency of ``recommend(u, user_items[u], N=N, filter_already_liked_items=True)``:
   median and p90 per call in microseconds over ``--latency-users`` random users (the same users
   for both; the rows ``user_items[u]`` are sliced beforehand, so scipy's slicing is not timed),
   calls of the two libraries interleaved user by user, ``--rounds`` passes pooled.
2. all-users throughput of ``recommend(np.arange(n_users), user_items, N=10)`` in users per
   second, best of ``--repeats`` runs, run alternately mfkit / implicit.

Ratios are mfkit / implicit: for latency lower is better for mfkit, for throughput higher is.
The header prints ``OMP_WAIT_POLICY``: with several OpenBLAS threads, mfkit's batch throughput
depends on it, because libgomp's spin-waiting threads (after the C++ top-k) and OpenBLAS's (after
each matrix product) take turns on the same cores.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import time
import warnings

import numpy as np

import mfkit

from common import add_data_flags, synthetic


def blas_setting(value: str):
    """A context manager for one ``--blas`` value: untouched (``default``) or a thread limit."""
    from threadpoolctl import threadpool_limits

    if value == "default":
        return contextlib.nullcontext()
    return threadpool_limits(int(value), "blas")


def blas_threads() -> str:
    """The OpenBLAS thread counts now in effect (numpy's and scipy's copies)."""
    from threadpoolctl import threadpool_info

    return ",".join(str(api["num_threads"]) for api in threadpool_info()
                    if api["user_api"] == "blas")


def build_models(data, args):
    from implicit.cpu.als import AlternatingLeastSquares

    start = time.perf_counter()
    ours = mfkit.ALS(factors=args.factors, iterations=args.iterations, random_state=args.seed,
                     num_threads=args.threads)
    ours.fit(data, show_progress=False)
    user_factors = np.ascontiguousarray(ours.user_factors, dtype=np.float32)
    item_factors = np.ascontiguousarray(ours.item_factors, dtype=np.float32)
    ours.user_factors, ours.item_factors = user_factors, item_factors
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # implicit's BLAS-threads warning
        theirs = AlternatingLeastSquares(factors=args.factors, num_threads=args.threads,
                                         random_state=args.seed)
    theirs.user_factors, theirs.item_factors = user_factors, item_factors  # the same arrays
    print(f"factors: mfkit ALS, {args.iterations} iterations "
          f"({time.perf_counter() - start:.1f}s); both models hold the same float32 arrays "
          f"{user_factors.shape} and {item_factors.shape}")
    return ours, theirs


def agreement(ours, theirs, data, users, args):
    """Compare ids on a few users, same filtering: single-user calls for every N and a batch call.

    mfkit breaks exact score ties by the lower id, implicit in no fixed order, so a list that
    holds the same ids with the same scores in another order among equal scores counts as "tied
    order" rather than as a disagreement.
    """
    def compare(a, sa, b, sb):
        if np.array_equal(a, b):
            return "identical"
        if (len(a) == len(b) and np.array_equal(sa, sb)
                and all(set(a[sa == s]) == set(b[sb == s]) for s in np.unique(sa))):
            return "tied order"
        return "different"

    counts = {"identical": 0, "tied order": 0, "different": 0}
    for n in args.N:
        for u in users:
            row = data[u]
            counts[compare(*ours.recommend(u, row, N=n), *theirs.recommend(u, row, N=n))] += 1
    batch = np.sort(users)
    a, sa = ours.recommend(batch, data[batch], N=10)
    b, sb = theirs.recommend(batch, data[batch], N=10)
    rows = {"identical": 0, "tied order": 0, "different": 0}
    for i in range(len(batch)):
        rows[compare(a[i], sa[i], b[i], sb[i])] += 1
    total = len(users) * len(args.N)
    print(f"agreement on {len(users)} users: single-user calls (N in {args.N}) "
          f"{counts['identical']}/{total} identical, {counts['tied order']} differ only in the "
          f"order of exactly equal scores, {counts['different']} different; batch call (N=10) "
          f"{rows['identical']}/{len(batch)} identical rows, {rows['tied order']} tied order, "
          f"{rows['different']} different")
    if counts["different"] or rows["different"]:
        raise SystemExit("mfkit and implicit disagree on the same factors")


def latency(ours, theirs, data, users, n, rounds):
    """Per-call times in microseconds, interleaved user by user: (mfkit array, implicit array)."""
    rows = [data[u] for u in users]
    clock = time.perf_counter_ns
    times = ([], [])
    for u, row in zip(users[:20], rows[:20]):  # warm-up
        ours.recommend(int(u), row, N=n)
        theirs.recommend(int(u), row, N=n)
    for _ in range(rounds):
        for u, row in zip(users, rows):
            u = int(u)
            start = clock()
            ours.recommend(u, row, N=n, filter_already_liked_items=True)
            middle = clock()
            theirs.recommend(u, row, N=n, filter_already_liked_items=True)
            end = clock()
            times[0].append(middle - start)
            times[1].append(end - middle)
    return tuple(np.array(t) / 1e3 for t in times)


def throughput(ours, theirs, data, repeats):
    """Best users per second of all-users calls, alternately: (mfkit, implicit)."""
    everyone = np.arange(data.shape[0])
    best = [0.0, 0.0]
    for _ in range(repeats):
        for i, model in enumerate((ours, theirs)):
            start = time.perf_counter()
            model.recommend(everyone, data, N=10)
            best[i] = max(best[i], len(everyone) / (time.perf_counter() - start))
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser, users=50_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--N", type=int, nargs="+", default=[1, 10, 100, 1000])
    parser.add_argument("--latency-users", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--blas", nargs="+", default=["default", "1"],
                        help="OpenBLAS settings to run under: 'default' (untouched) or a count")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import implicit

    data = synthetic(args, args.seed)
    print(f"threads={args.threads}, "
          f"mfkit {mfkit.__version__} (OpenMP={mfkit._core.has_openmp}), "
          f"implicit {implicit.__version__}, OpenBLAS threads by default: {blas_threads()}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')}")
    ours, theirs = build_models(data, args)
    users = np.random.default_rng(args.seed).choice(data.shape[0], args.latency_users,
                                                    replace=False)
    agreement(ours, theirs, data, users[:50], args)

    results = {}
    for setting in args.blas:
        with blas_setting(setting):
            label = f"{setting} ({blas_threads()})"
            for n in args.N:
                results[label, n] = latency(ours, theirs, data, users, n, args.rounds)
            results[label, "all"] = throughput(ours, theirs, data, args.repeats)

    labels = list(dict.fromkeys(key[0] for key in results))
    print(f"\nSingle-user latency, µs per call ({args.latency_users} users x {args.rounds} "
          f"rounds, threads={args.threads}; ratio = mfkit / implicit of the medians, lower is "
          f"better)\n")
    print("| OpenBLAS threads | N | mfkit median | mfkit p90 | implicit median | implicit p90 "
          "| ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label in labels:
        for n in args.N:
            a, b = results[label, n]
            print(f"| {label} | {n} | {np.median(a):.1f} | {np.percentile(a, 90):.1f} | "
                  f"{np.median(b):.1f} | {np.percentile(b, 90):.1f} | "
                  f"{np.median(a) / np.median(b):.2f} |")

    print(f"\nAll-users throughput, users/s ({data.shape[0]} users, N=10, best of {args.repeats}, "
          f"threads={args.threads}; ratio = mfkit / implicit, higher is better)\n")
    print("| OpenBLAS threads | mfkit users/s | implicit users/s | ratio |")
    print("|---|---:|---:|---:|")
    for label in labels:
        a, b = results[label, "all"]
        print(f"| {label} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")

    if "default" in args.blas and "1" in args.blas:
        ours_label = next(lb for lb in labels if lb.startswith("default"))
        theirs_label = next(lb for lb in labels if lb.startswith("1 "))
        print("\nEach library under its own usual BLAS setting (mfkit: untouched, implicit: 1 "
              "thread, as it asks; from the tables above, so not interleaved)\n")
        print("| measure | mfkit | implicit | ratio |")
        print("|---|---:|---:|---:|")
        for n in args.N:
            a, b = results[ours_label, n][0], results[theirs_label, n][1]
            print(f"| latency N={n}, median µs | {np.median(a):.1f} | {np.median(b):.1f} | "
                  f"{np.median(a) / np.median(b):.2f} |")
        a, b = results[ours_label, "all"][0], results[theirs_label, "all"][1]
        print(f"| all users N=10, users/s | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")


if __name__ == "__main__":
    main()
