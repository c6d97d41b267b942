"""The int8 GEMM on AVX-512 VNNI: one ``vpdpbusd`` does 64 int8 multiply-adds.

``vpdpbusd acc, u, s`` multiplies 64 *unsigned* bytes of ``u`` by 64 *signed* bytes of
``s``, adds each group of four products into one of 16 int32 lanes of ``acc``: 64
multiply-adds per instruction, where a float32 FMA does 16. numba has no SIMD types and
LLVM does not turn the scalar loop into it (measured: it picks ``vpmulld`` or at best
``vpmaddwd`` once a loaded value feeds several accumulators), so the micro-kernel is
written as LLVM IR through ``numba.extending.intrinsic``: a 4x4 register tile of 16 vector
accumulators, 8 vector loads feeding 16 ``vpdpbusd`` per 64 bytes of k.

Unsigned times signed: the activations are shifted to ``u = a + 128`` (0..255) when
packed, and the shift comes back out exactly in the epilogue, like a zero point:
``sum_k (a + 128) * b = sum_k a * b + 128 * rowsum(b)``. Rows are padded to a multiple of
4 and k to a multiple of 64 with zeros in ``b`` (so padding adds nothing).

Used only where the machine has it (``has_vnni()``: x86 with ``avx512vnni`` and
``avx512bw``, numba compiling for the host CPU); elsewhere ``qgemm.py`` runs its portable
int32 kernel. Exactness is the same as there: integer sums, wrap-around cancels when the
true total fits int32 (the function layer guarantees that).

>>> isinstance(has_vnni(), bool)
True
"""

import functools
import platform

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .conv_im2col import builds

_I32, _I64 = ir.IntType(32), ir.IntType(64)
_V16 = ir.VectorType(_I32, 16)  # one zmm register: 16 int32 lanes, or 64 bytes
VEC = 64  # bytes of k per vpdpbusd
KC = 4096  # k slice in bytes (as matmul.py): 4 rows of u and 4 of b stay in L1
NC = 128  # rows of b per block: 512 KiB, stays in L2


@functools.lru_cache(maxsize=1)
def has_vnni() -> bool:
    """True when the int8 GEMM can use ``vpdpbusd`` here."""
    from numba.core import config

    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if config.CPU_NAME not in (None, "host"):  # compiling for a generic CPU (portable cache)
        return False
    try:
        import llvmlite.binding as llvm

        features = llvm.get_host_cpu_features()
    except (RuntimeError, OSError):
        return False
    return bool(features.get("avx512vnni", False) and features.get("avx512bw", False))


@intrinsic
def _dot4x4(typingctx, out, u, ldu, s, lds, nvec):
    """out[4*r + c] = sum over nvec 64-byte steps of u-row r . s-row c (raw pointers)."""
    sig = types.void(types.intp, types.intp, types.intp, types.intp, types.intp, types.intp)

    def codegen(context, builder, signature, args):
        out, u, ldu, s, lds, nvec = args
        dp = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            _V16, [_V16, _V16, _V16]), "llvm.x86.avx512.vpdpbusd.512")
        hsum = cgutils.get_or_insert_function(builder.module, ir.FunctionType(
            _I32, [_V16]), "llvm.vector.reduce.add.v16i32")
        zero = ir.Constant(_V16, None)
        entry = builder.block
        loop = builder.append_basic_block("vnni_loop")
        done = builder.append_basic_block("vnni_done")
        builder.cbranch(builder.icmp_signed(">", nvec, ir.Constant(_I64, 0)), loop, done)
        builder.position_at_end(loop)
        p = builder.phi(_I64)
        p.add_incoming(ir.Constant(_I64, 0), entry)
        acc = []
        for _ in range(16):  # the 16 accumulators live in registers across the loop
            phi = builder.phi(_V16)
            phi.add_incoming(zero, entry)
            acc.append(phi)
        offset = builder.mul(p, ir.Constant(_I64, VEC))

        def row(base, ld, r):
            addr = builder.add(builder.add(base, builder.mul(ld, ir.Constant(_I64, r))), offset)
            return builder.load(builder.inttoptr(addr, _V16.as_pointer()), align=1)

        uv = [row(u, ldu, r) for r in range(4)]
        sv = [row(s, lds, c) for c in range(4)]
        new = [builder.call(dp, [acc[4 * r + c], uv[r], sv[c]])
               for r in range(4) for c in range(4)]
        step = builder.add(p, ir.Constant(_I64, 1))
        p.add_incoming(step, loop)
        for phi, value in zip(acc, new, strict=True):
            phi.add_incoming(value, loop)
        builder.cbranch(builder.icmp_signed("<", step, nvec), loop, done)
        builder.position_at_end(done)
        final = []
        for value in new:
            phi = builder.phi(_V16)
            phi.add_incoming(zero, entry)
            phi.add_incoming(value, loop)
            final.append(phi)
        for k, value in enumerate(final):  # 16 horizontal sums, once per k slice
            ptr = builder.inttoptr(builder.add(out, ir.Constant(_I64, 4 * k)),
                                   _I32.as_pointer())
            builder.store(builder.call(hsum, [value]), ptr)
        return context.get_dummy_value()

    return sig, codegen


