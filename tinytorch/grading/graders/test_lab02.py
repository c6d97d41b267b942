"""Grader of lab 02 (mlp): a batched matmul in two loop orders, the fused linear layer,
ReLU, a numerically stable row softmax, and the MLP forward pass that composes them; the
kernels must compile with numba and run as a tinytorch backend, and the digits MLP must
train on the student's linear kernel.

Each test checks one function of the lab (``mlp_forward`` builds on the others, so it also
says which of them is still wrong). Outputs are handed over filled with NaN, the garbage
``np.empty`` may hold: an element the student's kernel never writes shows up as ``nan``.
Shapes are tiny, since the student's loops run interpreted.
"""

import warnings

import numba
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.grading import call, expect_close, points

RTOL, ATOL = 1e-5, 1e-6  # the defaults of expect_close


def _close(got, expected, rtol=RTOL, atol=ATOL) -> bool:
    got, expected = np.asarray(got), np.asarray(expected)
    return got.shape == expected.shape and bool(
        np.allclose(got.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol))


def _garbage(shape, dtype=np.float64) -> np.ndarray:
    """An output buffer as a kernel receives it: allocated, never written (here: NaN)."""
    return np.full(shape, np.nan, dtype=dtype)


def _unwritten_hint(got) -> str | None:
    if np.isnan(np.asarray(got, dtype=np.float64)).any():
        return ("some elements of out are nan: out arrives holding garbage (np.empty), so "
                "every element must be assigned; `out = ...` only rebinds your local name, "
                "write out[i, j] = ... instead")
    return None


def _compile(student, name: str):
    """numba.njit of the student's function (unwrapped if kernprof's @profile wraps it)."""
    call(student, name, *_PROBES[name]())  # a TODO left undone fails here, with feedback
    fn = getattr(student, name)
    return numba.njit(getattr(fn, "__wrapped__", fn))


def _run_compiled(compiled, name: str, *args):
    try:
        compiled(*args)
    except numba.core.errors.NumbaError as err:
        first = str(err).strip().splitlines()[0]
        pytest.fail(f"numba could not compile {name}: {first}\nhint: use only loops, numbers, "
                    "indexing like a[i, j] and np.exp on numbers (no lists, no array "
                    "expressions, no new arrays)", pytrace=False)


_PROBES = {
    "matmul_ijk": lambda: (np.empty((1, 1, 1)), np.ones((1, 1, 1)), np.ones((1, 1, 1))),
    "matmul_ikj": lambda: (np.empty((1, 1, 1)), np.ones((1, 1, 1)), np.ones((1, 1, 1))),
    "linear_forward": lambda: (np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)), np.ones(1)),
    "relu_forward": lambda: (np.empty((1, 1)), np.ones((1, 1))),
    "softmax_rows": lambda: (np.empty((1, 1)), np.ones((1, 1))),
}


# --- matmul_ijk and matmul_ikj -----------------------------------------------------------

MATMUL_SHAPES = [(1, 3, 4, 5), (2, 4, 3, 2), (3, 2, 5, 1), (1, 5, 1, 3), (2, 1, 6, 4),
                 (1, 1, 1, 1)]  # (B, M, K, N)

MATMUL_HINT = {
    "matmul_ijk": "out[bi, i, j] = sum of a[bi, i, k] * b[bi, k, j] over k = 0 .. K - 1 "
                  "(K = a.shape[2]); the sum starts at 0 for every output",
    "matmul_ikj": "zero out[bi, i, :] first, then for every k add a[bi, i, k] * b[bi, k, j] "
                  "into out[bi, i, j] for every j",
}


def _matmul_hint(name, got, a, b) -> str:
    """Name the likely bug from what came back."""
    unwritten = _unwritten_hint(got)
    if unwritten is not None:
        if name == "matmul_ikj":
            return ("out came back with nan: out arrives holding garbage (np.empty; here: "
                    "nan) and ikj adds into it, so set out[bi, i, j] = 0 for every j before "
                    "the k loop")
        return unwritten + "; and start each sum at 0, not at out[bi, i, j]"
    K = a.shape[2]
    if K >= 1 and _close(got, a[:, :, :-1] @ b[:, :-1, :]):
        return "your sums miss the last term: k must run over range(K), all K = a.shape[2] terms"
    if K > 1 and _close(got, a[:, :, 1:] @ b[:, 1:, :]):
        return "your sums miss the first term, k = 0: k must run over range(K)"
    if a.shape[0] > 1 and _close(got, a @ b[:1]):
        return "every batch used b[0]: index b[bi, k, j] with the batch index bi"
    return MATMUL_HINT[name]


