"""Grader of lab 03 (cnn): the output size of a convolution, the direct seven loops, the
zero-padded copy and the loops that need no bounds test, im2col and the convolution as a
matrix product (and the bytes im2col costs), max pooling with the indices its backward
needs, and its backward; the kernels must compile with numba and run as a tinytorch
backend, and the digits CNN must train on the student's padded convolution.

Each test checks one function (``conv2d_im2col`` builds on ``im2col``, so its feedback says
when that is the one still wrong). Oracles are tinytorch's numpy kernels. Outputs are
handed over filled with NaN (indices with -7), the garbage ``np.empty`` may hold: an element
the student's kernel never writes shows up. Compiled kernels are built with numba's
``boundscheck=True``, so an index out of range is an ``IndexError`` with feedback, not a
crash. Shapes are tiny, since the student's loops run interpreted.
"""

import types
import warnings

import numba
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

import tinytorch as tt
from tinytorch.data.datasets import Digits
from tinytorch.examples.mlp_digits import batches
from tinytorch.grading import call, expect_close, expect_equal, points
from tinytorch.nn import functional as F
from tinytorch.train.models import digits_cnn

RTOL, ATOL = 1e-5, 1e-6  # the defaults of expect_close
GARBAGE_INDEX = -7
LAB_FUNCTIONS = ("conv_output_size", "conv2d_loops", "pad2d", "conv2d_padded", "im2col",
                 "conv2d_im2col", "im2col_nbytes", "max_pool2d_loops",
                 "max_pool2d_backward_loops")


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _close(got, expected, rtol=RTOL, atol=ATOL) -> bool:
    got, expected = np.asarray(got), np.asarray(expected)
    return got.shape == expected.shape and bool(np.allclose(
        got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol))


def _garbage(shape, dtype=np.float64) -> np.ndarray:
    """An output buffer as a kernel receives it: allocated, never written (here: NaN)."""
    return np.full(shape, np.nan, dtype=dtype)


def _unwritten_hint(got) -> str | None:
    if np.isnan(np.asarray(got, dtype=np.float64)).any():
        return ("some elements of out are nan: out arrives holding garbage (np.empty), so "
                "every element must be assigned; `out = ...` only rebinds your local name, "
                "write out[n, c, i, j] = ... instead")
    return None


def _call(student, name: str, *args):
    """``call``, but a TODO left in a function that ``name`` calls is named as such."""
    try:
        return call(student, name, *args)
    except pytest.fail.Exception as err:
        todo = err.__context__
        missing = str(todo).removeprefix("TODO: implement ").strip()
        if isinstance(todo, NotImplementedError) and missing != name and \
                missing in LAB_FUNCTIONS:
            pytest.fail(f"`{name}` calls `{missing}`, which is not implemented yet: replace "
                        "its `raise NotImplementedError` with your code", pytrace=False)
        raise


def _plain(fn):
    return getattr(fn, "__wrapped__", fn)  # kernprof's wrapper, if any, is not compilable


_COMPILED: dict = {}


def _compile(student, name: str, *helpers: str):
    """``numba.njit(boundscheck=True)`` of the student's ``name``, with the lab functions in
    ``helpers`` that it calls compiled too (numba compiles a call to a global function
    only when that function is compiled: ``name`` gets a copy of its globals where they
    are). Cached for the session; it compiles on its first call (``_run_compiled``)."""
    key = (name, helpers)
    if key not in _COMPILED:
        fn = _plain(getattr(student, name))
        env = dict(fn.__globals__)
        for helper in helpers:
            env[helper] = numba.njit(boundscheck=True)(_plain(getattr(student, helper)))
        twin = types.FunctionType(fn.__code__, env, fn.__name__, fn.__defaults__,
                                  fn.__closure__)
        _COMPILED[key] = numba.njit(boundscheck=True)(twin)
    return _COMPILED[key]


def _run_compiled(fn, what: str, *args):
    try:
        fn(*args)
    except numba.core.errors.NumbaError as err:
        lines = []  # numba repeats its pipeline's header once per nested function
        for line in str(err).strip().splitlines():
            if line.strip() and line.strip() not in lines:
                lines.append(line.strip())
        pytest.fail(f"numba could not compile {what}: {' '.join(lines[:3])[:400]}\nhint: use "
                    "only loops, numbers, indexing like x[n, c, i, j], np.zeros(shape, "
                    "x.dtype) and slices (np.pad, lists and Python objects do not compile)",
                    pytrace=False)


# --- conv_output_size --------------------------------------------------------------------

def _size(size, kernel, stride, padding, dilation) -> int:
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


