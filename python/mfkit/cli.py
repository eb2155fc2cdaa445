"""The ``mfkit`` command line (also ``python -m mfkit``).

    mfkit demo [--data ratings.csv]          fit, evaluate, recommend and explain, end to end
    mfkit fit DATA -o model.npz              fit a model on a CSV and save it
    mfkit recommend model.npz --user ID      top-N for a user, raw ids in and out
    mfkit evaluate DATA --k 10               ranking metrics on a seeded held-out split
    mfkit tune DATA --model als --trials 50  tune on a held-out split (--model auto: choose)

Every flag is checked before any work. Bad files, columns or arguments print one line on stderr
naming the flag or file and exit with status 2; so does data that does not match the model.
"""
from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import sys
import time

import numpy as np

from . import _registry, datasets, models, tuning
from ._persistence import load_model
from ._version import __version__
from .evaluation import leave_k_out_split, parse_metric, ranking_metrics

# Every model parameter with a flag: parameter -> (flag, type, help).
_FLAGS = {
    "factors": ("--factors", int, "latent factors"),
    "iterations": ("--iterations", int, "training iterations / epochs"),
    "regularization": ("--regularization", float, "L2 regularization λ"),
    "num_threads": ("--threads", int, "threads (0 = all cores)"),
    "random_state": ("--seed", int, "random seed"),
    "alpha": ("--alpha", float, "ALS confidence slope: c = 1 + alpha·r"),
    "solver": ("--solver", str, "ALS: cg, cholesky or block; explicit: sgd or als"),
    "cg_steps": ("--cg-steps", int, "ALS conjugate-gradient steps per row"),
    "block_size": ("--block-size", int, "ALS block solver: coordinates per block"),
    "learning_rate": ("--learning-rate", float, "BPR / explicit SGD step size"),
    "negative_sampling": ("--negative-sampling", str, "BPR negatives: uniform or popularity"),
}
# The models the command line offers: name -> (class name in mfkit.models, its flags).
_COMMON = ["factors", "iterations", "regularization", "num_threads", "random_state"]
_MODELS = {
    "als": ("ALS", _COMMON + ["alpha", "solver", "cg_steps", "block_size"]),
    "bpr": ("BPR", _COMMON + ["learning_rate", "negative_sampling"]),
    "explicit": ("ExplicitMF", _COMMON + ["learning_rate", "solver"]),
}


class CommandError(Exception):
    """A problem to report on one line (exit status 2)."""


# Flags of the commands themselves that count something: dest -> (flag, smallest value).
_COUNTS = {"k": ("--k", 1), "holdout": ("--holdout", 1), "users": ("--users", 1),
           "items": ("--items", 1), "split_seed": ("--split-seed", 0), "n": ("-n", 1)}
# Delimiters the sniffer chooses from, and the readable names of the odd ones.
_DELIMITERS = ",;\t|"
_DELIMITER_NAMES = {"\\t": "\t", "tab": "\t"}
# Header names (lower case) that name the item id / the name column of a --titles file.
_TITLE_ID_NAMES = ("item", "itemid", "item_id", "movieid", "movie_id", "id")
_TITLE_NAME_NAMES = ("title", "name", "item_name", "label")
_SAMPLE_LINES, _SAMPLE_CHARS = 20, 16384  # what is read to sniff a file's delimiter


def _add_model_flags(parser):
    parser.add_argument("--model", default="als", choices=sorted(_MODELS),
                        help="model to fit (default als)")
    group = parser.add_argument_group("model parameters (default: the model's own)")
    for dest, (flag, kind, text) in _FLAGS.items():
        group.add_argument(flag, dest=dest, type=kind, default=None, help=text)


def _with_flags(message: str, dests) -> str:
    """A model's message with its parameter names replaced by the flags that set them."""
    for dest in dests:
        message = re.sub(rf"\b{dest}\b", _FLAGS[dest][0], message)
    return message


