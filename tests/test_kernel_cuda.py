"""The numba.cuda kernels against numpy, under the CUDA simulator or on a real GPU.

In CI these run under the simulator (``NUMBA_ENABLE_CUDASIM=1``, which must be set before
``numba.cuda`` is first imported): every CUDA thread becomes a Python thread, so every case
here is tiny (a few hundred output elements at most) and still crosses the edges that
matter: a block or tile edge, a grid-stride wrap, size 0 and 1, strided and broadcast
inputs. On a GPU, ``scripts/gpu_check.sh`` runs this file with ``TINYTORCH_CUDA_BIG=1``,
which adds cases too large for the simulator, and ``TINYTORCH_REAL_GPU=1``, which keeps
``conftest.py`` from switching the simulator on and turns "no GPU" from a skip into an
error (so a GPU check can never pass by quietly running on the simulator).

Run here:  NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_kernel_cuda.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinytorch.kernels.cuda import CUDA_KERNELS, VARIANTS, LazyKernel, cuda_status

STATUS, STATUS_DETAIL = cuda_status()

if os.environ.get("TINYTORCH_REAL_GPU") == "1" and STATUS != "gpu":
    pytest.fail(
        f"TINYTORCH_REAL_GPU=1 but cuda kernels would run on: {STATUS} "
        f"({STATUS_DETAIL})",
        pytrace=False,
    )
if STATUS == "none":
    pytest.skip(
        f"no CUDA GPU and the simulator is off ({STATUS_DETAIL}); set NUMBA_ENABLE_CUDASIM=1 "
        "before numba is imported, or run scripts/gpu_check.sh on a GPU machine",
        allow_module_level=True,
    )

# numba.cuda is usable: import the launchers (this imports numba.cuda)
from numba import cuda  # noqa: E402

from tinytorch.kernels.cuda import elementwise, matmul, reduce  # noqa: E402

pytestmark = [
    pytest.mark.cuda,
    # numba warns that tiny grids under-use a real GPU; tiny is the point of these cases
    pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaPerformanceWarning"),
]

BIG = os.environ.get("TINYTORCH_CUDA_BIG") == "1"
needs_big = pytest.mark.skipif(
    not BIG or STATUS != "gpu",
    reason="large shapes only on a real GPU with TINYTORCH_CUDA_BIG=1 (scripts/gpu_check.sh)",
)

REPO = Path(__file__).resolve().parents[1]
FLOATS = ("float32", "float64")
# relative tolerance per dtype for results computed in a different order than numpy's
RTOL = {"float32": 1e-5, "float64": 1e-12}


# --- helpers ---


def rand(shape, dtype, seed=0, low=-3.0, high=3.0):
    """Random values of ``dtype``; ints in [-50, 50), floats uniform in [low, high)."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-50, 50, size=shape).astype(dtype)
    return rng.uniform(low, high, size=shape).astype(dtype)


def assert_close(got, expected, rtol=0.0, atol=0.0, what=""):
    """Elementwise ``|got - expected| <= atol + rtol * |expected|``; NaN matches NaN.

    On failure, names the worst element (index, got, expected) and how many are off.
    """
    expected = np.asarray(expected)
    assert got.shape == expected.shape, f"{what}: shape {got.shape} != {expected.shape}"
    assert got.dtype == expected.dtype, f"{what}: dtype {got.dtype} != {expected.dtype}"
    if got.size == 0:
        return
    g = got.astype(np.float64)
    e = expected.astype(np.float64)
    if np.dtype(got.dtype).kind in "iu":  # integers: exact, compared without rounding
        excess = np.where(got == expected, -1.0, 1.0)
    else:
        with np.errstate(invalid="ignore"):
            excess = np.abs(g - e) - (atol + rtol * np.abs(e))  # inf - inf is NaN: below
        same = (g == e) | (np.isnan(g) & np.isnan(e))
        excess = np.where(same, -1.0, np.nan_to_num(excess, nan=np.inf))
    n_bad = int(np.count_nonzero(excess > 0))
    if n_bad:
        idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), got.shape))
        pytest.fail(
            f"{what}: {n_bad} of {got.size} elements differ; worst at index {idx}: "
            f"got {got[idx]!r}, expected {expected[idx]!r} (rtol={rtol}, atol={atol})",
            pytrace=False,
        )


