"""The fused linear op (``x @ w.T + b`` in one kernel call, three gradients in one more):
numpy oracle and gradcheck on every backend, shapes, bad input, torch cross-check."""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import dispatch
from tinytorch.kernels import linear as K
from tinytorch.testing import assert_close, gradcheck, tolerances


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (3, 5, 7), (4, 8, 2), (9, 3, 1), (13, 17, 10)])
def test_kernels_match_numpy(backend, rng, m, k, n):
    x = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal((m, n)).astype(np.float32)
    impls = dispatch._TABLE
    out = np.empty((m, n), np.float32)
    impls["linear_forward"][backend](out, x, w, b)
    assert_close(out, x.astype(np.float64) @ w.T + b, rtol=1e-5, atol=1e-4)
    gx, gw, gb = np.empty_like(x), np.empty_like(w), np.empty_like(b)
    impls["linear_backward"][backend](gx, gw, gb, g, x, w, True)
    assert_close(gx, g.astype(np.float64) @ w, rtol=1e-5, atol=1e-4)
    assert_close(gw, g.T.astype(np.float64) @ x, rtol=1e-5, atol=1e-4)
    assert_close(gb, g.astype(np.float64).sum(0), rtol=1e-5, atol=1e-4)


def test_register_blocked_kernel_covers_the_leftover_rows(rng):
    for m in range(1, 10):  # 4-row blocks plus 0..3 leftover rows
        x, w, b = rng.standard_normal((m, 6)), rng.standard_normal((5, 6)), rng.standard_normal(5)
        out = np.empty((m, 5))
        K.linear_forward_jit_rows4(out, x, w, b)
        assert_close(out, x @ w.T + b)


def test_backward_without_grad_x_leaves_it_alone(rng):
    x, w, g = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal((3, 2))
    gw, gb = np.empty((2, 4)), np.empty(2)
    K.linear_backward_jit(np.empty((0, 0)), gw, gb, g, x, w, False)
    assert_close(gw, g.T @ x)


@pytest.mark.parametrize("shape", [(5, 3), (2, 4, 3), (3,)])
def test_gradcheck_every_backend(backend, rng, shape):
    x = tt.tensor(rng.standard_normal(shape), requires_grad=True)
    w = tt.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    b = tt.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: tt.ops.linear(x, w, b), [x, w, b])
    assert gradcheck(lambda x, w: tt.ops.linear(x, w), [x, w])


def test_non_contiguous_input_and_weight(backend, rng):
    x0, w0 = rng.standard_normal((3, 6)), rng.standard_normal((5, 4))
    x = tt.tensor(x0)[:, ::2]  # (3, 3) with a column stride of 2
    w = tt.tensor(w0).T[:, :3]  # (4, 3), a transposed view
    b = tt.tensor(rng.standard_normal((2, 4)))[1]  # a row of a bigger tensor
    assert not x.is_contiguous() and not w.is_contiguous()
    assert_close(tt.ops.linear(x, w, b), x0[:, ::2] @ w0.T[:, :3].T + b.numpy())
    batched = tt.tensor(rng.standard_normal((3, 2, 4))).permute(1, 0, 2)  # (2, 3, 4)
    assert_close(tt.ops.linear(batched, w.T), batched.numpy() @ w0.T[:, :3])


def test_shapes_of_the_result(rng):
    w = tt.ones(4, 3)
    assert tt.ops.linear(tt.ones(3), w).shape == (4,)
    assert tt.ops.linear(tt.ones(2, 5, 3), w, tt.zeros(4)).shape == (2, 5, 4)
    assert tt.ops.linear(tt.ones(0, 3), w).shape == (0, 4)


def test_float32_agrees_with_float64_within_float32_tolerance(rng):
    x, w, b = rng.standard_normal((7, 33)), rng.standard_normal((9, 33)), rng.standard_normal(9)
    out = tt.ops.linear(tt.tensor(x, dtype=tt.float32), tt.tensor(w, dtype=tt.float32),
                        tt.tensor(b, dtype=tt.float32))
    rtol, atol = tolerances(tt.float32)
    assert_close(out, x @ w.T + b, rtol=rtol, atol=atol * 10)


@pytest.mark.parametrize("args, error, message", [
    ((tt.ones(2, 3), tt.ones(4, 5)), ValueError, r"input of shape \(2, 3\) has 3 features "
                                                 r"but weight of shape \(4, 5\) expects "
                                                 r"in_features=5"),
    ((tt.ones(2, 3), tt.ones(3)), ValueError, "weight must be 2-D"),
    ((tt.ones(2, 3), tt.ones(4, 3), tt.ones(3)), ValueError, r"bias must have shape \(4,\)"),
    ((tt.ones(2, 3, dtype=tt.float64), tt.ones(4, 3)), TypeError, "same floating dtype"),
    ((tt.ones(2, 3, dtype=tt.int64), tt.ones(4, 3, dtype=tt.int64)), TypeError,
     "same floating dtype"),
    ((tt.ones(2, 3), tt.ones(4, 3), tt.ones(4, dtype=tt.float64)), TypeError, "bias dtype"),
    (([1.0], tt.ones(4, 1)), TypeError, "input must be a Tensor"),
    ((tt.ones(()), tt.ones(4, 1)), ValueError, "has no features"),
])
def test_bad_input_is_refused_before_any_kernel(args, error, message):
    calls = []

    def spy(op, backend, a, p):
        import contextlib
        calls.append(op)
        return contextlib.nullcontext()

    dispatch.add_hook(spy)
    try:
        with pytest.raises(error, match=message):
            tt.ops.linear(*args)
    finally:
        dispatch.remove_hook(spy)
    assert calls == []


def test_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x, w, b = rng.standard_normal((5, 7)), rng.standard_normal((3, 7)), rng.standard_normal(3)
    g = rng.standard_normal((5, 3))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.linear(tx, tw, tb).backward(torch.tensor(g))
    xs, ws, bs = (tt.tensor(a, requires_grad=True) for a in (x, w, b))
    out = tt.ops.linear(xs, ws, bs)
    out.backward(tt.tensor(g))
    assert_close(out, torch.nn.functional.linear(tx, tw, tb).detach().numpy())
    for ours, theirs in ((xs, tx), (ws, tw), (bs, tb)):
        assert_close(ours.grad, theirs.grad.numpy())
