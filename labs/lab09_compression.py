# %% [markdown]
# # Lab 09: compression, quantisation and pruning as kernels, with measured gains
#
# A trained network is mostly weights, and inference is mostly matrix products over them.
# Compression makes both smaller: **quantisation** stores each number in 8 bits instead of
# 32, **pruning** removes weights (single ones, or whole channels). Neither is free, and
# neither is automatically faster: the gain depends on which kernel runs afterwards.
#
# **Systems questions**:
#
# 1. A float32 layer quantised to int8 stores 4x fewer bytes. Why is it *faster* only if the
#    matrix product itself runs in integers? (What does a layer cost that keeps int8 weights
#    but dequantises them to float32 before an ordinary float GEMM? Count the passes over
#    memory and the FLOPs.) How many int8 lanes fit in a 512-bit SIMD register, against
#    float32 lanes?
# 2. An int8 x int8 product is at most 128 * 128 = 2**14 in size (255 * 255 with zero points).
#    After how many terms can an int16 accumulator overflow? How large may `K` be before an
#    int32 accumulator can? Why do integer GEMMs return int32, not int8?
# 3. A CSR matrix stores a 4-byte column index beside every non-zero float32 value, and its
#    product gathers `x[i, indices[p]]` one element at a time. At what sparsity does CSR
#    store fewer bytes than the dense matrix? Why does the measured *time* cross over only
#    at a much higher sparsity, while a dense GEMM streams contiguous rows through SIMD?
# 4. Structured pruning removes whole output channels of a convolution. Which tensor shapes
#    change: this layer's weight and bias, the BatchNorm after it, the next layer's weight?
#    Why does that give a speed-up with *dense* kernels, where unstructured pruning needs a
#    sparse kernel?
#
# Fill in each `TODO`, run `python lab09_compression.py` for the experiments and
# `tinytorch grade 09` to check. `kernels/quant.py`, `kernels/qgemm.py` and
# `kernels/sparse.py` are tinytorch's versions of the same ideas.

# %%
import builtins
import contextlib
import importlib
import importlib.util
import time

import numba
import numpy as np
import threadpoolctl

import tinytorch as tt
from tinytorch.data.datasets import Digits
from tinytorch.examples.mlp_digits import accuracy, batches, build_mlp
from tinytorch.nn import functional as F

# `kernprof -l -v lab09_compression.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)

QMIN, QMAX = -128, 127  # the int8 codes
EPS = float(np.finfo(np.float32).eps)  # PyTorch's smallest scale: 2**-23


# %% [markdown]
# ## 1. Choosing the scale and the zero point
#
# The affine map between a real `x` and its int8 code `q` is `x ~ (q - zero_point) * scale`.
# Given the range `[x_min, x_max]` seen in a tensor (its min and max, say), PyTorch's
# observers pick the two numbers so that the range fits the 256 codes, and **the range always
# includes 0** (so that 0.0, a padding value and the ReLU floor, has an exact code):
#
# ```
# x_min = min(x_min, 0.0);  x_max = max(x_max, 0.0)
# symmetric:   scale = max(-x_min, x_max) / 127             zero_point = 0
# asymmetric:  scale = (x_max - x_min) / 255                (qmax - qmin = 255)
# scale = max(scale, EPS)           # an all-zero tensor: no division by 0 (EPS = 2**-23)
# asymmetric:  zero_point = -128 - round(x_min / scale), clamped to [-128, 127]
# ```
#
# `round` is Python's (half to even, as `torch.round`). Symmetric uses 127 so that `x` and
# `-x` both have codes (PyTorch's own symmetric observer divides by 127.5 over [-128, 127];
# symmetric weights for integer GEMMs usually keep to [-127, 127], as here). Work in Python
# floats (float64). `x_min > x_max`, NaN or infinity: `ValueError`.


