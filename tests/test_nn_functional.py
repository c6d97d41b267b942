"""Activation and loss kernels, their autograd Functions, and ``tinytorch.nn.functional``.

1. every kernel of ``kernels/activation.py`` and ``kernels/loss.py`` (and the online
   cross-entropy variant) against an independent numpy oracle written here, on every CPU
   backend, on odd, size-1, empty and non-contiguous shapes, float32 and float64;
2. gradcheck (float64, central differences) of every function on every backend, including
   label smoothing and ignore_index;
3. cross-entropy at logits of magnitude 1e4; reductions, ignored rows, 1-D inputs;
4. PyTorch cross-checks of values and gradients (skipped, visibly, without torch);
5. bad input: the error type and message, raised before any kernel runs (a spy backend);
6. dropout: reproducible under ``tt.manual_seed``, the expected keep fraction and scale.

Naive (interpreted) kernels run on tiny shapes only.
"""

import math

import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from tinytorch import dispatch
from tinytorch.kernels import loss as loss_kernels
from tinytorch.testing import KernelCalled, assert_close, gradcheck

FLOATS = (np.float32, np.float64)


def leaf(rng, *shape, low=-1.0, high=1.0):
    return tt.tensor(rng.uniform(low, high, shape), dtype=tt.float64, requires_grad=True)


def kernel(op):
    """The kernel that ``op`` runs on under the current backend."""
    return dispatch.kernel_for(op)[1]


@pytest.fixture
def kernel_log():
    """The names of the kernels that ran, in order (a dispatcher hook)."""
    import contextlib

    seen = []

    @contextlib.contextmanager
    def hook(op, backend, args, params):
        seen.append(op)
        yield

    dispatch.add_hook(hook)
    yield seen
    dispatch.remove_hook(hook)


# --- the oracle: plain float64 numpy, written independently of the kernels ----------------

_erf = np.vectorize(math.erf, otypes=[np.float64])


def o_gelu(x, approximate):
    x = x.astype(np.float64)
    if approximate:
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1 + _erf(x / math.sqrt(2)))


def o_gelu_grad(g, x, approximate):
    x = x.astype(np.float64)
    if approximate:
        k = math.sqrt(2 / math.pi)
        t = np.tanh(k * (x + 0.044715 * x ** 3))
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t ** 2) * k * (1 + 3 * 0.044715 * x ** 2))
    return g * (0.5 * (1 + _erf(x / math.sqrt(2))) + x * np.exp(-x ** 2 / 2)
                / math.sqrt(2 * math.pi))


def o_log_softmax(x):
    x = x.astype(np.float64)
    if x.shape[-1] == 0:
        return x
    m = x.max(axis=-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=-1, keepdims=True))


def o_cross_entropy(x, t, ignore_index=-100, eps=0.0):
    """Per-row loss and log-sum-exp, by the definition (log-softmax, then pick and mix)."""
    x = x.astype(np.float64)
    n, c = x.shape
    logp = o_log_softmax(x)
    lse = (x - logp)[:, 0] if c else np.zeros(n)
    keep = t != ignore_index
    rows = np.arange(n)[keep]
    loss = np.zeros(n)
    loss[keep] = -(1 - eps) * logp[rows, t[keep]] - eps / c * logp[keep].sum(axis=1)
    return loss, lse


def o_cross_entropy_grad(g, x, t, ignore_index=-100, eps=0.0):
    x = x.astype(np.float64)
    n, c = x.shape
    target = np.full((n, c), eps / c)
    keep = t != ignore_index
    target[np.arange(n)[keep], t[keep]] += 1 - eps
    grad = (np.exp(o_log_softmax(x)) - target) * g[:, None]
    grad[~keep] = 0
    return grad


def o_bce(x, y, w):
    x = x.astype(np.float64)
    log_sig = -np.logaddexp(0, -x)  # log sigmoid(x), stable
    log_one_minus = -np.logaddexp(0, x)  # log (1 - sigmoid(x))
    return -(w * y * log_sig + (1 - y) * log_one_minus)


def o_bce_grad(g, x, y, w):
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    return g * (((w - 1) * y + 1) * s - w * y)


# --- 1. kernels against the oracle on every backend ----------------------------------------

SHAPES = [(1, 1), (3, 5), (4, 1), (1, 7), (0, 3), (2, 0)]


def _operand(rng, shape, dtype, layout, scale=2.0):
    """An array of ``shape`` and ``dtype`` laid out contiguous, transposed or strided."""
    if layout == "contiguous":
        return (rng.standard_normal(shape) * scale).astype(dtype)
    if layout == "transposed":
        return np.ascontiguousarray((rng.standard_normal(shape[::-1]) * scale)
                                    .astype(dtype)).T
    big = (rng.standard_normal((shape[0], 2 * shape[1] + 1)) * scale).astype(dtype)
    return big[:, 1::2]  # every other column: a row stride that is not the row length


def _garbage(shape, dtype=np.float64):
    return np.full(shape, np.nan, dtype)


