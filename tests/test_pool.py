"""Pooling (max, average, adaptive average): every kernel against an independent numpy
reference on every backend (odd sizes, stride 2, padding, dilation, ceil_mode, ties, NaN),
the numpy kernels against it too, gradcheck in float64 on every backend, the layers, PyTorch
cross-checks of values, indices and gradients, and bad input stopped before any kernel."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from tinytorch import dispatch, nn
from tinytorch.kernels import pool as K
from tinytorch.ops.pool import _out_size
from tinytorch.testing import KernelCalled, assert_close, gradcheck, tolerances

# --- independent references: one output at a time, windows listed explicitly ---------------


def out_hw(H, W, kh, kw, sh, sw, ph, pw, dh=1, dw=1, ceil=False):
    return _out_size(H, kh, sh, ph, dh, ceil), _out_size(W, kw, sw, pw, dw, ceil)


def ref_max(x, kh, kw, sh, sw, ph, pw, dh, dw, OH, OW):
    """PyTorch's rule written plainly: first maximum, unless there is a NaN (then the last)."""
    N, C, H, W = x.shape
    out = np.full((N, C, OH, OW), -np.inf, x.dtype)
    idx = np.full((N, C, OH, OW), -1, np.int64)
    for oh in range(OH):
        for ow in range(OW):
            taps = [(h, w) for h in range(oh * sh - ph, oh * sh - ph + dh * kh, dh)
                    for w in range(ow * sw - pw, ow * sw - pw + dw * kw, dw)
                    if 0 <= h < H and 0 <= w < W]
            if not taps:
                continue
            vals = np.stack([x[:, :, h, w] for h, w in taps], axis=-1)  # (N, C, taps)
            flat = np.array([h * W + w for h, w in taps])
            nan = np.isnan(vals)
            last_nan = len(taps) - 1 - np.argmax(nan[..., ::-1], axis=-1)
            first_max = np.argmax(np.where(nan, -np.inf, vals) == np.max(
                np.where(nan, -np.inf, vals), axis=-1, keepdims=True), axis=-1)
            pick = np.where(nan.any(axis=-1), last_nan, first_max)
            idx[:, :, oh, ow] = flat[pick]
            out[:, :, oh, ow] = np.take_along_axis(vals, pick[..., None], -1)[..., 0]
    return out, idx


def ref_max_backward(g, idx, shape):
    N, C, H, W = shape
    gx = np.zeros((N, C, H * W))
    for n in range(N):
        for c in range(C):
            keep = idx[n, c] >= 0
            np.add.at(gx[n, c], idx[n, c][keep], g[n, c][keep])
    return gx.reshape(shape)


def avg_windows(H, W, kh, kw, sh, sw, ph, pw, count_include_pad, divisor_override, OH, OW):
    """(oh, ow, rows slice, cols slice, divisor) for every output."""
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * sh - ph, ow * sw - pw
            # the window as PyTorch sizes it: cut at the end of the padded input
            he, we = min(h0 + kh, H + ph), min(w0 + kw, W + pw)
            rows, cols = slice(max(h0, 0), min(he, H)), slice(max(w0, 0), min(we, W))
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = (he - h0) * (we - w0)
            else:
                div = (min(he, H) - max(h0, 0)) * (min(we, W) - max(w0, 0))
            yield oh, ow, rows, cols, div


def ref_avg(x, params, OH, OW):
    out = np.zeros(x.shape[:2] + (OH, OW))
    for oh, ow, rows, cols, div in avg_windows(*x.shape[2:], *params, OH, OW):
        out[:, :, oh, ow] = x[:, :, rows, cols].astype(np.float64).sum(axis=(2, 3)) / div
    return out


def ref_avg_backward(g, shape, params):
    gx = np.zeros(shape)
    for oh, ow, rows, cols, div in avg_windows(*shape[2:], *params, *g.shape[2:]):
        gx[:, :, rows, cols] += g[:, :, oh, ow, None, None] / div
    return gx


def adaptive_bounds(o, n_out, size):
    return (o * size) // n_out, -(-((o + 1) * size) // n_out)  # floor, ceil


