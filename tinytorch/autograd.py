"""Reverse-mode automatic differentiation: the graph, saved tensors, and the engine (module 04).

An op that may need a gradient is a ``Function``: ``forward(ctx, *args)`` computes the result
(through the dispatcher, like every op) and saves on ``ctx`` what the backward pass needs;
``backward(ctx, grad)`` returns one gradient per argument of ``forward`` (``None`` for
arguments that need none). ``Function.apply`` runs ``forward`` with recording switched off
and, when recording is on and an input requires grad, hangs a ``Node`` on the output: its
``grad_fn``. A node keeps edges to the nodes of its inputs (``next_functions``): the graph.

``tensor.backward()`` walks the graph from the output in topological order (an iterative
walk, so deep graphs do not hit Python's recursion limit), sums the gradients that reach a
node from several consumers, reduces broadcast gradients back to each input's shape, and adds
the gradients of leaves into their ``.grad``. Each node frees its saved tensors once it has
run, unless ``retain_graph=True``; a second backward through a freed node raises.

>>> import tinytorch as tt
>>> x = tt.tensor([1.0, 2.0, 3.0], requires_grad=True)
>>> y = (x * x).sum()
>>> y.backward()
>>> x.grad.tolist()
[2.0, 4.0, 6.0]
>>> with tt.no_grad():
...     (x * 2).requires_grad
False
"""

from __future__ import annotations

import contextlib
import contextvars

import numpy as np

__all__ = ["Context", "Function", "Node", "no_grad", "enable_grad", "is_grad_enabled",
           "backward", "sum_to"]

_enabled: contextvars.ContextVar[bool] = contextvars.ContextVar("tinytorch_grad_enabled",
                                                                default=True)


def is_grad_enabled() -> bool:
    """True unless inside ``tt.no_grad()`` (and not re-enabled by ``tt.enable_grad()``)."""
    return _enabled.get()


class _GradMode(contextlib.ContextDecorator):
    _value = True

    def __init__(self):
        self._tokens: list = []

    def __enter__(self):
        self._tokens.append(_enabled.set(self._value))
        return self

    def __exit__(self, *exc):
        _enabled.reset(self._tokens.pop())
        return False


class no_grad(_GradMode):  # noqa: N801 (PyTorch's name)
    """Record no graph inside the block (or the decorated function): for evaluation and for
    parameter updates. A context variable, so each thread and async task has its own."""

    _value = False


class enable_grad(_GradMode):  # noqa: N801
    """Record again inside a ``no_grad`` block."""

    _value = True


_FREED = ("Trying to backward through the graph a second time (or to use saved tensors after "
          "they were freed): the saved tensors of {name} were released by the first "
          ".backward()\nhint: pass retain_graph=True to the first .backward() call")


class Context:
    """What ``forward`` leaves for ``backward``: saved tensors plus any plain attributes.

    ``needs_input_grad`` has one bool per argument of ``forward``.
    """

    __slots__ = ("needs_input_grad", "_saved", "_versions", "_name", "__dict__")

    def __init__(self, needs_input_grad: tuple = ()):
        self.needs_input_grad = needs_input_grad
        self._saved: tuple | None = ()
        self._versions: tuple = ()
        self._name = "this node"

    def save_for_backward(self, *tensors) -> None:
        """Keep tensors (or ``None``) for backward; they are released after it runs. Each
        one's version is noted: an in-place write before backward makes backward raise."""
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward() takes tensors or None, got "
                                f"{type(t).__name__}; keep other values as ctx attributes")
        self._saved = tensors
        self._versions = tuple(None if t is None else t._version_ref[0] for t in tensors)

    @property
    def saved_tensors(self) -> tuple:
        if self._saved is None:
            raise RuntimeError(_FREED.format(name=self._name))
        for t, version in zip(self._saved, self._versions, strict=True):
            if t is not None and t._version_ref[0] != version:
                raise RuntimeError(
                    f"one of the tensors needed for gradient computation has been modified "
                    f"by an in-place operation: the {t.dtype.name} tensor of shape {t.shape} "
                    f"saved by {self._name} is at version {t._version_ref[0]}; expected "
                    f"version {version} instead\nhint: use the out-of-place op (x = x + y, "
                    "not x += y), or .clone() the tensor before changing it")
        return self._saved

    def _release(self) -> None:
        self._saved = None


