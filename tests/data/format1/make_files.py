"""Writes the format-1 model files next to this script (run once, with mfkit 0.1.0 as released
before format 2; the files are committed so that loading them is tested forever after)."""
import json
from pathlib import Path

import numpy as np
import scipy.sparse as sp

import mfkit
from mfkit import datasets

here = Path(__file__).parent
rng = np.random.default_rng(7)
dense = (rng.random((12, 9)) < 0.35) * rng.integers(1, 6, size=(12, 9))
dense[0, :3] = [5, 4, 3]
matrix = sp.csr_matrix(dense.astype(np.float64))
users, items = matrix.nonzero()
data = datasets.Interactions(matrix=matrix, user_ids=np.array([f"u{u:02d}" for u in range(12)]),
                             item_ids=np.arange(100, 109))

models = {
    "als": mfkit.ALS(factors=3, iterations=3, random_state=0, calculate_training_loss=True),
    "bpr": mfkit.BPR(factors=3, iterations=5, random_state=0, num_threads=1),
    "explicit": mfkit.ExplicitMF(factors=3, iterations=4, random_state=0),
    "nmf": mfkit.NMF(n_components=3, max_iter=30, random_state=0),
}
for name, model in models.items():
    model.fit(data if name == "als" else matrix, show_progress=False)
    model.save(here / f"{name}.npz")

# What these files must keep giving: top-3 items of users 0-2 and the fitted scalars.
expected = {}
for name in models:
    loaded = mfkit.load(here / f"{name}.npz")
    ids, _ = loaded.recommend(np.arange(3), N=3, filter_already_liked_items=False)
    expected[name] = {"top3": ids.tolist()}
expected["explicit"]["global_mean"] = mfkit.load(here / "explicit.npz").global_mean
nmf = mfkit.load(here / "nmf.npz")
expected["nmf"].update(n_iter_=nmf.n_iter_, reconstruction_err_=nmf.reconstruction_err_)
(here / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
