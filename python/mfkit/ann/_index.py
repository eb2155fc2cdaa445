"""An approximate nearest-neighbour index that ranks by inner product, over any L2 backend.

Maximum inner product search is reduced to nearest-neighbour search (Bachrach et al., "Speeding up
the Xbox recommender system using a Euclidean transformation for inner-product spaces", RecSys
2014, section 4): with ``M = max_i ‖y_i‖``, each target becomes ``y'_i = [y_i, sqrt(M² − ‖y_i‖²)]``
(every ``‖y'_i‖ = M``) and a query ``q' = [q, 0]``, so that

    ‖q' − y'_i‖² = ‖q‖² + M² − 2 q·y_i,

which is smallest exactly where ``q·y_i`` is largest. Queries are scaled to length ``M`` first
(a positive factor changes no ranking) so the distances stay well conditioned in float32. Cosine
similarity is the same search over unit-length targets and queries.

The reduction is exact, but it crowds short targets near the pole of the extra axis, which hurts
graph indexes when target lengths spread widely (benchmarks/RESULTS.md: HNSW recall drops). So
``mips="native"`` instead searches the backend's own inner-product metric on the plain vectors
(graph search in the inner-product space, Morozov & Babenko, NeurIPS 2018: faiss' HNSW does well
there; an exact faiss index is exact either way).
"""
from __future__ import annotations

import hashlib
import weakref

import numpy as np

from .._validation import check_choice
from . import _backends

MIPS_MODES = ("reduction", "native")


class StaleIndexError(RuntimeError):
    """The index was built on other target vectors than the model has now (refit,
    ``partial_fit_items``, ``set_params`` changing the ranking): call ``build_index`` again."""


