"""int8 x int8 -> int32 matrix product with zero points: the arithmetic of an int8 layer.

    out[i, j] = bias[j] + sum_k (a[i, k] - za) * (b[j, k] - zb[j])

Shapes: ``a`` (M, K) int8, the quantised activations, one row per sample (or per output
pixel, for a convolution's im2row); ``b`` (N, K) int8, the quantised weights in PyTorch's
``Linear`` layout (one output channel per row, k contiguous: already the packed layout the
fast kernel wants); ``bias`` (N,) int32 (the float bias quantised with scale ``s_a*s_w``);
``b_zero_point`` (N,) int32 (per output channel; zeros for symmetric weights);
``a_zero_point`` an int (per tensor). ``out`` (M, N) int32, C-contiguous.

Exactness and width. Each term is at most ``|a - za| * |b - zb| <= 255 * 255`` in size, so
the sum fits int32 when ``K * max|a - za| * max|b - zb| <= 2**31 - 1``: ``K <= 131071`` for
zero points 0 (128 * 128), ``K <= 33025`` in the worst asymmetric case. The function layer
refuses larger K before any kernel runs: int32 sums would wrap silently. Within that bound
every kernel here is exact, whatever order it adds in (integer addition is associative,
and two's-complement wrap-around of a partial sum cancels when the total fits).

The ladder (``VARIANTS``):

* ``naive``: the definition, zero points subtracted inside the loop, Python ints.
* ``jit_loops``: the same source compiled (numba widens int8 arithmetic to int64).
* ``jit_packed``: the zero points moved out of the inner loop by expanding the product::

      sum_k (a - za)(b - zb) = sum_k a*b - zb[j] * rowsum(a)[i] - za * rowsum(b)[j]
                               + K * za * zb[j]

  so the inner loop is a plain int8 dot product, register-blocked 4x4 like
  ``matmul.py``'s ``jit_packed`` (8 loads feed 16 multiply-adds), with *int32*
  accumulators: each product is formed in int16 (exact: ``|a*b| <= 2**14``) and added in
  int32, so LLVM vectorises 16 lanes per AVX-512 register (numba would otherwise widen
  every product and sum to int64: 8 lanes). The row sums and the corrections are an
  O(MK + NK + MN) epilogue.
* ``jit_parallel``: the same source with ``prange`` over blocks of rows.
* ``jit_ikj``: for short reductions (K < 64, the first layer of a CNN): rows of ``out``
  as int32 vectors, SIMD along N, since a dot product of 10 terms does not vectorise.
* ``jit_vnni``: on CPUs with AVX-512 VNNI, a micro-kernel in LLVM IR whose instruction,
  ``vpdpbusd``, does 64 int8 multiply-adds at once (``qgemm_vnni.py``).
* ``jit``: the registered launcher (loops for tiny problems, ``jit_ikj`` for K < 64, then
  VNNI where the CPU has it, else packed or parallel).
* ``numpy``: a float64 BLAS product of the zero-point-shifted operands. Exact: every
  partial sum is an integer below ``2**31`` in size, far inside float64's 53-bit mantissa.

Cost: ``2*M*N*K`` integer ops against ``M*K + N*K`` bytes in and ``4*M*N`` out: a quarter
of float32's input bytes; with VNNI, four times the multiply-adds per instruction.

>>> import numpy as np
>>> out = np.empty((1, 2), np.int32)
>>> a = np.array([[1, 2, 3]], np.int8); b = np.array([[1, 1, 1], [0, 1, -1]], np.int8)
>>> qgemm_forward_naive(out, a, b, np.array([10, 0], np.int32), np.zeros(2, np.int32),
...                     a_zero_point=1)
>>> out.tolist()  # a - 1 = [0, 1, 2]: 10 + 3 and 0 + (1 - 2)
[[13, -1]]
"""

import numpy as np
from numba import get_num_threads, njit, prange

from ._twins import jit_twin
from .conv_im2col import builds
from .qgemm_vnni import has_vnni, qgemm_forward_vnni

# --- naive ------------------------------------------------------------------------------


def qgemm_forward_naive(out, a, b, bias, b_zero_point, a_zero_point):
    M, N = out.shape
    K = a.shape[1]
    for i in range(M):
        for j in range(N):
            zb = int(b_zero_point[j])
            acc = int(bias[j])  # Python int (int64 once compiled): exact, then stored
            for k in range(K):
                acc += (int(a[i, k]) - a_zero_point) * (int(b[j, k]) - zb)
            out[i, j] = acc


