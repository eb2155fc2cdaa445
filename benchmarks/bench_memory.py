"""Peak resident memory that ``mfkit.ALS.fit`` adds, against the size of its input and output.

    python benchmarks/bench_memory.py            # 1M users x 200k items, 22.4M stored values
    python benchmarks/bench_memory.py --quick    # 100k x 20k, 2.24M (seconds)

Data (seeded, generated in a few seconds): row lengths follow a log-normal law (sigma 1) scaled to
exactly ``--nnz`` stored values; the columns of a row are distinct and sorted, drawn with a
popularity skew toward low ids (density ~ 1/sqrt(id)); values are counts 1..5. The matrix is a
canonical scipy CSR with int32 indptr and indices and float32 data, the form most callers have.

Measurement: the parent writes the arrays to a temporary directory; a fresh Python process loads
them (``np.load``, no temporaries), builds the CSR without copying, runs a tiny warm-up fit (so
that imports, the C++ module and the OpenMP threads are already there), then reads VmRSS from
/proc/self/status, resets the peak with ``echo 5 > /proc/self/clear_refs``, runs ``fit`` and
reads VmHWM (the peak resident set since the reset; the kernel tracks it exactly, no sampling).
Where clear_refs cannot be written the peak is VmHWM without a reset: in the fresh process
nothing before ``fit`` needed more than the loaded input, so it is the same number.
"Peak added" = peak - VmRSS before ``fit``; the ratio divides it by input CSR + factors (the
result ``fit`` must allocate). The peak happens on the way in and in the first sweep, so a few
iterations suffice.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import scipy.sparse as sp

MIB = 2**20


def generate(users: int, items: int, nnz: int, seed: int):
    """(indptr, indices, data) of the canonical CSR described in the module docstring."""
    rng = np.random.default_rng(seed)
    activity = rng.lognormal(sigma=1.0, size=users)
    counts = np.minimum(np.floor(activity / activity.sum() * nnz).astype(np.int64) + 1, items)
    # Hand out the rounding difference one entry at a time to rows that have room.
    while counts.sum() != nnz:
        difference = nnz - int(counts.sum())
        candidates = np.flatnonzero(counts < items if difference > 0 else counts > 1)
        chosen = rng.choice(candidates, size=min(abs(difference), len(candidates)), replace=False)
        counts[chosen] += np.sign(difference)
    indptr = np.zeros(users + 1, dtype=np.int32)
    np.cumsum(counts, out=indptr[1:])

    # Sorted distinct columns of a row: c sorted draws from [0, items - c], plus 0, 1, ..., c-1.
    room = np.repeat(items - counts + 1, counts)
    indices = np.floor(rng.random(nnz) ** 2 * room).astype(np.int32)
    del room
    data = rng.integers(1, 6, size=nnz).astype(np.float32)
    sp.csr_matrix((data, indices, indptr), shape=(users, items), copy=False).sort_indices()
    indices += (np.arange(nnz, dtype=np.int64) - np.repeat(indptr[:-1], counts)).astype(np.int32)
    return indptr, indices, data


def status_kib(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status (Linux only)")


def measure(directory: str, args) -> None:
    """Runs in the fresh process: load, warm up, fit, print the numbers."""
    import gc

    import mfkit

    arrays = [np.load(os.path.join(directory, f"{name}.npy")) for name in
              ("indptr", "indices", "data")]
    matrix = sp.csr_matrix(tuple(reversed(arrays)), shape=(args.users, args.items), copy=False)
    warm = sp.random(50, 40, density=0.1, format="csr", dtype=np.float32, random_state=0)
    mfkit.ALS(factors=args.factors, iterations=1).fit(warm, show_progress=False)
    del warm
    gc.collect()

    model = mfkit.ALS(factors=args.factors, iterations=args.iterations, random_state=0,
                      num_threads=args.threads)
    before = status_kib("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        how = "VmHWM after clear_refs"
    except OSError:
        how = "VmHWM (clear_refs not writable)"
    model.fit(matrix, show_progress=False)
    peak = status_kib("VmHWM")
    after = status_kib("VmRSS")

    input_mib = sum(a.nbytes for a in arrays) / MIB
    factors_mib = (model.user_factors.nbytes + model.item_factors.nbytes) / MIB
    added = (peak - before) / 1024
    print(f"matrix: {args.users} x {args.items}, {matrix.nnz} stored values "
          f"(indptr {matrix.indptr.dtype}, indices {matrix.indices.dtype}, data {matrix.dtype}); "
          f"factors={args.factors}, iterations={args.iterations}; peak from {how}")
    print(f"input CSR      {input_mib:8.1f} MiB")
    print(f"factors        {factors_mib:8.1f} MiB")
    print(f"RSS before fit {before / 1024:8.1f} MiB")
    print(f"peak added     {added:8.1f} MiB  "
          f"= {added / (input_mib + factors_mib):.2f} x (input + factors)")
    print(f"kept after fit {(after - before) / 1024:8.1f} MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--nnz", type=int, default=22_400_000)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true",
                        help="100k x 20k with 2.24M stored values (overrides the sizes)")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # the measuring process
    args = parser.parse_args()
    if args.quick:
        args.users, args.items, args.nnz = 100_000, 20_000, 2_240_000
    if args.child:
        measure(args.child, args)
        return

    with tempfile.TemporaryDirectory() as directory:
        for name, array in zip(("indptr", "indices", "data"),
                               generate(args.users, args.items, args.nnz, args.seed)):
            np.save(os.path.join(directory, f"{name}.npy"), array)
        forwarded = [arg for arg in sys.argv[1:] if arg != "--quick"]
        sizes = ["--users", str(args.users), "--items", str(args.items), "--nnz", str(args.nnz)]
        subprocess.run([sys.executable, __file__, *forwarded, *sizes, "--child", directory],
                       check=True)


if __name__ == "__main__":
    main()
