"""The mfkit command line: demo, fit, recommend, evaluate; errors are one line, exit code 2."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mfkit
from mfkit.cli import main
from mfkit.evaluation import leave_k_out_split

MOVIELENS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-latest-small"
TOP_LINE = re.compile(r"^user (\S+): (.*)$")


def run_cli(args, cwd):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-m", "mfkit", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def write_csv(path, rows, header="user,item,value"):
    path.write_text(header + "\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
    return path


@pytest.fixture
def ratings_csv(tmp_path):
    """A small CSV with string user ids and integer item ids."""
    matrix = mfkit.datasets.synthetic(120, 60, 0.15, seed=4)
    coo = matrix.tocoo()
    rows = [(f"u{u}", 1000 + i, v) for u, i, v in zip(coo.row, coo.col, coo.data)]
    return write_csv(tmp_path / "ratings.csv", rows)


def test_demo_on_synthetic_data(tmp_path):
    result = run_cli(["demo", "--quiet", "--users", "300", "--items", "200"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""  # --quiet: no progress bar
    out = result.stdout
    assert "300 users x 200 items" in out
    for label in ("precision@10", "recall@10", "MAP@10", "nDCG@10", "hit rate@10", "MRR@10",
                  "AUC"):
        value = re.search(rf"{re.escape(label)}\s+([\d.]+)", out)
        assert value and 0 <= float(value.group(1)) <= 1, label

    data = mfkit.datasets.synthetic(n_users=300, n_items=200, density=0.02, seed=0)
    train, _ = leave_k_out_split(data, K=5, random_state=0)
    tops = [TOP_LINE.match(line) for line in out.splitlines() if TOP_LINE.match(line)]
    assert len(tops) == 3
    for match in tops:
        user = int(match.group(1))
        entries = re.findall(r"(\d+) \((-?[\d.]+)\)", match.group(2))
        items = [int(i) for i, _ in entries]
        scores = [float(s) for _, s in entries]
        assert len(items) == 10 == len(set(items))
        assert not set(items) & set(train[user].indices)
        assert scores == sorted(scores, reverse=True)
    assert out.count("because of past items") == 3
    assert re.search(r"done in [\d.]+s", out)


def test_fit_then_recommend_with_raw_ids(tmp_path, ratings_csv):
    model_file = tmp_path / "model.npz"
    result = run_cli(["fit", str(ratings_csv), "-o", str(model_file), "--factors", "8",
                      "--iterations", "3", "--quiet"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    model = mfkit.load(model_file)
    assert model.factors == 8 and list(model.user_ids[:2]) == ["u0", "u1"]

    result = run_cli(["recommend", str(model_file), "--user", "u3", "-n", "5", "--data",
                      str(ratings_csv)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    header, *lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert header == ["rank", "item", "score"]
    assert [int(rank) for rank, _, _ in lines] == [1, 2, 3, 4, 5]
    items = [int(item) for _, item, _ in lines]
    scores = [float(score) for _, _, score in lines]
    assert scores == sorted(scores, reverse=True)
    data = mfkit.datasets.from_csv(ratings_csv, value_col="value")
    seen = set(data.item_ids[data.matrix[data.user_index("u3")].indices])
    assert all(1000 <= i < 1060 for i in items) and not seen & set(items)

    result = run_cli(["recommend", str(model_file), "--user", "nobody"], cwd=tmp_path)
    assert result.returncode == 2 and "nobody" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_evaluate(tmp_path, ratings_csv):
    result = run_cli(["evaluate", str(ratings_csv), "--k", "5", "--holdout", "2", "--factors",
                      "4", "--quiet"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"nDCG@5\s+[\d.]+", result.stdout)


@pytest.mark.skipif(not (MOVIELENS / "ratings.csv").exists(), reason="MovieLens not present")
def test_demo_on_movielens(tmp_path):
    result = run_cli(["demo", "--data", str(MOVIELENS / "ratings.csv"), "--min-value", "4",
                      "--quiet"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "610 users" in result.stdout
    ndcg = float(re.search(r"nDCG@10\s+([\d.]+)", result.stdout).group(1))
    assert ndcg > 0.1  # far above a random ranking (~0.001)


@pytest.mark.parametrize("args, mentions", [
    (["demo", "--factors", "0"], "factors"),
    (["demo", "--users", "0"], "users"),
    (["demo", "--iterations", "-1"], "iterations"),
    (["fit", "missing.csv", "-o", "m.npz"], "missing.csv"),
    (["evaluate", "bad.csv"], "line"),
    (["evaluate", "bad.csv", "--user-col", "who"], "who"),
    (["recommend", "missing.npz", "--user", "1"], "missing.npz"),
    (["recommend", "bad.csv", "--user", "1"], "npz"),
])
def test_bad_input_is_one_line_error(tmp_path, args, mentions):
    write_csv(tmp_path / "bad.csv", [("a", "x", "1"), ("b", "y")])
    result = run_cli([*args, "--quiet"] if args[0] != "recommend" else args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and mentions in lines[0], result.stderr


def test_no_command_and_unparsable_flags_exit_2(tmp_path):
    result = run_cli([], cwd=tmp_path)
    assert result.returncode == 2 and "demo" in result.stderr
    result = run_cli(["demo", "--users", "many"], cwd=tmp_path)
    assert result.returncode == 2 and "--users" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help(tmp_path):
    assert mfkit.__version__ in run_cli(["--version"], cwd=tmp_path).stdout
    for command in ("demo", "fit", "recommend", "evaluate"):
        result = run_cli([command, "--help"], cwd=tmp_path)
        assert result.returncode == 0 and "usage" in result.stdout


def test_main_in_process(capsys):
    assert main(["demo", "--quiet", "--users", "60", "--items", "40", "--iterations", "2",
                 "--factors", "4", "--holdout", "2"]) == 0
    assert capsys.readouterr().out.count("because of past items") >= 1
    assert main([]) == 2
    assert main(["demo", "--factors", "0"]) == 2
    assert "factors" in capsys.readouterr().err


def test_console_script(tmp_path):
    script = Path(sys.executable).parent / ("mfkit.exe" if os.name == "nt" else "mfkit")
    if not script.exists():
        pytest.skip("no mfkit console script next to this interpreter")
    result = subprocess.run([str(script), "demo", "--factors", "0"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("model", ["bpr", "explicit"])
def test_every_model_through_the_same_flags(model, capsys):
    assert main(["demo", "--quiet", "--model", model, "--users", "80", "--items", "50",
                 "--factors", "4", "--iterations", "3", "--holdout", "2", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"nDCG@10\s+[\d.]+", out) and out.count("user ") >= 3


def test_flag_of_another_model_is_rejected(capsys):
    assert main(["demo", "--model", "bpr", "--alpha", "3"]) == 2
    assert "--alpha" in capsys.readouterr().err


# ------------------------------------------------------------------ ids that do not match
def fit_model(tmp_path, csv_path, capsys):
    model_file = tmp_path / "model.npz"
    assert main(["fit", str(csv_path), "-o", str(model_file), "--factors", "4",
                 "--iterations", "2", "--quiet"]) == 0
    capsys.readouterr()
    return model_file


def one_line_error(capsys, *mentions):
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0] and "Traceback" not in err, err
    for mention in mentions:
        assert mention in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def integer_csv(tmp_path):
    """Integer ids on both sides whose ranges overlap (as in MovieLens): users 1..120, items
    3, 6, ..., 180; user 6 is also an item id."""
    matrix = mfkit.datasets.synthetic(120, 60, 0.2, seed=2)
    coo = matrix.tocoo()
    rows = [(u + 1, 3 * (i + 1), v) for u, i, v in zip(coo.row, coo.col, coo.data)]
    return write_csv(tmp_path / "ints.csv", rows)


def test_recommend_refuses_data_with_swapped_columns(tmp_path, integer_csv, capsys):
    model_file = fit_model(tmp_path, integer_csv, capsys)
    swapped = ["recommend", str(model_file), "--user", "6", "--data", str(integer_csv),
               "--user-col", "item", "--item-col", "user"]
    assert main(swapped) == 2
    one_line_error(capsys, "--data", "does not match")
    assert main(["recommend", str(model_file), "--user", "6", "--data", str(integer_csv)]) == 0
    # another file whose item ids are of another kind than the model's
    strings = write_csv(tmp_path / "strings.csv", [("1", "a", 1), ("2", "b", 1)])
    assert main(["recommend", str(model_file), "--user", "1", "--data", str(strings)]) == 2
    one_line_error(capsys, "0% of its item ids")


@pytest.mark.skipif(not (MOVIELENS / "ratings.csv").exists(), reason="MovieLens not present")
def test_recommend_refuses_movielens_with_swapped_columns(tmp_path, capsys):
    ratings = MOVIELENS / "ratings.csv"
    model_file = fit_model(tmp_path, ratings, capsys)
    assert main(["recommend", str(model_file), "--user", "414", "--data", str(ratings),
                 "--user-col", "movieId", "--item-col", "userId"]) == 2
    one_line_error(capsys, "swapped")


def test_recommend_folds_in_a_user_only_in_the_data(tmp_path, ratings_csv, capsys):
    model_file = fit_model(tmp_path, ratings_csv, capsys)
    newcomer = write_csv(tmp_path / "new.csv", [("newcomer", 1003, 5), ("newcomer", 1010, 4)])
    assert main(["recommend", str(model_file), "--user", "newcomer", "--data", str(newcomer),
                 "-n", "4"]) == 0
    header, *lines = capsys.readouterr().out.strip().splitlines()
    assert header == "rank\titem\tscore" and len(lines) == 4
    assert not {"1003", "1010"} & {line.split("\t")[1] for line in lines}
    assert main(["recommend", str(model_file), "--user", "newcomer"]) == 2
    one_line_error(capsys, "newcomer", "--data")


# ------------------------------------------------------------------------------- titles
@pytest.fixture
def titles_csv(tmp_path):
    rows = [(1000 + i, f'"Film {i}, The"', "Drama|Comedy") for i in range(60)]
    return write_csv(tmp_path / "films.csv", rows, header="itemId,title,genres")


def test_recommend_shows_titles(tmp_path, ratings_csv, titles_csv, capsys):
    model_file = fit_model(tmp_path, ratings_csv, capsys)
    assert main(["recommend", str(model_file), "--user", "u3", "-n", "3", "--data",
                 str(ratings_csv), "--titles", str(titles_csv)]) == 0
    header, *lines = capsys.readouterr().out.strip().splitlines()
    assert header == "rank\titem\tscore\ttitle" and len(lines) == 3
    for line in lines:
        _, item, _, title = line.split("\t")
        assert title == f"Film {int(item) - 1000}, The"
    # columns chosen by flag; ids the model does not know are refused
    assert main(["recommend", str(model_file), "--user", "u3", "--titles", str(titles_csv),
                 "--titles-name-col", "genres"]) == 0
    assert "Drama|Comedy" in capsys.readouterr().out
    assert main(["recommend", str(model_file), "--user", "u3", "--titles", str(titles_csv),
                 "--titles-id-col", "genres"]) == 2
    one_line_error(capsys, "--titles", "--titles-id-col")


def test_demo_shows_titles(ratings_csv, titles_csv, capsys):
    assert main(["demo", "--quiet", "--data", str(ratings_csv), "--titles", str(titles_csv),
                 "--factors", "4", "--iterations", "2", "--holdout", "2"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^user u\d+: Film \d+, The \[10\d\d\] \(", out, flags=re.MULTILINE), out


# -------------------------------------------------------------- flags checked before any work
@pytest.mark.parametrize("args, flag", [
    (["evaluate", "DATA", "--holdout", "0"], "--holdout must be >= 1"),
    (["evaluate", "DATA", "--k", "0"], "--k must be >= 1"),
    (["demo", "--split-seed", "-1"], "--split-seed must be >= 0"),
    (["demo", "--seed", "-1"], "--seed"),
    (["demo", "--model", "bpr", "--learning-rate", "50", "--regularization", "1"],
     "--learning-rate"),
    (["evaluate", "DATA", "--min-value", "nan"], "--min-value"),
    (["fit", "DATA", "-o", "m.npz", "--delimiter", ";;"], "--delimiter"),
    (["recommend", "missing.npz", "--user", "1", "-n", "0"], "-n must be >= 1"),
])
def test_every_flag_is_checked_first_and_named(args, flag, ratings_csv, capsys):
    args = [str(ratings_csv) if a == "DATA" else a for a in args]
    assert main(args) == 2
    out = capsys.readouterr()
    assert "split:" not in out.out and "fitted" not in out.out  # no work done
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and flag in lines[0], out.err


# --------------------------------------------------------------------------- delimiters
def test_semicolon_csv_is_detected(tmp_path, ratings_csv, capsys):
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text(ratings_csv.read_text().replace(",", ";"))
    assert main(["evaluate", str(semicolons), "--k", "5", "--holdout", "2", "--factors", "4",
                 "--iterations", "2", "--quiet"]) == 0
    assert re.search(r"nDCG@5\s+[\d.]+", capsys.readouterr().out)
    assert main(["evaluate", str(semicolons), "--delimiter", ",", "--quiet"]) == 2
    one_line_error(capsys, "expected a header with at least user and item columns",
                   "',' (from --delimiter)")
    tabs = tmp_path / "tabs.tsv"
    tabs.write_text(ratings_csv.read_text().replace(",", "\t"))
    assert main(["fit", str(tabs), "--delimiter", "\\t", "-o", str(tmp_path / "t.npz"),
                 "--factors", "2", "--iterations", "1", "--quiet"]) == 0


# --------------------------------------------------------------- files that are not CSV
def test_huge_and_unparsable_files_are_one_line_errors(tmp_path, capsys, monkeypatch):
    one_line = tmp_path / "one-line.csv"
    one_line.write_text("user,item\n" + "x" * 300_000)  # a field beyond csv's limit
    assert main(["fit", str(one_line), "-o", str(tmp_path / "m.npz")]) == 2
    one_line_error(capsys, "one-line.csv")

    def out_of_memory(*args, **kwargs):
        raise MemoryError()

    big = write_csv(tmp_path / "big.csv", [(1, 2, 3)])
    monkeypatch.setattr(mfkit.datasets, "from_csv", out_of_memory)
    assert main(["fit", str(big), "-o", str(tmp_path / "m.npz")]) == 2
    one_line_error(capsys, "big.csv", "out of memory")


def test_binary_file_is_a_one_line_error(tmp_path, capsys):
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 64)
    assert main(["fit", str(binary), "-o", str(tmp_path / "m.npz")]) == 2
    one_line_error(capsys, "model.bin", "not UTF-8 text", "expected a CSV file")


# ---------------------------------------------------------------------- mfkit tune
def test_tune_searches_refits_and_saves(tmp_path, ratings_csv):
    pytest.importorskip("optuna")
    model_file = tmp_path / "tuned.npz"
    result = run_cli(["tune", str(ratings_csv), "--model", "als", "--trials", "3", "--metric",
                      "ndcg@5", "-o", str(model_file)], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"split: 1 held-out interactions per user \(seed 0\): \d+ train, \d+ valid",
                     out)
    assert re.search(r"ALS: 3 trials \(\d complete, \d pruned, 0 failed\) .* best ndcg@5 on the "
                     r"held-out split: [\d.]+", out)
    printed = re.search(r"best parameters: (.*)", out).group(1)
    model = mfkit.load(model_file)
    for name, value in re.findall(r"(\w+)=([^,]+)", printed):
        assert repr(model.get_params()[name]) == value
    # refitted on all the data, raw ids kept
    assert model.user_factors.shape[0] == 120 and list(model.user_ids[:2]) == ["u0", "u1"]
    assert "saved to" in out


def test_tune_auto_compares_the_installed_models(tmp_path, ratings_csv):
    pytest.importorskip("optuna")
    result = run_cli(["tune", str(ratings_csv), "--model", "auto", "--trials", "2", "--budget",
                      "60", "--metric", "recall@10"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = re.findall(r"^(als|bpr|svd)\s+([\d.]+)\s+(\d+)\s+(\d+)\s+(\d+)", result.stdout,
                      re.MULTILINE)
    assert {"als", "bpr"} <= {row[0] for row in rows}
    values = [float(row[1]) for row in rows]
    assert values == sorted(values, reverse=True)
    assert all(int(c) + int(p) + int(f) == 2 for _, _, c, p, f in rows)


@pytest.mark.parametrize("args, mentions", [
    (["--model", "nope"], "--model 'nope' is not a model with a search space"),
    (["--metric", "foo@3"], "--metric: metric must be NAME@K"),
    (["--trials", "0"], "--trials must be >= 1"),
    (["--timeout", "-1"], "--timeout must be a positive number"),
    (["--holdout", "0"], "--holdout must be >= 1"),
])
def test_tune_flags_are_checked_first(tmp_path, capsys, args, mentions):
    assert main(["tune", str(tmp_path / "missing.csv"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mfkit tune: error:") and mentions in err and "\n" not in err


def test_tune_without_optuna_says_what_to_install(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)
    assert main(["tune", str(tmp_path / "missing.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("mfkit tune: error:") and 'pip install "mfkit[tune]"' in err
