"""Batched matrix multiply on the GPU: naive (thread per output), then shared-memory tiled.

Math and shapes (the function layer has promoted 1-D operands and broadcast the batch
dimensions, see ``docs/kernels.md``)::

    out[b, m, n] = sum_k a[b, m, k] * b[b, k, n]
    out: (B, M, N)    a: (B, M, K)    b: (B, K, N)

Cost: 2 B M N K FLOPs. The unavoidable traffic is each matrix once,
``s * B * (M K + K N + M N)`` bytes for s-byte elements, so at n = M = N = K = 1024 there
are about 170 FLOPs per byte: unlike elementwise ops, a matmul *can* keep the arithmetic
units busy, if the kernel reuses what it loads.

Variants:

- **naive** (``matmul_naive_kernel``): one thread per output element loops over k and reads
  a row of ``a`` and a column of ``b`` from global memory: 2 K loads for 2 K FLOPs, so
  2 B M N K loads in all, K times the minimum. The L1/L2 caches catch part of the reuse,
  but the kernel stays bound by memory traffic.
- **tiled** (``matmul_tiled_kernel``): a block of TILE x TILE threads computes a TILE x TILE
  tile of ``out``. It walks k in steps of TILE; at each step every thread loads *one*
  element of ``a``'s tile and one of ``b``'s into shared memory (on-chip, shared by the
  block), the block synchronises, and then every thread does TILE multiply-adds reading
  only shared memory. Each global element loaded is used by TILE threads, so global loads
  drop from 2 B M N K to 2 B M N K / TILE: 16 times fewer for TILE = 16. Two
  ``syncthreads`` per step: after the loads (the tile is complete before anyone reads it)
  and after the multiply-adds (no one overwrites the tile while a neighbour still reads).
  Sizes that are not multiples of TILE are handled by loading zeros outside the matrices,
  so the inner loop needs no bounds checks; threads outside ``out`` still take part in
  the loads and barriers and just skip the final store.

Thread layout, both variants: ``threadIdx.x`` walks the columns n, so a warp's 32 threads
read 32 consecutive elements of a row of ``b`` and write 32 consecutive elements of ``out``
(coalesced), while they all read the same element of ``a`` (one broadcast load).

Batch: the grid's z dimension, one launch for the whole batch. Many small matrices then run
concurrently on the GPU and the launch cost (microseconds) is paid once, where a host loop
over B would launch B kernels that each use a sliver of the GPU. ``gridDim.z`` is limited
to 65535, so blocks loop ``batch = blockIdx.z, + gridDim.z, ...`` to cover any B.

K = 0 gives zeros (the k loop runs zero times and the accumulator starts at zero).
Accumulators have the dtype of ``out``: float32 stays float32 (GPUs run float64 at 1/2 to
1/64 of the float32 rate), so results agree with numpy to float32 rounding, not bitwise.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import cuda

from tinytorch.kernels.cuda._launch import (
    copy_to_out,
    device_out,
    grid_2d_tiles,
    numba_type,
    to_device,
)

TILE = 16  # 16 x 16 = 256 threads per block; two float32 tiles are 2 KiB of shared memory
NAIVE_BLOCK = 16  # naive kernel: 16 x 16 threads, one per output element


# --- naive: one thread per output element ---


@cache
def matmul_naive_kernel(dtype):
    """The naive kernel accumulating in ``dtype`` (compiled on its first launch)."""
    acc_t = numba_type(dtype)

    @cuda.jit
    def matmul_naive(out, a, b):
        col, row = cuda.grid(2)  # x -> column n, y -> row m
        n_batch = a.shape[0]
        n_rows = a.shape[1]
        n_inner = a.shape[2]
        n_cols = b.shape[2]
        if row < n_rows and col < n_cols:
            for batch in range(cuda.blockIdx.z, n_batch, cuda.gridDim.z):
                acc = acc_t(0)
                for k in range(n_inner):
                    acc += a[batch, row, k] * b[batch, k, col]
                out[batch, row, col] = acc

    return matmul_naive


# --- tiled: shared-memory tiles, TILE-fold reuse of every global load ---


@cache
def matmul_tiled_kernel(dtype, tile=TILE):
    """The tiled kernel for ``dtype`` and a ``tile x tile`` block (compiled on first launch).

    Shared arrays need a compile-time shape, so each (dtype, tile) pair is its own kernel.
    """
    acc_t = numba_type(dtype)

    @cuda.jit
    def matmul_tiled(out, a, b):
        a_tile = cuda.shared.array((tile, tile), acc_t)
        b_tile = cuda.shared.array((tile, tile), acc_t)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        col = cuda.blockIdx.x * tile + tx
        row = cuda.blockIdx.y * tile + ty
        n_batch = a.shape[0]
        n_rows = a.shape[1]
        n_inner = a.shape[2]
        n_cols = b.shape[2]
        # No early return for threads outside `out`: they still load tile elements and
        # must reach every syncthreads, or the block deadlocks.
        for batch in range(cuda.blockIdx.z, n_batch, cuda.gridDim.z):
            acc = acc_t(0)
            for k0 in range(0, n_inner, tile):
                # each thread loads one element of each tile; zeros outside the matrices
                # make the partial last tile contribute nothing. Both tiles need them: a
                # slot left stale (or uninitialised) may hold inf or NaN, and inf * 0 = NaN.
                k_a = k0 + tx
                if row < n_rows and k_a < n_inner:
                    a_tile[ty, tx] = a[batch, row, k_a]
                else:
                    a_tile[ty, tx] = 0
                k_b = k0 + ty
                if k_b < n_inner and col < n_cols:
                    b_tile[ty, tx] = b[batch, k_b, col]
                else:
                    b_tile[ty, tx] = 0
                cuda.syncthreads()  # both tiles complete

                # a_tile[ty, kk] is the same address for the whole warp (a broadcast);
                # b_tile[kk, tx] is consecutive across the warp (no bank conflicts)
                for kk in range(tile):
                    acc += a_tile[ty, kk] * b_tile[kk, tx]
                cuda.syncthreads()  # everyone is done reading before the next loads

            if row < n_rows and col < n_cols:
                out[batch, row, col] = acc

    return matmul_tiled


# --- launchers ---


def matmul_naive_device(d_out, d_a, d_b):
    """Launch the naive kernel on device arrays; asynchronous, no transfers."""
    n_batch, n_rows, n_cols = d_out.shape
    if d_out.size == 0:
        return
    grid = grid_2d_tiles(n_rows, n_cols, NAIVE_BLOCK, n_batch)
    matmul_naive_kernel(np.dtype(d_out.dtype))[grid, (NAIVE_BLOCK, NAIVE_BLOCK)](d_out, d_a, d_b)


def matmul_tiled_device(d_out, d_a, d_b, tile=TILE):
    """Launch the tiled kernel on device arrays; asynchronous, no transfers.

    ``tile`` other than 16 is for experiments and tests (tile * tile <= 1024 threads).
    """
    n_batch, n_rows, n_cols = d_out.shape
    if d_out.size == 0:
        return
    grid = grid_2d_tiles(n_rows, n_cols, tile, n_batch)
    matmul_tiled_kernel(np.dtype(d_out.dtype), tile)[grid, (tile, tile)](d_out, d_a, d_b)


def _matmul_host(launch, out, a, b):
    if out.size == 0:
        return
    d_a, d_b = to_device(a, b)
    d_out = device_out(out.shape, out.dtype)
    launch(d_out, d_a, d_b)
    copy_to_out(d_out, out)


def matmul_forward_cuda_naive(out, a, b):
    """``out = a @ b`` batched, one thread per output element; out (B, M, N), a (B, M, K),
    b (B, K, N), one dtype."""
    _matmul_host(matmul_naive_device, out, a, b)


def matmul_forward_cuda_tiled(out, a, b):
    """``out = a @ b`` batched, shared-memory tiles of TILE x TILE; shapes as the naive one.

    >>> import numpy as np
    >>> a = np.arange(6, dtype=np.float64).reshape(1, 2, 3)
    >>> b = np.ones((1, 3, 2))
    >>> out = np.empty((1, 2, 2))
    >>> matmul_forward_cuda_tiled(out, a, b)
    >>> out.tolist()
    [[[3.0, 3.0], [12.0, 12.0]]]
    """
    _matmul_host(matmul_tiled_device, out, a, b)