class Node:
    """One recorded op: how to turn the output's gradient into its inputs' gradients.

    ``next_functions`` holds, per input, the node to pass that input's gradient to (its
    ``grad_fn``, or an ``AccumulateGrad`` for a leaf), or ``None``; ``input_meta`` the input's
    shape and dtype, to which the gradient is reduced and cast.
    """

    __slots__ = ("name", "_backward", "ctx", "next_functions", "input_meta", "_released",
                 "__weakref__")

    def __init__(self, name: str, backward, ctx: Context | None, inputs: tuple):
        self.name = name
        self._backward = backward
        self.ctx = ctx
        self.next_functions = tuple(_edge(t) for t in inputs)
        self.input_meta = tuple((t.shape, t.dtype) if isinstance(t, Tensor) else None
                                for t in inputs)
        self._released = False

    def __repr__(self) -> str:
        return f"<{self.name}>"

    def apply(self, grad: Tensor, retain_graph: bool) -> tuple:
        if self._released:
            raise RuntimeError(_FREED.format(name=self.name))
        grads = self._backward(grad) if self.ctx is None else self._backward(self.ctx, grad)
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(self.next_functions):
            raise RuntimeError(f"{self.name} returned {len(grads)} gradients for "
                               f"{len(self.next_functions)} inputs")
        if not retain_graph:
            self._released = True
            if self.ctx is not None:
                self.ctx._release()
            self._backward = None
        return grads


class AccumulateGrad:
    """The end of an edge into a leaf: adds the gradient into ``leaf.grad``."""

    __slots__ = ("variable",)
    name = "AccumulateGrad"
    next_functions = ()

    def __init__(self, variable: Tensor):
        self.variable = variable

    def __repr__(self) -> str:
        return "<AccumulateGrad>"

    def accumulate(self, grad: Tensor) -> None:
        from tinytorch import ops

        t = self.variable
        if grad.dtype != t.dtype:
            grad = grad.to(t.dtype)
        # The first gradient is copied (through the copy kernel): it may be a read-only
        # expanded view, or share storage with a tensor the caller still holds.
        t.grad = ops.contiguous_copy(grad) if t.grad is None else t.grad + grad


def _edge(t):
    if not isinstance(t, Tensor) or not t.requires_grad:
        return None
    return t.grad_fn if t.grad_fn is not None else AccumulateGrad(t)


def _needs_record(inputs) -> bool:
    if not _enabled.get():
        return False
    for t in inputs:  # a plain loop: this runs on every op, any() with a generator is slower
        if isinstance(t, Tensor) and t.requires_grad:
            return True
    return False


# Callables told about every Node that Function.apply creates (``tinytorch.summary`` uses
# this to count the bytes each layer saves for backward); empty on the hot path.
_node_observers: list = []


def record(out: Tensor, name: str, backward, inputs: tuple) -> Tensor:
    """Attach ``backward(grad) -> grads`` to ``out`` when an input requires grad and
    recording is on (used by the views in ``tensor.py``, which need no saved tensors)."""
    if _needs_record(inputs) and out.dtype.is_floating_point:
        out.grad_fn = Node(name, backward, None, inputs)
        out.requires_grad = True
    return out


