"""benchmarks/plot.py draws every chart from results files of the benchmarks' JSON format."""
from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

PLOT = Path(__file__).resolve().parents[1] / "benchmarks" / "plot.py"

RESULTS = {
    "als": dict(data="synthetic", rows=[
        dict(library=library, solver=solver, factors=k, seconds_per_iteration=t * k / 64)
        for library, t in (("mfkit", 0.2), ("implicit", 0.5)) for solver in ("cg", "cholesky")
        for k in (64, 128)]),
    "quality": dict(data="amazon-beauty", metric="recall@20", rows=[
        dict(model="mfkit ALS", fit_seconds=5.0, **{"recall@20": 0.11}),
        dict(model="implicit ALS", fit_seconds=9.0, **{"recall@20": 0.10})]),
    "ann": dict(items=10_000, factors=64, results=[
        dict(implementation="mfkit voyager", knob="ef", value=v, queries_per_second=q,
             recall_at_10=r) for v, q, r in ((10, 9000, 0.9), (40, 5000, 0.97))] + [
        dict(implementation="mfkit exact", knob=None, value=None, queries_per_second=300,
             recall_at_10=1.0)]),
    "distributed": dict(data="synthetic", factors=64, rows=[
        dict(fit="mfkit ALS.fit, 2 threads", seconds_per_iteration=0.2),
        dict(fit="Spark MLlib ALS", seconds_per_iteration=6.0)]),
}


def test_every_chart_is_drawn(tmp_path):
    pytest.importorskip("matplotlib")
    results = tmp_path / "results"
    results.mkdir()
    for name, record in RESULTS.items():
        (results / f"{name}.json").write_text(json.dumps(dict(command="python x", **record)))
    draw = runpy.run_path(str(PLOT))["draw"]
    written = draw(results, tmp_path / "img")
    assert sorted(p.name for p in written) == sorted(f"{name}.png" for name in RESULTS)
    assert all(p.stat().st_size > 10_000 for p in written)  # real pictures, not empty files
    (results / "ann.json").unlink()
    assert len(draw(results, tmp_path / "img2")) == 3  # an absent result is skipped
