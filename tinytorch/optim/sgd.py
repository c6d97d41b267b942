"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay.

The update of one parameter is one call of the ``sgd_step`` kernel (``kernels/optim.py``),
which applies PyTorch's rule in a single pass over the parameter::

    d = g + weight_decay * p
    buf = d (first step)  or  momentum * buf + (1 - dampening) * d
    d = d + momentum * buf (nesterov)  or  buf
    p = p - lr * d

>>> import tinytorch as tt
>>> w = tt.tensor([1.0, -1.0], requires_grad=True)
>>> opt = tt.optim.SGD([w], lr=0.1, momentum=0.9)
>>> for _ in range(2):
...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
>>> [round(v, 4) for v in w.tolist()]
[0.46, -0.46]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.optim.optimizer import Optimizer, bump_version, check_number
from tinytorch.tensor import Tensor

__all__ = ["SGD"]

# A stand-in for the momentum buffer when momentum is 0 (the kernel never reads it); one
# per dtype, so the compiled kernel sees the same array type as with momentum.
_NO_BUFFER = {np.dtype(np.float32): np.empty(0, np.float32),
              np.dtype(np.float64): np.empty(0, np.float64)}


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False)``,
    PyTorch's semantics: the first step with momentum copies the update into the buffer
    (no dampening), later steps blend it in.

    >>> import tinytorch as tt
    >>> w = tt.tensor([2.0], requires_grad=True); w.grad = tt.tensor([1.0])
    >>> opt = tt.optim.SGD([w], lr=0.1, weight_decay=0.5)
    >>> opt.step(); round(w.item(), 6)   # 2 - 0.1 * (1 + 0.5 * 2)
    1.8
    """

    _state_buffers = ("momentum_buffer",)
    _nullable_buffers = ("momentum_buffer",)

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov}
        self._check_group(defaults)  # the defaults first: the error names the argument
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        owner = "SGD"
        check_number(owner, "lr", group["lr"])
        check_number(owner, "momentum", group["momentum"])
        check_number(owner, "dampening", group["dampening"], low=-np.inf)
        check_number(owner, "weight_decay", group["weight_decay"])
        nesterov = group["nesterov"]
        if not isinstance(nesterov, (bool, np.bool_)):
            raise TypeError(f"SGD: nesterov must be True or False, got "
                            f"{type(nesterov).__name__} {nesterov!r}")
        if nesterov and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(f"SGD: Nesterov momentum needs momentum > 0 and dampening == 0, "
                             f"got momentum={group['momentum']!r}, "
                             f"dampening={group['dampening']!r}")

    def _update_group(self, group: dict) -> None:
        # Read the hyperparameters once per group (a scheduler may have changed lr), as
        # Python floats and bools, so the compiled kernel sees one type signature.
        momentum = float(group["momentum"])
        scalars = {"lr": float(group["lr"]), "momentum": momentum,
                   "dampening": float(group["dampening"]),
                   "nesterov": bool(group["nesterov"]),
                   "weight_decay": float(group["weight_decay"]), "first": False}
        state, flat, call, bump = self.state, self._flat, dispatch.call, bump_version
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            pd = p._data
            # The gradient is new after every backward: check what the kernel relies on,
            # before any state is made. reshape(-1) is a view of a contiguous gradient and a
            # copy of a strided one; the kernel only reads it.
            gd = g._data if isinstance(g, Tensor) else None
            if gd is None or gd.shape != pd.shape or gd.dtype != pd.dtype:
                self._bad_grad(group, p)
            c = flat.get(p)
            if momentum == 0:
                if c is None or c[0] is not pd:
                    c = flat[p] = self._prepare(group, p, None)
                buf = c[4]  # an empty stand-in: the kernel does not touch it
                scalars["first"] = False
            else:
                st = state[p]
                b = st.get("momentum_buffer")
                scalars["first"] = b is None
                if b is None:  # the kernel fills it: buf = d on a first step
                    b = st["momentum_buffer"] = Tensor(np.empty_like(pd))
                if c is None or c[0] is not pd or c[2] is not b:
                    c = flat[p] = self._prepare(group, p, b)
                buf = c[3]
            call("sgd_step", c[1], gd.reshape(-1), buf, **scalars)
            if bump is not None:
                bump(p)

    def _prepare(self, group: dict, p: Tensor, buf) -> tuple:
        """``(p's array, its flat view, buffer tensor, its flat view, empty stand-in)``."""
        flat_p = self._check_param(group, p)
        flat_b = None if buf is None else \
            self._check_buffer(group, p, "momentum_buffer", buf)
        return p._data, flat_p, buf, flat_b, _NO_BUFFER[flat_p.dtype]