def _size_hint(got, size, kernel, stride, padding, dilation) -> str:
    span = dilation * (kernel - 1) + 1
    if isinstance(got, float):
        return "use floor division //: a last window that does not fit is dropped"
    if dilation > 1 and got == (size + 2 * padding - kernel) // stride + 1:
        return (f"dilation {dilation} is ignored: a kernel of {kernel} taps spaced {dilation} "
                f"apart spans dilation * (kernel - 1) + 1 = {span} pixels")
    if got == (size + 2 * padding - span) // stride:
        return "one short: the first window starts at position 0, so add 1"
    if padding and got == (size + padding - span) // stride + 1:
        return "the padding goes on both sides: size + 2 * padding"
    if got == -(-(size + 2 * padding - span) // stride) + 1:
        return "round down (//), not up: a last window that does not fit is dropped"
    return "(size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1"


@points(2)
def test_conv_output_size_matches_pytorchs_formula(student):
    """Sizes with stride, padding and dilation, including a kernel as large as the input."""
    cases = [(32, 3, 1, 1, 1), (7, 3, 2, 0, 1), (28, 5, 1, 0, 1), (224, 7, 2, 3, 1),
             (5, 5, 1, 0, 1), (8, 3, 3, 0, 1), (10, 3, 1, 0, 2), (32, 3, 1, 2, 2),
             (9, 2, 2, 1, 3), (1, 1, 1, 0, 1)]
    for size, kernel, stride, padding, dilation in cases:
        got = _call(student, "conv_output_size", size, kernel, stride, padding, dilation)
        expected = _size(size, kernel, stride, padding, dilation)
        theirs = tt.ops.conv.conv2d_output_shape((1, 1, size, size), (1, 1, kernel, kernel),
                                                 stride, padding, dilation)[-1]
        assert expected == theirs  # the grader's formula is tinytorch's (and PyTorch's)
        what = (f"conv_output_size(size={size}, kernel={kernel}, stride={stride}, "
                f"padding={padding}, dilation={dilation})")
        hint = _size_hint(got, size, kernel, stride, padding, dilation)
        _require(isinstance(got, (int, np.integer)) and not isinstance(got, bool),
                 f"{what}: expected the int {expected}, got {got!r}\nhint: {hint}")
        expect_equal(int(got), expected, what=what, hint=hint)


# --- conv2d_loops and conv2d_padded ------------------------------------------------------

def _conv_expected(x, w, b, stride, padding) -> np.ndarray:
    """tinytorch's numpy conv2d_forward, in float64."""
    N, C_out = x.shape[0], w.shape[0]
    out = np.empty((N, C_out, _size(x.shape[2], w.shape[2], stride, padding, 1),
                    _size(x.shape[3], w.shape[3], stride, padding, 1)))
    tt.dispatch.kernel_for("conv2d_forward", "numpy")[1](
        out, x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
        stride_h=stride, stride_w=stride, pad_h=padding, pad_w=padding, dil_h=1, dil_w=1,
        groups=1)
    return out


CONV_HINT = ("out[n, co, oh, ow] = b[co] + sum over ci, kh, kw of x[n, ci, ih, iw] * "
             "w[co, ci, kh, kw], with ih = oh * stride - padding + kh and iw = ow * stride - "
             "padding + kw; terms outside the input are skipped (zero padding)")


PADDED_HINT = ("xp = pad2d(x, padding) holds the input at rows and columns padding .., so "
               "tap (kh, kw) of output (oh, ow) is xp[n, ci, oh * stride + kh, ow * stride + "
               "kw] (no - padding any more); start each output row at b[co], then add every "
               "tap's wv * xp[...] along the row")


def _conv_hint(got, x, w, b, stride, padding, name="conv2d_loops") -> str:
    """Name the likely bug from what came back."""
    unwritten = _unwritten_hint(got)
    if unwritten is not None:
        return unwritten
    if np.any(b != 0) and _close(got, _conv_expected(x, w, 0 * b, stride, padding)):
        return "your result has no bias: start every sum at b[co]"
    taps = w.shape[1] * w.shape[2] * w.shape[3]
    if padding == 0 and taps > 1 and _close(got, _conv_expected(x, w, taps * b, stride, 0)):
        return ("the bias was added once per term of the sum: add b[co] once per output, "
                "outside the ci, kh, kw loops")
    if w.shape[2] * w.shape[3] > 1 and _close(got, _conv_expected(x, w[:, :, ::-1, ::-1], b,
                                                                  stride, padding)):
        return ("your kernel is flipped (a true convolution): tinytorch and PyTorch compute a "
                "cross-correlation, x[.., oh*stride - padding + kh, ..] * w[co, ci, kh, kw]")
    if stride > 1:
        dense = _conv_expected(x, w, b, 1, padding)[:, :, :got.shape[2], :got.shape[3]]
        if _close(got, dense):
            return ("the stride is ignored: output (oh, ow) starts at input row oh * stride "
                    "- padding and column ow * stride - padding")
    if name == "conv2d_padded":
        return PADDED_HINT
    if padding > 0:
        bad = ~np.isclose(np.asarray(got, np.float64), _conv_expected(x, w, b, stride, padding),
                          rtol=1e-4, atol=1e-5)
        oh = np.arange(got.shape[2])[:, None] * stride
        ow = np.arange(got.shape[3])[None, :] * stride
        top_left = (oh < padding) | (ow < padding)  # windows that start outside the input
        if bad.any() and not (bad & ~top_left).any():
            _, _, i, j = np.argwhere(bad)[0]
            return (f"only outputs whose window starts above or left of the input are wrong "
                    f"(first: ({i}, {j})): a negative index is no error in Python or numpy, "
                    "x[n, ci, -1, iw] is the last row; skip the terms with ih < 0 or iw < 0")
    return CONV_HINT


def _bounds_hint(name: str) -> str:
    if name == "conv2d_padded":
        return ("xp = pad2d(x, padding) has H + 2 * padding rows and the input starts at row "
                "padding, so tap (kh, kw) of output (oh, ow) is xp[n, ci, oh * stride + kh, "
                "ow * stride + kw] (no - padding any more)")
    return ("with padding, ih = oh * stride - padding + kh runs past the input: skip the "
            "terms outside 0 <= ih < H and 0 <= iw < W (they read the zero padding)")


def _check_conv(student, name, x, w, b, stride, padding, what, fn=None, rtol=RTOL,
                atol=ATOL):
    out = _garbage(_conv_expected(x, w, b, stride, padding).shape, x.dtype)
    try:
        if fn is None:
            _call(student, name, out, x, w, b, stride, padding)
        else:
            _run_compiled(fn, name, out, x, w, b, stride, padding)
    except IndexError as err:
        pytest.fail(f"{what}: your code raised IndexError: {err}\nhint: {_bounds_hint(name)}",
                    pytrace=False)
    expected = _conv_expected(x, w, b, stride, padding)
    if not _close(out, expected, rtol, atol):
        expect_close(out, expected, what=what, rtol=rtol, atol=atol,
                     hint=_conv_hint(out, x, w, b, stride, padding, name))


def _conv_case(rng, N, C_in, H, W, C_out, KH, KW, dtype=np.float64):
    x = rng.standard_normal((N, C_in, H, W)).astype(dtype)
    w = rng.standard_normal((C_out, C_in, KH, KW)).astype(dtype)
    return x, w, rng.standard_normal(C_out).astype(dtype)


UNPADDED = [(1, 1, 3, 3, 1, 2, 2), (2, 3, 5, 4, 4, 3, 3), (1, 2, 4, 6, 3, 1, 1),
            (2, 1, 5, 5, 2, 3, 2), (1, 3, 3, 3, 2, 3, 3)]  # (N, C_in, H, W, C_out, KH, KW)
PADDED = [((1, 2, 4, 4, 3, 3, 3), 1, 1), ((2, 1, 5, 4, 2, 3, 3), 1, 2),
          ((1, 2, 7, 6, 2, 3, 3), 2, 0), ((1, 1, 6, 7, 2, 3, 2), 2, 1),
          ((2, 2, 5, 5, 1, 3, 3), 3, 1), ((1, 2, 3, 3, 2, 1, 1), 1, 1)]  # (shape, stride, pad)


def _conv_matches(student, name):
    rng = np.random.default_rng(0)
    for shape in UNPADDED:
        x, w, b = _conv_case(rng, *shape)
        _check_conv(student, name, x, w, b, 1, 0,
                    f"{name} on x {x.shape}, w {w.shape}, stride 1, padding 0")


def _conv_padded_and_strided(student, name):
    rng = np.random.default_rng(1)
    for shape, stride, padding in PADDED:
        x, w, b = _conv_case(rng, *shape)
        _check_conv(student, name, x, w, b, stride, padding,
                    f"{name} on x {x.shape}, w {w.shape}, stride {stride}, padding {padding}")
    x, w, b = _conv_case(rng, 1, 2, 5, 5, 2, 3, 3)
    _check_conv(student, name, x.transpose(0, 1, 3, 2), w, b, 1, 1,
                f"{name} on a transposed view of x (1, 2, 5, 5), padding 1")


def _conv_compiles(student, name, *helpers):
    fn = _compile(student, name, *helpers)
    rng = np.random.default_rng(2)
    for dtype, stride, padding in ((np.float64, 1, 1), (np.float32, 2, 1)):
        x, w, b = _conv_case(rng, 2, 3, 5, 6, 4, 3, 3, dtype)
        tol = (1e-4, 1e-5) if dtype == np.float32 else (RTOL, ATOL)
        _check_conv(student, name, x, w, b, stride, padding,
                    f"numba.njit({name}) on x {x.shape} {np.dtype(dtype).name}, stride "
                    f"{stride}, padding {padding}", fn=fn, rtol=tol[0], atol=tol[1])


def _as_conv2d_forward(fn):
    """The student's ``fn(out, x, w, b, stride, padding)`` behind tinytorch's conv2d_forward
    signature; ``out`` is made NaN first, so an element never written shows."""
    def conv2d_forward(out, x, w, b, *, stride_h, stride_w, pad_h, pad_w, dil_h, dil_w,
                       groups):
        assert stride_h == stride_w and pad_h == pad_w and dil_h == dil_w == 1 and groups == 1
        out[...] = np.nan
        fn(out, x, w, b, stride_h, pad_h)
    return conv2d_forward


@points(3)
def test_conv2d_loops_matches_numpy(student):
    """Stride 1, no padding: several shapes, a 1 x 1 kernel and a kernel as large as x."""
    _conv_matches(student, "conv2d_loops")


@points(3)
def test_conv2d_loops_with_padding_and_stride(student):
    """Padding 1 and 2, strides 2 and 3 (one that leaves pixels over), a transposed x."""
    _conv_padded_and_strided(student, "conv2d_loops")


@points(1)
def test_conv2d_loops_compiles_with_numba(student):
    """numba.njit compiles the loops; float64 and float32, with padding."""
    _call(student, "conv2d_loops", np.empty((1, 1, 1, 1)), np.ones((1, 1, 1, 1)),
          np.ones((1, 1, 1, 1)), np.zeros(1), 1, 0)
    _conv_compiles(student, "conv2d_loops")


@points(2)
def test_conv2d_loops_runs_as_a_tinytorch_backend(student):
    """Registered as backend "student": nn.Conv2d (padding 1) and F.conv2d (stride 2) give
    what tinytorch's jit backend gives."""
    _call(student, "conv2d_loops", np.empty((1, 1, 1, 1)), np.ones((1, 1, 1, 1)),
          np.ones((1, 1, 1, 1)), np.zeros(1), 1, 0)
    tt.register_kernel("conv2d_forward", "student", _as_conv2d_forward(student.conv2d_loops))
    tt.manual_seed(0)
    layer = tt.nn.Conv2d(2, 3, 3, padding=1)
    w2, b2 = tt.randn(2, 2, 3, 3), tt.randn(2)
    runs = [("nn.Conv2d(2, 3, 3, padding=1) on x (2, 2, 5, 5)", tt.randn(2, 2, 5, 5),
             lambda x: layer(x), layer.weight, layer.bias, 1, 1),
            ("F.conv2d(x, w (2, 2, 3, 3), b, stride=2, padding=1) on x (1, 2, 6, 6)",
             tt.randn(1, 2, 6, 6), lambda x: F.conv2d(x, w2, b2, stride=2, padding=1), w2,
             b2, 2, 1)]
    for what, x, run, w, b, stride, padding in runs:
        with tt.no_grad():
            expected = run(x).numpy()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # borrowed ops warn once
                try:
                    with tt.backend("student", fallback="jit"):
                        got = run(x).numpy()
                except IndexError as err:
                    pytest.fail(f"{what} on the student backend: your code raised IndexError: "
                                f"{err}\nhint: {_bounds_hint('conv2d_loops')}", pytrace=False)
        if not _close(got, expected, 1e-4, 1e-5):
            args = (x.numpy().astype(np.float64), w.numpy(), b.numpy(), stride, padding)
            expect_close(got, expected, rtol=1e-4, atol=1e-5, hint=_conv_hint(got, *args),
                         what=f"{what} on the student backend")


# --- pad2d -------------------------------------------------------------------------------

def _pad_hint(got, x, pad) -> str:
    N, C, H, W = x.shape
    shape = (N, C, H + 2 * pad, W + 2 * pad)
    if pad and got.shape == (N, C, H + pad, W + pad):
        return "pad on both sides: the padded shape is (N, C, H + 2 * pad, W + 2 * pad)"
    if got.shape != shape:
        return f"the padded shape is (N, C, H + 2 * pad, W + 2 * pad) = {shape}"
    if pad and np.array_equal(got[:, :, :H, :W], x):
        return "x goes into the middle: xp[n, c, pad + i, pad + j] = x[n, c, i, j]"
    if np.isnan(got).any() or not np.all(np.isfinite(got)):
        return "the border must be zeros: np.empty holds garbage, allocate with np.zeros"
    return "xp = zeros of (N, C, H + 2 * pad, W + 2 * pad); xp[:, :, pad:pad + H, pad:pad + W] = x"


@points(2)
def test_pad2d_zero_pads_every_plane(student):
    """Pads 0, 1 and 2 on batches of several channels, float32 and float64, and a
    transposed view; the input stays as it was."""
    rng = np.random.default_rng(3)
    cases = [(rng.standard_normal((2, 3, 4, 5)), 1),
             (rng.standard_normal((1, 2, 3, 3)).astype(np.float32), 2),
             (rng.standard_normal((2, 1, 3, 4)), 0),
             (rng.standard_normal((1, 2, 5, 3)).transpose(0, 1, 3, 2), 1)]
    for x, pad in cases:
        before = x.copy()
        got = _call(student, "pad2d", x, pad)
        what = f"pad2d(x of shape {x.shape} {x.dtype.name}, {pad})"
        _require(isinstance(got, np.ndarray), f"{what}: expected a new numpy array, got "
                 f"{type(got).__name__}\nhint: return the padded array")
        expected = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        expect_equal(got.dtype, x.dtype, what=f"{what}: dtype",
                     hint="allocate with x's dtype: np.zeros(shape, x.dtype)")
        if not (got.shape == expected.shape and np.array_equal(got, expected)):
            expect_close(got, expected, rtol=0, atol=0, what=what,
                         hint=_pad_hint(got, x, pad))
        _require(np.array_equal(x, before), f"{what} changed x\nhint: write into a new array")


# --- conv2d_padded -----------------------------------------------------------------------

@points(3)
def test_conv2d_padded_matches_numpy(student):
    """The same convolutions as conv2d_loops: unpadded, padded, strided, a view."""
    _conv_matches(student, "conv2d_padded")
    _conv_padded_and_strided(student, "conv2d_padded")


@points(1)
def test_conv2d_padded_pads_the_input_once(student, monkeypatch):
    """One call of pad2d per convolution, for a batch of 2 images and 3 output channels."""
    original, calls = student.pad2d, []

    def counting_pad2d(x, pad):
        calls.append(x.shape)
        return original(x, pad)

    monkeypatch.setattr(student, "pad2d", counting_pad2d)
    x, w, b = _conv_case(np.random.default_rng(4), 2, 2, 4, 4, 3, 3, 3)
    out = _garbage((2, 3, 4, 4))
    _call(student, "conv2d_padded", out, x, w, b, 1, 1)
    if len(calls) == 1:
        return
    if not calls:
        pytest.fail("conv2d_padded never called pad2d\nhint: pad the input once with your "
                    "pad2d, before the loops", pytrace=False)
    pytest.fail(f"conv2d_padded called pad2d {len(calls)} times for one convolution of x "
                f"(2, 2, 4, 4) with 3 output channels (shapes it padded: {calls[:4]}"
                f"{' ...' if len(calls) > 4 else ''})\nhint: each call copies the input: pad "
                "the whole batch once, before the loops, and read the copy in every loop",
                pytrace=False)


@points(1)
def test_conv2d_padded_compiles_with_numba(student):
    """numba.njit compiles conv2d_padded together with the pad2d it calls."""
    _call(student, "conv2d_padded", np.empty((1, 1, 1, 1)), np.ones((1, 1, 1, 1)),
          np.ones((1, 1, 1, 1)), np.zeros(1), 1, 0)
    _conv_compiles(student, "conv2d_padded", "pad2d")


def _train_digits_cnn(backend: str, steps: int, fallback=None) -> list:
    """The losses of the first ``steps`` Adam steps of tinytorch's digits CNN."""
    images, labels = Digits("train").tensors()
    x_all, y_all = images.numpy(), labels.numpy()
    tt.manual_seed(0)
    model = digits_cnn()
    opt = tt.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    with tt.backend(backend, fallback=fallback):
        for index in batches(len(y_all), 32, np.random.default_rng(0)):
            loss = F.cross_entropy(model(tt.tensor(x_all[index])), tt.tensor(y_all[index]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if len(losses) >= steps:
                break
    return losses


@points(2)
def test_conv2d_padded_trains_the_digits_cnn(student):
    """Compiled and registered as the student backend's conv2d_forward, your padded loops
    train tinytorch's digits CNN: the losses of the first steps match the jit backend's."""
    _call(student, "conv2d_padded", np.empty((1, 1, 1, 1)), np.ones((1, 1, 1, 1)),
          np.ones((1, 1, 1, 1)), np.zeros(1), 1, 0)
    fn = _compile(student, "conv2d_padded", "pad2d")
    x, w, b = _conv_case(np.random.default_rng(5), 1, 1, 3, 3, 1, 3, 3, np.float32)
    _run_compiled(fn, "conv2d_padded", np.empty((1, 1, 3, 3), np.float32), x, w, b, 1, 1)
    tt.register_kernel("conv2d_forward", "student", _as_conv2d_forward(fn))
    steps = 8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            mine = _train_digits_cnn("student", steps, fallback="jit")
        except IndexError as err:
            pytest.fail(f"training with your conv2d_padded: IndexError: {err}\nhint: "
                        f"{_bounds_hint('conv2d_padded')}", pytrace=False)
    reference = _train_digits_cnn("jit", steps)
    if _close(mine, reference, 1e-3, 1e-4):
        return
    rng = np.random.default_rng(6)  # the kernel on a small float32 layer says what is wrong
    x, w, b = _conv_case(rng, 2, 3, 5, 5, 4, 3, 3, np.float32)
    out = _garbage((2, 4, 5, 5), np.float32)
    fn(out, x, w, b, 1, 1)
    hint = (_conv_hint(out, x, w, b, 1, 1, "conv2d_padded")
            if not _close(out, _conv_expected(x, w, b, 1, 1), 1e-4, 1e-5) else
            "your compiled kernel agrees on a small float32 layer, so look for what changes "
            "in training: batches of 32 images of 8 x 8, 1 and 16 input channels")
    expect_close(np.array(mine), np.array(reference), rtol=1e-3, atol=1e-4, hint=hint,
                 what=f"the loss of each of {steps} training steps with your conv2d_padded")


# --- im2col, conv2d_im2col, im2col_nbytes ------------------------------------------------

def _im2col_expected(x, kh, kw, stride, padding) -> np.ndarray:
    N, C, H, W = x.shape
    OH, OW = _size(H, kh, stride, padding, 1), _size(W, kw, stride, padding, 1)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    v = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride][:, :, :OH, :OW]
    return v.transpose(0, 1, 4, 5, 2, 3).reshape(N, C * kh * kw, OH * OW)  # (c, kh, kw) rows


def _call_explained(student, name: str, what: str, hint: str, *args):
    """``_call``; an error raised inside the student's code fails with ``hint`` when there
    is one (a building block known to be wrong), else as any error does."""
    try:
        return _call(student, name, *args)
    except pytest.fail.Exception:
        raise
    except Exception as err:
        if not hint:
            raise
        pytest.fail(f"{what}: your code raised {type(err).__name__}: {err}\nhint: {hint}",
                    pytrace=False)


def _blocks_hint(student, x, kh, stride, padding, name="im2col") -> str:
    """Which of the lab functions ``name`` may build on is still wrong (quietly)."""
    wrong = []
    try:
        xp = student.pad2d(x, padding)
        if not _close(xp, np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))):
            wrong.append("pad2d")
    except Exception:  # noqa: BLE001 (a broken helper is what this looks for)
        wrong.append("pad2d")
    try:
        size = student.conv_output_size(x.shape[2], kh, stride, padding, 1)
        if not isinstance(size, (int, np.integer)) or size != _size(x.shape[2], kh, stride,
                                                                     padding, 1):
            wrong.append("conv_output_size")
    except Exception:  # noqa: BLE001
        wrong.append("conv_output_size")
    if wrong:
        return (f"if your {name} uses {' and '.join(wrong)}: that is not right yet, see its "
                "own test")
    return ""


