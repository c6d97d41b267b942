"""Autograd (module 04): gradients of every differentiable op on every CPU backend, checked
with central differences; the graph's life cycle (accumulation, freeing, errors, no_grad)."""

import gc
import weakref

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.testing import assert_close, gradcheck


def leaf(rng, *shape, low=-1.0, high=1.0):
    return tt.tensor(rng.uniform(low, high, shape), dtype=tt.float64, requires_grad=True)


# --- gradcheck of every op on every backend ----------------------------------------------

UNARY = {
    "neg": (lambda t: -t, (-1, 1)),
    "exp": (lambda t: t.exp(), (-1, 1)),
    "log": (lambda t: t.log(), (0.5, 2)),
    "sqrt": (lambda t: t.sqrt(), (0.5, 2)),
    "relu": (lambda t: t.relu(), (0.1, 1)),  # away from the kink
    "relu_neg": (lambda t: t.relu(), (-1, -0.1)),
    "sigmoid": (lambda t: t.sigmoid(), (-3, 3)),
    "tanh": (lambda t: t.tanh(), (-2, 2)),
    "abs_pos": (lambda t: t.abs(), (0.1, 1)),
    "abs_neg": (lambda t: abs(t), (-1, -0.1)),
    "pow_scalar": (lambda t: t ** 3, (-1, 1)),
    "pow_frac": (lambda t: t ** 0.5, (0.5, 2)),
    "rpow": (lambda t: 2.0 ** t, (-1, 1)),
    "scalar_ops": (lambda t: (3 - t) * 2 / 4 + 1 - 5 / (t + 2), (-1, 1)),
}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_gradcheck_unary(backend, rng, name):
    fn, (lo, hi) = UNARY[name]
    assert gradcheck(fn, [leaf(rng, 2, 3, low=lo, high=hi)])


@pytest.mark.parametrize("name", sorted(UNARY))
def test_gradcheck_unary_on_a_transposed_view(backend, rng, name):
    fn, (lo, hi) = UNARY[name]
    assert gradcheck(lambda t: fn(t.T), [leaf(rng, 3, 2, low=lo, high=hi)])


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a ** b,
}

SHAPES = [((2, 3), (2, 3)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1)), ((), (2,))]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("op", sorted(BINARY))
def test_gradcheck_binary_with_broadcasting(backend, rng, op, shapes):
    low = 0.5 if op in ("div", "pow") else -1.0  # positive bases and divisors
    a, b = leaf(rng, *shapes[0], low=low, high=2.0), leaf(rng, *shapes[1], low=low, high=2.0)
    assert gradcheck(BINARY[op], [a, b])


def test_gradcheck_binary_on_non_contiguous_views(backend, rng):
    a, b = leaf(rng, 3, 4), leaf(rng, 4, 3, low=0.5, high=2.0)
    assert gradcheck(lambda a, b: a[:, ::2] * b.T[:, :2] / b.T[:, 1::2], [a, b])


def test_gradcheck_only_one_operand_requires_grad(backend, rng):
    a = leaf(rng, 2, 3)
    b = tt.tensor(rng.uniform(0.5, 2, (3,)), dtype=tt.float64)
    assert gradcheck(lambda a: a * b + b / (a * a + 1), [a])


@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), ((0, 2), False),
                                         (-1, True)])
def test_gradcheck_sum_and_mean(backend, rng, dim, keepdim):
    x = leaf(rng, 2, 3, 4)
    assert gradcheck(lambda t: t.sum(dim, keepdim) * 2, [x])
    assert gradcheck(lambda t: t.mean(dim=dim, keepdim=keepdim), [x])
    assert gradcheck(lambda t: t.permute(2, 0, 1).mean(dim, keepdim).exp(), [x])


