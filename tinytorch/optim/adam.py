"""Adam and AdamW: moment estimates with bias correction, one fused kernel per parameter.

``adam_step`` (``kernels/optim.py``) reads the parameter, its gradient and both moments
once and writes the parameter and the moments once (PyTorch's rule, bias corrections
included); Adam adds the weight decay to the gradient (L2), AdamW shrinks the parameter
directly (decoupled, Loshchilov and Hutter).

>>> import tinytorch as tt
>>> w = tt.tensor([1.0, -1.0], requires_grad=True)
>>> opt = tt.optim.Adam([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> [round(v, 6) for v in w.tolist()]   # the first Adam step moves each weight by ~lr
[0.9, -0.9]
"""

from __future__ import annotations

import numpy as np

from tinytorch import dispatch
from tinytorch.optim.optimizer import Optimizer, bump_version, check_number
from tinytorch.tensor import Tensor

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)``; with
    ``decoupled_weight_decay=True`` it is AdamW (as in PyTorch).

    State per parameter: ``step`` (an int), ``exp_avg`` and ``exp_avg_sq`` (tensors).

    >>> import tinytorch as tt
    >>> w = tt.ones(3, requires_grad=True); w.grad = tt.ones(3)
    >>> opt = tt.optim.Adam([w], lr=0.01); opt.step()
    >>> opt.state[w]["step"], round(opt.state[w]["exp_avg"].tolist()[0], 6)
    (1, 0.1)
    """

    _state_buffers = ("exp_avg", "exp_avg_sq")
    _state_counters = ("step",)

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, *, decoupled_weight_decay: bool = False):
        defaults = {"lr": lr, "betas": betas, "eps": eps, "weight_decay": weight_decay,
                    "decoupled_weight_decay": decoupled_weight_decay}
        self._check_group(defaults)
        defaults["betas"] = tuple(betas)
        super().__init__(params, defaults)

    def _check_group(self, group: dict) -> None:
        owner = type(self).__name__
        check_number(owner, "lr", group["lr"])
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"{owner}: betas must be a pair (beta1, beta2), got "
                            f"{type(betas).__name__} {betas!r}")
        for i, beta in enumerate(betas):
            check_number(owner, f"betas[{i}]", beta)
            if not beta < 1:
                raise ValueError(f"{owner}: invalid betas[{i}]={beta!r}; it must lie in "
                                 "[0, 1)")
        check_number(owner, "eps", group["eps"])
        check_number(owner, "weight_decay", group["weight_decay"])
        flag = group["decoupled_weight_decay"]
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"{owner}: decoupled_weight_decay must be True or False, got "
                            f"{type(flag).__name__} {flag!r}")

    def _update_group(self, group: dict) -> None:
        beta1, beta2 = group["betas"]
        scalars = {"lr": float(group["lr"]), "beta1": float(beta1), "beta2": float(beta2),
                   "eps": float(group["eps"]), "weight_decay": float(group["weight_decay"]),
                   "step": 0, "decoupled": bool(group["decoupled_weight_decay"])}
        state, flat, call, bump = self.state, self._flat, dispatch.call, bump_version
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            pd = p._data
            gd = g._data if isinstance(g, Tensor) else None  # checked as in SGD
            if gd is None or gd.shape != pd.shape or gd.dtype != pd.dtype:
                self._bad_grad(group, p)
            st = state[p]
            c = flat.get(p)
            if c is None or c[0] is not pd or c[2] is not st.get("exp_avg") or \
                    c[4] is not st.get("exp_avg_sq"):
                c = flat[p] = self._prepare(group, p, st)
            st["step"] = scalars["step"] = st["step"] + 1
            call("adam_step", c[1], gd.reshape(-1), c[3], c[5], **scalars)
            if bump is not None:
                bump(p)

    def _prepare(self, group: dict, p: Tensor, st: dict) -> tuple:
        """``(p's array, its flat view, exp_avg, flat, exp_avg_sq, flat)``; the first time,
        the state: step 0 and both moments zero."""
        flat_p = self._check_param(group, p)
        if not st:
            st["step"] = 0
            st["exp_avg"] = Tensor(np.zeros_like(p._data))
            st["exp_avg_sq"] = Tensor(np.zeros_like(p._data))
        step = st.get("step")
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"{self._where(group, p)}: state['step'] must be an int >= 0, "
                             f"got {step!r}")
        m, v = st.get("exp_avg"), st.get("exp_avg_sq")
        return (p._data, flat_p, m, self._check_buffer(group, p, "exp_avg", m),
                v, self._check_buffer(group, p, "exp_avg_sq", v))


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2)``: Adam
    with decoupled weight decay, ``p *= 1 - lr * weight_decay`` before the Adam update.

    >>> import tinytorch as tt
    >>> w = tt.ones(1, requires_grad=True); w.grad = tt.zeros(1)
    >>> opt = tt.optim.AdamW([w], lr=0.1, weight_decay=0.5); opt.step()
    >>> round(w.item(), 6)   # a zero gradient: only the decay acts, 1 * (1 - 0.05)
    0.95
    """

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay=True)