# %%
def choose_qparams(x_min: float, x_max: float, symmetric: bool) -> tuple:
    """``(scale, zero_point)``, a float and an int, for int8 codes covering
    ``[x_min, x_max]`` (extended to include 0).

    >>> choose_qparams(-1.0, 2.54, symmetric=True)
    (0.02, 0)
    >>> choose_qparams(-5.1, 20.4, symmetric=False)   # -5.1 / 0.1 = -51 -> -128 + 51
    (0.1, -77)
    """
    # TODO: check the range; extend it to 0; scale (guarded by EPS); zero point (asymmetric)
    raise NotImplementedError("TODO: implement choose_qparams")


# %% [markdown]
# ## 2. Quantise and dequantise
#
# ```
# quantize:    q = clamp(rint(x / scale) + zero_point, -128, 127)    as int8
# dequantize:  x = (q - zero_point) * scale                           as float32
# ```
#
# `np.rint` rounds half to even (2.5 -> 2, 3.5 -> 4, -2.5 -> -2): the rounding of PyTorch
# and of the FPU, unbiased on average. Compute `x / scale` in float64. Values outside the
# range **saturate** at -128 or 127 (never wrap around). In `dequantize`, `q - zero_point`
# can be as large as 127 - (-128) = 255, which int8 cannot hold: widen `q` (to int32)
# before you subtract. Whole-array numpy is fine here; the lesson is the formula.
# `quantize` raises `ValueError` for a scale that is not positive and finite or a
# zero point outside [-128, 127]; `dequantize` raises `TypeError` if `q` is not int8.


# %%
def quantize(x, scale: float, zero_point: int) -> np.ndarray:
    """The int8 codes of the float array ``x`` (same shape).

    >>> quantize(np.array([0.0, 0.25, 0.75, -1.0, 100.0]), 0.5, 1).tolist()
    [1, 1, 3, -1, 127]
    """
    # TODO: validate scale and zero_point; rint(x / scale) + zero_point, clamp, int8
    raise NotImplementedError("TODO: implement quantize")


def dequantize(q, scale: float, zero_point: int) -> np.ndarray:
    """The float32 values that the int8 codes ``q`` stand for (same shape).

    >>> dequantize(np.array([1, 3, 127], np.int8), 0.5, 1).tolist()
    [0.0, 1.0, 63.0]
    """
    # TODO: check the dtype; widen q to int32, subtract the zero point, times scale, float32
    raise NotImplementedError("TODO: implement dequantize")


# %% [markdown]
# ## 3. An int8 matrix product
#
# With `a ~ (a_q - a_zp) * s_a` and `b ~ (b_q - b_zp) * s_b`, the product `a @ b` is
# `s_a * s_b` times the *integer* matrix
#
# `out[i, j] = sum_k (a_q[i, k] - a_zp) * (b_q[k, j] - b_zp)`
#
# for `a_q` `(M, K)` and `b_q` `(K, N)` int8, zero points plain ints. Each term needs more
# than 8 bits (up to 255 * 255) and the sum more than 16: accumulate in **int32** and return
# an `(M, N)` int32 array. Write the three loops with numbers only (`np.int32(...)`,
# indexing, `+`, `*`) so that `numba.njit` compiles it; the experiments do. Check the inner
# dimensions first and `raise ValueError("...")` with a constant message when they differ
# (numba compiles that; compiled code would read past the end of an array instead).


# %%
@profile
def int8_matmul(a_q, b_q, a_zp: int, b_zp: int) -> np.ndarray:
    """``sum_k (a_q[i, k] - a_zp) * (b_q[k, j] - b_zp)`` for int8 ``a_q`` (M, K) and
    ``b_q`` (K, N), as an (M, N) int32 array.

    >>> a = np.array([[1, 2, 3]], np.int8); b = np.array([[1], [1], [1]], np.int8)
    >>> int8_matmul(a, b, 1, 0).tolist()
    [[3]]
    """
    # TODO: check K; out = np.zeros((M, N), np.int32); three loops, int32 accumulator
    raise NotImplementedError("TODO: implement int8_matmul")


# %% [markdown]
# ## 4. Requantise: int32 accumulators back to int8
#
# The int32 result has scale `scale_a * scale_b`. The next layer wants int8 codes with its
# own `scale_out` and `zp_out` (chosen from the range of the outputs seen in calibration).
# One multiplier does it:
#
# ```
# m = scale_a * scale_b / scale_out
# q = clamp(rint(acc * m) + zp_out, -128, 127)        as int8
# ```
#
# (Integer-only hardware turns `m` into a fixed-point integer and a shift; float64 keeps the
# lesson.) Compute `m` first, in that order, then `acc * m` in float64. Saturate, never wrap.


