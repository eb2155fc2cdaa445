"""Warnings that point at the user's code, however deep inside mfkit they are raised."""
from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def warn_caller(message: str, category=UserWarning) -> None:
    """``warnings.warn`` attributed to the first caller outside the mfkit package (a fixed
    ``stacklevel`` would silently point elsewhere whenever the call path inside mfkit changes)."""
    frame, level = sys._getframe(1), 2
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
