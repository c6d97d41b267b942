"""Conv2d (issue 4): every kernel variant against an independent numpy oracle on every
backend, gradcheck on every CPU backend, PyTorch cross-checks of the forward and all three
gradients, bad input refused before any kernel, ``nn.Conv2d`` (init, repr), the im2col
memory trade, and the cuda kernel under numba's simulator."""

from __future__ import annotations

import contextlib
import math
import tracemalloc

import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from tinytorch import dispatch, nn
from tinytorch.kernels import conv as K
from tinytorch.kernels import conv_im2col
from tinytorch.testing import assert_close, gradcheck

# --- an independent oracle: explicit padding, one einsum per kernel tap ----------------------


def oracle(x, w, b, stride, pads, dil, groups):
    """Forward in float64. ``pads`` = ((top, bottom), (left, right))."""
    N, C_in, H, W = x.shape
    C_out, C_g, KH, KW = w.shape
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *pads))
    OH = (xp.shape[2] - dil[0] * (KH - 1) - 1) // stride[0] + 1
    OW = (xp.shape[3] - dil[1] * (KW - 1) - 1) // stride[1] + 1
    out = np.zeros((N, C_out, OH, OW)) + b.astype(np.float64)[None, :, None, None]
    O_g = C_out // groups
    for g in range(groups):
        cs, os = slice(g * C_g, (g + 1) * C_g), slice(g * O_g, (g + 1) * O_g)
        for kh in range(KH):
            for kw in range(KW):
                patch = xp[:, cs, kh * dil[0]:kh * dil[0] + (OH - 1) * stride[0] + 1:stride[0],
                           kw * dil[1]:kw * dil[1] + (OW - 1) * stride[1] + 1:stride[1]]
                out[:, os] += np.einsum("nchw,oc->nohw", patch, w[os, :, kh, kw])
    return out


def oracle_grads(g, x, w, stride, pads, dil, groups):
    """(grad_x, grad_w, grad_b) in float64, by the chain rule on the oracle's taps."""
    N, C_in, H, W = x.shape
    C_out, C_g, KH, KW = w.shape
    OH, OW = g.shape[2], g.shape[3]
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *pads))
    gxp = np.zeros_like(xp)
    gw = np.zeros(w.shape)
    O_g = C_out // groups
    for grp in range(groups):
        cs, os = slice(grp * C_g, (grp + 1) * C_g), slice(grp * O_g, (grp + 1) * O_g)
        for kh in range(KH):
            for kw in range(KW):
                rows = slice(kh * dil[0], kh * dil[0] + (OH - 1) * stride[0] + 1, stride[0])
                cols = slice(kw * dil[1], kw * dil[1] + (OW - 1) * stride[1] + 1, stride[1])
                gw[os, :, kh, kw] = np.einsum("nohw,nchw->oc", g[:, os], xp[:, cs, rows, cols])
                gxp[:, cs, rows, cols] += np.einsum("nohw,oc->nchw", g[:, os], w[os, :, kh, kw])
    (pt, _), (pl, _) = pads
    return gxp[:, :, pt:pt + H, pl:pl + W], gw, g.sum(axis=(0, 2, 3))


def params(stride, pads, dil, groups):
    return {"stride_h": stride[0], "stride_w": stride[1], "pad_h": pads[0][0],
            "pad_w": pads[1][0], "dil_h": dil[0], "dil_w": dil[1], "groups": groups}


