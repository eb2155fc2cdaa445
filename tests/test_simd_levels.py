"""Runtime SIMD dispatch: every instruction-set level this CPU runs computes the same results.

Each compiled level (baseline, AVX2+FMA, AVX-512 on x86-64) is checked against the numpy
reference backend with the usual tolerances, at factor counts that exercise full vector lanes
and tails; within a level, ALS stays bitwise independent of the thread count.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import mfkit
from mfkit import _core, _simd

LEVELS = _simd.supported_levels()
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wide_matrix():
    """More items than the largest factor count below, with negative (dislike) entries."""
    matrix = mfkit.datasets.synthetic(150, 120, 0.08, seed=9).astype(np.float64)
    matrix.data[::7] *= -1
    return matrix


@pytest.fixture(params=LEVELS)
def level(request):
    with _simd.use_level(request.param):
        yield request.param


def fit_pair(make, data, **fit_args):
    """The same model fitted by the active level's C++ kernels and by the reference backend."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", mfkit.ConvergenceWarning)
        return [make(backend).fit(data, show_progress=False, **fit_args)
                for backend in ("cpp", "reference")]


# ------------------------------------------------------------------------ dispatch mechanics
def test_baseline_is_always_compiled_and_the_active_level_is_supported():
    assert _simd.compiled_levels()[0] == "baseline"
    assert "baseline" in LEVELS
    assert _simd.level() in LEVELS
    for name in _simd.compiled_levels():
        assert hasattr(getattr(_core, name), "als_half_sweep_f32")


def test_import_picks_the_best_supported_level_unless_overridden():
    expected = LEVELS[-1]
    if os.environ.get("MFKIT_SIMD", "auto") in ("", "auto"):
        assert _simd.level() == expected


def _level_in_subprocess(value: str):
    # The subprocess imports the same mfkit as this process, wherever that is installed.
    package_parent = str(Path(mfkit.__file__).resolve().parents[1])
    env = dict(os.environ, MFKIT_SIMD=value,
               PYTHONPATH=os.pathsep.join(filter(None, [package_parent,
                                                         os.environ.get("PYTHONPATH")])))
    code = ("import json, warnings\n"
            "with warnings.catch_warnings(record=True) as caught:\n"
            "    warnings.simplefilter('always')\n"
            "    from mfkit import _simd\n"
            "print(json.dumps([_simd.level(), [str(w.message) for w in caught]]))")
    out = subprocess.run([sys.executable, "-c", code], env=env, check=True, cwd=str(Path.home()),
                         capture_output=True, text=True).stdout
    return json.loads(out)


@pytest.mark.parametrize("name", LEVELS)
def test_environment_variable_selects_a_level(name):
    assert _level_in_subprocess(name) == [name, []]


def test_environment_variable_with_an_unknown_level_warns_and_uses_the_best():
    chosen, messages = _level_in_subprocess("sse9")
    assert chosen == LEVELS[-1]
    assert any("MFKIT_SIMD='sse9'" in message for message in messages)


def test_set_level_rejects_unknown_levels():
    with pytest.raises(ValueError, match="level"):
        _simd.set_level("sse9")
    before = _simd.level()
    with _simd.use_level("baseline"):
        assert _simd.level() == "baseline"
    assert _simd.level() == before


def test_prelude_lists_every_header_the_kernels_include():
    """Standard headers parsed after a level's pragma would be compiled for that level and
    could be shared with the baseline copy (see cpp/bindings/level_prelude.hpp)."""
    prelude = (REPO / "cpp/bindings/level_prelude.hpp").read_text()
    listed = set(re.findall(r"#include <([^>]+)>", prelude))
    sources = list((REPO / "cpp/include/mfkit").glob("*.hpp"))
    sources += list((REPO / "cpp/bindings").glob("bind_*.hpp"))
    for source in sources:
        for header in re.findall(r"#include <([^>]+)>", source.read_text()):
            assert header in listed, f"{source.name} includes <{header}>, not in the prelude"