# --- jit --------------------------------------------------------------------------------

qgemm_forward_jit_loops = jit_twin(qgemm_forward_naive)

MR = 4  # rows of the register tile
NR = 4  # columns of the register tile
KC = 4096  # a k slice: 4 KiB of int8 per row, as matmul.py's KC_BYTES
MC = 32  # rows of a per block, the unit of parallel work
NC = 128  # rows of b per block (128 x 4 KiB = 512 KiB: stays in L2)


@njit(cache=True)
def _micro_4x4(c, a, b, i, j, p0, p1):
    """c[i:i+4, j:j+4] += a[i:i+4, p0:p1] @ b[j:j+4, p0:p1].T, 16 int32 accumulators."""
    # Row views and a counter from 0: see matmul._micro_4x4 (provably non-negative indices
    # let LLVM drop numba's wraparound check and vectorise).
    a0r = a[i, p0:p1]
    a1r = a[i + 1, p0:p1]
    a2r = a[i + 2, p0:p1]
    a3r = a[i + 3, p0:p1]
    b0r = b[j, p0:p1]
    b1r = b[j + 1, p0:p1]
    b2r = b[j + 2, p0:p1]
    b3r = b[j + 3, p0:p1]
    # int32 accumulators. numba types arithmetic on small ints as int64; wrapping each
    # step in np.int32(...) (and each product in np.int16(...), exact for int8 x int8)
    # tells LLVM that only the low 32 bits matter, and it narrows the whole chain to
    # 32-bit SIMD lanes: twice the lanes of int64 (the same speed as the float32 kernel
    # here; docs/quantization.md).
    c00 = c01 = c02 = c03 = np.int32(0)
    c10 = c11 = c12 = c13 = np.int32(0)
    c20 = c21 = c22 = c23 = np.int32(0)
    c30 = c31 = c32 = c33 = np.int32(0)
    for p in range(p1 - p0):  # 8 loads, 16 multiply-adds per step
        a0 = np.int16(a0r[p])
        a1 = np.int16(a1r[p])
        a2 = np.int16(a2r[p])
        a3 = np.int16(a3r[p])
        b0 = np.int16(b0r[p])
        b1 = np.int16(b1r[p])
        b2 = np.int16(b2r[p])
        b3 = np.int16(b3r[p])
        c00 = np.int32(c00 + np.int16(a0 * b0))
        c01 = np.int32(c01 + np.int16(a0 * b1))
        c02 = np.int32(c02 + np.int16(a0 * b2))
        c03 = np.int32(c03 + np.int16(a0 * b3))
        c10 = np.int32(c10 + np.int16(a1 * b0))
        c11 = np.int32(c11 + np.int16(a1 * b1))
        c12 = np.int32(c12 + np.int16(a1 * b2))
        c13 = np.int32(c13 + np.int16(a1 * b3))
        c20 = np.int32(c20 + np.int16(a2 * b0))
        c21 = np.int32(c21 + np.int16(a2 * b1))
        c22 = np.int32(c22 + np.int16(a2 * b2))
        c23 = np.int32(c23 + np.int16(a2 * b3))
        c30 = np.int32(c30 + np.int16(a3 * b0))
        c31 = np.int32(c31 + np.int16(a3 * b1))
        c32 = np.int32(c32 + np.int16(a3 * b2))
        c33 = np.int32(c33 + np.int16(a3 * b3))
    c[i, j] += c00
    c[i, j + 1] += c01
    c[i, j + 2] += c02
    c[i, j + 3] += c03
    c[i + 1, j] += c10
    c[i + 1, j + 1] += c11
    c[i + 1, j + 2] += c12
    c[i + 1, j + 3] += c13
    c[i + 2, j] += c20
    c[i + 2, j + 1] += c21
    c[i + 2, j + 2] += c22
    c[i + 2, j + 3] += c23
    c[i + 3, j] += c30
    c[i + 3, j + 1] += c31
    c[i + 3, j + 2] += c32
    c[i + 3, j + 3] += c33


@njit(cache=True)
def _edge(c, a, b, i0, i1, j0, j1, p0, p1):
    """The strips a whole 4x4 tile does not cover: one int32 dot product at a time."""
    for i in range(i0, i1):
        for j in range(j0, j1):
            ar = a[i, p0:p1]
            br = b[j, p0:p1]
            s = np.int32(0)
            for p in range(p1 - p0):
                s = np.int32(s + np.int16(np.int16(ar[p]) * np.int16(br[p])))
            c[i, j] += s


