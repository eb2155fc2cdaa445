"""Saving fitted models to one ``.npz`` file and loading them back, without pickle.

File format (``format`` 2)
--------------------------
An uncompressed numpy ``.npz`` archive holding

- one array per fitted attribute the model's class declares in ``_fitted_arrays`` (default
  ``("user_factors", "item_factors")``); list attributes such as ``loss_history`` are stored as
  1-D float64 arrays and come back as lists of floats;
- ``__mfkit__``: a 0-d unicode array holding the JSON text
  ``{"format": 2, "mfkit_version": ..., "class": "ALS", "params": {...}, "fitted": {...}}``,
  where ``params`` are the model's ``get_params()``: ``dtype`` as its name (``"float32"``),
  ``random_state`` only when it is ``None`` or an int (a ``numpy.random.Generator`` or
  ``SeedSequence`` is stored as ``null``: the fitted factors are saved, only a later refit of the
  loaded model draws new initial factors); and ``fitted`` holds the fitted scalars the class
  declares in ``_fitted_scalars`` (e.g. NMF's ``n_iter_``).

With approximate nearest-neighbour indexes (``model.build_index``), each native index is a 1-D
uint8 array ``__ann_<use>__`` holding the backend's own serialization, described under ``"ann"``
in the JSON metadata (:mod:`mfkit.ann._saving`); both are optional, so format 2 is unchanged for
older readers, and a file loads without the backend's package (the index left out, with a
warning).

Format 1 (mfkit 0.1.0) stored the fitted scalars as 0-d arrays named in the class's
``_format1_scalars`` (``{array name: attribute}``); such files still load.

Model classes are looked up by name in :mod:`mfkit._registry` (every model registers itself), so
this module imports no model.

Loading never unpickles anything (``allow_pickle=False``) and checks everything it reads, so a
damaged or hand-made file gives a ``ValueError`` naming the file instead of a broken model.
"""
from __future__ import annotations

import json
import numbers
import os
import secrets
import stat
import struct
import zipfile
import zlib

import numpy as np

from . import _registry
from ._typing import Model, PathLike
from ._version import __version__
from .ann import _saving as _ann_saving
from .exceptions import NotFittedError

__all__ = ["save_model", "load_model", "FORMAT_VERSION"]

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
METADATA_KEY = "__mfkit__"
SUFFIX = ".npz"

# Always part of a fitted model, whatever ``_fitted_arrays`` says.
_FACTOR_ARRAYS = ("user_factors", "item_factors")
_DEFAULT_FITTED_ARRAYS = _FACTOR_ARRAYS
# Fitted attributes kept as Python lists of floats on the model (stored as 1-D float64 arrays).
_LIST_ATTRIBUTES = frozenset({"loss_history"})
# Raw user / item ids (ints or strings) of a model fitted on mfkit.datasets.Interactions: saved
# when present, one per factor row.
_ID_ARRAYS = {"user_ids": "user_factors", "item_ids": "item_factors"}

# What reading a damaged archive can raise from zipfile / zlib / numpy.
_READ_ERRORS = (zipfile.BadZipFile, EOFError, OSError, ValueError, zlib.error, struct.error,
                NotImplementedError, RuntimeError, KeyError, IndexError, TypeError, OverflowError)


def _fitted_array_names(cls_or_model) -> tuple:
    """The factor arrays first, then whatever else ``_fitted_arrays`` declares (no duplicates)."""
    declared = getattr(cls_or_model, "_fitted_arrays", None)
    if declared is None:
        declared = _DEFAULT_FITTED_ARRAYS
    if isinstance(declared, str) or not all(isinstance(n, str) for n in declared):
        raise TypeError(f"_fitted_arrays must be a tuple of attribute names, got {declared!r}")
    names = list(_FACTOR_ARRAYS)
    for name in declared:
        if name not in names:
            names.append(name)
    if METADATA_KEY in names:
        raise TypeError(f"{METADATA_KEY!r} cannot be a fitted attribute name")
    return tuple(names)


# ---------------------------------------------------------------------------------------- paths
def _check_path(path) -> str:
    """``path`` as ``str``/``bytes`` for ``open``; it must end in ``.npz``."""
    try:
        fspath = os.fspath(path)
    except TypeError:
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}") from None
    if not os.fsdecode(fspath).endswith(SUFFIX):
        raise ValueError(f"path must end in {SUFFIX!r} (a numpy .npz archive), got {path!r}")
    return fspath


def _display(path) -> str:
    return repr(os.fsdecode(path))