# ------------------------------------------------------------------ results at every level
@pytest.mark.parametrize("solver,tol64", [("cholesky", 1e-9), ("cg", 1e-7)])
@pytest.mark.parametrize("factors", [24, 40])
def test_als_agrees_with_reference(level, wide_matrix, rel_err, solver, tol64, factors):
    def fit(dtype):
        return fit_pair(lambda backend: mfkit.ALS(
            factors=factors, iterations=3, solver=solver, dtype=dtype, random_state=5,
            regularization=1.0, alpha=4.0, backend=backend, calculate_training_loss=True,
            num_threads=2), wide_matrix)

    cpp, ref = fit(np.float64)
    assert rel_err(cpp.user_factors, ref.user_factors) <= tol64
    assert rel_err(cpp.item_factors, ref.item_factors) <= tol64
    assert rel_err(cpp.loss_history, ref.loss_history) <= tol64
    # float32: truncated CG (3 steps from a warm start) amplifies rounding differences in the
    # factors to ~3e-3 at 40 factors whatever the level; the objective stays within 1e-4.
    cpp, ref = fit(np.float32)
    tol32 = 1e-4 if solver == "cholesky" else 1e-2
    assert rel_err(cpp.user_factors, ref.user_factors) <= tol32
    assert rel_err(cpp.loss_history, ref.loss_history) <= 1e-4


def test_als_is_thread_count_independent(level, implicit_matrix):
    fits = [mfkit.ALS(factors=40, iterations=2, random_state=1, num_threads=threads,
                      calculate_training_loss=True).fit(implicit_matrix, show_progress=False)
            for threads in (1, 2, 3)]
    for other in fits[1:]:
        np.testing.assert_array_equal(fits[0].user_factors, other.user_factors)
        np.testing.assert_array_equal(fits[0].item_factors, other.item_factors)
        assert fits[0].loss_history == other.loss_history


def test_bpr_agrees_with_reference(level, implicit_matrix, rel_err):
    cpp, ref = fit_pair(lambda backend: mfkit.BPR(
        factors=40, iterations=1, dtype=np.float64, random_state=3, backend=backend,
        num_threads=1), abs(implicit_matrix))
    assert rel_err(cpp.user_factors, ref.user_factors) <= 1e-6
    assert rel_err(cpp.item_factors, ref.item_factors) <= 1e-6


@pytest.mark.parametrize("solver", ["sgd", "als"])
def test_explicit_mf_agrees_with_reference(level, rel_err, solver):
    ratings = mfkit.datasets.synthetic(50, 40, 0.2, seed=4).astype(np.float64)
    ratings.data = 1.0 + (np.arange(ratings.nnz) % 5)
    cpp, ref = fit_pair(lambda backend: mfkit.ExplicitMF(
        factors=24, solver=solver, iterations=2, learning_rate=0.02, dtype=np.float64,
        random_state=2, backend=backend, num_threads=2), ratings)
    assert rel_err(cpp.user_factors, ref.user_factors) <= 1e-9
    assert rel_err(cpp.item_factors, ref.item_factors) <= 1e-9


@pytest.mark.parametrize("config", [dict(solver="cd"), dict(solver="mu"),
                                    dict(solver="mu", beta_loss="kullback-leibler")],
                         ids=["cd", "mu", "kl"])
def test_nmf_agrees_with_reference(level, rel_err, config):
    X = mfkit.datasets.synthetic(60, 45, 0.15, seed=6).astype(np.float64)
    cpp, ref = fit_pair(lambda backend: mfkit.NMF(
        24, max_iter=10, tol=0, dtype=np.float64, random_state=0, backend=backend,
        num_threads=2, **config), X)
    assert rel_err(cpp.user_factors, ref.user_factors) <= 1e-9
    assert rel_err(cpp.item_factors, ref.item_factors) <= 1e-9


def test_recommend_and_metrics_agree_with_baseline(level, implicit_matrix):
    model = mfkit.ALS(factors=40, iterations=2, random_state=0).fit(implicit_matrix,
                                                                     show_progress=False)
    users = np.arange(implicit_matrix.shape[0])
    got = model.recommend(users, implicit_matrix[users], N=7)
    with _simd.use_level("baseline"):
        want = model.recommend(users, implicit_matrix[users], N=7)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-5)
