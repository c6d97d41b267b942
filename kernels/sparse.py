"""Sparse x dense products with the weight in CSR form: what makes a pruned layer faster.

A pruned ``Linear`` layer keeps its ``(N, K)`` weight ``W`` (one row per output feature,
PyTorch's layout) but most entries are zero. CSR (compressed sparse row) stores only the
``nnz`` non-zeros, row by row:

- ``data`` ``(nnz,)``: the values, row 0's first, then row 1's, ...
- ``indices`` ``(nnz,)`` int32: the column ``k`` of each value;
- ``indptr`` ``(N + 1,)`` int64: row ``j``'s values are ``data[indptr[j]:indptr[j + 1]]``
  (``indptr[0] == 0``, ``indptr[N] == nnz``, non-decreasing).

Math (``x`` is ``(M, K)``: M rows of inputs, ``out`` ``(M, N)``)::

    csr_matmul_forward:  out[i, j] = sum_{p in row j} data[p] * x[i, indices[p]]   (x @ W.T)
    csr_linear_forward:  the same plus b[j]                                   (x @ W.T + b)

Cost: ``2 * nnz * M`` FLOPs against the dense ``2 * N * K * M``, so at sparsity ``s`` the
work is ``(1 - s)`` of the dense product's. Bytes: ``nnz * (itemsize + 4) + (N + 1) * 8``
for the weight (values plus column indices plus row pointers; 8 bytes per non-zero in
float32, twice the dense 4, so CSR stores less only below 50% density) plus the dense
``M * K`` input and ``M * N`` output. The catch is that sparse work is not dense work: every
``x[i, indices[p]]`` is a gather (an indirect load, no SIMD along k), while the dense kernel
streams contiguous rows through SIMD lanes. So CSR pays only past a crossover sparsity,
measured in docs/pruning.md (``python -m tinytorch.pruning.measure``).

Variants:

- ``naive``: the formula as loops, one scalar at a time: the specification.
- ``jit_gather`` (``njit`` of the naive source): one gather per multiply-add.
- ``jit_rows8``: register blocking, as ``kernels/linear.py``: eight rows of ``x`` at a time,
  so each non-zero, loaded once, feeds eight independent multiply-adds.
- ``jit_batch``: the loop order turned
  around so the *batch* is the contiguous, innermost axis. ``x`` is packed once into ``xt``
  ``(K, M)`` (an ``M * K`` copy, the size of the input itself); then each non-zero
  ``(j, k, w)`` does ``acc[:] += w * xt[k, :]``: one scalar load of ``w`` and of ``k``
  feeds ``M`` multiply-adds over contiguous memory, which LLVM vectorises (no reduction in
  the inner loop, so no reordering of any sum and no ``fastmath``). The gather moves from
  one element to one row of ``xt``. Each output column is accumulated in a small ``(M,)``
  buffer and stored once.
- ``jit``: the registered launcher: ``jit_batch``, or ``jit_rows8`` when the matrix is so
  sparse that ``jit_batch``'s two fixed ``M * (K + N)`` passes (packing, column stores)
  cost more than the products (measured; see ``ROWS8_BELOW_NNZ_PER_FEATURE``).
- ``numpy``: densify, then ``np.matmul``: the oracle. Vectorised CSR in plain numpy needs
  a gather of ``M * nnz`` elements plus a segmented sum; the dense product is simpler to
  trust.

The helpers ``csr_from_dense`` and ``dense_from_csr`` convert (numpy; not kernels: the size
of a kernel's output must be known before the call, and ``nnz`` is not).

>>> import numpy as np
>>> w = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, 3.0]])
>>> indptr, indices, data = csr_from_dense(w)
>>> indptr.tolist(), indices.tolist(), data.tolist()
([0, 1, 3], [1, 0, 2], [2.0, 1.0, 3.0])
>>> out = np.empty((1, 2))
>>> csr_linear_forward_naive(out, np.array([[1.0, 1.0, 1.0]]), indptr, indices, data,
...                          np.array([0.5, 0.0]))
>>> out.tolist()
[[2.5, 4.0]]
"""

import numpy as np
from numba import njit

INDPTR_DTYPE = np.int64
INDICES_DTYPE = np.int32


