"""Progress bars: tqdm (a dependency), the global off switch (``MFKIT_PROGRESS``,
``mfkit.set_config`` / ``config_context``), NMF's bar (off by default, ends full at ``tol``)."""
from __future__ import annotations

from importlib import metadata

import numpy as np
import pytest

import mfkit


@pytest.fixture
def data():
    return mfkit.datasets.synthetic(40, 30, 0.2, seed=0).astype(np.float64)


@pytest.fixture(autouse=True)
def default_settings(monkeypatch):
    """No MFKIT_PROGRESS, and the settings a test changes restored after it."""
    monkeypatch.delenv("MFKIT_PROGRESS", raising=False)
    with mfkit.config_context():
        yield


def fit_als(data):
    return mfkit.ALS(factors=2, iterations=2, random_state=0).fit(data, show_progress=True)


def test_tqdm_is_a_dependency():
    requirements = [r for r in metadata.requires("mfkit") or [] if r.startswith("tqdm")]
    assert requirements and all("extra" not in r for r in requirements)


def test_bars_show_by_default(data, capsys):
    assert mfkit.get_config() == {"progress": True}
    fit_als(data)
    assert "ALS" in capsys.readouterr().err


def test_set_config_turns_every_bar_off(data, capsys):
    with mfkit.config_context(progress=False):
        assert mfkit.get_config()["progress"] is False
        model = fit_als(data)
        assert capsys.readouterr().err == ""
    assert mfkit.get_config()["progress"] is True  # restored
    assert np.array_equal(model.user_factors, fit_als(data).user_factors)
    assert "ALS" in capsys.readouterr().err
    mfkit.set_config(progress=False)
    fit_als(data)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("value", ["0", "false", "Off", " no "])
def test_environment_variable_turns_bars_off(data, capsys, monkeypatch, value):
    monkeypatch.setenv("MFKIT_PROGRESS", value)
    assert mfkit.get_config()["progress"] is False
    fit_als(data)
    assert capsys.readouterr().err == ""
    with mfkit.config_context(progress=True):  # set_config wins over the environment
        fit_als(data)
        assert "ALS" in capsys.readouterr().err


def test_bad_settings_are_rejected(monkeypatch):
    with pytest.raises(TypeError, match="progress"):
        mfkit.set_config(progress="no")
    monkeypatch.setenv("MFKIT_PROGRESS", "maybe")
    with pytest.raises(ValueError, match="MFKIT_PROGRESS='maybe'"):
        mfkit.get_config()


def test_nmf_bar_is_off_by_default(data, capsys):
    mfkit.NMF(3, max_iter=5, tol=0, random_state=0).fit(data)
    mfkit.NMF(3, max_iter=5, tol=0, random_state=0).fit_transform(data)
    assert capsys.readouterr().err == ""


def test_nmf_bar_ends_full_when_tol_stops_the_fit(data, capsys):
    model = mfkit.NMF(3, max_iter=1000, tol=1e-2, random_state=0).fit(data, show_progress=True)
    done = model.n_iter_
    assert done < 1000
    last = capsys.readouterr().err.rstrip("\n").split("\r")[-1]
    assert f"{done}/{done}" in last and "100%" in last