def _make_model(args):
    """The model the flags describe, every flag checked (no fitting)."""
    class_name, params = _MODELS[args.model]
    given = {dest: getattr(args, dest) for dest in _FLAGS if getattr(args, dest) is not None}
    for dest in given:
        if dest not in params:
            raise CommandError(f"{_FLAGS[dest][0]} does not apply to --model {args.model}")
    model = getattr(models, class_name)(**given)
    try:
        model._validate_params()
    except (TypeError, ValueError) as error:
        raise CommandError(_with_flags(str(error), given)) from None
    return model


def _check_flags(args):
    """Every flag of the command, before any work; messages name the flag."""
    for dest, (flag, low) in _COUNTS.items():
        value = getattr(args, dest, None)
        if value is not None and value < low:
            raise CommandError(f"{flag} must be >= {low}, got {value}")
    min_value = getattr(args, "min_value", None)
    if min_value is not None and not math.isfinite(min_value):
        raise CommandError(f"--min-value must be a finite number, got {min_value}")
    delimiter = getattr(args, "delimiter", None)
    if delimiter is not None:
        args.delimiter = _DELIMITER_NAMES.get(delimiter, delimiter)
        if len(args.delimiter) != 1:
            raise CommandError(f"--delimiter must be one character (or \\t), got {delimiter!r}")
    return _make_model(args) if hasattr(args, "model") else None


def _add_data_flags(parser, required=True):
    if required:
        parser.add_argument("data", help="CSV file of user,item[,value] rows with a header")
    parser.add_argument("--user-col", help="user id column (default: the first)")
    parser.add_argument("--item-col", help="item id column (default: the second)")
    parser.add_argument("--value-col", help="value column (default: the third, if any)")
    parser.add_argument("--min-value", type=float,
                        help="keep only rows with value >= this (e.g. 4 for star ratings)")
    parser.add_argument("--delimiter", help="field separator (default: detected from the first "
                                            "lines among , ; tab |)")


def _not_text(path, error: UnicodeDecodeError) -> str:
    return (f"cannot read {path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at "
            f"position {error.start}); expected a CSV file")