def _im2col_hint(student, got, x, kh, kw, stride, padding) -> str:
    N, C = x.shape[:2]
    expected = _im2col_expected(x, kh, kw, stride, padding)
    K, P = expected.shape[1:]
    blocks = _blocks_hint(student, x, kh, stride, padding)
    if got.shape == (N, P, K) and P != K:
        return ("that is one row per output pixel (im2row): im2col puts each pixel's "
                "receptive field in a column, shape (N, C * kh * kw, OH * OW)")
    if got.shape != expected.shape:
        return blocks or (f"the shape is (N, C * kh * kw, OH * OW) = {expected.shape}, with "
                          "OH and OW from conv_output_size")
    kernel_major = expected.reshape(N, C, kh, kw, P).transpose(0, 2, 3, 1, 4).reshape(N, K, P)
    if C > 1 and _close(got, kernel_major):
        return ("your rows are ordered (kh, kw, c): they must be ordered (c, kh, kw), row "
                "(c * kh + i) * kw + j, the order of w.reshape(C_out, C * kh * kw)'s columns")
    transposed = expected.reshape(N, K, *(_size(s, k, stride, padding, 1) for s, k in
                                          ((x.shape[2], kh), (x.shape[3], kw))))
    if transposed.shape[2] != transposed.shape[3] and _close(
            got, transposed.transpose(0, 1, 3, 2).reshape(N, K, P)):
        return "columns are output pixels in row-major order: column oh * OW + ow"
    return blocks or ("cols[n, (c * kh + i) * kw + j, oh * OW + ow] = xp[n, c, oh * stride + "
                      "i, ow * stride + j], xp the input padded by `padding`")


