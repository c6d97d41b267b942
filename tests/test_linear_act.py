"""The fused linear + activation op (``act(x @ w.T + b)`` in one kernel each way): kernels
against a numpy oracle on every backend, gradcheck in float64 on every backend, agreement
with the unfused ``linear`` then activation, the fused layers, bad input refused before any
kernel, and a torch cross-check."""

import math

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import dispatch
from tinytorch.kernels import linear_act as K
from tinytorch.nn.fused import LinearGELU, LinearReLU
from tinytorch.ops.linear_act import ACTIVATIONS, linear_act, linear_gelu, linear_relu
from tinytorch.testing import assert_close, gradcheck, no_kernel_runs, tolerances

ACTS = sorted(ACTIVATIONS)
_erf = np.vectorize(math.erf)


def _act(z, name):
    """The numpy oracle of each activation, in float64."""
    if name == "relu":
        return np.where(z < 0, 0.0, z)
    if name == "gelu":
        return 0.5 * z * (1 + _erf(z / math.sqrt(2)))
    return 0.5 * z * (1 + np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z**3)))


def _act_grad(z, name):
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "gelu":
        return 0.5 * (1 + _erf(z / math.sqrt(2))) + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    k = math.sqrt(2 / math.pi)
    t = np.tanh(k * (z + 0.044715 * z**3))
    return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * k * (1 + 3 * 0.044715 * z * z)


def _operands(rng, m, k, n, dtype, strided):
    x = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    g = rng.standard_normal((m, n)).astype(dtype)
    if strided:  # a column-major x, a w with a stride of 2 along k, a strided g
        x = np.asfortranarray(x)
        w = np.repeat(w, 2, axis=1)[:, ::2]
        g = np.asfortranarray(g)
    return x, w, b, g


# M from 1 to 9 covers the 4-row register blocks and every leftover count; K = 0 is a bias.
SHAPES = [(1, 1, 1), (3, 5, 7), (4, 8, 2), (5, 3, 4), (9, 6, 3), (2, 0, 3)]


@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", SHAPES)
def test_kernels_match_numpy(backend, rng, act, dtype, m, k, n):
    x, w, b, g = _operands(rng, m, k, n, dtype, strided=(m, k, n) == (5, 3, 4))
    code = ACTIVATIONS[act]
    z = x.astype(np.float64) @ w.T.astype(np.float64) + b
    out = np.full((m, n), np.nan, dtype)  # garbage in: every element must be written
    pre = np.full((m, n), np.nan, dtype) if act != "relu" else np.empty((0, 0), dtype)
    dispatch.call("linear_act_forward", out, pre, x, w, b, activation=code)
    rtol, atol = (1e-5, 1e-4) if dtype == np.float32 else (1e-10, 1e-12)
    assert_close(out, _act(z, act), rtol=rtol, atol=atol)
    if act != "relu":
        assert_close(pre, z, rtol=rtol, atol=atol)
    saved = out if act == "relu" else pre
    gx = np.full((m, k), np.nan, dtype)
    gw = np.full((n, k), np.nan, dtype)
    gb = np.full(n, np.nan, dtype)
    dispatch.call("linear_act_backward", gx, gw, gb, g, x, w, saved, True, activation=code)
    dz = g.astype(np.float64) * _act_grad(z, act)
    assert_close(gx, dz @ w, rtol=rtol, atol=atol)
    assert_close(gw, dz.T @ x, rtol=rtol, atol=atol)
    assert_close(gb, dz.sum(0), rtol=rtol, atol=atol)


@pytest.mark.parametrize("act", ACTS)
def test_backward_without_grad_x_leaves_it_alone(backend, rng, act):
    x, w, b, g = _operands(rng, 3, 4, 2, np.float64, strided=False)
    z = x @ w.T + b
    saved = _act(z, "relu") if act == "relu" else z
    gw, gb = np.empty((2, 4)), np.empty(2)
    untouched = np.empty((0, 0))
    dispatch.call("linear_act_backward", untouched, gw, gb, g, x, w, saved, False,
                  activation=ACTIVATIONS[act])
    assert_close(gw, (g * _act_grad(z, act)).T @ x)


