"""Process-wide settings: ``mfkit.set_config``, ``mfkit.get_config``, ``mfkit.config_context``.

``progress``: whether fits may show progress bars. It starts from the environment variable
``MFKIT_PROGRESS`` (``0``, ``false``, ``no`` or ``off`` turn the bars off) until
:func:`set_config` sets it; ``show_progress=True`` in a ``fit`` call cannot override it.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

ENVIRONMENT_VARIABLE = "MFKIT_PROGRESS"
_OFF = ("0", "false", "no", "off")
_ON = ("", "1", "true", "yes", "on")

_settings: dict = {"progress": None}  # None: not set, follow the environment


def _progress_from_environment() -> bool:
    value = os.environ.get(ENVIRONMENT_VARIABLE, "").strip().lower()
    if value not in _OFF + _ON:
        raise ValueError(f"{ENVIRONMENT_VARIABLE}={value!r}: expected one of {_OFF + _ON[1:]} "
                         "(or unset)")
    return value not in _OFF


def get_config() -> dict:
    """The current settings, e.g. ``{"progress": True}``."""
    progress = _settings["progress"]
    return {"progress": _progress_from_environment() if progress is None else progress}


def set_config(progress: bool | None = None) -> None:
    """Change the settings given (``None`` leaves a setting as it is).

    ``progress=False`` turns every progress bar off, whatever ``show_progress`` a fit gets.
    """
    if progress is not None:
        if not isinstance(progress, bool):
            raise TypeError(f"progress must be True or False, got {progress!r}")
        _settings["progress"] = progress


@contextlib.contextmanager
def config_context(progress: bool | None = None) -> Iterator[None]:
    """Run the ``with`` block with the settings given, then restore the previous ones."""
    previous = dict(_settings)
    set_config(progress=progress)
    try:
        yield
    finally:
        _settings.update(previous)