def layout(base, kind):
    """A view of ``base``'s values with the requested memory layout.

    ``contiguous``: C order. ``strided``: every other column of a wider array.
    ``transposed``: the transpose of a C-ordered array. ``bcast_row`` / ``bcast_col``:
    stride-0 broadcast of one row / one column (values change accordingly).
    """
    r, c = base.shape
    if kind == "contiguous":
        return np.ascontiguousarray(base)
    if kind == "strided":
        wide = np.zeros((r, 2 * c), dtype=base.dtype)
        wide[:, ::2] = base
        return wide[:, ::2]
    if kind == "transposed":
        return np.ascontiguousarray(base.T).T
    if kind == "bcast_row":
        return np.broadcast_to(base[:1, :], (r, c))
    if kind == "bcast_col":
        return np.broadcast_to(base[:, :1], (r, c))
    raise ValueError(kind)


# --- elementwise ---

BINARY = {
    "add": (elementwise.add_forward_cuda, np.add),
    "sub": (elementwise.sub_forward_cuda, np.subtract),
    "mul": (elementwise.mul_forward_cuda, np.multiply),
    "div": (elementwise.div_forward_cuda, np.true_divide),
}
UNARY = {
    "relu": (elementwise.relu_forward_cuda, lambda x: np.maximum(x, 0).astype(x.dtype)),
    "neg": (elementwise.neg_forward_cuda, np.negative),
    "exp": (elementwise.exp_forward_cuda, np.exp),
}


def _binary_inputs(shape, dtype):
    a = rand(shape, dtype, seed=1)
    b = rand(shape, dtype, seed=2)
    if np.dtype(dtype).kind == "f":
        b = np.where(np.abs(b) < 0.25, 0.5, b).astype(dtype)  # keep division away from 0
    return a, b


@pytest.mark.parametrize(
    "op,dtype",
    # div is true division: the function layer hands it float operands, never int64
    [(op, dt) for op in sorted(BINARY) for dt in FLOATS + ("int64",)
     if (op, dt) != ("div", "int64")],
)
def test_binary_ops_match_numpy(op, dtype):
    fn, ref = BINARY[op]
    a, b = _binary_inputs((7, 9), dtype)
    out = np.empty((7, 9), dtype=dtype)
    fn(out, a, b)
    # + - * / are correctly rounded in IEEE arithmetic on both sides: equal up to 1 ulp
    assert_close(out, ref(a, b), rtol=RTOL.get(dtype, 0) / 10, what=f"{op} {dtype}")


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("op", sorted(UNARY))
def test_unary_ops_match_numpy(op, dtype):
    fn, ref = UNARY[op]
    x = rand((7, 9), dtype, seed=3, low=-10.0, high=10.0)
    out = np.empty_like(x)
    fn(out, x)
    assert_close(out, ref(x), rtol=RTOL[dtype], what=f"{op} {dtype}")


@pytest.mark.parametrize("op", ["relu", "neg"])
def test_unary_int64(op):
    fn, ref = UNARY[op]
    x = rand((5, 6), "int64", seed=4)
    out = np.empty_like(x)
    fn(out, x)
    assert_close(out, ref(x), what=f"{op} int64")


def test_relu_special_values():
    x = np.array([[-np.inf, -1.5, -0.0, 0.0, 2.5, np.inf, np.nan]], dtype=np.float32)
    out = np.empty_like(x)
    elementwise.relu_forward_cuda(out, x)
    assert_close(out, np.maximum(x, 0), what="relu special values (NaN propagates)")


