"""Learning-rate schedules: ``StepLR``, ``CosineAnnealingLR``, ``ExponentialLR``, ``LambdaLR``.

A scheduler wraps an optimiser and rewrites ``group["lr"]`` of every parameter group each
time ``scheduler.step()`` is called (once per epoch, or per batch, after
``optimizer.step()``). PyTorch's semantics, values included: the constructor stores each
group's starting rate as ``group["initial_lr"]`` (``base_lrs``) and takes the first step
itself (``last_epoch`` goes from -1 to 0 and the rates stay as they are); most schedules are
computed *recursively* from the current ``group["lr"]``, as PyTorch does, so another change
to the rate (a second scheduler, a hand edit) composes with them.

Formulas, with ``t = last_epoch`` and ``lr0`` the base rate (closed forms; see each class):

- ``StepLR``: ``lr0 * gamma ** (t // step_size)``
- ``ExponentialLR``: ``lr0 * gamma ** t``
- ``CosineAnnealingLR``: ``eta_min + (lr0 - eta_min) * (1 + cos(pi * t / T_max)) / 2``
- ``LambdaLR``: ``lr0 * lr_lambda(t)``

>>> import tinytorch as tt
>>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=1.0)
>>> sched = tt.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
>>> lrs = []
>>> for epoch in range(5):
...     lrs.append(sched.get_last_lr()[0]); opt.step(); sched.step()
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""

from __future__ import annotations

import math
import types

from tinytorch.optim.optimizer import Optimizer, check_number

__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "ExponentialLR", "LambdaLR"]


def _check_positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} "
                        f"{value!r}")
    if value <= 0:
        raise ValueError(f"{owner}: {name} must be a positive int, got {value}")
    return value


class LRScheduler:
    """Base class: subclasses define ``get_lr()``, the rates for the new ``last_epoch``,
    computed from the current ``group["lr"]`` (or from ``base_lrs``).

    >>> import tinytorch as tt
    >>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=0.1)
    >>> s = tt.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> s.last_epoch, opt.param_groups[0]["initial_lr"], s.get_last_lr()
    (0, 0.1, [0.1])
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        owner = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{owner}: expected an Optimizer, got {type(optimizer).__name__}")
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{owner}: last_epoch must be an int >= -1, got {last_epoch!r}")
        self.optimizer = optimizer
        if last_epoch == -1:
            for group in optimizer.param_groups:
                group.setdefault("initial_lr", group["lr"])
        else:
            for i, group in enumerate(optimizer.param_groups):
                if "initial_lr" not in group:
                    raise KeyError(f"{owner}: param_groups[{i}] has no 'initial_lr', which "
                                   f"resuming with last_epoch={last_epoch} needs\nhint: load "
                                   "the optimizer's state_dict first, or start with "
                                   "last_epoch=-1")
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        # PyTorch's initial step: last_epoch becomes last_epoch + 1 and the rates stay.
        self._step_count = 0
        self._is_initial = True
        try:
            self.step()
        finally:
            self._is_initial = False

    def get_lr(self) -> list:
        """The rates for the current ``last_epoch`` (called by ``step``)."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one epoch and write the new rates into the optimiser's groups."""
        self._step_count += 1
        self.last_epoch += 1
        values = self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, values, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list:
        """The rates the last ``step`` set, one per parameter group (a copy)."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """Every attribute but the optimiser (numbers and lists: JSON-friendly).

        >>> import tinytorch as tt
        >>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=0.1)
        >>> sorted(tt.optim.lr_scheduler.StepLR(opt, 3).state_dict())[:3]
        ['_is_initial', '_last_lr', '_step_count']
        """
        return {key: value for key, value in self.__dict__.items() if key != "optimizer"}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (for the same kind of scheduler)."""
        if not isinstance(state_dict, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict(): expected a dict, got "
                            f"{type(state_dict).__name__}")
        unknown = sorted(k for k in state_dict if k not in self.__dict__ or k == "optimizer")
        if unknown:
            raise ValueError(f"{type(self).__name__}.load_state_dict(): unknown keys "
                             f"{unknown}; is this the state of another kind of scheduler?")
        self.__dict__.update(state_dict)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(last_epoch={self.last_epoch}, lr={self._last_lr})"