# ----------------------------------------------------------------------------------------- save
def _json_params(model) -> dict:
    """``model.get_params()`` made JSON-safe (see the module docstring)."""
    out = {}
    for name, value in model.get_params().items():
        if name == "dtype":
            try:
                out[name] = np.dtype(value).name
            except TypeError:
                raise TypeError(f"parameter dtype must be a numpy dtype, got {value!r}") from None
            continue
        if name == "random_state":
            if value is None or isinstance(value, (np.random.Generator, np.random.SeedSequence)):
                out[name] = None  # documented: a Generator's state is not saved
            elif isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
                out[name] = int(value)
            else:
                raise TypeError(
                    f"parameter random_state must be None, an int or a numpy Generator to be "
                    f"saved, got {type(value).__name__}")
            continue
        out[name] = _json_scalar(name, value)
    return out


def _json_scalar(name, value):
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if not np.isfinite(value):
            raise ValueError(f"parameter {name} must be finite to be saved, got {value}")
        return value
    raise TypeError(
        f"parameter {name} of type {type(value).__name__} cannot be saved (only None, bool, int, "
        "float and str parameters can)")


def _fitted_arrays_of(model, names) -> dict:
    arrays = {}
    for name in names:
        value = getattr(model, name, None)
        if value is None:
            raise NotFittedError(
                f"this {type(model).__name__} is not fitted yet (it has no {name}); "
                "call fit before save")
        if isinstance(value, (list, tuple)):
            try:
                value = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError):
                raise TypeError(f"{name} must be a list of numbers to be saved") from None
            if value.ndim != 1:
                raise TypeError(f"{name} must be a flat list of numbers to be saved")
        elif not isinstance(value, np.ndarray):
            raise TypeError(
                f"fitted attribute {name} must be a numpy array or a list of numbers to be "
                f"saved, got {type(value).__name__}")
        if value.dtype.hasobject:
            raise TypeError(f"fitted attribute {name} holds Python objects and cannot be saved")
        arrays[name] = value
    return arrays


def save_model(model: Model, path: PathLike) -> None:
    """Write a fitted ``model`` to ``path`` (one ``.npz`` file; see the module docstring).

    The file is written to a temporary file in the same directory and then renamed over
    ``path``, so ``path`` always holds either its old content or the complete new model. The
    model itself is not modified.

    Raises
    ------
    NotFittedError
        ``model`` is not fitted.
    ValueError
        ``path`` does not end in ``.npz``, or the fitted state is inconsistent with the
        parameters (e.g. ``set_params(dtype=...)`` after ``fit``): the same checks as loading,
        so every saved file loads.
    TypeError
        ``model`` is not an mfkit model, or a parameter cannot be stored in JSON.
    """
    fspath = _check_path(path)
    cls = type(model)
    if _registry.model_class(cls.__name__) is not cls:
        raise TypeError(f"model must be one of mfkit's models ({', '.join(_registry.model_names())}"
                        f"), got {cls.__name__}")

    names = _fitted_array_names(model)
    arrays = _fitted_arrays_of(model, names)
    for attribute in _ID_ARRAYS:
        ids = getattr(model, attribute, None)
        if ids is not None:
            arrays[attribute] = np.asarray(ids)
    params = _json_params(model)
    _check_model_state(cls, params, arrays, where="the model")
    metadata = {"format": FORMAT_VERSION, "mfkit_version": __version__,
                "class": cls.__name__, "params": params, "fitted": _fitted_scalars_of(model)}
    index_arrays, index_metadata = _ann_saving.saved_indexes(model)
    if index_metadata:
        arrays.update(index_arrays)
        metadata["ann"] = index_metadata
    text = json.dumps(metadata, allow_nan=False, sort_keys=True)
    arrays[METADATA_KEY] = np.array(text, dtype=np.str_)
    _write_atomically(fspath, arrays)