def _sample(path, flag: str) -> str:
    """The first lines of a text file (at most 16 KiB), for sniffing its delimiter."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            lines = [file.readline(_SAMPLE_CHARS) for _ in range(_SAMPLE_LINES)]
        return "".join(lines)[:_SAMPLE_CHARS]
    except OSError as error:
        raise CommandError(f"cannot read {flag}{path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise CommandError(_not_text(f"{flag}{path}", error)) from None


def _header(sample: str, delimiter: str) -> list:
    rows = csv.reader(io.StringIO(sample), delimiter=delimiter, skipinitialspace=True)
    try:
        return [name.strip() for name in next((row for row in rows if row), [])]
    except csv.Error:
        return []


def _delimiter(sample: str, given) -> tuple:
    """(delimiter, how it was chosen): ``--delimiter``, else sniffed, else ","."""
    if given is not None:
        return given, "from --delimiter"
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter, "detected"
    except csv.Error:
        return ",", "the default"


def _load_data(args):
    """The CSV named by ``args.data`` as an Interactions, columns detected from the header."""
    sample = _sample(args.data, "")
    delimiter, how = _delimiter(sample, args.delimiter)
    header = _header(sample, delimiter)
    if len(header) < 2:
        raise CommandError(f"{args.data}: expected a header with at least user and item columns "
                           f"separated by {delimiter!r} ({how}); set --delimiter if it is another")
    user_col = args.user_col or header[0]
    item_col = args.item_col or header[1]
    value_col = args.value_col or (header[2] if len(header) > 2 else None)
    args.columns = {"user": user_col, "item": item_col}
    try:
        data = datasets.from_csv(args.data, user_col=user_col, item_col=item_col,
                                 value_col=value_col, delimiter=delimiter)
    except ValueError as error:  # name the flags, not from_csv's arguments
        message = str(error)
        for name in ("user", "item", "value"):
            message = message.replace(f"({name}_col)", f"(--{name}-col)")
        raise CommandError(message) from None
    except UnicodeDecodeError as error:
        raise CommandError(_not_text(args.data, error)) from None
    except csv.Error as error:
        raise CommandError(f"{args.data}: not a CSV file of {delimiter!r}-separated fields "
                           f"({error})") from None
    except MemoryError:
        raise CommandError(f"{args.data}: out of memory reading its "
                           f"{os.path.getsize(args.data)} bytes") from None
    if args.min_value is not None:
        matrix = data.matrix.copy()
        matrix.data[matrix.data < args.min_value] = 0
        matrix.eliminate_zeros()
        if matrix.nnz == 0:
            raise CommandError(f"no rows of {args.data} have a value >= {args.min_value}")
        data = datasets.Interactions(matrix=matrix, user_ids=data.user_ids,
                                     item_ids=data.item_ids, timestamps=None)
    return data


def _pick(header: list, names: tuple, default: str) -> str:
    return next((name for name in header if name.lower() in names), default)


def _load_titles(args, item_ids) -> dict:
    """``{raw item id as text: name}`` from the ``--titles`` CSV (columns detected)."""
    path = args.titles
    sample = _sample(path, "--titles ")
    delimiter, how = _delimiter(sample, None)
    header = _header(sample, delimiter)
    if len(header) < 2:
        raise CommandError(f"--titles {path}: expected a header with an item id and a name "
                           f"column separated by {delimiter!r} ({how})")
    id_col = args.titles_id_col or _pick(header, _TITLE_ID_NAMES, header[0])
    others = [name for name in header if name != id_col] or header
    name_col = args.titles_name_col or _pick(others, _TITLE_NAME_NAMES, others[0])
    for flag, column in (("--titles-id-col", id_col), ("--titles-name-col", name_col)):
        if column not in header:
            raise CommandError(f"{flag} {column!r} is not a column of {path}; its columns: "
                               f"{', '.join(header)}")
    i, j = header.index(id_col), header.index(name_col)
    titles = {}
    try:
        with open(path, newline="", encoding="utf-8-sig") as file:
            rows = csv.reader(file, delimiter=delimiter, skipinitialspace=True)
            next((row for row in rows if row), None)  # the header
            for row in rows:
                if len(row) > max(i, j):
                    titles.setdefault(row[i].strip(), row[j].strip())
    except UnicodeDecodeError as error:
        raise CommandError(_not_text(f"--titles {path}", error)) from None
    except csv.Error as error:
        raise CommandError(f"--titles {path}: not a CSV file ({error})") from None
    if not titles.keys() & {str(raw) for raw in item_ids.tolist()}:
        raise CommandError(f"--titles {path}: none of its ids (column {id_col!r}) is an item id "
                           f"of the model; choose the columns with --titles-id-col and "
                           f"--titles-name-col")
    return titles


def _label(raw, titles) -> str:
    """An item for people: its title and raw id with --titles, else the raw id."""
    title = titles.get(str(raw)) if titles else None
    return f"{title} [{raw}]" if title else str(raw)


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


def _split_and_fit(args, model, data, show_progress):
    train, test = leave_k_out_split(data, K=args.holdout, random_state=args.split_seed)
    print(f"split: {args.holdout} held-out interactions per user (seed {args.split_seed}): "
          f"{train.nnz} train, {test.nnz} test")
    start = time.perf_counter()
    model.fit(train, show_progress=show_progress)
    print(f"{type(model).__name__} fitted in {time.perf_counter() - start:.2f}s "
          f"({model.user_factors.shape[1]} factors)")
    return model, train.matrix, test.matrix


def _demo(args) -> int:
    start = time.perf_counter()
    model = _check_flags(args)
    data = _load_data(args) if args.data else _synthetic_data(args)
    titles = _load_titles(args, data.item_ids) if args.titles else None
    source = args.data or f"built-in synthetic data (seed {args.split_seed})"
    print(f"mfkit demo: {source}: {data.matrix.shape[0]} users x {data.matrix.shape[1]} items, "
          f"{data.matrix.nnz} interactions")
    model, train, test = _split_and_fit(args, model, data, show_progress=not args.quiet)
    print("\nranking quality on the held-out interactions (train items excluded):")
    _print_metrics(ranking_metrics(model, train, test, K=args.k), args.k)

    print("\ntop-10 for a few users (items by raw id, score), and what drove the first one:")
    users = np.flatnonzero(np.diff(train.indptr) > 0)[:3]
    ids, scores = model.recommend(users, train[users], N=10)
    for row, user in enumerate(users):
        found = ids[row] >= 0
        shown = ", ".join(f"{_label(data.item_ids[i], titles)} ({s:.2f})"
                          for i, s in zip(ids[row][found], scores[row][found]))
        print(f"user {data.user_ids[user]}: {shown}")
        if hasattr(model, "explain") and found.any():
            _, contributions, _ = model.explain(user, train[user], int(ids[row][0]), N=3)
            because = ", ".join(f"{_label(data.item_ids[j], titles)} ({c:+.2f})"
                                for j, c in contributions)
            print(f"  {_label(data.item_ids[ids[row][0]], titles)} because of past items: "
                  f"{because}")
    print(f"\ndone in {time.perf_counter() - start:.1f}s")
    return 0


def _fit(args) -> int:
    model = _check_flags(args)
    data = _load_data(args)
    start = time.perf_counter()
    model.fit(data, show_progress=not args.quiet)
    model.save(args.output)
    print(f"fitted {type(model).__name__} on {data.matrix.shape[0]} users x "
          f"{data.matrix.shape[1]} items ({data.matrix.nnz} interactions) in "
          f"{time.perf_counter() - start:.1f}s; saved to {args.output}")
    return 0


def _typed_id(text: str, ids: np.ndarray, flag: str, kind: str):
    """The raw id typed on the command line, as the kind of the model's ids."""
    if ids.dtype.kind not in "iu":
        return text
    try:
        return int(text)
    except ValueError:
        raise CommandError(f"{flag} {text!r}: the model's {kind} ids are integers") from None


