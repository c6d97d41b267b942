"""Grader of lab 04 (autograd): backward kernels as loops (relu, mul, tanh) plugged into
tinytorch's backward pass, reducing a broadcast gradient (``sum_to``), the graph in
topological order, central differences in float64, and the bytes the graph saves.

Each test checks one function of the lab on its own: the graphs a test walks are built by
the grader, and the node lists it counts are walked by the grader, so one bug costs the
points of that function only.
"""

import warnings

import numba
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.examples.mlp_digits import train_mlp
from tinytorch.grading import call, expect_close, expect_equal, points


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _kernel(student, name: str, n_out: int, *inputs) -> tuple:
    """Call the student's kernel ``name`` with ``n_out`` float64 outputs filled with NaN
    (as ``np.empty`` would leave garbage: every element must be written)."""
    shape = np.broadcast_shapes(*(a.shape for a in inputs))
    outs = tuple(np.full(shape, np.nan) for _ in range(n_out))
    result = call(student, name, *outs, *inputs)
    _require(result is None, f"{name} returned {type(result).__name__}; it should write into "
             "its output arrays and return nothing\nhint: the caller owns the outputs "
             "(outputs first, as every tinytorch kernel)")
    return outs


def _plain(fn):
    return getattr(fn, "__wrapped__", fn)


# --- relu_backward -----------------------------------------------------------------------

RELU_HINT = ("grad_x[i, j] = g[i, j] if x[i, j] > 0 else 0.0, for every i and j: grad_x "
             "starts as garbage (np.empty), so the zeros must be written too")


@points(2)
def test_relu_backward_masks_the_gradient(student):
    """g passes where x > 0 and 0 is written elsewhere: square, wide, tall, 1 x 1, and an x
    broadcast from one row (stride 0)."""
    rng = np.random.default_rng(0)
    cases = [(rng.standard_normal(s), rng.standard_normal(s))
             for s in [(3, 3), (2, 7), (7, 2), (1, 1)]]
    cases.append((rng.standard_normal((4, 5)), np.broadcast_to(rng.standard_normal(5), (4, 5))))
    for g, x in cases:
        (gx,) = _kernel(student, "relu_backward", 1, g, x)
        expect_close(gx, np.where(x > 0, g, 0.0), what=f"relu_backward grad_x on {g.shape}",
                     hint=RELU_HINT)


@points(1)
def test_relu_backward_is_zero_at_zero(student):
    """At x == 0 exactly (and -0.0) no gradient passes: PyTorch's choice at the kink."""
    g = np.array([[2.0, 3.0, 4.0, 5.0]])
    x = np.array([[0.0, -0.0, 1.0, -1.0]])
    (gx,) = _kernel(student, "relu_backward", 1, g, x)
    expect_close(gx, [[0.0, 0.0, 4.0, 0.0]], what="relu_backward with x = [[0, -0, 1, -1]]",
                 hint="pass g only where x > 0 (not x >= 0), and write 0.0 everywhere else")


