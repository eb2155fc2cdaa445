"""Runtime SIMD dispatch: each compiled level, and the dispatched choice against a native build.

Times ALS (CG and Cholesky) and BPR on the seeded synthetic power-law matrix, once per variant:
every level of the installed mfkit (``MFKIT_SIMD=baseline|avx2|avx512``; "dispatched" is what
import picks by itself) and, with ``--native DIR``, an mfkit compiled with ``-march=native``
installed into DIR, e.g.

    pip install --no-deps --no-build-isolation -C cmake.define.MFKIT_NATIVE=ON \\
        --target /tmp/mfkit-native .
    python benchmarks/bench_simd.py --native /tmp/mfkit-native

Every variant runs in its own subprocess (two builds of mfkit._core cannot share one process),
the variants alternate within each repeat so that all see the same machine noise, and the best
repeat counts. Prints seconds per ALS iteration / BPR epoch (median within a fit) and the ratio
to the native build (or to the baseline level without ``--native``).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

TASKS = ("als-cg", "als-cholesky", "bpr")


def worker(args) -> dict:
    """Runs in a subprocess: time the tasks with whatever mfkit the environment provides."""
    from threadpoolctl import threadpool_limits

    import mfkit
    from mfkit import _simd

    data = mfkit.datasets.synthetic(args.users, args.items, args.density, seed=args.seed)
    results = {"level": _simd.level(), "native": mfkit._core.native_build}

    def median_time(model):
        times = []
        model.fit(data, show_progress=False,
                  callback=lambda iteration, elapsed, info: times.append(elapsed))
        return statistics.median(times)

    with threadpool_limits(1, "blas"):
        for solver in ("cg", "cholesky"):
            if f"als-{solver}" in args.tasks:
                results[f"als-{solver}"] = median_time(mfkit.ALS(
                    factors=args.factors, solver=solver, iterations=args.iterations,
                    num_threads=args.threads, random_state=args.seed))
        if "bpr" in args.tasks:
            results["bpr"] = median_time(mfkit.BPR(
                factors=args.factors, iterations=args.bpr_epochs, num_threads=args.threads,
                random_state=args.seed))
    return results


def run_variant(name: str, args) -> dict:
    env = dict(os.environ)
    if name == "native":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [args.native, env.get("PYTHONPATH")]))
        env.pop("MFKIT_SIMD", None)
    elif name == "dispatched":
        env.pop("MFKIT_SIMD", None)
    else:
        env["MFKIT_SIMD"] = name
    command = [sys.executable, __file__, "--worker", "--users", str(args.users), "--items",
               str(args.items), "--density", str(args.density), "--factors", str(args.factors),
               "--iterations", str(args.iterations), "--bpr-epochs", str(args.bpr_epochs),
               "--threads", str(args.threads),
               "--seed", str(args.seed), "--tasks", *args.tasks]
    output = subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--density", type=float, default=0.001)
    parser.add_argument("--factors", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--bpr-epochs", type=int, default=20,
                        help="BPR epochs are short (~0.1 s): more of them steady the median")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--native", help="directory holding an mfkit built with MFKIT_NATIVE=ON")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        args.factors = args.factors[0]
        print(json.dumps(worker(args)))
        return

    from mfkit import _simd

    variants = ["dispatched", *_simd.supported_levels()] + (["native"] if args.native else [])
    factor_counts = args.factors
    for factors in factor_counts:
        args.factors = factors
        report(variants, args)


def report(variants, args):
    best: dict[str, dict] = {}
    for _ in range(args.repeats):
        for name in variants:
            result = run_variant(name, args)
            if name == "native" and not result["native"]:
                sys.exit(f"--native {args.native}: that mfkit is not a native build")
            kept = best.setdefault(name, result)
            for task in args.tasks:
                kept[task] = min(kept[task], result[task])

    reference = "native" if args.native else "baseline"
    print(f"{args.users} x {args.items}, density {args.density}, factors {args.factors}, "
          f"{args.threads} threads, {args.iterations} ALS iterations, {args.bpr_epochs} BPR "
          f"epochs, best of {args.repeats}; ratios to {reference} "
          f"(load average {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')})\n")
    headers = {"als-cg": "ALS CG s/iter", "als-cholesky": "ALS Cholesky s/iter",
               "bpr": "BPR s/epoch"}
    print("| variant | level | " + " | ".join(headers[task] for task in args.tasks) + " |")
    print("|---|---|" + "---:|" * len(args.tasks))
    for name in variants:
        row = best[name]
        cells = [f"{row[task]:.3f} ({row[task] / best[reference][task]:.2f})"
                 for task in args.tasks]
        print(f"| {name} | {row['level']} | " + " | ".join(cells) + " |", flush=True)
    print()


if __name__ == "__main__":
    main()