LAYOUTS = ["contiguous", "transposed", "strided"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_elementwise_activation_kernels(backend, rng, dtype, shape, layout):
    x = _operand(rng, shape, dtype, layout, scale=3.0)
    g = _operand(rng, shape, dtype, "contiguous")
    for approximate in (0, 1):
        out = _garbage(shape, dtype)
        kernel("gelu_forward")(out, x, approximate=approximate)
        assert_close(out, o_gelu(x, approximate))
        kernel("gelu_backward")(out, g, x, approximate=approximate)
        assert_close(out, o_gelu_grad(g, x, approximate))
    for slope in (0.01, -0.5):
        out = _garbage(shape, dtype)
        kernel("leaky_relu_forward")(out, x, negative_slope=slope)
        assert_close(out, np.where(x > 0, x, slope * x.astype(np.float64)))
        kernel("leaky_relu_backward")(out, g, x, negative_slope=slope)
        assert_close(out, np.where(x > 0, g, slope * g.astype(np.float64)))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_softmax_kernels(backend, rng, dtype, shape, layout):
    x = _operand(rng, shape, dtype, layout, scale=5.0)
    g = _operand(rng, shape, dtype, "strided")
    logp = o_log_softmax(x)
    p = np.exp(logp)

    out = _garbage(shape, dtype)
    kernel("softmax_forward")(out, x)
    assert_close(out, p)
    y = p.astype(dtype)
    kernel("softmax_backward")(out, g, y)
    assert_close(out, y * (g - (g * y).sum(axis=1, keepdims=True)))

    kernel("log_softmax_forward")(out, x)
    assert_close(out, logp)
    y = logp.astype(dtype)
    kernel("log_softmax_backward")(out, g, y)
    assert_close(out, g - np.exp(y.astype(np.float64)) * g.sum(axis=1, keepdims=True))


def test_softmax_kernels_are_stable_at_large_magnitudes(backend):
    x = np.array([[1e4, 1e4 - 1.0, -1e4], [-1e4, -1e4, -1e4]])
    out = _garbage(x.shape)
    kernel("softmax_forward")(out, x)
    e = math.exp(-1)
    assert_close(out, [[1 / (1 + e), e / (1 + e), 0.0], [1 / 3, 1 / 3, 1 / 3]])
    kernel("log_softmax_forward")(out, x)
    assert_close(out, [[-math.log1p(e), -1 - math.log1p(e), -2e4 - math.log1p(e)],
                       [-math.log(3)] * 3])


def _targets(rng, n, c, ignore_index, n_ignored):
    t = rng.integers(0, c, n)
    t[rng.permutation(n)[:n_ignored]] = ignore_index
    return t


CE_CASES = [  # (N, C, ignore_index, how many ignored, label_smoothing)
    (1, 1, -100, 0, 0.0),
    (5, 7, -100, 2, 0.0),
    (5, 7, -100, 2, 0.3),
    (4, 3, 1, 1, 0.1),  # ignore_index inside [0, C)
    (3, 4, -100, 3, 0.2),  # every row ignored
    (6, 2, -1, 0, 1.0),
    (0, 4, -100, 0, 0.1),
]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("case", CE_CASES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_cross_entropy_kernels(backend, rng, dtype, case, layout):
    n, c, ignore, n_ignored, eps = case
    x = _operand(rng, (n, c), dtype, layout, scale=4.0)
    t = _targets(rng, n, c, ignore, n_ignored)
    want_loss, want_lse = o_cross_entropy(x, t, ignore, eps)
    loss, lse = _garbage(n, dtype), _garbage(n)
    kernel("cross_entropy_forward")(loss, lse, x, t, ignore_index=ignore, label_smoothing=eps)
    assert_close(loss, want_loss)
    assert_close(lse, want_lse, rtol=1e-6 if dtype == np.float32 else None)
    for g in (rng.uniform(0.5, 2, n).astype(dtype), np.broadcast_to(dtype(0.25), (n,))):
        grad = _garbage((n, c), dtype)
        kernel("cross_entropy_backward")(grad, g, x, want_lse, t, ignore_index=ignore,
                                         label_smoothing=eps)
        assert_close(grad, o_cross_entropy_grad(g, x, t, ignore, eps))


@pytest.mark.parametrize("variant", sorted(loss_kernels.VARIANTS))
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_every_cross_entropy_variant(rng, variant, case):
    n, c, ignore, n_ignored, eps = case
    x = _operand(rng, (n, c), np.float64, "strided", scale=4.0)
    t = _targets(rng, n, c, ignore, n_ignored)
    want_loss, want_lse = o_cross_entropy(x, t, ignore, eps)
    loss, lse = _garbage(n), _garbage(n)
    loss_kernels.VARIANTS[variant](loss, lse, x, t, ignore_index=ignore, label_smoothing=eps)
    assert_close(loss, want_loss)
    assert_close(lse, want_lse)


@pytest.mark.parametrize("variant", sorted(loss_kernels.VARIANTS))
def test_cross_entropy_variants_with_masked_classes(variant):
    """-inf logits (masked classes) leave the other classes' loss finite, first place or
    not; at label_smoothing 0 the masked class adds nothing (not 0 * inf = NaN)."""
    x = np.array([[-np.inf, 0.0, 0.0], [0.0, -np.inf, 0.0], [1e4, -1e4, 1e4 - 1]])
    t = np.array([1, 2, 2])
    loss, lse = _garbage(3), _garbage(3)
    with np.errstate(all="ignore"):
        loss_kernels.VARIANTS[variant](loss, lse, x, t, ignore_index=-100,
                                       label_smoothing=0.0)
    e = math.exp(-1)
    assert_close(loss, [math.log(2), math.log(2), 1 + math.log1p(e)])
    assert_close(lse, [math.log(2), math.log(2), 1e4 + math.log1p(e)])


@pytest.mark.parametrize("case", CE_CASES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_nll_kernels(backend, rng, dtype, case):
    n, c, ignore, n_ignored, _ = case
    logp = _operand(rng, (n, c), dtype, "transposed")
    t = _targets(rng, n, c, ignore, n_ignored)
    keep = t != ignore
    want = np.zeros(n)
    want[keep] = -logp[np.arange(n)[keep], t[keep]]
    loss = _garbage(n, dtype)
    kernel("nll_forward")(loss, logp, t, ignore_index=ignore)
    assert_close(loss, want)
    g = rng.uniform(0.5, 2, n).astype(dtype)
    want_grad = np.zeros((n, c))
    want_grad[np.arange(n)[keep], t[keep]] = -g[keep]
    grad = _garbage((n, c), dtype)
    kernel("nll_backward")(grad, g, t, ignore_index=ignore)
    assert_close(grad, want_grad)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", FLOATS, ids=["f32", "f64"])
def test_mse_and_bce_kernels(backend, rng, dtype, shape, layout):
    x = _operand(rng, shape, dtype, layout, scale=4.0)
    y = rng.uniform(0, 1, shape).astype(dtype)
    g = _operand(rng, shape, dtype, "contiguous")
    out = _garbage(shape, dtype)
    kernel("mse_forward")(out, x, y)
    assert_close(out, (x.astype(np.float64) - y) ** 2)
    kernel("mse_backward")(out, g, x, y)
    assert_close(out, 2 * g * (x.astype(np.float64) - y))
    ones = np.broadcast_to(dtype(1.0), shape)  # pos_weight absent: stride 0
    weights = np.broadcast_to(rng.uniform(0.5, 3, shape[1:]).astype(dtype), shape)
    for w in (ones, weights):
        kernel("bce_with_logits_forward")(out, x, y, w)
        assert_close(out, o_bce(x, y, w))
        kernel("bce_with_logits_backward")(out, g, x, y, w)
        assert_close(out, o_bce_grad(g, x, y, w))


def test_bce_kernel_is_stable_for_large_logits(backend):
    x = np.array([[-1e4, 1e4, -50.0, 50.0]])
    y = np.array([[1.0, 0.0, 0.0, 1.0]])
    w = np.ones_like(x)
    out = _garbage(x.shape)
    kernel("bce_with_logits_forward")(out, x, y, w)
    assert_close(out, [[1e4, 1e4, math.log1p(math.exp(-50)), math.log1p(math.exp(-50))]])
    kernel("bce_with_logits_backward")(out, np.ones_like(x), x, y, w)
    assert_close(out, [[-1.0, 1.0, 0.0, 0.0]])


# --- 2. gradients: central differences on every backend ----------------------------------

ACTIVATIONS = {
    "gelu": (lambda t: F.gelu(t), (-3, 3)),
    "gelu_tanh": (lambda t: F.gelu(t, approximate="tanh"), (-3, 3)),
    "leaky_relu_pos": (lambda t: F.leaky_relu(t), (0.1, 2)),  # away from the kink
    "leaky_relu_neg": (lambda t: F.leaky_relu(t, 0.2), (-2, -0.1)),
    "softmax_last": (lambda t: F.softmax(t, dim=-1), (-3, 3)),
    "softmax_dim0": (lambda t: F.softmax(t, 0), (-3, 3)),
    "softmax_dim1": (lambda t: F.softmax(t, dim=1), (-3, 3)),
    "log_softmax_last": (lambda t: F.log_softmax(t, -1), (-3, 3)),
    "log_softmax_dim0": (lambda t: F.log_softmax(t, dim=0), (-3, 3)),
    "log_softmax_dim1": (lambda t: F.log_softmax(t, dim=1), (-3, 3)),
    "softmax_of_a_view": (lambda t: F.softmax(t.transpose(0, 2), dim=-1), (-3, 3)),
    "relu": (lambda t: F.relu(t), (0.1, 1)),
    "sigmoid": (lambda t: F.sigmoid(t), (-3, 3)),
    "tanh": (lambda t: F.tanh(t), (-2, 2)),
    "flatten": (lambda t: F.flatten(t).exp(), (-1, 1)),
    "flatten_all": (lambda t: F.flatten(t.transpose(0, 1), 0) * 2, (-1, 1)),
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_gradcheck_activations(backend, rng, name):
    fn, (lo, hi) = ACTIVATIONS[name]
    assert gradcheck(fn, [leaf(rng, 2, 3, 2, low=lo, high=hi)])


def test_gradcheck_softmax_of_a_0d_and_a_1d_tensor(backend, rng):
    assert gradcheck(lambda t: F.log_softmax(t, 0) * 3, [leaf(rng)])
    assert gradcheck(lambda t: F.softmax(t, 0), [leaf(rng, 4)])


def test_gradcheck_dropout(backend, rng):
    def fn(t):
        tt.manual_seed(7)  # the same mask for every evaluation of the central differences
        return F.dropout(t, p=0.4)

    assert gradcheck(fn, [leaf(rng, 3, 4)])


def test_gradcheck_linear(backend, rng):
    x, w, b = leaf(rng, 3, 4), leaf(rng, 2, 4), leaf(rng, 2)
    assert gradcheck(F.linear, [x, w, b])
    assert gradcheck(lambda x, w: F.linear(x, w), [leaf(rng, 2, 3, 4), w])


CE_GRAD_CASES = [  # (reduction, ignore_index in the targets, label_smoothing)
    ("mean", False, 0.0), ("sum", False, 0.0), ("none", False, 0.0),
    ("mean", True, 0.0), ("sum", True, 0.25), ("none", True, 0.25), ("mean", True, 0.25),
    ("mean", False, 1.0),
]


@pytest.mark.parametrize("case", CE_GRAD_CASES, ids=str)
def test_gradcheck_cross_entropy(backend, rng, case):
    reduction, ignored, eps = case
    t = tt.tensor([2, 0, 3, 1] if not ignored else [2, -100, 3, -100])
    x = leaf(rng, 4, 5, low=-3, high=3)
    assert gradcheck(lambda x: F.cross_entropy(x, t, reduction=reduction,
                                               label_smoothing=eps), [x])


def test_gradcheck_cross_entropy_1d_input_and_custom_ignore_index(backend, rng):
    x = leaf(rng, 5, low=-3, high=3)
    assert gradcheck(lambda x: F.cross_entropy(x, tt.tensor(3), label_smoothing=0.1), [x])
    assert gradcheck(lambda x: F.cross_entropy(x, tt.tensor(3), reduction="none"), [x])
    x2 = leaf(rng, 4, 3, low=-3, high=3)  # ignore_index 1 is also a class index
    assert gradcheck(lambda x: F.cross_entropy(x, tt.tensor([1, 0, 2, 1]), ignore_index=1,
                                               label_smoothing=0.2), [x2])


def test_gradcheck_cross_entropy_on_a_transposed_view(backend, rng):
    x = leaf(rng, 5, 3, low=-3, high=3)
    assert gradcheck(lambda x: F.cross_entropy(x.T, tt.tensor([4, 0, 2])), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_nll_loss(backend, rng, reduction):
    t = tt.tensor([2, -100, 0])
    assert gradcheck(lambda x: F.nll_loss(F.log_softmax(x, 1), t, reduction=reduction),
                     [leaf(rng, 3, 4)])
    assert gradcheck(lambda x: F.nll_loss(x, tt.tensor(1), reduction=reduction),
                     [leaf(rng, 3)])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_mse_loss(backend, rng, reduction):
    x, y = leaf(rng, 2, 3), leaf(rng, 2, 3)
    assert gradcheck(lambda x, y: F.mse_loss(x, y, reduction=reduction), [x, y])
    assert gradcheck(lambda x: F.mse_loss(x.T, y.detach().T, reduction=reduction), [x])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_gradcheck_bce_with_logits(backend, rng, reduction):
    y = tt.tensor(rng.uniform(0, 1, (2, 3)), dtype=tt.float64)
    pw = tt.tensor([0.5, 1.0, 3.0], dtype=tt.float64)
    x = leaf(rng, 2, 3, low=-4, high=4)
    assert gradcheck(lambda x: F.binary_cross_entropy_with_logits(
        x, y, reduction=reduction), [x])
    assert gradcheck(lambda x: F.binary_cross_entropy_with_logits(
        x, y, reduction=reduction, pos_weight=pw), [x])


# --- 3. cross-entropy: magnitudes, reductions, ignored rows, kernel calls ----------------

@pytest.mark.parametrize("dtype", [tt.float32, tt.float64])
def test_cross_entropy_is_finite_and_correct_at_1e4(backend, dtype):
    x = tt.tensor([[1e4, 0.0, -1e4], [-1e4, 1e4, 1e4 - 2.0], [1e4, 1e4, 1e4]], dtype=dtype,
                  requires_grad=True)
    t = tt.tensor([2, 2, 0])
    loss = F.cross_entropy(x, t, reduction="none")
    e2 = math.exp(-2)
    want = [2e4 + math.log1p(math.exp(-1e4)), 2 + math.log1p(e2), math.log(3)]
    assert_close(loss, want)
    total = F.cross_entropy(x, t, label_smoothing=0.1)
    assert math.isfinite(total.item())
    total.backward()
    assert np.isfinite(x.grad.numpy()).all()
    g = np.array([[1, 0, -1], [0, 1 / (1 + e2), e2 / (1 + e2) - 1], [1 / 3 - 1, 1 / 3, 1 / 3]])
    g = (0.9 * g + 0.1 * (np.exp(o_log_softmax(x.detach().numpy())) - 1 / 3)) / 3
    assert_close(x.grad, g, atol=1e-6)


def test_cross_entropy_reductions_and_ignored_rows(backend, rng):
    x = tt.tensor(rng.standard_normal((5, 4)), dtype=tt.float64)
    t = tt.tensor([3, -100, 0, -100, 2])
    per_row, _ = o_cross_entropy(x.numpy(), t.numpy())
    assert_close(F.cross_entropy(x, t, reduction="none"), per_row)
    assert_close(F.cross_entropy(x, t, reduction="sum"), per_row.sum())
    assert_close(F.cross_entropy(x, t), per_row.sum() / 3)  # 3 rows are not ignored
    # all ignored: the mean is 0/0 = NaN as in PyTorch, the sum 0, the gradient 0
    x.requires_grad_(True)
    every = tt.tensor([-100] * 5)
    mean = F.cross_entropy(x, every, label_smoothing=0.2)
    assert math.isnan(mean.item())
    mean.backward()
    assert x.grad.tolist() == [[0.0] * 4] * 5
    assert F.cross_entropy(x, every, reduction="sum").item() == 0.0


def test_cross_entropy_shapes_dtypes_and_empty_batches(backend):
    x1 = tt.tensor([1.0, 2.0, 3.0])
    loss = F.cross_entropy(x1, tt.tensor(2), reduction="none")
    assert loss.shape == () and loss.dtype == tt.float32
    assert_close(loss, -o_log_softmax(np.array([1.0, 2.0, 3.0]))[2])
    x = tt.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=tt.float64)
    for dtype in (tt.int32, tt.int8, tt.uint8, tt.int64):  # any integer dtype of targets
        assert_close(F.cross_entropy(x, tt.tensor([1, 0], dtype=dtype)),
                     F.cross_entropy(x, tt.tensor([1, 0])))
    empty = tt.zeros(0, 3)
    assert math.isnan(F.cross_entropy(empty, tt.zeros(0, dtype=tt.int64)).item())
    assert F.cross_entropy(empty, tt.zeros(0, dtype=tt.int64), reduction="sum").item() == 0
    assert F.cross_entropy(empty, tt.zeros(0, dtype=tt.int64), reduction="none").shape == (0,)


def test_cross_entropy_runs_one_kernel_each_way(kernel_log, rng):
    """Fused: one forward kernel plus the float64 sum, one backward kernel (the 1/N of the
    mean is folded into its g), and no copy of a contiguous input."""
    x = tt.tensor(rng.standard_normal((8, 5)), requires_grad=True)
    loss = F.cross_entropy(x, tt.tensor([0, 1, 2, 3, 4, 0, 1, 2]))
    assert kernel_log == ["cross_entropy_forward", "sum_forward"]
    kernel_log.clear()
    loss.backward()
    assert kernel_log[0] == "cross_entropy_backward"
    assert kernel_log.count("cross_entropy_backward") == 1
    assert not any(k.startswith(("mul", "div", "sum", "exp")) for k in kernel_log), kernel_log


def test_softmax_fast_path_copies_nothing_and_other_dims_are_contiguous(kernel_log, rng):
    x = tt.tensor(rng.standard_normal((2, 3, 4)))
    y = F.softmax(x, dim=-1)
    assert kernel_log == ["softmax_forward"] and y.is_contiguous()
    for dim in (0, 1):
        y = F.log_softmax(x, dim)
        assert y.is_contiguous() and y.shape == x.shape
        want = np.moveaxis(o_log_softmax(np.moveaxis(x.numpy(), dim, -1)), -1, dim)
        assert_close(y, want)


def test_nll_of_log_softmax_equals_cross_entropy(backend, rng):
    x = tt.tensor(rng.standard_normal((4, 3)), dtype=tt.float64)
    t = tt.tensor([0, 2, -100, 1])
    for reduction in ("mean", "sum", "none"):
        assert_close(F.nll_loss(F.log_softmax(x, 1), t, reduction=reduction),
                     F.cross_entropy(x, t, reduction=reduction))


def test_elementwise_losses_broadcast_nothing_and_keep_dtypes(backend):
    x = tt.tensor([[0.5, -1.0]], dtype=tt.float64)
    y = tt.tensor([[1.0, 0.0]])
    out = F.mse_loss(x, y, reduction="none")
    assert out.dtype == tt.float64 and out.tolist() == [[0.25, 1.0]]
    assert math.isnan(F.mse_loss(tt.zeros(0), tt.zeros(0)).item())  # mean of nothing


def test_dropout_identity_zeros_and_mask_in_backward(backend):
    x = tt.ones(3, 4, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x
    zeros = F.dropout(x, 1.0)
    assert zeros.tolist() == [[0.0] * 4] * 3
    tt.manual_seed(3)
    y = F.dropout(x, 0.25)
    assert set(y.flatten().tolist()) <= {0.0, float(np.float32(4 / 3))}
    y.backward(tt.ones(3, 4))
    assert x.grad.tolist() == y.tolist()  # the same scaled mask multiplies the gradient


def test_dropout_is_reproducible_and_keeps_the_expected_fraction():
    x = tt.ones(400, 500)
    tt.manual_seed(123)
    a = F.dropout(x, 0.3).numpy()
    tt.manual_seed(123)
    b = F.dropout(x, 0.3).numpy()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, F.dropout(x, 0.3).numpy())  # the generator moved on
    kept = (a != 0).mean()
    sigma = math.sqrt(0.3 * 0.7 / a.size)
    assert abs(kept - 0.7) < 5 * sigma, kept
    assert np.allclose(a[a != 0], 1 / 0.7)
    assert abs(a.mean() - 1.0) < 5 * sigma / 0.7  # inverted dropout keeps the mean


def test_linear_and_flatten(backend):
    x = tt.arange(6.0).reshape(2, 3)
    w = tt.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    assert F.linear(x, w).tolist() == [[0.0, 3.0], [3.0, 9.0]]
    assert F.linear(x, w, tt.tensor([1.0, -1.0])).tolist() == [[1.0, 2.0], [4.0, 8.0]]
    assert F.linear(tt.ones(3), w).tolist() == [1.0, 2.0]
    z = tt.zeros(2, 3, 4, 5)
    assert F.flatten(z).shape == (2, 60)
    assert F.flatten(z, 1, 2).shape == (2, 12, 5)
    assert F.flatten(z, 0, -1).shape == (120,)
    assert F.flatten(z, 2, 2).shape == z.shape
    assert F.flatten(tt.tensor(1.0), 0).shape == (1,)
    assert F.flatten(z).shares_storage(z)


# --- 4. PyTorch cross-checks --------------------------------------------------------------

def _torch_pair(rng, shape, low=-3.0, high=3.0):
    torch = pytest.importorskip("torch")
    arr = rng.uniform(low, high, shape)
    return (tt.tensor(arr, dtype=tt.float64, requires_grad=True),
            torch.tensor(arr, dtype=torch.float64, requires_grad=True))


def _compare_with_torch(ours, theirs, x, tx, weights):
    assert_close(ours, theirs.detach().numpy())
    torch = pytest.importorskip("torch")
    (ours * tt.tensor(weights)).sum().backward()
    (theirs * torch.tensor(weights)).sum().backward()
    assert_close(x.grad, tx.grad.numpy())


TORCH_ACTIVATIONS = [
    ("gelu", {}), ("gelu", {"approximate": "tanh"}), ("leaky_relu", {}),
    ("leaky_relu", {"negative_slope": 0.3}), ("relu", {}), ("sigmoid", {}), ("tanh", {}),
    ("softmax", {"dim": 1}), ("softmax", {"dim": 0}), ("log_softmax", {"dim": -1}),
    ("log_softmax", {"dim": 0}), ("flatten", {"start_dim": 1}),
    ("flatten", {"start_dim": 0, "end_dim": 1}),
]


@pytest.mark.parametrize("name,kwargs", TORCH_ACTIVATIONS, ids=str)
def test_activations_match_pytorch(rng, name, kwargs):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (3, 4, 2))
    ours = getattr(F, name)(x, **kwargs)
    theirs = getattr(torch.nn.functional, name, getattr(torch, name, None))(tx, **kwargs)
    _compare_with_torch(ours, theirs, x, tx, rng.uniform(0.5, 1.5, ours.shape))


def test_linear_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (5, 4))
    w, tw = _torch_pair(rng, (3, 4))
    b, tb = _torch_pair(rng, (3,))
    ours, theirs = F.linear(x, w, b), torch.nn.functional.linear(tx, tw, tb)
    _compare_with_torch(ours, theirs, x, tx, rng.uniform(0.5, 1.5, (5, 3)))
    assert_close(w.grad, tw.grad.numpy())
    assert_close(b.grad, tb.grad.numpy())


def test_dropout_matches_pytorch_in_distribution_and_scale():
    torch = pytest.importorskip("torch")
    x = tt.ones(200, 100)
    ours = F.dropout(x, 0.2).numpy()
    theirs = torch.nn.functional.dropout(torch.ones(200, 100), 0.2).numpy()
    assert set(np.unique(ours)) == set(np.unique(theirs)) == {0.0, np.float32(1.25)}
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < 0.02


LOSS_KWARGS = [
    {}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.2},
    {"ignore_index": 2}, {"ignore_index": 2, "label_smoothing": 0.3, "reduction": "none"},
    {"ignore_index": -100, "label_smoothing": 1.0},
]


@pytest.mark.parametrize("kwargs", LOSS_KWARGS, ids=str)
def test_cross_entropy_matches_pytorch(rng, kwargs):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (6, 5))
    t = np.array([0, 2, 4, 2, -100, 1])
    if kwargs.get("ignore_index", -100) != -100:
        t[4] = 3
    ours = F.cross_entropy(x, tt.tensor(t), **kwargs)
    theirs = torch.nn.functional.cross_entropy(tx, torch.tensor(t), **kwargs)
    _compare_with_torch(ours, theirs, x, tx, rng.uniform(0.5, 1.5, ours.shape))