@points(1)
def test_relu_backward_compiles_with_numba(student):
    """numba.njit compiles your loops, and the compiled version agrees on float32 arrays."""
    call(student, "relu_backward", np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
    rng = np.random.default_rng(1)
    g, x = (rng.standard_normal((4, 6)).astype(np.float32) for _ in range(2))
    gx = np.full(g.shape, np.nan, dtype=np.float32)
    try:
        numba.njit(_plain(student.relu_backward))(gx, g, x)
    except numba.core.errors.NumbaError as err:
        first = str(err).strip().splitlines()[0]
        pytest.fail(f"numba could not compile relu_backward: {first}\nhint: use only loops, "
                    "numbers and indexing g[i, j] (no lists, no np.where)", pytrace=False)
    expect_close(gx, np.where(x > 0, g, 0.0), what="numba.njit(relu_backward) on (4, 6) "
                 "float32", hint=RELU_HINT)


@points(2)
def test_relu_backward_trains_the_digits_mlp(student):
    """As the relu_backward of a tinytorch backend, your kernel trains the digits MLP
    exactly as tinytorch's jit kernel does (the losses of the first 8 Adam steps)."""
    call(student, "relu_backward", np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
    tt.register_kernel("relu_backward", "student_relu", student.relu_backward)
    with warnings.catch_warnings():  # each op borrowed from jit warns once: not feedback
        warnings.simplefilter("ignore", RuntimeWarning)
        mine = train_mlp("student_relu", epochs=1, max_steps=8, fallback="jit")
    reference = train_mlp("jit", epochs=1, max_steps=8)
    expect_close(mine["losses"], reference["losses"], rtol=1e-5, atol=1e-6,
                 what="the training losses with your relu_backward (step index)",
                 hint="a wrong ReLU gradient changes the updates of the first layer: " +
                 RELU_HINT)


# --- mul_backward ------------------------------------------------------------------------

MUL_HINT = ("grad_a[i, j] = g[i, j] * b[i, j] and grad_b[i, j] = g[i, j] * a[i, j]: each "
            "input's gradient is g times the OTHER input")


@points(2)
def test_mul_backward_writes_both_gradients(student):
    """grad_a = g * b and grad_b = g * a, on (3, 4), (1, 1) and (2, 7)."""
    rng = np.random.default_rng(2)
    for shape in [(3, 4), (1, 1), (2, 7)]:
        g, a, b = (rng.standard_normal(shape) for _ in range(3))
        grad_a, grad_b = _kernel(student, "mul_backward", 2, g, a, b)
        expect_close(grad_a, g * b, what=f"mul_backward grad_a on {shape}", hint=MUL_HINT)
        expect_close(grad_b, g * a, what=f"mul_backward grad_b on {shape}", hint=MUL_HINT)


@points(1)
def test_mul_backward_with_broadcast_inputs(student):
    """A transposed a and a b broadcast from one row (stride 0), as tinytorch passes them."""
    rng = np.random.default_rng(3)
    g = rng.standard_normal((4, 5))
    a = rng.standard_normal((5, 4)).T
    b = np.broadcast_to(rng.standard_normal(5), (4, 5))
    grad_a, grad_b = _kernel(student, "mul_backward", 2, g, a, b)
    expect_close(grad_a, g * b, what="mul_backward grad_a with b broadcast from (5,)",
                 hint=MUL_HINT)
    expect_close(grad_b, g * a, what="mul_backward grad_b with a transposed", hint=MUL_HINT)


@points(2)
def test_mul_backward_in_a_tinytorch_backward_pass(student):
    """As tinytorch's mul_backward, your kernel gives the gradients of
    sum(x * y * w) with x (3, 4) and y (4,); the engine sums y's back to (4,)."""
    call(student, "mul_backward", *(np.empty((1, 1)) for _ in range(2)),
         *(np.ones((1, 1)) for _ in range(3)))
    tt.register_kernel("mul_backward", "student_mul", student.mul_backward)
    rng = np.random.default_rng(4)
    x0, y0, w = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    x = tt.tensor(x0, requires_grad=True)
    y = tt.tensor(y0, requires_grad=True)
    with tt.backend("jit", ops={"mul_backward": "student_mul"}):
        (x * y * tt.tensor(w)).sum().backward()
    expect_close(x.grad, w * y0, what="x.grad of sum(x * y * w)", hint=MUL_HINT)
    expect_close(y.grad, (w * x0).sum(axis=0), what="y.grad of sum(x * y * w)", hint=MUL_HINT)


# --- tanh_backward -----------------------------------------------------------------------

TANH_HINT = ("y is the saved forward OUTPUT, already tanh(x): grad_x = g * (1 - y * y), with "
             "no tanh in the backward pass")


@points(2)
def test_tanh_backward_uses_the_saved_output(student):
    """grad_x = g * (1 - y**2) from y = tanh(x), on (3, 4), (1, 1) and (2, 7)."""
    rng = np.random.default_rng(5)
    for shape in [(3, 4), (1, 1), (2, 7)]:
        g, x = rng.standard_normal(shape), 1.5 * rng.standard_normal(shape)
        y = np.tanh(x)
        (gx,) = _kernel(student, "tanh_backward", 1, g, y)
        expect_close(gx, g * (1 - y * y), what=f"tanh_backward grad_x on {shape} "
                     "(y = tanh(x) given)", hint=TANH_HINT)


@points(2)
def test_tanh_backward_passes_gradcheck(student):
    """As tinytorch's tanh_backward, your kernel passes tinytorch.testing.gradcheck on
    tanh(tanh(1.5 x)) in float64."""
    call(student, "tanh_backward", np.empty((1, 1)), np.ones((1, 1)), np.zeros((1, 1)))
    tt.register_kernel("tanh_backward", "student_tanh", student.tanh_backward)
    rng = np.random.default_rng(6)
    x = tt.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    with tt.backend("jit", ops={"tanh_backward": "student_tanh"}):
        try:
            tt.testing.gradcheck(lambda t: (t * 1.5).tanh().tanh(), [x])
        except AssertionError as err:
            raise AssertionError(f"gradcheck of tanh(tanh(1.5 x)) with your tanh_backward: "
                                 f"{err}\nhint: {TANH_HINT}") from None


# --- sum_to ------------------------------------------------------------------------------

def _sum_to(student, grad, shape):
    got = call(student, "sum_to", grad, shape)
    expected = np.sum(grad, axis=tuple(range(grad.ndim - len(shape))))
    expected = np.sum(expected, axis=tuple(d for d, s in enumerate(shape) if s == 1),
                      keepdims=True).reshape(shape)
    return got, expected


@points(2)
def test_sum_to_drops_leading_dims(student):
    """Leading dimensions that shape lacks are summed away: (2, 3, 4) -> (3, 4), (5, 3) ->
    (3,), (2, 3) -> ()."""
    rng = np.random.default_rng(7)
    for grad_shape, shape in [((2, 3, 4), (3, 4)), ((5, 3), (3,)), ((2, 3), ()),
                              ((4, 2, 3), (2, 3))]:
        got, expected = _sum_to(student, rng.standard_normal(grad_shape), shape)
        expect_close(got, expected, what=f"sum_to(grad of shape {grad_shape}, {shape})",
                     hint="align at the right, then sum over the leading dimensions that "
                          "shape does not have")


@points(2)
def test_sum_to_sums_size_one_dims(student):
    """Dimensions where shape has size 1 and the gradient does not are summed, keeping
    size 1: (3, 4) -> (3, 1), (3, 4) -> (1, 4), (2, 3, 4) -> (3, 1), (5,) -> (1,)."""
    rng = np.random.default_rng(8)
    for grad_shape, shape in [((3, 4), (3, 1)), ((3, 4), (1, 4)), ((2, 3, 4), (3, 1)),
                              ((2, 3, 4), (1, 1, 4)), ((5,), (1,))]:
        got, expected = _sum_to(student, rng.standard_normal(grad_shape), shape)
        expect_close(got, expected, what=f"sum_to(grad of shape {grad_shape}, {shape})",
                     hint="a size-1 dimension of shape was broadcast (repeated) in the "
                          "forward pass: sum over it too, with keepdims=True")


@points(1)
def test_sum_to_keeps_a_matching_shape(student):
    """Nothing to sum: the same shape, or a size-1 dimension that stayed 1."""
    rng = np.random.default_rng(9)
    for grad_shape, shape in [((3, 4), (3, 4)), ((1, 4), (1, 4)), ((5,), (5,)),
                              ((3, 1), (1,))]:
        got, expected = _sum_to(student, rng.standard_normal(grad_shape), shape)
        expect_close(got, expected, what=f"sum_to(grad of shape {grad_shape}, {shape})",
                     hint="sum only where shape has 1 and the gradient does not")


@points(1)
def test_sum_to_matches_the_engine(student):
    """Your sum_to agrees with the gradients tinytorch's engine gives x (3, 1), y (4,) and
    a 0-d s in sum((x + y + s) * w) with w of shape (2, 3, 4)."""
    rng = np.random.default_rng(10)
    x = tt.tensor(rng.standard_normal((3, 1)), requires_grad=True)
    y = tt.tensor(rng.standard_normal(4), requires_grad=True)
    s = tt.tensor(0.5, dtype=tt.float64, requires_grad=True)
    w = rng.standard_normal((2, 3, 4))
    ((x + y + s) * tt.tensor(w)).sum().backward()
    for name, t in (("x", x), ("y", y), ("s", s)):
        got = call(student, "sum_to", w, t.shape)
        expect_close(got, t.grad, what=f"sum_to(w of shape (2, 3, 4), {t.shape}) vs "
                     f"{name}.grad", hint="sum over the leading dimensions and over the "
                     "size-1 dimensions of shape, then give the result exactly shape")


# --- topological_order -------------------------------------------------------------------

def _label(node) -> str:
    name = getattr(node, "name", None)
    if not isinstance(name, str):
        return repr(node)
    op = getattr(getattr(node, "ctx", None), "op", None)
    if isinstance(op, str):
        return f"{name}({op})"
    leaf = getattr(node, "variable", None)
    return f"{name}(leaf of shape {leaf.shape})" if leaf is not None else name


def _reference_order(root) -> list:
    """The grader's own topological order (Kahn's algorithm, iterative)."""
    incoming, stack = {root: 0}, [root]
    while stack:
        for nxt in stack.pop().next_functions:
            if nxt is not None:
                if nxt not in incoming:
                    incoming[nxt] = 0
                    stack.append(nxt)
                incoming[nxt] += 1
    order, ready = [], [root]
    while ready:
        node = ready.pop()
        order.append(node)
        for nxt in node.next_functions:
            if nxt is not None:
                incoming[nxt] -= 1
                if incoming[nxt] == 0:
                    ready.append(nxt)
    return order


ORDER_HINT = ("a node may come only after EVERY node that passes gradient to it, not just "
              "the first one you reach: count the edges into each node and emit a node when "
              "its count drops to 0, or reverse a depth-first post-order")


def _check_order(student, root, what: str) -> None:
    try:
        order = call(student, "topological_order", root)
    except RecursionError:
        pytest.fail(f"{what}: topological_order hit Python's recursion limit\nhint: walk "
                    "the graph with a loop and your own stack (a list), not a recursive "
                    "function", pytrace=False)
    _require(isinstance(order, (list, tuple)), f"{what}: expected a list of nodes, got "
             f"{type(order).__name__}")
    expected = _reference_order(root)
    reachable = {id(n) for n in expected}
    position = {}
    for k, node in enumerate(order):
        _require(id(node) in reachable, f"{what}: item {k} of your list, {_label(node)}, is "
                 "not a node reachable from the root\nhint: return the node objects "
                 "themselves (root and what next_functions leads to, skipping None)")
        _require(id(node) not in position, f"{what}: {_label(node)} appears twice, at "
                 f"positions {position.get(id(node))} and {k}\nhint: remember the nodes "
                 "already seen: a node used by several ops is still one node")
        position[id(node)] = k
    if not order or order[0] is not root:
        raise AssertionError(f"{what}: the first node should be the root {_label(root)}, "
                             f"got {_label(order[0]) if order else 'an empty list'}")
    missing = [n for n in expected if id(n) not in position]
    if missing:
        raise AssertionError(f"{what}: {len(missing)} of the {len(expected)} reachable "
                             f"nodes are missing, e.g. {_label(missing[0])}\nhint: follow "
                             "next_functions of every node, skipping None")
    for node in order:
        for nxt in node.next_functions:
            if nxt is not None and position[id(nxt)] < position[id(node)]:
                raise AssertionError(
                    f"{what}: {_label(nxt)} at position {position[id(nxt)]} comes before "
                    f"{_label(node)} at position {position[id(node)]}, which passes "
                    "gradient to it: it would run before all of its gradient has arrived"
                    f"\nhint: {ORDER_HINT}")


@points(2)
def test_topological_order_of_chains(student):
    """sum(exp(tanh(x)) * 2), and a two-layer tanh network with two weight leaves."""
    x = tt.tensor([0.5, -1.0], requires_grad=True)
    _check_order(student, (x.tanh().exp() * 2).sum().grad_fn, "sum(exp(tanh(x)) * 2)")
    tt.manual_seed(0)
    w1 = tt.randn(3, 4, requires_grad=True)
    w2 = tt.randn(4, 2, requires_grad=True)
    loss = ((tt.randn(5, 3) @ w1).tanh() @ w2).sum()
    _check_order(student, loss.grad_fn, "sum(tanh(x @ w1) @ w2)")


@points(2)
def test_topological_order_of_a_diamond(student):
    """c = exp(x) reaches the sum by a short path and by a long one (tanh, sigmoid): it
    must come after both."""
    x = tt.tensor([0.5, -1.0, 2.0], dtype=tt.float64, requires_grad=True)
    c = x.exp()
    a = c.tanh().sigmoid()
    _check_order(student, (c + a).sum().grad_fn, "c = exp(x); sum(c + sigmoid(tanh(c)))")
    _check_order(student, (a + c).sum().grad_fn, "c = exp(x); sum(sigmoid(tanh(c)) + c)")


@points(1)
def test_topological_order_lists_each_node_once(student):
    """y = tanh(x) used three times (y * y + y) is one node, listed once."""
    x = tt.tensor([0.5, -1.0], requires_grad=True)
    y = x.tanh()
    _check_order(student, (y * y).sum().grad_fn, "y = tanh(x); sum(y * y)")
    _check_order(student, (y * y + y).sum().grad_fn, "y = tanh(x); sum(y * y + y)")


@points(1)
def test_topological_order_of_a_deep_graph(student):
    """A chain of 3000 ops, deeper than Python's recursion limit (1000)."""
    h = tt.ones(2, requires_grad=True)
    for _ in range(3000):
        h = h * 1.0
    _check_order(student, h.sum().grad_fn, "a chain of 3000 multiplications")


# --- numerical_gradient ------------------------------------------------------------------

CENTRAL_HINT = ("(f(x + eps e_i) - f(x - eps e_i)) / (2 * eps): nudge each element both "
                "ways")


def _f_square(a):
    return float(np.sum(np.asarray(a, dtype=np.float64) ** 2))


@points(2)
def test_numerical_gradient_of_simple_functions(student):
    """sum(x**2), sum(sin(x)) and x[0, 0] * x[1, 2] on (2, 3) arrays, at eps 1e-6."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3))
    product = np.zeros((2, 3))
    product[0, 0], product[1, 2] = x[1, 2], x[0, 0]
    cases = [("sum(x**2)", _f_square, 2 * x),
             ("sum(sin(x))", lambda a: float(np.sum(np.sin(a))), np.cos(x)),
             ("x[0, 0] * x[1, 2]", lambda a: float(a[0, 0] * a[1, 2]), product)]
    for name, f, expected in cases:
        got = call(student, "numerical_gradient", f, x.copy())
        expect_close(got, expected, rtol=1e-4, atol=1e-4, what=f"numerical_gradient of "
                     f"{name} on (2, 3)", hint="one partial derivative per element of x, "
                     "in an array of x's shape: " + CENTRAL_HINT)


@points(2)
def test_numerical_gradient_is_central(student):
    """With eps 1e-3 on sum(x**3), a central difference is off by eps**2 = 1e-6; a
    one-sided one by about 3 * x * eps."""
    x = np.array([[0.5, -1.0, 2.0], [1.5, -2.5, 3.0]])
    got = call(student, "numerical_gradient", lambda a: float(np.sum(a ** 3)), x.copy(), 1e-3)
    expect_close(got, 3 * x ** 2, rtol=0, atol=1e-5, what="numerical_gradient of sum(x**3) "
                 "with eps=1e-3", hint="a one-sided difference (f(x + eps) - f(x)) / eps "
                 "has an error of order eps; the central one of order eps**2: " +
                 CENTRAL_HINT)


@points(1)
def test_numerical_gradient_leaves_x_unchanged(student):
    """The caller's x has the same values after the call."""
    x = np.random.default_rng(12).standard_normal((3, 4))
    before = x.copy()
    call(student, "numerical_gradient", _f_square, x)
    expect_close(x, before, rtol=0, atol=0, what="x after numerical_gradient(f, x)",
                 hint="put each element back after nudging it, or nudge a float64 copy")


@points(1)
def test_numerical_gradient_works_in_float64(student):
    """A float32 x is nudged in float64 (in float32, x + 1e-6 is barely a new number) and
    the result is float64."""
    x = np.array([[1.3, -0.7, 2.2]], dtype=np.float32)
    got = call(student, "numerical_gradient", _f_square, x)
    dtype = getattr(got, "dtype", type(got).__name__)
    _require(dtype == np.float64, f"numerical_gradient of a float32 x: the result should be "
             f"a float64 array, got dtype {dtype}\nhint: np.array(x, dtype=np.float64) is a "
             "float64 copy; make the result with np.zeros(x.shape) (float64)")
    expect_close(got, 2 * x.astype(np.float64), rtol=1e-6, atol=1e-6,
                 what="numerical_gradient of sum(x**2) at a float32 x",
                 hint="copy x to float64 first and nudge the copy")


@points(1)
def test_numerical_gradient_agrees_with_autograd(student):
    """On f(x) = sum(w * x * tanh(x)) computed by tinytorch, your numbers match x.grad."""
    rng = np.random.default_rng(13)
    x0, w = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))

    def f(a):
        with tt.no_grad():
            t = tt.tensor(a)
            return float((tt.tensor(w) * t * t.tanh()).sum().item())

    x = tt.tensor(x0, requires_grad=True)
    (tt.tensor(w) * x * x.tanh()).sum().backward()
    got = call(student, "numerical_gradient", f, x0.copy())
    expect_close(got, x.grad, rtol=1e-5, atol=1e-5, what="numerical_gradient vs autograd's "
                 "x.grad for sum(w * x * tanh(x))", hint=CENTRAL_HINT)


