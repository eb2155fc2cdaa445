"""Which model classes exist, by name: what a saved file's ``"class"`` entry is looked up in.

Every model class registers itself when it is defined (``Recommender.__init_subclass__``), so this
module needs to import no model and a new model needs no edit here.
"""
from __future__ import annotations

_MODELS: dict = {}


def register(cls) -> None:
    """Record ``cls`` under its class name (a later class of the same name replaces it)."""
    _MODELS[cls.__name__] = cls


def model_class(name):
    """The registered class called ``name``, or None."""
    return _MODELS.get(name)


def model_names() -> list:
    """The registered class names, sorted."""
    return sorted(_MODELS)
