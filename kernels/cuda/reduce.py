"""Row sums on the GPU: one block per row, a shared-memory tree reduction inside the block.

Math and shapes (the function layer has moved the reduced dimensions last and viewed the
tensor as ``(kept, reduced)``, see ``docs/kernels.md``)::

    out[r] = sum_c x[r, c]        out: (R,)    x: (R, C)

Cost: R * C additions; R * C * s bytes read and R * s written (s bytes per element), so like
the elementwise ops this is bound by memory bandwidth; the interesting part is that the
threads must cooperate to produce one number.

What the variant teaches, in two phases per row:

1. **Threads stride over the row.** The block's T threads (T a power of two, 32..256) read
   ``x[r, t], x[r, t + T], ...`` into a private register accumulator, so any C works with
   a fixed block: C = 0 leaves every accumulator at zero, C < T leaves some threads idle,
   C > T makes each thread add several elements. Neighbouring threads read neighbouring
   addresses: coalesced loads.
2. **Shared-memory tree.** Each thread writes its partial sum to a shared array; then in
   log2(T) steps the lower half of the active threads adds the upper half's values,
   ``partial[t] += partial[t + half]``, with ``cuda.syncthreads()`` between steps so that
   no thread reads a slot before its owner has written it. ``partial[0]`` ends with the
   row's sum. Shared memory is on-chip and visible to the whole block, so the T partials
   never travel to global memory.

Blocks walk the rows with a grid-stride loop (``row = blockIdx.x, + gridDim.x, ...``), so
the grid is capped and any R works. One block per row is the teaching variant: it wastes a
block on rows shorter than a warp (a warp or a thread per row is better there), and a very
long single row would want several blocks per row plus a second pass.

Precision: the accumulator and the shared array have the dtype of ``out`` (float32 sums in
float32, float64 in float64, integer sums in the int64 ``out`` the function layer
allocates). The tree adds in a different order from numpy's pairwise sum, so float results
agree to rounding, not bit for bit.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from numba import cuda

from tinytorch.kernels.cuda._launch import (
    MAX_BLOCKS_1D,
    THREADS_PER_BLOCK,
    copy_to_out,
    device_out,
    numba_type,
    pow2_threads,
    to_device,
)

# Shared memory must have a compile-time size; the largest block we launch sets it, and a
# smaller block simply uses the first blockDim.x slots (256 float64 = 2 KiB of the 48 KiB).
MAX_THREADS = THREADS_PER_BLOCK


@cache
def sum_rows_kernel(dtype):
    """The row-sum kernel accumulating in ``dtype`` (compiled on its first launch)."""
    acc_t = numba_type(dtype)

    @cuda.jit
    def sum_rows(out, x):
        partial = cuda.shared.array(MAX_THREADS, acc_t)
        tid = cuda.threadIdx.x
        nthreads = cuda.blockDim.x  # a power of two, see pow2_threads
        n_rows = x.shape[0]
        n_cols = x.shape[1]
        for row in range(cuda.blockIdx.x, n_rows, cuda.gridDim.x):
            # phase 1: a private partial sum over a strided slice of the row
            acc = acc_t(0)
            for col in range(tid, n_cols, nthreads):
                acc += x[row, col]
            partial[tid] = acc
            cuda.syncthreads()  # every partial is written before anyone reads them

            # phase 2: tree; every thread runs the loop (syncthreads must be reached by the
            # whole block), only the lower half adds
            half = nthreads // 2
            while half > 0:
                if tid < half:
                    partial[tid] += partial[tid + half]
                cuda.syncthreads()
                half //= 2

            if tid == 0:
                out[row] = partial[0]
            # thread 0 has read partial[0] before the next row overwrites the partials
            cuda.syncthreads()

    return sum_rows


def sum_rows_device(d_out, d_x, threads=None, max_blocks=MAX_BLOCKS_1D):
    """Launch the row sum on device arrays; asynchronous, no transfers.

    ``threads`` (a power of two up to 256) defaults to the smallest from 32 that covers a row;
    ``max_blocks`` below R makes blocks loop over rows.
    """
    n_rows, n_cols = d_x.shape
    if n_rows == 0:
        return
    if threads is None:
        threads = pow2_threads(n_cols)
    if not 1 <= threads <= MAX_THREADS or threads & (threads - 1):
        raise ValueError(
            f"threads must be a power of two <= {MAX_THREADS} for the tree reduction, "
            f"got {threads}"
        )
    blocks = max(1, min(n_rows, max_blocks))
    sum_rows_kernel(np.dtype(d_out.dtype))[blocks, threads](d_out, d_x)


def sum_forward_cuda(out, x):
    """``out[r] = sum(x[r, :])``; out: (R,), x: (R, C). C = 0 gives zeros.

    >>> import numpy as np
    >>> out = np.empty(2, dtype=np.int64)
    >>> sum_forward_cuda(out, np.arange(6, dtype=np.int64).reshape(2, 3))
    >>> out.tolist()
    [3, 12]
    """
    if out.size == 0:
        return
    (d_x,) = to_device(x)
    d_out = device_out(out.shape, out.dtype)
    sum_rows_device(d_out, d_x)
    copy_to_out(d_out, out)
