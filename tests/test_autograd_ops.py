"""Autograd of where, clamp, max/min, amax/amin, cat and stack (their backward kernels against
a numpy oracle, gradcheck on every CPU backend, PyTorch's tie and NaN rules), and the table
test: every forward op registered with the dispatcher has a checked gradient, or the table
says why it has none."""

from __future__ import annotations

import contextlib
import gc
import weakref

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.kernels import REGISTRY
from tinytorch.testing import KernelCalled, assert_close, gradcheck


def leaf(rng, *shape, low=-1.0, high=1.0, dtype=tt.float64):
    return tt.tensor(rng.uniform(low, high, shape), dtype=dtype, requires_grad=True)


def away_from(values: np.ndarray, points, margin: float = 0.05) -> np.ndarray:
    """``values`` pushed at least ``margin`` away from each point: central differences
    across a kink (a clamp bound) measure neither side's slope."""
    out = values.copy()
    for p in points:
        close = np.abs(out - p) < margin
        out[close] = p + np.where(out[close] >= p, margin, -margin) * 2
    return out


@contextlib.contextmanager
def kernel_calls(with_backend: bool = False):
    """The names of the kernels that run inside the block, in order (a dispatch hook), or
    ``(name, backend)`` pairs."""
    seen: list = []

    def hook(op, backend, args, params):
        seen.append((op, backend) if with_backend else op)
        return contextlib.nullcontext()

    tt.dispatch.add_hook(hook)
    try:
        yield seen
    finally:
        tt.dispatch.remove_hook(hook)


# --- the backward kernels against a numpy oracle, on every backend ------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clamp_backward_kernel_matches_numpy(backend, rng, dtype):
    x = rng.uniform(-2, 2, (3, 5)).astype(dtype)
    x[0, :4] = [-0.5, 0.5, np.nan, np.inf]  # both bounds exactly (inclusive), NaN, inf
    g = rng.normal(size=(5, 3)).astype(dtype).T  # a transposed (non-contiguous) gradient
    g[1, 0] = np.nan  # outside the range: must not leak through
    x[1, 0] = 1.5
    lo, hi = dtype(-0.5), dtype(0.5)
    got = np.full((3, 5), 7.0, dtype)
    tt.dispatch.call("clamp_backward", got, g, x, lo=lo, hi=hi)
    with np.errstate(invalid="ignore"):
        expected = np.where((x >= lo) & (x <= hi), g, 0).astype(dtype)
    assert_close(got, expected, check_dtype=True)
    assert got[0, :2].tolist() == g[0, :2].tolist()  # the bounds themselves pass
    assert got[0, 2:4].tolist() == [0, 0] and got[1, 0] == 0  # NaN x, inf x, NaN g outside
    # a missing bound arrives as an infinity: inf itself still passes
    tt.dispatch.call("clamp_backward", got, g, x, lo=dtype(-np.inf), hi=dtype(np.inf))
    assert_close(got, np.where(np.isnan(x), 0, g))


def test_clamp_backward_kernel_on_zero_size_input(backend):
    got = np.empty((0, 3))
    tt.dispatch.call("clamp_backward", got, np.empty((0, 3)), np.empty((0, 3)), lo=0.0,
                     hi=1.0)
    assert got.shape == (0, 3)