IM2COL_CASES = [((1, 1, 3, 3), 2, 2, 1, 0), ((2, 3, 4, 5), 3, 3, 1, 1),
                ((1, 2, 5, 5), 3, 2, 2, 0), ((2, 1, 4, 4), 1, 1, 1, 0),
                ((1, 2, 6, 5), 3, 3, 2, 1), ((1, 3, 4, 3), 2, 2, 1, 2)]


def _im2col_block_hint(student, x, w, stride, padding) -> str:
    """Whether conv2d_im2col's building blocks are wrong on this input (quietly)."""
    try:
        cols = student.im2col(x, w.shape[2], w.shape[3], stride, padding)
    except Exception:  # noqa: BLE001 (a broken helper is what this looks for)
        cols = None
    if not _close(cols, _im2col_expected(x, w.shape[2], w.shape[3], stride, padding)):
        return "conv2d_im2col builds on im2col, which is not right yet: see its own test"
    return _blocks_hint(student, x, w.shape[2], stride, padding, "conv2d_im2col")


@points(3)
def test_im2col_builds_the_column_matrix(student):
    """(N, C*kh*kw, OH*OW), rows in (c, kh, kw) order, columns in (oh, ow) order; with
    padding and strides."""
    rng = np.random.default_rng(7)
    for shape, kh, kw, stride, padding in IM2COL_CASES:
        x = rng.standard_normal(shape)
        what = f"im2col(x of shape {shape}, kh={kh}, kw={kw}, stride={stride}, " \
               f"padding={padding})"
        got = _call_explained(student, "im2col", what, _blocks_hint(student, x, kh, stride,
                                                                    padding), x, kh, kw,
                              stride, padding)
        _require(isinstance(got, np.ndarray), f"{what}: expected a numpy array, got "
                 f"{type(got).__name__}\nhint: return the column matrix")
        expected = _im2col_expected(x, kh, kw, stride, padding)
        if not _close(got, expected):
            expect_close(got, expected, what=what,
                         hint=_im2col_hint(student, got, x, kh, kw, stride, padding))


