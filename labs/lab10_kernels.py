# %% [markdown]
# # Lab 10: kernels: tiling, parallelism, fusion, GPU kernels
#
# One matrix multiply, `out = a @ b`, climbs from three loops to a kernel within a small
# factor of an optimised BLAS. Every rung does the same `2*M*N*K` FLOPs; what changes is
# where the operands come from (registers, L1, L2, memory), how many cores do the work,
# and how many passes over memory the surrounding ops cost. You write each rung as plain
# Python loops; the lab compiles it with `numba.njit` and races it against the rung below
# and numpy, as `docs/matmul.md` does for tinytorch's own ladder (`kernels/matmul.py`).
#
# **Systems questions** (answer them in your own words as you go):
#
# 1. A square float32 matmul of size n moves at least `3 n^2 * 4` bytes and does `2 n^3`
#    FLOPs. What is its arithmetic intensity at n = 256? Why does the i-j-k loop order
#    still run at memory speed? What is the stride (in bytes) of its innermost load?
# 2. `matmul_ikj` adds the same products in the same order as `matmul_ijk` (each `out[i, j]`
#    sums over k = 0, 1, ... starting from 0). Why are the float64 results bit-identical, and
#    why is one several times faster? Which loop can the compiler turn into SIMD
#    instructions, and why may it not do so for the other without changing the result?
# 3. Blocking: which tile of `b` must stay in cache while the rows of `a` stream past it?
#    How big may it be for a 32 KiB L1 and a 1 MiB L2? What happens to the rows and columns
#    that do not fill a whole tile (the *tails*)?
# 4. Packing `b` transposed costs one extra pass over `b`. What does it buy the inner loop?
#    A 2 x 2 register tile loads 4 numbers for 4 multiply-adds per step of k: how many
#    loads per multiply-add is that, against ijk's 2?
# 5. `prange` splits a loop over threads. Which loop of a matmul may you split, and which
#    one must you not (what happens when two threads add into the same `out[i, j]`)? Why is
#    a parallel kernel slower than a serial one on tiny matrices, and on a machine whose
#    other cores are busy?
# 6. Fusion: `linear` then `relu` writes `z = x @ w.T + b` to memory, reads it back and
#    writes `out`. How many bytes does applying the ReLU to the accumulator (the epilogue)
#    save for x (32, 64), w (128, 64)? When is that saving large next to the matmul, and
#    when is it noise? (`docs/fusion.md` has tinytorch's measured answer.)
# 7. GPU: `kernels/cuda/matmul.py` tiles the same loops for a GPU: a block of 16 x 16
#    threads loads a tile of `a` and of `b` into shared memory once, and every thread reads
#    it 16 times. Which CPU rung of this lab is that the GPU twin of?
#
# **Kernel contract** (as tinytorch's, `docs/kernels.md`): outputs come first and arrive
# holding garbage (`np.empty`), so every element must be written; the function returns
# nothing. In this lab the matrices are 2-D: `out` is `(M, N)`, `a` is `(M, K)`, `b` is
# `(K, N)`; inputs may be views with any strides, so index them as `a[i, k]`. Use only
# loops, numbers, `min`, `range` (`numba.prange` in the parallel rung) and indexing, plus
# `np.empty` where a rung says so: `numba.njit` must compile every function. Fill in each
# `TODO`, run `python lab10_kernels.py` for the ladder and `tinytorch grade 10` to check.

# %%
import time

import numba
import numpy as np

import tinytorch as tt
from tinytorch.kernels import matmul as tt_matmul

# %% [markdown]
# ## 1. The definition: loop order i-j-k
#
# `out[i, j] = sum over k of a[i, k] * b[k, j]`: for every output, a sum that starts at 0
# and runs over **all** `K` terms in order k = 0, 1, ..., K - 1. With `K = 0` the sum is
# empty and `out` is all zeros. The innermost loop reads `b` down a column.


# %%
def matmul_ijk(out, a, b):
    """``out = a @ b`` for 2-D arrays; loops i, j, then k innermost.

    >>> out = np.empty((1, 1))
    >>> matmul_ijk(out, np.ones((1, 2)), np.full((2, 1), 3.0))
    >>> out.tolist()
    [[6.0]]
    """
    # TODO: for i, for j: acc = 0.0; for k: acc += a[i, k] * b[k, j]; out[i, j] = acc
    raise NotImplementedError("TODO: implement matmul_ijk")