@pytest.mark.parametrize(
    "a_kind,b_kind",
    [
        ("strided", "transposed"),
        ("transposed", "contiguous"),
        ("contiguous", "bcast_row"),
        ("bcast_col", "strided"),
        ("bcast_row", "bcast_col"),
    ],
)
def test_binary_non_contiguous_and_broadcast_inputs(a_kind, b_kind):
    base_a, base_b = _binary_inputs((6, 11), "float64")
    a, b = layout(base_a, a_kind), layout(base_b, b_kind)
    for op, (fn, ref) in BINARY.items():
        out = np.empty((6, 11), dtype=np.float64)
        fn(out, a, b)
        assert_close(out, ref(a, b), rtol=1e-15, what=f"{op} a={a_kind} b={b_kind}")


def test_scalar_broadcast_operand():
    a = rand((4, 5), "float32", seed=5)
    b = np.broadcast_to(np.float32(2.5), (4, 5))  # every stride 0
    out = np.empty((4, 5), dtype=np.float32)
    elementwise.mul_forward_cuda(out, a, b)
    assert_close(out, a * b, what="mul by a broadcast scalar")


@pytest.mark.parametrize("kind", ["strided", "transposed", "bcast_row"])
def test_unary_non_contiguous_input(kind):
    x = layout(rand((5, 8), "float64", seed=6), kind)
    out = np.empty((5, 8), dtype=np.float64)
    elementwise.exp_forward_cuda(out, x)
    assert_close(out, np.exp(x), rtol=RTOL["float64"], what=f"exp of {kind} input")


@pytest.mark.parametrize("shape", [(0, 5), (3, 0), (0, 0)])
def test_elementwise_zero_size(shape):
    a = np.empty(shape, dtype=np.float32)
    for fn, _ in BINARY.values():
        out = np.empty(shape, dtype=np.float32)
        fn(out, a, a)  # must not launch (a zero-block grid is an error on a GPU)
    for fn, _ in UNARY.values():
        fn(np.empty(shape, dtype=np.float32), a)


def test_elementwise_single_element():
    out = np.empty((1, 1), dtype=np.float64)
    elementwise.sub_forward_cuda(out, np.array([[3.0]]), np.array([[5.0]]))
    assert out[0, 0] == -2.0


def test_grid_stride_loop_covers_more_elements_than_threads():
    # 2 blocks x 32 threads = 64 threads for 130 elements: each thread takes 2 or 3
    a, b = _binary_inputs((10, 13), "float32")
    for op, (_, ref) in {**BINARY, **UNARY}.items():
        inputs = (a, b) if op in BINARY else (a,)
        out = np.empty((10, 13), dtype=np.float32)
        elementwise.elementwise_launch(op, out, *inputs, threads=32, max_blocks=2)
        assert_close(out, ref(*inputs), rtol=1e-6, what=f"{op} with a grid smaller than the array")


def test_non_contiguous_out_is_filled():
    # the contract gives a C-contiguous out, but a strided one must not be silently skipped
    a, b = _binary_inputs((4, 6), "float64")
    wide = np.zeros((4, 12))
    out = wide[:, ::2]
    elementwise.add_forward_cuda(out, a, b)
    assert_close(out, a + b, what="add into a strided out")
    assert not wide[:, 1::2].any(), "wrote outside the out view"


@needs_big
@pytest.mark.parametrize("op", sorted(BINARY))
def test_binary_big(op):
    fn, ref = BINARY[op]
    a, b = _binary_inputs((1000, 1000), "float32")
    out = np.empty_like(a)
    fn(out, a, b)
    assert_close(out, ref(a, b), rtol=1e-6, what=f"{op} 1000x1000")


# --- reduce: sum along axis 1 ---


@pytest.mark.parametrize("dtype", FLOATS + ("int64",))
def test_sum_matches_numpy(dtype):
    x = rand((3, 37), dtype, seed=7)
    out = np.empty(3, dtype=dtype)
    reduce.sum_forward_cuda(out, x)
    assert_close(out, x.sum(axis=1), rtol=RTOL.get(dtype, 0), atol=1e-6, what=f"sum {dtype}")


