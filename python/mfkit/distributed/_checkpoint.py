"""Checkpoints of a distributed fit: the model after some iterations, saved as an ordinary mfkit
model, and next to it a JSON file with the number of iterations done (written last, so a
checkpoint without its JSON file is incomplete and never resumed from)."""
from __future__ import annotations

import json
import os
import re

from .._persistence import load_model

_NAME = "{}-iteration-{:06d}"
_PATTERN = r"{}-iteration-(\d{{6}})\.json"


def _prefix(model_class) -> str:
    return model_class.__name__.lower()  # als-iteration-000003.json, explicitmf-...


def save_checkpoint(model, directory, iterations: int) -> str:
    """Write ``model`` after ``iterations`` iterations into ``directory``; returns the JSON path."""
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(os.fspath(directory), _NAME.format(_prefix(type(model)), iterations))
    model.save(stem + ".npz")
    with open(stem + ".json.tmp", "w", encoding="utf-8") as file:
        json.dump({"iterations": iterations, "model": os.path.basename(stem) + ".npz"}, file)
    os.replace(stem + ".json.tmp", stem + ".json")
    return stem + ".json"


def load_checkpoint(path, model_class) -> tuple:
    """``(model, iterations done)`` of a checkpoint of a ``model_class`` fit: its JSON file, or a
    checkpoint directory (its latest complete checkpoint)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        pattern = re.compile(_PATTERN.format(_prefix(model_class)))
        found = sorted(name for name in os.listdir(path) if pattern.fullmatch(name))
        if not found:
            raise ValueError(f"resume_from: no checkpoint of an {model_class.__name__} fit "
                             f"({_prefix(model_class)}-iteration-NNNNNN.json) in {path!r}")
        path = os.path.join(path, found[-1])
    if not path.endswith(".json") or not os.path.isfile(path):
        raise ValueError(f"resume_from must be a checkpoint directory or a checkpoint's .json "
                         f"file, got {path!r}")
    with open(path, encoding="utf-8") as file:
        entry = json.load(file)
    model = load_model(os.path.join(os.path.dirname(path), entry["model"]))
    if not isinstance(model, model_class):
        raise ValueError(f"resume_from: {path!r} does not hold an {model_class.__name__} model")
    return model, int(entry["iterations"])


def resumed(path, model_class, params: dict, arguments: tuple, shape: tuple) -> tuple:
    """``(saved model, iterations done)`` of the checkpoint ``path``, checked to continue a fit
    of ``shape`` (users, items) with ``params``: the constructor ``arguments`` must agree."""
    saved, done = load_checkpoint(path, model_class)
    settings = saved._settings()
    differ = [f"{name}={settings[name]!r} there, {params[name]!r} here"
              for name in arguments if settings[name] != params[name]]
    if differ:
        raise ValueError("resume_from was written by a fit with other arguments: "
                         + "; ".join(differ))
    if (len(saved.user_factors), len(saved.item_factors)) != tuple(shape):
        raise ValueError(f"resume_from was fitted on {len(saved.user_factors)} users x "
                         f"{len(saved.item_factors)} items, not {shape[0]} x {shape[1]}")
    return saved, done
