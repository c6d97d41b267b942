"""Batched matrix multiply: ``out[b, i, j] = sum_k a[b, i, k] * b[b, k, j]``.

Shapes: ``out`` is ``(B, M, N)`` C-contiguous, ``a`` is ``(B, M, K)``, ``b`` is ``(B, K, N)``;
B batch, M rows of ``a``, N columns of ``b``, K the reduced (inner) dimension. The operands
may have any strides: a batch stride of 0 (a broadcast batch, ``np.broadcast_to``) or a
transposed view (``x @ w.T``). All three arrays share one dtype (float32, float64, int64,
int32, int8, uint8). K = 0 gives zeros; B, M or N = 0 gives nothing to do. The caller
validates shapes and dtypes: the kernels do not.

Cost: ``2*B*M*N*K`` FLOPs (one multiply and one add per term) against at least
``(B*M*K + B*K*N + B*M*N) * itemsize`` bytes moved. Each element of ``a`` and ``b`` is used
N or M times, so matmul is compute-bound *if* a kernel reuses what it loaded; the whole
ladder below is about reuse (caches, then registers) and then about using every SIMD lane
and every core.

The ladder (``VARIANTS``; docs/matmul.md has the measured GFLOP/s of each step):

* ``naive``: four Python loops, one scalar at a time: the definition.
* ``jit_ijk``: the same source compiled. Each ``out[i, j]`` is a dot product; the k loop
  walks a column of ``b`` (stride N): one cache line per term, and no SIMD, because vectorising
  a floating-point sum would reorder it.
* ``jit_ikj``: swap the two inner loops. The inner loop now runs along a row of ``out`` and
  of ``b``, both contiguous, with no reduction in it, so LLVM vectorises it as written. Every
  ``out[i, j]`` still adds its terms in order k = 0, 1, ..., so the result is bit-identical.
* ``jit_blocked``: ikj over tiles of ``b`` that stay in cache (cache blocking). Still one
  load and one store of ``out`` per multiply-add, which caps it.
* ``jit_packed``: the optimised kernel, one core. Operands are *packed* so that k is the
  contiguous axis of both (``a`` as is, ``b`` transposed into a buffer), and a 4x4 tile of
  ``out`` lives in 16 local variables (register blocking) across a block of k (cache
  blocking). Each step of k loads 8 numbers for 16 multiply-adds; LLVM turns each of the 16
  accumulators into a SIMD register of partial sums along k (needs ``fastmath``: see there).
* ``jit_parallel``: the same source with ``parallel=True``: ``prange`` over row blocks.
* ``jit``: the registered launcher: ``jit_ikj`` for integers and tiny shapes, ``jit_packed``
  for middling float problems, ``jit_parallel`` for big ones (measured crossovers).
* ``numpy``: ``np.matmul``, an optimised BLAS for floats: the oracle and the bar.
"""

import types

import numpy as np
from numba import get_num_threads, njit, prange


def _jit(fn):
    return njit(cache=True, error_model="numpy")(fn)


# --- naive ------------------------------------------------------------------------------

def matmul_forward_naive(out, a, b):
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):  # batch (``bi``: the name ``b`` is the right operand)
        for i in range(M):  # rows of a and out
            for j in range(N):  # columns of b and out
                acc = out.dtype.type(0)  # a zero of out's dtype, so ints stay ints
                for k in range(K):  # the reduced dimension
                    acc += a[bi, i, k] * b[bi, k, j]
                out[bi, i, j] = acc


# --- jit --------------------------------------------------------------------------------

# Literally the same source. numba types ``acc`` from its zero and the products: float32
# sums in float32 (as the naive loop does), small ints widen to 64 bits and wrap on the store,
# which is what numpy's int8 matmul computes too (sums modulo 2**8).
matmul_forward_jit_ijk = _jit(matmul_forward_naive)


@_jit
def matmul_forward_jit_ikj(out, a, b):
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):
        for i in range(M):
            for j in range(N):
                out[bi, i, j] = 0
            for k in range(K):
                aik = a[bi, i, k]  # loaded once, used N times
                for j in range(N):  # unit stride in out and b: SIMD, no reordering of sums
                    out[bi, i, j] += aik * b[bi, k, j]


# Cache tile for jit_blocked: a KB_TILE x NB_TILE tile of b (128 x 256 x 8 bytes = 256 KiB
# in float64) stays in L2 while every row of a streams past it, and the NB_TILE-wide
# segment of an out row (2 KiB) stays in L1 across the k loop.
KB_TILE = 128
NB_TILE = 256


