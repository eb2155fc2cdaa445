"""The installed package, its README quickstart, the command line and the synthetic data."""
from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
import mfkit._core

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SOURCE_PACKAGE = REPO / "python" / "mfkit"


def clean_env():
    """The environment without PYTHONPATH, so a subprocess sees only the installed package."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def run_python(args, cwd, timeout=120):
    return subprocess.run([sys.executable, *args], cwd=cwd, env=clean_env(), capture_output=True,
                          text=True, timeout=timeout)


def is_under(path, directory) -> bool:
    try:
        Path(path).resolve().relative_to(Path(directory).resolve())
        return True
    except ValueError:
        return False


# -------------------------------------------------------------------------- installed package
def test_tests_use_the_installed_package():
    assert not is_under(mfkit.__file__, SOURCE_PACKAGE), mfkit.__file__
    assert not is_under(mfkit._core.__file__, REPO), mfkit._core.__file__


def test_installed_package_works_outside_the_source_tree(tmp_path):
    script = textwrap.dedent("""
        import numpy as np, scipy.sparse as sp
        import mfkit, mfkit._core
        print(mfkit.__file__)
        print(mfkit._core.__file__)
        print(mfkit.__version__)
        m = sp.csr_matrix(np.array([[1.0, 0, 2], [0, 3, 0], [1, 1, 0]]))
        model = mfkit.ALS(factors=2, iterations=2, random_state=0).fit(m, show_progress=False)
        assert model.user_factors.shape == (3, 2) and np.isfinite(model.user_factors).all()
        print("FIT-OK")
    """)
    result = run_python(["-c", script], cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    package_file, core_file, version, status = result.stdout.split()
    assert not is_under(package_file, SOURCE_PACKAGE)
    assert not is_under(package_file, REPO)
    assert not is_under(core_file, REPO)
    assert Path(core_file).parent == Path(package_file).parent
    assert version == mfkit.__version__
    assert status == "FIT-OK"


def test_version_is_a_string():
    assert isinstance(mfkit.__version__, str)
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?([.-]?\w+)*", mfkit.__version__)


def test_core_reports_openmp_as_bool():
    assert type(mfkit._core.has_openmp) is bool


def test_public_api():
    assert set(mfkit.__all__) >= {"ALS", "NotFittedError", "NumericalError", "datasets"}
    for name in mfkit.__all__:
        assert hasattr(mfkit, name), name
    assert issubclass(mfkit.NumericalError, ArithmeticError)
    assert mfkit.NumericalError is mfkit._core.NumericalError


# --------------------------------------------------------------------------- README quickstart
def quickstart_code(text: str) -> str:
    """The first ```python block after the '## Quickstart' heading (before the next ## heading)."""
    heading = re.search(r"^##\s+Quickstart\s*$", text, flags=re.MULTILINE | re.IGNORECASE)
    assert heading, "README.md has no '## Quickstart' section"
    section = text[heading.end():]
    next_heading = re.search(r"^##\s", section, flags=re.MULTILINE)
    if next_heading:
        section = section[:next_heading.start()]
    block = re.search(r"^```python[ \t]*\n(.*?)^```", section, flags=re.MULTILINE | re.DOTALL)
    assert block, "the Quickstart section of README.md has no ```python block"
    return block.group(1)


def test_readme_quickstart_runs(tmp_path):
    # Deliberately a failure (not a skip) while the README has no Quickstart section.
    code = quickstart_code(README.read_text(encoding="utf-8"))
    assert "mfkit" in code
    script = tmp_path / "quickstart.py"
    script.write_text(code, encoding="utf-8")
    result = run_python([str(script)], cwd=tmp_path)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert "Traceback" not in result.stderr


def test_quickstart_extraction_helper():
    text = ("# x\n\n## Quickstart\n\nSome text.\n\n```bash\npip install .\n```\n\n"
            "```python\nimport mfkit\nprint(1)\n```\n\n## Next\n\n```python\nbad\n```\n")
    assert quickstart_code(text) == "import mfkit\nprint(1)\n"
    with pytest.raises(AssertionError):
        quickstart_code("# x\n\n## Install\n\n```python\nimport mfkit\n```\n")
    with pytest.raises(AssertionError):
        quickstart_code("## Quickstart\n\ntext\n\n## Next\n\n```python\nimport mfkit\n```\n")


