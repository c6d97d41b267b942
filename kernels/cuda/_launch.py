"""Launch helpers shared by the cuda kernel families: grid maths and host/device transfers.

Every launcher in this package follows the same three steps, and this module holds the
parts that do not depend on the op:

1. ``to_device``: make each input C-contiguous on the host (broadcast inputs may have stride
   0, transposed views have permuted strides, and ``cuda.to_device`` copies raw bytes, so
   it needs one dense block) and copy it to the GPU;
2. launch ``kernel[grid, block](...)``, with the grid computed here;
3. ``copy_to_out``: copy the device result back into the caller's ``out``.

Grid maths in one place, because the limits are the same for every kernel: ``gridDim.x`` may
be up to 2**31 - 1 but ``gridDim.y`` and ``gridDim.z`` only up to 65535, and a block holds
at most 1024 threads. Kernels that could exceed a limit use a grid-stride loop instead of
assuming one thread (or one block) per item, so the helpers below may cap a grid.

Importing this module imports ``numba.cuda``; only the kernel modules import it, and they
are loaded lazily by ``tinytorch.kernels.cuda.LazyKernel``.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import cuda

WARP_SIZE = 32
# 256 threads = 8 warps: a common default that lets several blocks share one multiprocessor
# (an SM holds 1536-2048 threads) while giving each block enough warps to hide latency.
THREADS_PER_BLOCK = 256
# Cap for 1-D grid-stride grids. An H100 keeps at most 132 SMs x 2048 threads ~= 270k threads
# resident, about 1056 blocks of 256; a few times that keeps every current GPU busy, and
# past it more blocks only add scheduling work, so each thread loops over several items.
MAX_BLOCKS_1D = 4096
MAX_GRID_YZ = 65535  # hardware limit of gridDim.y and gridDim.z


def ceil_div(n: int, d: int) -> int:
    """Smallest integer >= n / d for n >= 0, d > 0: how many blocks of d cover n items.

    >>> ceil_div(0, 256), ceil_div(1, 256), ceil_div(256, 256), ceil_div(257, 256)
    (0, 1, 1, 2)
    """
    return -(-n // d)


def grid_1d(n: int, threads: int = THREADS_PER_BLOCK, max_blocks: int = MAX_BLOCKS_1D) -> int:
    """Blocks for a 1-D grid-stride loop over n items: one item per thread up to the cap.

    >>> grid_1d(1000, 256), grid_1d(10**9, 256)
    (4, 4096)
    """
    return max(1, min(ceil_div(n, threads), max_blocks))


def grid_2d_tiles(rows: int, cols: int, tile: int, batch: int = 1) -> tuple[int, int, int]:
    """Grid ``(x, y, z)`` that covers a ``rows x cols`` matrix with ``tile x tile`` blocks.

    x walks the columns so that neighbouring threads (consecutive ``threadIdx.x``) touch
    neighbouring addresses of a row-major matrix: coalesced loads and stores. z covers the
    batch, capped at 65535; kernels loop over the rest (``range(blockIdx.z, B, gridDim.z)``).

    >>> grid_2d_tiles(17, 18, 16, batch=2)
    (2, 2, 2)
    """
    gx = ceil_div(cols, tile)
    gy = ceil_div(rows, tile)
    if gy > MAX_GRID_YZ:
        raise ValueError(
            f"matrix with {rows} rows needs {gy} blocks along gridDim.y, above the hardware "
            f"limit {MAX_GRID_YZ}\nhint: split the rows into chunks"
        )
    return gx, gy, max(1, min(batch, MAX_GRID_YZ))


def pow2_threads(n: int, lo: int = WARP_SIZE, hi: int = THREADS_PER_BLOCK) -> int:
    """Smallest power of two >= n, clamped to ``[lo, hi]``: block size for a tree reduction.

    A tree reduction halves the active threads each step, so it needs a power of two; fewer
    than a warp (32) threads wastes lanes that run anyway, more than ``n`` leaves threads idle.

    >>> pow2_threads(0), pow2_threads(33), pow2_threads(10**6)
    (32, 64, 256)
    """
    t = lo
    while t < n and t < hi:
        t *= 2
    return t


def numba_type(dtype):
    """The numba scalar type for a numpy dtype (``float32`` -> ``numba.float32``).

    Kernels that allocate shared memory need the element type as a compile-time constant,
    so the kernel factories close over this value (one compiled kernel per dtype, like a
    C++ template instantiation). The same object casts in kernel code: ``nbt(0)`` is a zero
    of that type, so accumulators stay in the input precision.
    """
    return numba.from_dtype(np.dtype(dtype))


def to_device(*arrays: np.ndarray) -> tuple:
    """Copy host arrays to the GPU, first making each one C-contiguous.

    ``np.ascontiguousarray`` is free for an array that already is contiguous; for a
    broadcast (stride-0) or transposed view it materialises a dense copy on the host, which
    costs host memory and transfer bytes. A framework that cared would pass strides to the
    kernel instead; here dense inputs keep the kernels to plain index arithmetic.
    """
    return tuple(cuda.to_device(np.ascontiguousarray(a)) for a in arrays)


def device_out(shape, dtype):
    """An uninitialised device array for a result every kernel writes in full."""
    return cuda.device_array(shape, dtype=np.dtype(dtype))


def copy_to_out(d_out, out: np.ndarray) -> None:
    """Copy the device result into the host ``out`` (same size; ``d_out`` may be flattened).

    The contract gives a C-contiguous ``out``; its reshape is then a view and the copy lands
    in place. Any other layout takes a temporary host buffer.
    """
    if out.flags.c_contiguous:
        d_out.copy_to_host(out.reshape(d_out.shape))
    else:
        out[...] = d_out.copy_to_host().reshape(out.shape)
