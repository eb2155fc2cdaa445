"""BPR: the C++ core and the numpy reference draw the same triples and compute the same steps.

The sampler is exposed by both backends (``bpr_sample``) and must agree exactly; the SGD steps
on those triples (``bpr_update``) agree to rounding; the fused C++ epoch equals sampling then
updating, bit for bit; and after one epoch at one thread whole fits agree to <= 1e-6 relative
in float64.
"""
from __future__ import annotations

import numpy as np
import pytest

import mfkit
import mfkit._cpp as cpp
import mfkit.reference as ref
from mfkit._validation import check_user_items
from mfkit.models.bpr import positive_entries

SAMPLINGS = ["uniform", "popularity"]


def positives_of(matrix, dtype=np.float64):
    return positive_entries(check_user_items(matrix, np.dtype(dtype)))


@pytest.fixture(scope="module")
def medium():
    return mfkit.datasets.synthetic(300, 80, 0.1, seed=0)


def factors(shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    n_users, n_items, k = shape
    return ((rng.standard_normal((n_users, k)) * 0.1).astype(dtype),
            (rng.standard_normal((n_items, k)) * 0.1).astype(dtype),
            (rng.standard_normal(n_items) * 0.1).astype(dtype))


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("verify", [True, False], ids=["verify", "noverify"])
@pytest.mark.parametrize("threads", [1, 3])
def test_samplers_draw_identical_triples(medium, sampling, verify, threads):
    positives = positives_of(medium)
    args = dict(negative_sampling=sampling, verify_negative_samples=verify, seed=2**63 + 12345,
                num_threads=threads)
    ours = cpp.bpr_sample(positives, cpp.bpr_index(positives), **args)
    theirs = ref.bpr_sample(positives, ref.bpr_index(positives), **args)
    for a, b in zip(ours[:3], theirs[:3]):
        assert a.dtype == np.int32 and np.array_equal(a, b)
    assert ours[3] == theirs[3]
    assert ours[3]["samples"] == positives.indptr[-1]
    if verify:
        assert ours[3]["rejected"] > 0  # the matrix is dense enough to hit positives


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_membership_filter_changes_speed_not_samples(medium, sampling):
    positives = positives_of(medium)
    args = dict(negative_sampling=sampling, verify_negative_samples=True, seed=7, num_threads=2)
    with_filter = cpp.bpr_sample(positives, cpp.bpr_index(positives), **args)
    without = cpp.bpr_sample(positives, ref.bpr_index(positives), **args)
    for a, b in zip(with_filter[:3], without[:3]):
        assert np.array_equal(a, b)
    assert with_filter[3] == without[3]


def test_sampled_triples_are_valid(medium):
    positives = positives_of(medium)
    dense = medium.toarray() > 0
    for sampling in SAMPLINGS:
        users, pos, neg, stats = cpp.bpr_sample(
            positives, cpp.bpr_index(positives), negative_sampling=sampling,
            verify_negative_samples=True, seed=3, num_threads=2)
        assert np.all(dense[users, pos])                 # positives are the user's
        assert stats["skipped"] == np.sum(neg < 0)
        kept = neg >= 0
        assert not np.any(dense[users[kept], neg[kept]])  # verified negatives are not
        # every rejection is followed by one more draw, except where the sample is skipped
        assert stats["draws"] == stats["samples"] + stats["rejected"] - stats["skipped"]


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_fused_epoch_equals_sample_then_update_bitwise(medium, sampling, dtype):
    positives = positives_of(medium, dtype)
    index = cpp.bpr_index(positives)
    shape = (medium.shape[0], medium.shape[1], 8)
    X1, Y1, b1 = factors(shape, 0, dtype)
    X2, Y2, b2 = X1.copy(), Y1.copy(), b1.copy()
    options = dict(learning_rate=0.05, regularization=0.01, num_threads=1)
    fused = cpp.bpr_epoch(positives, index, X1, Y1, b1, negative_sampling=sampling,
                          verify_negative_samples=True, seed=99, **options)
    users, pos, neg, sampled = cpp.bpr_sample(positives, index, negative_sampling=sampling,
                                              verify_negative_samples=True, seed=99,
                                              num_threads=1)
    stepped = cpp.bpr_update(X2, Y2, b2, users, pos, neg, **options)
    assert X1.tobytes() == X2.tobytes() and Y1.tobytes() == Y2.tobytes()
    assert b1.tobytes() == b2.tobytes()
    assert fused["ranked"] == stepped["ranked"] and fused["updates"] == stepped["updates"]
    assert fused["draws"] == sampled["draws"] and fused["rejected"] == sampled["rejected"]


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)],
                         ids=["f64", "f32"])
def test_update_kernels_agree_on_the_same_triples(medium, dtype, tol, rel_err):
    positives = positives_of(medium, dtype)
    users, pos, neg, _ = cpp.bpr_sample(positives, cpp.bpr_index(positives),
                                        negative_sampling="uniform", verify_negative_samples=False,
                                        seed=5, num_threads=1)
    shape = (medium.shape[0], medium.shape[1], 6)
    ours, theirs = factors(shape, 1, dtype), factors(shape, 1, dtype)
    options = dict(learning_rate=0.1, regularization=0.02, num_threads=1)
    a = cpp.bpr_update(*ours, users, pos, neg, **options)
    b = ref.bpr_update(*theirs, users, pos, neg, **options)
    assert np.any(neg == pos)  # unverified: i == j happens and is handled alike
    for x, y in zip(ours, theirs):
        assert rel_err(x, y) <= tol
    assert a["updates"] == b["updates"] == len(users)
    assert abs(a["ranked"] - b["ranked"]) <= 2  # a tie could round either way