@points(2)
def test_conv2d_im2col_matches_numpy(student):
    """w.reshape(C_out, K) @ im2col(x) + b, reshaped to (N, C_out, OH, OW)."""
    rng = np.random.default_rng(8)
    for shape, stride, padding in [((2, 3, 5, 4, 4, 3, 3), 1, 1), ((1, 2, 6, 6, 3, 3, 2), 2, 0),
                                   ((2, 1, 4, 4, 2, 1, 1), 1, 0), ((1, 2, 5, 5, 2, 3, 3), 2, 1)]:
        x, w, b = _conv_case(rng, *shape)
        what = f"conv2d_im2col on x {x.shape}, w {w.shape}, stride {stride}, padding {padding}"
        blocks = _im2col_block_hint(student, x, w, stride, padding)
        got = _call_explained(student, "conv2d_im2col", what, blocks, x, w, b, stride, padding)
        _require(isinstance(got, np.ndarray), f"{what}: expected a new array (N, C_out, OH, "
                 f"OW), got {type(got).__name__}\nhint: return the result")
        expected = _conv_expected(x, w, b, stride, padding)
        if _close(got, expected):
            continue
        if got.size == expected.size and _close(got.reshape(expected.shape), expected):
            hint = f"right numbers, wrong shape: reshape to (N, C_out, OH, OW) = {expected.shape}"
        elif blocks:
            hint = blocks
        elif got.shape == expected.shape and _close(got, _conv_expected(x, w, 0 * b, stride,
                                                                         padding)):
            hint = "no bias: add b[co] to every column of output channel co (b[:, None])"
        else:
            hint = "out[n] = w.reshape(C_out, C * KH * KW) @ cols[n] + b[:, None]"
        expect_close(got, expected, what=what, hint=hint)