def ref_adaptive(x, OH, OW):
    H, W = x.shape[2:]
    out = np.zeros(x.shape[:2] + (OH, OW))
    for oh in range(OH):
        for ow in range(OW):
            (h0, h1), (w0, w1) = adaptive_bounds(oh, OH, H), adaptive_bounds(ow, OW, W)
            out[:, :, oh, ow] = x[:, :, h0:h1, w0:w1].astype(np.float64).mean(axis=(2, 3))
    return out


def ref_adaptive_backward(g, shape):
    H, W = shape[2:]
    OH, OW = g.shape[2:]
    gx = np.zeros(shape)
    for oh in range(OH):
        for ow in range(OW):
            (h0, h1), (w0, w1) = adaptive_bounds(oh, OH, H), adaptive_bounds(ow, OW, W)
            gx[:, :, h0:h1, w0:w1] += g[:, :, oh, ow, None, None] / ((h1 - h0) * (w1 - w0))
    return gx


# (N, C, H, W), (kh, kw), (sh, sw), (ph, pw), (dh, dw), ceil_mode
MAX_CASES = [
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), (1, 1), False),  # odd sizes, stride 2, padding
    ((2, 3, 6, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),  # the jit 2x2 fast path
    ((1, 2, 7, 9), (2, 2), (2, 2), (0, 0), (1, 1), False),  # fast path, odd: last row unused
    ((2, 2, 7, 7), (2, 2), (2, 2), (0, 0), (1, 1), True),  # ceil: a partial last window
    ((1, 2, 5, 5), (2, 2), (3, 3), (1, 1), (1, 1), True),  # ceil: a window dropped
    ((1, 2, 8, 7), (3, 2), (2, 1), (1, 0), (2, 1), True),  # dilation, rectangular
    ((1, 1, 9, 9), (3, 3), (1, 2), (1, 1), (2, 3), False),  # dilation 2 and 3, overlapping
    ((1, 2, 5, 5), (5, 5), (1, 1), (0, 0), (1, 1), False),  # kernel = input size
    ((1, 2, 4, 3), (1, 1), (1, 1), (0, 0), (1, 1), False),  # 1x1 kernel
    ((1, 1, 3, 3), (4, 4), (4, 4), (0, 0), (1, 1), True),  # ceil: a window past the end
    ((1, 1, 1, 1), (2, 2), (2, 2), (1, 1), (2, 2), False),  # a window of padding only
    ((0, 2, 4, 4), (2, 2), (2, 2), (0, 0), (1, 1), False),  # empty batch
]
MAX_IDS = [f"{s}-k{k}-s{st}-p{p}-d{d}-{'ceil' if c else 'floor'}"
           for s, k, st, p, d, c in MAX_CASES]


def flat_params(kernel, stride, pad, dil):
    return dict(kh=kernel[0], kw=kernel[1], sh=stride[0], sw=stride[1], ph=pad[0], pw=pad[1],
                dh=dil[0], dw=dil[1])


def tricky_input(rng, shape, dtype):
    """Small integers (many ties), a few NaN, -inf and +inf."""
    x = rng.integers(-2, 3, shape).astype(dtype)
    if x.size >= 20:
        flat = x.reshape(-1)
        flat[rng.choice(flat.size, 3, replace=False)] = np.nan
        flat[rng.choice(flat.size, 2, replace=False)] = -np.inf
        flat[rng.choice(flat.size, 1)] = np.inf
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, pad, dil, ceil", MAX_CASES, ids=MAX_IDS)
def test_max_pool_kernels_match_the_reference(backend, rng, dtype, shape, kernel, stride, pad,
                                               dil, ceil):
    x = tricky_input(rng, shape, dtype)
    OH, OW = out_hw(*shape[2:], *kernel, *stride, *pad, *dil, ceil)
    p = flat_params(kernel, stride, pad, dil)
    out, idx = np.full((*shape[:2], OH, OW), 7.0, dtype), np.full((*shape[:2], OH, OW), 7)
    dispatch.call("max_pool2d_forward", out, idx, x, **p)
    want, want_idx = ref_max(x, *p.values(), OH, OW)
    assert_close(out, want, check_dtype=True)
    np.testing.assert_array_equal(idx, want_idx)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = np.full(shape, 7.0, dtype)
    dispatch.call("max_pool2d_backward", gx, g, idx)
    assert_close(gx, ref_max_backward(g, idx, shape), check_dtype=False)
    assert gx.dtype == dtype