def csr_from_dense(w: np.ndarray):
    """``(indptr, indices, data)`` of the 2-D array ``w`` (rows are output features); exact
    zeros are dropped, everything else (NaN included) is kept.

    >>> indptr, indices, data = csr_from_dense(np.zeros((2, 3), np.float32))
    >>> indptr.tolist(), indices.size, data.dtype
    ([0, 0, 0], 0, dtype('float32'))
    """
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"csr_from_dense(): expected a 2-D array, got shape {w.shape}")
    if w.shape[1] > np.iinfo(INDICES_DTYPE).max:
        raise ValueError(f"csr_from_dense(): {w.shape[1]} columns do not fit int32 indices")
    rows, cols = np.nonzero(w)  # row-major order: row 0's columns first, ascending
    indptr = np.zeros(w.shape[0] + 1, INDPTR_DTYPE)
    np.cumsum(np.bincount(rows, minlength=w.shape[0]), out=indptr[1:])
    return indptr, cols.astype(INDICES_DTYPE), np.ascontiguousarray(w[rows, cols])


def dense_from_csr(indptr, indices, data, shape) -> np.ndarray:
    """The dense ``(N, K)`` array that ``csr_from_dense`` compressed.

    >>> w = np.array([[0.0, 2.0], [3.0, 0.0]])
    >>> bool((dense_from_csr(*csr_from_dense(w), w.shape) == w).all())
    True
    """
    w = np.zeros(shape, data.dtype)
    rows = np.repeat(np.arange(shape[0]), np.diff(indptr))
    w[rows, indices] = data
    return w


# --- naive ------------------------------------------------------------------------------


def csr_matmul_forward_naive(out, x, indptr, indices, data):
    M = x.shape[0]
    N = indptr.shape[0] - 1
    for i in range(M):  # rows of x and out
        for j in range(N):  # rows of W: output features
            acc = data.dtype.type(0)  # a zero of the values' dtype: float32 stays float32
            for p in range(indptr[j], indptr[j + 1]):  # the non-zeros of row j only
                acc += data[p] * x[i, indices[p]]
            out[i, j] = acc


def csr_linear_forward_naive(out, x, indptr, indices, data, b):
    M = x.shape[0]
    N = indptr.shape[0] - 1
    for i in range(M):
        for j in range(N):
            acc = b[j]
            for p in range(indptr[j], indptr[j + 1]):
                acc += data[p] * x[i, indices[p]]
            out[i, j] = acc


# --- jit --------------------------------------------------------------------------------

csr_matmul_forward_jit_gather = njit(cache=True, error_model="numpy")(csr_matmul_forward_naive)
csr_linear_forward_jit_gather = njit(cache=True, error_model="numpy")(csr_linear_forward_naive)


@njit(cache=True, error_model="numpy")
def _csr_rows8_source(out, x, indptr, indices, data, b, has_bias):
    M = x.shape[0]
    N = indptr.shape[0] - 1
    i = 0
    while i + 8 <= M:
        # Register blocking: eight rows of x at once, so each non-zero (w, k), loaded
        # once, feeds eight multiply-adds into eight independent accumulators (the naive
        # loop has one dependency chain: each add waits for the one before).
        for j in range(N):
            z = b[j] if has_bias else out.dtype.type(0)
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
            for p in range(indptr[j], indptr[j + 1]):
                w = data[p]
                k = indices[p]
                a0 += w * x[i, k]
                a1 += w * x[i + 1, k]
                a2 += w * x[i + 2, k]
                a3 += w * x[i + 3, k]
                a4 += w * x[i + 4, k]
                a5 += w * x[i + 5, k]
                a6 += w * x[i + 6, k]
                a7 += w * x[i + 7, k]
            out[i, j] = a0
            out[i + 1, j] = a1
            out[i + 2, j] = a2
            out[i + 3, j] = a3
            out[i + 4, j] = a4
            out[i + 5, j] = a5
            out[i + 6, j] = a6
            out[i + 7, j] = a7
        i += 8
    for r in range(i, M):  # the last M % 8 rows, one at a time
        for j in range(N):
            acc = b[j] if has_bias else out.dtype.type(0)
            for p in range(indptr[j], indptr[j + 1]):
                acc += data[p] * x[r, indices[p]]
            out[r, j] = acc