def test_relu_passes_nan_and_masks_its_gradient(backend):
    x = np.array([[np.nan, 1.0], [-2.0, 1.0]])
    w, b = np.array([[1.0, 0.0]]), np.zeros(1)
    out = np.empty((2, 1))
    dispatch.call("linear_act_forward", out, np.empty((0, 0)), x, w, b, activation=0)
    assert np.isnan(out[0, 0]) and out[1, 0] == 0.0  # NaN passes; -2 is clamped
    gx, gw, gb = np.empty((2, 2)), np.empty((1, 2)), np.empty(1)
    g = np.array([[5.0], [np.nan]])  # a NaN gradient on an inactive unit does not leak
    dispatch.call("linear_act_backward", gx, gw, gb, g, x[1:].repeat(2, 0), w, out, True,
                  activation=0)
    assert gb.tolist() == [0.0] and not np.isnan(gx).any()


def test_register_blocked_kernel_covers_the_leftover_rows(rng):
    for m in range(1, 10):
        for act in ACTS:
            x, w = rng.standard_normal((m, 6)), rng.standard_normal((5, 6))
            b = rng.standard_normal(5)
            out, pre = np.empty((m, 5)), np.empty((m, 5))
            K.linear_act_forward_jit_rows4(out, pre, x, w, b, ACTIVATIONS[act])
            assert_close(out, _act(x @ w.T + b, act), rtol=1e-10, atol=1e-12)


# --- the op and its gradients --------------------------------------------------------------

@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_gradcheck_every_backend(backend, rng, act, shape):
    x = tt.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tt.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = tt.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: linear_act(x, w, b, act), [x, w, b])
    assert gradcheck(lambda x, w: linear_act(x, w, activation=act), [x, w])