def test_max_pool_padding_only_window_gives_minus_inf_and_no_gradient(backend):
    x = np.array([[[[3.0]]]])  # 1x1 input; taps at -1 and 1 (pad 1, dilation 2) miss it
    out, idx = np.empty((1, 1, 1, 1)), np.empty((1, 1, 1, 1), np.int64)
    dispatch.call("max_pool2d_forward", out, idx, x, **flat_params((2, 2), (2, 2), (1, 1),
                                                                   (2, 2)))
    assert out.item() == -np.inf and idx.item() == -1
    gx = np.full((1, 1, 1, 1), 5.0)
    dispatch.call("max_pool2d_backward", gx, np.ones((1, 1, 1, 1)), idx)
    assert gx.item() == 0.0


@pytest.mark.parametrize("window", [[1, 2, 3, 3], [np.nan, 1, 2, 0], [1, np.nan, 5, np.nan],
                                    [np.nan, np.nan, 1, 1], [np.inf, 1, np.inf, 0],
                                    [-np.inf, -np.inf, -np.inf, -np.inf], [2, 2, 2, 2],
                                    [0, -np.inf, np.nan, np.inf]])
def test_jit_2x2_kernel_keeps_the_tie_and_nan_rules(window):
    """The fast path's NaN probe: each 2x2 window order, against the plain rule."""
    x = np.array(window, np.float32).reshape(1, 1, 2, 2)
    x = np.concatenate([x, x[:, :, ::-1], x[:, :, :, ::-1]], axis=1)  # three orders
    out, idx = np.empty((1, 3, 1, 1), np.float32), np.empty((1, 3, 1, 1), np.int64)
    K.max_pool2d_forward_jit_2x2(out, idx, x)
    want, want_idx = ref_max(x, 2, 2, 2, 2, 0, 0, 1, 1, 1, 1)
    assert_close(out, want)
    np.testing.assert_array_equal(idx, want_idx)


def test_jit_launchers_pick_the_fast_kernels_and_fall_back(monkeypatch, rng):
    calls = []
    for name in ("max_pool2d_forward_jit_2x2", "max_pool2d_forward_jit_naive",
                 "max_pool2d_backward_jit_flat", "max_pool2d_backward_jit_naive"):
        fn = getattr(K, name)
        monkeypatch.setattr(K, name, lambda *a, _fn=fn, _n=name, **k: (calls.append(_n),
                                                                       _fn(*a, **k)))
    x = rng.standard_normal((1, 2, 4, 4))
    out, idx = np.empty((1, 2, 2, 2)), np.empty((1, 2, 2, 2), np.int64)
    K.max_pool2d_forward_jit(out, idx, x, 2, 2, 2, 2, 0, 0, 1, 1)
    K.max_pool2d_forward_jit(out[:, :, :1, :1], idx[:, :, :1, :1], x, 3, 3, 2, 2, 0, 0, 1, 1)
    K.max_pool2d_backward_jit(np.empty((1, 2, 4, 4)), out, idx)
    K.max_pool2d_backward_jit(np.empty((1, 2, 4, 4), order="F"), out, idx)
    assert calls == ["max_pool2d_forward_jit_2x2", "max_pool2d_forward_jit_naive",
                     "max_pool2d_backward_jit_flat", "max_pool2d_backward_jit_naive"]


def test_max_pool_kernels_on_strided_input(backend, rng):
    x = rng.standard_normal((3, 8, 10, 9))[::2, ::3, 1:, ::-1]  # every stride is odd
    p = flat_params((2, 2), (2, 2), (0, 0), (1, 1))
    out, idx = np.empty((2, 3, 4, 4)), np.empty((2, 3, 4, 4), np.int64)
    dispatch.call("max_pool2d_forward", out, idx, x, **p)
    want, want_idx = ref_max(x, *p.values(), 4, 4)
    assert_close(out, want)
    np.testing.assert_array_equal(idx, want_idx)
    g = rng.standard_normal((2, 3, 4, 4 * 2))[:, :, :, ::2]  # a strided gradient
    gx = np.empty(x.shape)
    dispatch.call("max_pool2d_backward", gx, g, idx)
    assert_close(gx, ref_max_backward(g, idx, x.shape))