def _share(theirs: np.ndarray, ours: np.ndarray) -> float:
    """The share of the ids ``theirs`` found among ``ours`` (0 for ids of another kind)."""
    if (theirs.dtype.kind in "iu") != (ours.dtype.kind in "iu") or not len(theirs):
        return 0.0
    return float(np.isin(theirs, ours).mean())


def _check_same_ids(data, model, args):
    """Refuse --data whose ids are clearly not the model's (another file, columns swapped).

    Most of its items must be items of the model. Its users may be new (folded in), unless its
    users look like the model's items and its items like the model's users: swapped columns.
    """
    users, items = np.asarray(model.user_ids), np.asarray(model.item_ids)
    item_share = _share(data.item_ids, items)
    user_share = _share(data.user_ids, users)
    where = f"--data {args.data} does not match {args.model_file}"
    columns = (f"(--user-col {args.columns['user']!r}, --item-col {args.columns['item']!r})")
    if user_share < 0.5 and _share(data.user_ids, items) > user_share \
            and _share(data.item_ids, users) > item_share:
        raise CommandError(f"{where}: its user and item columns look swapped {columns}: "
                           f"{_share(data.user_ids, items):.0%} of its user ids are item ids of "
                           f"the model, {user_share:.0%} are user ids")
    if item_share < 0.5:
        raise CommandError(f"{where}: only {item_share:.0%} of its item ids are item ids of the "
                           f"model {columns}; is it the data the model was fitted on?")


