"""mfkit ALS on one machine, on a Dask LocalCluster, and Spark MLlib's ALS, on the same data.

All fit the seeded synthetic power-law matrix of ``bench_als.py`` (``benchmarks/common.py``'s
data flags) with implicit ALS (Hu et al., confidence ``1 + alpha·r``). Spark's implicit ALS
regularizes each row by ``regParam · n`` (n: the row's stored entries, ALS-WR style), so every
mfkit fit here uses ``regularization_exponent=1`` (``regularization · n**1``): both minimize the
same objective, and all final losses are evaluated by the same function, mfkit's ``ALS.loss``
(Spark's factors are copied into an mfkit model; users or items Spark never saw get zeros).

    python benchmarks/bench_distributed.py                 # full size: 100k x 20k, ~2M nonzeros
    python benchmarks/bench_distributed.py --users 20000 --items 5000 --density 0.004  # quick
    python benchmarks/bench_distributed.py --no-spark      # mfkit only

Seconds per iteration: for mfkit the median over the iterations of a fit (the fit's callback),
the best of ``--repeats`` fits alternating single machine / LocalCluster (so both see the same
machine noise); Spark has no per-iteration callback, so its time is ``(T(m + d) - T(m)) / d``
from two fits with ``maxIter`` m and m + d on a cached input (its default numUserBlocks /
numItemBlocks, 10; no native BLAS unless the system provides one).
Peak memory: the VmHWM of each process (reset before the fit by writing 5 to
``/proc/<pid>/clear_refs``): this process for single-machine fits, each
Dask worker (and the client) for distributed fits, the JVM for Spark (driver and executors are
one process in ``local`` mode). Spark is skipped, with the reason, when pyspark or Java is missing.
"""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import statistics
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import mfkit
from mfkit import _cpp
from mfkit._csr import csr_arrays, transposed
from mfkit._validation import check_user_items

from common import add_data_flags, add_json_flag, per_iteration_times, synthetic, write_json


def reset_peak(pid="self") -> None:
    with open(f"/proc/{pid}/clear_refs", "w") as file:
        file.write("5")


def peak_mb(pid="self") -> float:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def als_params(args) -> dict:
    return dict(factors=args.factors, solver="cg", iterations=args.iterations,
                regularization=args.regularization, regularization_exponent=1.0,
                alpha=args.alpha, random_state=args.seed)


def fit_single(data, args, threads: int):
    """``(s/iteration, peak MB of this process, model)`` of one fit."""
    times, callback = per_iteration_times()
    reset_peak()
    model = mfkit.ALS(num_threads=threads, **als_params(args))
    model.fit(data, callback=callback, show_progress=False)
    return statistics.median(times), peak_mb(), model


def fit_dask(client, layout, args):
    """``(s/iteration, peak MB of the largest worker, peak MB of the client, model)`` of one
    fit."""
    import mfkit.distributed

    times, callback = per_iteration_times()
    client.run(reset_peak)
    reset_peak()
    model = mfkit.distributed.fit_als(layout, client, callback=callback, show_progress=False,
                                      num_threads=1, **als_params(args))
    return statistics.median(times), max(client.run(peak_mb).values()), peak_mb(), model


def single_and_dask(data, args, workers: int):
    """``(single-machine best, distributed best, shipping bytes/s)``: ``--repeats`` alternating
    fits of ``ALS.fit`` with ``workers`` threads and of ``fit_als`` on a LocalCluster of
    ``workers`` processes of one thread (the fits with the lowest median, so that both see the
    same machine noise)."""
    from distributed import Client, LocalCluster

    import mfkit.distributed

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        layout = mfkit.distributed.layout_from_matrix(data, client, workers, np.float32)
        single, dask = (float("inf"),), (float("inf"),)
        for _ in range(args.repeats):
            single = min(single, fit_single(data, args, workers), key=lambda r: r[0])
            dask = min(dask, fit_dask(client, layout, args), key=lambda r: r[0])
        return single, dask, shipping_rate(client, data.shape[0], args.factors)