@pytest.mark.parametrize("act", ACTS)
def test_fused_equals_linear_then_activation(backend, rng, act):
    """Forward and all three gradients agree with the unfused tensor-API chain."""
    x0, w0, b0 = rng.standard_normal((6, 5)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    g = tt.tensor(rng.standard_normal((6, 4)))
    unfused_act = {"relu": tt.relu, "gelu": tt.nn.functional.gelu,
                   "gelu_tanh": lambda t: tt.nn.functional.gelu(t, approximate="tanh")}[act]
    grads = []
    for fused in (True, False):
        x, w, b = (tt.tensor(a, requires_grad=True) for a in (x0, w0, b0))
        y = linear_act(x, w, b, act) if fused else unfused_act(tt.ops.linear(x, w, b))
        y.backward(g)
        grads.append((y, x.grad, w.grad, b.grad))
    for ours, theirs in zip(*grads, strict=True):
        assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_named_variants_and_a_fused_call_each_way(rng):
    x = tt.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = tt.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    seen = []

    def hook(op, backend, args, params):
        import contextlib
        seen.append((op, params.get("activation")))
        return contextlib.nullcontext()

    dispatch.add_hook(hook)
    try:
        linear_relu(x, w).sum().backward()
        linear_gelu(x, w).sum().backward()
        linear_gelu(x, w, approximate="tanh").sum().backward()
    finally:
        dispatch.remove_hook(hook)
    fused = [s for s in seen if s[0].startswith("linear_act")]
    assert fused == [("linear_act_forward", 0), ("linear_act_backward", 0),
                     ("linear_act_forward", 1), ("linear_act_backward", 1),
                     ("linear_act_forward", 2), ("linear_act_backward", 2)]
    assert not any(op.startswith(("relu", "gelu", "linear_f", "linear_b")) for op, _ in seen)


def test_shapes_no_grad_and_empty_batches():
    w = tt.ones(4, 3)
    assert linear_relu(tt.ones(3), w).shape == (4,)
    assert linear_relu(tt.ones(2, 5, 3), w, tt.zeros(4)).shape == (2, 5, 4)
    assert linear_gelu(tt.ones(0, 3), w).shape == (0, 4)
    x = tt.ones(2, 3, requires_grad=True)
    with tt.no_grad():
        y = linear_relu(x, w)
    assert y.grad_fn is None and not y.requires_grad
    x0 = tt.ones(0, 3, requires_grad=True)
    wg = tt.ones(4, 3, requires_grad=True)
    linear_gelu(x0, wg).sum().backward()
    assert wg.grad.tolist() == [[0.0] * 3] * 4 and x0.grad.shape == (0, 3)


def test_writing_the_relu_output_in_place_before_backward_is_an_error():
    """ReLU's backward reads the saved output: an in-place write to it must be caught."""
    x = tt.ones(2, 3, requires_grad=True)
    y = linear_relu(x, tt.ones(4, 3))
    with tt.no_grad():  # the only way tinytorch allows the write
        y += 1
    with pytest.raises(RuntimeError, match="version"):
        y.sum().backward()


def test_float32_agrees_with_float64(rng):
    x, w, b = rng.standard_normal((7, 33)), rng.standard_normal((9, 33)), rng.standard_normal(9)
    out = linear_gelu(tt.tensor(x, dtype=tt.float32), tt.tensor(w, dtype=tt.float32),
                      tt.tensor(b, dtype=tt.float32))
    rtol, atol = tolerances(tt.float32)
    assert out.dtype == tt.float32
    assert_close(out, _act(x @ w.T + b, "gelu"), rtol=rtol * 10, atol=atol * 10)


# --- the fused layers ----------------------------------------------------------------------

def test_fused_layers_match_linear_then_activation(rng):
    x = tt.tensor(rng.standard_normal((5, 6)).astype(np.float32))
    for fused_cls, kwargs, act in [(LinearReLU, {}, tt.relu),
                                   (LinearGELU, {}, tt.nn.functional.gelu),
                                   (LinearGELU, {"approximate": "tanh"},
                                    lambda t: tt.nn.functional.gelu(t, approximate="tanh"))]:
        tt.manual_seed(3)
        fused = fused_cls(6, 4, **kwargs)
        tt.manual_seed(3)
        plain = tt.nn.Linear(6, 4)
        assert sorted(fused.state_dict()) == sorted(plain.state_dict()) == ["bias", "weight"]
        assert_close(fused(x), act(plain(x)))
        fused(x).sum().backward()
        act(plain(x)).sum().backward()
        assert_close(fused.weight.grad, plain.weight.grad)
        assert_close(fused.bias.grad, plain.bias.grad)
    assert repr(LinearReLU(2, 3, bias=False)) == \
        "LinearReLU(in_features=2, out_features=3, bias=False)"


def test_fused_layer_trains_in_a_sequential(rng):
    tt.manual_seed(0)
    model = tt.nn.Sequential(LinearReLU(4, 8), tt.nn.Linear(8, 3))
    opt = tt.optim.SGD(model.parameters(), lr=0.1)
    x = tt.tensor(rng.standard_normal((16, 4)).astype(np.float32))
    y = tt.tensor(rng.integers(0, 3, 16))
    losses = []
    for _ in range(20):
        loss = tt.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_fused_layer_errors_name_the_layer():
    layer = LinearReLU(3, 2)
    with pytest.raises(ValueError, match=r"in_features=3.*got shape \(2, 5\)"):
        layer(tt.ones(2, 5))
    with pytest.raises(TypeError, match="must be a Tensor"):
        layer([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="approximate='fast'"):
        LinearGELU(3, 2, approximate="fast")
    with pytest.raises(TypeError, match="approximate must be a string"):
        LinearGELU(3, 2, approximate=1)


# --- bad input -----------------------------------------------------------------------------

@pytest.mark.parametrize("fn, args, error, message", [
    (linear_relu, (tt.ones(2, 3), tt.ones(4, 5)), ValueError,
     r"linear_relu\(\): input of shape \(2, 3\) has 3 features but weight of shape \(4, 5\) "
     r"expects in_features=5"),
    (linear_relu, (tt.ones(2, 3), tt.ones(3)), ValueError, "weight must be 2-D"),
    (linear_relu, (tt.ones(2, 3), tt.ones(4, 3), tt.ones(3)), ValueError,
     r"bias must have shape \(4,\)"),
    (linear_relu, (tt.ones(2, 3, dtype=tt.float64), tt.ones(4, 3)), TypeError,
     "same floating dtype"),
    (linear_relu, (tt.ones(2, 3, dtype=tt.int64), tt.ones(4, 3, dtype=tt.int64)), TypeError,
     "same floating dtype"),
    (linear_relu, (tt.ones(2, 3), tt.ones(4, 3), tt.ones(4, dtype=tt.float64)), TypeError,
     "bias dtype float64 differs"),
    (linear_relu, ([1.0], tt.ones(4, 1)), TypeError, "input must be a Tensor"),
    (linear_relu, (tt.ones(2, 1), tt.ones(4, 1), [0.0] * 4), TypeError,
     "bias must be a Tensor"),
    (linear_relu, (tt.ones(()), tt.ones(4, 1)), ValueError, "has no features"),
    (linear_act, (tt.ones(2, 3), tt.ones(4, 3), None, "tanh"), ValueError,
     r"activation='tanh' is not supported; use one of relu, gelu, gelu_tanh"),
    (linear_act, (tt.ones(2, 3), tt.ones(4, 3), None, None), TypeError,
     "activation must be a string"),
    (linear_gelu, (tt.ones(2, 3), tt.ones(4, 3), None, "exact"), ValueError,
     "approximate='exact' is not supported"),
    (linear_gelu, (tt.ones(2, 3), tt.ones(4, 3), None, True), TypeError,
     "approximate must be a string"),
])
def test_bad_input_is_refused_before_any_kernel(fn, args, error, message):
    with no_kernel_runs() as calls, pytest.raises(error, match=message):
        fn(*args)
    assert calls == []


# --- PyTorch ---------------------------------------------------------------------------------

@pytest.mark.parametrize("act", ACTS)
def test_matches_torch(rng, act):
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal((5, 7)), rng.standard_normal((3, 7)), rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    lin = torch.nn.functional.linear(tx, tw, tb)
    ty = {"relu": torch.relu, "gelu": torch.nn.functional.gelu,
          "gelu_tanh": lambda t: torch.nn.functional.gelu(t, approximate="tanh")}[act](lin)
    ty.backward(torch.tensor(g))
    xs, ws, bs = (tt.tensor(a, requires_grad=True) for a in (x, w, b))
    out = linear_act(xs, ws, bs, act)
    out.backward(tt.tensor(g))
    assert_close(out, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    for ours, theirs in ((xs, tx), (ws, tw), (bs, tb)):
        assert_close(ours.grad, theirs.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("act", ACTS)
def test_split_backward_is_bit_identical_to_the_naive_order(rng, act):
    """The jit backward splits the naive loop nest in two (for the caches) but keeps every
    sum in the same order: the same bits as the naive source compiled."""
    x, w, b, g = _operands(rng, 7, 9, 5, np.float32, strided=False)
    z = (x @ w.T + b).astype(np.float32)
    saved = np.maximum(z, 0) if act == "relu" else z
    results = []
    for kernel in (K.linear_act_backward_jit, K.linear_act_backward_jit_naive):
        grads = (np.empty_like(x), np.empty_like(w), np.empty_like(b))
        kernel(*grads, g, x, w, saved, True, activation=ACTIVATIONS[act])
        results.append(grads)
    for split, naive in zip(*results, strict=True):
        np.testing.assert_array_equal(split, naive)
