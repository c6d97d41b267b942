# %% [markdown]
# # Lab 04: autograd, the graph, saved tensors, gradient memory and freeing
#
# Every op that may need a gradient leaves a *node* behind (`y.grad_fn`): what to call in
# the backward pass, and the tensors it *saved* for it. `loss.backward()` walks these
# nodes from the loss to the leaves, each node turning the gradient of its output into
# gradients of its inputs with a **backward kernel**; gradients of broadcast inputs are
# summed back to the input's shape; a node may only run once every consumer of its output
# has handed its share of the gradient over. Then the saved tensors are freed.
#
# **Systems questions**:
#
# 1. What does a node save, and why exactly that? (`a * b` saves both inputs, `tanh` saves
#    its *output*, `a + b` and `sum` save no tensor at all.)
# 2. In an MLP, how many bytes do the saved activations take next to the parameters? Which
#    of the two grows with the batch size, and which is alive anyway?
# 3. Why does `backward()` free the saved tensors as it goes? What does `retain_graph=True`
#    cost, and when do you need it?
# 4. Why must the walk be in topological order, and why iterative rather than recursive?
# 5. Why does a gradient check use central differences in float64, and which `eps`?
#
# Fill in each `TODO`, run `python lab04_autograd.py` for the experiments and
# `tinytorch grade 04` to check. `docs/architecture.md` (Autograd) and
# `tinytorch/autograd.py` describe the engine your functions mirror.

# %%
import builtins
import time
import tracemalloc
import warnings

import numba
import numpy as np

import tinytorch as tt
from tinytorch.examples.mlp_digits import build_mlp, train_mlp
from tinytorch.nn import functional as F

# `kernprof -l -v lab04_autograd.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. Backward kernels as loops
#
# A backward kernel receives the gradient `g` of the op's output and what the forward
# saved, and writes the gradient of each input. tinytorch's backward kernels have the
# forward kernels' contract (`kernels/elementwise_backward.py`): every array is 2-D of the
# same shape `(R, C)`, **outputs first**, inputs may have any strides (0 for a broadcast
# operand), and the kernel returns nothing: the caller owns the outputs (fresh
# `np.empty` arrays: write *every* element). Write them as two loops over numbers, as in
# lab 01's `add_loops`.
#
# - `relu`: `y = max(x, 0)`, so `dx = g` where `x > 0`, else `0` (at exactly `x == 0` the
#   gradient is 0, PyTorch's choice). The node saved the input `x`.
# - `mul`: `y = a * b`, so `da = g * b` and `db = g * a`: each input's gradient needs the
#   *other* input, which is why the node saves both.
# - `tanh`: `y = tanh(x)`, so `dx = g * (1 - tanh(x)**2) = g * (1 - y**2)`. The node saved
#   the *output* `y`: no `tanh` is computed again in the backward pass.


# %%
@profile
def relu_backward(grad_x, g, x):
    """``grad_x[i, j] = g[i, j]`` where ``x[i, j] > 0``, else ``0``; all arrays ``(R, C)``.

    >>> gx = np.empty((1, 3))
    >>> relu_backward(gx, np.array([[5.0, 6.0, 7.0]]), np.array([[-1.0, 0.0, 2.0]]))
    >>> gx.tolist()
    [[0.0, 0.0, 7.0]]
    """
    # TODO: two loops; write g or 0 into every element of grad_x
    raise NotImplementedError("TODO: implement relu_backward")


@profile
def mul_backward(grad_a, grad_b, g, a, b):
    """``grad_a = g * b`` and ``grad_b = g * a``, elementwise; all arrays ``(R, C)``.

    >>> ga, gb = np.empty((1, 2)), np.empty((1, 2))
    >>> mul_backward(ga, gb, np.ones((1, 2)), np.array([[2.0, 3.0]]), np.array([[5.0, 7.0]]))
    >>> ga.tolist(), gb.tolist()
    ([[5.0, 7.0]], [[2.0, 3.0]])
    """
    # TODO: two loops; each input's gradient is g times the OTHER input
    raise NotImplementedError("TODO: implement mul_backward")


@profile
def tanh_backward(grad_x, g, y):
    """``grad_x = g * (1 - y**2)`` where ``y = tanh(x)`` is the saved forward output; all
    arrays ``(R, C)``.

    >>> gx = np.empty((1, 2))
    >>> tanh_backward(gx, np.array([[2.0, 2.0]]), np.array([[0.0, 0.5]]))
    >>> gx.tolist()
    [[2.0, 1.5]]
    """
    # TODO: two loops; use y as it is (it is already tanh(x))
    raise NotImplementedError("TODO: implement tanh_backward")


