"""Linear layer with a fused activation epilogue: ``out = act(x @ w.T + b)`` in one kernel.

Shapes (as ``kernels/linear.py``): ``x`` (M, K) rows of inputs, ``w`` (N, K) one row per
output feature, ``b`` (N,), ``out`` (M, N); ``g`` (M, N) is the gradient of ``out``.
``activation`` is a keyword int: ``RELU`` (0), ``GELU`` (1, the exact erf form) or
``GELU_TANH`` (2, the tanh form; formulas in ``kernels/activation.py``).

Math, with ``z`` the pre-activation::

    z[i, j]      = b[j] + sum_k x[i, k] * w[j, k]
    out[i, j]    = act(z[i, j])          relu: z < 0 ? 0 : z (NaN passes, as in PyTorch)
    dz[i, j]     = g[i, j] * act'(z[i, j])   relu: g where z > 0, else 0
    grad_x[i, k] = sum_j dz[i, j] * w[j, k]
    grad_w[j, k] = sum_i dz[i, j] * x[i, k]
    grad_b[j]    = sum_i dz[i, j]

What the backward reads (``saved``): for ReLU the forward output ``out`` itself (``out > 0``
exactly where ``z > 0``), so nothing extra is stored; for GELU the pre-activation ``z``,
which the forward writes into ``pre`` (M, N) (for ReLU ``pre`` may be an empty array, never
touched).

Cost: forward ``2*M*N*K`` FLOPs plus ``M*N`` activations, backward ``4*M*N*K`` (``2*M*N*K``
without ``grad_x``). Bytes, float32 (``s = 4``): the fused forward reads ``x``, ``w``, ``b``
and writes ``out`` once: ``(M*K + N*K + N + M*N) * s``; the unfused chain ``linear`` then
``relu`` writes ``z`` (M, N), reads it back and writes ``out``: ``2*M*N*s`` more, plus one more
allocation and kernel call. The fused backward reads ``g`` and ``saved`` and forms each
``dz[i, j]`` in a register; unfused, ``relu_backward`` writes ``dz`` (M, N) and
``linear_backward`` reads it back: ``2*M*N*s`` more. ``docs/fusion.md`` has the measured
times.

Variants: ``naive`` is the math as loops (the activation is an ``if`` on ``activation``).
``jit`` for the forward is a launcher that runs ``linear_act_forward_jit_rows4``: four rows of
``x`` against one row of ``w`` (each ``w[j, k]`` loaded once feeds four multiply-adds), the
activation applied to the four accumulators before they are stored (the epilogue), with
``fastmath`` reassociation so the sums over ``k`` vectorise (results differ from the naive
order in the last bits). The naive backward is one loop nest over ``(i, j)`` that forms
``dz`` once and feeds it to all three gradients; the jit backward (a launcher) runs
``linear_act_backward_jit_split``, the same sums in the same order split into two nests so
that each keeps only one ``(N, K)`` operand hot in L1 (see there); each inner loop over ``k``
is contiguous and free of reductions, so LLVM vectorises it without reordering sums.

>>> import numpy as np
>>> out = np.empty((1, 2))
>>> linear_act_forward_naive(out, np.empty((0, 0)), np.array([[1.0, 2.0]]),
...                          np.array([[1.0, 0.0], [-1.0, -1.0]]), np.array([0.5, 1.0]),
...                          activation=RELU)
>>> out.tolist()
[[1.5, 0.0]]
"""

import math

import numpy as np
from numba import njit

from ._twins import jit_twin
from .activation import C_TANH, INV_SQRT_2PI, K_TANH, SQRT_HALF
from .activation import gelu_backward_numpy as _gelu_backward_numpy
from .activation import gelu_forward_numpy as _gelu_forward_numpy
from .linear import linear_backward_numpy as _linear_backward_numpy

RELU = 0
GELU = 1
GELU_TANH = 2
NAMES = {"relu": RELU, "gelu": GELU, "gelu_tanh": GELU_TANH}  # the function layer's names


# --- naive ------------------------------------------------------------------------------

def linear_act_forward_naive(out, pre, x, w, b, *, activation):
    M, K = x.shape
    N = w.shape[0]
    for i in range(M):
        for j in range(N):
            z = b[j]
            for k in range(K):
                z += x[i, k] * w[j, k]
            # The epilogue: z never leaves a register before the activation.
            if activation == RELU:
                out[i, j] = 0 if z < 0 else z  # `z < 0`: NaN fails it and passes through
            else:
                pre[i, j] = z  # GELU's backward needs z; ReLU's reads out instead
                if activation == GELU:
                    out[i, j] = 0.5 * z * (1.0 + math.erf(z * SQRT_HALF))
                else:
                    out[i, j] = 0.5 * z * (1.0 + np.tanh(K_TANH * (z + C_TANH * z * z * z)))