# (N, C, H, W), (kh, kw), (sh, sw), (ph, pw), ceil_mode, count_include_pad, divisor_override
AVG_CASES = [
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), False, True, None),
    ((2, 3, 7, 9), (3, 3), (2, 2), (1, 1), False, False, None),
    ((1, 2, 6, 6), (2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 2, 7, 7), (2, 2), (2, 2), (1, 1), True, True, None),  # ceil + padding
    ((1, 2, 5, 6), (3, 2), (2, 3), (1, 1), True, False, None),
    ((1, 1, 5, 5), (2, 2), (3, 3), (1, 1), True, True, None),  # ceil: a window dropped
    ((1, 1, 3, 3), (4, 4), (4, 4), (0, 0), True, True, None),  # ceil: window past the end
    ((1, 2, 5, 5), (5, 5), (1, 1), (2, 2), False, True, None),  # kernel = input size
    ((1, 2, 4, 3), (1, 1), (1, 1), (0, 0), False, True, None),  # 1x1
    ((2, 2, 6, 5), (3, 3), (1, 2), (1, 1), False, True, 4),  # divisor_override
    ((0, 2, 4, 4), (2, 2), (2, 2), (0, 0), False, True, None),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, kernel, stride, pad, ceil, include, divisor", AVG_CASES,
                         ids=[str(c) for c in AVG_CASES])
def test_avg_pool_kernels_match_the_reference(backend, rng, dtype, shape, kernel, stride, pad,
                                               ceil, include, divisor):
    x = rng.standard_normal(shape).astype(dtype)
    OH, OW = out_hw(*shape[2:], *kernel, *stride, *pad, ceil=ceil)
    scalars = dict(kh=kernel[0], kw=kernel[1], sh=stride[0], sw=stride[1], ph=pad[0],
                   pw=pad[1], count_include_pad=include, divisor_override=divisor or 0)
    params = (*kernel, *stride, *pad, include, divisor)
    out = np.full((*shape[:2], OH, OW), 7.0, dtype)
    dispatch.call("avg_pool2d_forward", out, x, **scalars)
    rtol, atol = tolerances(dtype)
    assert_close(out, ref_avg(x, params, OH, OW), rtol=rtol, atol=atol)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = np.full(shape, 7.0, dtype)
    dispatch.call("avg_pool2d_backward", gx, g, **scalars)
    assert_close(gx, ref_avg_backward(g, shape, params), rtol=rtol, atol=atol)
    assert out.dtype == gx.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape, size", [((2, 3, 7, 9), (1, 1)), ((1, 2, 7, 9), (3, 4)),
                                         ((1, 2, 5, 5), (5, 5)), ((1, 1, 3, 2), (5, 4)),
                                         ((2, 1, 6, 6), (2, 3)), ((0, 2, 4, 4), (2, 2))],
                         ids=str)
def test_adaptive_avg_pool_kernels_match_the_reference(backend, rng, dtype, shape, size):
    x = rng.standard_normal(shape).astype(dtype)[:, :, ::-1]  # a reversed (strided) view
    out = np.full(shape[:2] + size, 7.0, dtype)
    dispatch.call("adaptive_avg_pool2d_forward", out, x)
    rtol, atol = tolerances(dtype)
    assert_close(out, ref_adaptive(x, *size), rtol=rtol, atol=atol)
    g = rng.standard_normal(out.shape).astype(dtype)
    gx = np.full(shape, 7.0, dtype)
    dispatch.call("adaptive_avg_pool2d_backward", gx, g)
    assert_close(gx, ref_adaptive_backward(g, shape), rtol=rtol, atol=atol)


# --- the ops: output shapes, autograd, gradcheck -------------------------------------------

