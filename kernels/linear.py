"""Fused linear layer kernels: ``out = x @ w.T + b`` and its three gradients in one call.

Shapes: ``x`` (M, K) rows of inputs, ``w`` (N, K) one row per output feature (PyTorch's
``Linear.weight`` layout), ``b`` (N,), ``out`` (M, N); ``g`` is the gradient of ``out``.

Math::

    out[i, j]    = b[j] + sum_k x[i, k] * w[j, k]
    grad_x[i, k] = sum_j g[i, j] * w[j, k]        (g @ w)
    grad_w[j, k] = sum_i g[i, j] * x[i, k]        (g.T @ x)
    grad_b[j]    = sum_i g[i, j]

Cost: forward ``2*M*N*K`` FLOPs, backward ``4*M*N*K`` (``2*M*N*K`` without ``grad_x``, for a
first layer whose input needs no gradient). Bytes: every operand read once when the tiles
fit in cache, which they do at MLP sizes (a 128 x 64 float32 weight is 32 KiB).

Why fuse: at the sizes of a small MLP (batch 32, 64 -> 128 -> 10) a matmul takes about as
long as the Python around one kernel call, so ``x @ w.T`` then ``+ b`` (two calls, two
passes over ``out``) costs twice what one call does; the backward's three products in one
call save two more.

Variants: ``naive`` is the math above as loops. ``jit`` (a launcher) runs
``linear_forward_jit_rows4``: four rows of ``x`` against one row of ``w`` at a time, so each
``w[j, k]`` loaded from memory feeds four multiply-adds (register blocking), with
``fastmath`` so LLVM may reorder the sum over ``k`` into SIMD lanes (results differ from the
naive order in the last bits). The backward loops are ordered so the innermost index walks
contiguous memory without a reduction (``k`` for ``grad_x`` and ``grad_w``), which LLVM
vectorises without reordering anything: its jit kernel is the naive source compiled.

>>> import numpy as np
>>> out = np.empty((1, 2))
>>> linear_forward_naive(out, np.array([[1.0, 2.0]]), np.array([[1.0, 0.0], [1.0, 1.0]]),
...                      np.array([0.5, -1.0]))
>>> out.tolist()
[[1.5, 2.0]]
"""

import numpy as np
from numba import njit

# --- naive ------------------------------------------------------------------------------


def linear_forward_naive(out, x, w, b):
    M, K = x.shape
    N = w.shape[0]
    for i in range(M):
        for j in range(N):
            acc = b[j]
            for k in range(K):
                acc += x[i, k] * w[j, k]
            out[i, j] = acc


def linear_backward_naive(grad_x, grad_w, grad_b, g, x, w, need_x):
    # Two loop nests whose innermost index (k) walks contiguous memory and carries no
    # reduction: compiled, each vectorises without reordering any sum.
    M, K = x.shape
    N = w.shape[0]
    for j in range(N):
        grad_b[j] = 0
        for k in range(K):
            grad_w[j, k] = 0
    for i in range(M):
        for j in range(N):
            gij = g[i, j]
            grad_b[j] += gij
            for k in range(K):
                grad_w[j, k] += gij * x[i, k]
    if need_x:
        for i in range(M):
            for k in range(K):
                grad_x[i, k] = 0
            for j in range(N):
                gij = g[i, j]
                for k in range(K):
                    grad_x[i, k] += gij * w[j, k]


# --- jit --------------------------------------------------------------------------------

# reassoc lets LLVM split each k-sum into SIMD partial sums; no nnan/ninf, so NaN and inf
# in the operands still propagate as they do in every other kernel
FASTMATH = {"reassoc", "contract", "nsz"}


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def linear_forward_jit_rows4(out, x, w, b):
    M, K = x.shape
    N = w.shape[0]
    i = 0
    while i + 4 <= M:
        for j in range(N):
            # four accumulators in registers; w[j, k] is loaded once for four rows
            a0 = a1 = a2 = a3 = b[j]
            for k in range(K):
                wjk = w[j, k]
                a0 += x[i, k] * wjk
                a1 += x[i + 1, k] * wjk
                a2 += x[i + 2, k] * wjk
                a3 += x[i + 3, k] * wjk
            out[i, j] = a0
            out[i + 1, j] = a1
            out[i + 2, j] = a2
            out[i + 3, j] = a3
        i += 4
    for r in range(i, M):  # the last M % 4 rows, one at a time
        for j in range(N):
            acc = b[j]
            for k in range(K):
                acc += x[r, k] * w[j, k]
            out[r, j] = acc


def linear_forward_jit(out, x, w, b):
    """The registered jit launcher: the register-blocked kernel (see the module docstring)."""
    linear_forward_jit_rows4(out, x, w, b)


linear_backward_jit = njit(cache=True, error_model="numpy")(linear_backward_naive)


# --- numpy ------------------------------------------------------------------------------


def linear_forward_numpy(out, x, w, b):
    np.matmul(x, w.T, out=out)
    out += b


def linear_backward_numpy(grad_x, grad_w, grad_b, g, x, w, need_x):
    np.matmul(g.T, x, out=grad_w)
    np.sum(g, axis=0, out=grad_b)
    if need_x:
        np.matmul(g, w, out=grad_x)


KERNELS = {
    "linear_forward": {"naive": linear_forward_naive, "jit": linear_forward_jit,
                       "numpy": linear_forward_numpy},
    "linear_backward": {"naive": linear_backward_naive, "jit": linear_backward_jit,
                        "numpy": linear_backward_numpy},
}
