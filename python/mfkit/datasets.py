"""Datasets: interaction logs with raw-id <-> index maps, and a seeded synthetic generator.

- :class:`Interactions`: a users x items CSR matrix plus the raw user / item ids of its rows and
  columns (and, optionally, the latest timestamp of every stored cell).
- :func:`from_csv` (no pandas needed), :func:`from_dataframe` and :func:`movielens_small` build one.
- :func:`synthetic`: the built-in, seeded demo data (a plain CSR matrix).

The code lives in ``_interactions.py`` (the container), ``_readers.py`` (the readers) and
``_synthetic.py``; this module is the public namespace.
"""
from __future__ import annotations

from ._interactions import Interactions
from ._readers import from_csv, from_dataframe, movielens_small
from ._synthetic import synthetic

__all__ = ["Interactions", "from_csv", "from_dataframe", "movielens_small", "synthetic"]