def _recommend(args) -> int:
    _check_flags(args)
    model = load_model(args.model_file)
    user_ids, item_ids = getattr(model, "user_ids", None), getattr(model, "item_ids", None)
    if user_ids is None or item_ids is None:
        raise CommandError(f"{args.model_file} has no raw user and item ids (it was fitted on a "
                           "plain matrix): fit it with 'mfkit fit' or on an "
                           "mfkit.datasets.Interactions")
    user = _typed_id(args.user, np.asarray(user_ids), "--user", "user")
    titles = _load_titles(args, np.asarray(item_ids)) if args.titles else None
    history = None
    if args.data:
        history = _load_data(args)
        _check_same_ids(history, model, args)
    try:
        ids, scores = model.recommend_raw(user, history=history, N=args.n)
    except KeyError:
        where = "the model nor in --data" if history is not None else \
            "the model (--data with the user's interactions folds a new user in)"
        raise CommandError(f"unknown user id {args.user!r}: not in {where}") from None
    if history is None:
        print("(no --data given: items the user already has are not filtered)", file=sys.stderr)
    print("rank\titem\tscore" + ("\ttitle" if titles else ""))
    for rank, (item, score) in enumerate(zip(ids, scores), start=1):
        title = f"\t{titles.get(str(item), '')}" if titles else ""
        print(f"{rank}\t{item}\t{score:.6f}{title}")
    return 0


def _evaluate(args) -> int:
    model = _check_flags(args)
    data = _load_data(args)
    model, train, test = _split_and_fit(args, model, data, show_progress=not args.quiet)
    _print_metrics(ranking_metrics(model, train, test, K=args.k), args.k)
    return 0


# The candidates of ``mfkit tune --model auto`` (those registered in this installation).
_AUTO_MODELS = ("als", "bpr", "svd")