def linear_act_backward_naive(grad_x, grad_w, grad_b, g, x, w, saved, need_x, *, activation):
    M, K = x.shape
    N = w.shape[0]
    zero = g.dtype.type(0)  # dz keeps g's dtype: float32 stays float32 in the k loops
    for j in range(N):
        grad_b[j] = 0
        for k in range(K):
            grad_w[j, k] = 0
    for i in range(M):
        if need_x:
            for k in range(K):
                grad_x[i, k] = 0
        for j in range(N):
            s = saved[i, j]  # out for ReLU, z for GELU
            if activation == RELU:
                dz = g[i, j] if s > 0 else zero
            elif activation == GELU:
                d = 0.5 * (1.0 + math.erf(s * SQRT_HALF)) + s * INV_SQRT_2PI * np.exp(
                    -0.5 * s * s)
                dz = g.dtype.type(g[i, j] * d)
            else:
                t = np.tanh(K_TANH * (s + C_TANH * s * s * s))
                d = 0.5 * (1.0 + t) + 0.5 * s * (1.0 - t * t) * K_TANH * (
                    1.0 + 3.0 * C_TANH * s * s)
                dz = g.dtype.type(g[i, j] * d)
            # dz is used at once by all three gradients: it is never stored.
            grad_b[j] += dz
            for k in range(K):
                grad_w[j, k] += dz * x[i, k]
            if need_x:
                for k in range(K):
                    grad_x[i, k] += dz * w[j, k]


# --- jit --------------------------------------------------------------------------------

# Reassociation (SIMD partial sums along k) and FMA contraction, but no "nnan"/"ninf": the
# ReLU's `z < 0` must still see a NaN as a NaN.
FASTMATH = {"reassoc", "contract", "nsz"}


# inline="always": numba inlines the call in its own IR. Left to LLVM, the call (with its
# erf branch) stayed a call per element and the kernel ran 4-13x slower (measured once, 4096
# x 64 -> 128 float32: 16-25 ms against 1.9-3.7 ms inlined, by fastmath setting).
@njit(cache=True, error_model="numpy", inline="always")
def _epilogue(out, pre, i, j, z, activation):
    """The activation of one accumulator, stored (and z kept for GELU's backward)."""
    if activation == RELU:
        out[i, j] = 0 if z < 0 else z
    else:
        pre[i, j] = z
        if activation == GELU:
            out[i, j] = 0.5 * z * (1.0 + math.erf(z * SQRT_HALF))
        else:
            out[i, j] = 0.5 * z * (1.0 + np.tanh(K_TANH * (z + C_TANH * z * z * z)))


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def linear_act_forward_jit_rows4(out, pre, x, w, b, activation):
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
            # the epilogue on registers: no pass over a stored z
            _epilogue(out, pre, i, j, a0, activation)
            _epilogue(out, pre, i + 1, j, a1, activation)
            _epilogue(out, pre, i + 2, j, a2, activation)
            _epilogue(out, pre, i + 3, j, a3, activation)
        i += 4
    for r in range(i, M):  # the last M % 4 rows, one at a time
        for j in range(N):
            acc = b[j]
            for k in range(K):
                acc += x[r, k] * w[j, k]
            _epilogue(out, pre, r, j, acc, activation)


@njit(cache=True, error_model="numpy", inline="always")
def _dz(g, saved, i, j, activation):
    """``g[i, j] * act'(z[i, j])`` in g's dtype, from what the forward saved."""
    s = saved[i, j]
    if activation == RELU:
        return g[i, j] if s > 0 else g.dtype.type(0)
    if activation == GELU:
        d = 0.5 * (1.0 + math.erf(s * SQRT_HALF)) + s * INV_SQRT_2PI * np.exp(-0.5 * s * s)
    else:
        t = np.tanh(K_TANH * (s + C_TANH * s * s * s))
        d = 0.5 * (1.0 + t) + 0.5 * s * (1.0 - t * t) * K_TANH * (1.0 + 3.0 * C_TANH * s * s)
    return g.dtype.type(g[i, j] * d)


