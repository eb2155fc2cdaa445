"""A model's indexes in its saved file: each native index as the backend's own bytes (a uint8
array ``__ann_<use>__``, never pickle), the rest in the JSON metadata under ``"ann"``.

The entries are optional, so files without them (older mfkit, or no index built) load as before,
and older mfkit versions ignore them. A model loads without the backend's package: the index is
then left out with a warning (``approximate=True`` asks for ``build_index``).
"""
from __future__ import annotations

import numbers

import numpy as np

from .._validation import check_choice
from .._warnings import warn_caller
from . import _backends
from ._index import MIPS_MODES, ItemIndex

USES = ("recommend", "similar_items")


def array_name(use: str) -> str:
    return f"__ann_{use}__"


def saved_indexes(model) -> tuple[dict, dict]:
    """``(arrays, metadata)`` of the model's indexes (empty when it has none)."""
    arrays, metadata = {}, {}
    for use, index in (getattr(model, "ann_indexes", None) or {}).items():
        arrays[array_name(use)] = np.frombuffer(index.to_bytes(), dtype=np.uint8)
        metadata[use] = index.state()
    return arrays, metadata


def loaded_indexes(metadata, arrays: dict, name: str) -> dict:
    """``{use: ItemIndex}`` from a file's ``"ann"`` metadata and arrays (``ValueError`` naming
    the file ``name`` if they are damaged); indexes whose package is missing are left out with a
    warning."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not set(metadata) <= set(USES):
        raise _invalid(name, f"'ann' must map some of {', '.join(USES)} to index descriptions")
    indexes, skipped = {}, {}
    for use, state in metadata.items():
        data = arrays.get(array_name(use))
        if data is None or data.ndim != 1 or data.dtype != np.uint8:
            raise _invalid(name, f"the {use} index needs a 1-D uint8 array {array_name(use)}")
        state = _checked_state(state, use, name)
        try:
            indexes[use] = ItemIndex.from_state(state, data.tobytes())
        except ImportError as exc:
            skipped[f"{use} ({state['backend']})"] = exc
        except Exception as exc:  # the backends' deserializers raise their own types
            raise _invalid(name, f"the {use} index cannot be read: {type(exc).__name__}: "
                                 f"{exc}") from None
    if skipped:
        reasons = "; ".join(dict.fromkeys(str(exc) for exc in skipped.values()))
        warn_caller(f"{name}: the index for {', '.join(skipped)} was not loaded: {reasons}. The "
                    "model serves exactly; approximate=True needs the package or a new "
                    "model.build_index(...)")
    return indexes


def _checked_state(state, use: str, name: str) -> dict:
    keys = {"backend", "mips", "build_params", "search_params", "size", "dimension", "max_norm",
            "fingerprint"}
    if not isinstance(state, dict) or set(state) != keys:
        raise _invalid(name, f"the {use} index description must have the keys {sorted(keys)}")
    try:
        check_choice(state["mips"], "mips", MIPS_MODES)
        backend = _backends.get_backend(state["backend"])
        for kind in ("build", "search"):
            given = state[f"{kind}_params"]
            if not isinstance(given, dict):
                raise ValueError(f"{kind}_params must be an object")
            _backends.check_params(backend, kind, given)
    except (TypeError, ValueError) as exc:
        raise _invalid(name, f"the {use} index: {exc}") from None
    for key in ("size", "dimension"):
        value = state[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise _invalid(name, f"the {use} index's {key} must be a positive integer")
    norm = state["max_norm"]
    if isinstance(norm, bool) or not isinstance(norm, numbers.Real) or not \
            np.isfinite(norm) or norm < 0:
        raise _invalid(name, f"the {use} index's max_norm must be a finite number >= 0")
    if not isinstance(state["fingerprint"], str):
        raise _invalid(name, f"the {use} index's fingerprint must be a string")
    return state


def _invalid(name, detail):
    return ValueError(f"{name} is not a valid mfkit model file ({detail})")