# %%
def requantize(acc, scale_a: float, scale_b: float, scale_out: float,
               zp_out: int) -> np.ndarray:
    """int8 codes (scale ``scale_out``, zero point ``zp_out``) of the int32 accumulators
    ``acc`` (scale ``scale_a * scale_b``), same shape.

    >>> requantize(np.array([10, 300, -7], np.int32), 0.5, 0.5, 1.0, 0).tolist()
    [2, 75, -2]
    """
    # TODO: the multiplier, then rint(acc * m) + zp_out, clamp, int8
    raise NotImplementedError("TODO: implement requantize")


# %% [markdown]
# ## 5. Magnitude pruning
#
# Unstructured magnitude pruning zeroes the weights of smallest `|w|`. Return a boolean
# **mask** of `w`'s shape, `True` where the weight is kept: exactly
# `n = round(amount * w.size)` entries are `False` (Python's `round`, as PyTorch's
# `l1_unstructured`), those of smallest `|w|`. Ties are broken by index order: among equal
# magnitudes, the lower flat (C-order) index is pruned first (`np.argsort(..., kind="stable")`
# keeps that order; a threshold `|w| > t` would prune every tie at once). `amount` must be in
# `[0, 1)`, else `ValueError`.


# %%
def magnitude_mask(w, amount: float) -> np.ndarray:
    """A bool array of ``w``'s shape: False at the ``round(amount * w.size)`` entries of
    smallest ``|w|`` (ties: lower index first), True elsewhere.

    >>> magnitude_mask(np.array([[0.5, -0.1], [2.0, 0.1]]), 0.5).tolist()
    [[True, False], [True, False]]
    """
    # TODO: check amount; n = round(amount * w.size); stable argsort of |w|, flattened
    raise NotImplementedError("TODO: implement magnitude_mask")


# %% [markdown]
# ## 6. CSR: storing and using only the non-zeros
#
# A pruned weight `W` `(N, K)` (one row per output feature, as in `nn.Linear`) in
# compressed sparse row form, row by row, columns ascending, exact zeros dropped:
#
# - `data` `(nnz,)`, `W`'s dtype: the non-zero values, row 0's first, then row 1's, ...
# - `indices` `(nnz,)` int32: the column of each value;
# - `indptr` `(N + 1,)` int64: row `j`'s values are `data[indptr[j]:indptr[j + 1]]`, so
#   `indptr[0] == 0` and `indptr[N] == nnz`; an empty row has `indptr[j] == indptr[j + 1]`.
#
# `to_csr` may use Python lists (loops over `W`; it runs once per model). `csr_matmul`
# computes `x @ W.T` for `x` `(M, K)`, touching only the non-zeros:
# `out[i, j] = sum_{p = indptr[j]}^{indptr[j + 1] - 1} data[p] * x[i, indices[p]]`, an
# `(M, n_out)` array of `x`'s dtype. Loops and numbers only, so that `numba.njit` compiles
# it; `raise ValueError("...")` (a constant message) when `indptr` does not have
# `n_out + 1` entries. `to_csr` raises `ValueError` for an array that is not 2-D.


# %%
@profile
def to_csr(w) -> tuple:
    """``(indptr, indices, data)`` of the 2-D array ``w``.

    >>> indptr, indices, data = to_csr(np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0],
    ...                                          [1.0, 0.0, 3.0]]))
    >>> indptr.tolist(), indices.tolist(), data.tolist()
    ([0, 1, 1, 3], [1, 0, 2], [2.0, 1.0, 3.0])
    """
    # TODO: loop over rows and columns; collect non-zeros; indptr[j + 1] after row j
    raise NotImplementedError("TODO: implement to_csr")


