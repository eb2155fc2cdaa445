"""Saving and loading models: exact round trips, and clear errors for every kind of bad file.

The tests call ``mfkit._persistence.save_model`` / ``load_model`` directly; the public round trip
of every model (``model.save`` / ``mfkit.load``, and pickle) is in test_contract.py.
"""
from __future__ import annotations

import inspect
import json
import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest

import mfkit
from mfkit import NotFittedError
from mfkit._persistence import load_model, save_model

DTYPES = [np.float32, np.float64]
DTYPE_IDS = ["f32", "f64"]


# ------------------------------------------------------------------------------------ helpers
@pytest.fixture(scope="module")
def user_items():
    return mfkit.datasets.synthetic(60, 40, 0.1, seed=0)


def fit(user_items, **params):
    params = {"factors": 4, "iterations": 2, "random_state": 0, **params}
    return mfkit.ALS(**params).fit(user_items, show_progress=False)


@pytest.fixture
def model(user_items):
    return fit(user_items, calculate_training_loss=True)


@pytest.fixture
def saved(model, tmp_path):
    """A valid model file (float32, cg) and the model it holds."""
    path = tmp_path / "model.npz"
    save_model(model, path)
    return path, model


def assert_same_model(loaded, original):
    assert type(loaded) is type(original)
    for name in ("user_factors", "item_factors"):
        a, b = getattr(loaded, name), getattr(original, name)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes(), name  # bitwise, not approximately
    assert loaded.get_params() == original.get_params()
    assert np.dtype(loaded.dtype) == np.dtype(original.dtype)


def entries(path) -> dict:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def metadata(path) -> dict:
    return json.loads(str(entries(path)["__mfkit__"][()]))


def write_npz(path, contents: dict):
    """A raw .npz with exactly ``contents`` (no checks): for hand-made and tampered files."""
    with open(path, "wb") as file:
        np.savez(file, **contents)


def tamper(path, **changes):
    """Rewrite the archive at ``path``; a value of None removes that entry."""
    contents = entries(path)
    for key, value in changes.items():
        if value is None:
            contents.pop(key)
        else:
            contents[key] = value
    write_npz(path, contents)


def tamper_metadata(path, change):
    meta = metadata(path)
    change(meta)
    tamper(path, __mfkit__=np.array(json.dumps(meta)))


def savez_allowing_pickle(path, **arrays):
    """``np.savez(..., allow_pickle=True)`` where numpy has that option (it is the default)."""
    supported = "allow_pickle" in inspect.signature(np.savez).parameters
    options = {"allow_pickle": True} if supported else {}
    with open(path, "wb") as file:
        np.savez(file, **arrays, **options)


def assert_load_fails(path, *fragments):
    """``load_model(path)`` raises a ValueError naming the file and containing ``fragments``."""
    with pytest.raises(ValueError) as info:
        load_model(path)
    message = str(info.value)
    assert os.fspath(path) in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