@njit(cache=True, error_model="numpy")
def _csr_batch_source(out, x, indptr, indices, data, b, has_bias):
    M, K = x.shape
    N = indptr.shape[0] - 1
    # Trick 1: pack x as (K, M) so that one input feature across the whole batch is one
    # contiguous row; a non-zero then updates M outputs with unit-stride loads.
    xt = np.empty((K, M), x.dtype)
    for i in range(M):
        for k in range(K):
            xt[k, i] = x[i, k]
    # Trick 2: accumulate one output column in a small contiguous buffer (it stays in L1
    # for M up to thousands) and store it once, instead of M strided read-modify-writes of
    # out[:, j] per non-zero.
    acc = np.empty(M, out.dtype)
    for j in range(N):
        start = b[j] if has_bias else out.dtype.type(0)
        for i in range(M):
            acc[i] = start
        for p in range(indptr[j], indptr[j + 1]):
            w = data[p]
            row = xt[indices[p]]
            # Trick 3: no reduction in this loop, only acc[i] += w * row[i]: LLVM
            # vectorises it as written, and each acc[i] still sums in the naive order.
            for i in range(M):
                acc[i] += w * row[i]
        for i in range(M):
            out[i, j] = acc[i]


# The batch kernel pays two O(M * (K + N)) passes (the packing and the column stores)
# whatever nnz is; the rows8 kernel pays nothing up front but one gather per
# multiply-add. Measured while writing them (float32, K = N = 512, interleaved medians on
# a busy 2-core box): at 99% zeros rows8 took 29 us at M = 32 and 235 us at M = 256
# against 41 and 571 us for batch; at 95% batch won (73 against 112 us at M = 32, 777
# against 936 at M = 256). Hence rows8 below about 8 * (K + N) non-zeros (~97% zeros
# at 512 x 512), where the fixed passes dominate.
ROWS8_BELOW_NNZ_PER_FEATURE = 8


def _launch(out, x, indptr, indices, data, b, has_bias):
    if data.shape[0] < ROWS8_BELOW_NNZ_PER_FEATURE * (x.shape[1] + out.shape[1]):
        _csr_rows8_source(out, x, indptr, indices, data, b, has_bias)
    else:
        _csr_batch_source(out, x, indptr, indices, data, b, has_bias)


def csr_matmul_forward_jit(out, x, indptr, indices, data):
    """The registered jit launcher: the batch-contiguous kernel, or rows8 when very sparse."""
    _launch(out, x, indptr, indices, data, data[:0], False)


def csr_linear_forward_jit(out, x, indptr, indices, data, b):
    """The registered jit launcher, with the bias (see ``csr_matmul_forward_jit``)."""
    _launch(out, x, indptr, indices, data, b, True)


def csr_linear_forward_jit_batch(out, x, indptr, indices, data, b):
    """The batch-contiguous kernel alone (for the measurements)."""
    _csr_batch_source(out, x, indptr, indices, data, b, True)


def csr_linear_forward_jit_rows8(out, x, indptr, indices, data, b):
    """The register-blocked gather kernel alone (for the measurements)."""
    _csr_rows8_source(out, x, indptr, indices, data, b, True)


# --- numpy ------------------------------------------------------------------------------


def csr_matmul_forward_numpy(out, x, indptr, indices, data):
    w = dense_from_csr(indptr, indices, data, (indptr.shape[0] - 1, x.shape[1]))
    np.matmul(x, w.T, out=out)


def csr_linear_forward_numpy(out, x, indptr, indices, data, b):
    csr_matmul_forward_numpy(out, x, indptr, indices, data)
    out += b


VARIANTS = {
    "csr_linear_forward": {"naive": csr_linear_forward_naive,
                           "jit_gather": csr_linear_forward_jit_gather,
                           "jit_rows8": csr_linear_forward_jit_rows8,
                           "jit_batch": csr_linear_forward_jit_batch,
                           "jit": csr_linear_forward_jit,
                           "numpy": csr_linear_forward_numpy},
}

KERNELS = {
    "csr_matmul_forward": {"naive": csr_matmul_forward_naive, "jit": csr_matmul_forward_jit,
                           "numpy": csr_matmul_forward_numpy},
    "csr_linear_forward": {"naive": csr_linear_forward_naive, "jit": csr_linear_forward_jit,
                           "numpy": csr_linear_forward_numpy},
}