# %% [markdown]
# ## 2. Swap the inner loops: i-k-j
#
# Now `out` itself is the accumulator: zero row `i` of `out` first (it arrives as garbage),
# then for every k add `a[i, k] * b[k, j]` into `out[i, j]` for every j. The innermost loop
# walks a row of `b` and a row of `out`, both contiguous. Each `out[i, j]` still sums its
# terms in k order starting from 0, so for float64 arrays the result is the same, bit for
# bit. (For float32 it is not quite: numba types ijk's `acc = 0.0` as a float64, while
# `out[i, j] += ...` rounds to float32 at every step.)


# %%
def matmul_ikj(out, a, b):
    """``out = a @ b`` for 2-D arrays; loops i, k, then j innermost.

    >>> out = np.empty((1, 2))
    >>> matmul_ikj(out, np.ones((1, 2)), np.arange(4.0).reshape(2, 2))
    >>> out.tolist()
    [[2.0, 4.0]]
    """
    # TODO: for i: zero out[i, :]; for k: aik = a[i, k]; for j: out[i, j] += aik * b[k, j]
    raise NotImplementedError("TODO: implement matmul_ikj")


# %% [markdown]
# ## 3. Cache blocking
#
# i-k-j over tiles: loop over blocks of `tile` rows (`i0`), `tile` values of k (`k0`) and
# `tile` columns (`j0`), and inside a block run i-k-j over
# `range(i0, min(i0 + tile, M))`, and the same for k and j. The last block in each
# dimension may be smaller than `tile`: `min` takes care of the tails, so any `tile >= 1`
# works for any shape. Zero all of `out` first. Keep the k blocks in increasing order, so
# every `out[i, j]` still adds its terms in k order (bit-identical to ijk again).


# %%
def matmul_blocked(out, a, b, tile):
    """``out = a @ b`` in ``tile x tile`` blocks (i-k-j inside each block).

    >>> out = np.empty((3, 3))
    >>> matmul_blocked(out, np.eye(3), np.arange(9.0).reshape(3, 3), 2)
    >>> out.tolist()
    [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0]]
    """
    # TODO: zero out; for i0, k0, j0 in steps of tile: i-k-j over the block, ends with min()
    raise NotImplementedError("TODO: implement matmul_blocked")


# %% [markdown]
# ## 4. Packing and a register tile
#
# *Pack* `b` transposed: `bt = np.empty((N, K), b.dtype)` with `bt[j, k] = b[k, j]`. Every
# output is now a dot product of two contiguous rows, `a[i, :]` and `bt[j, :]`. Then compute
# `out` in 2 x 2 tiles: for rows `i, i + 1` and columns `j, j + 1`, keep four sums `c00, c01,
# c10, c11` in local variables (registers) over the whole k loop; each step loads
# `a[i, k], a[i + 1, k], bt[j, k], bt[j + 1, k]` and does 4 multiply-adds. When M or N is
# odd, the last row or column has no partner: finish it one dot product at a time. Start
# every sum at 0 and run k in order.


# %%
def matmul_packed(out, a, b):
    """``out = a @ b`` with ``b`` packed transposed and a 2 x 2 register tile.

    >>> out = np.empty((3, 3))
    >>> matmul_packed(out, np.arange(6.0).reshape(3, 2), np.arange(6.0).reshape(2, 3))
    >>> out.tolist()
    [[3.0, 4.0, 5.0], [9.0, 14.0, 19.0], [15.0, 24.0, 33.0]]
    """
    # TODO: pack bt (N, K); 2 x 2 tiles with four local sums; then the odd row / column
    raise NotImplementedError("TODO: implement matmul_packed")


# %% [markdown]
# ## 5. Parallel rows
#
# `numba.prange` is `range` that `numba.njit(parallel=True)` may split over threads (run as
# plain Python, it is just `range`). Split the loop over rows of `out`: each thread then
# owns whole rows, zeroes them and sums into them, and no two threads ever write the same
# element. Inside a row use the i-k-j order. Never split the k loop: two threads adding
# into the same `out[i, j]` lose updates (a data race), and only sometimes.


# %%
def matmul_parallel(out, a, b):
    """``out = a @ b``, the rows of ``out`` split over threads with ``numba.prange``.

    >>> out = np.empty((2, 2))
    >>> matmul_parallel(out, np.eye(2), np.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> out.tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    """
    # TODO: for i in numba.prange(M): zero row i; for k: for j: out[i, j] += a[i, k] * b[k, j]
    raise NotImplementedError("TODO: implement matmul_parallel")