@profile
def csr_matmul(x, indptr, indices, data, n_out: int) -> np.ndarray:
    """``x @ W.T`` for ``x`` (M, K) and ``W`` (n_out, K) given in CSR form.

    >>> indptr, indices = np.array([0, 1, 1, 3]), np.array([1, 0, 2], np.int32)
    >>> csr_matmul(np.array([[1.0, 1.0, 1.0]]), indptr, indices,
    ...            np.array([2.0, 1.0, 3.0]), 3).tolist()
    [[2.0, 0.0, 4.0]]
    """
    # TODO: check indptr; out = np.zeros((M, n_out), x.dtype); loop over i, j, p
    raise NotImplementedError("TODO: implement csr_matmul")


# %% [markdown]
# ## 7. Structured pruning: whole channels
#
# Structured pruning ranks the output channels of a layer by a norm of their weights and
# removes the weakest *channels*, so the layer stays dense, only smaller. For a convolution
# weight `(C_out, C_in, KH, KW)` (or a Linear weight `(N, K)`), the L1 norm of output channel
# `c` is the sum of `|w[c, ...]|` over all its other axes. Return the `(C_out,)` norms.


# %%
def channel_l1_norms(conv_weight) -> np.ndarray:
    """The L1 norm of each output channel (axis 0) of ``conv_weight``.

    >>> channel_l1_norms(np.array([[[[1.0, -2.0]]], [[[0.5, 0.0]]]])).tolist()
    [3.0, 0.5]
    """
    # TODO: |w|, summed over every axis but the first
    raise NotImplementedError("TODO: implement channel_l1_norms")


# %% [markdown]
# ## Experiments
#
# Run `python lab09_compression.py`. Timings are medians of interleaved rounds (A, B, A, B,
# ...) in one process, so that a busy machine slows every contender alike: read the
# *ratios*. For a line-by-line profile of your loops: `kernprof -l -v lab09_compression.py`.


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _done(fn, *args) -> bool:
    """Whether ``fn`` is implemented (it does not raise NotImplementedError); prints the
    TODO line otherwise."""
    try:
        fn(*args)
    except NotImplementedError:
        _todo(fn.__name__)
        return False
    return True


def _plain(fn):
    """The function itself, without kernprof's wrapper (numba compiles only the former)."""
    return getattr(fn, "__wrapped__", fn)


def _compiled(fn, *args):
    """``numba.njit(fn)``, compiled by a first call on ``args``; None (and a note) when
    numba cannot compile it."""
    jitted = numba.njit(_plain(fn))
    try:
        jitted(*args)
    except numba.core.errors.NumbaError as err:
        print(f"numba could not compile {fn.__name__}: {str(err).splitlines()[0]}\n"
              "  (use loops, numbers and indexing only): skipping its timings")
        return None
    return jitted


def _tinytorch_kernel(op: str, backend: str = "jit"):
    """tinytorch's kernel of ``op`` for ``backend``, or None (with a note) when this version
    of tinytorch has none."""
    try:
        return tt.dispatch.kernel_for(op, backend)[1]
    except tt.dispatch.BackendError:
        print(f"note: this tinytorch has no {backend!r} kernel for {op!r}; that row is "
              "left out")
        return None


@contextlib.contextmanager
def _one_core():
    """numba and the BLAS on one thread each while timing. Your loops run on one core, so
    that is the fair comparison; and on a small, busy machine a parallel kernel's threads
    wait for each other at every barrier (measured 30x slower than one thread on 2 shared
    cores), which would time the scheduler, not the kernel."""
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpoolctl.threadpool_limits(1):
            yield
    finally:
        numba.set_num_threads(before)