@points(1)
def test_im2col_nbytes_counts_the_workspace(student):
    """N * C*kh*kw * OH*OW * itemsize, and what tt.summary reports as a conv's workspace."""
    cases = [((32, 3, 32, 32), 3, 3, 1, 1, 4), ((1, 1, 5, 5), 3, 3, 1, 0, 8),
             ((8, 16, 14, 14), 3, 3, 2, 1, 4), ((4, 2, 7, 9), 5, 3, 1, 2, 2)]
    for x_shape, kh, kw, stride, padding, itemsize in cases:
        N, C, H, W = x_shape
        OH, OW = _size(H, kh, stride, padding, 1), _size(W, kw, stride, padding, 1)
        expected = N * C * kh * kw * OH * OW * itemsize
        got = _call(student, "im2col_nbytes", x_shape, kh, kw, stride, padding, itemsize)
        hint = "N * (C * kh * kw) * (OH * OW) * itemsize: one column of C*kh*kw per output pixel"
        if got == expected // itemsize:
            hint = "that is the number of elements: times itemsize for bytes"
        elif got == N * C * kh * kw * H * W * itemsize and (OH, OW) != (H, W):
            hint = "one column per *output* pixel: OH * OW columns, not H * W"
        elif got == expected // N:
            hint = "one column matrix per image: times N"
        expect_equal(got, expected, hint=hint, what=f"im2col_nbytes({x_shape}, kh={kh}, "
                     f"kw={kw}, stride={stride}, padding={padding}, itemsize={itemsize})")
    tt.manual_seed(0)
    report = tt.summary(tt.nn.Sequential(tt.nn.Conv2d(3, 4, 3, padding=1)), (2, 3, 6, 6))
    got = _call(student, "im2col_nbytes", (2, 3, 6, 6), 3, 3, 1, 1, 4)
    expect_equal(got, report.rows[0].workspace_bytes,
                 what="im2col_nbytes next to tt.summary's workspace of Conv2d(3, 4, 3, "
                      "padding=1) on (2, 3, 6, 6) float32")


# --- max_pool2d_loops and max_pool2d_backward_loops --------------------------------------

