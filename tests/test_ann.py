"""Approximate serving (mfkit.ann, model.build_index): recall against the exact path, the
max-inner-product reduction, filters with over-fetch and refill, persistence, stale indexes and
bad arguments. Tests of a backend skip where its package is not installed."""
from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
import scipy.sparse as sp

import mfkit
from mfkit import _ranking, ann
from mfkit.ann import _refill

FLAT = {"backend": "faiss", "index": "Flat"}


def needs(package):
    """Skip the test unless ``package`` (a backend's module) imports."""
    return pytest.importorskip(package)


def synthetic_model(n_users=300, n_items=4000, factors=16, seed=0, dtype=np.float64):
    """An ALS whose factors are drawn, item lengths spread over a decade (so that inner products
    and cosines rank differently and the MIPS reduction matters)."""
    rng = np.random.default_rng(seed)
    model = mfkit.ALS(factors=factors, dtype=dtype)
    model.user_factors = rng.standard_normal((n_users, factors)).astype(dtype)
    lengths = np.exp(rng.uniform(0, np.log(10), n_items))[:, None]
    model.item_factors = (rng.standard_normal((n_items, factors)) * lengths).astype(dtype)
    model.loss_history = []
    return model


def recall(approximate, exact):
    hits = [len(np.intersect1d(a[a >= 0], e[e >= 0])) for a, e in zip(approximate, exact)]
    return sum(hits) / np.count_nonzero(exact >= 0)


@pytest.fixture(scope="module")
def user_items():
    return mfkit.datasets.synthetic(80, 2000, 0.01, seed=1)


# ------------------------------------------------------------------------- the MIPS reduction
def test_mips_reduction_turns_inner_products_into_distances():
    rng = np.random.default_rng(0)
    targets = rng.standard_normal((500, 8)) * rng.uniform(0.1, 5, (500, 1))
    queries = rng.standard_normal((20, 8)) * 3
    vectors, max_norm = ann.mips_targets(targets)
    assert max_norm == pytest.approx(np.linalg.norm(targets, axis=1).max())
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), max_norm, rtol=1e-6)
    lifted = ann.mips_queries(queries, max_norm)
    np.testing.assert_allclose(np.linalg.norm(lifted, axis=1), max_norm, rtol=1e-6)
    assert (lifted[:, -1] == 0).all()
    distances = ((lifted[:, None, :].astype(np.float64) - vectors[None]) ** 2).sum(-1)
    # Nearest first is largest inner product first (the queries were only rescaled).
    np.testing.assert_array_equal(np.argsort(distances, axis=1)[:, :10],
                                  np.argsort(-(queries @ targets.T), axis=1)[:, :10])


def test_mips_queries_keep_zero_queries_zero():
    lifted = ann.mips_queries(np.zeros((2, 3)), 5.0)
    assert lifted.shape == (2, 4) and not lifted.any()


# ------------------------------------------------------------------------------------- recall
@pytest.mark.parametrize("backend, params", [
    ("voyager", {"M": 16, "ef_construction": 200, "ef": 200}),
    ("faiss", {"index": "HNSW32", "ef_search": 200}),
    ("faiss", {"index": "IVF32,Flat", "nprobe": 16}),
], ids=["voyager", "faiss-hnsw", "faiss-ivf"])
def test_recall_at_10_is_high(backend, params):
    needs(backend)
    model = synthetic_model().build_index(backend, **params)
    users = np.arange(len(model.user_factors))
    exact, exact_scores = model.recommend(users, N=10, filter_already_liked_items=False)
    found, scores = model.recommend(users, N=10, filter_already_liked_items=False,
                                    approximate=True)
    assert recall(found, exact) >= 0.9
    # Scores are the exact inner products of the ids returned, best first.
    np.testing.assert_allclose(scores, np.einsum("ud,ukd->uk", model.user_factors,
                                                 model.item_factors[found]), rtol=1e-12)
    assert (np.diff(scores, axis=1) <= 0).all()
    similar_exact, _ = model.similar_items(np.arange(200), N=10)
    similar, _ = model.similar_items(np.arange(200), N=10, approximate=True)
    assert recall(similar, similar_exact) >= 0.9


def test_a_graph_with_a_small_search_misses_more():
    """The accuracy knob works: a tiny ef finds fewer of the true top items than a large one."""
    needs("voyager")
    model = synthetic_model(factors=32).build_index("voyager", M=4, ef_construction=20)
    users = np.arange(len(model.user_factors))
    exact, _ = model.recommend(users, N=10, filter_already_liked_items=False)
    found = {}
    for ef in (10, 400):
        model.ann_indexes["recommend"].set_search_params(ef=ef)
        found[ef] = recall(model.recommend(users, N=10, filter_already_liked_items=False,
                                           approximate=True)[0], exact)
    assert found[10] < found[400]