# --- saved_bytes -------------------------------------------------------------------------

def _saved(node) -> tuple:
    ctx = getattr(node, "ctx", None)
    if ctx is None:
        return ()
    try:
        return tuple(t for t in ctx.saved_tensors if t is not None)
    except RuntimeError:  # freed by backward
        return ()


def _reference_bytes(nodes) -> int:
    counted = []
    for node in nodes:
        for t in _saved(node):
            if not any(t.shares_storage(c) for c in counted):
                counted.append(t)
    return sum(t.nbytes for t in counted)


def _what_is_saved(nodes) -> str:
    return "; ".join(f"{_label(n)} saves " + ", ".join(f"{t.shape} {t.dtype.name} "
                                                       f"({t.nbytes} B)" for t in _saved(n))
                     for n in nodes if _saved(n))


def _small_graph():
    """sum(tanh(x * w)), x (4, 5) and w (5,) in float64: x * w saves x and w, tanh saves
    its output; nothing is saved twice."""
    rng = np.random.default_rng(14)
    x = tt.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    w = tt.tensor(rng.standard_normal(5), requires_grad=True)
    return (x * w).tanh().sum()


@points(2)
def test_saved_bytes_of_a_small_graph(student):
    """sum(tanh(x * w)): x (160 B) and w (40 B) saved by the product, the tanh output
    (160 B) by tanh; the sum saves no tensor."""
    nodes = _reference_order(_small_graph().grad_fn)
    expect_equal(call(student, "saved_bytes", nodes), _reference_bytes(nodes),
                 what="saved_bytes of sum(tanh(x * w)), in bytes",
                 hint=f"add t.nbytes of every saved tensor: {_what_is_saved(nodes)}")


