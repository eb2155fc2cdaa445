"""The documentation site (docs/, mkdocs.yml): every Python example runs, every page is in the
navigation, and the site builds without a warning.

Conventions of the pages (docs/*.md):

- Every fenced block opened by a line ```` ```python ```` runs. A page's blocks run in order in
  one namespace, in a fresh temporary directory (files the examples write stay there).
- ```` ```python {.no-run} ```` marks a block that must not run (it needs a running cluster or
  another library); it is shown with the same highlighting. Kept to the few that need it.
- A page whose examples need a data set of ``../shared/data`` starts with
  ``<!-- docs-test: needs NAME -->`` (e.g. ``ml-latest-small``): the test links that directory
  into the temporary directory as ``NAME``, where the page's code reads it, and skips the page
  where the data is absent.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import mfkit

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
DATA = REPO.parent / "shared" / "data"
MKDOCS_YML = REPO / "mkdocs.yml"

# Opening fence at the start of a line: ```python, optionally with {.no-run}; body up to ```.
FENCE = re.compile(r"^```python(?P<attrs>[ \t]*\{[^}\n]*\})?[ \t]*\n(?P<body>.*?)^```[ \t]*$",
                   re.MULTILINE | re.DOTALL)
NEEDS = re.compile(r"<!--\s*docs-test:\s*needs\s+(?P<names>[\w.\- ]+?)\s*-->")
# Blocks that may not run, across the whole site: each one is a page that cannot show working
# code, so the count is capped (raise it only for a block that truly cannot run).
MAX_NO_RUN = 3


def pages() -> list[Path]:
    return sorted(path for path in DOCS.rglob("*.md") if "_hooks" not in path.parts)


def blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(line, code, runs)`` of every Python block of a page, in order."""
    found = []
    for match in FENCE.finditer(text):
        line = text.count("\n", 0, match.start("body")) + 1
        attrs = match.group("attrs") or ""
        found.append((line, match.group("body"), ".no-run" not in attrs))
    return found


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def runnable_pages() -> list[Path]:
    return [path for path in pages() if any(runs for _, _, runs in blocks(read(path)))]


def page_id(path: Path) -> str:
    return path.relative_to(DOCS).as_posix()


def test_the_extractor_sees_python_blocks_only():
    text = ("intro\n```python\na = 1\n```\n\n```bash\nls\n```\n"
            "```python {.no-run}\nconnect()\n```\n```python\nb = a + 1\n```\n")
    assert [(code, runs) for _, code, runs in blocks(text)] == [
        ("a = 1\n", True), ("connect()\n", False), ("b = a + 1\n", True)]
    assert [line for line, _, _ in blocks(text)] == [3, 10, 13]


@pytest.mark.parametrize("page", runnable_pages(), ids=page_id)
def test_page_examples_run(page, tmp_path, monkeypatch):
    text = read(page)
    needs = NEEDS.search(text)
    for name in needs.group("names").split() if needs else ():
        source = DATA / name
        if not source.is_dir():
            pytest.skip(f"{page_id(page)} needs {source} (absent here)")
        (tmp_path / name).symlink_to(source, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__docs__"}
    with mfkit.config_context(progress=False):
        for line, code, runs in blocks(text):
            if runs:
                exec(compile(code, f"{page_id(page)}, block at line {line}", "exec"), namespace)


def test_few_blocks_are_not_run():
    skipped = [f"{page_id(page)}:{line}" for page in pages()
               for line, _, runs in blocks(read(page)) if not runs]
    assert len(skipped) <= MAX_NO_RUN, skipped


def test_every_page_is_in_the_navigation():
    yaml = pytest.importorskip("yaml")
    config = yaml.safe_load(read(MKDOCS_YML))

    def listed(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            if isinstance(value, list):
                yield from listed(value)
            else:
                yield value

    in_nav = set(listed(config["nav"]))
    assert in_nav == {page_id(page) for page in pages()}


def test_the_site_builds_without_warnings(tmp_path):
    """``mkdocs build --strict`` (what CI runs): broken links, unlisted anchors, docstrings
    mkdocstrings cannot render all fail it."""
    pytest.importorskip("mkdocs")
    pytest.importorskip("mkdocstrings_handlers.python")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(MKDOCS_YML),
         "--site-dir", str(tmp_path / "site")],
        capture_output=True, text=True, cwd=REPO, env=dict(os.environ, NO_COLOR="1"),
        timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "models" / "index.html").is_file()