# ------------------------------------------------------------ exactness with an exact index
# float64, so that the re-scoring and the exact kernels cannot order near-ties differently.
MODELS = {
    "ALS": lambda: mfkit.ALS(factors=6, iterations=3, dtype=np.float64, random_state=0),
    "BPR": lambda: mfkit.BPR(factors=6, iterations=5, dtype=np.float64, random_state=0),
    "ExplicitMF": lambda: mfkit.ExplicitMF(factors=6, iterations=5, dtype=np.float64,
                                           random_state=0),
    "NMF": lambda: mfkit.NMF(n_components=6, max_iter=20, dtype=np.float64, random_state=0),
}


@pytest.mark.parametrize("name", MODELS)
def test_flat_index_gives_the_exact_answer_for_every_model(name, user_items, counted_exact):
    """With an exact (flat) index, approximate serving is the exact path: the MIPS reduction
    keeps the order, BPR's bias column and ExplicitMF's biases included."""
    needs("faiss")
    model = MODELS[name]()
    model = (model.fit(user_items) if name == "NMF" else
             model.fit(user_items, show_progress=False)).build_index(**FLAT)
    users = np.arange(user_items.shape[0])
    for kwargs in ({}, {"filter_already_liked_items": False}, {"N": 25},
                   {"filter_items": np.arange(0, 2000, 3)}, {"items": np.arange(0, 2000, 2)}):
        counted_exact.clear()
        found = model.recommend(users, user_items[users], approximate=True, **kwargs)
        # Served from the index, but for the odd heavy user whose liked items would need more
        # than 1/16 of the catalogue fetched.
        assert sum(counted_exact) <= len(users) // 10
        exact = model.recommend(users, user_items[users], **kwargs)
        np.testing.assert_array_equal(found[0], exact[0])
        np.testing.assert_allclose(found[1], exact[1], rtol=1e-5)
        one = model.recommend(7, user_items[7], approximate=True, **kwargs)
        np.testing.assert_array_equal(one[0], exact[0][7][exact[0][7] >= 0])
    # Items the model knows (an all-zero factor has cosine 0 with every item: all ties).
    known = np.flatnonzero(np.linalg.norm(model.item_factors, axis=1) > 0)[:50]
    found = model.similar_items(known, N=12, approximate=True)
    assert_same_ranking(found, model.similar_items(known, N=13), 12)


def assert_same_ranking(found, exact, N):
    """``found`` ranks as the exact answer ``exact`` (computed with ``N + 1`` columns): equal
    scores position by position, and equal ids wherever a score has no tie (items with
    parallel factors, e.g. liked by the same one user, have cosines equal up to rounding)."""
    ids, scores = exact
    np.testing.assert_allclose(found[1], scores[:, :N], rtol=1e-9, atol=1e-12)
    tied = np.isclose(scores[:, 1:], scores[:, :-1], rtol=1e-9, atol=1e-12)
    untied = ~(np.pad(tied, ((0, 0), (1, 0))) | np.pad(tied, ((0, 0), (0, 1))))[:, :N]
    np.testing.assert_array_equal(found[0][untied], ids[:, :N][untied])


@pytest.mark.parametrize("backend", ["faiss", "voyager"])
def test_native_inner_product_search(backend, user_items):
    """mips="native" (the backend's inner-product metric): exact with an exact index, and a
    graph finds the top items of widely spread lengths."""
    needs(backend)
    model = synthetic_model(factors=32)
    users = np.arange(len(model.user_factors))
    exact = model.recommend(users, N=10, filter_already_liked_items=False)
    if backend == "faiss":
        model.build_index(**FLAT, mips="native")
        found = model.recommend(users, N=10, filter_already_liked_items=False,
                                approximate=True)
        np.testing.assert_array_equal(found[0], exact[0])
        model.build_index("faiss", mips="native", ef_search=200)
    else:
        model.build_index("voyager", mips="native", ef=400)
    assert model.ann_indexes["recommend"].mips == "native"
    found = model.recommend(users, N=10, filter_already_liked_items=False, approximate=True)
    assert recall(found[0], exact[0]) >= (0.9 if backend == "faiss" else 0.3)