@pytest.mark.parametrize("n_cols", [0, 1, 31, 32, 33, 300])
def test_sum_row_lengths(n_cols):
    # 0: zeros; 1: one thread has data; 31/32/33: around one warp-sized block;
    # 300: longer than the largest block (256 threads), so threads add several elements
    x = rand((2, n_cols), "float64", seed=8)
    out = np.full(2, np.nan)
    reduce.sum_forward_cuda(out, x)
    assert_close(out, x.sum(axis=1), rtol=1e-12, atol=1e-12, what=f"sum of {n_cols} columns")


def test_sum_zero_rows():
    reduce.sum_forward_cuda(np.empty(0), np.empty((0, 4)))


def test_sum_int64_is_exact():
    # values whose float64 sum would round: the accumulator must stay int64
    x = np.array([[2**62, 1, 2**61, -3], [1, 2, 3, 4]], dtype=np.int64)
    out = np.empty(2, dtype=np.int64)
    reduce.sum_forward_cuda(out, x)
    assert out.tolist() == [2**62 + 2**61 - 2, 10]


def test_sum_float32_accumulates_in_float32():
    # float32 out and float32 accumulator: the answer is a float32 sum, close to numpy's
    x = rand((2, 50), "float32", seed=9)
    out = np.empty(2, dtype=np.float32)
    reduce.sum_forward_cuda(out, x)
    assert_close(out, x.sum(axis=1), rtol=1e-5, atol=1e-5, what="sum float32")


@pytest.mark.parametrize("kind", ["strided", "transposed", "bcast_row", "bcast_col"])
def test_sum_non_contiguous_input(kind):
    x = layout(rand((4, 20), "float64", seed=10), kind)
    out = np.empty(4)
    reduce.sum_forward_cuda(out, x)
    assert_close(out, x.sum(axis=1), rtol=1e-12, atol=1e-12, what=f"sum of {kind} input")


def test_sum_blocks_loop_over_rows_and_threads_over_columns():
    # 2 blocks for 5 rows (blocks take rows 0,2,4 and 1,3), 32 threads for 100 columns
    x = rand((5, 100), "float64", seed=11)
    d_x = cuda.to_device(x)
    d_out = cuda.device_array(5, dtype=np.float64)
    reduce.sum_rows_device(d_out, d_x, threads=32, max_blocks=2)
    assert_close(d_out.copy_to_host(), x.sum(axis=1), rtol=1e-12, what="row-stride sum")


def test_sum_rejects_block_that_is_not_a_power_of_two():
    d_x = cuda.to_device(np.ones((2, 3)))
    with pytest.raises(ValueError, match="power of two"):
        reduce.sum_rows_device(cuda.device_array(2), d_x, threads=48)


@needs_big
@pytest.mark.parametrize("dtype", FLOATS)
def test_sum_big(dtype):
    x = rand((1000, 1000), dtype, seed=12)
    out = np.empty(1000, dtype=dtype)
    reduce.sum_forward_cuda(out, x)
    assert_close(out, x.astype(np.float64).sum(axis=1).astype(dtype),
                 rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-3, what="sum 1000x1000")


# --- matmul ---

MATMULS = {
    "naive": matmul.matmul_forward_cuda_naive,
    "tiled": matmul.matmul_forward_cuda_tiled,
}


def _matmul_case(b, m, k, n, dtype, seed=13):
    a = rand((b, m, k), dtype, seed=seed)
    bb = rand((b, k, n), dtype, seed=seed + 1)
    return a, bb


def _matmul_tol(dtype, k):
    # each output is a k-term dot product of values in [-3, 3): bound the rounding error
    eps = np.finfo(dtype).eps
    return dict(rtol=10 * eps, atol=10 * eps * 9 * max(k, 1))


