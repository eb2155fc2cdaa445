"""The ``mfkit`` command line (also ``python -m mfkit``)."""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def _top_n(scores: np.ndarray, exclude: np.ndarray, n: int):
    """Best ``n`` items by score, excluding ``exclude``; sorted best first."""
    scores = scores.astype(np.float64)
    scores[exclude] = -np.inf
    n = min(n, int(np.isfinite(scores).sum()))
    best = np.argpartition(-scores, n - 1)[:n] if n else np.array([], dtype=np.int64)
    best = best[np.argsort(-scores[best], kind="stable")]
    return best, scores[best]


def _demo(args) -> int:
    from . import ALS, datasets

    model = ALS(factors=args.factors, iterations=args.iterations, random_state=args.seed,
                calculate_training_loss=True)
    model._validated_params()  # bad flags fail before any work
    start = time.perf_counter()
    user_items = datasets.synthetic(n_users=args.users, n_items=args.items, density=0.02,
                                    seed=args.seed)
    print(f"mfkit demo: synthetic data, {user_items.shape[0]} users x {user_items.shape[1]} items, "
          f"{user_items.nnz} interactions (seed {args.seed})")
    model.fit(user_items, show_progress=not args.quiet)
    print(f"ALS: {args.iterations} iterations, objective {model.loss_history[0]:.6g} -> "
          f"{model.loss_history[-1]:.6g}")
    for user in range(min(3, user_items.shape[0])):
        liked = user_items.indices[user_items.indptr[user]:user_items.indptr[user + 1]]
        items, scores = _top_n(model.item_factors @ model.user_factors[user], liked, 10)
        shown = ", ".join(f"{i} ({s:.2f})" for i, s in zip(items, scores))
        print(f"user {user} ({len(liked)} past items) top-10: {shown}")
    print(f"done in {time.perf_counter() - start:.1f}s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="mfkit", description="Matrix-factorization recommenders.")
    parser.add_argument("--version", action="version", version=f"mfkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser("demo", help="fit ALS on built-in synthetic data and show top-10s")
    demo.add_argument("--users", type=int, default=2000, help="synthetic users (default 2000)")
    demo.add_argument("--items", type=int, default=1000, help="synthetic items (default 1000)")
    demo.add_argument("--factors", type=int, default=32, help="latent factors (default 32)")
    demo.add_argument("--iterations", type=int, default=10, help="ALS iterations (default 10)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError) as error:
        print(f"mfkit {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