def test_cross_entropy_1d_and_large_logits_match_pytorch(rng):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (5,))
    _compare_with_torch(F.cross_entropy(x, tt.tensor(3), label_smoothing=0.1),
                        torch.nn.functional.cross_entropy(tx, torch.tensor(3),
                                                          label_smoothing=0.1), x, tx, 1.0)
    big = np.array([[1e4, -1e4, 0.0], [3e4, 3e4 - 1, -2e4]], np.float32)
    t = np.array([1, 1])
    ours = F.cross_entropy(tt.tensor(big), tt.tensor(t), reduction="none",
                           label_smoothing=0.05)
    theirs = torch.nn.functional.cross_entropy(torch.tensor(big), torch.tensor(t),
                                               reduction="none", label_smoothing=0.05)
    assert_close(ours, theirs.numpy())


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                    {"ignore_index": 1}], ids=str)
def test_nll_loss_matches_pytorch(rng, kwargs):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (4, 3))
    t = np.array([0, 1, 2, 1])
    ours = F.nll_loss(x, tt.tensor(t), **kwargs)
    theirs = torch.nn.functional.nll_loss(tx, torch.tensor(t), **kwargs)
    _compare_with_torch(ours, theirs, x, tx, rng.uniform(0.5, 1.5, ours.shape))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_pytorch(rng, reduction):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (3, 4))
    y, ty = _torch_pair(rng, (3, 4))
    ours = F.mse_loss(x, y, reduction=reduction)
    theirs = torch.nn.functional.mse_loss(tx, ty, reduction=reduction)
    _compare_with_torch(ours, theirs, x, tx, rng.uniform(0.5, 1.5, ours.shape))
    assert_close(y.grad, ty.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("pos_weight", [None, (4,), (3, 1)], ids=str)
def test_bce_with_logits_matches_pytorch(rng, reduction, pos_weight):
    torch = pytest.importorskip("torch")
    x, tx = _torch_pair(rng, (3, 4), low=-20, high=20)
    y = rng.uniform(0, 1, (3, 4))
    pw = tpw = None
    if pos_weight is not None:
        w = rng.uniform(0.2, 4, pos_weight)
        pw, tpw = tt.tensor(w, dtype=tt.float64), torch.tensor(w)
    ours = F.binary_cross_entropy_with_logits(x, tt.tensor(y, dtype=tt.float64),
                                              reduction=reduction, pos_weight=pw)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        tx, torch.tensor(y), reduction=reduction, pos_weight=tpw)
    _compare_with_torch(ours, theirs, x, tx, rng.uniform(0.5, 1.5, ours.shape))