# %% [markdown]
# ## 2. Summing a broadcast gradient back
#
# In `x + b` with `x` of shape `(3, 4)` and `b` of shape `(4,)`, `b` is used in all 3 rows,
# so its gradient is the **sum** of the output's gradient over the rows. The engine does
# this for every input after its node ran (`tinytorch.autograd.sum_to`): align the shapes
# at the right, then sum over
#
# - the leading dimensions that `shape` does not have, and
# - the dimensions where `shape` has size 1 and the gradient does not.
#
# The result has exactly `shape` (a `()` shape is a 0-d array). numpy is fine here:
# `np.sum(..., axis=..., keepdims=True)` and `reshape`.


# %%
def sum_to(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Reduce ``grad`` (of a shape that ``shape`` broadcasts to) back to ``shape``.

    >>> sum_to(np.ones((2, 3, 4)), (3, 1)).tolist()
    [[8.0], [8.0], [8.0]]
    >>> sum_to(np.ones((2, 3)), ()).item()
    6.0
    """
    # TODO: sum over the extra leading dims and over the size-1 dims of shape
    raise NotImplementedError("TODO: implement sum_to")


# %% [markdown]
# ## 3. The graph, in topological order
#
# `loss.grad_fn` is the node that made `loss`. Every node has `next_functions`: per input
# of its op, the node that input's gradient goes to (the input's own `grad_fn`, an
# `AccumulateGrad` node for a leaf that requires grad, or `None`). Nodes are plain Python
# objects: compare them with `is`, keep them in sets and dicts.
#
# A node may run only when every node that feeds gradient *into* it has run (its
# gradient is the sum of all their contributions). Return every node reachable from
# `root`, each **once**, `root` first, in an order where each node comes before every node
# in its `next_functions`. Graphs can be thousands of nodes deep (an RNN, a long loop):
# recursion would hit Python's recursion limit, so use a loop and your own stack or queue.
# Two ways: count, for every node, how many edges lead into it, and emit a node when the
# count drops to 0 (Kahn, what tinytorch's engine does); or a depth-first post-order,
# reversed.


# %%
def describe(node) -> str:
    """A short name for a node: its class of op and, for elementwise ops, which one.

    >>> x = tt.tensor([1.0], requires_grad=True)
    >>> describe(x.exp().grad_fn), describe(x.exp().grad_fn.next_functions[1])
    ('UnaryBackward(exp)', 'AccumulateGrad')
    """
    op = getattr(getattr(node, "ctx", None), "op", None)
    return f"{node.name}({op})" if isinstance(op, str) else node.name


def topological_order(root) -> list:
    """Every node reachable from ``root`` through ``next_functions``, each once, ``root``
    first, each node before the nodes it passes gradient to.

    >>> x = tt.tensor([1.0, 2.0], requires_grad=True)
    >>> [describe(n) for n in topological_order((x.exp() * 2).sum().grad_fn)]
    ['SumBackward', 'BinaryBackward(mul)', 'UnaryBackward(exp)', 'AccumulateGrad']
    """
    # TODO: count incoming edges with one walk, then emit nodes whose count reaches 0
    raise NotImplementedError("TODO: implement topological_order")


# %% [markdown]
# ## 4. Checking gradients numerically
#
# `tinytorch.testing.gradcheck` checks every backward kernel against the definition of a
# derivative. For each element `x[i]`, nudge it by `+eps` and by `-eps` and take the
# **central difference** `(f(x + eps e_i) - f(x - eps e_i)) / (2 eps)`: its error shrinks
# like `eps**2` (a one-sided difference only like `eps`). Work in **float64**, whatever
# dtype `x` has: with float32's 7 digits, `x + 1e-6` is barely a different number. And put
# every element back after nudging it: the caller's `x` must come back unchanged.


# %%
def numerical_gradient(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """The gradient of the scalar function ``f`` at ``x`` by central differences.

    ``f`` takes a float64 array of ``x``'s shape and returns a number. The result is a
    float64 array of ``x``'s shape; ``x`` itself is left unchanged.

    >>> numerical_gradient(lambda a: float(np.sum(a ** 2)), np.array([1.0, -2.0])).round(6)
    array([ 2., -4.])
    """
    # TODO: a float64 copy; for each index: nudge up, call f, nudge down, call f, restore
    raise NotImplementedError("TODO: implement numerical_gradient")


# %% [markdown]
# ## 5. What the graph keeps alive
#
# Until backward runs, each node holds on to the tensors it saved, so they cannot be
# freed even when your code no longer refers to them: that is the activation memory of
# training. Count it: the bytes (`t.nbytes`) of every tensor saved by the given nodes,
# each **storage counted once**. The same memory is often saved several times: `y * y`
# saves `y` twice, and `tanh` saves its output, which the next op may save again as its
# input (`t.shares_storage(other)` tells). `saved_tensors_of(node)` below gives a node's
# saved tensors (none for leaves, for views, and for nodes whose saved tensors were freed
# by a backward pass).


# %%
def saved_tensors_of(node) -> tuple:
    """The tensors ``node`` holds for its backward pass (``()`` when none, or freed).

    >>> x = tt.ones(3, requires_grad=True)
    >>> [t.shape for t in saved_tensors_of((x * x).grad_fn)]
    [(3,), (3,)]
    """
    ctx = getattr(node, "ctx", None)
    if ctx is None:  # a leaf (AccumulateGrad) or a view: nothing saved
        return ()
    try:
        saved = ctx.saved_tensors
    except RuntimeError:  # freed by a backward pass (or written in place since)
        return ()
    return tuple(t for t in saved if t is not None)


def saved_bytes(nodes) -> int:
    """Bytes saved for backward by ``nodes``, each storage counted once.

    >>> x = tt.ones(3, dtype=tt.float64, requires_grad=True)
    >>> saved_bytes(topological_order((x * x).sum().grad_fn))  # x, saved twice: 3 * 8 B
    24
    """
    # TODO: walk the saved tensors of every node; skip one that shares storage with a
    # tensor you already counted
    raise NotImplementedError("TODO: implement saved_bytes")


# %% [markdown]
# ## Experiments
#
# Run `python lab04_autograd.py`. For a line-by-line profile of your backward loops:
#
# ```bash
# kernprof -l -v lab04_autograd.py
# ```


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _median_s(fn, *args, repeat: int = 5) -> float:
    fn(*args)  # warm-up: the first call of a jit function compiles
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _plain(fn):
    """The function under the ``@profile`` decorator (numba cannot compile the wrapper)."""
    return getattr(fn, "__wrapped__", fn)


def experiment_backward_kernels() -> None:
    rng = np.random.default_rng(0)
    n = 256
    g, a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(3))
    y = np.tanh(a)
    cases = {  # op: (your function, its outputs, its inputs, the numpy answer)
        "relu_backward": (relu_backward, (np.empty_like(g),), (g, a), (np.where(a > 0, g, 0),)),
        "mul_backward": (mul_backward, (np.empty_like(g), np.empty_like(g)), (g, a, b),
                         (g * b, g * a)),
        "tanh_backward": (tanh_backward, (np.empty_like(g),), (g, y), (g * (1 - y * y),)),
    }
    print(f"backward kernels on ({n}, {n}) float32, median times (ms):")
    print(f"  {'op':14} {'your loops':>11} {'yours, njit':>12} {'tt jit':>9} {'numpy':>9}")
    for op, (fn, outs, ins, expected) in cases.items():
        try:
            fn(*outs, *ins)
        except NotImplementedError:
            _todo(op)
            continue
        if not all(np.allclose(o, e, atol=1e-6) for o, e in zip(outs, expected, strict=True)):
            print(f"  {op}: your result does not match numpy yet: fix it before timing it")
            continue
        args = (*outs, *ins)
        try:
            compiled = numba.njit(_plain(fn))
            compiled(*args)
        except numba.core.errors.NumbaError as err:
            print(f"  {op}: numba cannot compile your loops: {str(err).strip().splitlines()[0]}")
            continue
        times = [_median_s(fn, *args, repeat=3), _median_s(compiled, *args),
                 _median_s(tt.dispatch.kernel_for(op, "jit")[1], *args),
                 _median_s(tt.dispatch.kernel_for(op, "numpy")[1], *args)]
        print(f"  {op:14} " + " ".join(f"{t * 1e3:>{w}.3f}" for t, w in
                                       zip(times, (11, 12, 9, 9), strict=True))
              + f"   (loops / njit: {times[0] / times[1]:.0f}x)")
    print("question: mul_backward moves 5 arrays, relu_backward 3: do the njit times show it?")


def experiment_broadcast_gradient() -> None:
    tt.manual_seed(0)
    x = tt.randn(3, 4)
    bias = tt.zeros(4, requires_grad=True)
    w = tt.randn(3, 4)
    ((x + bias) * w).sum().backward()  # d/d(x + bias) of the loss is w, at shape (3, 4)
    try:
        mine = sum_to(w.numpy(), bias.shape)
    except NotImplementedError:
        return _todo("sum_to")
    print(f"bias {bias.shape} used by all 3 rows: your sum_to(w, (4,)) = {np.round(mine, 4)}")
    print(f"                             the engine's bias.grad = "
          f"{np.round(bias.grad.numpy(), 4)}")
    print(f"sum_to(ones (2, 3, 4), (3, 1)) = {sum_to(np.ones((2, 3, 4)), (3, 1)).ravel()}: "
          "each of the 3 rows of the input was used 2 * 4 times")


def experiment_graph() -> None:
    tt.manual_seed(0)
    x, target = tt.randn(8, 5), tt.randn(8, 3)
    w1 = tt.randn(5, 4, requires_grad=True)
    w2 = tt.randn(4, 3, requires_grad=True)
    h = (x @ w1).tanh()
    loss = ((h @ w2 - target) * (h @ w2 - target)).sum()
    try:
        order = topological_order(loss.grad_fn)
    except NotImplementedError:
        return _todo("topological_order")
    position = {id(n): k for k, n in enumerate(order)}
    late = [(describe(n), describe(m)) for n in order for m in n.next_functions
            if m is not None and position.get(id(m), -1) <= position[id(n)]]
    print(f"loss = sum((tanh(x @ w1) @ w2 - t)**2): {len(order)} nodes, in your order:")
    for k, node in enumerate(order):
        feeds = [position.get(id(m), "?") for m in node.next_functions if m is not None]
        print(f"  {k:2} {describe(node):22} -> {feeds}")
    print("every node before the nodes it feeds:", "yes" if not late else f"NO, e.g. {late[0]}")
    print("question: `h @ w2` is computed twice: how many nodes does it add, and what would "
          "reusing one variable change?")


def experiment_gradcheck() -> None:
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((3, 4))
    w = rng.standard_normal((3, 4))

    def f(a):
        with tt.no_grad():
            return float((tt.tensor(a).tanh() * tt.tensor(w)).sum().item())

    x = tt.tensor(x0, requires_grad=True)
    (x.tanh() * tt.tensor(w)).sum().backward()
    try:
        numerical = numerical_gradient(f, x0)
    except NotImplementedError:
        return _todo("numerical_gradient")
    error = np.abs(numerical - x.grad.numpy()).max()
    print(f"tanh: autograd vs your central differences (eps 1e-6): max |diff| {error:.2e}")
    print("error of the central difference as eps shrinks (float64; then float32 inputs):")
    for eps in (1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-11):
        e64 = np.abs(numerical_gradient(f, x0, eps) - x.grad.numpy()).max()
        print(f"  eps {eps:7.0e}: {e64:.1e}")
    x32 = x0.astype(np.float32)
    e32 = np.abs(numerical_gradient(lambda a: float(np.sum(a.astype(np.float32) ** 3)), x32)
                 - 3 * x32.astype(np.float64) ** 2).max()
    print(f"x**3 computed in float32, eps 1e-6: max error {e32:.1e} (float32 has 7 digits)")
    print("question: why does the error first fall like eps**2, then grow again?")


def _mlp_saved(batch: int) -> tuple:
    """Saved bytes of one digits-MLP forward pass at ``batch``: all of them, the part that
    is parameters (alive anyway), and the parameters' bytes."""
    tt.manual_seed(0)
    model = build_mlp()
    loss = F.cross_entropy(model(tt.randn(batch, 64)), tt.tensor(np.zeros(batch, np.int64)))
    nodes = topological_order(loss.grad_fn)
    saved = [t for n in nodes for t in saved_tensors_of(n)]
    params = list(model.parameters())
    saved_params = sum(p.nbytes for p in params if any(t.shares_storage(p) for t in saved))
    return saved_bytes(nodes), saved_params, sum(p.nbytes for p in params)


def experiment_saved_memory() -> None:
    for name, check in (("topological_order", lambda: topological_order(tt.ones(
            1, requires_grad=True).exp().grad_fn)), ("saved_bytes", lambda: saved_bytes([]))):
        try:
            check()
        except NotImplementedError:
            return _todo(name)
    mib = 1024 * 1024
    print(f"{'MLP 64-128-10, batch':>22} {'saved':>10} {'of it params':>13} {'activations':>12}")
    for batch in (32, 256, 2048):
        total, in_params, param_bytes = _mlp_saved(batch)
        print(f"{batch:>22} {total / 1024:8.1f} kB {in_params / 1024:10.1f} kB "
              f"{(total - in_params) / 1024:9.1f} kB")
    print(f"(the parameters are {param_bytes / 1024:.1f} kB whatever the batch; a linear "
          "node saves its weight, not its bias: why?)")

    depth, shape = 32, (512, 256)
    tt.manual_seed(0)
    x = tt.randn(*shape, dtype=tt.float64)
    w = (tt.randn(shape[1], dtype=tt.float64) * 0.5).requires_grad_()
    print(f"\na chain of {depth} x (h * w).tanh() on {shape} float64 "
          f"({x.nbytes / mib:.0f} MiB per activation):")
    # warm-up: the first float64 calls load compiled kernels, which allocates too
    (tt.ones(2, shape[1], dtype=tt.float64) * w).tanh().sum().backward()
    w.grad = None
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        for retain in (False, True):
            base = tracemalloc.get_traced_memory()[0]
            h = x
            for _ in range(depth):
                h = (h * w).tanh()
            loss = h.sum()
            del h  # the last activation stays alive all the same: its node saved it
            nodes = topological_order(loss.grad_fn)
            after_forward = tracemalloc.get_traced_memory()[0] - base
            saved_forward = saved_bytes(nodes)
            w.grad = None
            tracemalloc.reset_peak()
            loss.backward(retain_graph=retain)
            after_backward, peak = (m - base for m in tracemalloc.get_traced_memory())
            print(f"  loss.backward(retain_graph={retain}):")
            print(f"    after forward  {after_forward / mib:5.1f} MiB traced; saved_bytes "
                  f"{saved_forward / mib:5.1f} MiB (x too, made before tracing began)")
            print(f"    after backward {after_backward / mib:5.1f} MiB traced; saved_bytes "
                  f"{saved_bytes(nodes) / mib:5.1f} MiB; peak during backward "
                  f"{peak / mib:.1f} MiB")
            try:
                loss.backward()
                print("    a second backward runs: w.grad now holds twice the gradient")
            except RuntimeError as err:
                print(f"    a second backward: RuntimeError: {str(err).splitlines()[0][:60]}...")
            del loss, nodes
            print(f"    after `del loss`: {(tracemalloc.get_traced_memory()[0] - base) / mib:.1f}"
                  " MiB traced")
    finally:
        tracemalloc.stop()
    print("question: which tensor is saved twice in each layer, and why is it counted once?")


def experiment_train_on_student_kernel() -> None:
    try:
        relu_backward(np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
    except NotImplementedError:
        return _todo("relu_backward")
    # Your kernel as a tinytorch backend: relu_backward is yours, every other op borrows
    # jit (each borrowed op would warn once; the warnings are silenced to keep this short).
    tt.register_kernel("relu_backward", "student", numba.njit(_plain(relu_backward)))
    tt.register_kernel("relu_backward", "student_loops", relu_backward)
    epochs = 5
    print(f"digits MLP, {epochs} epochs, Adam; relu_backward from:")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for name, backend in (("tinytorch jit", "jit"), ("your loops, njit", "student"),
                              ("your loops, Python", "student_loops")):
            result = train_mlp(backend, epochs=epochs, fallback="jit")
            steady = sorted(result["epoch_seconds"][1:])[(epochs - 1) // 2]
            print(f"  {name:20} test accuracy {result['test_accuracy'] * 100:6.2f}%   "
                  f"epoch {steady * 1e3:7.1f} ms (median after the first)")
    print("question: why are the accuracies of jit and your kernel exactly equal?")


# %%
if __name__ == "__main__":
    for experiment in (experiment_backward_kernels, experiment_broadcast_gradient,
                       experiment_graph, experiment_gradcheck, experiment_saved_memory,
                       experiment_train_on_student_kernel):
        print(f"\n== {experiment.__name__} ==")
        experiment()
