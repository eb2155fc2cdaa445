"""The ``mfkit`` command line (also ``python -m mfkit``).

    mfkit demo [--data ratings.csv]          fit, evaluate, recommend and explain, end to end
    mfkit fit DATA -o model.npz              fit a model on a CSV and save it
    mfkit recommend model.npz --user ID      top-N for a user, raw ids in and out
    mfkit evaluate DATA --k 10               ranking metrics on a seeded held-out split

Bad files, columns or arguments print one line on stderr and exit with status 2.
"""
from __future__ import annotations

import argparse
import csv
import sys
import time

import numpy as np
import scipy.sparse as sp

from . import datasets, models
from ._persistence import load_model
from ._version import __version__
from .evaluation import leave_k_out_split, ranking_metrics

# Every model parameter with a flag: parameter -> (flag, type, help).
_FLAGS = {
    "factors": ("--factors", int, "latent factors"),
    "iterations": ("--iterations", int, "training iterations / epochs"),
    "regularization": ("--regularization", float, "L2 regularization λ"),
    "num_threads": ("--threads", int, "threads (0 = all cores)"),
    "random_state": ("--seed", int, "random seed"),
    "alpha": ("--alpha", float, "ALS confidence slope: c = 1 + alpha·r"),
    "solver": ("--solver", str, "ALS: cg or cholesky; explicit: sgd or als"),
    "cg_steps": ("--cg-steps", int, "ALS conjugate-gradient steps per row"),
    "learning_rate": ("--learning-rate", float, "BPR / explicit SGD step size"),
    "negative_sampling": ("--negative-sampling", str, "BPR negatives: uniform or popularity"),
}
# The models the command line offers: name -> (class name in mfkit.models, its flags).
_COMMON = ["factors", "iterations", "regularization", "num_threads", "random_state"]
_MODELS = {
    "als": ("ALS", _COMMON + ["alpha", "solver", "cg_steps"]),
    "bpr": ("BPR", _COMMON + ["learning_rate", "negative_sampling"]),
    "explicit": ("ExplicitMF", _COMMON + ["learning_rate", "solver"]),
}


class CommandError(Exception):
    """A problem to report on one line (exit status 2)."""


def _add_model_flags(parser):
    parser.add_argument("--model", default="als", choices=sorted(_MODELS),
                        help="model to fit (default als)")
    group = parser.add_argument_group("model parameters (default: the model's own)")
    for dest, (flag, kind, text) in _FLAGS.items():
        group.add_argument(flag, dest=dest, type=kind, default=None, help=text)


def _make_model(args):
    class_name, params = _MODELS[args.model]
    given = {dest: getattr(args, dest) for dest in _FLAGS if getattr(args, dest) is not None}
    for dest in given:
        if dest not in params:
            raise CommandError(f"{_FLAGS[dest][0]} does not apply to --model {args.model}")
    model = getattr(models, class_name)(**given)
    model._validate_params()  # bad flags fail before any work
    return model


def _add_data_flags(parser, required=True):
    if required:
        parser.add_argument("data", help="CSV file of user,item[,value] rows with a header")
    parser.add_argument("--user-col", help="user id column (default: the first)")
    parser.add_argument("--item-col", help="item id column (default: the second)")
    parser.add_argument("--value-col", help="value column (default: the third, if any)")
    parser.add_argument("--min-value", type=float,
                        help="keep only rows with value >= this (e.g. 4 for star ratings)")


def _load_data(args):
    """The CSV named by ``args.data`` as an Interactions, columns detected from the header."""
    try:
        with open(args.data, newline="") as file:
            header = next(csv.reader(file), None)
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"cannot read {args.data}: {error}") from None
    if not header or len(header) < 2:
        raise CommandError(f"{args.data}: expected a header with at least user and item columns")
    user_col = args.user_col or header[0]
    item_col = args.item_col or header[1]
    value_col = args.value_col or (header[2] if len(header) > 2 else None)
    data = datasets.from_csv(args.data, user_col=user_col, item_col=item_col, value_col=value_col)
    if args.min_value is not None:
        matrix = data.matrix.copy()
        matrix.data[matrix.data < args.min_value] = 0
        matrix.eliminate_zeros()
        if matrix.nnz == 0:
            raise CommandError(f"no rows of {args.data} have a value >= {args.min_value}")
        data = datasets.Interactions(matrix=matrix, user_ids=data.user_ids,
                                     item_ids=data.item_ids, timestamps=None)
    return data