def distinct(rng, *shape):
    """float64 leaf whose values are at least 0.01 apart: no ties for max to break under
    central differences."""
    n = int(np.prod(shape))
    values = rng.permutation(n) * 0.01 + rng.uniform(0, 0.001, n)
    return tt.tensor(values.reshape(shape), dtype=tt.float64, requires_grad=True)


GRAD_CASES = {
    "max_stride2_pad": (lambda t: F.max_pool2d(t, 3, 2, 1), (2, 2, 5, 7)),
    "max_2x2": (lambda t: F.max_pool2d(t, 2), (1, 2, 4, 6)),
    "max_ceil_dilation": (lambda t: F.max_pool2d(t, (2, 3), (2, 1), (1, 1), (2, 1),
                                                 ceil_mode=True), (1, 2, 6, 5)),
    "max_unbatched": (lambda t: F.max_pool2d(t, 2, 1), (2, 3, 3)),
    "avg_pad_include": (lambda t: F.avg_pool2d(t, 3, 2, 1), (2, 2, 5, 7)),
    "avg_ceil_exclude": (lambda t: F.avg_pool2d(t, 2, 2, 1, ceil_mode=True,
                                                count_include_pad=False), (1, 2, 5, 4)),
    "avg_divisor_unbatched": (lambda t: F.avg_pool2d(t, 2, 1, divisor_override=3), (2, 3, 3)),
    "adaptive_1x1": (lambda t: F.adaptive_avg_pool2d(t, 1), (2, 2, 3, 5)),
    "adaptive_overlap": (lambda t: F.adaptive_avg_pool2d(t, (2, 3)), (1, 2, 5, 4)),
    "adaptive_none": (lambda t: F.adaptive_avg_pool2d(t, (None, 2)), (2, 3, 3)),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradcheck_every_backend(backend, rng, case):
    fn, shape = GRAD_CASES[case]
    assert gradcheck(fn, [distinct(rng, *shape)])


def test_gradcheck_on_a_strided_input(backend, rng):
    x = distinct(rng, 2, 4, 6, 5)
    assert gradcheck(lambda t: F.max_pool2d(t.permute(0, 1, 3, 2)[:, ::2], 2, 1), [x])
    assert gradcheck(lambda t: F.avg_pool2d(t[:, 1:].transpose(2, 3), 2, 1, 1), [x])
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t[::2, :, 1:], (2, 3)), [x])


@contextlib.contextmanager
def kernel_calls():
    seen: list = []

    def hook(op, backend, args, params):
        seen.append(op)
        return contextlib.nullcontext()

    dispatch.add_hook(hook)
    try:
        yield seen
    finally:
        dispatch.remove_hook(hook)


def test_each_op_is_one_kernel_call_each_way(rng):
    x = tt.tensor(rng.standard_normal((2, 3, 8, 8)), requires_grad=True)
    for fn, name in ((lambda t: F.max_pool2d(t, 2), "max_pool2d"),
                     (lambda t: F.avg_pool2d(t, 3, 2, 1), "avg_pool2d"),
                     (lambda t: F.adaptive_avg_pool2d(t, 1), "adaptive_avg_pool2d")):
        y = fn(x)
        with kernel_calls() as seen:
            y.backward(tt.ones(*y.shape, dtype=tt.float64))
        assert seen == [f"{name}_backward", "copy_forward"]  # then the leaf's .grad copy
        with kernel_calls() as seen:
            fn(x)
        assert seen == [f"{name}_forward"]
        x.grad = None


def test_backward_with_a_broadcast_gradient(backend, rng):
    """``y.sum().backward()`` hands the kernel a read-only, stride-0 gradient."""
    x = tt.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    out.sum().backward()
    assert_close(x.grad, ref_max_backward(np.ones(out.shape), idx.numpy(), x.shape))
    x.grad = None
    F.avg_pool2d(x, 3, 2, 1).sum().backward()
    params = (3, 3, 2, 2, 1, 1, True, None)
    assert_close(x.grad, ref_avg_backward(np.ones((2, 2, 3, 3)), x.shape, params))