@_jit
def matmul_forward_jit_blocked(out, a, b):
    B, M, N = out.shape
    K = a.shape[2]
    for bi in range(B):
        for i in range(M):
            for j in range(N):
                out[bi, i, j] = 0
        for j0 in range(0, N, NB_TILE):
            j1 = min(j0 + NB_TILE, N)
            for k0 in range(0, K, KB_TILE):
                k1 = min(k0 + KB_TILE, K)
                for i in range(M):
                    orow = out[bi, i, j0:j1]
                    for k in range(k0, k1):
                        aik = a[bi, i, k]
                        brow = b[bi, k, j0:j1]
                        for j in range(j1 - j0):  # from 0: see _micro_4x4
                            orow[j] += aik * brow[j]


# The optimised kernel. Work is split three ways:
#   packing   _k_major() gives both operands k as the contiguous axis: a (B, M, K) usually is
#             already; b is copied as bt = b^T (B, N, K) once per call (or used as is when
#             b is itself a transposed view, e.g. x @ w.T). Every dot product then reads two
#             unit-stride rows, which SIMD loads and hardware prefetchers like.
#   blocking  a kc-long slice of k, 4 KiB per row: the 4 rows of a that one micro-tile reads
#             (16 KiB) stay in L1 while it sweeps the 4-row groups of an nc x kc block of bt
#             (512 KiB, in the 1 MiB L2 of this machine's cores). 4 KiB slices beat 2 KiB
#             ones (measured), partly because every slice ends in 16 horizontal SIMD sums.
#   registers _micro_4x4 keeps a 4x4 tile of out in 16 scalars for a whole kc slice: 16 SIMD
#             accumulators + 8 loaded vectors fit AVX-512's 32 registers (with AVX2's 16,
#             LLVM would spill some; a 2x4 or 4x2 tile would suit such a machine better).
# Why not the textbook "outer product" micro-kernel (acc[i, :] += a[i, p] * b[p, :], SIMD
# along j)? numba offers no SIMD types, and LLVM kept such an accumulator array in memory,
# scalar: we measured about 6 GFLOP/s. The dot-product form below, with a 4x4 register
# tile, measured 80-100 GFLOP/s on one core (single-threaded OpenBLAS: about 95).
#
# fastmath: "reassoc" lets LLVM split each of the 16 sums into SIMD partial sums along k (8
# or 16 lanes) that it adds up at the end: a different summation order, so float results
# differ from the ordered sum by rounding, within the usual K * eps bound the tests allow.
# "contract" fuses multiply and add into one FMA (one rounding instead of two); "nsz" lets
# it ignore the sign of a zero sum (measured 1-8% faster). No "nnan"/"ninf": NaN and inf
# still propagate as in numpy.
FASTMATH = {"reassoc", "contract", "nsz"}
MR = 4  # rows of the register tile
NR = 4  # columns of the register tile
KC_BYTES = 4096  # one row of a k slice: kc = 1024 float32 or 512 float64
MC = 32  # rows of a per block; also the unit of parallel work
NC = 128  # rows of bt per block


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _micro_4x4(c, a, bt, i, j, p0, p1):
    """c[i:i+4, j:j+4] += a[i:i+4, p0:p1] @ bt[j:j+4, p0:p1].T with c in registers."""
    # Row views, then a loop counter that starts at 0: numba allows negative indices, so
    # an index it cannot prove >= 0 (like a[i + 1, p] with p from p0) costs a wraparound
    # select per load, and that alone stopped LLVM from vectorising (measured 6 vs 80
    # GFLOP/s). A counter from 0 is provably non-negative and the check disappears.
    a0r = a[i, p0:p1]
    a1r = a[i + 1, p0:p1]
    a2r = a[i + 2, p0:p1]
    a3r = a[i + 3, p0:p1]
    b0r = bt[j, p0:p1]
    b1r = bt[j + 1, p0:p1]
    b2r = bt[j + 2, p0:p1]
    b3r = bt[j + 3, p0:p1]
    c00 = c[i, j]
    c01 = c[i, j + 1]
    c02 = c[i, j + 2]
    c03 = c[i, j + 3]
    c10 = c[i + 1, j]
    c11 = c[i + 1, j + 1]
    c12 = c[i + 1, j + 2]
    c13 = c[i + 1, j + 3]
    c20 = c[i + 2, j]
    c21 = c[i + 2, j + 1]
    c22 = c[i + 2, j + 2]
    c23 = c[i + 2, j + 3]
    c30 = c[i + 3, j]
    c31 = c[i + 3, j + 1]
    c32 = c[i + 3, j + 2]
    c33 = c[i + 3, j + 3]
    for p in range(p1 - p0):  # 8 loads, 16 multiply-adds per step
        a0 = a0r[p]
        a1 = a1r[p]
        a2 = a2r[p]
        a3 = a3r[p]
        b0 = b0r[p]
        b1 = b1r[p]
        b2 = b2r[p]
        b3 = b3r[p]
        c00 += a0 * b0
        c01 += a0 * b1
        c02 += a0 * b2
        c03 += a0 * b3
        c10 += a1 * b0
        c11 += a1 * b1
        c12 += a1 * b2
        c13 += a1 * b3
        c20 += a2 * b0
        c21 += a2 * b1
        c22 += a2 * b2
        c23 += a2 * b3
        c30 += a3 * b0
        c31 += a3 * b1
        c32 += a3 * b2
        c33 += a3 * b3
    c[i, j] = c00
    c[i, j + 1] = c01
    c[i, j + 2] = c02
    c[i, j + 3] = c03
    c[i + 1, j] = c10
    c[i + 1, j + 1] = c11
    c[i + 1, j + 2] = c12
    c[i + 1, j + 3] = c13
    c[i + 2, j] = c20
    c[i + 2, j + 1] = c21
    c[i + 2, j + 2] = c22
    c[i + 2, j + 3] = c23
    c[i + 3, j] = c30
    c[i + 3, j + 1] = c31
    c[i + 3, j + 2] = c32
    c[i + 3, j + 3] = c33