# --- 5. bad input: the error, and no kernel ran ------------------------------------------




def test_the_spy_sees_these_kernels(spy):
    with pytest.raises(KernelCalled):
        F.cross_entropy(tt.zeros(2, 3), tt.tensor([0, 1]))
    assert spy == ["cross_entropy_forward"]
    spy.clear()


X = tt.zeros(4, 5)
T = tt.tensor([0, 1, 2, 3])

BAD = {  # name: (call, error type, fragments of the message)
    "float target": (lambda: F.cross_entropy(X, tt.zeros(4)), TypeError,
                     ["integer dtype", "float32", ".long()"]),
    "bool target": (lambda: F.cross_entropy(X, tt.tensor([True] * 4)), TypeError,
                    ["bool"]),
    "target shape": (lambda: F.cross_entropy(X, tt.tensor([0, 1, 2])), ValueError,
                     ["(3,)", "(4, 5)"]),
    "2-d target": (lambda: F.nll_loss(X, tt.zeros(4, 1, dtype=tt.int64)), ValueError,
                   ["(4, 1)", "(4, 5)"]),
    "0-d target for 2-d input": (lambda: F.cross_entropy(X, tt.tensor(1)), ValueError,
                                 ["()", "(4, 5)"]),
    "class too large": (lambda: F.cross_entropy(X, tt.tensor([0, 5, 1, 9])), ValueError,
                        ["target[1] = 5", "5 classes", "[0, 4]"]),
    "negative class": (lambda: F.cross_entropy(X, tt.tensor([0, 1, -1, 2])), ValueError,
                       ["target[2] = -1", "ignore_index (-100)"]),
    "class out of range, 0-d target": (lambda: F.cross_entropy(tt.zeros(3), tt.tensor(3)),
                                       ValueError, ["target = 3", "3 classes"]),
    "int8 target out of range": (lambda: F.nll_loss(X, tt.tensor([0, 1, 2, 100],
                                                                 dtype=tt.int8)),
                                 ValueError, ["target[3] = 100"]),
    "ignore_index that is not a target": (lambda: F.cross_entropy(X, T, ignore_index=1.5),
                                          TypeError, ["ignore_index", "float"]),
    "bad reduction": (lambda: F.cross_entropy(X, T, reduction="avg"), ValueError,
                      ["'avg'", "'mean', 'sum', 'none'"]),
    "reduction not a string": (lambda: F.mse_loss(X, X, reduction=None), TypeError,
                               ["reduction", "'mean', 'sum', 'none'"]),
    "nll bad reduction": (lambda: F.nll_loss(X, T, reduction="max"), ValueError, ["'max'"]),
    "bce bad reduction": (lambda: F.binary_cross_entropy_with_logits(X, X, "batchmean"),
                          ValueError, ["'batchmean'"]),
    "label_smoothing > 1": (lambda: F.cross_entropy(X, T, label_smoothing=1.5), ValueError,
                            ["label_smoothing", "[0, 1]", "1.5"]),
    "label_smoothing < 0": (lambda: F.cross_entropy(X, T, label_smoothing=-0.1), ValueError,
                            ["label_smoothing", "-0.1"]),
    "label_smoothing nan": (lambda: F.cross_entropy(X, T, label_smoothing=math.nan),
                            ValueError, ["label_smoothing"]),
    "label_smoothing a string": (lambda: F.cross_entropy(X, T, label_smoothing="0.1"),
                                 TypeError, ["label_smoothing", "str"]),
    "integer logits": (lambda: F.cross_entropy(tt.zeros(4, 5, dtype=tt.int64), T), TypeError,
                       ["floating point", "int64"]),
    "3-d logits": (lambda: F.cross_entropy(tt.zeros(4, 5, 2), T), ValueError,
                   ["(N, C)", "(4, 5, 2)"]),
    "no classes": (lambda: F.cross_entropy(tt.zeros(4, 0), T), ValueError, ["C = 0"]),
    "not a tensor": (lambda: F.cross_entropy([[0.0, 1.0]], T), TypeError, ["Tensor", "list"]),
    "dropout p > 1": (lambda: F.dropout(X, 1.5), ValueError, ["[0, 1]", "1.5"]),
    "dropout p < 0": (lambda: F.dropout(X, -0.1), ValueError, ["[0, 1]", "-0.1"]),
    "dropout p a string": (lambda: F.dropout(X, "0.5"), TypeError, ["p", "str"]),
    "dropout training not a bool": (lambda: F.dropout(X, 0.5, training="yes"), TypeError,
                                    ["training"]),
    "dropout of ints": (lambda: F.dropout(tt.ones(3, dtype=tt.int64)), TypeError, ["int64"]),
    "mse shapes": (lambda: F.mse_loss(tt.zeros(3, 2), tt.zeros(2, 3)), ValueError,
                   ["(2, 3)", "(3, 2)"]),
    "mse int target": (lambda: F.mse_loss(X, tt.zeros(4, 5, dtype=tt.int64)), TypeError,
                       ["target", "int64"]),
    "bce shapes": (lambda: F.binary_cross_entropy_with_logits(X, tt.zeros(4)), ValueError,
                   ["(4,)", "(4, 5)"]),
    "bce pos_weight shape": (lambda: F.binary_cross_entropy_with_logits(
        X, X, pos_weight=tt.ones(4)), ValueError, ["pos_weight", "(4,)", "(4, 5)"]),
    "bce target requires grad": (lambda: F.binary_cross_entropy_with_logits(
        X, tt.zeros(4, 5, requires_grad=True)), NotImplementedError, ["target", "detach"]),
    "gelu approximate": (lambda: F.gelu(X, approximate="fast"), ValueError,
                         ["'fast'", "'none'", "'tanh'"]),
    "gelu of ints": (lambda: F.gelu(tt.ones(2, dtype=tt.int32)), TypeError, ["int32"]),
    "leaky_relu slope": (lambda: F.leaky_relu(X, "0.1"), TypeError, ["negative_slope"]),
    "softmax dim": (lambda: F.softmax(X, 2), IndexError, ["[-2, 1]", "2"]),
    "log_softmax of ints": (lambda: F.log_softmax(tt.ones(2, dtype=tt.int64), 0), TypeError,
                            ["int64"]),
    "linear features": (lambda: F.linear(tt.zeros(2, 3), tt.zeros(4, 5)), ValueError,
                        ["(2, 3)", "(4, 5)", "3 features"]),
    "linear bias": (lambda: F.linear(tt.zeros(2, 3), tt.zeros(4, 3), tt.zeros(3)), ValueError,
                    ["(4,)", "(3,)"]),
    "linear 1-d weight": (lambda: F.linear(tt.zeros(2, 3), tt.zeros(3)), ValueError,
                          ["2-D", "(3,)"]),
    "flatten dims": (lambda: F.flatten(tt.zeros(2, 3, 4), 2, 1), ValueError,
                     ["start_dim (2)", "end_dim (1)"]),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_input_is_refused_before_any_kernel(spy, name):
    call, exc, fragments = BAD[name]
    with pytest.raises(exc) as info:
        call()
    for fragment in fragments:
        assert fragment in str(info.value), f"{fragment!r} not in: {info.value}"
