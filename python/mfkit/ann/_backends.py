"""The nearest-neighbour libraries behind :class:`mfkit.ann.ItemIndex`: Spotify's voyager (HNSW)
and Meta's faiss (HNSW, IVF, flat, any index factory string).

Each backend builds a Euclidean (L2) or inner-product index over float32 rows, searches it,
and turns it into bytes and back with the library's own serializer (never pickle). Both
packages are optional (``pip install mfkit[ann]``); they are imported only when an index is
built or read.
"""
from __future__ import annotations

import io

import numpy as np

from .._params import Integer, validate_params
from .._validation import check_str


class _FactoryString:
    """A non-empty string (faiss' index factory string)."""

    @staticmethod
    def check(value, name):
        return check_str(value, name)


def _missing(package: str, pip_name: str) -> ImportError:
    return ImportError(f"the {package!r} package is needed for this index: pip install {pip_name} "
                       "(or pip install mfkit[ann] for both ANN backends)")


class VoyagerBackend:
    """voyager's HNSW graph (https://spotify.github.io/voyager).

    Build parameters: ``M`` (links per node, default 16), ``ef_construction`` (default 200),
    ``random_seed`` (default 1). Search parameter: ``ef`` (candidates kept while searching,
    default 100; raised to ``k`` when fewer): the accuracy / speed knob.
    """

    name = "voyager"
    build_constraints = {"M": Integer(2, 1024), "ef_construction": Integer(1),
                         "random_seed": Integer(0)}
    build_defaults = {"M": 16, "ef_construction": 200, "random_seed": 1}
    search_constraints = {"ef": Integer(1)}
    search_defaults = {"ef": 100}

    @staticmethod
    def module():
        try:
            import voyager
        except ImportError:
            raise _missing("voyager", "voyager") from None
        return voyager

    def build(self, vectors: np.ndarray, params: dict, num_threads: int, metric: str):
        voyager = self.module()
        space = voyager.Space.Euclidean if metric == "l2" else voyager.Space.InnerProduct
        index = voyager.Index(space, num_dimensions=vectors.shape[1],
                              M=params["M"], ef_construction=params["ef_construction"],
                              random_seed=params["random_seed"], max_elements=len(vectors))
        index.add_items(vectors, np.arange(len(vectors)), num_threads=num_threads)
        return index

    @staticmethod
    def search_options(index, params: dict):
        """What :meth:`search` needs of the search parameters (computed once per change)."""
        return params["ef"]

    def search(self, index, queries: np.ndarray, k: int, ef, num_threads: int):
        """``(ids, complete)``: int64 ids of the ``k`` nearest rows of each query, nearest first,
        and whether the graph gave ``k`` for every query (HNSW may find fewer near the size of
        the catalogue; voyager then raises its RecallError)."""
        voyager = self.module()
        try:
            ids, _ = index.query(queries, k=k, num_threads=num_threads, query_ef=max(ef, k))
        except voyager.RecallError:
            return None, False
        return np.asarray(ids, dtype=np.int64).reshape(len(queries), k), True

    @staticmethod
    def to_bytes(index) -> bytes:
        return index.as_bytes()

    def from_bytes(self, data: bytes):
        return self.module().Index.load(io.BytesIO(data))


class FaissBackend:
    """faiss (https://faiss.ai): any index of ``faiss.index_factory``.

    Build parameters: ``index`` (the factory string: ``"HNSW32"`` by default, ``"Flat"`` for an
    exact index, ``"IVF1024,Flat"``, ...) and ``ef_construction`` (HNSW only, default 200).
    Search parameters, the accuracy / speed knobs: ``ef_search`` (HNSW, default 128) and
    ``nprobe`` (IVF: inverted lists visited, default 16).
    """

    name = "faiss"
    build_constraints = {"index": _FactoryString(), "ef_construction": Integer(1)}
    build_defaults = {"index": "HNSW32", "ef_construction": 200}
    search_constraints = {"ef_search": Integer(1), "nprobe": Integer(1)}
    search_defaults = {"ef_search": 128, "nprobe": 16}

    @staticmethod
    def module():
        try:
            import faiss
        except ImportError:
            raise _missing("faiss", "faiss-cpu") from None
        return faiss

    def build(self, vectors: np.ndarray, params: dict, num_threads: int, metric: str):
        faiss = self.module()
        faiss.omp_set_num_threads(num_threads)  # faiss has no per-call thread count
        try:
            index = faiss.index_factory(vectors.shape[1], params["index"],
                                        faiss.METRIC_L2 if metric == "l2" else
                                        faiss.METRIC_INNER_PRODUCT)
        except RuntimeError as exc:
            raise ValueError(f"faiss cannot build index={params['index']!r}: "
                             f"{str(exc).strip().splitlines()[-1]}") from None
        hnsw = getattr(faiss.downcast_index(index), "hnsw", None)
        if hnsw is not None:
            hnsw.efConstruction = params["ef_construction"]
        if not index.is_trained:  # IVF, PQ: trained on the vectors themselves
            index.train(vectors)
        index.add(vectors)
        return index

    def search(self, index, queries: np.ndarray, k: int, options, num_threads: int):
        """``(ids, complete)`` as :meth:`VoyagerBackend.search`; faiss pads with id -1."""
        self.module().omp_set_num_threads(num_threads)
        _, ids = index.search(queries, k, params=options)
        return ids, bool((ids >= 0).all())

    def search_options(self, index, params: dict):
        """faiss' search parameters object for ``index`` (None for an index without knobs)."""
        faiss = self.module()
        if getattr(faiss.downcast_index(index), "hnsw", None) is not None:
            return faiss.SearchParametersHNSW(efSearch=params["ef_search"])
        try:
            faiss.extract_index_ivf(index)
        except RuntimeError:  # neither HNSW nor IVF (e.g. Flat): nothing to tune
            return None
        return faiss.SearchParametersIVF(nprobe=params["nprobe"])

    def to_bytes(self, index) -> bytes:
        return self.module().serialize_index(index).tobytes()

    def from_bytes(self, data: bytes):
        return self.module().deserialize_index(np.frombuffer(data, dtype=np.uint8))


BACKENDS = {backend.name: backend for backend in (VoyagerBackend(), FaissBackend())}


def get_backend(name) -> VoyagerBackend | FaissBackend:
    """The backend called ``name`` (``ValueError`` listing the known ones otherwise)."""
    if not isinstance(name, str) or name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(map(repr, BACKENDS))}, got {name!r}")
    return BACKENDS[name]


def check_params(backend, kind: str, given: dict, current: dict | None = None) -> dict:
    """``kind`` ("build" or "search") parameters of ``backend``: ``current`` (else the defaults)
    updated with ``given``, each checked; unknown names raise ``ValueError`` listing the known."""
    constraints = getattr(backend, f"{kind}_constraints")
    unknown = sorted(set(given) - set(constraints))
    if unknown:
        raise ValueError(f"unknown {backend.name} {kind} parameter(s) {', '.join(unknown)}; "
                         f"known: {', '.join(constraints)}")
    values = dict(getattr(backend, f"{kind}_defaults") if current is None else current)
    values.update(given)
    return validate_params(constraints, values)
