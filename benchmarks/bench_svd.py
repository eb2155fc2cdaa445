"""mfkit.SVD: fit speed and subspace accuracy against scikit-learn's ``randomized_svd``, and
ranking quality on Amazon Beauty.

Speed (default): both factorize the seeded synthetic power-law matrix from
``mfkit.datasets.synthetic`` (float32 for both: scikit-learn keeps the input dtype) at the same
rank, the same number of power iterations and at least the same oversampling (scikit-learn's
``n_oversamples=10``; mfkit rounds its basis up to whole 16-column chunks). mfkit is
``SVD(user_exponent=0, item_exponent=0)``, i.e. PureSVD of the raw matrix, and its fit time
includes everything ``fit`` does (checks, transposition, the user factors). Accuracy: for an
orthonormal basis V of k right singular vectors, ``‖R V‖_F²`` is at most Σ_{i≤k} σ_i² (Ky Fan),
so the larger value is the more accurate subspace; both are evaluated the same way, in float64.
Runs alternate the two libraries, each after a short pause; the medians are reported.

    python benchmarks/bench_svd.py                       # 100k x 20k, ~2M nonzeros, k=512
    python benchmarks/bench_svd.py --factors 128 --repeats 5

Quality (``--quality``): fit on Amazon Beauty's train split and evaluate Recall@20 / nDCG@20 on
valid (``--split valid``; full ranking, training items excluded; the top 20 from ``recommend``, the
metrics as ``mfkit.evaluation`` defines them, ``--check`` computes them with it too), or fit
on train+valid and evaluate on test (``--split test``), for each configuration of ``--configs``
(a Python list of dicts of ``SVD`` arguments; ``item_item=w`` is short for
``item_item_weight=w``, GF-CF's linear filter w·r_u ŘᵀŘ, Ř = D_U^{-½} R D_I^{-½}).

    python benchmarks/bench_svd.py --quality --split valid
    python benchmarks/bench_svd.py --quality --split test --configs "[dict(factors=256)]"
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import mfkit

from common import add_data_flags, synthetic

BEAUTY = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon-beauty"

DEFAULT_CONFIGS = """[
    dict(factors=256, user_exponent=0.5, item_exponent=0.5),
    dict(factors=256, user_exponent=0.0, item_exponent=0.0),
]"""


def captured_energy(matrix, V) -> float:
    """‖R V‖_F² in float64 for a basis V (items × k), orthonormalized first."""
    Q, _ = np.linalg.qr(np.asarray(V, dtype=np.float64))
    return float(np.linalg.norm(matrix.astype(np.float64) @ Q) ** 2)


def speed(args):
    from sklearn.utils.extmath import randomized_svd
    from threadpoolctl import threadpool_limits

    matrix = synthetic(args, seed=0).astype(np.float32)
    k, steps = args.factors, args.power_iterations
    mfkit_steps = args.mfkit_power_iterations or steps

    def run_mfkit():
        model = mfkit.SVD(factors=k, user_exponent=0.0, item_exponent=0.0,
                          power_iterations=mfkit_steps, oversampling=10, random_state=0,
                          num_threads=args.threads)
        return model.fit(matrix, show_progress=False).item_projection

    def run_sklearn():
        with threadpool_limits(args.threads):
            _, _, Vt = randomized_svd(matrix, k, n_oversamples=10, n_iter=steps,
                                      random_state=0)
        return Vt.T

    times = {"mfkit": [], "sklearn": []}
    bases = {}
    for _ in range(args.repeats):
        for name, run in (("mfkit", run_mfkit), ("sklearn", run_sklearn)):
            time.sleep(0.3)
            start = time.perf_counter()
            bases[name] = run()
            times[name].append(time.perf_counter() - start)
    energy = {name: captured_energy(matrix, V) for name, V in bases.items()}
    mf, sk = (statistics.median(times[name]) for name in ("mfkit", "sklearn"))
    print(f"k={k}, power iterations: mfkit {mfkit_steps}, sklearn {steps}; threads={args.threads}, "
          f"{args.repeats} runs each")
    print(f"  mfkit.SVD.fit           median {mf:7.2f} s  (runs {fmt(times['mfkit'])})")
    print(f"  sklearn randomized_svd  median {sk:7.2f} s  (runs {fmt(times['sklearn'])})")
    print(f"  time ratio mfkit / sklearn: {mf / sk:.3f}")
    print(f"  ‖R V‖_F²: mfkit {energy['mfkit']:.6g}, sklearn {energy['sklearn']:.6g} "
          f"(relative difference {(energy['mfkit'] - energy['sklearn']) / energy['sklearn']:+.2e})")


def fmt(values):
    return ", ".join(f"{v:.2f}" for v in values)


def load_split(name):
    """(user, item) pairs of one split file."""
    return np.loadtxt(BEAUTY / f"{name}.txt", dtype=np.int64, usecols=(0, 1))


def beauty(split):
    """(train, evaluated) users × items matrices of Amazon Beauty for ``split``."""
    parts = {name: load_split(name) for name in ("train", "valid", "test")}
    n = max(int(p[:, 0].max()) for p in parts.values()) + 1
    m = max(int(p[:, 1].max()) for p in parts.values()) + 1

    def matrix(*names):
        pairs = np.concatenate([parts[name] for name in names])
        result = sp.csr_matrix((np.ones(len(pairs), np.float32), (pairs[:, 0], pairs[:, 1])),
                               shape=(n, m))
        result.data[:] = 1  # binary, whatever the duplicates
        return result

    if split == "valid":
        return matrix("train"), matrix("valid")
    return matrix("train", "valid"), matrix("test")


def top_metrics(ranked, test, users, K):
    """Recall@K and nDCG@K of ``ranked`` (ids of each user of ``users``, best first) against
    the stored items of ``test`` (the definitions of ``mfkit.evaluation``)."""
    n_items = test.shape[1]
    relevant = np.diff(test.indptr)[users]
    test_keys = np.repeat(np.arange(test.shape[0]), np.diff(test.indptr)) * n_items + test.indices
    hits = np.isin(users[:, None] * n_items + ranked, test_keys) & (ranked >= 0)
    discounts = 1 / np.log2(np.arange(2, K + 2))
    ideal = np.cumsum(discounts)[np.minimum(relevant, K) - 1]
    return {"recall": float(np.mean(hits.sum(axis=1) / relevant)),
            "ndcg": float(np.mean((hits * discounts).sum(axis=1) / ideal))}


def ranked_items(model, train, users, K):
    """The top ``K`` items of each user, training items excluded, from ``model.recommend``
    (the fused ranking kernel; with ``item_item_weight`` > 0 the model's own scoring path)."""
    blocks = [users[start:start + 4096] for start in range(0, len(users), 4096)]
    return np.concatenate([model.recommend(block, train[block], N=K)[0] for block in blocks])


def quality(args):
    if not BEAUTY.exists():
        raise SystemExit(f"Amazon Beauty not found in {BEAUTY} (see ../shared/data/README.md)")
    train, evaluated = beauty(args.split)
    print(f"Amazon Beauty, fit on {'train' if args.split == 'valid' else 'train+valid'} "
          f"({train.nnz} interactions), evaluated on {args.split} ({evaluated.nnz}), K=20")
    for config in eval(args.configs):  # noqa: S307 (the command line's own argument)
        config = dict(config)
        weight = config.pop("item_item", 0.0)
        model = mfkit.SVD(**{"random_state": 0, "item_item_weight": weight, **config})
        start = time.perf_counter()
        model.fit(train, show_progress=False)
        seconds = time.perf_counter() - start
        users = np.flatnonzero(np.diff(evaluated.indptr))
        metrics = top_metrics(ranked_items(model, train, users, 20), evaluated, users, 20)
        extra = f", item_item={weight}" if weight else ""
        print(f"  {config}{extra}: recall@20 {metrics['recall']:.4f}  "
              f"ndcg@20 {metrics['ndcg']:.4f}  (fit {seconds:.1f} s)", flush=True)
        if args.check and not weight:  # the same numbers by mfkit.evaluation (slower: all metrics)
            reference = mfkit.evaluation.ranking_metrics(model, train, evaluated, K=20)
            print(f"    mfkit.evaluation: recall@20 {reference['recall']:.4f}  "
                  f"ndcg@20 {reference['ndcg']:.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_data_flags(parser)
    parser.add_argument("--factors", type=int, default=512)
    parser.add_argument("--power-iterations", type=int, default=7,
                        help="both libraries (scikit-learn's 'auto' is 7 below 10%% of the "
                             "smaller side)")
    parser.add_argument("--mfkit-power-iterations", type=int, default=0,
                        help="mfkit's power steps when not --power-iterations (scikit-learn's "
                             "final B = QᵀA adds half a step: its n_iter=7 applies (AᵀA)^7.5)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quality", action="store_true")
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS)
    parser.add_argument("--check", action="store_true",
                        help="also evaluate through mfkit.evaluation.ranking_metrics")
    args = parser.parse_args()
    quality(args) if args.quality else speed(args)


if __name__ == "__main__":
    main()