def test_raw_ids_serve_approximately(user_items):
    needs("faiss")
    data = mfkit.datasets.Interactions(user_items, np.arange(80) + 1000, np.arange(2000) + 5000)
    model = mfkit.ALS(factors=6, iterations=3, random_state=0).fit(data, show_progress=False)
    model.build_index(**FLAT)
    history = list(5000 + user_items[3].indices)
    np.testing.assert_array_equal(model.recommend_raw(1003, history, approximate=True)[0],
                                  model.recommend_raw(1003, history)[0])
    np.testing.assert_array_equal(model.similar_items_raw(5007, approximate=True)[0],
                                  model.similar_items_raw(5007)[0])


# ------------------------------------------------------------------------- filters and refill
@pytest.fixture
def counted_exact(monkeypatch):
    """The rows the exact path ranks (the approximate path falls back to it)."""
    calls = []
    original = _ranking.rank

    def rank(queries, *args, **kwargs):
        calls.append(len(queries))
        return original(queries, *args, **kwargs)

    monkeypatch.setattr(_ranking, "rank", rank)
    return calls


@pytest.mark.parametrize("backend", ["faiss", "voyager"])
def test_filtered_top_items_are_refilled(backend, counted_exact):
    """Filter out the 100 best items of a user: the index is asked again for more until N
    survive (no fallback to the exact path), and the answer is the exact one."""
    needs(backend)
    params = FLAT if backend == "faiss" else {"backend": "voyager", "ef": 400}
    model = synthetic_model().build_index(**params)
    top, _ = model.recommend(0, N=100, filter_already_liked_items=False)
    counted_exact.clear()
    found, scores = model.recommend(0, N=10, filter_already_liked_items=False,
                                    filter_items=top, approximate=True)
    assert counted_exact == []
    exact, exact_scores = model.recommend(0, N=10, filter_already_liked_items=False,
                                          filter_items=top)
    assert len(found) == 10 and not np.isin(found, top).any()
    np.testing.assert_array_equal(found, exact)
    np.testing.assert_allclose(scores, exact_scores)


def test_liked_items_are_refilled_per_user(counted_exact):
    """Each user has liked its own 120 best items: every user still gets 10 others."""
    needs("faiss")
    model = synthetic_model().build_index(**FLAT)
    users = np.arange(40)
    best, _ = model.recommend(users, N=120, filter_already_liked_items=False)
    liked = sp.csr_matrix((np.ones(best.size), best.ravel(), np.arange(0, best.size + 1, 120)),
                          shape=(40, 4000))
    liked.sort_indices()
    counted_exact.clear()
    found = model.recommend(users, liked, N=10, approximate=True)
    assert counted_exact == []
    exact = model.recommend(users, liked, N=10)
    np.testing.assert_array_equal(found[0], exact[0])
    np.testing.assert_allclose(found[1], exact[1])


def test_too_many_filtered_falls_back_to_the_exact_path(counted_exact):
    """A small ``items=`` subset or N near the catalogue size would need most of the catalogue
    from the index: those queries go to the exact path, and nothing is lost."""
    needs("faiss")
    model = synthetic_model(n_items=4000).build_index(backend="faiss", index="HNSW8",
                                                      ef_search=16)
    users = np.arange(30)
    subset = np.arange(0, 4000, 97)  # 42 items: 10 of them are 1/4 of the candidates
    counted_exact.clear()
    found = model.recommend(users, N=50, items=subset, filter_already_liked_items=False,
                            approximate=True)
    assert counted_exact == [30]
    exact = model.recommend(users, N=50, items=subset, filter_already_liked_items=False)
    np.testing.assert_array_equal(found[0], exact[0])  # 42 ids, then -1 padding
    assert found[0].shape == (30, 42) and (found[0] >= 0).all()
    many = model.recommend(users[:3], N=1000, filter_already_liked_items=False,
                           approximate=True)
    np.testing.assert_array_equal(many[0], model.recommend(users[:3], N=1000,
                                                           filter_already_liked_items=False)[0])


def test_padding_and_shapes_match_the_exact_path():
    """Users who liked every candidate but a few get a padded row, as on the exact path."""
    needs("faiss")
    model = synthetic_model(n_items=400).build_index(**FLAT)
    liked = sp.csr_matrix(np.ones((3, 400)))
    liked[1, 5:10] = 0
    liked.eliminate_zeros()
    exact = model.recommend([0, 1, 2], liked, N=10)
    found = model.recommend([0, 1, 2], liked, N=10, approximate=True)
    assert found[0].shape == exact[0].shape == (3, 10)
    np.testing.assert_array_equal(found[0], exact[0])
    np.testing.assert_allclose(found[1], exact[1], rtol=1e-12)  # -inf padding included
    assert list(found[0][1][:5]) == [i for i in exact[0][1] if i >= 0]
    assert len(model.recommend(1, liked[1], N=10, approximate=True)[0]) == 5