def _pool_expected(x, k, stride):
    N, C, H, W = x.shape
    shape = (N, C, (H - k) // stride + 1, (W - k) // stride + 1)
    out, indices = np.empty(shape, x.dtype), np.empty(shape, np.int64)
    tt.dispatch.kernel_for("max_pool2d_forward", "numpy")[1](out, indices, x, k, k, stride,
                                                               stride, 0, 0, 1, 1)
    return out, indices


def _run_pool(student, x, k, stride):
    out_e, idx_e = _pool_expected(x, k, stride)
    out = _garbage(out_e.shape, x.dtype)
    idx = np.full(idx_e.shape, GARBAGE_INDEX, np.int64)
    _call(student, "max_pool2d_loops", out, idx, x, k, stride)
    return out, idx, out_e, idx_e


def _index_hint(idx, x, k, stride, idx_e) -> str:
    W = x.shape[3]
    if (idx == GARBAGE_INDEX).any():
        return ("some indices were never written (they still hold the garbage "
                f"{GARBAGE_INDEX}): write indices[n, c, oh, ow] for every output")
    h, w = idx_e // W, idx_e % W
    oh = np.arange(idx_e.shape[2])[:, None] * stride
    ow = np.arange(idx_e.shape[3])[None, :] * stride
    if np.array_equal(idx, (h - oh) * k + (w - ow)):
        return ("those are positions inside the window: indices count in the whole (H, W) "
                "plane, h * W + w, as PyTorch's")
    if x.shape[2] != W and np.array_equal(idx, h * x.shape[2] + w):
        return "a row of the plane has W = x.shape[3] elements: h * W + w, not h * H + w"
    return ("indices[n, c, oh, ow] = h * W + w of the window's maximum, h = oh * stride + i, "
            "w = ow * stride + j, W = x.shape[3]")


POOL_CASES = [((1, 1, 4, 4), 2, 2), ((2, 3, 6, 5), 2, 2), ((1, 2, 5, 5), 3, 1),
              ((2, 1, 7, 7), 3, 2), ((1, 1, 3, 3), 3, 3), ((1, 2, 4, 3), 1, 1),
              ((1, 1, 5, 8), 2, 3)]


@points(2)
def test_max_pool2d_loops_matches_tinytorch(student):
    """Values and int64 indices (h * W + w), for windows 1, 2 and 3, strides 1 to 3,
    windows that leave pixels over, and a float32 input."""
    rng = np.random.default_rng(9)
    for i, (shape, k, stride) in enumerate(POOL_CASES):
        x = rng.standard_normal(shape).astype(np.float32 if i == 1 else np.float64)
        out, idx, out_e, idx_e = _run_pool(student, x, k, stride)
        what = f"max_pool2d_loops on x {shape}, k={k}, stride={stride}"
        if not _close(out, out_e, 0, 0):
            expect_close(out, out_e, rtol=0, atol=0, what=f"{what}: out",
                         hint=_unwritten_hint(out) or "out[n, c, oh, ow] = the largest x[n, "
                         "c, oh * stride + i, ow * stride + j] over i, j < k")
        if not np.array_equal(idx, idx_e):
            expect_close(idx, idx_e, rtol=0, atol=0, what=f"{what}: indices",
                         hint=_index_hint(idx, x, k, stride, idx_e))


@points(1)
def test_max_pool2d_loops_keeps_the_first_of_tied_maxima(student):
    """Windows whose maximum appears twice or more: the index of the first, row-major."""
    x = np.array([[[[1.0, 1.0, 0.0, 3.0], [1.0, 1.0, 3.0, 2.0], [2.0, 0.0, 5.0, 5.0],
                    [0.0, 2.0, 5.0, 5.0]]], [[[-1.0, -1.0, 4.0, 4.0], [-1.0, -2.0, 4.0, 4.0],
                                              [7.0, 7.0, 7.0, 7.0], [7.0, 7.0, 7.0, 7.0]]]])
    out, idx, out_e, idx_e = _run_pool(student, x, 2, 2)
    expect_close(out, out_e, rtol=0, atol=0, what="max_pool2d_loops on windows with ties: out",
                 hint=_unwritten_hint(out) or "the value of a tie is the same either way")
    if np.array_equal(idx, _last_tie_indices(x, 2, 2)):
        hint = ("replace the best only when v > best (strict): with >=, a tie moves the index "
                "to the last of the equal values; PyTorch keeps the first (scan i, then j)")
    else:
        hint = _index_hint(idx, x, 2, 2, idx_e)
    expect_close(idx, idx_e, rtol=0, atol=0, hint=hint,
                 what=f"max_pool2d_loops on (2, 1, 4, 4) windows with ties: indices "
                      f"{idx.ravel().tolist()} (expected {idx_e.ravel().tolist()})")


def _last_tie_indices(x, k, stride) -> np.ndarray:
    """The indices a max pool that compares with >= records: the last of tied maxima."""
    N, C, H, W = x.shape
    shape = (N, C, (H - k) // stride + 1, (W - k) // stride + 1)
    indices = np.empty(shape, np.int64)
    for n, c, oh, ow in np.ndindex(shape):
        window = x[n, c, oh * stride:oh * stride + k, ow * stride:ow * stride + k].ravel()
        last = k * k - 1 - int(np.argmax(window[::-1]))
        indices[n, c, oh, ow] = (oh * stride + last // k) * W + ow * stride + last % k
    return indices


def _pool_backward_expected(x_shape, g, indices) -> np.ndarray:
    grad_x = np.empty(x_shape)
    tt.dispatch.kernel_for("max_pool2d_backward", "numpy")[1](grad_x, g, indices)
    return grad_x


def _check_pool_backward(student, x, k, stride, what, g=None):
    _, indices = _pool_expected(x, k, stride)
    if g is None:
        g = np.random.default_rng(10).standard_normal(indices.shape)
    grad_x = _garbage(x.shape)
    try:
        _call(student, "max_pool2d_backward_loops", grad_x, g, indices)
    except IndexError as err:
        pytest.fail(f"{what}: your code raised IndexError: {err}\nhint: index k = "
                    "indices[n, c, oh, ow] is h * W + w: row k // W, column k % W, with W = "
                    "grad_x.shape[3] (the width)", pytrace=False)
    expected = _pool_backward_expected(x.shape, g, indices)
    if _close(grad_x, expected):
        return
    if np.isnan(grad_x).any():
        hint = ("grad_x came back with nan: it arrives holding garbage (np.empty; here: nan), "
                "and inputs that no window picked must get 0, so set every grad_x element to "
                "0 before adding the gradients")
    elif stride < k and _close(grad_x, _assigned(x.shape, g, indices)):
        hint = ("an input that wins several (overlapping) windows gets the sum of their "
                "gradients: grad_x[...] += g[n, c, oh, ow], not =")
    else:
        hint = ("for every output: grad_x[n, c, k // W, k % W] += g[n, c, oh, ow] with k = "
                "indices[n, c, oh, ow] and W = grad_x.shape[3]")
    expect_close(grad_x, expected, what=what, hint=hint)


def _assigned(x_shape, g, indices) -> np.ndarray:
    """The backward of a student who writes ``=`` instead of ``+=`` (the last window wins)."""
    grad_x = np.zeros(x_shape)
    W = x_shape[3]
    for n, c, oh, ow in np.ndindex(g.shape):
        k = indices[n, c, oh, ow]
        grad_x[n, c, k // W, k % W] = g[n, c, oh, ow]
    return grad_x


@points(2)
def test_max_pool2d_backward_loops_routes_each_gradient(student):
    """Non-overlapping windows: each gradient lands on its window's maximum, 0 elsewhere."""
    rng = np.random.default_rng(11)
    for shape, k, stride in [((2, 3, 6, 5), 2, 2), ((1, 2, 4, 4), 2, 2), ((1, 1, 6, 6), 3, 3)]:
        _check_pool_backward(student, rng.standard_normal(shape), k, stride,
                             f"max_pool2d_backward_loops after a {k} x {k} pool, stride "
                             f"{stride}, on x {shape}")


@points(1)
def test_max_pool2d_backward_loops_adds_overlapping_windows(student):
    """3 x 3 windows with stride 1: an input that wins several windows sums their
    gradients."""
    x = np.random.default_rng(12).standard_normal((1, 2, 5, 5))
    x[0, 0, 2, 2] = 10.0  # wins all nine windows of plane 0
    _check_pool_backward(student, x, 3, 1, "max_pool2d_backward_loops after a 3 x 3 pool, "
                         "stride 1, on x (1, 2, 5, 5) (overlapping windows)",
                         g=np.arange(1.0, 19.0).reshape(1, 2, 3, 3))


def _as_max_pool2d_forward(fn):
    def max_pool2d_forward(out, indices, x, kh, kw, sh, sw, ph, pw, dh, dw):
        assert kh == kw and sh == sw and ph == pw == 0 and dh == dw == 1
        out[...] = np.nan
        indices[...] = GARBAGE_INDEX
        fn(out, indices, x, kh, sh)
    return max_pool2d_forward


def _as_max_pool2d_backward(fn):
    def max_pool2d_backward(grad_x, g, indices):
        grad_x[...] = np.nan  # what np.empty may hold: deterministic here
        fn(grad_x, g, indices)
    return max_pool2d_backward


@points(2)
def test_max_pool_runs_as_a_tinytorch_backend(student):
    """Both kernels registered as backend "student": F.max_pool2d's output and the input's
    gradient match the jit backend's, for 2 x 2 and overlapping 3 x 3 windows."""
    for name in ("max_pool2d_loops", "max_pool2d_backward_loops"):
        _call(student, name, *_POOL_PROBES[name]())
    tt.register_kernel("max_pool2d_forward", "student",
                       _as_max_pool2d_forward(student.max_pool2d_loops))
    tt.register_kernel("max_pool2d_backward", "student",
                       _as_max_pool2d_backward(student.max_pool2d_backward_loops))
    tt.manual_seed(1)
    for shape, k, stride in [((2, 3, 6, 6), 2, 2), ((1, 2, 7, 7), 3, 2)]:
        x0 = tt.randn(*shape)
        g = tt.randn(*shape[:2], (shape[2] - k) // stride + 1, (shape[3] - k) // stride + 1)
        results = {}
        for backend in ("jit", "student"):
            x = x0.clone().requires_grad_()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                with tt.backend(backend, fallback="jit" if backend == "student" else None):
                    y = F.max_pool2d(x, k, stride)
                    (y * g).sum().backward()
            results[backend] = (y.detach().numpy(), x.grad.numpy())
        what = f"F.max_pool2d(x {shape}, {k}, stride={stride}) on the student backend"
        (y_jit, gx_jit), (y_mine, gx_mine) = results["jit"], results["student"]
        expect_close(y_mine, y_jit, what=what + ": output",
                     hint=_unwritten_hint(y_mine) or "see test_max_pool2d_loops_matches_tinytorch")
        _, idx, _, idx_e = _run_pool(student, x0.numpy(), k, stride)
        if np.isnan(gx_mine).any():
            hint = ("grad_x came back with nan: set every element of grad_x to 0 before "
                    "adding the gradients (it arrives as garbage)")
        elif not np.array_equal(idx, idx_e):
            hint = ("the indices your max_pool2d_loops saves are wrong, so backward sends the "
                    "gradients to the wrong inputs: see test_max_pool2d_loops_matches_tinytorch")
        else:
            hint = "see the tests of max_pool2d_backward_loops"
        expect_close(gx_mine, gx_jit, what=what + ": the gradient of x", hint=hint)


_POOL_PROBES = {
    "max_pool2d_loops": lambda: (np.empty((1, 1, 1, 1)), np.empty((1, 1, 1, 1), np.int64),
                                 np.ones((1, 1, 1, 1)), 1, 1),
    "max_pool2d_backward_loops": lambda: (np.empty((1, 1, 1, 1)), np.ones((1, 1, 1, 1)),
                                          np.zeros((1, 1, 1, 1), np.int64)),
}