def _medians(contenders: dict, rounds: int = 7) -> dict:
    """Median seconds per call of each ``name: thunk``, measured in interleaved rounds
    after one warm-up call each (the first call of a jit function compiles)."""
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, fn in contenders.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def experiment_quantize_round_trip() -> None:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((128, 64)) * 0.1).astype(np.float32)
    h = np.maximum(rng.standard_normal((32, 128)), 0).astype(np.float32)  # post-ReLU
    if not _done(choose_qparams, -1.0, 1.0, True):
        return
    for name, x, sym in (("weights, symmetric", w, True), ("ReLU outputs, asymmetric", h, False),
                         ("ReLU outputs, symmetric", h, True)):
        scale, zp = choose_qparams(float(x.min()), float(x.max()), sym)
        try:
            q = quantize(x, scale, zp)
            back = dequantize(q, scale, zp)
        except NotImplementedError as err:
            return _todo(str(err).rsplit(" ", 1)[-1])
        used = len(np.unique(q))
        err = float(np.abs(back - x).max())
        print(f"{name:26} scale {scale:.5f} zero_point {zp:4d}: {used:3d} of 256 codes used, "
              f"max error {err:.5f} (scale / 2 = {scale / 2:.5f})")
    print(f"the weights: {w.nbytes:,} B as float32, {w.size:,} B as int8 (plus one scale and "
          "one zero point)")
    # One outlier stretches the range: every other weight gets fewer codes.
    spiky = w.copy()
    spiky[0, 0] = 50 * np.abs(w).max()
    for label, x in (("without the outlier", w), ("with one outlier of 50 x", spiky)):
        scale, zp = choose_qparams(float(x.min()), float(x.max()), True)
        err = float(np.abs(dequantize(quantize(x, scale, zp), scale, zp) - x)[1:].mean())
        print(f"  {label:26} scale {scale:.5f}: mean error of the other weights {err:.6f}")
    kernel = _tinytorch_kernel("quantize_forward", "numpy")
    if kernel is not None:
        scale, zp = choose_qparams(float(w.min()), float(w.max()), False)
        theirs = np.empty((1, 1, w.size), np.int8)
        kernel(theirs, w.reshape(1, 1, -1), np.array([scale]), np.array([zp], np.int32),
               qmin=QMIN, qmax=QMAX)
        same = np.array_equal(theirs.reshape(w.shape), quantize(w, scale, zp))
        print(f"your codes equal tinytorch's quantize_forward kernel's: {same}")


def experiment_int8_gemm() -> None:
    rng = np.random.default_rng(1)
    a8 = rng.integers(QMIN, QMAX + 1, (4, 8), dtype=np.int8)
    if not _done(int8_matmul, a8, a8.T.copy(), 0, 0):
        return
    # Why int32: eight products of 127 * 127 already overflow int16.
    k = 8
    full = np.full((1, k), 127, np.int8)
    exact = int(int8_matmul(full, full.T.copy(), 0, 0)[0, 0])
    print(f"{k} x 127 * 127 = {exact:,}: int16 holds up to 32,767 (wrapped: "
          f"{int(np.array(exact).astype(np.int16))}); int32 holds K up to "
          f"{(2**31 - 1) // (128 * 128):,} such products at full scale")

    n = 256
    a = rng.standard_normal((n, n)).astype(np.float32)
    b = rng.standard_normal((n, n)).astype(np.float32)
    a_q, b_q = (np.clip(np.rint(m / (np.abs(m).max() / 127)), -127, 127).astype(np.int8)
                for m in (a, b))
    a_zp, b_zp = 3, 0
    small = 24  # the Python loops: about a microsecond per multiply-add
    t0 = time.perf_counter()
    int8_matmul(a_q[:small, :small], b_q[:small, :small], a_zp, b_zp)
    python_s = (time.perf_counter() - t0) / small**3 * n**3
    mine = _compiled(int8_matmul, a_q[:4], b_q, a_zp, b_zp)
    if mine is None:
        return
    expected = (a_q.astype(np.int64) - a_zp) @ (b_q.astype(np.int64) - b_zp)
    if not np.array_equal(mine(a_q, b_q, a_zp, b_zp), expected):
        print("int8_matmul does not match the formula yet: fix it before timing")
        return
    out32, out_q = np.empty((1, n, n), np.float32), np.empty((n, n), np.int32)
    a3, bt3 = a[None], b[None]
    b_rows = np.ascontiguousarray(b_q.T)  # tinytorch's qgemm takes b as (N, K) rows
    zeros, zps = np.zeros(n, np.int32), np.full(n, b_zp, np.int32)
    contenders = {"your int8 loops, njit": lambda: mine(a_q, b_q, a_zp, b_zp)}
    qgemm = _tinytorch_kernel("qgemm_forward", "jit")
    if qgemm is not None:
        contenders["tinytorch int8 qgemm, jit"] = lambda: qgemm(out_q, a_q, b_rows, zeros,
                                                                zps, a_zero_point=a_zp)
    matmul = _tinytorch_kernel("matmul_forward", "jit")
    if matmul is not None:
        contenders["tinytorch float32 matmul, jit"] = lambda: matmul(out32, a3, bt3)
    contenders["numpy float32 (BLAS)"] = lambda: np.matmul(a, b)
    with _one_core():
        times = _medians(contenders)
    if qgemm is not None and not np.array_equal(out_q, expected):
        print("note: tinytorch's qgemm disagrees with the formula here")
    flops = 2 * n**3
    base = times.get("tinytorch float32 matmul, jit", times["numpy float32 (BLAS)"])
    print(f"{n} x {n} x {n} products on one core, median of interleaved rounds:")
    print(f"  {'your loops, plain Python':32} {python_s * 1e3:10.1f} ms (extrapolated from "
          f"{small}^3)")
    for name, s in times.items():
        print(f"  {name:32} {s * 1e3:10.2f} ms  {flops / s / 1e9:6.1f} G(FL)OP/s  "
              f"{s / base:5.2f} x the float32 jit time")
    print(f"operand bytes: {2 * a.nbytes:,} in float32, {2 * a_q.nbytes:,} in int8. An int8 "
          "layer that dequantises its weights first pays a float GEMM plus that pass.")
    print("your loops read b_q[k, j] with k innermost: a stride of N bytes per step and one "
          "sum in flight; qgemm reads b as (N, K) rows, 4x4 register tiles of int32 lanes")


