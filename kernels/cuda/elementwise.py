"""Elementwise ops on the GPU: one grid-stride loop over the flattened index.

Math and shapes (the function layer has already broadcast every operand to the output
shape and viewed it as 2-D, see ``docs/kernels.md``)::

    binary  out[r, c] = a[r, c] (op) b[r, c]    op in + - * /   out, a, b: (R, C)
    unary   out[r, c] = f(x[r, c])              f in relu, neg, exp  out, x: (R, C)

Cost for n = R * C elements of s bytes: n FLOPs (exp: one transcendental each); binary ops
move 3 n s bytes (two loads, one store), unary ops 2 n s. That is at most 1 FLOP per 8 bytes
for float32, while a current GPU does roughly 10-80 float32 FLOPs in the time it moves one
byte: elementwise kernels are bound by memory bandwidth, so the lesson here is about access
patterns, not arithmetic.

What the variant teaches:

- **One index space.** ``out`` is C-contiguous and the launcher makes every input
  C-contiguous, so element (r, c) lives at flat offset ``r * C + c`` in every operand. The
  kernel therefore sees 1-D arrays of n elements and never needs the 2-D shape: one index,
  no division into row and column, and a thread layout that is trivially coalesced
  (neighbouring threads of a warp touch neighbouring addresses, so a warp's 32 loads merge
  into a few wide memory transactions). A 2-D grid would have worked as well but needs a
  bounds check per dimension and a y-dimension capped at 65535 blocks.
- **Grid-stride loop.** Thread ``t`` of ``T`` launched handles elements ``t, t + T,
  t + 2T, ...``. The grid is sized to fill the GPU (capped, see ``_launch.MAX_BLOCKS_1D``)
  instead of to the array, so one kernel serves any n, including n larger than the biggest
  grid, and each thread amortises its start-up over several elements.
- **One kernel per op.** Each op is its own compiled kernel, so there is no per-element
  branch on the op; the kernels differ only in the line that computes ``out[i]``.

Input stride 0 (broadcast) and non-contiguous views are materialised densely on the host
before the copy (``_launch.to_device``): simple and correct, but it moves up to R * C
elements where a stride-aware kernel would move one row. Size-0 arrays launch nothing.

Precision: float inputs compute in their own dtype (numba picks ``expf`` for float32).
Under the CUDA simulator each thread is plain Python: ``math.exp`` raises
``OverflowError`` above about 709 where the GPU returns ``inf``.
"""

from __future__ import annotations

import math

import numpy as np
from numba import cuda

from tinytorch.kernels.cuda._launch import (
    MAX_BLOCKS_1D,
    THREADS_PER_BLOCK,
    copy_to_out,
    device_out,
    grid_1d,
    to_device,
)

# --- kernels: one grid-stride loop each ---
#
# The seven kernels share one loop and differ in one line. They are spelled out rather than
# generated from a factory over `@cuda.jit(device=True)` op functions: each kernel reads as
# the whole program a thread runs, and a kernel without device-function calls compiles to
# PTX without a GPU present (numba compiles device functions for the current device), which
# `scripts/gpu_check.py ptx` uses to check them on machines without one.


@cuda.jit
def add_kernel(out, a, b):
    i = cuda.grid(1)  # this thread's first element: blockIdx.x * blockDim.x + threadIdx.x
    stride = cuda.gridsize(1)  # threads in the whole grid: gridDim.x * blockDim.x
    while i < out.size:
        out[i] = a[i] + b[i]
        i += stride


@cuda.jit
def sub_kernel(out, a, b):
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.size:
        out[i] = a[i] - b[i]
        i += stride


@cuda.jit
def mul_kernel(out, a, b):
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.size:
        out[i] = a[i] * b[i]
        i += stride


@cuda.jit
def div_kernel(out, a, b):
    # true division; the function layer hands float operands, so float32 stays float32
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.size:
        out[i] = a[i] / b[i]
        i += stride


@cuda.jit
def relu_kernel(out, x):
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.size:
        v = x[i]
        # `v < 0` rather than `v > 0`: NaN fails the test and passes through, as in np.maximum
        out[i] = 0 if v < 0 else v
        i += stride


@cuda.jit
def neg_kernel(out, x):
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.size:
        out[i] = -x[i]
        i += stride


@cuda.jit
def exp_kernel(out, x):
    i = cuda.grid(1)
    stride = cuda.gridsize(1)
    while i < out.size:
        out[i] = math.exp(x[i])  # expf for float32 inputs, exp for float64
        i += stride


# Kernels compile lazily: the first launch compiles for the argument types it sees (dtype,
# ndim, layout); later launches with the same types reuse the machine code.
KERNELS_1D = {
    "add": add_kernel,
    "sub": sub_kernel,
    "mul": mul_kernel,
    "div": div_kernel,
    "relu": relu_kernel,
    "neg": neg_kernel,
    "exp": exp_kernel,
}


# --- launchers ---


def elementwise_device(op, d_out, *d_inputs, threads=THREADS_PER_BLOCK, max_blocks=MAX_BLOCKS_1D):
    """Launch op ``op`` on 1-D device arrays of equal size; asynchronous, no transfers.

    ``threads`` and ``max_blocks`` are exposed for experiments: ``max_blocks=1`` makes every
    thread walk the grid-stride loop many times, with the same result.
    """
    n = d_out.size
    if n == 0:
        return
    KERNELS_1D[op][grid_1d(n, threads, max_blocks), threads](d_out, *d_inputs)


def elementwise_launch(op, out, *inputs, threads=THREADS_PER_BLOCK, max_blocks=MAX_BLOCKS_1D):
    """Host launcher: flatten, copy in, run ``op``, copy the result into ``out``.

    >>> import numpy as np
    >>> out = np.empty((2, 3), dtype=np.float32)
    >>> elementwise_launch("add", out, np.ones((2, 3), np.float32), np.ones((2, 3), np.float32))
    >>> out.tolist()
    [[2.0, 2.0, 2.0], [2.0, 2.0, 2.0]]
    """
    if out.size == 0:
        return  # nothing to compute; a zero-block grid is an error on a real GPU
    # ravel gives a C-ordered 1-D view (or copy, for strided and broadcast inputs), so flat
    # index i is element (i // C, i % C) in every operand
    d_inputs = to_device(*(np.ravel(x) for x in inputs))
    d_out = device_out(out.size, out.dtype)
    elementwise_device(op, d_out, *d_inputs, threads=threads, max_blocks=max_blocks)
    copy_to_out(d_out, out)


def add_forward_cuda(out, a, b):
    """``out = a + b``; out, a, b: (R, C) of one dtype."""
    elementwise_launch("add", out, a, b)


def sub_forward_cuda(out, a, b):
    """``out = a - b``; out, a, b: (R, C) of one dtype."""
    elementwise_launch("sub", out, a, b)


def mul_forward_cuda(out, a, b):
    """``out = a * b``; out, a, b: (R, C) of one dtype."""
    elementwise_launch("mul", out, a, b)


def div_forward_cuda(out, a, b):
    """``out = a / b`` (true division); out, a, b: (R, C) of one float dtype."""
    elementwise_launch("div", out, a, b)


def relu_forward_cuda(out, x):
    """``out = max(x, 0)``; out, x: (R, C)."""
    elementwise_launch("relu", out, x)


def neg_forward_cuda(out, x):
    """``out = -x``; out, x: (R, C)."""
    elementwise_launch("neg", out, x)


def exp_forward_cuda(out, x):
    """``out = exp(x)``; out, x: (R, C) of one float dtype."""
    elementwise_launch("exp", out, x)
