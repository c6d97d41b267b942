"""Batch normalisation: the fused kernels against an independent numpy reference on every
backend (training and eval, running statistics, float32/float64, odd sizes), gradcheck in
float64 on every backend, BatchNorm2d's train/eval behaviour, buffers and state_dict, PyTorch
cross-checks over several steps, and bad input stopped before any kernel."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from tinytorch import dispatch, nn
from tinytorch.testing import KernelCalled, assert_close, gradcheck, tolerances

# --- an independent reference ---------------------------------------------------------------


def ref_forward(x, weight, bias, running_mean, running_var, training, momentum, eps):
    """float64 throughout; returns (out, mean, invstd, new_running_mean, new_running_var)."""
    x = x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    new_rm, new_rv = running_mean, running_var
    if training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        if running_mean is not None:
            m = x.size // x.shape[1]
            new_rm = (1 - momentum) * running_mean + momentum * mean
            new_rv = (1 - momentum) * running_var + momentum * var * m / (m - 1)
    else:
        mean, var = running_mean.astype(np.float64), running_var.astype(np.float64)
    invstd = 1 / np.sqrt(var + eps)
    out = (x - mean.reshape(shape)) * invstd.reshape(shape) * weight.reshape(shape) + \
        bias.reshape(shape)
    return out, mean, invstd, new_rm, new_rv


def ref_backward(g, x, weight, mean, invstd, training):
    g, x = g.astype(np.float64), x.astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
    grad_b, grad_w = g.sum(axis=axes), (g * xhat).sum(axis=axes)
    scale = (weight * invstd).reshape(shape)
    if training:
        grad_x = scale / m * (m * g - grad_b.reshape(shape) - xhat * grad_w.reshape(shape))
    else:
        grad_x = scale * g
    return grad_x, grad_w, grad_b


def loose(dtype):
    """float32 tolerances a little wider: sums over a few hundred values."""
    rtol, atol = tolerances(dtype)
    return dict(rtol=rtol * 10, atol=atol * 10)


# --- the kernels ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 1, 1), (5, 4, 7), (1, 2, 9)], ids=str)
def test_kernels_match_the_reference(backend, rng, dtype, training, shape):
    N, C, L = shape
    x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
    w, b = rng.uniform(0.5, 2, C).astype(dtype), rng.standard_normal(C).astype(dtype)
    rm, rv = rng.standard_normal(C).astype(dtype), rng.uniform(0.5, 2, C).astype(dtype)
    want, want_mean, want_invstd, want_rm, want_rv = ref_forward(x, w, b, rm, rv, training,
                                                                 0.3, 1e-3)
    out, mean, invstd = (np.full(shape, 7, dtype), np.full(C, 7, dtype), np.full(C, 7, dtype))
    rm_k, rv_k = rm.copy(), rv.copy()
    dispatch.call("batch_norm_forward", out, mean, invstd, x, w, b, rm_k, rv_k,
                  training=training, momentum=0.3, eps=1e-3)
    tol = loose(dtype)
    assert_close(out, want, **tol)
    assert_close(mean, want_mean, **tol)
    assert_close(invstd, want_invstd, **tol)
    assert_close(rm_k, want_rm, **tol)
    assert_close(rv_k, want_rv, **tol)
    assert out.dtype == mean.dtype == rm_k.dtype == dtype
    g = rng.standard_normal(shape).astype(dtype)
    gx, gw, gb = np.full(shape, 7, dtype), np.full(C, 7, dtype), np.full(C, 7, dtype)
    dispatch.call("batch_norm_backward", gx, gw, gb, g, x, w, mean, invstd, training=training)
    for got, ref in zip((gx, gw, gb), ref_backward(g, x, w, mean, invstd, training),
                        strict=True):
        assert_close(got, ref, **tol)


def test_kernel_without_running_statistics_updates_nothing(backend, rng):
    x = rng.standard_normal((4, 3, 5))
    out, mean, invstd = np.empty_like(x), np.empty(3), np.empty(3)
    dispatch.call("batch_norm_forward", out, mean, invstd, x, np.ones(3), np.zeros(3),
                  np.empty(0), np.empty(0), training=True, momentum=0.1, eps=1e-5)
    assert_close(out, ref_forward(x, np.ones(3), np.zeros(3), None, None, True, 0.1, 1e-5)[0])


def test_kernels_on_strided_arrays(backend, rng):
    x = rng.standard_normal((6, 4, 10))[::2, ::-1, 1::3]  # (3, 4, 3), no unit stride
    g = rng.standard_normal((3, 3, 4)).transpose(0, 2, 1)
    w, b = rng.uniform(0.5, 2, 8)[::2], rng.standard_normal(4)
    store = np.stack([np.zeros(4), np.ones(4)], axis=1)  # running stats as column views
    rm, rv = store[:, 0], store[:, 1]
    out, mean, invstd = np.empty(x.shape), np.empty(4), np.empty(4)
    dispatch.call("batch_norm_forward", out, mean, invstd, x, w, b, rm, rv, training=True,
                  momentum=0.5, eps=1e-5)
    want = ref_forward(x, w, b, np.zeros(4), np.ones(4), True, 0.5, 1e-5)
    for got, ref in zip((out, mean, invstd, rm, rv), want, strict=True):
        assert_close(got, ref)
    gx, gw, gb = np.empty(x.shape), np.empty(4), np.empty(4)
    dispatch.call("batch_norm_backward", gx, gw, gb, g, x, w, mean, invstd, training=True)
    for got, ref in zip((gx, gw, gb), ref_backward(g, x, w, mean, invstd, True), strict=True):
        assert_close(got, ref)


def test_nan_input_gives_nan_not_garbage(backend):
    """The jit kernel may reassociate sums, but not assume there is no NaN."""
    x = np.array([[[1.0, np.nan]], [[3.0, 4.0]]], np.float32)
    out, mean, invstd = np.empty_like(x), np.empty(1, np.float32), np.empty(1, np.float32)
    dispatch.call("batch_norm_forward", out, mean, invstd, x, np.ones(1, np.float32),
                  np.zeros(1, np.float32), np.empty(0, np.float32), np.empty(0, np.float32),
                  training=True, momentum=0.1, eps=1e-5)
    assert np.isnan(out).all() and np.isnan(mean).all()


# --- the op: gradcheck, graph, empty batches --------------------------------------------------

def leaf(rng, *shape, low=-1.0, high=1.0):
    return tt.tensor(rng.uniform(low, high, shape), dtype=tt.float64, requires_grad=True)


GRAD_CASES = {
    "train_4d": ((2, 3, 3, 2), True, True),
    "train_2d": ((4, 3), True, True),
    "train_3d_no_affine": ((3, 2, 4), True, False),
    "eval_4d": ((2, 3, 2, 2), False, True),
    "eval_no_affine": ((2, 2, 3), False, False),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradcheck_every_backend(backend, rng, case):
    shape, training, affine = GRAD_CASES[case]
    C = shape[1]
    x = leaf(rng, *shape, low=-2, high=2)
    rm = tt.tensor(rng.standard_normal(C), dtype=tt.float64)
    rv = tt.tensor(rng.uniform(0.5, 2, C), dtype=tt.float64)
    if affine:
        w, b = leaf(rng, C, low=0.5, high=2), leaf(rng, C)
        assert gradcheck(lambda x, w, b: F.batch_norm(x, rm.clone(), rv.clone(), w, b,
                                                      training=training), [x, w, b])
    else:
        assert gradcheck(lambda x: F.batch_norm(x, rm.clone(), rv.clone(), training=training),
                         [x])


def test_gradcheck_on_a_strided_input(backend, rng):
    x = leaf(rng, 3, 4, 5)  # permuted and sliced: (4, 2, 5), no contiguous (N, C, L) view
    w, b = leaf(rng, 2), leaf(rng, 2)
    assert gradcheck(lambda x, w, b: F.batch_norm(x.permute(1, 0, 2)[:, ::2], None, None, w, b,
                                                  training=True), [x, w, b])


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


def test_one_kernel_call_each_way_and_only_needed_gradients(rng):
    x = tt.tensor(rng.standard_normal((4, 3, 2, 2)))
    w = tt.ones(3, dtype=tt.float64, requires_grad=True)
    with kernel_calls() as seen:
        y = F.batch_norm(x, None, None, w, tt.zeros(3, dtype=tt.float64), training=True)
    assert seen == ["batch_norm_forward"]
    with kernel_calls() as seen:
        y.backward(tt.tensor(rng.standard_normal(y.shape)))
    assert seen[0] == "batch_norm_backward"
    assert x.grad is None and w.grad is not None


def test_in_place_change_of_the_input_is_caught(rng):
    x = tt.tensor(rng.standard_normal((4, 3)))
    w = tt.ones(3, dtype=tt.float64, requires_grad=True)
    y = F.batch_norm(x, None, None, w, training=True)
    x.add_(1)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_running_statistics_are_written_in_place_and_versioned(rng):
    rm, rv = tt.zeros(3, dtype=tt.float64), tt.ones(3, dtype=tt.float64)
    rm_data, versions = rm._data, (rm._version, rv._version)
    F.batch_norm(tt.tensor(rng.standard_normal((5, 3))), rm, rv, training=True)
    assert rm._data is rm_data and rm.abs().sum().item() > 0
    assert (rm._version, rv._version) == (versions[0] + 1, versions[1] + 1)
    before = rm.clone()
    F.batch_norm(tt.tensor(rng.standard_normal((5, 3))), rm, rv, training=False)
    assert_close(rm, before)


def test_empty_batch(backend):
    x = tt.zeros(0, 3, 4, 4, requires_grad=True)
    w, b = tt.ones(3, requires_grad=True), tt.zeros(3, requires_grad=True)
    rm, rv = tt.zeros(3), tt.ones(3)
    y = F.batch_norm(x, rm, rv, w, b, training=True)
    assert y.shape == (0, 3, 4, 4)
    y.sum().backward()
    assert rm.tolist() == [0.0] * 3 and rv.tolist() == [1.0] * 3
    assert w.grad.tolist() == [0.0] * 3 and x.grad.shape == (0, 3, 4, 4)


# --- BatchNorm2d ------------------------------------------------------------------------------

def test_module_parameters_buffers_and_repr():
    bn = nn.BatchNorm2d(4)
    assert [n for n, _ in bn.named_parameters()] == ["weight", "bias"]
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                  "num_batches_tracked"]
    assert bn.weight.tolist() == [1.0] * 4 and bn.bias.tolist() == [0.0] * 4
    assert bn.running_var.tolist() == [1.0] * 4 and bn.num_batches_tracked.dtype == tt.int64
    assert repr(nn.BatchNorm2d(3, momentum=None, affine=False)) == \
        "BatchNorm2d(3, eps=1e-05, momentum=None, affine=False, track_running_stats=True)"
    bare = nn.BatchNorm2d(3, affine=False, track_running_stats=False)
    assert list(bare.parameters()) == [] and list(bare.state_dict()) == []
    assert nn.BatchNorm2d(2, dtype=tt.float64).running_mean.dtype == tt.float64


def test_train_uses_batch_statistics_and_eval_uses_running_ones(backend, rng):
    bn = nn.BatchNorm2d(3, momentum=0.25)
    data = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 2 + 1
    x = tt.tensor(data)
    y = bn(x)
    want, mean, _, rm, rv = ref_forward(data, np.ones(3), np.zeros(3), np.zeros(3), np.ones(3),
                                        True, 0.25, 1e-5)
    tol = loose(np.float32)
    assert_close(y, want, **tol)
    assert_close(bn.running_mean, rm, **tol)
    assert_close(bn.running_var, rv, **tol)
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    frozen = bn.running_mean.clone()
    y_eval = bn(x)
    assert_close(y_eval, ref_forward(data, np.ones(3), np.zeros(3), rm, rv, False, 0, 1e-5)[0],
                 **tol)
    assert_close(bn.running_mean, frozen)
    assert bn.num_batches_tracked.item() == 1
    one = bn(x[:1, :, :1, :1])  # eval works on a single value per channel
    assert_close(one, y_eval[:1, :, :1, :1])


def test_without_tracking_batch_statistics_in_both_modes(rng):
    bn = nn.BatchNorm2d(2, track_running_stats=False)
    x = tt.tensor(rng.standard_normal((3, 2, 2, 2)).astype(np.float32))
    assert_close(bn.eval()(x), bn.train()(x))
    assert bn.running_mean is None


def test_momentum_none_is_a_cumulative_average(rng):
    bn = nn.BatchNorm2d(2, momentum=None)
    batches = [rng.standard_normal((4, 2, 3, 3)).astype(np.float32) + k for k in range(3)]
    for b in batches:
        bn(tt.tensor(b))
    means = [b.astype(np.float64).mean(axis=(0, 2, 3)) for b in batches]
    assert_close(bn.running_mean, np.mean(means, axis=0), **loose(np.float32))
    assert bn.num_batches_tracked.item() == 3


def test_state_dict_round_trip_through_npz(tmp_path, rng):
    bn = nn.BatchNorm2d(3)
    for _ in range(3):
        bn(tt.tensor(rng.standard_normal((4, 3, 2, 2)).astype(np.float32)))
    with tt.no_grad():
        bn.weight[...] = tt.tensor([0.5, 2.0, 1.5])
    sd = bn.state_dict()
    assert list(sd) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    buf = io.BytesIO()
    np.savez(buf, **{k: v.numpy() for k, v in sd.items()})
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as f:
        loaded = {k: tt.tensor(f[k]) for k in f.files}
    fresh = nn.BatchNorm2d(3)
    assert fresh.load_state_dict(loaded) == ([], [])
    for k, v in fresh.state_dict().items():
        assert_close(v, sd[k], check_dtype=True)
    x = tt.tensor(rng.standard_normal((2, 3, 2, 2)).astype(np.float32))
    assert_close(fresh.eval()(x), bn.eval()(x))


def test_module_in_a_model_trains(rng):
    """Gradients reach the parameters of the layers before and after it."""
    model = nn.Sequential(nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 1))
    x = tt.tensor(rng.standard_normal((4, 2, 2, 2)).astype(np.float32))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


# --- bad input: errors before any kernel -------------------------------------------------------




def test_bad_input_raises_before_any_kernel(spy):
    x = tt.zeros(2, 3, 4, 4, requires_grad=True)
    c3, c4 = tt.zeros(3), tt.zeros(4)
    with tt.backend("jit"):  # valid layers, built (reset through kernels) before the spy
        bn, bn4 = nn.BatchNorm2d(3), nn.BatchNorm2d(4)
    counter = bn.num_batches_tracked.item()
    cases = [
        (lambda: bn(tt.zeros(2, 3, 4)), ValueError, ["expected 4D input", "got 3D input",
                                                     "(2, 3, 4)"]),
        (lambda: bn4(x), ValueError, ["BatchNorm2d(4)", "the input has 3 "
                                                    "channels", "num_features=4"]),
        (lambda: bn(tt.zeros(1, 3, 1, 1)), ValueError,
         ["Expected more than 1 value per channel when training", "(1, 3, 1, 1)"]),
        (lambda: bn([1.0]), TypeError, ["input must be a Tensor, got list"]),
        (lambda: F.batch_norm(x, c4, c4, training=True), ValueError,
         ["running_mean has shape (4,) but the input has 3 channels", "(2, 3, 4, 4)"]),
        (lambda: F.batch_norm(x, c3, c3, weight=c4), ValueError, ["weight has shape (4,)",
                                                                  "3 channels"]),
        (lambda: F.batch_norm(x, c3, c3, bias=tt.zeros(3, dtype=tt.float64)), TypeError,
         ["bias is float64 but the input is float32"]),
        (lambda: F.batch_norm(x, None, None), ValueError, ["must be given in evaluation mode"]),
        (lambda: F.batch_norm(x, c3, None, training=True), ValueError, ["both running_mean"]),
        (lambda: F.batch_norm(tt.zeros(3), None, None, training=True), ValueError,
         ["at least 2 dimensions", "(3,)"]),
        (lambda: F.batch_norm(tt.zeros(2, 3, dtype=tt.int64), None, None, training=True),
         TypeError, ["floating point", "int64"]),
        (lambda: F.batch_norm(x, None, None, training=1), TypeError, ["training must be a bool"]),
        (lambda: F.batch_norm(x, None, None, training=True, eps=-1.0), ValueError,
         ["eps must be non-negative"]),
        (lambda: F.batch_norm(x, None, None, training=True, momentum="0.1"), TypeError,
         ["momentum must be a number"]),
        (lambda: F.batch_norm(x, tt.zeros(1).expand(3), c3, training=True), ValueError,
         ["running_mean is a read-only view"]),
        (lambda: nn.BatchNorm2d(0), ValueError, ["num_features must be positive"]),
        (lambda: nn.BatchNorm2d(3.0), TypeError, ["num_features must be an int"]),
        (lambda: nn.BatchNorm2d(3, momentum="x"), TypeError, ["momentum must be a number or "
                                                              "None"]),
        (lambda: nn.BatchNorm2d(3, eps=-1), ValueError, ["eps must be a finite number >= 0"]),
        (lambda: nn.BatchNorm2d(3, affine=1), TypeError, ["affine must be a bool"]),
        (lambda: nn.BatchNorm2d(3, dtype=tt.int32), TypeError, ["floating point"]),
    ]
    for fn, error, messages in cases:
        with pytest.raises(error) as info:
            fn()
        for m in messages:
            assert m in str(info.value), f"{m!r} not in: {info.value}"
        assert spy == [], f"{spy} ran before: {info.value}"
    assert bn.num_batches_tracked.item() == counter  # a refused batch is not counted
    with pytest.raises(KernelCalled):  # the harness: a valid call does reach the spy
        F.batch_norm(x, c3, c3, training=True)
    assert spy == ["batch_norm_forward"]
    spy.clear()  # the shared fixture checks that no kernel ran


# --- PyTorch cross-checks ----------------------------------------------------------------------

@pytest.mark.parametrize("momentum", [0.1, None])
def test_module_matches_torch_over_several_steps(backend, rng, momentum):
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm2d(3, momentum=momentum), torch.nn.BatchNorm2d(3,
                                                                              momentum=momentum)
    w, b = rng.uniform(0.5, 2, 3).astype(np.float32), rng.standard_normal(3).astype(np.float32)
    with tt.no_grad(), torch.no_grad():
        ours.weight[...] = tt.tensor(w)
        ours.bias[...] = tt.tensor(b)
        theirs.weight.copy_(torch.tensor(w))
        theirs.bias.copy_(torch.tensor(b))
    tol = loose(np.float32)
    for step in range(4):
        data = (rng.standard_normal((4, 3, 5, 3)) * (step + 1) + step).astype(np.float32)
        g = rng.standard_normal(data.shape).astype(np.float32)
        x, tx = tt.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        y, ty = ours(x), theirs(tx)
        assert_close(y, ty.detach().numpy(), **tol)
        y.backward(tt.tensor(g))
        ty.backward(torch.tensor(g))
        assert_close(x.grad, tx.grad.numpy(), **tol)
        for p, tp in zip(ours.parameters(), theirs.parameters(), strict=True):
            assert_close(p.grad, tp.grad.numpy(), rtol=1e-4, atol=1e-4)
            p.grad, tp.grad = None, None
        assert_close(ours.running_mean, theirs.running_mean.numpy(), **tol)
        assert_close(ours.running_var, theirs.running_var.numpy(), **tol)
        assert ours.num_batches_tracked.item() == theirs.num_batches_tracked.item() == step + 1
    ours.eval()
    theirs.eval()
    data = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    x, tx = tt.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
    y, ty = ours(x), theirs(tx)
    assert_close(y, ty.detach().numpy(), **tol)
    y.sum().backward()
    ty.sum().backward()
    assert_close(x.grad, tx.grad.numpy(), **tol)
    theirs_sd = {k: tt.tensor(v.numpy()) for k, v in theirs.state_dict().items()}
    assert list(theirs_sd) == list(ours.state_dict())  # same keys, same order as PyTorch
    fresh = nn.BatchNorm2d(3, momentum=momentum)
    fresh.load_state_dict(theirs_sd)
    assert_close(fresh.eval()(x), ty.detach().numpy(), **tol)


def test_functional_matches_torch_float64(backend, rng):
    torch = pytest.importorskip("torch")
    data = rng.standard_normal((3, 4, 5))
    w, b = rng.uniform(0.5, 2, 4), rng.standard_normal(4)
    rm, rv = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    for training in (True, False):
        ours_rm, ours_rv = tt.tensor(rm), tt.tensor(rv)
        their_rm, their_rv = torch.tensor(rm), torch.tensor(rv)
        x, tx = tt.tensor(data, requires_grad=True), torch.tensor(data, requires_grad=True)
        y = F.batch_norm(x, ours_rm, ours_rv, tt.tensor(w), tt.tensor(b), training, 0.2, 1e-3)
        ty = torch.nn.functional.batch_norm(tx, their_rm, their_rv, torch.tensor(w),
                                            torch.tensor(b), training, 0.2, 1e-3)
        assert_close(y, ty.detach().numpy())
        assert_close(ours_rm, their_rm.numpy())
        assert_close(ours_rv, their_rv.numpy())
        g = rng.standard_normal(data.shape)
        y.backward(tt.tensor(g))
        ty.backward(torch.tensor(g))
        assert_close(x.grad, tx.grad.numpy())


def test_what_backward_keeps():
    """The input and weight (references: same storage), and mean and invstd (2*C values)."""
    x = tt.zeros(4, 3, 2, 2, requires_grad=True)
    w = tt.ones(3, requires_grad=True)
    saved = F.batch_norm(x, None, None, w, training=True).grad_fn.ctx.saved_tensors
    assert saved[0].shares_storage(x) and saved[1].shares_storage(w)
    assert [t.shape for t in saved[2:]] == [(3,), (3,)]
    assert sum(t.nbytes for t in saved[2:]) == 2 * 3 * 4