def fit_both(matrix, **params):
    params = {"factors": 8, "random_state": 42, "num_threads": 1, **params}
    models = [mfkit.BPR(backend=b, **params).fit(matrix, show_progress=False)
              for b in ("cpp", "reference")]
    return models


@pytest.mark.parametrize("sampling", SAMPLINGS)
def test_one_epoch_at_one_thread_agrees_in_float64(small_matrix, sampling, rel_err):
    cpp_model, ref_model = fit_both(small_matrix, iterations=1, dtype=np.float64,
                                    negative_sampling=sampling, learning_rate=0.1)
    for name in ("user_factors", "item_factors", "item_bias"):
        assert rel_err(getattr(cpp_model, name), getattr(ref_model, name)) <= 1e-6, name
    assert np.array_equal(cpp_model.item_popularity, ref_model.item_popularity)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-6), (np.float32, 1e-3)],
                         ids=["f64", "f32"])
@pytest.mark.parametrize("threads", [1, 2])
def test_several_epochs_agree(small_matrix, dtype, tol, threads, rel_err):
    # A matrix this small runs its chunks on one OS thread, so even num_threads=2 is
    # reproducible and the reference (which runs the chunks in order) must match it.
    cpp_model, ref_model = fit_both(small_matrix, iterations=4, dtype=dtype,
                                    num_threads=threads, learning_rate=0.05)
    for name in ("user_factors", "item_factors", "item_bias"):
        assert rel_err(getattr(cpp_model, name), getattr(ref_model, name)) <= tol, name


def test_callbacks_agree(small_matrix):
    infos = {}
    for backend in ("cpp", "reference"):
        calls = []
        mfkit.BPR(factors=4, iterations=3, random_state=1, backend=backend, num_threads=1,
                  dtype=np.float64).fit(small_matrix, show_progress=False,
                                        callback=lambda *a, calls=calls: calls.append(a[2]))
        infos[backend] = calls
    assert infos["cpp"] == infos["reference"]


@pytest.mark.parametrize("sampling", SAMPLINGS)
@pytest.mark.parametrize("verify", [True, False], ids=["verify", "noverify"])
def test_fold_in_agrees(small_matrix, sampling, verify, rel_err):
    model = mfkit.BPR(factors=6, iterations=3, random_state=3, dtype=np.float64,
                      negative_sampling=sampling, verify_negative_samples=verify)
    model.fit(small_matrix, show_progress=False)
    rows = positive_entries(check_user_items(small_matrix[:12], np.dtype(np.float64)))
    cumulative = np.cumsum(model.item_popularity)
    solved = {}
    for name, backend in (("cpp", cpp), ("reference", ref)):
        out = np.zeros((12, 6))
        stats = backend.bpr_fold_in(rows, model.item_factors, model.item_bias, cumulative, out,
                                    epochs=3, learning_rate=0.05, regularization=0.01,
                                    negative_sampling=sampling, verify_negative_samples=verify,
                                    seed=17, num_threads=2)
        solved[name] = (out, stats)
    assert rel_err(solved["cpp"][0], solved["reference"][0]) <= 1e-9
    cpp_stats, ref_stats = solved["cpp"][1], solved["reference"][1]
    for key in ("samples", "updates", "draws", "rejected", "skipped", "finite"):
        assert cpp_stats[key] == ref_stats[key], key


def test_uniform_fallback_finds_the_only_negative():
    # User 0 has every item but item 6: after 32 rejected draws the negative comes from the
    # complement exactly, so no sample is ever skipped. User 1 has every item: always skipped.
    dense = np.ones((2, 10))
    dense[0, 6] = 0
    positives = positives_of(dense)
    for backend in (cpp, ref):
        users, pos, neg, stats = backend.bpr_sample(
            positives, backend.bpr_index(positives), negative_sampling="uniform",
            verify_negative_samples=True, seed=1, num_threads=1)
        assert np.all(neg[users == 0] == 6)
        assert np.all(neg[users == 1] == -1)
        assert stats["skipped"] == np.sum(users == 1)
        assert stats["rejected"] > stats["samples"]  # most candidates are rejected
    ours = cpp.bpr_sample(positives, cpp.bpr_index(positives), negative_sampling="uniform",
                          verify_negative_samples=True, seed=1, num_threads=1)
    theirs = ref.bpr_sample(positives, ref.bpr_index(positives), negative_sampling="uniform",
                            verify_negative_samples=True, seed=1, num_threads=1)
    assert ours[3] == theirs[3] and np.array_equal(ours[2], theirs[2])


def test_popularity_sampling_skips_after_bounded_draws():
    # User 0 has items 0..8; item 9 holds 1 of the 10 stored entries, so a popularity draw finds
    # it with probability 0.1 and 32 draws fail about 3% of the time: those samples are skipped.
    dense = np.zeros((2, 10))
    dense[0, :9] = 1
    dense[1, 9] = 1
    positives = positives_of(dense)
    skipped = 0
    for seed in range(20):
        users, pos, neg, stats = cpp.bpr_sample(
            positives, cpp.bpr_index(positives), negative_sampling="popularity",
            verify_negative_samples=True, seed=seed, num_threads=1)
        assert np.all(np.isin(neg[users == 0], [9, -1]))
        skipped += stats["skipped"]
        theirs = ref.bpr_sample(positives, ref.bpr_index(positives),
                                negative_sampling="popularity", verify_negative_samples=True,
                                seed=seed, num_threads=1)
        assert np.array_equal(neg, theirs[2]) and stats == theirs[3]
    assert skipped > 0