@points(2)
def test_saved_bytes_counts_shared_storage_once(student):
    """y = tanh(x) is saved by tanh (its output) and twice by y * y: one storage; and x * x
    saves x twice."""
    x = tt.tensor(np.random.default_rng(15).standard_normal((4, 5)), requires_grad=True)
    y = x.tanh()
    for name, loss in (("y = tanh(x); sum(y * y)", (y * y).sum()),
                       ("sum(x * x)", (x * x).sum())):
        nodes = _reference_order(loss.grad_fn)
        expect_equal(call(student, "saved_bytes", nodes), _reference_bytes(nodes),
                     what=f"saved_bytes of {name}, in bytes",
                     hint=f"{_what_is_saved(nodes)}: the same memory, counted once (skip a "
                          "tensor t when t.shares_storage(c) for one c already counted)")


@points(1)
def test_saved_bytes_after_backward(student):
    """backward(retain_graph=True) keeps every saved byte; a plain backward frees them all."""
    loss = _small_graph()
    nodes = _reference_order(loss.grad_fn)
    before = call(student, "saved_bytes", nodes)
    loss.backward(retain_graph=True)
    expect_equal(call(student, "saved_bytes", nodes), before,
                 what="saved_bytes after backward(retain_graph=True)",
                 hint="retain_graph=True keeps the saved tensors for another backward")
    loss.backward()
    expect_equal(call(student, "saved_bytes", nodes), 0, what="saved_bytes after a plain "
                 "backward()", hint="a freed node saves nothing: saved_tensors_of(node) "
                 "gives () for it")