class StepLR(LRScheduler):
    """Multiply the rate by ``gamma`` every ``step_size`` epochs.

    >>> import tinytorch as tt
    >>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = tt.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1)
    >>> s.step(); s.get_last_lr()
    [0.1]
    """

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1):
        self.step_size = _check_positive_int("StepLR", "step_size", step_size)
        check_number("StepLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class ExponentialLR(LRScheduler):
    """Multiply the rate by ``gamma`` every epoch.

    >>> import tinytorch as tt
    >>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = tt.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)
    >>> s.step(); s.step(); s.get_last_lr()
    [0.25]
    """

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        check_number("ExponentialLR", "gamma", gamma)
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        groups = self.optimizer.param_groups
        if self._is_initial:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class CosineAnnealingLR(LRScheduler):
    """Anneal from the base rate to ``eta_min`` along half a cosine over ``T_max`` epochs;
    past ``T_max`` the rate climbs back (the cosine continues, period ``2 * T_max``).

    Computed recursively, as PyTorch: ``lr_t = eta_min + (lr_{t-1} - eta_min) * (1 +
    cos(pi t / T_max)) / (1 + cos(pi (t - 1) / T_max))``; that ratio is 0/0 one epoch past
    each minimum, where the step is ``(lr0 - eta_min) * (1 - cos(pi / T_max)) / 2``
    instead. It equals the closed form up to rounding.

    >>> import tinytorch as tt
    >>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=1.0)
    >>> s = tt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2)
    >>> lrs = []
    >>> for _ in range(5):
    ...     s.step(); lrs.append(round(s.get_last_lr()[0], 6))
    >>> lrs
    [0.5, 0.0, 0.5, 1.0, 0.5]
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,  # noqa: N803
                 last_epoch: int = -1):
        self.T_max = _check_positive_int("CosineAnnealingLR", "T_max", T_max)
        check_number("CosineAnnealingLR", "eta_min", eta_min)
        self.eta_min = eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        groups, t, T, eta = self.optimizer.param_groups, self.last_epoch, self.T_max, \
            self.eta_min
        if self._is_initial:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:  # resumed: no previous rate to recurse from
            return [eta + (base - eta) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # one past a minimum: the ratio below is 0/0
            return [group["lr"] + (base - eta) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in zip(self.base_lrs, groups, strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (group["lr"] - eta) + eta for group in groups]


class LambdaLR(LRScheduler):
    """Set the rate to ``base_lr * lr_lambda(epoch)``; one function, or one per group.

    >>> import tinytorch as tt
    >>> opt = tt.optim.SGD([tt.zeros(1, requires_grad=True)], lr=2.0)
    >>> s = tt.optim.lr_scheduler.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    >>> s.step(); s.get_last_lr()
    [1.0]
    """

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"LambdaLR: expected an Optimizer, got {type(optimizer).__name__}")
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError(f"LambdaLR: got {len(lr_lambda)} lr_lambdas for {n} "
                                 "parameter groups; give one per group, or one for all")
            lambdas = list(lr_lambda)
        else:
            lambdas = [lr_lambda] * n
        for i, fn in enumerate(lambdas):
            if not callable(fn):
                raise TypeError(f"LambdaLR: lr_lambda {i} must be callable (epoch -> "
                                f"factor), got {type(fn).__name__}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list:
        return [base * fn(self.last_epoch)
                for fn, base in zip(self.lr_lambdas, self.base_lrs, strict=True)]

    def state_dict(self) -> dict:
        """As the base, but the functions are code, not state: plain functions are saved
        as ``None``, callable objects as a copy of their attributes (PyTorch's rule)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}
        out["lr_lambdas"] = [None if isinstance(fn, types.FunctionType) else
                             dict(fn.__dict__) for fn in self.lr_lambdas]
        return out

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        saved = state_dict.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        super().load_state_dict(state_dict)
        for fn, attrs in zip(self.lr_lambdas, saved, strict=True):
            if attrs is not None:
                fn.__dict__.update(attrs)