def _qgemm_source(out, a, b, bias, b_zero_point, a_zero_point, rowsum_b, mc):
    """out = a @ b.T in int32 lanes, then the zero-point and bias epilogue, per row block."""
    M, N = out.shape
    K = a.shape[1]
    n_blocks = (M + mc - 1) // mc
    for t in prange(n_blocks):  # blocks of rows are independent: one per task
        i0 = t * mc
        i1 = min(i0 + mc, M)
        for i in range(i0, i1):
            for j in range(N):
                out[i, j] = 0
        i_full = i0 + (i1 - i0) // MR * MR
        for p0 in range(0, K, KC):
            p1 = min(p0 + KC, K)
            for j0 in range(0, N, NC):
                j1 = min(j0 + NC, N)
                j_full = j0 + (j1 - j0) // NR * NR
                for i in range(i0, i_full, MR):
                    for j in range(j0, j_full, NR):
                        _micro_4x4(out, a, b, i, j, p0, p1)
                _edge(out, a, b, i0, i_full, j_full, j1, p0, p1)
                _edge(out, a, b, i_full, i1, j0, j1, p0, p1)
        # Epilogue in int64: out holds sum a*b modulo 2**32; adding the exact corrections
        # and storing modulo 2**32 again gives the exact total, since it fits in int32.
        for i in range(i0, i1):
            ra = 0
            for k in range(K):
                ra += a[i, k]
            for j in range(N):
                zb = np.int64(b_zero_point[j])
                out[i, j] = (np.int64(out[i, j]) + bias[j] - zb * ra
                             - a_zero_point * (rowsum_b[j] - K * zb))


@njit(cache=True)
def _rowsums(out, x):
    for i in range(x.shape[0]):
        s = 0
        for k in range(x.shape[1]):
            s += x[i, k]
        out[i] = s


_qgemm_serial, _qgemm_parallel = builds(_qgemm_source)


def _ikj_source(out, a, bt, colc, b_zero_point, has_zb):
    """out[i, :] = colc + sum_k a[i, k] * bt[k, :] (- zb * rowsum(a)[i]): rows of out as
    int32 vectors, SIMD along j. For short reductions (K < 64), where a dot product along k
    is too short to vectorise and the 4x4 tile runs scalar."""
    M, N = out.shape
    K = a.shape[1]
    for i in prange(M):
        row = out[i]
        for j in range(N):
            row[j] = colc[j]
        ra = 0
        for k in range(K):
            aik = np.int16(a[i, k])
            ra += aik
            brow = bt[k]
            for j in range(N):  # unit stride, int16 products (exact), int32 sums: SIMD
                row[j] = np.int32(row[j] + np.int16(aik * brow[j]))
        if has_zb:
            for j in range(N):
                row[j] = np.int32(row[j] - b_zero_point[j] * ra)


_ikj_serial, _ikj_parallel = builds(_ikj_source)


def qgemm_forward_jit_ikj(out, a, b, bias, b_zero_point, *, a_zero_point):
    """The short-K rung: b transposed once to (K, N), bias and zero-point constants folded
    into one int32 per column (wrapping arithmetic: exact, since the total fits)."""
    M, N = out.shape
    K = a.shape[1]
    if out.size == 0:
        return
    bt = np.ascontiguousarray(b.T)
    rowsum_b = np.empty(N, np.int64)
    _rowsums(rowsum_b, b)
    zb = b_zero_point.astype(np.int64)
    colc = (bias - a_zero_point * (rowsum_b - K * zb)).astype(np.int32)  # wraps: fine
    a = a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")
    build = _ikj_parallel if M * N * K >= PARALLEL_MIN_WORK else _ikj_serial
    build(out, a, bt, colc, b_zero_point, bool(zb.any()))


def _operands(a, b):
    # The micro-kernel reads rows as unit-stride slices; a transposed or sliced view is
    # copied once (a broadcast read-only view would also compile another specialisation).
    if not (a.flags.c_contiguous and a.flags.writeable):
        a = np.array(a, order="C")
    if not (b.flags.c_contiguous and b.flags.writeable):
        b = np.array(b, order="C")
    rowsum_b = np.empty(b.shape[0], np.int64)
    _rowsums(rowsum_b, b)
    return a, b, rowsum_b


def qgemm_forward_jit_packed(out, a, b, bias, b_zero_point, *, a_zero_point):
    a, b, rowsum_b = _operands(a, b)
    _qgemm_serial(out, a, b, bias, b_zero_point, a_zero_point, rowsum_b, MC)