class RunsCodeWhenUnpickled:
    """Unpickling this creates a directory: proof that a loader executed code from a file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


# ---------------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_round_trip_is_exact(user_items, tmp_path, dtype, solver):
    original = fit(user_items, dtype=dtype, solver=solver, calculate_training_loss=True)
    path = tmp_path / "model.npz"
    save_model(original, path)
    loaded = load_model(path)
    assert_same_model(loaded, original)
    assert loaded.user_factors.dtype == np.dtype(dtype)
    assert loaded.solver == solver and loaded.random_state == 0


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
def test_round_trip_keeps_loss_history(user_items, tmp_path, dtype, solver):
    original = fit(user_items, dtype=dtype, solver=solver, calculate_training_loss=True)
    assert len(original.loss_history) == 2
    path = tmp_path / "model.npz"
    save_model(original, path)
    loaded = load_model(path)
    assert isinstance(loaded.loss_history, list)
    assert all(type(value) is float for value in loaded.loss_history)
    assert loaded.loss_history == original.loss_history


def test_round_trip_of_empty_loss_history(user_items, tmp_path):
    original = fit(user_items)  # calculate_training_loss=False
    path = tmp_path / "model.npz"
    save_model(original, path)
    loaded = load_model(path)
    assert_same_model(loaded, original)
    assert loaded.loss_history == []


def test_path_may_be_str_or_pathlike(model, tmp_path):
    as_str = str(tmp_path / "a.npz")
    save_model(model, as_str)
    save_model(model, tmp_path / "b.npz")
    assert_same_model(load_model(tmp_path / "a.npz"), model)
    assert_same_model(load_model(str(tmp_path / "b.npz")), model)


def test_loaded_model_computes_the_same(user_items, saved):
    path, original = saved
    loaded = load_model(path)
    assert loaded.loss(user_items) == original.loss(user_items)
    # The parameters came back complete: refitting reproduces the original fit exactly.
    refit = loaded.fit(user_items, show_progress=False)
    assert refit.user_factors.tobytes() == original.user_factors.tobytes()
    assert refit.loss_history == original.loss_history


def test_loaded_arrays_are_owned_contiguous_copies(saved):
    path, _ = saved
    loaded = load_model(path)
    for name in ("user_factors", "item_factors"):
        array = getattr(loaded, name)
        assert type(array) is np.ndarray
        assert array.flags.c_contiguous and array.flags.writeable and array.flags.owndata
    # The file is closed: it can be replaced or deleted while the model lives on.
    before = loaded.user_factors.copy()
    path.write_bytes(b"")
    path.unlink()
    np.testing.assert_array_equal(loaded.user_factors, before)


# ---------------------------------------------------------------------------- the file itself
def test_saved_file_is_a_plain_npz_without_pickle(saved):
    path, original = saved
    contents = entries(path)  # np.load(allow_pickle=False) reads every entry
    assert {"user_factors", "item_factors", "__mfkit__"} <= set(contents)
    assert all(not array.dtype.hasobject for array in contents.values())
    np.testing.assert_array_equal(contents["user_factors"], original.user_factors)
    meta_entry = contents["__mfkit__"]
    assert meta_entry.ndim == 0 and meta_entry.dtype.kind == "U"
    meta = json.loads(str(meta_entry[()]))
    assert meta["format"] == 2
    assert meta["class"] == "ALS"
    assert meta["mfkit_version"] == mfkit.__version__
    assert meta["params"]["dtype"] == "float32"
    assert meta["params"]["random_state"] == 0
    assert set(meta["params"]) == set(original.get_params())


def test_saved_loss_history_is_float64(saved):
    path, original = saved
    history = entries(path)["loss_history"]
    assert history.dtype == np.float64 and history.shape == (2,)
    assert history.tolist() == original.loss_history


def test_save_does_not_change_the_model(saved, tmp_path):
    _, model = saved
    user_factors, item_factors = model.user_factors, model.item_factors
    user_copy, item_copy = user_factors.copy(), item_factors.copy()
    params, history = model.get_params(), list(model.loss_history)
    save_model(model, tmp_path / "again.npz")
    assert model.user_factors is user_factors and model.item_factors is item_factors
    np.testing.assert_array_equal(user_factors, user_copy)
    np.testing.assert_array_equal(item_factors, item_copy)
    assert model.get_params() == params and model.dtype is np.float32
    assert model.loss_history == history


def test_saving_over_an_existing_file_replaces_it(user_items, tmp_path):
    path = tmp_path / "model.npz"
    first = fit(user_items, random_state=1)
    second = fit(user_items, random_state=2, dtype=np.float64)
    save_model(first, path)
    save_model(second, path)
    assert_same_model(load_model(path), second)
    assert os.listdir(tmp_path) == ["model.npz"]  # no temporary file left behind


def test_failed_save_keeps_the_old_file(saved, monkeypatch):
    path, original = saved
    before = path.read_bytes()

    def crash_midway(file, **arrays):
        file.write(b"PK\x03\x04 half a model")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        save_model(original, path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == [path.name]
    assert_same_model(load_model(path), original)


def test_saved_file_has_default_permissions(saved, tmp_path):
    path, _ = saved
    reference = tmp_path / "plain.bin"
    reference.write_bytes(b"")
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reference.stat().st_mode)


# ------------------------------------------------------------------------------- parameters
def test_generator_random_state_is_saved_as_none(user_items, tmp_path):
    original = fit(user_items, random_state=np.random.default_rng(5))
    path = tmp_path / "model.npz"
    save_model(original, path)
    assert metadata(path)["params"]["random_state"] is None
    loaded = load_model(path)
    assert loaded.random_state is None
    assert loaded.user_factors.tobytes() == original.user_factors.tobytes()


def test_numpy_integer_random_state_is_saved_as_int(user_items, tmp_path):
    original = fit(user_items, random_state=np.int64(3))
    path = tmp_path / "model.npz"
    save_model(original, path)
    assert metadata(path)["params"]["random_state"] == 3
    assert load_model(path).random_state == 3


def test_dtype_given_as_a_string_round_trips(user_items, tmp_path):
    original = fit(user_items, dtype="float64")
    path = tmp_path / "model.npz"
    save_model(original, path)
    loaded = load_model(path)
    assert np.dtype(loaded.dtype) == np.float64
    assert loaded.user_factors.tobytes() == original.user_factors.tobytes()


@pytest.mark.parametrize("name, value", [("solver", object()), ("random_state", "seed"),
                                         ("alpha", [1.0])])
def test_parameter_that_is_not_json_raises_type_error(model, tmp_path, name, value):
    model.set_params(**{name: value})
    path = tmp_path / "model.npz"
    with pytest.raises(TypeError, match=name):
        save_model(model, path)
    assert not path.exists()


def test_save_refuses_parameters_inconsistent_with_the_factors(model, tmp_path):
    path = tmp_path / "model.npz"
    model.set_params(dtype=np.float64)  # the factors are float32
    with pytest.raises(ValueError, match="dtype"):
        save_model(model, path)
    model.set_params(dtype=np.float32, factors=8)  # the factors have 4 columns
    with pytest.raises(ValueError, match="factors"):
        save_model(model, path)
    assert not path.exists()


# ------------------------------------------------------------------------------ save errors
def test_unfitted_model_raises_not_fitted(tmp_path):
    path = tmp_path / "model.npz"
    with pytest.raises(NotFittedError):
        save_model(mfkit.ALS(), path)
    assert not path.exists()


@pytest.mark.parametrize("name", ["model.pkl", "model", "model.npz.tmp"])
def test_save_requires_the_npz_suffix(model, tmp_path, name):
    with pytest.raises(ValueError, match="path"):
        save_model(model, tmp_path / name)
    assert os.listdir(tmp_path) == []


def test_save_refuses_what_is_not_a_model(tmp_path):
    with pytest.raises(TypeError):
        save_model(object(), tmp_path / "model.npz")
    with pytest.raises(TypeError, match="path"):
        save_model(mfkit.ALS(), 42)


def test_registry_holds_every_exported_model():
    assert mfkit._registry.model_class("ALS") is mfkit.ALS
    assert set(mfkit._registry.model_names()) == {
        name for name in mfkit.models.__all__
        if isinstance(getattr(mfkit.models, name), type)
        and issubclass(getattr(mfkit.models, name), mfkit._base.Recommender)
    }


# ------------------------------------------------------------------------------ load errors
def test_load_requires_the_npz_suffix(saved, tmp_path):
    path, _ = saved
    renamed = tmp_path / "model.pkl"
    renamed.write_bytes(path.read_bytes())
    with pytest.raises(ValueError, match="path"):
        load_model(renamed)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_model(tmp_path / "absent.npz")


def test_truncated_file(saved):
    path, _ = saved
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert_load_fails(path, "is not a valid mfkit model file")


@pytest.mark.parametrize("where", [0.25, 0.5, 0.75])
def test_flipped_bytes(saved, where):
    path, _ = saved
    data = bytearray(path.read_bytes())
    middle = int(len(data) * where)
    for i in range(middle, middle + 8):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    assert_load_fails(path, "is not a valid mfkit model file")


def test_any_single_byte_damage_is_caught_or_harmless(saved):
    """Every 11th byte flipped in turn: a ValueError, or (zip fields never read) the same model."""
    path, original = saved
    data = path.read_bytes()
    failures = 0
    for i in range(0, len(data), 11):
        damaged = bytearray(data)
        damaged[i] ^= 0xFF
        path.write_bytes(bytes(damaged))
        try:
            loaded = load_model(path)
        except ValueError as error:
            assert os.fspath(path) in str(error)
            failures += 1
        else:
            assert_same_model(loaded, original)
    assert failures > len(data) // 11 // 2


@pytest.mark.parametrize("content", [b"", b"hello, not a zip" * 50,
                                     np.random.default_rng(0).bytes(3000)],
                         ids=["empty", "text", "random"])
def test_file_that_is_not_a_zip(tmp_path, content):
    path = tmp_path / "model.npz"
    path.write_bytes(content)
    assert_load_fails(path, "is not a valid mfkit model file")


def test_npy_file_renamed_npz(saved, tmp_path):
    path, original = saved
    npy = tmp_path / "factors.npy"
    np.save(npy, original.user_factors)
    path.write_bytes(npy.read_bytes())
    assert_load_fails(path, "is not a valid mfkit model file")


def test_pickle_file_renamed_npz_is_never_unpickled(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(RunsCodeWhenUnpickled(marker)))
    assert_load_fails(path, "is not a valid mfkit model file")
    assert not marker.exists()


def test_object_array_is_refused_and_never_unpickled(saved, tmp_path):
    path, _ = saved
    marker = tmp_path / "code-ran"
    contents = entries(path)
    contents["user_factors"] = np.array([RunsCodeWhenUnpickled(marker)], dtype=object)
    savez_allowing_pickle(path, **contents)
    assert_load_fails(path, "pickled", "refusing to load")
    assert not marker.exists()


def test_object_metadata_is_refused(saved):
    path, _ = saved
    meta = metadata(path)
    contents = entries(path)
    contents["__mfkit__"] = np.array([meta], dtype=object)
    savez_allowing_pickle(path, **contents)
    assert_load_fails(path, "pickled")


def test_npz_without_metadata(saved):
    path, _ = saved
    tamper(path, __mfkit__=None)
    assert_load_fails(path, "__mfkit__")


def test_factor_arrays_alone_are_not_a_model(saved, tmp_path):
    _, original = saved
    path = tmp_path / "factors.npz"
    write_npz(path, {"user_factors": original.user_factors, "item_factors": original.item_factors})
    assert_load_fails(path, "__mfkit__")


@pytest.mark.parametrize("entry", [np.array("{not json"), np.array("[1, 2]"), np.array(7),
                                   np.array(["{}", "{}"])],
                         ids=["bad-json", "json-list", "number", "1-d"])
def test_bad_metadata(saved, entry):
    path, _ = saved
    tamper(path, __mfkit__=entry)
    assert_load_fails(path, "__mfkit__")


def test_unknown_class(saved):
    path, _ = saved
    tamper_metadata(path, lambda meta: meta.update({"class": "BPR9000"}))
    assert_load_fails(path, "class", "BPR9000")


@pytest.mark.parametrize("value", [3, 0, "1", True, None, 1.0])
def test_unknown_format(saved, value):
    path, _ = saved
    tamper_metadata(path, lambda meta: meta.update({"format": value}))
    assert_load_fails(path, "format")


def test_missing_format(saved):
    path, _ = saved
    tamper_metadata(path, lambda meta: meta.pop("format"))
    assert_load_fails(path, "format")


@pytest.mark.parametrize("params", [
    {"factors": "four"}, {"bogus": 1}, {"dtype": "int32"}, {"dtype": None}, {"dtype": "nonsense"},
], ids=["factors-str", "unknown-name", "int-dtype", "null-dtype", "bad-dtype"])
def test_invalid_params(saved, params):
    path, _ = saved
    tamper_metadata(path, lambda meta: meta["params"].update(params))
    assert_load_fails(path)


def test_params_not_an_object(saved):
    path, _ = saved
    tamper_metadata(path, lambda meta: meta.update({"params": [4]}))
    assert_load_fails(path, "params")


@pytest.mark.parametrize("missing", ["user_factors", "item_factors"])
def test_missing_required_array(saved, missing):
    path, _ = saved
    tamper(path, **{missing: None})
    assert_load_fails(path, missing)


def _with_nan(factors):
    factors = factors.copy()
    factors[3, 1] = np.nan
    return factors


def _with_inf(factors):
    factors = factors.copy()
    factors[0, 0] = -np.inf
    return factors


TAMPERED = {
    "nan": ("user_factors", _with_nan, "NaN"),
    "inf": ("item_factors", _with_inf, "NaN or infinite"),
    "1-d": ("user_factors", lambda f: f.ravel(), "2-D"),
    "3-d": ("item_factors", lambda f: f[None], "2-D"),
    "columns": ("item_factors", lambda f: np.ascontiguousarray(f[:, :3]), "columns"),
    "dtype": ("user_factors", lambda f: f.astype(np.float64), "dtype"),
    "int": ("item_factors", lambda f: (f * 100).astype(np.int32), "dtype"),
    "big-endian": ("user_factors", lambda f: f.astype(">f4"), "dtype"),
    "empty": ("user_factors", lambda f: f[:0], "empty"),
}


@pytest.mark.parametrize("case", TAMPERED)
def test_tampered_arrays(saved, case):
    path, original = saved
    name, change, fragment = TAMPERED[case]
    tamper(path, **{name: change(getattr(original, name))})
    assert_load_fails(path, "is not a valid mfkit model file", fragment)


def test_factor_count_must_match_the_parameter(saved):
    path, _ = saved
    tamper_metadata(path, lambda meta: meta["params"].update({"factors": 8}))
    assert_load_fails(path, "factors")


def test_fortran_ordered_factors_load_as_c_contiguous(saved):
    path, original = saved
    tamper(path, user_factors=np.asfortranarray(original.user_factors))
    loaded = load_model(path)
    assert loaded.user_factors.flags.c_contiguous and loaded.user_factors.flags.owndata
    assert loaded.user_factors.tobytes() == original.user_factors.tobytes()


# ------------------------------------------------------------------ files of earlier releases
FORMAT1 = Path(__file__).parent / "data" / "format1"


@pytest.mark.parametrize("name", ["als", "bpr", "explicit", "nmf"])
def test_format1_files_of_mfkit_0_1_still_load(name, tmp_path):
    """Files written by mfkit 0.1.0 (format 1: fitted scalars as 0-d arrays) load, serve what
    they served then (tests/data/format1/expected.json), and save again as format 2."""
    expected = json.loads((FORMAT1 / "expected.json").read_text())[name]
    model = mfkit.load(FORMAT1 / f"{name}.npz")
    stored = np.load(FORMAT1 / f"{name}.npz")
    np.testing.assert_array_equal(model.user_factors, stored["user_factors"])
    ids, _ = model.recommend(np.arange(3), N=3, filter_already_liked_items=False)
    assert ids.tolist() == expected["top3"]
    for attribute in type(model)._fitted_scalars:
        value = getattr(model, attribute)
        assert type(value) in (int, float) and value == expected[attribute]
    model.save(tmp_path / "again.npz")
    again = mfkit.load(tmp_path / "again.npz")
    assert json.loads(str(np.load(tmp_path / "again.npz")["__mfkit__"]))["format"] == 2
    for attribute in type(model)._fitted_scalars:
        assert getattr(again, attribute) == getattr(model, attribute)
    assert again.recommend(np.arange(3), N=3, filter_already_liked_items=False)[0].tolist() \
        == expected["top3"]