def _check_tune_flags(args):
    """The tune command's own flags, before any work; messages name the flag."""
    if args.trials is not None and args.trials < 1:
        raise CommandError(f"--trials must be >= 1, got {args.trials}")
    for flag, value in (("--timeout", args.timeout), ("--budget", args.budget)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise CommandError(f"{flag} must be a positive number of seconds, got {value}")
    try:
        parse_metric(args.metric)
    except ValueError as error:
        raise CommandError(f"--metric: {error}") from None
    registered = {name.lower(): name for name in _registry.model_names()}
    if args.tune_model == "auto":
        return [name for name in _AUTO_MODELS if name in registered]
    cls = _registry.model_class(registered.get(args.tune_model.lower(), ""))
    if cls is None or not getattr(cls, "_search_space", None):
        tunable = sorted(name for name, cls_name in registered.items()
                         if getattr(_registry.model_class(cls_name), "_search_space", None))
        raise CommandError(f"--model {args.tune_model!r} is not a model with a search space; "
                           f"choose one of: auto, {', '.join(tunable)}")
    return [args.tune_model.lower()]


def _tune(args) -> int:
    names = _check_tune_flags(args)
    _check_flags(args)
    try:
        optuna = tuning._optuna()  # before any work: say what to install
    except ImportError as error:
        raise CommandError(str(error)) from None
    if not args.verbose:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = _load_data(args)
    train, valid = leave_k_out_split(data, K=args.holdout, random_state=args.split_seed)
    print(f"split: {args.holdout} held-out interactions per user (seed {args.split_seed}): "
          f"{train.nnz} train, {valid.nnz} valid")
    if args.tune_model == "auto":
        result = tuning.select(train, valid, models=names, metric=args.metric,
                               budget_seconds=args.budget, n_trials=args.trials,
                               random_state=args.seed)
        print(f"\n{'model':<12}{args.metric:>12}{'complete':>10}{'pruned':>8}"
              f"{'failed':>8}{'seconds':>9}  parameters")
        for row in result.table:
            params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in row["params"].items())
            print(f"{row['model']:<12}{row['value']:>12.4f}{row['complete']:>10}"
                  f"{row['pruned']:>8}{row['failed']:>8}{row['seconds']:>9.1f}  {params}")
        best = result.results[result.best_name]
    else:
        trials = args.trials if args.trials is not None or args.timeout else 50
        best = tuning.tune(names[0], train, valid, metric=args.metric, n_trials=trials,
                           timeout=args.timeout, random_state=args.seed)
    counts = best.counts()
    model = best.new_model()
    print(f"\n{type(model).__name__}: {len(best.study.trials)} trials ({counts['complete']} "
          f"complete, {counts['pruned']} pruned, {counts['fail']} failed) in "
          f"{best.seconds:.1f}s; best {best.metric} on the held-out split: {best.best_value:.4f}")
    print("best parameters: " + ", ".join(f"{k}={v!r}" for k, v in best.best_params.items()))
    if args.output:
        start = time.perf_counter()
        model.fit(data, show_progress=False)
        model.save(args.output)
        print(f"refitted on all {data.matrix.nnz} interactions in "
              f"{time.perf_counter() - start:.1f}s; saved to {args.output}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mfkit", description="Matrix-factorization recommenders.",
                                     epilog="Run 'mfkit COMMAND --help' for a command's flags.")
    parser.add_argument("--version", action="version", version=f"mfkit {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def titles_flags(p):
        p.add_argument("--titles", help="CSV of item id -> name (e.g. MovieLens movies.csv) to "
                                        "show names")
        p.add_argument("--titles-id-col", help="its item id column (default: one named item, "
                                               "movieId, id, ... else the first)")
        p.add_argument("--titles-name-col", help="its name column (default: one named title, "
                                                 "name, ... else the next)")

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
    titles_flags(demo)
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
    recommend.add_argument("--data", help="the CSV the model was fitted on (or newer): leaves "
                                          "out the user's items; folds in a user the model lacks")
    _add_data_flags(recommend, required=False)
    titles_flags(recommend)
    recommend.set_defaults(run=_recommend)

    evaluate = commands.add_parser("evaluate", help="ranking metrics on a held-out split")
    _add_data_flags(evaluate)
    evaluation_flags(evaluate)
    _add_model_flags(evaluate)
    evaluate.set_defaults(run=_evaluate)

    tune = commands.add_parser(
        "tune", help="tune a model's hyperparameters on a held-out split (needs optuna)",
        description="Holds --holdout interactions per user out as the validation set, searches "
                    "with Optuna (mfkit.tuning) and, with -o, refits the best parameters on all "
                    "the data and saves the model.")
    _add_data_flags(tune)
    tune.add_argument("--model", dest="tune_model", default="als",
                      help="model name (als, bpr, ...) or auto: tune each of "
                           f"{', '.join(_AUTO_MODELS)} (those installed) and keep the best")
    tune.add_argument("--trials", type=int, default=None,
                      help="trials per model (default 50, or as many as --timeout allows; "
                           "with --model auto: as many as --budget allows)")
    tune.add_argument("--timeout", type=float, default=None, help="seconds for the search")
    tune.add_argument("--budget", type=float, default=300.0,
                      help="--model auto: seconds for all models together (default 300)")
    tune.add_argument("--metric", default="ndcg@20",
                      help="metric to maximize: ndcg, recall, precision, map, hit_rate or mrr "
                           "@K (default ndcg@20)")
    tune.add_argument("--holdout", type=int, default=1,
                      help="held-out interactions per user for validation (default 1)")
    tune.add_argument("--split-seed", type=int, default=0, help="seed of the split (default 0)")
    tune.add_argument("--seed", type=int, default=0, help="seed of the search (default 0)")
    tune.add_argument("-o", "--output", help="refit the best model on all the data and save it "
                                             "here (.npz)")
    tune.add_argument("--verbose", action="store_true", help="Optuna's log of every trial")
    tune.set_defaults(run=_tune)
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
    except MemoryError as error:
        message = f"out of memory ({str(error) or 'the data is too large for this machine'})"
    print(f"mfkit {args.command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