# (N, C_in, H, W, C_out, KH, KW, stride, ((top, bottom), (left, right)), dilation, groups)
SHAPES = {
    "3x3-pad1": (2, 3, 7, 9, 4, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
    "odd-stride2": (2, 3, 9, 7, 5, 3, 3, (2, 2), ((1, 1), (1, 1)), (1, 1), 1),
    "stride21-rect": (1, 2, 8, 7, 3, 2, 3, (2, 1), ((0, 0), (1, 1)), (1, 1), 1),
    "dilation2": (2, 2, 9, 8, 3, 3, 3, (1, 1), ((2, 2), (2, 2)), (2, 2), 1),
    "dil12-stride2": (1, 3, 11, 10, 4, 3, 2, (2, 2), ((1, 1), (0, 0)), (1, 2), 1),
    "groups2": (2, 4, 6, 7, 6, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 2),
    "groups3-og5": (1, 6, 5, 5, 15, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 3),
    "depthwise": (1, 5, 6, 6, 5, 3, 3, (1, 1), ((1, 1), (1, 1)), (1, 1), 5),
    "cout9": (1, 1, 6, 5, 9, 3, 3, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    "1x1": (2, 6, 5, 4, 7, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    "1x1-stride2": (1, 4, 5, 5, 3, 1, 1, (2, 2), ((0, 0), (0, 0)), (1, 1), 1),
    "kernel=input": (2, 3, 5, 4, 6, 5, 4, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    "same-even-asym": (2, 3, 6, 5, 4, 4, 2, (1, 1), ((1, 2), (0, 1)), (1, 1), 1),
    "same-dilated": (1, 2, 7, 6, 3, 3, 3, (1, 1), ((2, 2), (2, 2)), (2, 2), 1),
    "one-pixel": (1, 1, 1, 1, 1, 1, 1, (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
}


def make(rng, shape_id, dtype=np.float64):
    N, C_in, H, W, C_out, KH, KW, stride, pads, dil, groups = SHAPES[shape_id]
    x = rng.standard_normal((N, C_in, H, W)).astype(dtype)
    w = rng.standard_normal((C_out, C_in // groups, KH, KW)).astype(dtype)
    b = rng.standard_normal(C_out).astype(dtype)
    return x, w, b, stride, pads, dil, groups


def within_rounding(got, exact, magnitude, terms):
    """|got - exact| <= 2 * terms * eps * magnitude: the bound for a sum of ``terms``
    products (``magnitude`` is the same sum over absolute values)."""
    eps = np.finfo(got.dtype).eps
    bound = 2 * max(terms, 1) * eps * magnitude + np.finfo(got.dtype).tiny
    excess = np.abs(got.astype(np.float64) - exact) - bound
    worst = np.unravel_index(excess.argmax(), excess.shape)
    assert excess.max() <= 0, f"{got[worst]} vs {exact[worst]} at {worst}: bound {bound[worst]}"


@contextlib.contextmanager
def kernel_calls():
    seen: list = []

    def hook(op, backend, args, p):
        seen.append((op, backend))
        return contextlib.nullcontext()

    dispatch.add_hook(hook)
    try:
        yield seen
    finally:
        dispatch.remove_hook(hook)


# --- kernels against the oracle ---------------------------------------------------------

@pytest.mark.parametrize("shape_id", SHAPES)
def test_forward_kernel_matches_oracle(backend, rng, shape_id):
    x, w, b, stride, pads, dil, groups = make(rng, shape_id)
    expected = oracle(x, w, b, stride, pads, dil, groups)
    out = np.full(expected.shape, np.nan)
    dispatch.call("conv2d_forward", out, x, w, b, **params(stride, pads, dil, groups))
    assert_close(out, expected)


@pytest.mark.parametrize("variant", K.VARIANTS)
@pytest.mark.parametrize("shape_id", SHAPES)
def test_every_forward_variant_matches_oracle(rng, variant, shape_id):
    x, w, b, stride, pads, dil, groups = make(rng, shape_id)
    expected = oracle(x, w, b, stride, pads, dil, groups)
    out = np.full(expected.shape, np.nan)
    K.VARIANTS[variant](out, x, w, b, **params(stride, pads, dil, groups))
    assert_close(out, expected)


@pytest.mark.parametrize("variant", [v for v in K.VARIANTS if v != "naive"])
def test_forward_variants_float32_within_rounding(rng, variant):
    x, w, b, stride, pads, dil, groups = make(rng, "groups3-og5", np.float32)
    exact = oracle(x, w, b, stride, pads, dil, groups)
    magnitude = oracle(np.abs(x), np.abs(w), np.abs(b), stride, pads, dil, groups)
    out = np.empty(exact.shape, np.float32)
    K.VARIANTS[variant](out, x, w, b, **params(stride, pads, dil, groups))
    within_rounding(out, exact, magnitude, w[0].size + 1)


@pytest.mark.parametrize("shape_id", ["groups3-og5", "cout9", "same-dilated", "1x1"])
def test_flat_kernel_sums_in_the_naive_order(rng, shape_id):
    """The flat planes and the 3-tap passes change the loops, not the order of each
    output's sum: equal to the direct loops bit for bit (no fastmath in the forward)."""
    x, w, b, stride, pads, dil, groups = make(rng, shape_id, np.float32)
    p = params(stride, pads, dil, groups)
    shape = oracle(x, w, b, stride, pads, dil, groups).shape
    a, c = np.empty(shape, np.float32), np.empty(shape, np.float32)
    K.conv2d_forward_jit_direct(a, x, w, b, **p)
    K.conv2d_forward_jit_flat(c, x, w, b, **p)
    np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("need", [(True, True, True), (False, True, True), (True, False, False),
                                  (False, False, True)], ids=["all", "no-x", "x-only", "b-only"])
@pytest.mark.parametrize("shape_id", SHAPES)
def test_backward_kernel_matches_oracle(backend, rng, shape_id, need):
    x, w, b, stride, pads, dil, groups = make(rng, shape_id)
    out_shape = oracle(x, w, b, stride, pads, dil, groups).shape
    g = rng.standard_normal(out_shape)
    expected = oracle_grads(g, x, w, stride, pads, dil, groups)
    grads = [np.full(x.shape, np.nan), np.full(w.shape, np.nan), np.full(b.shape, np.nan)]
    dispatch.call("conv2d_backward", *grads, g, x, w, need_x=need[0], need_w=need[1],
                  need_b=need[2], **params(stride, pads, dil, groups))
    for got, exp, wanted in zip(grads, expected, need, strict=True):
        if wanted:
            assert_close(got, exp)
        else:  # a gradient nobody asked for is not written
            assert np.isnan(got).all()


@pytest.mark.parametrize("variant", K.BACKWARD_VARIANTS)
@pytest.mark.parametrize("shape_id", ["odd-stride2", "dil12-stride2", "groups3-og5",
                                      "same-even-asym", "kernel=input"])
def test_every_backward_variant_matches_oracle(rng, variant, shape_id):
    x, w, b, stride, pads, dil, groups = make(rng, shape_id)
    g = rng.standard_normal(oracle(x, w, b, stride, pads, dil, groups).shape)
    grads = [np.empty(x.shape), np.empty(w.shape), np.empty(b.shape)]
    K.BACKWARD_VARIANTS[variant](*grads, g, x, w, need_x=True, need_w=True, need_b=True,
                                 **params(stride, pads, dil, groups))
    for got, exp in zip(grads, oracle_grads(g, x, w, stride, pads, dil, groups), strict=True):
        assert_close(got, exp)


@pytest.mark.parametrize("shape_id", ["3x3-pad1", "odd-stride2", "groups3-og5", "cout9"])
def test_parallel_builds_match_oracle(rng, monkeypatch, shape_id):
    """The launchers switch to the prange builds above PARALLEL_MIN_MACS: force them."""
    monkeypatch.setattr(K, "PARALLEL_MIN_MACS", 0)
    x, w, b, stride, pads, dil, groups = make(rng, shape_id)
    p = params(stride, pads, dil, groups)
    expected = oracle(x, w, b, stride, pads, dil, groups)
    out = np.empty(expected.shape)
    K.conv2d_forward_jit(out, x, w, b, **p)
    assert_close(out, expected)
    g = rng.standard_normal(expected.shape)
    grads = [np.empty(x.shape), np.empty(w.shape), np.empty(b.shape)]
    K.conv2d_backward_jit(*grads, g, x, w, need_x=True, need_w=True, need_b=True, **p)
    for got, exp in zip(grads, oracle_grads(g, x, w, stride, pads, dil, groups), strict=True):
        assert_close(got, exp)


def test_backward_float32_within_rounding(rng):
    x, w, b, stride, pads, dil, groups = make(rng, "3x3-pad1", np.float32)
    g = rng.standard_normal((2, 4, 7, 9)).astype(np.float32)
    exact = oracle_grads(g, x, w, stride, pads, dil, groups)
    size = oracle_grads(np.abs(g), np.abs(x), np.abs(w), stride, pads, dil, groups)
    terms = (w.shape[0] * 9, x.shape[0] * 7 * 9, x.shape[0] * 7 * 9)  # products per sum
    for backend in ("jit", "numpy"):
        grads = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
        dispatch.kernel_for("conv2d_backward", backend)[1](
            *grads, g, x, w, need_x=True, need_w=True, need_b=True,
            **params(stride, pads, dil, groups))
        for got, e, m, t in zip(grads, exact, size, terms, strict=True):
            within_rounding(got, e, m, t)


def test_kernels_accept_non_contiguous_inputs(backend, rng):
    x = rng.standard_normal((2, 5, 6, 3)).transpose(0, 3, 1, 2)  # (2, 3, 5, 6) channels-last
    w = rng.standard_normal((3, 3, 2, 3)).transpose(0, 1, 3, 2)  # (3, 3, 3, 2) swapped taps
    b = rng.standard_normal(6)[::2]
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and not b.flags.c_contiguous
    pads = ((1, 1), (0, 0))
    expected = oracle(x, w, b, (1, 1), pads, (1, 1), 1)
    out = np.empty(expected.shape)
    dispatch.call("conv2d_forward", out, x, w, b, **params((1, 1), pads, (1, 1), 1))
    assert_close(out, expected)


# --- the op: shapes, padding rules, autograd ------------------------------------------------

PADDINGS = [(0, ((0, 0), (0, 0))), (2, ((2, 2), (2, 2))), ((1, 0), ((1, 1), (0, 0))),
            ("valid", ((0, 0), (0, 0))), ("same", None)]


@pytest.mark.parametrize("padding, pads", PADDINGS, ids=lambda v: str(v))
def test_conv2d_op_padding_forms(backend, rng, padding, pads):
    x = rng.standard_normal((2, 3, 6, 5))
    w = rng.standard_normal((4, 3, 4, 3))
    b = rng.standard_normal(4)
    if pads is None:  # "same": total 3 rows (1 top, 2 bottom), 2 columns (1 left, 1 right)
        pads = ((1, 2), (1, 1))
    out = F.conv2d(tt.tensor(x), tt.tensor(w), tt.tensor(b), padding=padding)
    assert_close(out, oracle(x, w, b, (1, 1), pads, (1, 1), 1))
    if padding == "same":
        assert out.shape == (2, 4, 6, 5)


def test_same_padding_with_dilation_and_no_bias(backend, rng):
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 2, 3))
    out = F.conv2d(tt.tensor(x), tt.tensor(w), padding="same", dilation=(3, 2))
    # totals 3 * 1 = 3 rows (1 + 2) and 2 * 2 = 4 columns (2 + 2)
    assert_close(out, oracle(x, w, np.zeros(3), (1, 1), ((1, 2), (2, 2)), (3, 2), 1))
    assert out.shape == (1, 3, 7, 6)


def test_unbatched_input_and_output_shape_helper(backend, rng):
    x, w = rng.standard_normal((3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
    xt = tt.tensor(x, requires_grad=True)
    out = F.conv2d(xt, tt.tensor(w), stride=2, padding=1)
    expected = oracle(x[None], w, np.zeros(4), (2, 2), ((1, 1), (1, 1)), (1, 1), 1)[0]
    assert out.shape == tt.ops.conv.conv2d_output_shape(x.shape, w.shape, 2, 1) == (4, 4, 3)
    assert_close(out, expected)
    out.sum().backward()
    assert xt.grad.shape == (3, 7, 6)


def test_zero_batch(backend):
    x = tt.zeros(0, 3, 5, 5, requires_grad=True)
    w = tt.ones(2, 3, 3, 3, requires_grad=True)
    b = tt.ones(2, requires_grad=True)
    out = F.conv2d(x, w, b, padding=1)
    assert out.shape == (0, 2, 5, 5)
    out.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    assert w.grad.numpy().tolist() == np.zeros((2, 3, 3, 3)).tolist()
    assert b.grad.numpy().tolist() == [0.0, 0.0]


GRAD_CASES = {
    "pad1-bias": ((2, 2, 4, 5), (3, 2, 3, 3), True, {"padding": 1}),
    "stride2-dil2": ((1, 2, 7, 6), (2, 2, 2, 3), True, {"stride": 2, "dilation": 2}),
    "groups2-rect": ((1, 4, 5, 4), (4, 2, 3, 2), True, {"groups": 2, "padding": (1, 0)}),
    "same-even-no-bias": ((2, 1, 4, 5), (2, 1, 2, 4), False, {"padding": "same"}),
    "1x1-stride2": ((1, 3, 3, 3), (2, 3, 1, 1), True, {"stride": 2}),
    "unbatched": ((2, 4, 4), (3, 2, 2, 2), True, {"stride": (1, 2)}),
}


@pytest.mark.parametrize("case", GRAD_CASES)
def test_gradcheck_every_backend(backend, rng, case):
    x_shape, w_shape, bias, kw = GRAD_CASES[case]
    x = tt.tensor(rng.standard_normal(x_shape), requires_grad=True)
    w = tt.tensor(rng.standard_normal(w_shape), requires_grad=True)
    inputs = [x, w]
    if bias:
        inputs.append(tt.tensor(rng.standard_normal(w_shape[0]), requires_grad=True))
    with kernel_calls() as seen:
        assert gradcheck(lambda *t: F.conv2d(*t, **kw), inputs)
    assert ("conv2d_forward", backend) in seen and ("conv2d_backward", backend) in seen


def test_only_the_needed_gradients_are_computed(backend, rng):
    x = tt.tensor(rng.standard_normal((1, 2, 4, 4)))  # no grad: a first layer's input
    w = tt.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)
    b = tt.tensor(rng.standard_normal(3), requires_grad=True)
    seen = []

    def spy(op, name, args, p):
        if op == "conv2d_backward":
            seen.append((args[0].size, p["need_x"], p["need_w"], p["need_b"]))
        return contextlib.nullcontext()

    dispatch.add_hook(spy)
    try:
        F.conv2d(x, w, b, padding=1).sum().backward()
    finally:
        dispatch.remove_hook(spy)
    assert seen == [(0, False, True, True)] and x.grad is None
    assert_close(b.grad, [16.0] * 3)


def test_broadcast_gradient(backend, rng):
    x = tt.tensor(rng.standard_normal((2, 1, 3, 3)), requires_grad=True)
    w = tt.tensor(rng.standard_normal((2, 1, 2, 2)), requires_grad=True)
    F.conv2d(x, w).sum().backward()  # the gradient of sum() arrives as a stride-0 view
    gx, gw, _ = oracle_grads(np.ones((2, 2, 2, 2)), x.numpy(), w.numpy(), (1, 1),
                             ((0, 0), (0, 0)), (1, 1), 1)
    assert_close(x.grad, gx)
    assert_close(w.grad, gw)


# --- PyTorch cross-checks ---------------------------------------------------------------

TORCH_CASES = {
    "pad1": ((3, 3, 9, 8), (5, 3, 3, 3), {"padding": 1}),
    "stride2-dil2-groups2": ((2, 4, 11, 9), (6, 2, 3, 2),
                             {"stride": 2, "dilation": 2, "groups": 2, "padding": (1, 2)}),
    "same-even": ((2, 3, 7, 6), (4, 3, 4, 2), {"padding": "same"}),
    "same-dilated-depthwise": ((1, 4, 6, 7), (8, 1, 3, 3),
                               {"padding": "same", "dilation": (2, 1), "groups": 4}),
}


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", TORCH_CASES)
def test_matches_torch(backend, rng, case, dtype):
    torch = pytest.importorskip("torch")
    x_shape, w_shape, kw = TORCH_CASES[case]
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    b = rng.standard_normal(w_shape[0])
    tdt = getattr(torch, dtype)
    tx, tw, tb = (torch.tensor(a, dtype=tdt, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    g = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(g, dtype=tdt))
    ours = [tt.tensor(a, dtype=getattr(tt, dtype), requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*ours, **kw)
    y.backward(tt.tensor(g, dtype=getattr(tt, dtype)))
    scale = 10 if dtype == "float32" else 1  # sums of up to 300 float32 products
    rtol, atol = (1.3e-6 * scale, 1e-5 * scale) if dtype == "float32" else (1e-7, 1e-7)
    assert_close(y, ty.detach().numpy(), rtol=rtol, atol=atol)
    for mine, theirs in zip(ours, (tx, tw, tb), strict=True):
        assert_close(mine.grad, theirs.grad.numpy(), rtol=rtol, atol=atol)


def test_benchmark_shape_matches_torch():
    """The benchmark's layer (batch 32, 3 -> 16, 32 x 32, 3 x 3, padding 1, float32) on the
    jit launchers, which run their parallel builds at this size."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32) * 0.2
    b = rng.standard_normal(16).astype(np.float32)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.conv2d(tx, tw, tb, padding=1)
    ty.square().sum().backward()
    ours = [tt.tensor(a, requires_grad=True) for a in (x, w, b)]
    with tt.backend("jit"):
        y = F.conv2d(*ours, padding=1)
        (y * y).sum().backward()
    assert_close(y, ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    for mine, theirs in zip(ours, (tx, tw, tb), strict=True):  # sums of 32k terms
        ref = theirs.grad.numpy()
        assert_close(mine.grad, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))


# --- bad input: refused before any kernel runs ------------------------------------------

def _t(*shape, dtype=tt.float32):
    return tt.zeros(*shape, dtype=dtype)


BAD = [
    ((_t(1, 4, 5, 5), _t(2, 3, 3, 3)), {}, ValueError,
     r"input of shape \(1, 4, 5, 5\) has 4 channels but weight of shape \(2, 3, 3, 3\) "
     r"with groups=1 expects 3 \* 1 = 3"),
    ((_t(1, 5, 5, 5), _t(4, 2, 3, 3)), {"groups": 2}, ValueError,
     r"groups=2 does not divide the input's 5 channels"),
    ((_t(1, 4, 5, 5), _t(3, 2, 3, 3)), {"groups": 2}, ValueError,
     r"groups=2 does not divide the 3 output channels of weight of shape \(3, 2, 3, 3\)"),
    ((_t(1, 3, 2, 2), _t(2, 3, 3, 3)), {}, ValueError,
     r"kernel \(3 x 3, dilation \(1, 1\): it spans 3 x 3\) is larger than the padded input "
     r"\(2 x 2"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"dilation": 3}, ValueError,
     r"spans 7 x 7\) is larger than the padded input \(5 x 5"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"stride": 0}, ValueError,
     r"stride must be >= 1, got \(0, 0\)"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"dilation": (1, 0)}, ValueError,
     r"dilation must be >= 1, got \(1, 0\)"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"padding": -1}, ValueError,
     r"negative padding is not supported, got \(-1, -1\)"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"padding": (1, 2, 3)}, ValueError,
     r"padding must be an int or a pair \(h, w\), got 3 values"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"padding": "full"}, ValueError,
     r"padding='full' is not supported"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"padding": "same", "stride": 2}, ValueError,
     r"padding='same' is not supported for strided convolutions"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"stride": 1.5}, TypeError,
     r"stride must be an int or a pair of ints, got float 1.5"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"groups": 0}, ValueError, r"groups must be >= 1"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3)), {"groups": True}, TypeError, r"groups must be an int"),
    ((_t(5, 5), _t(2, 3, 3, 3)), {}, ValueError,
     r"expected a 4-D input \(N, C_in, H, W\) or a 3-D unbatched input \(C_in, H, W\), got "
     r"shape \(5, 5\)"),
    ((_t(1, 1, 3, 5, 5), _t(2, 3, 3, 3)), {}, ValueError, r"got shape \(1, 1, 3, 5, 5\)"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3)), {}, ValueError, r"weight must be 4-D"),
    ((_t(1, 3, 5, 5, dtype=tt.float64), _t(2, 3, 3, 3)), {}, TypeError,
     r"same floating dtype, got float64 and float32"),
    ((_t(1, 3, 5, 5, dtype=tt.int64), _t(2, 3, 3, 3, dtype=tt.int64)), {}, TypeError,
     r"same floating dtype"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3), _t(3)), {}, ValueError,
     r"bias must have shape \(2,\) to match weight of shape \(2, 3, 3, 3\), got \(3,\)"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3), _t(2, dtype=tt.float64)), {}, TypeError,
     r"bias dtype float64 differs from weight dtype float32"),
    ((np.zeros((1, 3, 5, 5)), _t(2, 3, 3, 3)), {}, TypeError, r"input must be a Tensor"),
    ((_t(1, 3, 5, 5), _t(2, 3, 3, 3), [0.0, 0.0]), {}, TypeError, r"bias must be a Tensor"),
]


@pytest.mark.parametrize("args, kwargs, error, message", BAD,
                         ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_input_is_refused_before_any_kernel(args, kwargs, error, message):
    with kernel_calls() as seen, pytest.raises(error, match=message):
        F.conv2d(*args, **kwargs)
    assert seen == []


def test_same_padding_fits_an_input_smaller_than_the_kernel():
    # "same" for a 4-wide kernel pads 1 left and 2 right: a width-1 input becomes 4 wide,
    # exactly the kernel's span
    assert F.conv2d(_t(1, 1, 1, 1), _t(1, 1, 1, 4), padding="same").shape == (1, 1, 1, 1)


# --- nn.Conv2d --------------------------------------------------------------------------

@pytest.mark.parametrize("args, kwargs, text", [
    ((3, 16, 3), {"padding": 1}, "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), "
                                 "padding=(1, 1))"),
    ((3, 16, 3), {"padding": "same", "bias": False, "dilation": 2},
     "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=same, dilation=(2, 2), "
     "bias=False)"),
    ((4, 8, (3, 5)), {"stride": 2, "groups": 2}, "Conv2d(4, 8, kernel_size=(3, 5), "
                                                 "stride=(2, 2), groups=2)"),
    ((4, 8, 3), {"padding": "valid"}, "Conv2d(4, 8, kernel_size=(3, 3), stride=(1, 1), "
                                      "padding=valid)"),
])
def test_conv2d_module_repr_is_pytorchs(args, kwargs, text):
    assert repr(nn.Conv2d(*args, **kwargs)) == text
    torch = pytest.importorskip("torch")
    assert repr(torch.nn.Conv2d(*args, **kwargs)) == text


def test_conv2d_module_default_init_matches_pytorchs_bounds():
    tt.manual_seed(0)
    conv = nn.Conv2d(6, 32, (3, 5), groups=2)
    fan_in = 3 * 3 * 5
    w, b = conv.weight.numpy(), conv.bias.numpy()
    assert w.shape == (32, 3, 3, 5) and b.shape == (32,) and w.dtype == np.float32
    bound = 1 / math.sqrt(fan_in)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.95 * bound  # uniform over the whole range, not a corner
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound  # std of U(-a, a): a/sqrt(3)
    tt.manual_seed(0)
    again = nn.Conv2d(6, 32, (3, 5), groups=2)
    assert again.weight.numpy().tolist() == w.tolist()
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    assert [name for name, _ in nn.Conv2d(1, 1, 1, bias=False).named_parameters()] == ["weight"]


def test_conv2d_module_forward_and_a_training_step(backend, rng):
    tt.manual_seed(1)
    conv = nn.Conv2d(2, 4, 3, padding=1, dtype=tt.float64)
    x = rng.standard_normal((3, 2, 5, 5))
    y = conv(tt.tensor(x))
    assert_close(y, oracle(x, conv.weight.numpy(), conv.bias.numpy(), (1, 1),
                           ((1, 1), (1, 1)), (1, 1), 1))
    target = tt.tensor(rng.standard_normal(y.shape))
    losses = []
    for _ in range(3):
        conv.zero_grad()
        loss = F.mse_loss(conv(tt.tensor(x)), target)
        loss.backward()
        losses.append(loss.item())
        with tt.no_grad():
            for p in conv.parameters():
                p -= 0.1 * p.grad
    assert losses[2] < losses[1] < losses[0]


@pytest.mark.parametrize("args, kwargs, error, message", [
    ((0, 4, 3), {}, ValueError, "in_channels must be positive"),
    ((3, 4, 0), {}, ValueError, r"kernel_size must be >= 1, got \(0, 0\)"),
    ((3, 4, 3.0), {}, TypeError, "kernel_size must be an int or a pair of ints"),
    ((3, 4, 3), {"groups": 2}, ValueError, "in_channels=3 must be divisible by groups=2"),
    ((4, 3, 3), {"groups": 2}, ValueError, "out_channels=3 must be divisible by groups=2"),
    ((3, 4, 3), {"padding": "same", "stride": 2}, ValueError, "not supported for strided"),
    ((3, 4, 3), {"padding": "full"}, ValueError, "padding='full' is not supported"),
    ((3, 4, 3), {"padding": -1}, ValueError, "negative padding is not supported"),
    ((3, 4, 3), {"bias": 1}, TypeError, "bias must be a bool"),
    ((3, 4, 3), {"dtype": tt.int64}, TypeError, "dtype must be a floating point type"),
])
def test_conv2d_module_bad_arguments(args, kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.Conv2d(*args, **kwargs)


def test_conv2d_module_bad_input_names_both_shapes():
    conv = nn.Conv2d(3, 8, 3)
    with kernel_calls() as seen, pytest.raises(ValueError, match=r"input of shape "
                                               r"\(2, 4, 8, 8\) has 4 channels but weight of "
                                               r"shape \(8, 3, 3, 3\)"):
        conv(_t(2, 4, 8, 8))
    assert seen == []


# --- im2col: the memory-for-speed trade ---------------------------------------------------

def test_im2col_workspace_is_what_the_variant_allocates():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3, 16, 16)).astype(np.float32)
    w = rng.standard_normal((16, 3, 3, 3)).astype(np.float32)
    b = np.zeros(16, np.float32)
    p = params((1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    out = np.empty((8, 16, 16, 16), np.float32)
    workspace = conv_im2col.im2col_bytes(out.shape, w.shape, out.itemsize)
    assert workspace == 8 * 16 * 16 * (27 + 1) * 4
    peaks = {}
    for name in ("im2col", "jit"):
        K.VARIANTS[name](out, x, w, b, **p)  # compile first: numba's allocations are not ours
        tracemalloc.start()
        try:
            K.VARIANTS[name](out, x, w, b, **p)
            peaks[name] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks["im2col"] >= workspace  # the buffer is really there ...
    assert peaks["jit"] < workspace / 4  # ... and the direct kernel needs a padded copy only


# --- cuda: the naive forward kernel under numba's simulator ----------------------------------

@pytest.mark.parametrize("shape_id", ["3x3-pad1", "dil12-stride2", "groups2", "same-even-asym",
                                      "one-pixel"])
def test_cuda_forward_matches_oracle(rng, shape_id):
    from tinytorch.kernels.cuda import CUDA_KERNELS

    assert tt.kernels.cuda_status()[0] in ("simulator", "gpu")  # conftest sets the simulator
    x, w, b, stride, pads, dil, groups = make(rng, shape_id, np.float32)
    expected = oracle(x, w, b, stride, pads, dil, groups)
    out = np.empty(expected.shape, np.float32)
    with tt.backend("cuda"), kernel_calls() as seen:
        dispatch.call("conv2d_forward", out, x, w, b, **params(stride, pads, dil, groups))
    assert seen == [("conv2d_forward", "cuda")]
    assert CUDA_KERNELS["conv2d_forward"].load().__name__ == "conv2d_forward_cuda"
    magnitude = oracle(np.abs(x), np.abs(w), np.abs(b), stride, pads, dil, groups)
    within_rounding(out, expected, magnitude, w[0].size + 1)


@pytest.mark.parametrize("stride, groups", [(1, 1), (2, 1), (1, 2)])
def test_jit_launcher_takes_im2col_for_small_planes_with_many_channels(rng, stride, groups):
    """Small planes and many input channels go to im2col + matmul (the direct kernels
    vectorise along a plane width of 4); the result must match the oracle all the same."""
    from tinytorch.kernels import conv as K

    x = rng.standard_normal((3, 32, 5, 5)).astype(np.float32)
    w = rng.standard_normal((8, 32 // groups, 3, 3)).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    p = dict(stride_h=stride, stride_w=stride, pad_h=1, pad_w=1, dil_h=1, dil_w=1,
             groups=groups)
    o = (5 + 2 - 3) // stride + 1
    assert o <= K.IM2COL_MAX_WIDTH and (32 // groups) * 9 >= K.IM2COL_MIN_TAPS
    out, expected = np.empty((3, 8, o, o), np.float32), np.empty((3, 8, o, o), np.float32)
    K.conv2d_forward_jit(out, x, w, b, **p)
    K.conv2d_forward_numpy(expected, x, w, b, **p)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("stride, dilation, pad", [(1, 1, 1), (2, 1, 1), (1, 2, 2), (1, 1, 0)])
def test_im2col_backward_matches_the_oracle(rng, stride, dilation, pad):
    """The matrix-product backward the jit launcher uses for small planes with many input
    channels; also through the launcher itself."""
    from tinytorch.kernels import conv as K
    from tinytorch.kernels.conv_im2col import conv2d_backward_im2col

    x = rng.standard_normal((2, 16, 6, 6))
    w = rng.standard_normal((5, 16, 3, 3))
    p = dict(stride_h=stride, stride_w=stride, pad_h=pad, pad_w=pad, dil_h=dilation,
             dil_w=dilation, groups=1)
    o = (6 + 2 * pad - dilation * 2 - 1) // stride + 1
    g = rng.standard_normal((2, 5, o, o))
    want = [np.empty_like(x), np.empty_like(w), np.empty(5)]
    K.conv2d_backward_numpy(*want, g, x, w, need_x=True, need_w=True, need_b=True, **p)
    for fn in (conv2d_backward_im2col, K.conv2d_backward_jit):
        got = [np.full_like(x, np.nan), np.full_like(w, np.nan), np.full(5, np.nan)]
        fn(*got, g, x, w, need_x=True, need_w=True, need_b=True, **p)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)
    only_w = [np.full_like(x, 7.0), np.empty_like(w), np.full(5, 7.0)]
    conv2d_backward_im2col(*only_w, g, x, w, need_x=False, need_w=True, need_b=False, **p)
    assert (only_w[0] == 7.0).all() and (only_w[2] == 7.0).all()
    np.testing.assert_allclose(only_w[1], want[1], rtol=1e-9, atol=1e-9)