def _check_matmul(student, name, a, b, what, fn=None):
    out = _garbage((a.shape[0], a.shape[1], b.shape[2]), a.dtype)
    if fn is None:
        call(student, name, out, a, b)
    else:
        _run_compiled(fn, name, out, a, b)
    expected = np.matmul(a, b)
    rtol = 1e-4 if a.dtype == np.float32 else RTOL
    if not _close(out, expected, rtol=rtol, atol=1e-5):
        expect_close(out, expected, what=what, hint=_matmul_hint(name, out, a, b), rtol=rtol,
                     atol=1e-5)


def _matmul_matches_numpy(student, name):
    rng = np.random.default_rng(0)
    for B, M, K, N in MATMUL_SHAPES:
        a, b = rng.standard_normal((B, M, K)), rng.standard_normal((B, K, N))
        _check_matmul(student, name, a, b, f"{name} on ({B}, {M}, {K}) @ ({B}, {K}, {N})")


def _matmul_strided_and_empty(student, name):
    rng = np.random.default_rng(1)
    a1 = rng.standard_normal((1, 3, 4))
    cases = [
        ("a with a broadcast batch (stride 0)", np.broadcast_to(a1, (2, 3, 4)),
         rng.standard_normal((2, 4, 5))),
        ("b a transposed view (x @ w.T)", rng.standard_normal((2, 3, 4)),
         rng.standard_normal((2, 5, 4)).transpose(0, 2, 1)),
        ("a a sliced view", rng.standard_normal((2, 6, 4))[:, ::2],
         rng.standard_normal((2, 4, 2))),
        ("K = 0 (empty sums: out is all zeros)", np.zeros((1, 2, 0)), np.zeros((1, 0, 3))),
    ]
    for label, a, b in cases:
        _check_matmul(student, name, a, b,
                      f"{name} on {a.shape} @ {b.shape}, {label}")


def _matmul_compiles(student, name):
    fn = _compile(student, name)
    rng = np.random.default_rng(2)
    for dtype in (np.float64, np.float32):
        a = rng.standard_normal((2, 3, 4)).astype(dtype)
        b = rng.standard_normal((2, 4, 5)).astype(dtype)
        _check_matmul(student, name, a, b,
                      f"numba.njit({name}) on (2, 3, 4) @ (2, 4, 5) {np.dtype(dtype).name}",
                      fn=fn)


@points(3)
def test_matmul_ijk_matches_numpy(student):
    """Batched products of several shapes, including 1 x 1 and K = 1."""
    _matmul_matches_numpy(student, "matmul_ijk")


@points(2)
def test_matmul_ijk_on_strided_and_empty_operands(student):
    """A broadcast batch, a transposed and a sliced operand, and K = 0."""
    _matmul_strided_and_empty(student, "matmul_ijk")


@points(1)
def test_matmul_ijk_compiles_with_numba(student):
    """numba.njit compiles the ijk loops, in float64 and float32."""
    _matmul_compiles(student, "matmul_ijk")


@points(3)
def test_matmul_ikj_matches_numpy(student):
    """Batched products of several shapes, into an out that arrives as garbage."""
    _matmul_matches_numpy(student, "matmul_ikj")


@points(2)
def test_matmul_ikj_on_strided_and_empty_operands(student):
    """A broadcast batch, a transposed and a sliced operand, and K = 0."""
    _matmul_strided_and_empty(student, "matmul_ikj")


@points(1)
def test_matmul_ikj_compiles_with_numba(student):
    """numba.njit compiles the ikj loops, in float64 and float32."""
    _matmul_compiles(student, "matmul_ikj")