def _csr_contenders(mine, dense_kernel, csr_kernel, x, wt, csr, n) -> dict:
    """The thunks that experiment_sparsity times: dense, yours, tinytorch's CSR kernel."""
    out, out3 = np.empty((x.shape[0], n), x.dtype), np.empty((1, x.shape[0], n), x.dtype)
    x3 = x[None]
    if dense_kernel is None:
        contenders = {"dense": lambda: np.matmul(x, wt[0])}
    else:
        contenders = {"dense": lambda: dense_kernel(out3, x3, wt)}
    contenders["mine"] = lambda: mine(x, *csr, n)
    if csr_kernel is not None:
        contenders["tinytorch"] = lambda: csr_kernel(out, x, *csr)
    return contenders


def experiment_sparsity() -> None:
    rng = np.random.default_rng(2)
    m, k, n = 64, 512, 512
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    if not (_done(magnitude_mask, w[:2], 0.5) and _done(to_csr, w[:2])):
        return
    tiny = to_csr(w[:3, :5] * magnitude_mask(w[:3, :5], 0.5))
    if not _done(csr_matmul, x[:2, :5], *tiny, 3):
        return
    mine = _compiled(csr_matmul, x[:2, :5], *tiny, 3)
    if mine is None:
        return
    dense_kernel = _tinytorch_kernel("matmul_forward", "jit")
    csr_kernel = _tinytorch_kernel("csr_matmul_forward", "jit")
    print(f"x ({m}, {k}) @ W.T, W ({n}, {k}) float32, on one core; times relative to the "
          "dense product (median of interleaved rounds):")
    print(f"  {'sparsity':>8}  {'CSR bytes / dense':>17}  {'your CSR, njit':>14}  "
          f"{'tinytorch CSR jit':>17}  {'dense ms':>8}")
    for amount in (0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99):
        pruned = w * magnitude_mask(w, amount)
        indptr, indices, data = to_csr(pruned)
        wt = np.ascontiguousarray(pruned.T)[None]  # the dense weight, transposed once
        ref = x @ pruned.T
        got = mine(x, indptr, indices, data, n)
        if not np.allclose(got, ref, rtol=1e-4, atol=1e-4):
            print("csr_matmul (or to_csr) does not match x @ W.T yet: fix it before timing")
            return
        with _one_core():
            t = _medians(_csr_contenders(mine, dense_kernel, csr_kernel, x, wt,
                                         (indptr, indices, data), n), rounds=7)
        stored = indptr.nbytes + indices.nbytes + data.nbytes
        theirs = f"{t['tinytorch'] / t['dense']:17.2f}" if "tinytorch" in t else f"{'-':>17}"
        print(f"  {amount:8.2f}  {stored / pruned.nbytes:17.2f}  {t['mine'] / t['dense']:14.2f}"
              f"  {theirs}  {t['dense'] * 1e3:8.3f}")
    print("CSR stores 8 bytes per non-zero (value + column) against 4 per dense entry; a ratio "
          "below 1 is a gain.")