@pytest.mark.parametrize("kernel", ["max_backward", "min_backward"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_kernel_matches_numpy(backend, rng, kernel, dtype):
    rows, cols = 5, 4
    g_store = rng.normal(size=2 * rows).astype(dtype)
    g = g_store[::2]  # strided 1-D gradient
    indices = rng.integers(0, cols, rows)
    got = np.full((rows, cols), np.nan, dtype)
    tt.dispatch.call(kernel, got, g, indices)
    expected = np.zeros((rows, cols), dtype)
    expected[np.arange(rows), indices] = g
    np.testing.assert_array_equal(got, expected)
    empty = np.empty((0, cols), dtype)
    tt.dispatch.call(kernel, empty, g[:0], indices[:0])  # zero rows: nothing to do


def _spread_oracle(g, x, values, nan_ties):
    with np.errstate(all="ignore"):
        v = values[:, None]
        mask = (x == v) | (nan_ties & np.isnan(x) & np.isnan(v))
        share = g[:, None] / mask.sum(axis=1, keepdims=True)
        out = np.where(mask, share, 0.0) if nan_ties else share * mask
    return out.astype(g.dtype)


@pytest.mark.parametrize("kernel", ["amax_backward", "amin_backward"])
@pytest.mark.parametrize("nan_ties", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spread_kernel_matches_numpy(backend, rng, kernel, nan_ties, dtype):
    x = rng.integers(0, 3, (6, 5)).astype(dtype)  # small integers: many ties
    x[1, 3] = np.nan  # a NaN among numbers
    x[4, :] = np.nan  # a row of NaN
    x = np.asfortranarray(x)  # column-major: non-contiguous rows for the kernel
    reduce = np.max if kernel == "amax_backward" else np.min
    values = reduce(x, axis=1)  # NaN propagates, as the forward kernel does
    g = rng.uniform(0.5, 1.5, 6).astype(dtype)
    got = np.empty((6, 5), dtype)
    tt.dispatch.call(kernel, got, g, x, values, nan_ties=nan_ties)
    assert_close(got, _spread_oracle(g, x, values, nan_ties), check_dtype=True)
    if nan_ties:  # max()'s rule: the NaN positions share the gradient
        assert np.isnan(got).sum() == 0 and got[1, 3] == g[1]
    else:  # amax's rule: a NaN result matches nothing, so its row's gradient is NaN
        assert np.isnan(got[1]).all() and np.isnan(got[4]).all()
        assert not np.isnan(np.delete(got, [1, 4], axis=0)).any()


# --- gradcheck of each op on every backend -------------------------------------------------

CLAMP_BOUNDS = [(-0.5, 0.5), (-0.3, None), (None, 0.2), (0, 1), (0.6, -0.6)]  # last: min > max


@pytest.mark.parametrize("bounds", CLAMP_BOUNDS, ids=str)
def test_gradcheck_clamp(backend, rng, bounds):
    lo, hi = bounds
    data = away_from(rng.uniform(-1.5, 1.5, (4, 3)), [b for b in bounds if b is not None])
    x = tt.tensor(data, dtype=tt.float64, requires_grad=True)
    assert gradcheck(lambda t: tt.clamp(t, lo, hi) * t, [x])
    assert gradcheck(lambda t: t.T[1:, ::2].clamp(min=lo, max=hi).exp(), [x])  # a strided view


WHERE_SHAPES = [((2, 3), (2, 3), (2, 3)), ((2, 1, 3), (4, 3), (1,)), ((3,), (2, 3), ()),
                ((2, 3), (), (2, 1)), ((1, 1), (2, 3), (3,))]


@pytest.mark.parametrize("shapes", WHERE_SHAPES, ids=str)
def test_gradcheck_where_with_broadcasting(backend, rng, shapes):
    cond = tt.tensor(rng.uniform(size=shapes[0]) > 0.5)
    a, b = leaf(rng, *shapes[1]), leaf(rng, *shapes[2])
    assert gradcheck(lambda a, b: tt.where(cond, a, b) * 2, [a, b])


def test_gradcheck_where_with_scalar_operands_and_views(backend, rng):
    a = leaf(rng, 3, 4)
    assert gradcheck(lambda a: tt.where(a > 0, a, 0.5) + tt.where(a.T.T < 0.2, -1.0, a * a),
                     [a])
    # non-contiguous operands: a transposed view and a stepped slice
    assert gradcheck(lambda a: tt.where(a[:, ::2] > 0, a.T[:2].T, a[:, 1:3].exp()), [a])


def test_gradcheck_where_only_one_operand_requires_grad(backend, rng):
    b = leaf(rng, 2, 3)
    a = tt.tensor(rng.normal(size=(2, 3)), dtype=tt.float64)
    cond = a > 0
    assert gradcheck(lambda b: tt.where(cond, a, b), [b])
    b.grad = None
    tt.where(cond, a, b).sum().backward()
    assert b.grad.tolist() == np.where(cond.numpy(), 0.0, 1.0).tolist()


EXTREMES = {
    "max_dim": lambda t: t.max(dim=1).values,
    "max_dim_keepdim_neg": lambda t: t.max(dim=-1, keepdim=True).values * 2,
    "min_dim": lambda t: t.min(dim=0).values,
    "max_all": lambda t: t.max(),
    "min_all": lambda t: tt.min(t) * t.sum(),
    "amax_dims": lambda t: t.amax(dim=(0, 2)),
    "amin_keepdim": lambda t: t.amin(dim=(-1, 0), keepdim=True),
    "amax_all": lambda t: tt.amax(t),
    "amin_dim": lambda t: tt.amin(t, 1),
}


@pytest.mark.parametrize("name", sorted(EXTREMES))
def test_gradcheck_max_min(backend, rng, name):
    fn = EXTREMES[name]
    assert gradcheck(fn, [leaf(rng, 2, 3, 4)])
    # the same reductions on a permuted view (the forward copies it into rows first)
    assert gradcheck(lambda t: fn(t.permute(2, 0, 1)), [leaf(rng, 2, 3, 4)])


def test_gradcheck_max_min_of_0d_and_expanded_gradients(backend, rng):
    s = leaf(rng)
    assert gradcheck(lambda t: t.max() + t.amin(dim=0) + t.max(dim=-1).values, [s])
    x = leaf(rng, 3, 2)
    # the reduction's gradient arrives expanded (stride 0) from the sum that follows
    assert gradcheck(lambda t: t.amax(dim=0, keepdim=True).expand(4, 2).sum(), [x])
    assert gradcheck(lambda t: t.max(dim=0).values.expand(3, 2) * t, [x])


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_gradcheck_cat(backend, rng, dim):
    a, b, c = leaf(rng, 2, 3, 2), leaf(rng, 2, 3, 2), leaf(rng, 2, 3, 2)
    if dim in (1, -1):  # differently sized along the joined dimension
        b = leaf(rng, 2, 3, 1) if dim == -1 else leaf(rng, 2, 1, 2)
    assert gradcheck(lambda a, b, c: tt.cat([a, b, a * c], dim=dim).tanh(), [a, b, c])


def test_gradcheck_cat_and_stack_of_non_contiguous_views(backend, rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 4, 3)
    assert gradcheck(lambda a, b: tt.cat([a.T, b[:, ::2], b.T.T[:, 1:2]], dim=1), [a, b])
    assert gradcheck(lambda a, b: tt.stack([a[:, ::2], b.T[:, 1:3]], dim=-1) * 3, [a, b])


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_gradcheck_stack(backend, rng, dim):
    a, b = leaf(rng, 2, 3), leaf(rng, 2, 3)
    assert gradcheck(lambda a, b: tt.stack([a, b, a], dim=dim).exp(), [a, b])


def test_cat_and_stack_when_only_some_inputs_require_grad(backend, rng):
    a = leaf(rng, 2, 3)
    frozen = tt.tensor(rng.normal(size=(1, 3)), dtype=tt.float64)
    ints = tt.tensor([[1, 2, 3]])  # int64: promoted, never differentiable
    assert gradcheck(lambda a: tt.cat([frozen, a, ints, a]), [a])
    assert gradcheck(lambda a: tt.stack([a, a * 2, frozen.expand(2, 3)], dim=1), [a])
    out = tt.cat([frozen, a, ints])
    assert out.requires_grad and out.dtype == tt.float64
    out.sum().backward()
    assert frozen.grad is None and ints.grad is None


def test_cat_of_promoted_dtypes_gives_each_input_its_own_dtype_back(backend):
    f32 = tt.tensor([[1.0, 2.0]], requires_grad=True)
    f64 = tt.tensor([[3.0, 4.0], [5.0, 6.0]], dtype=tt.float64, requires_grad=True)
    weights = tt.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=tt.float64)
    out = tt.cat([f32, f64])
    assert out.dtype == tt.float64
    (out * weights).sum().backward()
    assert f32.grad.dtype == tt.float32 and f32.grad.tolist() == [[1.0, 2.0]]
    assert f64.grad.dtype == tt.float64 and f64.grad.tolist() == [[3.0, 4.0], [5.0, 6.0]]
    s = tt.stack([f32[0], f64[1]])
    (s * tt.tensor([[1.0, 1.0], [2.0, 2.0]], dtype=tt.float64)).sum().backward()
    assert f32.grad.tolist() == [[2.0, 3.0]] and f32.grad.dtype == tt.float32


def test_cat_with_an_empty_input(backend, rng):
    a, e = leaf(rng, 2, 3), leaf(rng, 0, 3)
    out = tt.cat([e, a, e])
    out.sum().backward()
    assert e.grad.shape == (0, 3) and a.grad.tolist() == [[1.0] * 3] * 2


# --- the graph: what is recorded, what backward runs ----------------------------------------

def test_graph_nodes_and_no_graph_without_grad():
    x = tt.tensor([[1.0, -2.0], [3.0, 0.5]], requires_grad=True)
    made = {"ClampBackward": tt.clamp(x, 0.0), "WhereBackward": tt.where(x > 0, x, 1.0),
            "CatBackward": tt.cat([x, x]), "ExtremeBackward": x.amax(dim=0)}
    for name, out in made.items():
        assert out.requires_grad and name in repr(out.grad_fn)
    values, indices = x.max(dim=1)
    assert values.requires_grad and not indices.requires_grad and indices.grad_fn is None
    with tt.no_grad():
        outs = [tt.clamp(x, 0.0), tt.where(x > 0, x, 1.0), tt.stack([x, x]), x.max(),
                x.min(dim=0).values]
    outs += [tt.clamp(x.detach(), 0.0), tt.cat([x.detach()]), x.detach().amin()]
    outs += [tt.where(x > 0, 1, 2), tt.clamp(tt.tensor([1, 5]), 0, 3)]  # integer results
    for out in outs:
        assert not out.requires_grad and out.grad_fn is None


def test_max_dim_backward_is_one_scatter_kernel_call(rng):
    x = leaf(rng, 3, 4)
    values, _ = x.max(dim=1)
    with kernel_calls() as seen:
        values.backward(tt.ones(3, dtype=tt.float64))
    # one scatter; at most the copy that stores a leaf's first gradient besides
    assert [op for op in seen if op != "copy_forward"] == ["max_backward"], seen
    assert seen.count("copy_forward") <= 1, seen


def test_max_dim_backward_ignores_later_writes_to_the_returned_indices(rng):
    """The graph keeps its own copy of the indices: an index written out of range by the
    user would make the compiled scatter write outside its buffer."""
    x = leaf(rng, 3, 4)
    values, indices = x.max(dim=1)
    expected = np.zeros((3, 4))
    expected[np.arange(3), indices.numpy()] = 1
    indices[...] = 10 ** 9
    values.sum().backward()
    assert x.grad.tolist() == expected.tolist()


def test_cat_backward_hands_out_views_of_the_gradient(rng):
    a, b = leaf(rng, 2, 3), leaf(rng, 1, 3)
    out = tt.cat([a, b])
    g = tt.ones(3, 3, dtype=tt.float64)
    with kernel_calls() as seen:
        grads = out.grad_fn.apply(g, retain_graph=False)
    assert seen == []
    assert grads[0] is None and all(t.shares_storage(g) for t in grads[1:])
    assert [t.shape for t in grads[1:]] == [(2, 3), (1, 3)]


def test_saved_tensors_are_freed_after_backward(rng):
    x = leaf(rng, 2, 3)
    h = x * 2
    ref = weakref.ref(h)
    loss = tt.clamp(h, 0.0).sum() + tt.where(h > 0, h, 0.0).sum() + h.amax() + \
        tt.cat([h, h]).sum()
    del h
    gc.collect()
    assert ref() is not None  # saved by clamp and amax until backward
    loss.backward()
    gc.collect()
    assert ref() is None


@pytest.mark.parametrize("call", [
    lambda h, m: tt.clamp(h, 0.0),
    lambda h, m: h.amax(dim=1),
    lambda h, m: h.max(),
    lambda h, m: tt.where(m, h, 0.0),
], ids=["clamp", "amax", "max_all", "where_condition"])
def test_backward_refuses_saved_tensors_written_in_place(rng, call):
    """What these backward passes read (the input, the values, the condition) is saved
    with save_for_backward, so the version counter catches a write made after the
    forward instead of silently giving a gradient of other values."""
    x = leaf(rng, 2, 3)
    h, mask = x * 1.0, x.detach() > 0
    out = call(h, mask)
    with tt.no_grad():
        h[0, 0] = 5.0
        mask[0, 0] = True
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        out.sum().backward()


# --- PyTorch cross-checks -------------------------------------------------------------------

TIES = [[1.0, 3.0, 3.0, -1.0], [2.0, 2.0, 0.0, 2.0], [5.0, -4.0, -4.0, 5.0]]
NAN = [[1.0, np.nan, np.nan, 0.0], [2.0, 2.0, 0.0, 1.0], [np.nan, 3.0, 3.0, 1.0]]

TORCH_EXTREMES = {
    "max_all": lambda t: t.max(),
    "min_all": lambda t: t.min(),
    "max_dim1": lambda t: t.max(dim=1).values,
    "min_dim0_keepdim": lambda t: t.min(dim=0, keepdim=True).values,
    "amax_dim1": lambda t: t.amax(dim=1),
    "amin_dim0": lambda t: t.amin(dim=0, keepdim=True),
    "amax_all": lambda t: t.amax(dim=(0, 1)),
    "amin_all_neg": lambda t: t.amin(dim=(-1, -2)),
    "max_of_transposed": lambda t: t.T.max(dim=0).values,
    "amax_of_transposed": lambda t: t.T.amax(dim=1),
}


@pytest.mark.parametrize("data", [TIES, NAN], ids=["ties", "nan"])
@pytest.mark.parametrize("name", sorted(TORCH_EXTREMES))
def test_max_min_gradients_match_torch_with_ties_and_nan(name, data):
    torch = pytest.importorskip("torch")
    fn = TORCH_EXTREMES[name]
    ours = tt.tensor(data, dtype=tt.float64, requires_grad=True)
    theirs = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    out, ref = fn(ours), fn(theirs)
    assert_close(out, ref.detach().numpy())
    w = np.arange(1.0, 1.0 + ref.numel()).reshape(tuple(ref.shape))  # a distinct weight each
    out.backward(tt.tensor(w, dtype=tt.float64))
    ref.backward(torch.tensor(w))
    assert_close(ours.grad, theirs.grad.numpy(), rtol=0, atol=0)


def test_max_dim_indices_and_gradients_match_torch_in_float32():
    torch = pytest.importorskip("torch")
    data = np.array(TIES, np.float32)
    ours = tt.tensor(data, requires_grad=True)
    theirs = torch.tensor(data, requires_grad=True)
    (v, i), (tv, ti) = ours.max(dim=1), theirs.max(dim=1)
    assert i.tolist() == ti.tolist()
    (v * 2).sum().backward()
    (tv * 2).sum().backward()
    assert ours.grad.dtype == tt.float32
    assert_close(ours.grad, theirs.grad.numpy(), rtol=0, atol=0)


CLAMP_DATA = [-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, np.nan, np.inf, -np.inf]


@pytest.mark.parametrize("bounds", [(-0.5, 1.0), (0.0, None), (None, 0.5), (1.0, -1.0), (0, 2),
                                    (np.nan, None)], ids=str)
def test_clamp_gradients_match_torch_at_the_bounds(bounds):
    torch = pytest.importorskip("torch")
    lo, hi = bounds
    ours = tt.tensor(CLAMP_DATA, dtype=tt.float64, requires_grad=True)
    theirs = torch.tensor(CLAMP_DATA, dtype=torch.float64, requires_grad=True)
    out, ref = tt.clamp(ours, lo, hi), torch.clamp(theirs, lo, hi)
    assert_close(out, ref.detach().numpy())
    w = np.linspace(1, 2, len(CLAMP_DATA))
    out.backward(tt.tensor(w, dtype=tt.float64))
    ref.backward(torch.tensor(w))
    assert_close(ours.grad, theirs.grad.numpy(), rtol=0, atol=0)


def test_where_gradients_match_torch_with_broadcasting_and_promotion():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    c = rng.uniform(size=(2, 1, 3)) > 0.4
    a, b = rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=(3,))
    oa, ob = tt.tensor(a, requires_grad=True), tt.tensor(b, dtype=tt.float64,
                                                          requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out = tt.where(tt.tensor(c), oa, ob)
    ref = torch.where(torch.tensor(c), ta, tb)
    assert out.dtype == tt.float64 and ref.dtype == torch.float64
    w = rng.uniform(size=tuple(ref.shape))
    (out * tt.tensor(w, dtype=tt.float64)).sum().backward()
    (ref * torch.tensor(w)).sum().backward()
    assert oa.grad.dtype == tt.float32 and ob.grad.dtype == tt.float64
    assert_close(oa.grad, ta.grad.numpy())
    assert_close(ob.grad, tb.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("join,dim", [("cat", 0), ("cat", -1), ("stack", 1), ("stack", -1)])
def test_cat_and_stack_gradients_match_torch(join, dim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    arrays = [rng.normal(size=(2, 3)).astype(np.float32), rng.normal(size=(2, 3))]
    ours = [tt.tensor(arrays[0], requires_grad=True),
            tt.tensor(arrays[1], dtype=tt.float64, requires_grad=True)]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = getattr(tt, join)([ours[0], ours[1].T.T, ours[0]], dim=dim)
    ref = getattr(torch, join)([theirs[0], theirs[1], theirs[0]], dim=dim)
    assert tuple(ref.shape) == out.shape and out.dtype == tt.float64
    w = rng.uniform(size=tuple(ref.shape))
    (out * tt.tensor(w, dtype=tt.float64)).exp().sum().backward()
    (ref * torch.tensor(w)).exp().sum().backward()
    for o, t in zip(ours, theirs, strict=True):
        assert np.dtype(o.grad.dtype.np) == t.grad.numpy().dtype
        assert_close(o.grad, t.grad.numpy())


# --- bad input: errors before any kernel, with inputs that require grad ---------------------




def test_bad_input_to_the_differentiable_ops_raises_before_any_kernel(spy):
    with tt.backend("jit"):  # valid operands, made before the spy takes over
        x = tt.ones(2, 3, requires_grad=True)
        cond, total = x > 0, x.sum()
        int8, empty = tt.ones(2, dtype=tt.int8), tt.ones(0, 3, requires_grad=True)
    bad = [
        (TypeError, lambda: tt.clamp(x, min="0"), "min must be a number, got str"),
        (TypeError, lambda: tt.clamp(x, max=tt.tensor(1.0)), "max must be a number"),
        (ValueError, lambda: tt.clamp(x), "at least one of min and max"),
        (ValueError, lambda: tt.clamp(int8, min=300), "min=300", "int8"),
        (TypeError, lambda: tt.where(x, x, 0.0), "condition must be a bool tensor"),
        (TypeError, lambda: tt.where(cond, x, "0"), "b must be a Tensor or a number"),
        (ValueError, lambda: tt.where(cond, x, empty), "(2, 3)", "(0, 3)", "broadcast"),
        (TypeError, lambda: tt.cat(x), "list or tuple of tensors, got Tensor"),
        (TypeError, lambda: tt.cat([x, 1.0]), "element 1 is a float"),
        (ValueError, lambda: tt.cat([x, x[:, :2]]), "(2, 3)", "(2, 2)", "dimension 1"),
        (ValueError, lambda: tt.cat([x, x[0]]), "same number of dimensions"),
        (IndexError, lambda: tt.cat([x, x], dim=2), "out of range"),
        (ValueError, lambda: tt.cat([total, total]), "zero-dimensional"),
        (ValueError, lambda: tt.stack([x, x.T]), "(2, 3)", "(3, 2)"),
        (IndexError, lambda: tt.stack([x, x], dim=4), "out of range"),
        (IndexError, lambda: x.max(dim=2), "out of range"),
        (TypeError, lambda: x.min(dim=(0, 1)), "single int dim"),
        (ValueError, lambda: x.amax(dim=(1, -1)), "more than once"),
        (TypeError, lambda: x.amin(dim=0, keepdim=1), "keepdim must be a bool"),
        (IndexError, lambda: empty.amax(dim=0), "size 0"),
        (IndexError, lambda: empty.max(), "size 0", "(0, 3)"),
    ]
    for exc, call, *messages in bad:
        with pytest.raises(exc) as info:
            call()
        for m in messages:
            assert m in str(info.value), f"{m!r} not in: {info.value}"
        assert spy == [], f"{spy} ran before: {info.value}"


def test_the_spy_sees_the_backward_kernels(spy):
    """The harness itself: valid calls reach the spy, forward and backward, so the silence
    above means something."""
    with pytest.raises(KernelCalled):
        tt.clamp(tt.ones(2), 0.0)
    assert spy == ["clamp_forward"]
    with tt.backend("jit"):
        x = tt.ones(2, requires_grad=True)
        y = x.amax()
    with pytest.raises(KernelCalled):
        y.backward()
    assert spy == ["clamp_forward", "amax_backward"]
    spy.clear()


# --- every registered forward op has a checked gradient -------------------------------------

def F():  # noqa: N802 (PyTorch's spelling)
    """``tinytorch.nn.functional``, looked up when a case runs (written by another issue)."""
    import tinytorch.nn.functional as functional

    return functional


def _labels(*values):
    return tt.tensor(list(values), dtype=tt.int64)


def _bce_mean(logits):
    target = tt.tensor([[0.0, 0.25, 1.0], [0.5, 1.0, 0.0]], dtype=tt.float64)
    return F().binary_cross_entropy_with_logits(logits, target)


# op -> {case id: (build(rng) -> (fn, inputs), the backward kernel the case must run or None
# when the gradient comes from other kernels)}. A case's forward must run `<op>_forward`.
CASES = {
    "copy": {"contiguous": (lambda r: (lambda t: t.T.contiguous() * 2, [leaf(r, 2, 3)]), None),
             "clone": (lambda r: (lambda t: t.clone() * t, [leaf(r, 3)]), None)},
    "neg": {"neg": (lambda r: (lambda t: -t, [leaf(r, 2, 3)]), None)},
    "abs": {"abs": (lambda r: (lambda t: t.abs(), [leaf(r, 2, 3, low=0.1)]), "abs_backward")},
    "exp": {"exp": (lambda r: (lambda t: t.exp(), [leaf(r, 2, 3)]), "exp_backward")},
    "log": {"log": (lambda r: (lambda t: t.log(), [leaf(r, 2, 3, low=0.5)]), "log_backward")},
    "sqrt": {"sqrt": (lambda r: (lambda t: t.sqrt(), [leaf(r, 2, 3, low=0.5)]),
                      "sqrt_backward")},
    "relu": {"relu": (lambda r: (lambda t: t.relu(), [leaf(r, 2, 3, low=0.1)]),
                      "relu_backward")},
    "sigmoid": {"sigmoid": (lambda r: (lambda t: t.sigmoid(), [leaf(r, 2, 3)]),
                            "sigmoid_backward")},
    "tanh": {"tanh": (lambda r: (lambda t: t.tanh(), [leaf(r, 2, 3)]), "tanh_backward")},
    "add": {"add": (lambda r: (lambda a, b: a + b, [leaf(r, 2, 3), leaf(r, 3)]), None)},
    "sub": {"sub": (lambda r: (lambda a, b: a - b, [leaf(r, 2, 3), leaf(r, 2, 1)]), None)},
    "mul": {"mul": (lambda r: (lambda a, b: a * b, [leaf(r, 2, 3), leaf(r, 3)]),
                    "mul_backward")},
    "div": {"div": (lambda r: (lambda a, b: a / b, [leaf(r, 2, 3), leaf(r, 3, low=0.5)]),
                    "div_backward")},
    "pow": {"pow": (lambda r: (lambda a, b: a ** b, [leaf(r, 2, 3, low=0.5), leaf(r, 3)]),
                    "pow_backward")},
    "matmul": {"matmul": (lambda r: (lambda a, b: a @ b, [leaf(r, 2, 3), leaf(r, 3, 2)]),
                          None)},
    "linear": {"bias": (lambda r: (lambda x, w, b: tt.ops.linear(x, w, b),
                                   [leaf(r, 3, 4), leaf(r, 2, 4), leaf(r, 2)]), "linear_backward"),
               "no_bias_3d": (lambda r: (lambda x, w: tt.ops.linear(x, w),
                                         [leaf(r, 2, 2, 3), leaf(r, 4, 3)]), "linear_backward")},
    "linear_act": {
        "relu": (lambda r: (lambda x, w, b: tt.ops.linear_act(x, w, b, "relu"),
                            [leaf(r, 3, 4), leaf(r, 2, 4), leaf(r, 2)]), "linear_act_backward"),
        "gelu_3d": (lambda r: (lambda x, w: tt.ops.linear_act(x, w, activation="gelu"),
                               [leaf(r, 2, 2, 3), leaf(r, 4, 3)]), "linear_act_backward"),
        "gelu_tanh": (lambda r: (lambda x, w, b: tt.ops.linear_act(x, w, b, "gelu_tanh"),
                                 [leaf(r, 3, 4), leaf(r, 2, 4), leaf(r, 2)]),
                      "linear_act_backward")},
    "conv2d": {
        "pad1": (lambda r: (lambda x, w, b: tt.ops.conv2d(x, w, b, padding=1),
                            [leaf(r, 1, 2, 4, 4), leaf(r, 3, 2, 3, 3), leaf(r, 3)]),
                 "conv2d_backward"),
        "stride2_groups": (lambda r: (lambda x, w: tt.ops.conv2d(x, w, stride=2, groups=2),
                                      [leaf(r, 2, 4, 5, 5), leaf(r, 2, 2, 3, 3)]),
                           "conv2d_backward")},
    "max_pool2d": {
        "pad_stride2": (lambda r: (lambda t: F().max_pool2d(t, 3, 2, 1), [leaf(r, 1, 2, 5, 5)]),
                        "max_pool2d_backward"),
        "2x2": (lambda r: (lambda t: F().max_pool2d(t, 2), [leaf(r, 2, 1, 4, 4)]),
                "max_pool2d_backward")},
    "avg_pool2d": {
        "ceil_pad": (lambda r: (lambda t: F().avg_pool2d(t, 2, 2, 1, ceil_mode=True),
                                [leaf(r, 1, 2, 5, 4)]), "avg_pool2d_backward")},
    "adaptive_avg_pool2d": {
        "2x3": (lambda r: (lambda t: F().adaptive_avg_pool2d(t, (2, 3)), [leaf(r, 1, 2, 5, 4)]),
                "adaptive_avg_pool2d_backward")},
    "batch_norm": {
        "train": (lambda r: (lambda x, w, b: F().batch_norm(x, None, None, w, b, training=True),
                             [leaf(r, 3, 2, 2, 2), leaf(r, 2), leaf(r, 2)]),
                  "batch_norm_backward"),
        "eval": (lambda r: (lambda x: F().batch_norm(x, tt.zeros(2, dtype=tt.float64),
                                                     tt.ones(2, dtype=tt.float64)),
                            [leaf(r, 3, 2, 2)]), "batch_norm_backward")},
    "sum": {"sum": (lambda r: (lambda t: t.sum(1) * t.sum(), [leaf(r, 2, 3)]), None)},
    "mean": {"mean": (lambda r: (lambda t: t.mean(0), [leaf(r, 2, 3)]), None)},
    "clamp": {"clamp": (lambda r: (lambda t: t.clamp(-0.5, 0.5),
                                   [tt.tensor(away_from(r.uniform(-1, 1, (2, 3)), [-.5, .5]),
                                              dtype=tt.float64, requires_grad=True)]),
                        "clamp_backward")},
    "where": {"where": (lambda r: (lambda a, b: tt.where(a > 0, a, b),
                                   [leaf(r, 2, 3), leaf(r, 3)]), None)},
    "max": {"max_dim": (lambda r: (lambda t: t.max(dim=1).values, [leaf(r, 2, 3)]),
                        "max_backward"),
            "max_all": (lambda r: (lambda t: t.max(), [leaf(r, 2, 3)]), "amax_backward"),
            "amax": (lambda r: (lambda t: t.amax(dim=0), [leaf(r, 2, 3)]), "amax_backward")},
    "min": {"min_dim": (lambda r: (lambda t: t.min(dim=0).values, [leaf(r, 2, 3)]),
                        "min_backward"),
            "min_all": (lambda r: (lambda t: t.min(), [leaf(r, 2, 3)]), "amin_backward"),
            "amin": (lambda r: (lambda t: t.amin(dim=(0, 1)), [leaf(r, 2, 3)]),
                     "amin_backward")},
    # tinytorch.nn.functional (activations and losses)
    "gelu": {"exact": (lambda r: (lambda t: F().gelu(t), [leaf(r, 2, 3, low=-3, high=3)]),
                       "gelu_backward"),
             "tanh": (lambda r: (lambda t: F().gelu(t, approximate="tanh"),
                                 [leaf(r, 2, 3, low=-3, high=3)]), "gelu_backward")},
    "leaky_relu": {"leaky_relu": (lambda r: (lambda t: F().leaky_relu(t, 0.2),
                                             [tt.tensor(away_from(r.uniform(-1, 1, (2, 3)),
                                                                  [0.0]),
                                                        dtype=tt.float64,
                                                        requires_grad=True)]),
                                  "leaky_relu_backward")},
    "softmax": {"softmax": (lambda r: (lambda t: F().softmax(t, dim=1), [leaf(r, 2, 3)]),
                            "softmax_backward"),
                "dim0": (lambda r: (lambda t: F().softmax(t, 0), [leaf(r, 3, 2)]),
                         "softmax_backward")},
    "log_softmax": {"log_softmax": (lambda r: (lambda t: F().log_softmax(t, dim=-1),
                                               [leaf(r, 2, 3)]), "log_softmax_backward")},
    "cross_entropy": {
        "mean": (lambda r: (lambda t: F().cross_entropy(t, _labels(0, 3, 1)),
                            [leaf(r, 3, 4)]), "cross_entropy_backward"),
        "smoothing_ignore_sum": (lambda r: (lambda t: F().cross_entropy(
            t, _labels(2, 1, 0), reduction="sum", ignore_index=1, label_smoothing=0.1),
            [leaf(r, 3, 4)]), "cross_entropy_backward")},
    "nll": {"nll": (lambda r: (lambda t: F().nll_loss(t, _labels(1, 0, 3)), [leaf(r, 3, 4)]),
                    "nll_backward"),
            "none": (lambda r: (lambda t: F().nll_loss(t, _labels(1, 2), reduction="none"),
                                [leaf(r, 2, 3)]), "nll_backward")},
    "mse": {"mse": (lambda r: (lambda a, b: F().mse_loss(a, b), [leaf(r, 2, 3), leaf(r, 2, 3)]),
                    "mse_backward"),
            "sum": (lambda r: (lambda a: F().mse_loss(a, tt.zeros(2, 3, dtype=tt.float64),
                                                      reduction="sum"), [leaf(r, 2, 3)]),
                    "mse_backward")},
    "bce_with_logits": {
        "mean": (lambda r: (_bce_mean, [leaf(r, 2, 3, low=-3, high=3)]),
                 "bce_with_logits_backward"),
        "pos_weight": (lambda r: (lambda t: F().binary_cross_entropy_with_logits(
            t, tt.tensor([[0.0, 1.0, 1.0]], dtype=tt.float64), reduction="sum",
            pos_weight=tt.tensor([1.0, 2.0, 0.5], dtype=tt.float64)), [leaf(r, 1, 3)]),
            "bce_with_logits_backward")},
}

# Forward ops with no gradient, and why.
INT8 = "int8 quantisation (tinytorch.quantization): inference only; rounding has no gradient"
NON_DIFFERENTIABLE = {
    "csr_matmul": "inference kernel: CSR weights (SparseLinear) are not trained; pruned models "
                  "fine-tune as masked dense weights (tinytorch.pruning.keep_masks)",
    "csr_linear": "inference kernel: CSR weights (SparseLinear) are not trained, as csr_matmul",
    "quantize": INT8,
    "dequantize": INT8,
    "requantize": INT8,
    "requantize_fixed": INT8,
    "qim2row": INT8,
    "qgemm": INT8,
    "eq": "comparison: a bool result has no gradient",
    "ne": "comparison: a bool result has no gradient",
    "lt": "comparison: a bool result has no gradient",
    "le": "comparison: a bool result has no gradient",
    "gt": "comparison: a bool result has no gradient",
    "ge": "comparison: a bool result has no gradient",
    # data-pipeline transforms run on loader batches, never inside a recorded graph
    "normalize": "data transform (tinytorch.data.transforms): applied to input batches",
    "crop": "data transform: random crop of input images",
    "hflip": "data transform: random horizontal flip of input images",
    "to_dtype": "data transform: uint8 images to float, before the model",
}

# Kernels that are not ops of a graph at all: they update tensors in place, under no_grad.
NOT_AN_AUTOGRAD_OP = {
    "sgd_step": "optimiser update: writes the parameters in place, outside the graph",
    "adam_step": "optimiser update: writes the parameters and moments in place",
}

CASE_IDS = [(op, case) for op in sorted(CASES) for case in sorted(CASES[op])]


def _registered() -> set[str]:
    """Every kernel name the dispatcher knows: the family tables and the dispatch table
    (which adds the cuda launchers, and anything registered at run time)."""
    return set(REGISTRY) | set(tt.dispatch._TABLE)


def test_every_forward_op_has_a_gradient_check_or_a_reason():
    names = _registered()
    forward = {n.removesuffix("_forward") for n in names if n.endswith("_forward")}
    backward = {n for n in names if n.endswith("_backward")}
    other = names - {f"{op}_forward" for op in forward} - backward
    problems = []
    for op in sorted(forward - set(CASES) - set(NON_DIFFERENTIABLE)):
        problems.append(f"{op}_forward has no gradcheck case in CASES and is not in "
                        "NON_DIFFERENTIABLE (say why it has no gradient)")
    for op in sorted(set(CASES) & set(NON_DIFFERENTIABLE)):
        problems.append(f"{op} is both checked and listed as non-differentiable")
    for op in sorted((set(CASES) | set(NON_DIFFERENTIABLE)) - forward):
        problems.append(f"{op}_forward is expected (a case or a reason names it) but no "
                        "kernel is registered under that name")
    for name in sorted(other - set(NOT_AN_AUTOGRAD_OP)):
        problems.append(f"{name} is neither <op>_forward nor <op>_backward, and not in "
                        "NOT_AN_AUTOGRAD_OP")
    for name in sorted(set(NOT_AN_AUTOGRAD_OP) - other):
        problems.append(f"{name} is listed in NOT_AN_AUTOGRAD_OP but not registered")
    declared = {kernel for cases in CASES.values() for _, kernel in cases.values() if kernel}
    for name in sorted(backward - declared):
        problems.append(f"{name} is registered but no gradcheck case runs it")
    for name in sorted(declared - backward):
        problems.append(f"a case expects {name}, which is not registered")
    assert not problems, "\n".join(problems)
    assert all(reason for reason in {**NON_DIFFERENTIABLE, **NOT_AN_AUTOGRAD_OP}.values())


@pytest.mark.parametrize("op,case", CASE_IDS, ids=[f"{op}-{case}" for op, case in CASE_IDS])
def test_gradcheck_of_every_differentiable_op(backend, rng, op, case):
    build, backward_kernel = CASES[op][case]
    fn, inputs = build(rng)
    with kernel_calls() as seen:
        assert gradcheck(fn, inputs)
    assert f"{op}_forward" in seen, f"the case for {op} never ran {op}_forward: {set(seen)}"
    if backward_kernel is not None:
        assert backward_kernel in seen, f"{backward_kernel} never ran: {set(seen)}"


# --- the backward passes on the cuda backend (numba's simulator here) -----------------------

# Backward kernels in kernels/cuda/ (op -> a tiny case). Today there are none: the backward
# passes that run on cuda do so through forward kernels (matmul, sum, neg, mul...), checked
# below. A cuda `<op>_backward` added without a case here fails the next test.
CUDA_BACKWARD_CASES: dict = {}


def test_every_cuda_backward_kernel_has_a_case():
    from tinytorch.kernels.cuda import CUDA_KERNELS

    cuda_backward = {op for op in CUDA_KERNELS if op.endswith("_backward")}
    assert cuda_backward == set(CUDA_BACKWARD_CASES), (
        f"cuda backward kernels without a test: {sorted(cuda_backward - set(CUDA_BACKWARD_CASES))}")


@pytest.mark.cuda
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the fallback's one-time notices
@pytest.mark.filterwarnings("ignore::numba.core.errors.NumbaPerformanceWarning")
def test_backward_on_the_cuda_kernels_matches_numpy():
    kind, detail = tt.kernels.cuda_status()
    if kind == "none":
        pytest.skip(f"no CUDA GPU and no simulator: {detail}")
    from tinytorch.kernels.cuda import CUDA_KERNELS

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3, 4))
    params = [rng.normal(size=(4, 2)), rng.normal(size=(2,))]

    def grads(backend):
        ws = [tt.tensor(p, dtype=tt.float64, requires_grad=True) for p in params]
        with tt.backend(backend, fallback="numpy"):
            h = tt.tensor(x, dtype=tt.float64) @ ws[0] + ws[1]
            loss = (tt.cat([h.relu(), h.exp()], dim=1) - 1).amax(dim=1).sum()
            loss = loss + tt.where(h > 0, h, 0.0).clamp(max=1.0).sum()
            with kernel_calls(with_backend=True) as seen:
                loss.backward()
        return [w.grad.numpy() for w in ws], seen

    expected, _ = grads("numpy")
    got, seen = grads("cuda")
    on_cuda = {op for op, backend in seen if backend == "cuda"}
    # the weight's gradient is a matmul, the bias's a sum: both run as cuda kernels
    assert {"matmul_forward", "sum_forward"} <= on_cuda, seen
    assert on_cuda <= set(CUDA_KERNELS)
    for g, e in zip(got, expected, strict=True):
        assert_close(g, e, rtol=1e-12, atol=1e-12)