def _synthetic_data(args):
    matrix = datasets.synthetic(n_users=args.users, n_items=args.items, density=0.02,
                                seed=args.split_seed)
    return datasets.Interactions(matrix=matrix, user_ids=np.arange(matrix.shape[0]),
                                 item_ids=np.arange(matrix.shape[1]), timestamps=None)


def _print_metrics(metrics: dict, K: int):
    names = [("precision", "precision"), ("recall", "recall"), ("map", "MAP"),
             ("ndcg", "nDCG"), ("hit_rate", "hit rate"), ("mrr", "MRR")]
    print(f"  {'metric':<14}{'value':>8}")
    for key, label in names:
        print(f"  {label + f'@{K}':<14}{metrics[key]:>8.4f}")
    print(f"  {'AUC':<14}{metrics['auc']:>8.4f}")
    print(f"  ({metrics['users']} users with held-out items)")


def _split_and_fit(args, data, show_progress):
    train, test = leave_k_out_split(data.matrix, K=args.holdout, random_state=args.split_seed)
    print(f"split: {args.holdout} held-out interactions per user (seed {args.split_seed}): "
          f"{train.nnz} train, {test.nnz} test")
    model = _make_model(args)
    start = time.perf_counter()
    model.fit(datasets.Interactions(matrix=train, user_ids=data.user_ids, item_ids=data.item_ids,
                                    timestamps=None), show_progress=show_progress)
    print(f"{type(model).__name__} fitted in {time.perf_counter() - start:.2f}s "
          f"({model.user_factors.shape[1]} factors)")
    return model, train, test


def _demo(args) -> int:
    start = time.perf_counter()
    _make_model(args)  # bad flags fail before any work
    data = _load_data(args) if args.data else _synthetic_data(args)
    source = args.data or f"built-in synthetic data (seed {args.split_seed})"
    print(f"mfkit demo: {source}: {data.matrix.shape[0]} users x {data.matrix.shape[1]} items, "
          f"{data.matrix.nnz} interactions")
    model, train, test = _split_and_fit(args, data, show_progress=not args.quiet)
    print("\nranking quality on the held-out interactions (train items excluded):")
    _print_metrics(ranking_metrics(model, train, test, K=args.k), args.k)

    print("\ntop-10 for a few users (items by raw id, score), and what drove the first one:")
    users = np.flatnonzero(np.diff(train.indptr) > 0)[:3]
    ids, scores = model.recommend(users, train[users], N=10)
    for row, user in enumerate(users):
        found = ids[row] >= 0
        shown = ", ".join(f"{data.item_ids[i]} ({s:.2f})"
                          for i, s in zip(ids[row][found], scores[row][found]))
        print(f"user {data.user_ids[user]}: {shown}")
        if hasattr(model, "explain") and found.any():
            _, contributions, _ = model.explain(user, train[user], int(ids[row][0]), N=3)
            because = ", ".join(f"{data.item_ids[j]} ({c:+.2f})" for j, c in contributions)
            print(f"  {data.item_ids[ids[row][0]]} because of past items: {because}")
    print(f"\ndone in {time.perf_counter() - start:.1f}s")
    return 0


def _fit(args) -> int:
    model = _make_model(args)
    data = _load_data(args)
    start = time.perf_counter()
    model.fit(data, show_progress=not args.quiet)
    model.save(args.output)
    print(f"fitted {type(model).__name__} on {data.matrix.shape[0]} users x "
          f"{data.matrix.shape[1]} items ({data.matrix.nnz} interactions) in "
          f"{time.perf_counter() - start:.1f}s; saved to {args.output}")
    return 0


def _raw_to_index(raw: str, ids, what: str) -> int:
    """Index of the raw id typed on the command line (ids may be ints or strings)."""
    if ids is None:  # a model fitted on a plain matrix: ids are row numbers
        if not raw.lstrip("-").isdigit():
            raise CommandError(f"--{what} must be an integer index for this model, got {raw!r}")
        return int(raw)
    if ids.dtype.kind in "iu":
        matches = np.flatnonzero(ids == int(raw)) if raw.lstrip("-").isdigit() else []
    else:
        matches = np.flatnonzero(ids == raw)
    if len(matches) == 0:
        raise CommandError(f"unknown {what} id {raw!r}")
    return int(matches[0])