def experiment_structured() -> None:
    rng = np.random.default_rng(3)
    conv1 = rng.standard_normal((16, 8, 3, 3)).astype(np.float32)  # (C_out, C_in, KH, KW)
    bias1 = rng.standard_normal(16).astype(np.float32)
    conv2 = rng.standard_normal((32, 16, 3, 3)).astype(np.float32)
    if not _done(channel_l1_norms, conv1):
        return
    norms = channel_l1_norms(conv1)
    n_keep = len(norms) - round(0.5 * len(norms))
    keep = np.sort(np.argsort(-norms, kind="stable")[:n_keep])  # strongest half, in order
    small1, small_bias1, small2 = conv1[keep], bias1[keep], conv2[:, keep]
    print(f"L1 norms of conv1's 16 filters: min {norms.min():.1f}, max {norms.max():.1f}; "
          f"keeping channels {keep.tolist()}")
    for name, before, after in (("conv1.weight", conv1, small1),
                                ("conv1.bias", bias1, small_bias1),
                                ("conv2.weight", conv2, small2)):
        print(f"  {name:13} {str(before.shape):16} -> {str(after.shape):16}")
    hw = 8 * 8  # output pixels of an 8x8 image with padding 1
    macs = lambda c1, c2: hw * (c1.shape[0] * c1[0].size + c2.shape[0] * c2[0].size)  # noqa: E731
    print(f"multiply-adds on an 8x8 image: {macs(conv1, conv2):,} -> {macs(small1, small2):,}"
          f" ({macs(small1, small2) / macs(conv1, conv2):.0%}), all dense: the same kernels")
    try:
        pruning = importlib.import_module("tinytorch.pruning")
        layer = tt.nn.Conv2d(8, 16, 3)
        layer.weight.numpy()[...] = conv1
        same = np.allclose(pruning.channel_norms(layer, "l1"), norms, rtol=1e-5)
        print(f"your norms equal tinytorch.pruning.channel_norms: {same}")
    except (ImportError, AttributeError, TypeError) as err:
        print(f"note: tinytorch.pruning.channel_norms is not available here ({err})")