def test_return_indices_are_a_private_copy(rng):
    x = tt.tensor(rng.standard_normal((1, 1, 4, 4)), requires_grad=True)
    out, idx = F.max_pool2d(x, 2, return_indices=True)
    assert idx.dtype == tt.int64 and idx.shape == out.shape
    want = ref_max_backward(np.ones((1, 1, 2, 2)), idx.numpy().copy(), x.shape)
    idx.numpy()[...] = 10 ** 9  # would write far out of bounds if the graph used it
    out.sum().backward()
    assert_close(x.grad, want)
    out3, idx3 = F.max_pool2d(tt.tensor(rng.standard_normal((2, 4, 4))), 2, return_indices=True)
    assert out3.shape == idx3.shape == (2, 2, 2)


def test_unbatched_input_matches_a_batch_of_one(rng):
    x = tt.tensor(rng.standard_normal((3, 7, 6)))
    for fn in (lambda t: F.max_pool2d(t, 3, 2, 1), lambda t: F.avg_pool2d(t, 2, ceil_mode=True),
               lambda t: F.adaptive_avg_pool2d(t, (2, 4))):
        single = fn(x)
        assert single.ndim == 3
        assert_close(single, fn(x.unsqueeze(0))[0])


def test_output_shapes_follow_pytorch_formula():
    x = tt.zeros(2, 3, 7, 9)
    assert F.max_pool2d(x, 2).shape == (2, 3, 3, 4)
    assert F.max_pool2d(x, 2, ceil_mode=True).shape == (2, 3, 4, 5)
    assert F.max_pool2d(x, 3, 2, 1, dilation=2).shape == (2, 3, 3, 4)
    assert F.avg_pool2d(x, (3, 1), (1, 2), (1, 0)).shape == (2, 3, 7, 5)
    assert F.adaptive_avg_pool2d(x, (None, 2)).shape == (2, 3, 7, 2)
    assert F.max_pool2d(tt.zeros(0, 3, 4, 4), 2).shape == (0, 3, 2, 2)
    assert F.adaptive_avg_pool2d(x, 0).shape == (2, 3, 0, 0)


# --- the layers ------------------------------------------------------------------------------

def test_layers_repr_and_forward(rng):
    pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
    assert repr(pool) == "MaxPool2d(kernel_size=3, stride=2, padding=1, dilation=1, " \
                         "ceil_mode=True)"
    assert repr(nn.AvgPool2d((2, 3), padding=(1, 1))) == \
        "AvgPool2d(kernel_size=(2, 3), stride=(2, 3), padding=(1, 1))"
    assert repr(nn.AdaptiveAvgPool2d((None, 3))) == "AdaptiveAvgPool2d(output_size=(None, 3))"
    x = tt.tensor(rng.standard_normal((2, 3, 9, 9)))
    assert_close(pool(x), F.max_pool2d(x, 3, 2, 1, ceil_mode=True))
    out, idx = nn.MaxPool2d(2, return_indices=True)(x)
    assert out.shape == idx.shape == (2, 3, 4, 4)
    assert_close(nn.AvgPool2d(3, 1, 1, count_include_pad=False)(x),
                 F.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
    assert_close(nn.AdaptiveAvgPool2d(1)(x), x.mean(dim=(2, 3), keepdim=True))
    assert list(pool.parameters()) == [] and list(pool.state_dict()) == []


def test_layer_settings_are_checked_again_when_reassigned():
    pool = nn.MaxPool2d(2)
    pool.kernel_size = 3  # now 3x3 windows of stride 2 (the stride stays)
    assert pool(tt.zeros(1, 1, 7, 7)).shape == (1, 1, 3, 3)
    with pytest.raises(ValueError, match=r"padding \(2, 2\) must be at most half"):
        pool.padding = 2
    assert pool.padding == 0  # the refused value was not kept
    assert pool(tt.zeros(1, 1, 7, 7)).shape == (1, 1, 3, 3)
    gap = nn.AdaptiveAvgPool2d(1)
    gap.output_size = (2, 1)
    assert gap(tt.zeros(1, 1, 4, 4)).shape == (1, 1, 2, 1)


@pytest.mark.parametrize("bad, error, message", [
    (lambda: nn.MaxPool2d(0), ValueError, "kernel_size must be at least 1, got (0, 0)"),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, "stride must be at least 1"),
    (lambda: nn.MaxPool2d(2, dilation=(1, 0)), ValueError, "dilation must be at least 1"),
    (lambda: nn.MaxPool2d(3, padding=2), ValueError, "at most half of kernel_size (3, 3)"),
    (lambda: nn.AvgPool2d(2, padding=-1), ValueError, "padding must be non-negative"),
    (lambda: nn.MaxPool2d(2.0), TypeError, "kernel_size must be an int or a pair of ints"),
    (lambda: nn.MaxPool2d((2, 2, 2)), TypeError, "got tuple (2, 2, 2)"),
    (lambda: nn.MaxPool2d(True), TypeError, "kernel_size must be an int"),
    (lambda: nn.MaxPool2d(2, ceil_mode=1), TypeError, "ceil_mode must be a bool"),
    (lambda: nn.MaxPool2d(2, return_indices="yes"), TypeError, "return_indices must be a bool"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, "divisor_override must be at "
                                                              "least 1"),
    (lambda: nn.AvgPool2d(2, divisor_override=2.5), TypeError, "divisor_override must be an "
                                                               "int or None"),
    (lambda: nn.AdaptiveAvgPool2d((1, 2, 3)), TypeError, "output_size must be an int or a "
                                                         "pair"),
    (lambda: nn.AdaptiveAvgPool2d(-1), ValueError, "output_size must be non-negative"),
])
def test_bad_settings(bad, error, message):
    with pytest.raises(error) as info:
        bad()
    assert message in str(info.value), str(info.value)


