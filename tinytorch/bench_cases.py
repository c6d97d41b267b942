"""Inputs of ``tinytorch bench``'s ops (elementwise, reductions, matmul and linear,
optimisers, transforms) and their PyTorch counterparts; ``bench_cases_nn`` has the layers.

Each ``_..._in(n, dtype, rng)`` returns a ``Case``: the kernel's positional arrays and
scalars, outputs first as every kernel takes them, and its keyword scalars. Each
``_torch_...(torch, case)`` returns a zero-argument function running PyTorch's counterpart
on the same data, which returns the tensor to compare with the kernel's first output.

>>> case = _matmul_in(3, np.dtype("float32"), np.random.default_rng(0))
>>> [a.shape for a in case.args], case.n_out
([(1, 3, 3), (1, 3, 3), (1, 3, 3)], 1)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Case"]


@dataclass
class Case:
    """One ready kernel call: ``kernel(*args, **kwargs)``; ``args[:n_out]`` are outputs.

    Arrays after the outputs may be updated in place too (optimiser state, running
    statistics): the runner compares every array argument with the oracle's, not only the
    outputs, so a kernel that scribbles on an input fails its check as well.
    """

    args: tuple
    kwargs: dict = field(default_factory=dict)
    n_out: int = 1


def _randn(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _t(torch, a):
    return torch.from_numpy(a)


# --- elementwise and activations: (1, n) rows, as the function layer views any tensor ---

def _rows(arity, **kwargs):
    def make(n, dtype, rng):
        xs = tuple(_randn(rng, (1, n), dtype) for _ in range(arity))
        return Case((np.empty((1, n), dtype), *xs), dict(kwargs))
    return make


def _backward_rows(**kwargs):
    def make(n, dtype, rng):  # grad_x, g, x
        return Case((np.empty((1, n), dtype), _randn(rng, (1, n), dtype),
                     _randn(rng, (1, n), dtype)), dict(kwargs))
    return make


def _torch_out(name, arity):
    def build(torch, case):
        out, *xs = (_t(torch, a) for a in case.args[:1 + arity])
        fn = getattr(torch, name)

        def run():
            fn(*xs, out=out)
            return out
        return run
    return build


def _torch_call(fn_of_torch, n_in):
    """A torch op without an ``out=`` form: it allocates its result, as a user's call does."""
    def build(torch, case):
        fn = fn_of_torch(torch)
        xs = [_t(torch, a) if isinstance(a, np.ndarray) else a
              for a in case.args[case.n_out:case.n_out + n_in]]
        return lambda: fn(*xs)
    return build


# --- reductions: one (1, n) row into float64 (the function layer's accumulator) ---------

def _reduce_in(n, dtype, rng):
    return Case((np.empty(1, np.float64), _randn(rng, (1, n), dtype)))


def _max_in(n, dtype, rng):
    return Case((np.empty(1, dtype), np.empty(1, np.int64), _randn(rng, (1, n), dtype)),
                n_out=2)


def _torch_reduce(name):
    def build(torch, case):
        x = _t(torch, case.args[1])
        fn = getattr(torch, name)
        return lambda: fn(x, dim=1, dtype=torch.float64)
    return build


def _torch_max(torch, case):
    x = _t(torch, case.args[2])
    values, indices = _t(torch, case.args[0]), _t(torch, case.args[1])

    def run():
        torch.max(x, dim=1, out=(values, indices))
        return values
    return run


# --- matmul and linear: square n x n operands --------------------------------------------

def _matmul_in(n, dtype, rng):
    a, b = _randn(rng, (1, n, n), dtype), _randn(rng, (1, n, n), dtype)
    return Case((np.empty((1, n, n), dtype), a, b))


def _torch_matmul(torch, case):
    out, a, b = (_t(torch, x) for x in case.args)

    def run():
        torch.matmul(a, b, out=out)
        return out
    return run


def _linear_in(n, dtype, rng):
    return Case((np.empty((n, n), dtype), _randn(rng, (n, n), dtype), _randn(rng, (n, n), dtype),
                 _randn(rng, (n,), dtype)))


def _linear_backward_in(n, dtype, rng):
    g, x, w = (_randn(rng, (n, n), dtype) for _ in range(3))
    return Case((np.empty((n, n), dtype), np.empty((n, n), dtype), np.empty(n, dtype), g, x, w,
                 True), n_out=3)


def _torch_linear(torch, case):
    x, w, b = (_t(torch, a) for a in case.args[1:4])
    f = torch.nn.functional.linear
    return lambda: f(x, w, b)


def _torch_linear_backward(torch, case):
    gx, gw, gb, g, x, w = (_t(torch, a) for a in case.args[:6])

    def run():  # the three products autograd's linear backward runs
        torch.mm(g, w, out=gx)
        torch.mm(g.T, x, out=gw)
        torch.sum(g, 0, out=gb)
        return gx
    return run


# --- optimisers: one flat parameter of n elements, state buffers already warm ------------

_SGD = dict(lr=0.01, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=1e-4,
            first=False)
_ADAM = dict(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, step=10,
             decoupled=False)


def _sgd_in(n, dtype, rng):
    # n_out=0: every array is read; param and the buffer are updated in place (and checked)
    return Case((_randn(rng, n, dtype), _randn(rng, n, dtype), _randn(rng, n, dtype)),
                dict(_SGD), 0)


def _adam_in(n, dtype, rng):
    return Case((_randn(rng, n, dtype), _randn(rng, n, dtype), _randn(rng, n, dtype),
                 np.abs(_randn(rng, n, dtype))), dict(_ADAM), 0)


def _torch_sgd(torch, case):
    p = torch.from_numpy(case.args[0].copy())
    p.grad = torch.from_numpy(case.args[1].copy())
    kw = {k: v for k, v in _SGD.items() if k != "first"}
    opt = torch.optim.SGD([p], **kw)

    def run():  # no comparable output: torch's first step initialises the buffer itself
        opt.step()
    return run


def _torch_adam(torch, case):
    p = torch.from_numpy(case.args[0].copy())
    p.grad = torch.from_numpy(case.args[1].copy())
    opt = torch.optim.Adam([p], lr=_ADAM["lr"], betas=(_ADAM["beta1"], _ADAM["beta2"]),
                           eps=_ADAM["eps"])

    def run():
        opt.step()
    return run


# --- transforms: n CIFAR-sized images (3 x 32 x 32) ------------------------------------

IMAGE = (3, 32 * 32)


def _normalize_in(n, dtype, rng):
    x = rng.random((n, *IMAGE)).astype(dtype)
    return Case((np.empty_like(x), x, np.array([0.49, 0.48, 0.45], dtype),
                 np.array([0.25, 0.24, 0.26], dtype)))


def _torch_normalize(torch, case):
    out, x, mean, std = (_t(torch, a) for a in case.args)
    mean, std = mean[:, None], std[:, None]

    def run():  # what torchvision's Normalize does: subtract, then divide in place
        torch.sub(x, mean, out=out)
        out.div_(std)
        return out
    return run


def _torch_aten(name, n_in, **kw):
    def build(torch, case):
        fn = getattr(torch.ops.aten, name)
        xs = [_t(torch, a) for a in case.args[case.n_out:case.n_out + n_in]]
        return lambda: fn(*xs, **kw)
    return build