def first_python_block(text: str) -> tuple:
    """(the README's first ```python block, the text before it)."""
    block = re.search(r"^```python[ \t]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    assert block, "README.md has no ```python block"
    return block.group(1), text[:block.start()]


def test_readme_opens_with_the_dataframe_to_raw_ids_path(tmp_path):
    pytest.importorskip("pandas")
    code, before = first_python_block(README.read_text(encoding="utf-8"))
    assert "## Try it" not in before  # right after the intro, before installing and the rest
    assert "from_dataframe(" in code and "recommend_raw(" in code
    statements = [line for line in code.splitlines() if line and not line.startswith(" ")]
    assert len(statements) <= 5
    script = tmp_path / "dataframe_path.py"
    script.write_text(code + "print(items.tolist())\n", encoding="utf-8")
    result = run_python([str(script)], cwd=tmp_path)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    items = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert len(items) == 2 and not {"tea", "jam"} & set(items)  # raw ids, none of ann's own


# ----------------------------------------------------------------------------------- datasets
SHAPES = [(2000, 1000, 0.02), (500, 300, 0.05), (1000, 500, 0.01), (200, 100, 0.02)]


@pytest.mark.parametrize("n_users,n_items,density", SHAPES)
def test_synthetic_properties(n_users, n_items, density):
    matrix = mfkit.datasets.synthetic(n_users, n_items, density, seed=3)
    assert isinstance(matrix, sp.csr_matrix)
    assert matrix.shape == (n_users, n_items)
    assert matrix.dtype == np.float32
    assert matrix.has_canonical_format
    assert np.all(matrix.data > 0)
    assert np.array_equal(matrix.data, np.round(matrix.data)), "values are interaction counts"
    assert np.all(matrix.getnnz(axis=1) > 0), "every user has at least one interaction"
    actual = matrix.nnz / (n_users * n_items)
    assert density / 2 <= actual <= density * 2, actual


def test_synthetic_is_deterministic_per_seed():
    a = mfkit.datasets.synthetic(300, 200, 0.03, seed=5)
    b = mfkit.datasets.synthetic(300, 200, 0.03, seed=5)
    c = mfkit.datasets.synthetic(300, 200, 0.03, seed=6)
    for attr in ("data", "indices", "indptr"):
        assert np.array_equal(getattr(a, attr), getattr(b, attr))
    assert a.shape == c.shape
    assert (a != c).nnz > 0


def test_synthetic_defaults():
    matrix = mfkit.datasets.synthetic()
    assert matrix.shape == (2000, 1000)
    assert np.array_equal(matrix.indptr, mfkit.datasets.synthetic(seed=0).indptr)


@pytest.mark.parametrize("kwargs", [dict(density=0.0), dict(density=1.5), dict(density=-0.1),
                                    dict(n_users=0), dict(n_items=0), dict(seed=-1),
                                    dict(n_clusters=0)], ids=lambda kw: next(iter(kw)))
def test_synthetic_rejects_bad_arguments(kwargs):
    params = dict(n_users=20, n_items=10, density=0.1)
    params.update(kwargs)
    name = next(iter(kwargs))
    with pytest.raises(ValueError, match=name):
        mfkit.datasets.synthetic(**params)


def test_synthetic_rejects_wrong_types():
    with pytest.raises(TypeError, match="n_users"):
        mfkit.datasets.synthetic(n_users=10.5)
    with pytest.raises(TypeError, match="seed"):
        mfkit.datasets.synthetic(seed="0")


def test_show_config_reports_version_openmp_and_simd_level():
    import io

    out = io.StringIO()
    mfkit.show_config(file=out)
    text = out.getvalue()
    assert f"mfkit {mfkit.__version__}" in text
    assert ("openmp: on" if mfkit._core.has_openmp else "openmp: off") in text
    assert f"simd: {mfkit._simd.level()} in use" in text
    facts = mfkit._config.config()
    assert facts["threads"] >= 1 and facts["simd_level"] in facts["simd_supported"]