@points(2)
def test_matmul_runs_as_a_tinytorch_backend(student):
    """matmul_ijk as backend "student": x @ y for 2-D, batched and broadcast operands."""
    call(student, "matmul_ijk", *_PROBES["matmul_ijk"]())
    tt.register_kernel("matmul_forward", "student", student.matmul_ijk)
    pairs = [(tt.randn(3, 4), tt.randn(4, 5)), (tt.randn(2, 3, 4), tt.randn(4, 2)),
             (tt.randn(2, 1, 3), tt.randn(3, 3).T)]
    for x, y in pairs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # ops borrowed from jit warn once
            with tt.backend("student", fallback="jit"):
                z = x @ y
        expected = x.numpy() @ y.numpy()
        if not _close(z.numpy(), expected, 1e-4, 1e-5):
            # the kernel saw (B, M, K) @ (B, K, N): diagnose the bug on those arrays
            a = x.numpy().reshape(-1, *x.shape[-2:])
            b = np.broadcast_to(y.numpy(), (a.shape[0],) + y.shape)
            got = z.numpy().reshape(a.shape[0], a.shape[1], -1)
            expect_close(z, expected, rtol=1e-4, atol=1e-5,
                         what=f"x {x.shape} @ y {y.shape} on the student backend",
                         hint=_matmul_hint("matmul_ijk", got, a, b))


# --- linear_forward ----------------------------------------------------------------------

LINEAR_HINT = "out[i, j] = b[j] + sum over k of x[i, k] * w[j, k] (w is (N, K): x @ w.T + b)"


def _linear_hint(got, x, w, b) -> str:
    unwritten = _unwritten_hint(got)
    if unwritten is not None:
        return unwritten
    plain = x @ w.T
    if np.any(b != 0) and _close(got, plain):
        return "your result is x @ w.T without the bias: add b[j] to every out[i, j]"
    if x.shape[1] > 1 and _close(got, plain + x.shape[1] * b):
        return ("the bias was added once per term of the sum (K times): add b[j] once per "
                "output, outside the k loop")
    if w.shape[0] == w.shape[1] and _close(got, x @ w + b):
        return "w has shape (N, K): multiply by w[j, k] (a row of w), not w[k, j]"
    return LINEAR_HINT


def _check_linear(student, x, w, b, what, fn=None, rtol=RTOL, atol=ATOL):
    out = _garbage((x.shape[0], w.shape[0]), x.dtype)
    if fn is None:
        call(student, "linear_forward", out, x, w, b)
    else:
        _run_compiled(fn, "linear_forward", out, x, w, b)
    expected = x @ w.T + b
    if not _close(out, expected, rtol, atol):
        expect_close(out, expected, what=what, hint=_linear_hint(out, x, w, b), rtol=rtol,
                     atol=atol)


@points(3)
def test_linear_forward_matches_numpy(student):
    """x @ w.T + b for several (M, K) -> (M, N), including K = 1 and N = 1."""
    rng = np.random.default_rng(3)
    for m, k, n in [(1, 1, 1), (4, 3, 2), (2, 5, 7), (3, 1, 4), (5, 6, 1)]:
        x, w, b = rng.standard_normal((m, k)), rng.standard_normal((n, k)), rng.standard_normal(n)
        _check_linear(student, x, w, b, f"linear_forward on x {x.shape}, w {w.shape}, b {b.shape}")


@points(2)
def test_linear_forward_adds_the_bias(student):
    """With w = 0 every row of out is b; with b = 0 it is x @ w.T."""
    rng = np.random.default_rng(4)
    x, b = rng.standard_normal((3, 4)), np.array([1.5, -2.0])
    _check_linear(student, x, np.zeros((2, 4)), b,
                  "linear_forward with w = 0 (every row of out should be b)")
    w = rng.standard_normal((2, 4))
    _check_linear(student, x, w, np.zeros(2), "linear_forward with b = 0")