@njit(cache=True, error_model="numpy", fastmath=FASTMATH)
def _edge(c, a, bt, i0, i1, j0, j1, p0, p1):
    """The strips that a whole 4x4 tile does not cover: one dot product at a time."""
    for i in range(i0, i1):
        for j in range(j0, j1):
            ar = a[i, p0:p1]
            br = bt[j, p0:p1]
            s = c[i, j]
            for p in range(p1 - p0):  # from 0: see _micro_4x4
                s += ar[p] * br[p]
            c[i, j] = s


def _gemm_source(out, a, bt, kc, mc, nc):
    """out (B, M, N) = a (Ba, M, K) @ bt (Bb, N, K)^T, all C-contiguous, Ba and Bb 1 or B."""
    B, M, N = out.shape
    K = a.shape[2]
    n_mblocks = (M + mc - 1) // mc
    for t in prange(B * n_mblocks):  # blocks of out rows are independent: one per task
        bi = t // n_mblocks
        i0 = (t % n_mblocks) * mc
        i1 = min(i0 + mc, M)
        c = out[bi]
        ab = a[min(bi, a.shape[0] - 1)]  # a batch of 1 serves every bi (broadcast)
        bb = bt[min(bi, bt.shape[0] - 1)]
        for i in range(i0, i1):
            for j in range(N):
                c[i, j] = 0
        i_full = i0 + (i1 - i0) // MR * MR
        for p0 in range(0, K, kc):  # k slice: its rows of a and bt stay in L1
            p1 = min(p0 + kc, K)
            for j0 in range(0, N, nc):  # nc x kc block of bt: stays in L2 for all rows
                j1 = min(j0 + nc, N)
                j_full = j0 + (j1 - j0) // NR * NR
                for i in range(i0, i_full, MR):  # 4 rows of a: stay in L1 across j
                    for j in range(j0, j_full, NR):
                        _micro_4x4(c, ab, bb, i, j, p0, p1)
                _edge(c, ab, bb, i0, i_full, j_full, j1, p0, p1)  # right strip
                _edge(c, ab, bb, i_full, i1, j0, j1, p0, p1)  # bottom strip


def _pack_source(dst, src):
    """dst[...] = src for a C-contiguous dst, in 16 x 16 tiles. A tile of a transposed src
    touches 16 of its cache lines, few enough to stay in L1 until every element is used;
    with a power-of-two row length those lines compete for one L1 set, so 32 x 32 tiles
    thrash (measured, 1024 x 1024 float32, one core: 1.3 ms in 16 x 16 tiles, about 3 ms
    in 32 x 32, about 5 ms for numpy's own copy)."""
    S, R, K = src.shape
    n_rblocks = (R + 15) // 16
    for t in prange(S * n_rblocks):
        s = t // n_rblocks
        r0 = (t % n_rblocks) * 16
        nr = min(16, R - r0)
        for k0 in range(0, K, 16):
            nk = min(16, K - k0)
            d = dst[s, r0:r0 + nr, k0:k0 + nk]
            x = src[s, r0:r0 + nr, k0:k0 + nk]
            for r in range(nr):
                for k in range(nk):
                    d[r, k] = x[r, k]