@pytest.mark.parametrize("variant", sorted(MATMULS))
@pytest.mark.parametrize(
    "shape",
    [(1, 1, 1, 1), (1, 3, 5, 7), (2, 3, 4, 5), (1, 17, 16, 18), (1, 5, 33, 3)],
    ids=lambda s: "x".join(map(str, s)),
)
def test_matmul_float64(variant, shape):
    # 17x16x18 crosses a 16-tile edge in M and N; K=33 leaves a partial third k-tile
    a, b = _matmul_case(*shape, "float64")
    out = np.empty((shape[0], shape[1], shape[3]))
    MATMULS[variant](out, a, b)
    assert_close(out, a @ b, **_matmul_tol("float64", shape[2]), what=f"{variant} {shape}")


@pytest.mark.parametrize("variant", sorted(MATMULS))
@pytest.mark.parametrize(
    "shape", [(1, 3, 5, 7), (1, 17, 16, 18)], ids=lambda s: "x".join(map(str, s))
)
def test_matmul_float32(variant, shape):
    a, b = _matmul_case(*shape, "float32")
    out = np.empty((shape[0], shape[1], shape[3]), dtype=np.float32)
    MATMULS[variant](out, a, b)
    assert_close(out, a @ b, **_matmul_tol("float32", shape[2]), what=f"{variant} {shape}")


@pytest.mark.parametrize("variant", sorted(MATMULS))
def test_matmul_k_zero_gives_zeros(variant):
    a, b = _matmul_case(2, 3, 0, 4, "float64")
    out = np.full((2, 3, 4), np.nan)
    MATMULS[variant](out, a, b)
    assert_close(out, np.zeros((2, 3, 4)), what=f"{variant} with K=0")


@pytest.mark.parametrize("variant", sorted(MATMULS))
@pytest.mark.parametrize("shape", [(0, 2, 3, 4), (1, 0, 3, 4), (1, 2, 3, 0)])
def test_matmul_zero_size_out(variant, shape):
    a, b = _matmul_case(*shape, "float64")
    MATMULS[variant](np.empty((shape[0], shape[1], shape[3])), a, b)


@pytest.mark.parametrize("variant", sorted(MATMULS))
def test_matmul_non_contiguous_and_broadcast_inputs(variant):
    # a: transposed view; b: one matrix broadcast over the batch (batch stride 0)
    a_t = rand((2, 6, 5), "float64", seed=15)
    a = np.swapaxes(a_t, 1, 2)  # (2, 5, 6), not contiguous
    b = np.broadcast_to(rand((1, 6, 4), "float64", seed=16), (2, 6, 4))
    out = np.empty((2, 5, 4))
    MATMULS[variant](out, a, b)
    assert_close(out, a @ b, **_matmul_tol("float64", 6), what=f"{variant} strided inputs")