def test_an_incomplete_search_falls_back_to_the_exact_path(counted_exact):
    """A backend that cannot return k neighbours (voyager's RecallError, faiss' -1 ids) sends
    the queries to the exact path."""
    model = synthetic_model(n_items=400)

    class Incomplete:
        def search(self, queries, k, num_threads):
            return None, False

    exact = model.recommend(np.arange(5), N=10, filter_already_liked_items=False)
    found = _refill.rank_approximately(
        Incomplete(), model.user_factors[:5], model.item_factors, 10, num_threads=1,
        exact=lambda queries, rows: _ranking.rank(queries, model.item_factors, 10,
                                                  backend=model._backend(), num_threads=1))
    np.testing.assert_array_equal(found[0], exact[0])


# ------------------------------------------------------------------------------- persistence
@pytest.mark.parametrize("backend, mips", [("voyager", "reduction"), ("faiss", "reduction"),
                                           ("faiss", "native")])
def test_save_load_round_trip(backend, mips, tmp_path):
    needs(backend)
    model = synthetic_model(n_items=1500).build_index(backend, mips=mips)
    model.ann_indexes["recommend"].set_search_params(**({"ef": 50} if backend == "voyager"
                                                        else {"ef_search": 50}))
    users = np.arange(50)
    before = model.recommend(users, N=10, filter_already_liked_items=False, approximate=True)
    similar = model.similar_items(np.arange(30), approximate=True)
    model.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        assert archive["__ann_recommend__"].dtype == np.uint8
    loaded = mfkit.load(tmp_path / "model.npz")
    assert loaded.ann_indexes["recommend"].state() == model.ann_indexes["recommend"].state()
    after = loaded.recommend(users, N=10, filter_already_liked_items=False, approximate=True)
    np.testing.assert_array_equal(after[0], before[0])
    np.testing.assert_array_equal(after[1], before[1])
    np.testing.assert_array_equal(loaded.similar_items(np.arange(30), approximate=True)[0],
                                  similar[0])
    copied = pickle.loads(pickle.dumps(model))  # through the backend's serializer too
    np.testing.assert_array_equal(
        copied.recommend(users, N=10, filter_already_liked_items=False, approximate=True)[0],
        before[0])


def test_files_without_an_index_load_as_before(tmp_path):
    model = synthetic_model(n_items=300)
    model.save(tmp_path / "plain.npz")
    loaded = mfkit.load(tmp_path / "plain.npz")
    assert getattr(loaded, "ann_indexes", None) is None
    with pytest.raises(ValueError, match="build_index"):
        loaded.recommend(0, approximate=True, filter_already_liked_items=False)


def test_load_without_the_backend_package(tmp_path, monkeypatch):
    """The model loads (and serves exactly) where the index's package is missing; asking for
    approximate serving then names build_index."""
    needs("faiss")
    model = synthetic_model(n_items=300).build_index(**FLAT)
    model.save(tmp_path / "model.npz")

    monkeypatch.setitem(sys.modules, "faiss", None)  # `import faiss` now fails
    with pytest.warns(UserWarning, match=r"index for recommend \(faiss\), similar_items "
                                         r"\(faiss\) was not loaded: .*faiss-cpu"):
        loaded = mfkit.load(tmp_path / "model.npz")
    assert not getattr(loaded, "ann_indexes", None)
    np.testing.assert_array_equal(loaded.recommend(0, filter_already_liked_items=False)[0],
                                  model.recommend(0, filter_already_liked_items=False)[0])
    with pytest.raises(ValueError, match="build_index"):
        loaded.recommend(0, filter_already_liked_items=False, approximate=True)


def test_a_damaged_index_is_a_clear_error(tmp_path):
    needs("faiss")
    model = synthetic_model(n_items=300).build_index(**FLAT)
    model.save(tmp_path / "model.npz")
    with np.load(tmp_path / "model.npz", allow_pickle=False) as archive:
        arrays = dict(archive)
    arrays["__ann_recommend__"] = arrays["__ann_recommend__"][:100]
    np.savez(tmp_path / "damaged.npz", **arrays)
    with pytest.raises(ValueError, match="damaged.npz.*recommend index cannot be read"):
        mfkit.load(tmp_path / "damaged.npz")
    arrays["__ann_recommend__"] = np.frombuffer(model.ann_indexes["recommend"].to_bytes(),
                                                dtype=np.uint8)
    del arrays["__ann_similar_items__"]
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(ValueError, match="__ann_similar_items__"):
        mfkit.load(tmp_path / "missing.npz")