class Function:
    """Subclass with ``forward(ctx, *args)`` and ``backward(ctx, grad)`` staticmethods, and
    call ``apply(*args)``.

    >>> import tinytorch as tt
    >>> class Double(Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return x * 2
    ...     @staticmethod
    ...     def backward(ctx, grad):
    ...         return grad * 2
    >>> x = tt.ones(2, requires_grad=True)
    >>> Double.apply(x).sum().backward()
    >>> x.grad.tolist()
    [2.0, 2.0]
    """

    @staticmethod
    def forward(ctx: Context, *args):
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, grad: Tensor):
        raise NotImplementedError

    @classmethod
    def apply(cls, *args):
        record_graph = _needs_record(args)
        ctx = Context(tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
                      if record_graph else ())
        token = _enabled.set(False)
        try:
            out = cls.forward(ctx, *args)
        finally:
            _enabled.reset(token)
        if record_graph and out.dtype.is_floating_point:
            name = cls.__name__.lstrip("_") + "Backward"
            ctx._name = name
            out.grad_fn = Node(name, cls.backward, ctx, args)
            out.requires_grad = True
            if _node_observers:
                for observe in _node_observers:
                    observe(out.grad_fn)
        return out


def sum_to(grad: Tensor, shape: tuple) -> Tensor:
    """Reduce a broadcast gradient back to ``shape``: sum over the added leading dimensions
    and over the dimensions that were 1 (``ops.sum``, through the dispatcher), then reshape."""
    if grad.shape == tuple(shape):
        return grad
    from tinytorch import ops

    lead = grad.ndim - len(shape)
    dims = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                      if s == 1 and grad.shape[lead + i] != 1)
    if dims:
        grad = ops.sum(grad, dims, True)
    return grad.reshape(shape)


def backward(tensor: Tensor, gradient=None, retain_graph: bool = False) -> None:
    """The engine behind ``Tensor.backward``: see the module docstring."""
    if not tensor.requires_grad:
        raise RuntimeError("backward(): this tensor does not require grad and has no "
                           "grad_fn\nhint: create the inputs with requires_grad=True, and "
                           "do not compute it under tt.no_grad()")
    if gradient is None:
        if tensor.numel() != 1:
            raise RuntimeError(f"backward(): grad can be implicitly created only for scalar "
                               f"outputs, this tensor has shape {tensor.shape}\nhint: pass "
                               "gradient=... of the same shape, or reduce first (.sum())")
        gradient = Tensor(np.ones(tensor.shape, tensor.dtype.np))
    elif not isinstance(gradient, Tensor):
        gradient = Tensor(np.asarray(gradient, tensor.dtype.np))
    if gradient.shape != tensor.shape:
        raise RuntimeError(f"backward(): gradient has shape {gradient.shape} but the tensor "
                           f"has shape {tensor.shape}")
    root = tensor.grad_fn if tensor.grad_fn is not None else AccumulateGrad(tensor)
    with no_grad():
        _run(root, gradient, retain_graph)


def _run(root, gradient: Tensor, retain_graph: bool) -> None:
    # Count, for every node, how many edges lead into it: a node runs once all its
    # consumers have passed their gradient (Kahn's algorithm, no recursion).
    deps: dict = {}
    stack, seen = [root], {id(root)}
    while stack:
        node = stack.pop()
        for nxt in node.next_functions:
            if nxt is None:
                continue
            deps[nxt] = deps.get(nxt, 0) + 1
            if id(nxt) not in seen:
                seen.add(id(nxt))
                stack.append(nxt)
    grads = {root: gradient}
    ready = [root]
    while ready:
        node = ready.pop()
        grad = grads.pop(node, None)
        if isinstance(node, AccumulateGrad):
            if grad is not None:
                node.accumulate(grad)
            continue
        in_grads = node.apply(grad, retain_graph) if grad is not None else \
            (None,) * len(node.next_functions)
        for nxt, meta, g in zip(node.next_functions, node.input_meta, in_grads, strict=True):
            if nxt is None:
                continue
            if g is not None:
                shape, dtype = meta
                g = sum_to(g, shape)
                if g.dtype != dtype:
                    g = g.to(dtype)
                grads[nxt] = g if nxt not in grads else grads[nxt] + g
            deps[nxt] -= 1
            if deps[nxt] == 0:
                ready.append(nxt)


# Last, so that importing this module first works: tensor.py imports it back, and the ops
# import Function from it.
from tinytorch.tensor import Tensor  # noqa: E402
