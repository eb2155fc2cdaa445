"""Approximate nearest-neighbour serving for big catalogues.

``model.build_index(backend, **params)`` indexes a fitted model's items; then
``model.recommend(..., approximate=True)`` and ``model.similar_items(..., approximate=True)``
take their candidates from the index instead of scoring every item, with the exact path's
filters, answer shapes and exact scores (:mod:`mfkit.ann._refill`). The index is a method of the
model rather than a separate object because it is built on the model's own ranking vectors (e.g.
BPR's item biases appended as a column), checked against them before every use, and saved and
loaded with the model.

Backends (optional: ``pip install mfkit[ann]``):

- ``"voyager"`` (HNSW): build ``M`` (16), ``ef_construction`` (200), ``random_seed`` (1);
  search ``ef`` (100).
- ``"faiss"``: build ``index`` (a ``faiss.index_factory`` string: ``"HNSW32"``, ``"Flat"``
  for an exact index, ``"IVF1024,Flat"``, ...) and ``ef_construction`` (200, HNSW); search
  ``ef_search`` (128, HNSW) and ``nprobe`` (16, IVF).

Inner products are ranked through the max-inner-product → nearest-neighbour reduction of
Bachrach et al. (RecSys 2014) (``mips="reduction"``, the default) or by the backend's own
inner-product metric (``mips="native"``: better for graph indexes when item lengths spread
widely; :mod:`mfkit.ann._index`); cosine (``similar_items``) is the same search over unit
vectors. Builds with ``num_threads`` > 1 may give a slightly different graph run
to run (threads insert concurrently); the answers' scores are always exact.
"""
from ._backends import BACKENDS
from ._index import (
    MIPS_MODES,
    ItemIndex,
    StaleIndexError,
    fingerprint,
    mips_queries,
    mips_targets,
)
from ._refill import rank_approximately

__all__ = ["BACKENDS", "MIPS_MODES", "ItemIndex", "StaleIndexError", "fingerprint", "mips_queries",
           "mips_targets", "rank_approximately"]