def row_solver_costs(data, args, repeats: int = 3):
    """``(seconds per nonzero, seconds per row, gram seconds per row)`` of one thread: the best
    of ``repeats`` timed user and item half-sweeps of the row solver (same nonzeros, fewer item
    rows) solved as ``t = a·nnz + b·rows``, and the gram of the user factors."""
    users = csr_arrays(check_user_items(data, np.dtype(np.float32)))
    items = transposed(users)
    rng = np.random.default_rng(args.seed)
    factors = {side: rng.standard_normal((rows, args.factors), dtype=np.float32) * 0.01
               for side, rows in (("user", data.shape[0]), ("item", data.shape[1]))}
    options = dict(regularization=args.regularization, regularization_exponent=1.0,
                   alpha=args.alpha, solver="cg", cg_steps=3, num_threads=1)
    seconds = {}
    for side, matrix, fixed in (("user", users, "item"), ("item", items, "user")):
        gram = _cpp.gram(factors[fixed], num_threads=1)
        best = float("inf")
        for _ in range(repeats):
            solved = factors[side].copy()
            start = time.perf_counter()
            _cpp.als_solve_rows(matrix, factors[fixed], gram, solved, **options)
            best = min(best, time.perf_counter() - start)
        seconds[side] = best
    per_row = (seconds["user"] - seconds["item"]) / (data.shape[0] - data.shape[1])
    start = time.perf_counter()
    _cpp.gram(factors["user"], num_threads=1)
    gram = (time.perf_counter() - start) / data.shape[0]
    return (seconds["user"] - per_row * data.shape[0]) / data.nnz, per_row, gram


def shipping_rate(client, rows: int, k: int, repeats: int = 3) -> float:
    """Bytes per second of a ``rows x k`` float32 array broadcast to every worker (as a
    half-sweep ships the fixed factors) and gathered back once (as it gathers the solved rows),
    counted once per worker and once for the gather; the best of ``repeats``."""
    array = np.random.default_rng(0).standard_normal((rows, k), dtype=np.float32)
    workers = len(client.scheduler_info()["workers"])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        future = client.scatter(array, broadcast=True, hash=False)
        client.submit(np.copy, future, pure=False).result()
        best = min(best, time.perf_counter() - start)
        del future
    return array.nbytes * (workers + 1) / best