def qgemm_forward_jit_parallel(out, a, b, bias, b_zero_point, *, a_zero_point):
    M = out.shape[0]
    # Smaller row blocks when there are too few to keep every thread busy.
    mc = min(MC, max(MR, -(-M // (4 * get_num_threads())) // MR * MR))
    a, b, rowsum_b = _operands(a, b)
    _qgemm_parallel(out, a, b, bias, b_zero_point, a_zero_point, rowsum_b, mc)


# Crossovers in multiply-adds (M*N*K): below PACKED_MIN_WORK there is nothing to amortise
# the row sums and the tiling over; PARALLEL_MIN_WORK is matmul.py's measured crossover
# (waking the threads costs more than a second core saves). PACKED_MIN_WORK is a choice,
# not a measurement: the loops and the packed kernel took about the same time on the
# digits CNN's small GEMMs.
PACKED_MIN_WORK = 16**3
PARALLEL_MIN_WORK = 96**3
# Below 64 terms a dot product along k is too short to vectorise (the 4x4 tile runs
# scalar) and VNNI would multiply mostly padding: jit_ikj vectorises along N instead.
# Measured on the digits CNN's first layer (M, N, K) = (2048, 24, 10), one core, medians
# of interleaved rounds on a loaded box: ikj 93 us, packed 206 us, VNNI 233 us; at
# (512, 48, 217) ikj loses (1027 us against packed 300 us and VNNI 187 us).
VNNI_MIN_K = 64


def qgemm_forward_jit_vnni(out, a, b, bias, b_zero_point, *, a_zero_point):
    """AVX-512 VNNI (``qgemm_vnni.py``), parallel past PARALLEL_MIN_WORK."""
    work = out.shape[0] * out.shape[1] * a.shape[1]
    qgemm_forward_vnni(out, a, b, bias, b_zero_point, a_zero_point=a_zero_point,
                       parallel=work >= PARALLEL_MIN_WORK)


def qgemm_forward_jit(out, a, b, bias, b_zero_point, *, a_zero_point):
    """The registered jit launcher: compiled loops for tiny problems, ``jit_ikj`` for short
    reductions, then ``vpdpbusd`` where the CPU has AVX-512 VNNI, else the portable int32
    kernel, packed or parallel."""
    M, N = out.shape
    work = M * N * a.shape[1]
    if work < PACKED_MIN_WORK:
        qgemm_forward_jit_loops(out, a, b, bias, b_zero_point, a_zero_point)
    elif a.shape[1] < VNNI_MIN_K and N >= 8:
        qgemm_forward_jit_ikj(out, a, b, bias, b_zero_point, a_zero_point=a_zero_point)
    elif a.shape[1] >= VNNI_MIN_K and has_vnni():
        qgemm_forward_jit_vnni(out, a, b, bias, b_zero_point, a_zero_point=a_zero_point)
    elif work < PARALLEL_MIN_WORK:
        qgemm_forward_jit_packed(out, a, b, bias, b_zero_point, a_zero_point=a_zero_point)
    else:
        qgemm_forward_jit_parallel(out, a, b, bias, b_zero_point, a_zero_point=a_zero_point)


# --- numpy ------------------------------------------------------------------------------


def qgemm_forward_numpy(out, a, b, bias, b_zero_point, *, a_zero_point):
    af = a.astype(np.float64) - a_zero_point
    bf = b.astype(np.float64) - b_zero_point.astype(np.float64)[:, None]
    np.copyto(out, af @ bf.T + bias, casting="unsafe")  # exact: see the module docstring


KERNELS = {
    "qgemm_forward": {"naive": qgemm_forward_naive, "jit": qgemm_forward_jit,
                      "numpy": qgemm_forward_numpy},
}

# The ladder, slowest first; every entry has the registered signature.
VARIANTS = {
    "naive": qgemm_forward_naive,
    "jit_loops": qgemm_forward_jit_loops,
    "jit_packed": qgemm_forward_jit_packed,
    "jit_parallel": qgemm_forward_jit_parallel,
    "jit_ikj": qgemm_forward_jit_ikj,
    "jit": qgemm_forward_jit,
    "numpy": qgemm_forward_numpy,
}
if has_vnni():  # AVX-512 VNNI machines only: the instruction does not exist elsewhere
    VARIANTS["jit_vnni"] = qgemm_forward_jit_vnni