def _write_atomically(fspath, arrays: dict) -> None:
    directory, base = os.path.split(os.path.abspath(fspath))
    while True:
        temporary = os.path.join(directory, f".{os.fsdecode(base)}.{secrets.token_hex(6)}.tmp")
        try:
            # 0o666 minus the umask, like a file created by open(): not mkstemp's 0o600.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                         | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            np.savez(file, **arrays)
            file.flush()
            os.fsync(file.fileno())
        try:  # overwriting keeps the old file's permissions
            os.chmod(temporary, stat.S_IMODE(os.stat(fspath).st_mode))
        except OSError:
            pass
        os.replace(temporary, fspath)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory) -> None:
    """Make the rename durable (POSIX; a no-op where directories cannot be opened)."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------------------- load
def load_model(path: PathLike) -> Model:
    """Read a model written by :func:`save_model` (``model.save``) and return it.

    Nothing in the file is unpickled. Raises ``FileNotFoundError`` (and other ``OSError``
    from opening the file) unchanged; every problem with the file's content raises
    ``ValueError`` naming the file.
    """
    fspath = _check_path(path)
    name = _display(fspath)
    with open(fspath, "rb") as file:  # missing file / permissions: the OSError as it is
        arrays = _read_archive(file, name)

    if METADATA_KEY not in arrays:
        raise ValueError(
            f"{name} is not an mfkit model file: it has no {METADATA_KEY!r} metadata entry")
    metadata = _parse_metadata(arrays.pop(METADATA_KEY), name)
    class_name = metadata.get("class")
    cls = _registry.model_class(class_name) if isinstance(class_name, str) else None
    if cls is None:
        known = ", ".join(_registry.model_names())
        raise ValueError(
            f"{name} holds a model of unknown class {class_name!r} (this mfkit knows: {known})")
    params = _decode_params(metadata.get("params"), name)

    names = _fitted_array_names(cls)
    missing = [n for n in names if n not in arrays]
    if missing:
        raise ValueError(
            f"{name} is not a valid mfkit model file: required array(s) "
            f"{', '.join(missing)} missing")
    fitted = {n: arrays[n] for n in names}
    fitted.update({n: arrays[n] for n in _ID_ARRAYS if n in arrays})
    _check_model_state(cls, params, fitted, where=name)
    scalars = _read_fitted_scalars(cls, metadata, arrays, name)

    try:
        model = cls(**params)
    except TypeError as exc:
        raise ValueError(f"{name} has parameters {cls.__name__} does not accept: {exc}") from None
    try:
        model._validate_params()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} holds invalid parameters: {exc}") from None

    for attribute, array in fitted.items():
        if attribute in _LIST_ATTRIBUTES:
            setattr(model, attribute, [float(x) for x in array.astype(np.float64)])
        else:
            setattr(model, attribute, _owned_c_array(array))
    for attribute, value in scalars.items():
        setattr(model, attribute, value)
    indexes = _ann_saving.loaded_indexes(metadata.get("ann"), arrays, name)
    if indexes:
        model.ann_indexes = indexes
    return model


def _fitted_scalars_of(model) -> dict:
    scalars = {}
    for name in type(model)._fitted_scalars:
        value = getattr(model, name, None)
        if value is None:
            raise NotFittedError(f"this {type(model).__name__} is not fitted yet (it has no "
                                 f"{name}); call fit before save")
        scalars[name] = _json_scalar(name, value)
    return scalars


def _read_fitted_scalars(cls, metadata: dict, arrays: dict, name) -> dict:
    """The fitted scalars: from the JSON metadata (format 2) or 0-d arrays (format 1)."""
    if metadata["format"] == 1:
        found = {}
        for array_name, attribute in cls._format1_scalars.items():
            array = arrays.get(array_name)
            if array is None or array.ndim != 0:
                raise _invalid(name, f"{array_name} must be a 0-d array")
            found[attribute] = array.item()
    else:
        found = metadata.get("fitted")
        if not isinstance(found, dict):
            raise _invalid(name, "'fitted' must be a JSON object")
    scalars = {}
    for attribute in cls._fitted_scalars:
        value = found.get(attribute)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not np.isfinite(value):
            raise _invalid(name, f"fitted value {attribute} must be a finite number, got "
                                 f"{value!r}")
        scalars[attribute] = value
    return scalars


def _owned_c_array(array: np.ndarray) -> np.ndarray:
    """``array`` itself when it is already a C-contiguous, aligned, writeable array owning its
    memory (what numpy reads from an archive), else such a copy."""
    flags = array.flags
    if flags.c_contiguous and flags.aligned and flags.writeable and flags.owndata:
        return array
    return np.array(array, order="C", copy=True)


def _invalid(name, detail):
    return ValueError(f"{name} is not a valid mfkit model file ({detail})")


def _read_archive(file, name) -> dict:
    """Every array of the ``.npz`` in ``file``, read without pickle."""
    head = file.read(4)
    if head not in (b"PK\x03\x04", b"PK\x05\x06"):
        raise _invalid(name, "not a zip archive")
    file.seek(0)
    try:
        archive = np.load(file, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise _invalid(name, f"{type(exc).__name__}: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise _invalid(name, "not an npz archive")
    arrays = {}
    with archive:
        for key in archive.files:
            if _needs_pickle(archive, key):
                raise _pickled(name, key)
            try:
                value = archive[key]
            except ValueError as exc:
                if "pickle" in str(exc):
                    raise _pickled(name, key) from None
                raise _invalid(name, f"entry {key!r}: {exc}") from None
            except _READ_ERRORS as exc:
                raise _invalid(name, f"entry {key!r}: {type(exc).__name__}: {exc}") from None
            if not isinstance(value, np.ndarray):
                raise _invalid(name, f"entry {key!r} is not a numpy array")
            if value.dtype.hasobject:
                raise _pickled(name, key)
            arrays[key] = value
    return arrays


def _pickled(name, key):
    return ValueError(
        f"{name} contains pickled objects (entry {key!r}); refusing to load: a model file must "
        "never execute code")


def _needs_pickle(archive, key) -> bool:
    """Whether the ``.npy`` header of ``key`` declares an object dtype (read before the data)."""
    member = key if key in archive.zip.namelist() else key + ".npy"
    try:
        with archive.zip.open(member) as fp:
            version = np.lib.format.read_magic(fp)
            if version == (1, 0):
                _, _, dtype = np.lib.format.read_array_header_1_0(fp)
            elif version == (2, 0):
                _, _, dtype = np.lib.format.read_array_header_2_0(fp)
            else:
                return False  # left to read_array, which refuses objects itself
    except _READ_ERRORS:
        return False  # damage: reported when the entry is read
    return dtype.hasobject


def _parse_metadata(entry, name) -> dict:
    if entry.ndim != 0 or entry.dtype.kind != "U":
        raise _invalid(name, f"{METADATA_KEY!r} must be a 0-d unicode array")
    try:
        metadata = json.loads(str(entry[()]))
    except ValueError as exc:
        raise _invalid(name, f"{METADATA_KEY!r} is not valid JSON: {exc}") from None
    if not isinstance(metadata, dict):
        raise _invalid(name, f"{METADATA_KEY!r} must be a JSON object")
    fmt = metadata.get("format")
    if type(fmt) is not int or fmt not in READABLE_FORMATS:
        raise ValueError(
            f"{name} has model file format {fmt!r}, which mfkit {__version__} cannot read "
            f"(it reads formats {', '.join(map(str, READABLE_FORMATS))})")
    return metadata


def _decode_params(params, name) -> dict:
    if not isinstance(params, dict):
        raise _invalid(name, "'params' must be a JSON object")
    params = dict(params)
    if "dtype" in params:
        try:
            if not isinstance(params["dtype"], str):
                raise TypeError
            params["dtype"] = np.dtype(params["dtype"]).type
        except (TypeError, ValueError):
            raise ValueError(f"{name} holds an invalid dtype {params['dtype']!r}") from None
    return params


# ------------------------------------------------------------------------ checks (save and load)
def _check_model_state(cls, params: dict, arrays: dict, where) -> None:
    """Fitted arrays consistent with each other and with ``params``; ``ValueError`` otherwise.

    ``params`` are JSON-level (``dtype`` a name or a numpy type). Run before writing and after
    reading, so a file that ``save_model`` writes always loads.
    """
    def fail(detail):
        raise ValueError(f"{where}: {detail}" if where == "the model"
                         else f"{where} is not a valid mfkit model file ({detail})")

    dtype = None
    if params.get("dtype") is not None:
        try:
            dtype = np.dtype(params["dtype"])
        except TypeError:
            fail(f"invalid dtype {params['dtype']!r}")
    columns = None
    for attribute in _FACTOR_ARRAYS:
        array = arrays[attribute]
        if array.ndim != 2:
            fail(f"{attribute} must be 2-D, got {array.ndim}-D")
        if array.dtype.kind != "f":
            fail(f"{attribute} must hold floats, got dtype {array.dtype}")
        if dtype is not None and array.dtype != dtype:
            fail(f"{attribute} has dtype {array.dtype}, but the model's dtype is {dtype}")
        if array.shape[0] == 0 or array.shape[1] == 0:
            fail(f"{attribute} is empty (shape {array.shape})")
        if columns is None:
            columns = array.shape[1]
        elif array.shape[1] != columns:
            fail(f"user_factors has {columns} columns but {attribute} has {array.shape[1]}")
        if not np.all(np.isfinite(array)):
            fail(f"{attribute} contains NaN or infinite values")
    factors = params.get("factors")
    if isinstance(factors, numbers.Integral) and factors != columns:
        fail(f"the factors have {columns} columns but the parameter factors is {factors}")
    for attribute, factors_name in _ID_ARRAYS.items():
        ids = arrays.get(attribute)
        if ids is None:
            continue
        if ids.ndim != 1 or ids.dtype.kind not in "iuU":
            fail(f"{attribute} must be a 1-D array of integers or strings, got {ids.ndim}-D "
                 f"{ids.dtype}")
        if len(ids) != len(arrays[factors_name]):
            fail(f"{attribute} has {len(ids)} ids for {len(arrays[factors_name])} rows of "
                 f"{factors_name}")
    for attribute, array in arrays.items():
        if attribute in _FACTOR_ARRAYS:
            continue
        if array.dtype.hasobject:
            fail(f"{attribute} holds Python objects")
        if attribute in _LIST_ATTRIBUTES and (array.ndim != 1 or array.dtype.kind not in "fiu"):
            fail(f"{attribute} must be a 1-D array of numbers, got {array.ndim}-D {array.dtype}")
