"""Type aliases used in the annotations of the public API."""
from __future__ import annotations

import os
from typing import Any, Callable, Protocol, Union

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from ._interactions import Interactions

# Interaction rows given to a serving call: a sparse matrix or array (CSR preferred) or a dense
# 2-D array. (``sp.sparray`` is a string: older scipy has no such class.)
Rows = Union[sp.spmatrix, "sp.sparray", npt.ArrayLike]
# Training data: rows as above, or an Interactions (raw ids kept).
Data = Union[Rows, Interactions]
# One id (1-D results) or an array of ids (2-D results).
Ids = Union[int, npt.ArrayLike]
# A raw user or item id, as in the data the model was fitted on.
RawId = Union[int, str, np.integer]
# A user's history for the raw-id path: raw item ids, {raw item id: value} or an Interactions.
History = Union[npt.ArrayLike, dict, Interactions]
# ``callback(iteration, elapsed_seconds, value)`` after every fit iteration.
Callback = Callable[[int, float, Any], Any]
# ``(ids, scores)`` of a ranking call.
Ranked = tuple[np.ndarray, np.ndarray]
# A file name.
PathLike = Union[str, os.PathLike]


class Model(Protocol):
    """An mfkit model as save / load see it (every ``mfkit.models`` class; ``_persistence``
    names it by this protocol so that it need not import the model base)."""

    user_factors: np.ndarray
    item_factors: np.ndarray

    def get_params(self, deep: bool = True) -> dict: ...
