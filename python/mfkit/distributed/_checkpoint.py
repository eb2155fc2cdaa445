"""Checkpoints of a distributed fit: the factors as an ordinary saved ALS model, and next to it
a JSON file with the number of iterations done (written last, so a checkpoint without its JSON
file is incomplete and never resumed from)."""
from __future__ import annotations

import json
import os
import re

from .._persistence import load_model
from ..models.als import ALS

_NAME = "als-iteration-{:06d}"
_PATTERN = re.compile(r"als-iteration-(\d{6})\.json")


def save_checkpoint(model: ALS, directory, iterations: int) -> str:
    """Write ``model`` after ``iterations`` iterations into ``directory``; returns the JSON path."""
    os.makedirs(directory, exist_ok=True)
    stem = os.path.join(os.fspath(directory), _NAME.format(iterations))
    model.save(stem + ".npz")
    with open(stem + ".json.tmp", "w", encoding="utf-8") as file:
        json.dump({"iterations": iterations, "model": os.path.basename(stem) + ".npz"}, file)
    os.replace(stem + ".json.tmp", stem + ".json")
    return stem + ".json"


def load_checkpoint(path) -> tuple:
    """``(model, iterations done)`` of a checkpoint: its JSON file, or a checkpoint directory
    (its latest complete checkpoint)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        found = sorted(name for name in os.listdir(path) if _PATTERN.fullmatch(name))
        if not found:
            raise ValueError(f"resume_from: no checkpoint in {path!r}")
        path = os.path.join(path, found[-1])
    if not path.endswith(".json") or not os.path.isfile(path):
        raise ValueError(f"resume_from must be a checkpoint directory or a checkpoint's .json "
                         f"file, got {path!r}")
    with open(path, encoding="utf-8") as file:
        entry = json.load(file)
    model = load_model(os.path.join(os.path.dirname(path), entry["model"]))
    if not isinstance(model, ALS):
        raise ValueError(f"resume_from: {path!r} does not hold an ALS model")
    return model, int(entry["iterations"])