def _recommend(args) -> int:
    model = load_model(args.model_file)
    user_ids = getattr(model, "user_ids", None)
    item_ids = getattr(model, "item_ids", None)
    user = _raw_to_index(args.user, user_ids, "user")
    if not 0 <= user < len(model.user_factors):
        raise CommandError(f"user index {user} out of range (the model has "
                           f"{len(model.user_factors)} users)")
    history = None
    if args.data:
        data = _load_data(args)
        row = data.matrix[_raw_to_index(args.user, data.user_ids, "user")]
        known = {raw: i for i, raw in enumerate(item_ids)} if item_ids is not None else None
        columns = [known.get(data.item_ids[j]) if known else j for j in row.indices]
        keep = [c for c in columns if c is not None and c < len(model.item_factors)]
        history = sp.csr_matrix((np.ones(len(keep), dtype=np.float32),
                                 (np.zeros(len(keep), dtype=np.int64), keep)),
                                shape=(1, len(model.item_factors)))
    ids, scores = model.recommend(user, history, N=args.n,
                                  filter_already_liked_items=history is not None)
    if history is None:
        print("(no --data given: items the user already has are not filtered)", file=sys.stderr)
    for rank, (item, score) in enumerate(zip(ids, scores), start=1):
        raw = item_ids[item] if item_ids is not None else item
        print(f"{rank}\t{raw}\t{score:.6f}")
    return 0


def _evaluate(args) -> int:
    data = _load_data(args)
    _make_model(args)
    model, train, test = _split_and_fit(args, data, show_progress=not args.quiet)
    _print_metrics(ranking_metrics(model, train, test, K=args.k), args.k)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mfkit", description="Matrix-factorization recommenders.",
                                     epilog="Run 'mfkit COMMAND --help' for a command's flags.")
    parser.add_argument("--version", action="version", version=f"mfkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def evaluation_flags(p):
        p.add_argument("--k", type=int, default=10, help="cut-off K of the metrics (default 10)")
        p.add_argument("--holdout", type=int, default=5,
                       help="held-out interactions per user (default 5)")
        p.add_argument("--split-seed", type=int, default=0, help="seed of the split (default 0)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")

    demo = commands.add_parser("demo", help="fit, evaluate, recommend and explain, end to end",
                               description="Without --data: built-in seeded synthetic data.")
    demo.add_argument("--data", help="CSV of user,item[,value] rows (default: synthetic data)")
    demo.add_argument("--users", type=int, default=2000, help="synthetic users (default 2000)")
    demo.add_argument("--items", type=int, default=1000, help="synthetic items (default 1000)")
    _add_data_flags(demo, required=False)
    evaluation_flags(demo)
    _add_model_flags(demo)
    demo.set_defaults(run=_demo)

    fit = commands.add_parser("fit", help="fit a model on a CSV and save it")
    _add_data_flags(fit)
    fit.add_argument("-o", "--output", required=True, help="model file to write (.npz)")
    fit.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_model_flags(fit)
    fit.set_defaults(run=_fit)

    recommend = commands.add_parser("recommend", help="top-N items for a user (raw ids)")
    recommend.add_argument("model_file", help="model written by 'mfkit fit' (.npz)")
    recommend.add_argument("--user", required=True, help="raw user id")
    recommend.add_argument("-n", type=int, default=10, help="number of items (default 10)")
    recommend.add_argument("--data", help="the CSV the model was fitted on, to leave out "
                                          "items the user already has")
    _add_data_flags(recommend, required=False)
    recommend.set_defaults(run=_recommend)

    evaluate = commands.add_parser("evaluate", help="ranking metrics on a held-out split")
    _add_data_flags(evaluate)
    evaluation_flags(evaluate)
    _add_model_flags(evaluate)
    evaluate.set_defaults(run=_evaluate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.run(args)
    except (CommandError, ValueError, TypeError, KeyError, OSError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"mfkit {args.command}: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