def _trained_mlp(epochs: int = 8):
    train_x, train_y = (t.numpy() for t in Digits("train", flatten=True).tensors())
    test_x, test_y = (t.numpy() for t in Digits("test", flatten=True).tensors())
    tt.manual_seed(0)
    model = build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    for _ in range(epochs):
        for index in batches(len(train_y), 32, rng):
            loss = F.cross_entropy(model(tt.tensor(train_x[index])), tt.tensor(train_y[index]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model, train_x, test_x, test_y


def experiment_quantized_mlp() -> None:
    a8 = np.zeros((1, 1), np.int8)
    if not all(_done(*args) for args in ((choose_qparams, 0.0, 1.0, True),
                                         (quantize, np.zeros(1), 1.0, 0),
                                         (dequantize, a8, 1.0, 0),
                                         (int8_matmul, a8, a8, 0, 0),
                                         (requantize, np.zeros(1, np.int32), 1.0, 1.0, 1.0, 0))):
        return
    qmatmul = _compiled(int8_matmul, a8, a8, 0, 0)
    if qmatmul is None:
        return
    model, train_x, test_x, test_y = _trained_mlp()
    float_acc = accuracy(model, test_x, test_y)
    w1, b1 = model[0].weight.numpy(), model[0].bias.numpy()
    w2, b2 = model[2].weight.numpy(), model[2].bias.numpy()

    # Weights: symmetric per tensor. Activations: asymmetric, from a calibration pass over
    # the training set (the range of the inputs, and of the hidden layer after ReLU).
    s_w1, _ = choose_qparams(float(w1.min()), float(w1.max()), True)
    s_w2, _ = choose_qparams(float(w2.min()), float(w2.max()), True)
    w1_q, w2_q = quantize(w1, s_w1, 0), quantize(w2, s_w2, 0)
    s_x, z_x = choose_qparams(float(train_x.min()), float(train_x.max()), False)
    hidden = np.maximum(train_x @ w1.T + b1, 0)
    s_h, z_h = choose_qparams(0.0, float(hidden.max()), False)

    # Weights only: int8 storage, dequantised for a float forward pass.
    fake_w1, fake_w2 = dequantize(w1_q, s_w1, 0), dequantize(w2_q, s_w2, 0)
    logits = np.maximum(test_x @ fake_w1.T + b1, 0) @ fake_w2.T + b2
    weights_only = float((logits.argmax(1) == test_y).mean())

    # Integer inference: int8 in, int32 accumulators, requantised int8 hidden layer. The
    # biases become int32 with the accumulator's scale; ReLU on codes is max(q, z_h), the
    # code of 0.0; the logits' scale s_h * s_w2 is positive, so argmax needs no dequantise.
    b1_q = np.rint(b1 / (s_x * s_w1)).astype(np.int32)
    b2_q = np.rint(b2 / (s_h * s_w2)).astype(np.int32)
    x_q = quantize(test_x, s_x, z_x)
    acc1 = qmatmul(x_q, np.ascontiguousarray(w1_q.T), z_x, 0) + b1_q
    h_q = np.maximum(requantize(acc1, s_x, s_w1, s_h, z_h), np.int8(z_h))
    acc2 = qmatmul(h_q, np.ascontiguousarray(w2_q.T), z_h, 0) + b2_q
    int8_acc = float((acc2.argmax(1) == test_y).mean())

    float_bytes = sum(p.nbytes for p in model.parameters())
    int8_bytes = w1_q.nbytes + w2_q.nbytes + b1_q.nbytes + b2_q.nbytes + 4 * 8  # + 4 qparams
    float_pred = np.maximum(test_x @ w1.T + b1, 0) @ w2.T + b2
    agree = float((acc2.argmax(1) == float_pred.argmax(1)).mean())
    print(f"digits MLP 64-128-10, {len(test_y)} test images:")
    for name, acc, size in (("float32", float_acc, float_bytes),
                            ("int8 weights, float compute", weights_only, int8_bytes),
                            ("int8 end to end, your kernels", int8_acc, int8_bytes)):
        print(f"  {name:37} accuracy {acc * 100:6.2f}%  {size:7,} B")
    print(f"  int8 model: {float_bytes / int8_bytes:.1f} x smaller; its predictions equal the "
          f"float model's on {agree * 100:.1f}% of the test images")
    print(f"  input scale {s_x:.5f} (zero point {z_x}), hidden scale {s_h:.5f} "
          f"(zero point {z_h})")
    if importlib.util.find_spec("tinytorch.quantization") is None:
        print("note: this tinytorch has no tinytorch.quantization package to compare with")
        return
    try:
        tq = importlib.import_module("tinytorch.quantization")
        calibration = [tt.tensor(train_x[i:i + 256]) for i in range(0, len(train_x), 256)]
        for scheme in ("per_tensor", "per_channel"):
            theirs = tq.quantize_model(model, calibration, scheme)
            print(f"  {'tinytorch quantize_model, ' + scheme:37} accuracy "
                  f"{accuracy(theirs, test_x, test_y) * 100:6.2f}%")
    except (AttributeError, TypeError, ValueError) as err:  # an older or newer API
        print(f"note: tinytorch.quantization.quantize_model did not run here: {err}")


# %%
if __name__ == "__main__":
    for experiment in (experiment_quantize_round_trip, experiment_int8_gemm,
                       experiment_sparsity, experiment_structured, experiment_quantized_mlp):
        print(f"\n== {experiment.__name__} ==")
        experiment()