# ------------------------------------------------------------------------------ stale indexes
def test_stale_index_after_refit_and_partial_fit_raises(user_items):
    needs("faiss")
    model = mfkit.ALS(factors=6, iterations=3, random_state=0).fit(user_items,
                                                                  show_progress=False)
    model.build_index(**FLAT)
    model.recommend(0, user_items[0], approximate=True)
    item = int(np.argmax(np.diff(user_items.tocsc().indptr)))  # one with interactions
    model.partial_fit_items([item], user_items.T.tocsr()[[item]] * 2)
    with pytest.raises(ann.StaleIndexError, match="build_index"):
        model.recommend(0, user_items[0], approximate=True)
    with pytest.raises(ann.StaleIndexError, match="build_index"):
        model.similar_items(0, approximate=True)
    model.recommend(0, user_items[0])  # the exact path is unaffected
    model.build_index(**FLAT)
    model.recommend(0, user_items[0], approximate=True)
    model.set_params(iterations=4).fit(user_items, show_progress=False)
    with pytest.raises(ann.StaleIndexError):
        model.recommend(0, user_items[0], approximate=True)


def test_equal_factors_in_a_new_array_are_not_stale():
    """A copy of the same factors (a loaded or copied model) passes the digest check."""
    needs("faiss")
    model = synthetic_model(n_items=300).build_index(**FLAT)
    model.item_factors = model.item_factors.copy()
    model.recommend(0, filter_already_liked_items=False, approximate=True)
    model.item_factors = model.item_factors + 1e-9
    with pytest.raises(ann.StaleIndexError):
        model.recommend(0, filter_already_liked_items=False, approximate=True)


def test_bpr_bias_change_makes_the_recommend_index_stale(user_items):
    needs("faiss")
    model = mfkit.BPR(factors=4, iterations=3, random_state=0).fit(user_items,
                                                                  show_progress=False)
    model.build_index(**FLAT)
    model.item_bias = model.item_bias + 1.0
    with pytest.raises(ann.StaleIndexError):
        model.recommend(0, user_items[0], approximate=True)
    model.similar_items(0, approximate=True)  # cosine of the factors: still valid


# ------------------------------------------------------------------------------ bad arguments
def test_bad_arguments_are_clear_errors(user_items):
    model = synthetic_model(n_items=300)
    with pytest.raises(ValueError, match="build_index"):
        model.recommend(0, filter_already_liked_items=False, approximate=True)
    with pytest.raises(ValueError, match="build_index"):
        model.similar_items(0, approximate=True)
    with pytest.raises(TypeError, match="approximate"):
        model.recommend(0, filter_already_liked_items=False, approximate="yes")
    with pytest.raises(ValueError, match="backend must be one of 'voyager', 'faiss'"):
        model.build_index("annoy")
    with pytest.raises(ValueError, match="serve"):
        model.build_index("voyager", serve=("similar_users",))
    with pytest.raises(mfkit.NotFittedError):
        mfkit.ALS().build_index()
    needs("faiss")
    with pytest.raises(ValueError, match="unknown faiss build parameter.*known: index"):
        model.build_index("faiss", efSearch=10)
    with pytest.raises(ValueError, match="ef_search must be >= 1"):
        model.build_index("faiss", ef_search=0)
    with pytest.raises(ValueError, match="mips must be one of 'reduction', 'native'"):
        model.build_index("faiss", mips="cosine")
    with pytest.raises(ValueError, match="faiss cannot build index='Nonsense'"):
        model.build_index("faiss", index="Nonsense")
    model.build_index(**FLAT, serve="recommend")
    with pytest.raises(ValueError, match="serve must include 'similar_items'"):
        model.similar_items(0, approximate=True)
    with pytest.raises(ValueError, match="unknown faiss search parameter"):
        model.ann_indexes["recommend"].set_search_params(ef=3)


def test_build_does_not_touch_the_factors():
    needs("faiss")
    model = synthetic_model(n_items=300)
    before = model.item_factors.copy()
    model.build_index(**FLAT)
    np.testing.assert_array_equal(model.item_factors, before)
