"""What the benchmark scripts share: the synthetic-data flags, MovieLens positives and a
callback that records the seconds of every fit iteration. Run the scripts from anywhere
(``python benchmarks/bench_als.py``): Python puts this folder on the path."""
from __future__ import annotations

import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

import mfkit

# MovieLens latest-small beside the repository (../shared/data, see its README).
MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"


def add_data_flags(parser, users: int = 100_000, items: int = 20_000, density: float = 0.001):
    """--users / --items / --density of the seeded synthetic power-law matrix."""
    parser.add_argument("--users", type=int, default=users)
    parser.add_argument("--items", type=int, default=items)
    parser.add_argument("--density", type=float, default=density)


def synthetic(args, seed: int):
    """The matrix of the data flags of ``args``, after printing its size."""
    start = time.perf_counter()
    data = mfkit.datasets.synthetic(args.users, args.items, args.density, seed=seed)
    print(f"data: {data.shape[0]} x {data.shape[1]}, {data.nnz} nonzeros "
          f"({time.perf_counter() - start:.1f}s to generate, seed {seed})")
    return data


def movielens_positives(data_dir: Path):
    """MovieLens ratings >= 4 as binary positives (users x movies, float32)."""
    ratings = mfkit.datasets.from_csv(data_dir / "ratings.csv", user_col="userId",
                                      item_col="movieId", value_col="rating")
    matrix = ratings.matrix.copy()
    matrix.data = (matrix.data >= 4).astype(np.float32)
    matrix.eliminate_zeros()
    return matrix


def per_iteration_times():
    """``(times, callback)``: pass ``callback`` to ``fit``; ``times`` fills with the seconds of
    every iteration."""
    times = []
    return times, lambda iteration, elapsed, value: times.append(elapsed)


def add_json_flag(parser, name: str):
    """--json PATH: also write the results there (default ``benchmarks/results/<name>.json``,
    what ``benchmarks/plot.py`` draws from; ``--json ''`` writes nothing)."""
    parser.add_argument("--json", default=str(Path(__file__).resolve().parent / "results"
                                              / f"{name}.json"),
                        help="write the results as JSON here ('' for none)")


def write_json(path: str, rows: list, **about) -> None:
    """The benchmark's ``rows`` (dicts) at ``path`` with the command, date and machine."""
    if not path:
        return
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    record = dict(command="python " + " ".join(sys.argv),
                  date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
                  machine=", ".join(filter(None, [platform.machine(), platform.processor(),
                                                  f"{os.cpu_count()} cores"])),
                  mfkit=mfkit.__version__, **about, rows=rows)
    Path(path).write_text(json.dumps(record, indent=1) + "\n")
    print(f"results written to {path}")