# --- bad input: errors before any kernel -----------------------------------------------------




def test_bad_input_raises_before_any_kernel(spy):
    x = tt.zeros(1, 2, 4, 4, requires_grad=True)
    cases = [
        (lambda: F.max_pool2d(x.numpy(), 2), TypeError, ["input must be a Tensor, got ndarray"]),
        (lambda: F.max_pool2d(tt.zeros(1, 2, 4, 4, dtype=tt.int64), 2), TypeError,
         ["floating point", "int64"]),
        (lambda: F.avg_pool2d(tt.zeros(4, 4), 2), ValueError,
         ["3-D (C, H, W) or 4-D (N, C, H, W)", "(4, 4)"]),
        (lambda: F.max_pool2d(tt.zeros(1, 1, 2, 4, 4), 2), ValueError, ["(1, 1, 2, 4, 4)"]),
        (lambda: F.max_pool2d(tt.zeros(1, 0, 4, 4), 2), ValueError, ["non-zero C, H, W"]),
        (lambda: F.max_pool2d(x, 5), ValueError,
         ["window (5x5 with dilation) is larger than the padded input (4x4", "0x0"]),
        (lambda: F.max_pool2d(x, 3, padding=1, dilation=3), ValueError,
         ["window (7x7 with dilation)", "(6x6: input 4x4 plus padding (1, 1)"]),
        (lambda: F.avg_pool2d(x, (2, 7), padding=(0, 1)), ValueError, ["(2x7", "(4x6"]),
        (lambda: F.max_pool2d(x, 2, stride=0), ValueError, ["stride must be at least 1"]),
        (lambda: F.max_pool2d(x, 2, padding=2), ValueError, ["padding (2, 2)", "at most half"]),
        (lambda: F.avg_pool2d(x, 2, padding=-1), ValueError, ["padding must be non-negative"]),
        (lambda: F.max_pool2d(x, 2, return_indices=None), TypeError,
         ["return_indices must be a bool"]),
        (lambda: F.adaptive_avg_pool2d(tt.zeros(3), 1), ValueError, ["got shape (3,)"]),
        (lambda: F.adaptive_avg_pool2d(x, "1"), TypeError, ["output_size must be an int"]),
        (lambda: nn.MaxPool2d(2)(tt.zeros(2, 2)), ValueError, ["got shape (2, 2)"]),
        (lambda: nn.AvgPool2d(2)([[1.0]]), TypeError, ["input must be a Tensor, got list"]),
    ]
    for fn, error, messages in cases:
        with pytest.raises(error) as info:
            fn()
        for m in messages:
            assert m in str(info.value), f"{m!r} not in: {info.value}"
        assert spy == [], f"{spy} ran before: {info.value}"
    with pytest.raises(KernelCalled):  # the harness: a valid call does reach the spy
        F.max_pool2d(x, 2)
    assert spy == ["max_pool2d_forward"]
    spy.clear()  # the shared fixture checks that no kernel ran