# the simulator computes with numpy scalars, which warn on inf - inf and inf * 0
@pytest.mark.filterwarnings("ignore:.*invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("variant", sorted(MATMULS))
def test_matmul_non_finite_values_propagate_like_numpy(variant):
    # a[0, 0, 5] = inf sits in slot [0, 5] of the first a-tile, b[0, 9, 2] = -inf in slot
    # [9, 2] of the first b-tile. K=17 leaves a last k-tile with one valid k: if the kernel
    # did not zero the slots past K in *both* tiles, a stale infinity would meet a padded
    # zero of the other tile and make NaN (inf * 0) where numpy gives +-inf. On a GPU the
    # same bug shows with whatever bits uninitialised shared memory holds.
    a, b = _matmul_case(1, 3, 17, 4, "float64")
    a[0, 0, 5] = np.inf
    b[0, 9, 2] = -np.inf
    out = np.empty((1, 3, 4))
    MATMULS[variant](out, a, b)
    with np.errstate(invalid="ignore"):  # out[0, 0, 2] is inf - inf = NaN on both sides
        expected = np.einsum("bmk,bkn->bmn", a, b)  # plain IEEE loops, no BLAS shortcuts
    assert_close(out, expected, **_matmul_tol("float64", 17), what=f"{variant} with infinities")


@pytest.mark.parametrize("kernel", ["naive", "tiled"])
def test_matmul_blocks_loop_over_the_batch(kernel):
    # gridDim.z = 1 for a batch of 3: every block walks all three matrices, which is what
    # happens for B > 65535 on a GPU; the tiled kernel uses 4x4 tiles to cross several edges
    a, b = _matmul_case(3, 9, 10, 11, "float64")
    d_a, d_b = cuda.to_device(a), cuda.to_device(b)
    d_out = cuda.device_array((3, 9, 11))
    if kernel == "naive":
        matmul.matmul_naive_kernel(np.dtype("float64"))[(2, 2, 1), (8, 8)](d_out, d_a, d_b)
    else:
        matmul.matmul_tiled_kernel(np.dtype("float64"), 4)[(3, 3, 1), (4, 4)](d_out, d_a, d_b)
    assert_close(d_out.copy_to_host(), a @ b, **_matmul_tol("float64", 10), what=kernel)


@needs_big
@pytest.mark.parametrize("variant", sorted(MATMULS))
def test_matmul_big(variant):
    a, b = _matmul_case(1, 256, 256, 256, "float32")
    out = np.empty((1, 256, 256), dtype=np.float32)
    MATMULS[variant](out, a, b)
    ref = (a.astype(np.float64) @ b.astype(np.float64)).astype(np.float32)
    assert_close(out, ref, rtol=1e-4, atol=1e-3, what=f"{variant} 256^3")


# --- the lazy table ---


def test_table_does_not_import_numba_cuda():
    # a fresh interpreter: listing the cuda ops must not import numba.cuda
    code = (
        "import sys\n"
        "from tinytorch.kernels.cuda import CUDA_KERNELS, VARIANTS\n"
        "assert sorted(CUDA_KERNELS) and sorted(VARIANTS)\n"
        "assert 'numba.cuda' not in sys.modules, 'numba.cuda was imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_table_entries_load_the_named_launchers():
    assert set(CUDA_KERNELS) == {
        "add_forward", "sub_forward", "mul_forward", "div_forward",
        "relu_forward", "neg_forward", "exp_forward", "sum_forward", "matmul_forward",
        "conv2d_forward",
    }
    for op, lazy in {**CUDA_KERNELS, **VARIANTS}.items():
        fn = lazy.load()
        assert callable(fn) and fn.__name__ == lazy.name, op
        assert eval(repr(lazy), {"LazyKernel": LazyKernel}).qualname == lazy.qualname
    assert CUDA_KERNELS["matmul_forward"].load() is matmul.matmul_forward_cuda_tiled
    assert VARIANTS["matmul_naive"].load() is matmul.matmul_forward_cuda_naive


def test_table_call_forwards_to_the_launcher():
    a = rand((2, 3), "float64", seed=17)
    out = np.empty((2, 3))
    CUDA_KERNELS["neg_forward"](out, a)
    assert_close(out, -a, what="neg through LazyKernel")
    s = np.empty(2)
    CUDA_KERNELS["sum_forward"](s, a)
    assert_close(s, a.sum(axis=1), rtol=1e-12, what="sum through LazyKernel")


def test_cuda_status_reports_where_kernels_run():
    kind, detail = cuda_status()
    assert (kind, detail) == (STATUS, STATUS_DETAIL)
    assert kind in ("gpu", "simulator") and isinstance(detail, str) and detail


# --- the real compiler, without a GPU ---


@pytest.mark.skipif(STATUS == "gpu", reason="on a GPU every kernel is compiled by the tests above")
def test_kernels_compile_to_ptx():
    """The simulator runs kernels as Python and never compiles them: compile each one for a
    real GPU (numba's CUDA front end and NVVM) in a subprocess with the simulator off."""
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "0"}
    res = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "gpu_check.py"), "ptx"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    if res.returncode == 77:
        pytest.skip(f"CUDA toolkit (NVVM) not available: {res.stdout.strip()[-300:]}")
    assert res.returncode == 0, res.stdout + res.stderr
