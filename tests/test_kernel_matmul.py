"""Kernel-level tests of the batched matmul family (tinytorch.kernels.matmul).

Every entry of KERNELS and VARIANTS runs against np.matmul on shapes that matter: size 1,
odd sizes, one past each tile or block edge, K = 0, empty M, N or B, B > 1, transposed and
strided operands, stride-0 (broadcast) batches. The naive Python loops run on small shapes
only. Float results are checked against a float64 oracle with the forward-error bound of a
K-term dot product; integers must match exactly (int8 and uint8 wrap, as numpy's do).
"""

import numpy as np
import pytest

from tinytorch.kernels import matmul as mm

NAIVE_MAX_WORK = 6000  # M*N*K above which the Python loops are skipped (seconds each)

# (B, M, N, K). The edges: MR = NR = 4 (register tile), MC = 32 rows per block, NC = 128
# columns per block, KB_TILE = 128 / NB_TILE = 256 (jit_blocked), kc = 512 (float64) or
# 1024 (float32) for the k slice.
SHAPES = [
    (1, 1, 1, 1),
    (1, 3, 5, 7),
    (1, mm.MR + 1, mm.NR + 1, 3),
    (1, mm.MR, mm.NR, 9),
    (3, 6, 7, 5),
    (2, 3, 4, 0),  # K = 0: out must become zeros
    (2, 0, 4, 3),
    (2, 3, 0, 4),
    (0, 3, 4, 5),
    (1, mm.MC + 1, mm.NC + 1, 20),
    (1, 9, mm.NB_TILE + 1, mm.KB_TILE + 1),
    (2, 13, 11, mm.KC_BYTES // 8 + 1),  # one past the float64 k slice
    (1, 70, 68, 66),  # the launcher's packed path
    (2, 130, 129, 67),  # the launcher's parallel path
]
SHAPES_F32 = [(1, 5, 6, 7), (2, 9, 5, 0), (1, 37, 41, mm.KC_BYTES // 4 + 1), (3, 33, 17, 70)]


def _ids(shapes):
    return ["x".join(map(str, s)) for s in shapes]


def _operands(shape, dtype, rng):
    B, M, N, K = shape
    if np.dtype(dtype).kind == "f":
        a = rng.standard_normal((B, M, K)).astype(dtype)
        b = rng.standard_normal((B, K, N)).astype(dtype)
    else:
        info = np.iinfo(dtype)
        lo, hi = max(info.min, -1000), min(info.max, 1000)
        a = rng.integers(lo, hi, (B, M, K), endpoint=True).astype(dtype)
        b = rng.integers(lo, hi, (B, K, N), endpoint=True).astype(dtype)
    return a, b


def _garbage_out(shape, dtype):
    """An output full of garbage, so a kernel that forgets to overwrite an element fails."""
    B, M, N, _ = shape
    return np.full((B, M, N), np.nan if np.dtype(dtype).kind == "f" else 77, dtype=dtype)


def _assert_matmul(got, a, b, where):
    """Compare got with a @ b; on failure name the worst element (index, got, expected)."""
    assert got.shape == (a.shape[0], a.shape[1], b.shape[2]), where
    if got.size == 0:
        return
    if got.dtype.kind != "f":
        expected = np.matmul(a, b)  # numpy wraps small ints the same way
        bad = got != expected
        if bad.any():
            idx = tuple(int(i) for i in np.argwhere(bad)[0])
            pytest.fail(
                f"{where}: {int(bad.sum())} elements differ; first at {idx}: "
                f"got {got[idx]}, expected {expected[idx]}"
            )
        return
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    expected = np.matmul(a64, b64)
    # Forward error of a K-term dot product: |err| <= K * eps * sum_k |a_ik| |b_kj| (to first
    # order); 2x for the oracle's own rounding, and any summation order qualifies.
    K = a.shape[2]
    bound = 2 * max(K, 1) * np.finfo(got.dtype).eps * np.matmul(np.abs(a64), np.abs(b64))
    err = np.abs(got.astype(np.float64) - expected)
    excess = np.where(np.isnan(err), np.inf, err - bound)
    idx = np.unravel_index(int(np.argmax(excess)), excess.shape)
    if excess[idx] > 0:
        pytest.fail(
            f"{where}: worst element {tuple(int(i) for i in idx)}: got {got[idx]}, "
            f"expected {expected[idx]}, |error| {err[idx]:.3g} > bound {bound[idx]:.3g}"
        )


def _run(name, fn, a, b, shape):
    out = _garbage_out(shape, a.dtype)
    fn(out, a, b)
    _assert_matmul(out, a, b, f"{name} {shape} {a.dtype}")


def _variants(shape):
    B, M, N, K = shape
    small = M * N * K <= NAIVE_MAX_WORK
    return {k: f for k, f in mm.VARIANTS.items() if k != "naive" or small}


@pytest.mark.parametrize("shape", SHAPES, ids=_ids(SHAPES))
def test_every_variant_float64(shape):
    a, b = _operands(shape, np.float64, np.random.default_rng(0))
    for name, fn in _variants(shape).items():
        _run(name, fn, a, b, shape)


@pytest.mark.parametrize("shape", SHAPES_F32, ids=_ids(SHAPES_F32))
def test_every_variant_float32(shape):
    a, b = _operands(shape, np.float32, np.random.default_rng(1))
    for name, fn in _variants(shape).items():
        _run(name, fn, a, b, shape)


@pytest.mark.parametrize("shape", [(1, 5, 6, 7), (2, 9, 13, 0), (2, 33, 10, 70)])
def test_every_variant_int64_exact(shape):
    a, b = _operands(shape, np.int64, np.random.default_rng(2))
    for name, fn in _variants(shape).items():
        _run(name, fn, a, b, shape)


def _layouts(rng, B=3, M=9, N=7, K=11):
    """(name, a, b) with non-contiguous operands, each a view of the values it shows."""
    a, b = _operands((B, M, N, K), np.float64, rng)
    a_t = np.ascontiguousarray(a.transpose(0, 2, 1)).transpose(0, 2, 1)  # k has stride M
    b_t = np.ascontiguousarray(b.transpose(0, 2, 1)).transpose(0, 2, 1)  # x @ w.T
    a_wide, _ = _operands((B, M, N, 2 * K), np.float64, rng)
    return [
        ("a transposed", a_t, b),
        ("b transposed", a, b_t),
        ("both transposed", a_t, b_t),
        ("a broadcast batch", np.broadcast_to(a[:1], a.shape), b),
        ("b broadcast batch", a, np.broadcast_to(b[1:2], b.shape)),
        ("a strided k", a_wide[:, :, ::2], b),
    ]


@pytest.mark.parametrize("layout", range(6), ids=[x[0] for x in _layouts(np.random.default_rng())])
def test_every_variant_any_strides(layout):
    name_l, a, b = _layouts(np.random.default_rng(3))[layout]
    shape = (a.shape[0], a.shape[1], b.shape[2], a.shape[2])
    for name, fn in mm.VARIANTS.items():
        _run(f"{name} [{name_l}]", fn, a, b, shape)


def test_broadcast_batch_on_the_fast_path():
    """A stride-0 batch big enough for jit_parallel: one copy of a serves every batch."""
    rng = np.random.default_rng(4)
    a, b = _operands((4, 66, 70, 67), np.float32, rng)
    a = np.broadcast_to(a[:1], a.shape)
    _run("jit", mm.matmul_forward_jit, a, b, (4, 66, 70, 67))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32])
def test_small_ints_wrap_like_numpy(dtype):
    """Full-range int8/uint8 sums overflow; every kernel must wrap as numpy does."""
    rng = np.random.default_rng(5)
    info = np.iinfo(dtype)
    shape = (2, 5, 6, 40)
    a = rng.integers(info.min, info.max, shape[:2] + shape[3:], endpoint=True, dtype=dtype)
    b = rng.integers(info.min, info.max, (2, 40, 6), endpoint=True, dtype=dtype)
    for name in ("jit", "numpy", "jit_ijk", "jit_ikj"):
        _run(name, mm.VARIANTS[name], a, b, shape)
    small = (a % 2).astype(dtype), (b % 2).astype(dtype)  # no overflow in Python loops
    _run("naive", mm.matmul_forward_naive, *small, shape)


def test_launcher_picks_a_rung_by_dtype_and_size(monkeypatch):
    calls = []
    for rung in ("ikj", "packed", "parallel"):
        name = f"matmul_forward_jit_{rung}"
        monkeypatch.setattr(mm, name, lambda *args, rung=rung: calls.append(rung))
    rng = np.random.default_rng(6)
    big, middle, small = (1, 128, 128, 128), (2, 40, 50, 60), (1, 8, 8, 8)
    assert 8**3 < mm.PACKED_MIN_WORK <= 2 * 40 * 50 * 60 < mm.PARALLEL_MIN_WORK <= 128**3
    for shape, dtype, expected in [
        (big, np.float32, "parallel"),
        (big, np.float64, "parallel"),
        (middle, np.float32, "packed"),
        (small, np.float64, "ikj"),
        (big, np.int64, "ikj"),
    ]:
        calls.clear()
        a, b = _operands(shape, dtype, rng)
        mm.matmul_forward_jit(_garbage_out(shape, dtype), a, b)
        assert calls == [expected], (shape, dtype)


def test_kernel_tables():
    assert set(mm.KERNELS) == {"matmul_forward"}
    assert set(mm.KERNELS["matmul_forward"]) == {"naive", "jit", "numpy"}
    assert list(mm.VARIANTS)[0] == "naive" and list(mm.VARIANTS)[-1] == "numpy"
    for table in (mm.KERNELS["matmul_forward"], mm.VARIANTS):
        for fn in table.values():
            assert callable(fn)
    assert mm.matmul_forward_jit_ijk.py_func is mm.matmul_forward_naive  # the same source