def fingerprint(targets: np.ndarray) -> str:
    """A digest of the shape, dtype and values of ``targets`` (BLAKE2b, 128 bits)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(f"{targets.shape}{targets.dtype.str}".encode())
    digest.update(memoryview(np.ascontiguousarray(targets)).cast("B"))
    return digest.hexdigest()


def mips_targets(targets: np.ndarray) -> tuple[np.ndarray, float]:
    """``([y_i, sqrt(M² − ‖y_i‖²)]`` as float32 rows, ``M``) (see the module docstring)."""
    squared = np.einsum("ij,ij->i", targets, targets, dtype=np.float64)
    largest = float(squared.max(initial=0.0))
    extra = np.sqrt(np.maximum(largest - squared, 0.0))
    return np.hstack([targets.astype(np.float32), extra[:, None].astype(np.float32)]), \
        float(np.sqrt(largest))


def mips_queries(queries: np.ndarray, max_norm: float) -> np.ndarray:
    """``[q · M / ‖q‖, 0]`` as float32 rows (all-zero queries stay zero)."""
    norms = np.linalg.norm(queries.astype(np.float64), axis=1, keepdims=True)
    scale = np.where(norms > 0, max_norm / np.where(norms > 0, norms, 1.0), 0.0)
    scaled = (queries * scale).astype(np.float32)
    return np.hstack([scaled, np.zeros((len(queries), 1), dtype=np.float32)])


class ItemIndex:
    """An approximate index of target vectors (a model's item ranking vectors), searched by
    inner product through the reduction of the module docstring.

    Built by :meth:`mfkit._base.Recommender.build_index` (or :meth:`build`); ``search_params``
    (the backend's accuracy knob: voyager ``ef``, faiss ``ef_search`` / ``nprobe``) may be changed
    at any time with :meth:`set_search_params`. Saved and loaded with the model, pickled through
    the backend's own serializer.

    Attributes
    ----------
    backend : str
        ``"voyager"`` or ``"faiss"``.
    mips : str
        ``"reduction"`` (L2 search of the reduced vectors) or ``"native"`` (the backend's
        inner-product metric), see the module docstring.
    build_params, search_params : dict
        The backend parameters it was built with and searches with.
    size : int
        Number of targets.
    max_norm : float
        ``M``, the largest target length (the MIPS reduction's constant).
    fingerprint : str
        Digest of the targets it was built on (:func:`fingerprint`): a model compares it with
        its current targets before every approximate call (:meth:`matches`).
    """

    def __init__(self, backend: str, native, *, mips: str, build_params: dict,
                 search_params: dict, size: int, dimension: int, max_norm: float,
                 fingerprint: str):
        self.backend = backend
        self.native = native
        self.mips = mips
        self.build_params = build_params
        self.search_params = search_params
        self.size = size
        self.dimension = dimension
        self.max_norm = max_norm
        self.fingerprint = fingerprint
        self._verified = None  # weak reference to the last targets array found to match
        self._options = None  # the backend's form of search_params, made on the first search

    @classmethod
    def build(cls, targets: np.ndarray, backend: str = "voyager", num_threads: int = 1,
              mips: str = "reduction", **params) -> ItemIndex:
        """Index the rows of ``targets`` (n × d floats, finite) with ``backend``; ``mips`` as in
        the module docstring; ``params`` are the backend's build and search parameters
        (:mod:`mfkit.ann` lists them)."""
        implementation = _backends.get_backend(backend)
        mips = check_choice(mips, "mips", MIPS_MODES)
        search = {k: params.pop(k) for k in list(params) if k in
                  implementation.search_constraints}
        build = _backends.check_params(implementation, "build", params)
        search = _backends.check_params(implementation, "search", search)
        if mips == "reduction":
            vectors, max_norm = mips_targets(targets)
        else:
            vectors, max_norm = targets.astype(np.float32), 0.0
        native = implementation.build(vectors, build, num_threads,
                                      "l2" if mips == "reduction" else "inner_product")
        index = cls(backend, native, mips=mips, build_params=build, search_params=search,
                    size=len(targets), dimension=targets.shape[1], max_norm=max_norm,
                    fingerprint=fingerprint(targets))
        index._verified = weakref.ref(targets)
        return index

    def set_search_params(self, **params) -> ItemIndex:
        """Change the search parameters (e.g. ``ef=200``); returns the index."""
        self.search_params = _backends.check_params(_backends.get_backend(self.backend),
                                                    "search", params, self.search_params)
        self._options = None
        return self

    def matches(self, targets: np.ndarray) -> bool:
        """Whether ``targets`` are the vectors the index was built on: the same array as last
        time (in-place edits are not seen, as with every cache of the model), or equal values
        (digest compared once, e.g. after loading or copying the model)."""
        if self._verified is not None and self._verified() is targets:
            return True
        if targets.shape != (self.size, self.dimension) or fingerprint(targets) != \
                self.fingerprint:
            return False
        self._verified = weakref.ref(targets)
        return True

    def search(self, queries: np.ndarray, k: int, num_threads: int):
        """``(ids, complete)``: the ids (int64, queries × k) of the ``k`` targets of largest
        inner product with each query row as the backend finds them, and whether it found ``k``
        for every query (``ids`` may then be None)."""
        implementation = _backends.BACKENDS[self.backend]
        if self._options is None:
            self._options = implementation.search_options(self.native, self.search_params)
        vectors = mips_queries(queries, self.max_norm) if self.mips == "reduction" else \
            np.ascontiguousarray(queries, dtype=np.float32)
        return implementation.search(self.native, vectors, k, self._options, num_threads)

    def to_bytes(self) -> bytes:
        """The backend's own serialization of the native index."""
        return _backends.get_backend(self.backend).to_bytes(self.native)

    def state(self) -> dict:
        """Everything but the native index, JSON-safe (saved in the model file's metadata)."""
        return {"backend": self.backend, "mips": self.mips, "build_params": self.build_params,
                "search_params": self.search_params, "size": self.size,
                "dimension": self.dimension, "max_norm": self.max_norm,
                "fingerprint": self.fingerprint}

    @classmethod
    def from_state(cls, state: dict, data: bytes) -> ItemIndex:
        """The index of :meth:`state` and :meth:`to_bytes` (``ImportError`` when the backend's
        package is not installed)."""
        native = _backends.get_backend(state["backend"]).from_bytes(data)
        return cls(state["backend"], native, **{k: v for k, v in state.items() if k != "backend"})

    def __reduce__(self):  # pickling and deep copies go through the backend's serializer
        return _restore, (self.state(), self.to_bytes())

    def __repr__(self) -> str:
        return (f"ItemIndex(backend={self.backend!r}, mips={self.mips!r}, size={self.size}, "
                f"build_params={self.build_params}, search_params={self.search_params})")


def _restore(state: dict, data: bytes) -> ItemIndex:
    return ItemIndex.from_state(state, data)