@points(1)
def test_linear_forward_on_views_and_float32(student):
    """A transposed x, a sliced w and b, and float32 arrays."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3)).T  # (3, 4), column-major
    w = rng.standard_normal((2, 8))[:, ::2]  # (2, 4), stride 2 along k
    b = rng.standard_normal(4)[::2]
    _check_linear(student, x, w, b, "linear_forward on a transposed x and a sliced w and b")
    x32, w32, b32 = (rng.standard_normal(s).astype(np.float32) for s in ((3, 5), (4, 5), (4,)))
    _check_linear(student, x32, w32, b32, "linear_forward on float32 arrays", rtol=1e-4,
                  atol=1e-5)


@points(1)
def test_linear_forward_compiles_with_numba(student):
    """numba.njit compiles the linear loops, and the compiled version still agrees."""
    fn = _compile(student, "linear_forward")
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((5, 4)), rng.standard_normal((3, 4)), rng.standard_normal(3)
    _check_linear(student, x, w, b, "numba.njit(linear_forward) on x (5, 4), w (3, 4)", fn=fn)


@points(2)
def test_linear_forward_runs_as_a_tinytorch_backend(student):
    """Registered as backend "student", your kernel runs nn.Linear and F.linear."""
    call(student, "linear_forward", *_PROBES["linear_forward"]())
    tt.register_kernel("linear_forward", "student", student.linear_forward)
    tt.manual_seed(0)
    layer = tt.nn.Linear(5, 3)
    x, x3 = tt.randn(4, 5), tt.randn(2, 3, 5)
    w, b = layer.weight.numpy(), layer.bias.numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with tt.no_grad(), tt.backend("student", fallback="jit"):
            y, y3 = layer(x), tt.nn.functional.linear(x3, layer.weight, layer.bias)
    for got, inp, what in [(y, x, "nn.Linear(5, 3) on x (4, 5)"),
                           (y3, x3, "F.linear on x (2, 3, 5) (rows flattened to (6, 5))")]:
        expected = inp.numpy() @ w.T + b
        hint = _linear_hint(got.numpy().reshape(-1, 3), inp.numpy().reshape(-1, 5), w, b)
        expect_close(got, expected, rtol=1e-4, atol=1e-5, hint=hint,
                     what=f"{what} on the student backend")


@points(2)
def test_linear_forward_trains_the_digits_mlp(student):
    """Compiled and registered, your kernel trains tinytorch's digits MLP: the losses of the
    first steps match those on tinytorch's jit backend."""
    from tinytorch.examples.mlp_digits import train_mlp  # noqa: PLC0415 (loads the digits)

    fn = _compile(student, "linear_forward")
    _run_compiled(fn, "linear_forward", *_PROBES["linear_forward"]())
    tt.register_kernel("linear_forward", "student", fn)
    steps = 12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mine = train_mlp("student", epochs=1, max_steps=steps, fallback="jit")
    reference = train_mlp("jit", epochs=1, max_steps=steps)
    if _close(mine["losses"], reference["losses"], 1e-3, 1e-4):
        return
    rng = np.random.default_rng(13)  # the kernel on a small float32 layer says what is wrong
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in ((3, 4), (2, 4), (2,)))
    out = _garbage((3, 2), np.float32)
    fn(out, x, w, b)
    hint = (_linear_hint(out, x, w, b) if not _close(out, x @ w.T + b, 1e-4, 1e-5) else
            "your compiled kernel agrees on small float32 arrays, so look for what changes "
            "in training: 32 rows, 64 or 128 features, float32 inputs")
    expect_close(np.array(mine["losses"]), np.array(reference["losses"]), rtol=1e-3,
                 atol=1e-4, hint=hint,
                 what=f"the loss of each of {steps} training steps with your linear_forward")


# --- relu_forward ------------------------------------------------------------------------

RELU_HINT = "out[i, j] = x[i, j] if x[i, j] > 0 else 0, for every i and j of out"


def _check_relu(student, x, what, fn=None, out=None):
    out = _garbage(x.shape, x.dtype) if out is None else out
    expected = np.maximum(x, 0)
    if fn is None:
        call(student, "relu_forward", out, x)
    else:
        _run_compiled(fn, "relu_forward", out, x)
    if not _close(out, expected):
        expect_close(out, expected, what=what, hint=_unwritten_hint(out) or RELU_HINT)


@points(2)
def test_relu_forward_matches_numpy(student):
    """Positive, negative and zero entries, in square, wide, tall and 1 x 1 arrays."""
    rng = np.random.default_rng(7)
    for shape in [(3, 4), (1, 1), (5, 2), (2, 7)]:
        x = rng.standard_normal(shape)
        x[0, 0] = 0.0
        _check_relu(student, x, f"relu_forward on {shape}")