def start_spark(args):
    """``(SparkSession, None)``, or ``(None, why not)``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None, "pyspark is not installed"
    if shutil.which("java") is None and "JAVA_HOME" not in os.environ:
        return None, "Java is not installed"
    try:
        spark = (SparkSession.builder.master("local[2]").appName("mfkit-bench")
                 .config("spark.driver.memory", args.spark_memory)
                 .config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false")
                 .config("spark.sql.execution.arrow.pyspark.enabled", "true")
                 .config("spark.sql.shuffle.partitions", "2").getOrCreate())
    except Exception as error:  # a missing or broken JVM surfaces as many kinds of error
        return None, f"Spark did not start: {error}"
    spark.sparkContext.setLogLevel("ERROR")
    return spark, None


def spark_factors(frame, rows: int, k: int) -> np.ndarray:
    """An ``(id, features)`` DataFrame as a dense array (zeros for ids it lacks)."""
    table = frame.toPandas()
    factors = np.zeros((rows, k), dtype=np.float32)
    if len(table):
        factors[table["id"].to_numpy()] = np.stack(table["features"].to_numpy())
    return factors


def fit_spark(spark, data, args):
    """``(s/iteration, JVM peak MB, user factors, item factors)``."""
    import pandas as pd
    from pyspark.ml.recommendation import ALS as SparkALS

    coo = data.tocoo()
    ratings = spark.createDataFrame(pd.DataFrame({
        "user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32),
        "rating": coo.data.astype(np.float32)})).repartition(2).cache()
    ratings.count()
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    reset_peak(pid)

    def fit(iterations: int):
        als = SparkALS(rank=args.factors, maxIter=iterations, regParam=args.regularization,
                       alpha=args.alpha, implicitPrefs=True, userCol="user", itemCol="item",
                       ratingCol="rating", seed=args.seed)
        start = time.perf_counter()
        model = als.fit(ratings)
        users = spark_factors(model.userFactors, data.shape[0], args.factors)
        items = spark_factors(model.itemFactors, data.shape[1], args.factors)
        return time.perf_counter() - start, users, items

    short, _, _ = fit(args.spark_first)
    long, users, items = fit(args.spark_first + args.spark_extra)
    ratings.unpersist()
    return (long - short) / args.spark_extra, peak_mb(pid), users, items


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--regularization", type=float, default=0.1)
    parser.add_argument("--alpha", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="mfkit fits per row (best)")
    parser.add_argument("--spark-first", type=int, default=2, help="maxIter m of Spark's 1st fit")
    parser.add_argument("--spark-extra", type=int, default=3, help="d: the 2nd fit's m + d")
    parser.add_argument("--spark-memory", default="6g", help="spark.driver.memory")
    parser.add_argument("--no-spark", action="store_true")
    add_json_flag(parser, "distributed")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning, module="pyspark")  # pandas 3

    data = synthetic(args, args.seed)
    print(f"factors={args.factors}, solver=cg, iterations={args.iterations}, "
          f"regularization={args.regularization} (x n per row: exponent 1, as Spark), "
          f"alpha={args.alpha}, mfkit {mfkit.__version__}")
    rows = []
    with threadpool_limits(1, "blas"):
        for workers in (2, 1):
            (seconds, peak, model), dask, rate = single_and_dask(data, args, workers)
            rows.append((f"mfkit ALS.fit, {workers} thread(s)", seconds, f"{peak:.0f} (process)",
                         model.loss(data)))
            seconds, peak, client, model = dask
            rows.append((f"mfkit.distributed.fit_als, LocalCluster {workers} worker(s) x 1 thread",
                         seconds, f"{peak:.0f} per worker (client {client:.0f})",
                         model.loss(data)))
            print(*rows[-2:], sep="\n", flush=True)
            if workers == 2:
                ratio, distributed_two, rate_two = rows[-1][1] / rows[-2][1], rows[-1][1], rate
        reference = model
        per_nonzero, per_row, gram = row_solver_costs(data, args)
    spark, why_not = (None, "--no-spark") if args.no_spark else start_spark(args)
    if spark is not None:
        seconds, peak, users, items = fit_spark(spark, data, args)
        spark.stop()
        theirs = copy.copy(reference)
        theirs.user_factors, theirs.item_factors = users, items
        rows.append((f"Spark MLlib ALS, local[2] (maxIter {args.spark_first + args.spark_extra})",
                     seconds, f"{peak:.0f} (JVM)", theirs.loss(data)))

    print("\n| fit | s/iteration | peak memory MB | final loss (ALS.loss) |")
    print("|---|---:|---:|---:|")
    for name, seconds, peak, loss in rows:
        print(f"| {name} | {seconds:.3f} | {peak} | {loss:.6g} |")
    print(f"\nrow solver, 1 thread: {per_nonzero * 1e9:.1f} ns per nonzero + "
          f"{per_row * 1e6:.2f} us per row; gram {gram * 1e9:.0f} ns per row; "
          f"shipping on 2 workers: {rate_two / 1e6:.0f} MB/s "
          f"(broadcast {data.shape[0]} x {args.factors} float32 + gather)")
    print(f"distributed (2 workers) / single machine (2 threads): {ratio:.2f}"
          " (target <= 1.5)")
    if spark is None:
        print(f"Spark skipped: {why_not}")
    else:
        print(f"distributed (2 workers) / Spark local[2]: {distributed_two / rows[-1][1]:.3f}"
              " (target <= 0.1)")
    write_json(args.json, [dict(fit=name, seconds_per_iteration=seconds, peak_memory_mb=peak,
                                final_loss=loss) for name, seconds, peak, loss in rows],
               data=f"synthetic {args.users} x {args.items}, density {args.density}",
               factors=args.factors)


if __name__ == "__main__":
    main()
