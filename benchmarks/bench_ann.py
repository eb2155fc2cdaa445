"""Approximate serving (model.build_index, recommend(approximate=True)): recall@10 against the
exact answer and single-query throughput for a sweep of each backend's accuracy knob, against
mfkit's exact path and implicit's ANN model classes (where they install).

The item factors are synthetic: ``--items`` rows of ``--factors`` around ``--clusters`` random
centres (real item embeddings are clustered; pure noise, ``--clusters 0``, is the hardest case
for a graph), with lengths spread log-uniformly over ``--spread`` (10: a decade) so that inner
products and cosines differ. Users are drawn the same way. Every call serves one user
(``N=10``, nothing filtered, one thread), the way an online service asks; the implementations
are alternated within each round and the median of ``--rounds`` rounds is reported.

    python benchmarks/bench_ann.py --items 1000000 --json benchmarks/results/ann.json
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import mfkit

N = 10


def synthetic_factors(rows: int, factors: int, clusters: int, spread: float, rng) -> np.ndarray:
    """Rows around ``clusters`` centres (unit-variance noise around centres of twice its
    spread), lengths scaled by a log-uniform factor in [1, spread]."""
    vectors = rng.standard_normal((rows, factors), dtype=np.float32)
    if clusters:
        centres = 2 * rng.standard_normal((clusters, factors), dtype=np.float32)
        vectors += centres[rng.integers(0, clusters, rows)]
    vectors *= np.exp(rng.uniform(0, np.log(spread), (rows, 1))).astype(np.float32)
    return vectors


def recall_at(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(np.intersect1d(f, e)) / len(e) for f, e in zip(found, exact)]))


def single_queries(serve, users) -> tuple[float, np.ndarray]:
    """``(queries per second, ids)`` of ``serve(user)`` for each user in turn."""
    found = []
    start = time.perf_counter()
    for user in users:
        found.append(serve(int(user)))
    return len(users) / (time.perf_counter() - start), np.array(found)


def implicit_faiss(model, args):
    """``((implicit's FaissModel over the same factors, build seconds), None)`` (an IVF index
    with the inner-product metric), or ``(None, reason)``."""
    try:
        import implicit.ann.faiss as implicit_faiss
        import implicit.cpu.als
    except ImportError as exc:
        return None, f"implicit / faiss not importable: {exc}"
    als = implicit.cpu.als.AlternatingLeastSquares(factors=args.factors, num_threads=1,
                                                   random_state=0)
    als.user_factors = model.user_factors
    als.item_factors = model.item_factors
    als.fit = lambda *args, **kwargs: None  # FaissModel.fit fits its model first: keep these
    start = time.perf_counter()
    try:
        ann = implicit_faiss.FaissModel(als, approximate_similar_items=False,
                                        nlist=args.implicit_nlist, nprobe=1, use_gpu=False)
        ann.fit(None, show_progress=False)
    except Exception as exc:  # any failure is reported as a skip reason
        return None, f"implicit FaissModel failed: {type(exc).__name__}: {exc}"
    return (ann, time.perf_counter() - start), None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--clusters", type=int, default=1000)
    parser.add_argument("--spread", type=float, default=10.0,
                        help="item and user lengths log-uniform in [1, spread]")
    parser.add_argument("--queries", type=int, default=300, help="users served one at a time")
    parser.add_argument("--exact-queries", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--voyager-ef", type=int, nargs="*", default=[10, 20, 40, 80, 160, 320])
    parser.add_argument("--faiss-ef-search", type=int, nargs="*",
                        default=[16, 32, 64, 128, 256])
    parser.add_argument("--faiss-nprobe", type=int, nargs="*", default=[5, 10, 20, 50],
                        help="the sweep when --faiss-index is an IVF index")
    parser.add_argument("--faiss-index", default="HNSW32",
                        help="a faiss index_factory string (e.g. IVF4096,Flat)")
    parser.add_argument("--indexes", nargs="*",
                        default=["voyager", "voyager native", "faiss", "faiss native"],
                        help="mfkit indexes to build (native: mips='native')")
    parser.add_argument("--implicit-nlist", type=int, default=1000)
    parser.add_argument("--implicit-nprobe", type=int, nargs="*", default=[5, 10, 20, 50])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the sweep here")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    model = mfkit.ALS(factors=args.factors, num_threads=1)
    model.item_factors = synthetic_factors(args.items, args.factors, args.clusters, args.spread,
                                           rng)
    model.user_factors = synthetic_factors(args.users, args.factors, args.clusters, args.spread,
                                           rng)
    users = rng.choice(args.users, size=min(args.queries, args.users), replace=False)
    print(f"{args.items} items x {args.factors} factors ({args.clusters} clusters, lengths "
          f"spread x{args.spread:g}), "
          f"{len(users)} single-user queries, N={N}, 1 serving thread; rounds={args.rounds}")
    exact, _ = model.recommend(users, N=N, filter_already_liked_items=False)

    builds = {}
    for name, backend, params in (
            ("voyager", "voyager", {"M": 16, "ef_construction": 200}),
            ("voyager native", "voyager", {"M": 16, "ef_construction": 200, "mips": "native"}),
            ("faiss", "faiss", {"index": args.faiss_index, "ef_construction": 200}),
            ("faiss native", "faiss", {"index": args.faiss_index, "ef_construction": 200,
                                       "mips": "native"})):
        if name not in args.indexes:
            continue
        start = time.perf_counter()
        model.num_threads = args.build_threads
        try:
            model.build_index(backend, serve="recommend", **params)
        except ImportError as exc:
            print(f"{name}: skipped ({exc})")
            continue
        finally:
            model.num_threads = 1
        builds[name] = (model.ann_indexes, time.perf_counter() - start)
        print(f"{name} {params}: built in {builds[name][1]:.1f}s", flush=True)
    implicit_model, reason = implicit_faiss(model, args)
    if reason:
        print(f"implicit: skipped ({reason})")
    else:
        print(f"implicit FaissModel(nlist={args.implicit_nlist}): built in "
              f"{implicit_model[1]:.1f}s")

    def exact_serve(user):
        return model.recommend(user, N=N, filter_already_liked_items=False)[0]

    def implicit_serve(user):
        return implicit_model[0].recommend(user, None, N=N, filter_already_liked_items=False)[0]

    def approximate_serve(user):
        return model.recommend(user, N=N, filter_already_liked_items=False, approximate=True)[0]

    configs = [("mfkit exact", None, None, None)]
    for name in builds:
        if name.startswith("voyager"):
            knob, values = "ef", args.voyager_ef
        elif "IVF" in args.faiss_index:
            knob, values = "nprobe", args.faiss_nprobe
        else:
            knob, values = "ef_search", args.faiss_ef_search
        configs += [(f"mfkit {name}", name, knob, value) for value in values]
    if not reason:
        configs += [("implicit faiss", "implicit", "nprobe", v) for v in args.implicit_nprobe]

    rates = {config: [] for config in configs}
    recalls = {}
    for _ in range(args.rounds):
        for config in configs:  # alternated within each round
            name, backend, knob, value = config
            if backend is None:
                qps, _ = single_queries(exact_serve, users[:args.exact_queries])
                rates[config].append(qps)
                continue
            if backend == "implicit":
                implicit_model[0].recommend_index.nprobe = value
                serve = implicit_serve
            else:
                model.ann_indexes = builds[backend][0]
                model.ann_indexes["recommend"].set_search_params(**{knob: value})
                serve = approximate_serve
            qps, found = single_queries(serve, users)
            rates[config].append(qps)
            recalls[config] = recall_at(found, exact)

    exact_qps = float(np.median(rates[configs[0]]))
    records = []
    print(f"\n{'implementation':<22} {'knob':>14} {'recall@10':>10} {'queries/s':>10} "
          f"{'x exact':>8}")
    for config in configs:
        name, backend, knob, value = config
        qps = float(np.median(rates[config]))
        recall = 1.0 if backend is None else recalls[config]
        knob_text = "" if knob is None else f"{knob}={value}"
        print(f"{name:<22} {knob_text:>14} {recall:>10.3f} {qps:>10.0f} {qps / exact_qps:>8.1f}")
        build = None
        if backend in builds:
            build = builds[backend][1]
        elif backend == "implicit":
            build = implicit_model[1]
        records.append({"implementation": name, "knob": knob, "value": value,
                        "recall_at_10": recall, "queries_per_second": qps,
                        "speedup_vs_exact": qps / exact_qps, "build_seconds": build})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"items": args.items, "factors": args.factors,
                                         "clusters": args.clusters, "spread": args.spread,
                                         "N": N,
                                         "queries": len(users), "rounds": args.rounds,
                                         "results": records}, indent=1) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