# --- PyTorch cross-checks ----------------------------------------------------------------------

TORCH_MAX = [dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=2),
             dict(kernel_size=2, ceil_mode=True), dict(kernel_size=(3, 2), stride=(2, 1),
                                                       padding=(1, 0), dilation=(2, 1)),
             dict(kernel_size=2, stride=3, padding=1, ceil_mode=True),
             dict(kernel_size=4, stride=4, ceil_mode=True)]


@pytest.mark.parametrize("kwargs", TORCH_MAX, ids=str)
def test_max_pool_matches_torch(backend, rng, kwargs):
    torch = pytest.importorskip("torch")
    data = rng.integers(-3, 4, (2, 3, 7, 9)).astype(np.float32)  # ties everywhere
    data[0, 0, 1, 1] = data[1, 2, 5, 4] = np.nan
    data[0, 1, 2, 2] = -np.inf
    x = tt.tensor(data, requires_grad=True)
    out, idx = F.max_pool2d(x, **kwargs, return_indices=True)
    tx = torch.tensor(data, requires_grad=True)
    tout, tidx = torch.nn.functional.max_pool2d(tx, **kwargs, return_indices=True)
    assert_close(out, tout.detach().numpy())
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(tt.tensor(g))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


TORCH_AVG = [dict(kernel_size=3, stride=2, padding=1),
             dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
             dict(kernel_size=2, padding=1, ceil_mode=True),
             dict(kernel_size=2, padding=1, ceil_mode=True, count_include_pad=False),
             dict(kernel_size=(3, 2), stride=(3, 3), padding=(1, 1), ceil_mode=True),
             dict(kernel_size=4, stride=4, ceil_mode=True),
             dict(kernel_size=3, stride=1, padding=1, divisor_override=5)]


@pytest.mark.parametrize("kwargs", TORCH_AVG, ids=str)
def test_avg_pool_matches_torch(backend, rng, kwargs):
    torch = pytest.importorskip("torch")
    data = rng.standard_normal((2, 3, 7, 8))
    x = tt.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    out = F.avg_pool2d(x, **kwargs)
    tout = torch.nn.functional.avg_pool2d(tx, **kwargs)
    assert_close(out, tout.detach().numpy())
    g = rng.standard_normal(out.shape)
    out.backward(tt.tensor(g))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


@pytest.mark.parametrize("size", [1, (2, 3), (3, 5), (None, 4), (9, 2)], ids=str)
def test_adaptive_avg_pool_matches_torch(backend, rng, size):
    torch = pytest.importorskip("torch")
    data = rng.standard_normal((2, 3, 7, 5))
    x = tt.tensor(data, requires_grad=True)
    tx = torch.tensor(data, requires_grad=True)
    out = F.adaptive_avg_pool2d(x, size)
    tout = torch.nn.functional.adaptive_avg_pool2d(tx, size)
    assert_close(out, tout.detach().numpy())
    g = rng.standard_normal(out.shape)
    out.backward(tt.tensor(g))
    tout.backward(torch.tensor(g))
    assert_close(x.grad, tx.grad.numpy())


def test_what_backward_keeps():
    """Max pooling keeps its int64 indices (8 bytes per output), as a saved tensor that
    graph-memory accounting can see; average pooling keeps no tensor."""
    x = tt.zeros(2, 3, 8, 8, requires_grad=True)
    saved = F.max_pool2d(x, 2).grad_fn.ctx.saved_tensors
    assert [(t.dtype, t.shape, t.nbytes) for t in saved] == [(tt.int64, (2, 3, 4, 4),
                                                             8 * 2 * 3 * 4 * 4)]
    assert F.avg_pool2d(x, 2).grad_fn.ctx.saved_tensors == ()
    assert F.adaptive_avg_pool2d(x, 1).grad_fn.ctx.saved_tensors == ()