MATMUL_SHAPES = [((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
                 ((2, 2, 3), (3, 4)), ((3,), (2, 3, 2)), ((2, 1, 2, 3), (3, 3, 2)),
                 ((2, 3, 2), (2,))]


@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_gradcheck_matmul(backend, rng, shapes):
    a, b = leaf(rng, *shapes[0]), leaf(rng, *shapes[1])
    assert gradcheck(lambda a, b: a @ b, [a, b])


def test_gradcheck_matmul_on_transposed_operands(backend, rng):
    a, b = leaf(rng, 3, 2), leaf(rng, 4, 3)
    assert gradcheck(lambda a, b: (a.T @ b.T).tanh(), [a, b])


VIEWS = {
    "reshape": lambda t: t.reshape(4, 6) * 2,
    "view": lambda t: t.view(-1).exp(),
    "reshape_copy": lambda t: t.transpose(0, 2).reshape(-1) * 3,  # needs a copy
    "flatten": lambda t: t.flatten().sigmoid(),
    "transpose": lambda t: t.transpose(0, 1).tanh(),
    "T": lambda t: t.T.exp(),
    "permute": lambda t: t.permute(2, 0, 1) * t.permute(2, 0, 1),
    "unsqueeze_squeeze": lambda t: t.unsqueeze(1).squeeze().unsqueeze(-1).exp(),
    "expand": lambda t: t[:, :1, :].expand(2, 3, 4) * t,
    "expand_new_dims": lambda t: t[0, 0].expand(5, 4).tanh(),
    "slicing": lambda t: t[1, ::2, 1:3].exp(),
    "slicing_none": lambda t: t[None, ..., -1] * 2,
    "slicing_overlap": lambda t: t[:, 1:] * t[:, :-1],
    "contiguous": lambda t: t.transpose(1, 2).contiguous().exp(),
    "clone": lambda t: t.clone().exp(),
}


@pytest.mark.parametrize("name", sorted(VIEWS))
def test_gradcheck_views(backend, rng, name):
    assert gradcheck(VIEWS[name], [leaf(rng, 2, 3, 4)])


def test_gradient_through_a_cast_comes_back_in_the_input_dtype(backend):
    x = tt.tensor([1.0, 2.0], dtype=tt.float64, requires_grad=True)
    (x.to(tt.float32) * tt.tensor([3.0, 4.0])).sum().backward()
    assert x.grad.dtype == tt.float64 and x.grad.tolist() == [3.0, 4.0]
    y = tt.tensor([1.0, 2.0], requires_grad=True)  # float32 * float64 -> float64 output
    (y * tt.tensor([3.0, 4.0], dtype=tt.float64)).sum().backward()
    assert y.grad.dtype == tt.float32 and y.grad.tolist() == [3.0, 4.0]


def test_gradcheck_a_small_network(backend, rng):
    x = tt.tensor(rng.normal(size=(5, 3)), dtype=tt.float64)
    w1, b1, w2 = leaf(rng, 3, 4), leaf(rng, 4), leaf(rng, 4, 2)

    def net(w1, b1, w2):
        h = (x @ w1 + b1).tanh()
        return ((h @ w2).sigmoid() - 0.5).pow(2).mean()

    assert gradcheck(net, [w1, b1, w2])


def test_gradcheck_reports_a_wrong_gradient(rng):
    class Wrong(tt.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            return grad * 3

    x = leaf(rng, 2, 2)
    with pytest.raises(AssertionError, match=r"input 0 .*analytical.*numerical"):
        gradcheck(Wrong.apply, [x])


def test_gradcheck_wants_float64(rng):
    x = tt.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, [x])


# --- the graph and its life cycle ---------------------------------------------------------

def test_grad_accumulates_over_backward_calls():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (x * 3).sum().backward()
    assert x.grad.tolist() == [5.0, 7.0]
    assert x.grad.dtype == tt.float32


def test_gradient_of_a_tensor_used_twice_is_summed():
    x = tt.tensor([3.0], requires_grad=True)
    y = x * x + x
    y.sum().backward()
    assert x.grad.tolist() == [7.0]


def test_backward_twice_without_retain_graph_raises():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="(?s)second time.*retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = tt.tensor([1.0, 2.0], requires_grad=True)
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    first = x.grad.tolist()
    y.backward()
    assert_close(x.grad, [2 * v for v in first])


def test_non_scalar_backward_needs_a_gradient():
    x = tt.ones(2, 3, requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only for scalar outputs.*shape \\(2, 3\\)"):
        y.backward()
    y.backward(tt.full((2, 3), 0.5))
    assert x.grad.tolist() == [[1.0] * 3] * 2


def test_backward_gradient_shape_must_match():
    y = tt.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="gradient has shape"):
        y.backward(tt.ones(3))


def test_backward_of_a_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tt.ones(1).backward()


def test_requires_grad_propagates_and_leaves():
    x = tt.ones(2, requires_grad=True)
    c = tt.ones(2)
    y = x * c
    assert x.is_leaf and c.is_leaf and not y.is_leaf
    assert y.requires_grad and y.grad_fn is not None and not (c * 2).requires_grad
    assert "MulBackward" in repr(y.grad_fn) or "BinaryBackward" in repr(y.grad_fn)
    assert any(n is not None for n in y.grad_fn.next_functions)
    with pytest.raises(TypeError, match="floating point"):
        tt.ones(2, dtype=tt.int64).requires_grad_()


def test_comparisons_and_argmax_produce_no_graph():
    x = tt.tensor([1.0, -2.0], requires_grad=True)
    for out in (x > 0, x == x, x.argmax(), x.argmin(dim=0)):
        assert not out.requires_grad and out.grad_fn is None


def test_no_grad_records_nothing_and_enable_grad_records_again():
    x = tt.ones(2, requires_grad=True)
    with tt.no_grad():
        assert not tt.is_grad_enabled()
        y = x * 2 + x.T
        assert not y.requires_grad and y.grad_fn is None
        with tt.enable_grad():
            z = x * 2
        assert z.grad_fn is not None
    assert tt.is_grad_enabled()

    @tt.no_grad()
    def step():
        return x.exp()

    assert step().grad_fn is None


def test_detach_shares_storage_without_history():
    x = tt.ones(2, 2, requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.shares_storage(y) and d.grad_fn is None and not d.requires_grad and d.is_leaf
    (d * y).sum().backward()
    assert x.grad.tolist() == [[4.0, 4.0], [4.0, 4.0]]


def test_requires_grad_false_on_a_non_leaf_raises():
    y = tt.ones(2, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match="leaves"):
        y.requires_grad_(False)


def test_in_place_write_into_a_tensor_that_requires_grad_is_refused():
    x = tt.zeros(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="in place"):
        x[0] = 1.0
    with pytest.raises(RuntimeError, match="in place"):
        (x * 2)[1] = 1.0
    with tt.no_grad():
        x[0] = 1.0
    assert x.tolist() == [1.0, 0.0]


def test_saved_tensors_are_freed_after_backward():
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    h = w * 3
    loss = (h * w).sum()  # the mul node saves h
    ref = weakref.ref(h)
    del h
    gc.collect()
    assert ref() is not None  # held by the graph until backward
    loss.backward()
    gc.collect()
    assert ref() is None
    assert w.grad.tolist() == [6.0, 12.0]


def test_a_deep_graph_needs_no_recursion():
    x = tt.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(3000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad.tolist() == [1.0]


def test_memory_does_not_grow_over_training_steps():
    rng = np.random.default_rng(0)
    x = tt.tensor(rng.normal(size=(8, 4)))
    target = tt.tensor(rng.normal(size=(8, 1)))
    w = tt.tensor(rng.normal(size=(4, 1)), requires_grad=True)

    def step():
        loss = ((x @ w).tanh() - target).pow(2).mean()
        loss.backward()
        with tt.no_grad():
            w[...] = w - w.grad * 0.01  # an SGD step, written in place
        w.grad = None
        return loss

    growth = tt.testing.memory_growth(step, steps=2000, warmup=150)
    assert growth < 64 * 1024, f"memory grew by {growth} bytes over 2000 steps"


def test_gradients_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    xs = rng.normal(size=(3, 4))
    ws = rng.normal(size=(4, 2))
    bs = rng.normal(size=(2,))

    def net(lib, x, w, b):
        h = (x @ w + b).sigmoid() * x.sum(1, keepdim=True).exp() / 3
        return (h.T[1:] ** 2).mean() + (x[:, 1:3].relu().sum() - x.abs().sqrt().sum()) * 0.1

    ours = [tt.tensor(a, dtype=tt.float64, requires_grad=True) for a in (xs, ws, bs)]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (xs, ws, bs)]
    net(tt, *ours).backward()
    net(torch, *theirs).backward()
    for o, t in zip(ours, theirs, strict=True):
        assert_close(o.grad, t.grad.numpy(), rtol=1e-10, atol=1e-12)