@points(1)
def test_relu_forward_on_a_view_and_in_place(student):
    """A transposed input, and out being the input itself (relu_forward(h, h))."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 3)).T
    _check_relu(student, x, "relu_forward on a transposed (3, 4) view")
    h = rng.standard_normal((3, 5))
    before, expected = h.copy(), np.maximum(h, 0)
    call(student, "relu_forward", h, h)
    hint = ("h came back unchanged: write into the elements of out (out[i, j] = ...); "
            "`out = ...` only rebinds your local name" if np.array_equal(h, before) else
            "read x[i, j] before writing out[i, j]: in place they are the same element")
    expect_close(h, expected, what="relu_forward(h, h) in place on (3, 5)", hint=hint)


@points(1)
def test_relu_forward_compiles_with_numba(student):
    """numba.njit compiles the ReLU loops, and the compiled version still agrees."""
    fn = _compile(student, "relu_forward")
    rng = np.random.default_rng(9)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((4, 6)).astype(dtype)
        _check_relu(student, x, f"numba.njit(relu_forward) on (4, 6) {np.dtype(dtype).name}",
                    fn=fn)


# --- softmax_rows ------------------------------------------------------------------------

def _softmax(x):
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


SOFTMAX_HINT = ("per row: m = max, out[i, j] = exp(x[i, j] - m), then divide the row by the "
                "sum of its exps (a fresh sum for every row)")


def _softmax_hint(got, x) -> str:
    got = np.asarray(got, dtype=np.float64)
    if not np.isfinite(got).all() and np.abs(x).max() > 80:
        return ("exp overflowed: exp(1000.0) is inf in float64 (exp(89.0) in float32), and "
                "inf / inf is nan. Subtract the row's max from every x[i, j] before exp: the "
                "softmax stays the same and every exp lies in (0, 1]")
    unwritten = _unwritten_hint(got)
    if unwritten is not None:
        return unwritten
    sums = got.sum(axis=1)
    if not np.allclose(sums, 1.0, rtol=1e-4):
        row = int(np.argmax(~np.isclose(sums, 1.0, rtol=1e-4)))
        return (f"each row must sum to 1, but row {row} sums to {sums[row]:.6g}: divide the "
                "row's exps by the sum of that row alone (start the sum at 0 for every row)")
    return SOFTMAX_HINT


def _check_softmax(student, x, what, fn=None, rtol=RTOL, atol=ATOL):
    out = _garbage(x.shape, x.dtype)
    with np.errstate(all="ignore"):  # an unstable softmax warns; the feedback says why
        if fn is None:
            call(student, "softmax_rows", out, x)
        else:
            _run_compiled(fn, "softmax_rows", out, x)
        expected = _softmax(x.astype(np.float64))
        if not _close(out, expected, rtol, atol):
            expect_close(out, expected, what=what, hint=_softmax_hint(out, x), rtol=rtol,
                         atol=atol)


@points(2)
def test_softmax_rows_matches_numpy(student):
    """Moderate logits in several shapes, including a single column (softmax = 1)."""
    rng = np.random.default_rng(10)
    for shape in [(1, 1), (2, 3), (4, 5), (3, 10), (5, 1)]:
        _check_softmax(student, 3 * rng.standard_normal(shape), f"softmax_rows on {shape}")


@points(2)
def test_softmax_rows_is_stable_for_large_logits(student):
    """Logits around +-1000 in float64 and 100 in float32 give finite probabilities."""
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -999.0, -1000.5], [0.0, 500.0, 1000.0],
                  [710.0, 710.0, 0.0]])
    _check_softmax(student, x, "softmax_rows on float64 logits near 1000")
    x32 = np.array([[100.0, 101.0, 99.0], [90.0, 80.0, 70.0]], dtype=np.float32)
    _check_softmax(student, x32, "softmax_rows on float32 logits near 100", rtol=1e-4,
                   atol=1e-6)


@points(1)
def test_softmax_rows_compiles_with_numba(student):
    """numba.njit compiles the softmax loops, and the compiled version still agrees."""
    fn = _compile(student, "softmax_rows")
    rng = np.random.default_rng(11)
    _check_softmax(student, rng.standard_normal((4, 6)), "numba.njit(softmax_rows) on (4, 6)",
                   fn=fn)


# --- mlp_forward -------------------------------------------------------------------------

def _mlp_reference(x, w1, b1, w2, b2, relu=True, softmax=True):
    h = x @ w1.T + b1
    logits = (np.maximum(h, 0) if relu else h) @ w2.T + b2
    return _softmax(logits) if softmax else logits


def _mlp_hint(student, got, x, w1, b1, w2, b2) -> str:
    """Which building block is wrong, or which step mlp_forward leaves out."""
    wrong = []
    checks = [("linear_forward", (x.shape[0], w1.shape[0]), (x, w1, b1), x @ w1.T + b1),
              ("relu_forward", x.shape, (x,), np.maximum(x, 0)),
              ("softmax_rows", x.shape, (x,), _softmax(x))]
    for name, shape, inputs, expected in checks:
        out = _garbage(shape, x.dtype)
        with np.errstate(all="ignore"):
            call(student, name, out, *inputs)
        if not _close(out, expected, 1e-4, 1e-5):
            wrong.append(name)
    if wrong:
        return (f"mlp_forward builds on {', '.join(wrong)}, which is not right yet: see "
                "its own test")
    if _close(got, _mlp_reference(x, w1, b1, w2, b2, relu=False), 1e-4, 1e-5):
        return "the hidden layer needs the ReLU: relu_forward between the two linear layers"
    if _close(got, _mlp_reference(x, w1, b1, w2, b2, softmax=False), 1e-4, 1e-5):
        return "these are the logits: return softmax_rows of them, the probabilities"
    return "probs = softmax(relu(x @ w1.T + b1) @ w2.T + b2), each step with your kernels"


def _check_mlp(student, x, w1, b1, w2, b2, what, rtol=RTOL, atol=ATOL):
    for name in ("linear_forward", "relu_forward", "softmax_rows"):
        try:
            call(student, name, *_PROBES[name]())
        except pytest.fail.Exception as err:  # a building block still TODO: say which
            pytest.fail(f"mlp_forward builds on {name}: {err.msg}", pytrace=False)
    with np.errstate(all="ignore"):
        got = call(student, "mlp_forward", x, w1, b1, w2, b2)
    if not isinstance(got, np.ndarray):
        pytest.fail(f"{what}: expected a numpy array of probabilities, got {got!r}\nhint: "
                    "return the array softmax_rows filled", pytrace=False)
    expected = _mlp_reference(x, w1, b1, w2, b2)
    if not _close(got, expected, rtol, atol):
        expect_close(got, expected, what=what, rtol=rtol, atol=atol,
                     hint=_mlp_hint(student, got, x, w1, b1, w2, b2))


@points(3)
def test_mlp_forward_matches_numpy(student):
    """softmax(relu(x @ w1.T + b1) @ w2.T + b2) for a batch of 5 and of 1."""
    rng = np.random.default_rng(12)
    w1, b1 = rng.standard_normal((6, 4)), rng.standard_normal(6)
    w2, b2 = rng.standard_normal((3, 6)), rng.standard_normal(3)
    for n in (5, 1):
        x = rng.standard_normal((n, 4))
        _check_mlp(student, x, w1, b1, w2, b2, f"mlp_forward on x ({n}, 4), hidden 6, 3 classes")


@points(2)
def test_mlp_forward_matches_a_tinytorch_model(student):
    """The same probabilities as tinytorch's Linear -> ReLU -> Linear, softmax, in float32."""
    tt.manual_seed(1)
    model = tt.nn.Sequential(tt.nn.Linear(8, 16), tt.nn.ReLU(), tt.nn.Linear(16, 4))
    x = tt.randn(6, 8)
    with tt.no_grad():
        expected = tt.nn.functional.softmax(model(x), dim=1).numpy()
    params = [p.numpy() for p in (model[0].weight, model[0].bias, model[2].weight,
                                  model[2].bias)]
    x = x.numpy()
    _check_mlp(student, x, *params, "mlp_forward with the weights of a tinytorch model "
               "(8 -> 16 -> 4, float32)", rtol=1e-4, atol=1e-6)
    got = call(student, "mlp_forward", x, *params)
    expect_close(got, expected, rtol=1e-4, atol=1e-6,
                 what="mlp_forward against tinytorch's own forward pass")