# %% [markdown]
# ## 6. Fusion: linear + ReLU in one pass
#
# `out[i, j] = relu(b[j] + sum over k of x[i, k] * w[j, k])` with `x` `(M, K)`, `w` `(N, K)`
# (one row per output feature, PyTorch's layout), `b` `(N,)`, `out` `(M, N)`. Add the bias
# to the finished sum, then apply the ReLU to that number *before* it is stored (the
# *epilogue*): `z` never goes to memory. ReLU: `0` where `z < 0`, else `z` (so a NaN passes
# through, as in PyTorch).


# %%
def linear_relu(out, x, w, b):
    """``out = relu(x @ w.T + b)`` in one pass over ``out``.

    >>> out = np.empty((1, 2))
    >>> linear_relu(out, np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [-1.0, -1.0]]),
    ...             np.array([0.5, 1.0]))
    >>> out.tolist()
    [[1.5, 0.0]]
    """
    # TODO: for i, j: z = b[j] + the dot product of x[i, :] and w[j, :]; out[i, j] = relu(z)
    raise NotImplementedError("TODO: implement linear_relu")


# %% [markdown]
# ## Experiments: the ladder
#
# Each rung is checked against numpy, compiled (its first call is timed apart: that is
# compilation), then timed: the median of several calls, GFLOP/s, and the ratio to numpy's
# time (`np.matmul`, a multi-threaded BLAS), in the format of `docs/matmul.md`. Compare
# with tinytorch's own rungs (`kernels/matmul.py`), which add SIMD-friendly reassociation
# (`fastmath`), a 4 x 4 register tile and cache blocking of the packed operands.


# %%
def _done(fn, *args) -> bool:
    try:
        fn(*args)
    except NotImplementedError:
        return False
    return True


def _median_s(fn, *args, repeat: int = 7) -> float:
    """Median seconds of ``repeat`` calls, after one untimed call: it compiles, and it wakes
    numpy's and numba's worker threads (on a busy machine waking one can cost a whole
    scheduler tick, about 16 ms, which is not the kernel's time)."""
    fn(*args)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def _operands(m, k, n, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, k)).astype(np.float32),
            rng.standard_normal((k, n)).astype(np.float32))


def _rungs():
    """(name, function, extra args, njit options) of every rung, in ladder order."""
    return [("ijk", matmul_ijk, (), {}), ("ikj", matmul_ikj, (), {}),
            ("blocked(64)", matmul_blocked, (64,), {}), ("packed", matmul_packed, (), {}),
            ("parallel", matmul_parallel, (), {"parallel": True})]


def experiment_ladder(n: int = 256) -> None:
    a, b = _operands(n, n, n)
    flops = 2 * n**3
    expected = a.astype(np.float64) @ b
    out = np.empty((n, n), np.float32)
    t_numpy = _median_s(np.matmul, a, b, out)
    print(f"float32 {n} x {n} x {n}, {flops / 1e6:.1f} MFLOP; numpy: "
          f"{flops / t_numpy / 1e9:.1f} GFLOP/s")
    print("| rung | first call (s) | GFLOP/s | x numpy | x previous rung |")
    print("|---|---|---|---|---|")
    print(f"| numpy | | {flops / t_numpy / 1e9:.1f} | 1.00 | |")
    previous = None
    small_a, small_b = _operands(8, 8, 8)
    for name, fn, extra, options in _rungs():
        if not _done(fn, np.empty((8, 8)), small_a, small_b, *extra):
            print(f"TODO: implement {fn.__name__} first")
            continue
        compiled = numba.njit(**options)(fn)
        start = time.perf_counter()
        compiled(out, a, b, *extra)
        first = time.perf_counter() - start
        if not np.allclose(out, expected, rtol=1e-3, atol=1e-3):
            print(f"| {name} | {first:.2f} | wrong result: fix it before timing it | | |")
            continue
        t = _median_s(compiled, out, a, b, *extra)
        step = "" if previous is None else f"{previous / t:.2f}"
        print(f"| {name} | {first:.2f} | {flops / t / 1e9:.1f} | {t_numpy / t:.2f} | {step} |")
        previous = t
    for name in ("jit_packed", "jit_parallel"):
        fn = tt_matmul.VARIANTS[name]
        fn(out[None], a[None], b[None])  # compile (or load from numba's cache)
        t = _median_s(fn, out[None], a[None], b[None])
        print(f"| tinytorch {name} | | {flops / t / 1e9:.1f} | {t_numpy / t:.2f} | |")