def _pack_source(dst, src, shift):
    """dst[:R, :K] = src + shift (int8 -> uint8 when shift is 128), zero elsewhere."""
    R, K = src.shape
    for r in prange(dst.shape[0]):
        row = dst[r]
        if r < R:
            x = src[r]
            for k in range(K):
                row[k] = x[k] + shift
            for k in range(K, row.shape[0]):
                row[k] = 0
        else:
            for k in range(row.shape[0]):
                row[k] = 0


def _gemm_source(out, u, s, bias, b_zero_point, a_zero_point, rowsum_a, rowsum_b, K, mc):
    """out = epilogue(u @ s.T) with u = a + 128 packed (Mp, Kp), s = b packed (Np, Kp)."""
    M, N = out.shape
    Kp = u.shape[1]
    n_blocks = (M + mc - 1) // mc
    for t in prange(n_blocks):
        i0 = t * mc
        i1 = min(i0 + mc, M)
        tile = np.empty(16, np.int32)
        tp = tile.ctypes.data
        for i in range(i0, i1):
            for j in range(N):
                out[i, j] = 0
        for p0 in range(0, Kp, KC):
            nvec = (min(p0 + KC, Kp) - p0) // VEC
            for j0 in range(0, N, NC):
                j1 = min(j0 + NC, N)
                for i in range(i0, i1, 4):
                    for j in range(j0, j1, 4):
                        _dot4x4(tp, u[i, p0:].ctypes.data, Kp, s[j, p0:].ctypes.data, Kp,
                                nvec)
                        for r in range(min(4, i1 - i)):  # padded rows are not stored
                            for c in range(min(4, N - j)):
                                out[i + r, j + c] += tile[4 * r + c]
        for i in range(i0, i1):  # epilogue in int64, stored modulo 2**32 (see qgemm.py)
            for j in range(N):
                zb = np.int64(b_zero_point[j])
                out[i, j] = (np.int64(out[i, j]) - 128 * rowsum_b[j] + bias[j]
                             - zb * rowsum_a[i] - a_zero_point * (rowsum_b[j] - K * zb))


_pack = builds(_pack_source)
_gemm = builds(_gemm_source)


@njit(cache=True)
def _rowsums(out, x):
    for i in range(x.shape[0]):
        t = 0
        for k in range(x.shape[1]):
            t += x[i, k]
        out[i] = t


def qgemm_forward_vnni(out, a, b, bias, b_zero_point, *, a_zero_point, parallel=False):
    """The qgemm_forward signature on vpdpbusd (call only where ``has_vnni()``)."""
    M, N = out.shape
    K = a.shape[1]
    if out.size == 0:
        return
    Kp = max(VEC, -(-K // VEC) * VEC)
    a = np.ascontiguousarray(a)
    b = np.ascontiguousarray(b)
    u = np.empty((-(-M // 4) * 4, Kp), np.uint8)
    s = np.empty((-(-N // 4) * 4, Kp), np.int8)
    big = int(parallel)
    _pack[big](u, a, 128)
    _pack[big](s, b, 0)
    rowsum_a = np.empty(M, np.int64)
    rowsum_b = np.empty(N, np.int64)
    _rowsums(rowsum_a, a)
    _rowsums(rowsum_b, b)
    mc = 32 if not parallel else max(4, min(32, -(-M // 8) // 4 * 4))
    _gemm[big](out, u, s, bias, b_zero_point, a_zero_point, rowsum_a, rowsum_b, K, mc)