def _parallel_twin(fn):
    """njit(parallel=True) of a renamed copy of fn. numba's on-disk cache is keyed by the
    function's name and line, not by its compile flags: compiled under one name, the serial
    and the parallel builds silently loaded each other's machine code."""
    twin = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_parallel")
    twin.__qualname__ = fn.__qualname__ + "_parallel"
    return njit(cache=True, error_model="numpy", parallel=True)(twin)


# Each source compiled twice: serial (prange runs as range) and parallel=True (numba splits
# the prange over its threads). Decorating compiles nothing; the parallel versions take
# seconds to compile on their first call, then come from the on-disk cache.
_gemm_serial = _jit(_gemm_source)
_pack_serial = _jit(_pack_source)
_gemm_parallel = _parallel_twin(_gemm_source)
_pack_parallel = _parallel_twin(_pack_source)


def _k_major(x, pack):
    """x (S, R, K) as a C-contiguous array, k the unit-stride axis; packs only if needed."""
    if x.shape[0] > 1 and x.strides[0] == 0:
        x = x[:1]  # a broadcast batch: one copy serves all (see _gemm_source)
    # A read-only array (a broadcast view) is another numba type and would compile the
    # kernel once more, so it is copied too.
    if x.flags.c_contiguous and x.flags.writeable:
        return x
    dst = np.empty(x.shape, x.dtype)
    pack(dst, x)
    return dst


def matmul_forward_jit_packed(out, a, b):
    kc = KC_BYTES // out.itemsize
    bt = b.transpose(0, 2, 1)
    _gemm_serial(out, _k_major(a, _pack_serial), _k_major(bt, _pack_serial), kc, MC, NC)


def matmul_forward_jit_parallel(out, a, b):
    B, M, N = out.shape
    kc = KC_BYTES // out.itemsize
    # Smaller row blocks when there are too few to keep every thread busy.
    blocks = 4 * get_num_threads()
    mc = min(MC, max(MR, -(-B * M // blocks) // MR * MR))
    bt = b.transpose(0, 2, 1)
    _gemm_parallel(out, _k_major(a, _pack_parallel), _k_major(bt, _pack_parallel), kc, mc, NC)


# Crossovers in multiply-adds (B*M*N*K), measured on the 2-core reference box (docs/matmul.md):
# below PACKED_MIN_WORK packing costs more than it saves and jit_ikj wins; below
# PARALLEL_MIN_WORK waking the threads (a few us) costs more than a second core saves.
PACKED_MIN_WORK = 48**3
PARALLEL_MIN_WORK = 96**3


def matmul_forward_jit(out, a, b):
    """The registered jit launcher: picks a rung of the ladder by dtype and problem size."""
    B, M, N = out.shape
    work = B * M * N * a.shape[2]
    if out.dtype.kind != "f" or work < PACKED_MIN_WORK:
        # Integers: jit_ikj is exact and vectorised; the packed kernel's reordering would be
        # exact too (integer sums wrap the same in any order) but ints are rare here.
        matmul_forward_jit_ikj(out, a, b)
    elif work < PARALLEL_MIN_WORK:
        matmul_forward_jit_packed(out, a, b)
    else:
        matmul_forward_jit_parallel(out, a, b)


# --- numpy ------------------------------------------------------------------------------

def matmul_forward_numpy(out, a, b):
    np.matmul(a, b, out=out)  # stride-0 batches and transposed views are fine here


KERNELS = {
    "matmul_forward": {
        "naive": matmul_forward_naive,
        "jit": matmul_forward_jit,
        "numpy": matmul_forward_numpy,
    },
}

# The optimisation ladder, slowest first; every entry has the (out, a, b) signature.
VARIANTS = {
    "naive": matmul_forward_naive,
    "jit_ijk": matmul_forward_jit_ijk,
    "jit_ikj": matmul_forward_jit_ikj,
    "jit_blocked": matmul_forward_jit_blocked,
    "jit_packed": matmul_forward_jit_packed,
    "jit_parallel": matmul_forward_jit_parallel,
    "jit": matmul_forward_jit,
    "numpy": matmul_forward_numpy,
}