def experiment_interpreted(n: int = 32) -> None:
    """The first rung without numba: the price of the interpreter."""
    if not _done(matmul_ijk, np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1))):
        print("TODO: implement matmul_ijk first")
        return
    a, b = _operands(n, n, n)
    out = np.empty((n, n), np.float32)
    start = time.perf_counter()
    matmul_ijk(out, a, b)  # one call: seconds of interpreted loops
    t_py = time.perf_counter() - start
    compiled = numba.njit(matmul_ijk)
    compiled(out, a, b)
    t_jit = _median_s(compiled, out, a, b)
    print(f"matmul_ijk at n = {n}: interpreted {t_py * 1e3:.1f} ms, compiled "
          f"{t_jit * 1e6:.1f} us: {t_py / t_jit:.0f}x")


def experiment_threads(sizes=(16, 64, 256)) -> None:
    """Parallel against serial at several sizes: waking threads costs microseconds."""
    if not _done(matmul_parallel, np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1))) or \
            not _done(matmul_ikj, np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1))):
        print("TODO: implement matmul_parallel and matmul_ikj first")
        return
    serial, parallel = numba.njit(matmul_ikj), numba.njit(parallel=True)(matmul_parallel)
    print(f"numba threads: {numba.get_num_threads()}")
    for n in sizes:
        a, b = _operands(n, n, n)
        out = np.empty((n, n), np.float32)
        serial(out, a, b)
        parallel(out, a, b)
        ts, tp = _median_s(serial, out, a, b, repeat=9), _median_s(parallel, out, a, b, repeat=9)
        print(f"  n = {n:4}: serial ikj {ts * 1e6:9.1f} us, parallel {tp * 1e6:9.1f} us "
              f"({ts / tp:.2f}x)")


def experiment_fusion(m: int = 32, k: int = 64, n: int = 128) -> None:
    """Your fused linear + ReLU against the same loops followed by a ReLU pass."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    if not _done(linear_relu, np.empty((m, n), np.float32), x, w, bias):
        print("TODO: implement linear_relu first")
        return
    fused = numba.njit(linear_relu)

    @numba.njit
    def linear_then_relu(out, z, x, w, b):
        for i in range(x.shape[0]):  # the same sums, stored, then a second pass
            for j in range(w.shape[0]):
                acc = b[j]
                for kk in range(x.shape[1]):
                    acc += x[i, kk] * w[j, kk]
                z[i, j] = acc
        for i in range(z.shape[0]):
            for j in range(z.shape[1]):
                v = z[i, j]
                out[i, j] = 0 if v < 0 else v

    out, z = np.empty((m, n), np.float32), np.empty((m, n), np.float32)
    fused(out, x, w, bias)
    linear_then_relu(out, z, x, w, bias)
    tt_fused = tt.dispatch.kernel_for("linear_act_forward", "jit")[1]
    no_pre = np.empty((0, 0), np.float32)
    tt_fused(out, no_pre, x, w, bias, activation=0)
    rows = {"yours, fused": _median_s(fused, out, x, w, bias, repeat=51),
            "yours, then a ReLU pass": _median_s(linear_then_relu, out, z, x, w, bias,
                                                 repeat=51),
            "tinytorch linear_act (jit)": _median_s(
                lambda: tt_fused(out, no_pre, x, w, bias, activation=0), repeat=51)}
    saved = 2 * m * n * 4
    print(f"linear ({m}, {k}) -> ({m}, {n}) + ReLU, float32; the unfused pass moves "
          f"{saved:,} more bytes (write z, read it back)")
    for name, t in rows.items():
        print(f"  {name:28} {t * 1e6:8.1f} us")


def experiment_gpu() -> None:
    kind, detail = tt.kernels.cuda_status()
    print(f"CUDA: {kind} ({detail}). The tiled GPU kernel is kernels/cuda/matmul.py "
          "(matmul_tiled_kernel); on a machine with a GPU, time it with "
          "tt.backend('cuda').")


# %%
if __name__ == "__main__":
    for experiment in (experiment_interpreted, experiment_ladder, experiment_threads,
                       experiment_fusion, experiment_gpu):
        print(f"\n== {experiment.__name__} ==")
        experiment()