@njit(cache=True, error_model="numpy", inline="never")
def _dz_row(d, g, saved, i, activation):
    """``d[:] = dz[i, :]``. Kept out of line on purpose: see linear_act_backward_jit_split."""
    for j in range(d.shape[0]):
        d[j] = _dz(g, saved, i, j, activation)


@njit(cache=True, error_model="numpy")
def linear_act_backward_jit_split(grad_x, grad_w, grad_b, g, x, w, saved, need_x,
                                  activation):
    # Two changes from the naive order, measured at 4096 x 64 -> 128 float32 against
    # linear_backward alone (interleaved rounds, medians, on a shared and noisy 2-core VM):
    # 1. Two loop nests, as linear_backward, each with one (N, K) operand hot in L1: grad_w in
    #    the first, w in the second. The naive order (one nest feeding both) keeps grad_w
    #    *and* w hot, 64 KiB at 128 x 64 float32, twice this machine's 32 KiB L1d; compiled
    #    as is it ran 1.6-1.8x slower than linear_backward.
    # 2. dz of one row goes to a small (N,) buffer first (_dz_row, one call per row), then
    #    feeds the K-wide loops. Read straight from g and saved inside the (i, j) loop, the
    #    split loops still ran 1.5-1.8x slower, and 2.3-2.5x with the row fill inlined here:
    #    presumably the erf, exp and tanh in this function cost LLVM its best code for the
    #    K-wide loops, which never call them. Out of line: 1.0-1.3x linear_backward alone,
    #    with no relu_backward pass before it and no (M, N) dz in memory.
    # dz is formed twice per element (once per nest): a compare for ReLU, an erf or a tanh for
    # GELU, small next to the 2K multiply-adds it feeds. Sums run in the naive kernel's order:
    # bit-identical results.
    M, K = x.shape
    N = w.shape[0]
    d = np.empty(N, g.dtype)
    for j in range(N):
        grad_b[j] = 0
        for k in range(K):
            grad_w[j, k] = 0
    for i in range(M):
        _dz_row(d, g, saved, i, activation)
        for j in range(N):
            dz = d[j]
            grad_b[j] += dz
            for k in range(K):
                grad_w[j, k] += dz * x[i, k]
    if need_x:
        for i in range(M):
            _dz_row(d, g, saved, i, activation)
            for k in range(K):
                grad_x[i, k] = 0
            for j in range(N):
                dz = d[j]
                for k in range(K):
                    grad_x[i, k] += dz * w[j, k]


def linear_act_forward_jit(out, pre, x, w, b, *, activation):
    """The registered jit launcher: the register-blocked kernel with the activation epilogue
    (see the module docstring)."""
    linear_act_forward_jit_rows4(out, pre, x, w, b, activation)


def linear_act_backward_jit(grad_x, grad_w, grad_b, g, x, w, saved, need_x, *, activation):
    """The registered jit launcher: the two-nest kernel (see linear_act_backward_jit_split);
    ``linear_act_backward_jit_naive`` is the naive source compiled, kept for comparison."""
    linear_act_backward_jit_split(grad_x, grad_w, grad_b, g, x, w, saved, need_x, activation)


linear_act_backward_jit_naive = jit_twin(linear_act_backward_naive)


# --- numpy ------------------------------------------------------------------------------

def linear_act_forward_numpy(out, pre, x, w, b, *, activation):
    # numpy cannot fuse: the product lands in memory, then the activation is another pass.
    z = out if activation == RELU else pre
    np.matmul(x, w.T, out=z)
    z += b
    if activation == RELU:
        np.maximum(z, 0, out=out)  # NaN propagates, as in the loops
    else:
        _gelu_forward_numpy(out, z, approximate=int(activation == GELU_TANH))


def linear_act_backward_numpy(grad_x, grad_w, grad_b, g, x, w, saved, need_x, *, activation):
    if activation == RELU:
        dz = np.where(saved > 0, g, 0)
    else:
        dz = np.empty(g.shape, g.dtype)
        _gelu_backward_numpy(dz, g, saved, approximate=int(activation == GELU_TANH))
    _linear_backward_numpy(grad_x, grad_w, grad_b, dz, x, w, need_x)


KERNELS = {
    "linear_act_forward": {"naive": linear_act_forward_naive, "jit": linear_act_forward_jit,
                           "numpy": linear_act_forward_numpy},
    "linear_act_backward": {"naive": linear_act_backward_naive, "jit": linear_act_backward_jit,
                            "numpy": linear_act_backward_numpy},
}
