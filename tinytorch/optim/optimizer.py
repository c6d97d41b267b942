"""The ``Optimizer`` base: parameter groups, per-parameter state, zero_grad, state_dict.

An optimiser holds ``param_groups``, a list of dicts: each has ``"params"`` (a list of leaf
tensors that require grad) and the hyperparameters of that group, with the optimiser's
defaults filled in, so one model can train its layers with different learning rates.
``state`` maps each parameter to a dict of its buffers (momentum, Adam's moments), created
on the first step. ``step()`` runs the update kernel once per parameter that has a gradient,
through ``tinytorch.dispatch`` (``kernels/optim.py``).

``state_dict()`` has PyTorch's layout: parameters are referred to by their position in the
order of the groups (``0, 1, ...``), so a checkpoint does not depend on object identities.

>>> import tinytorch as tt
>>> w = tt.tensor([1.0, 2.0], dtype=tt.float64, requires_grad=True)
>>> opt = tt.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward()
>>> opt.step(); opt.zero_grad()
>>> w.tolist(), w.grad
([0.8, 1.6], None)
>>> opt.state_dict()["param_groups"][0]["params"]
[0]
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from tinytorch import ops
from tinytorch.autograd import enable_grad, no_grad
from tinytorch.tensor import Tensor

__all__ = ["Optimizer"]

# In-place writes bump a tensor's version counter where tensors have one (ops/inplace.py),
# so that autograd refuses a backward through values an update changed (PyTorch's rule).
bump_version = getattr(Tensor, "_bump_version", None)


def _describe(x) -> str:
    return f"{type(x).__name__} {x!r}" if isinstance(x, (int, float, str)) else \
        type(x).__name__


class Optimizer:
    """Base class of the optimisers. Subclasses give their ``defaults``, check a group's
    hyperparameters in ``_check_group`` and update one group in ``_update_group``.

    >>> import tinytorch as tt
    >>> a, b = tt.zeros(2, requires_grad=True), tt.zeros(3, requires_grad=True)
    >>> opt = tt.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1)
    >>> [g["lr"] for g in opt.param_groups]
    [0.1, 0.5]
    """

    # Names of the per-element buffers a parameter's state holds (same shape and dtype as
    # the parameter), and of its integer counters; load_state_dict checks them.
    _state_buffers: tuple = ()
    _state_counters: tuple = ()
    _nullable_buffers: tuple = ()  # buffers that may be None (SGD: no momentum yet)

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._flat: dict = {}  # parameter -> the flat arrays its kernel call uses
        name = type(self).__name__
        if isinstance(params, Tensor):
            raise TypeError(f"{name}(): params must be an iterable of tensors or of dicts "
                            "(parameter groups), got a single Tensor\nhint: pass [tensor] "
                            "or model.parameters()")
        if isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}(): params must be an ordered collection (a list), got "
                            "a set: its order changes between runs, and the state_dict "
                            "refers to parameters by position")
        try:
            params = list(params)
        except TypeError:
            raise TypeError(f"{name}(): params must be an iterable of tensors or of dicts, "
                            f"got {type(params).__name__}") from None
        if not params:
            raise ValueError(f"{name}(): got an empty parameter list\nhint: did the model "
                             "create its layers? list(model.parameters()) should not be "
                             "empty")
        if all(isinstance(p, dict) for p in params):
            groups = params
        elif any(isinstance(p, dict) for p in params):
            raise TypeError(f"{name}(): params mixes tensors and dicts; pass either tensors "
                            "or parameter groups (dicts with a 'params' entry)")
        else:
            groups = [{"params": params}]
        for group in groups:
            self.add_param_group(group)

    # --- subclass hooks ---------------------------------------------------------------
    def _check_group(self, group: dict) -> None:
        """Raise TypeError/ValueError for a bad hyperparameter of ``group``."""

    def _update_group(self, group: dict) -> None:
        raise NotImplementedError

    # --- groups -----------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own hyperparameters (the missing ones come
        from the defaults), for example to unfreeze a layer while training.

        >>> import tinytorch as tt
        >>> opt = tt.optim.SGD([tt.zeros(2, requires_grad=True)], lr=0.1)
        >>> opt.add_param_group({"params": [tt.zeros(3, requires_grad=True)], "lr": 0.01})
        >>> len(opt.param_groups), opt.param_groups[1]["momentum"]
        (2, 0.0)
        """
        name = type(self).__name__
        k = len(self.param_groups)
        if not isinstance(param_group, dict):
            raise TypeError(f"{name}: a parameter group must be a dict, got "
                            f"{type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError(f"{name}: parameter group {k} has no 'params' entry; keys: "
                             f"{sorted(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError(f"{name}: the params of group {k} are a set; pass a list (the "
                            "state_dict refers to parameters by position)")
        else:
            try:
                params = list(params)
            except TypeError:
                raise TypeError(f"{name}: the params of group {k} must be an iterable of "
                                f"tensors, got {type(params).__name__}") from None
        seen: set[int] = set()
        for i, p in enumerate(params):
            where = f"parameter {i} of group {k}"
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: {where} is a {type(p).__name__}, not a Tensor")
            # A frozen parameter (requires_grad False) is accepted and, having no .grad,
            # never updated: as PyTorch, so SGD(model.parameters()) works on a partly
            # frozen model.
            if not p.is_leaf:
                raise ValueError(f"{name}: {where} (shape {p.shape}) is not a leaf: it was "
                                 f"computed by {p.grad_fn!r} and gets no .grad\nhint: "
                                 "optimise the tensor it came from, or .detach()."
                                 "requires_grad_() it")
            if not p._data.flags.c_contiguous:
                raise ValueError(f"{name}: {where} (shape {p.shape}, strides {p.strides}) "
                                 "is not contiguous; the update kernels walk a parameter as "
                                 "one flat array\nhint: optimise a .contiguous() copy")
            if not p._data.flags.writeable:
                raise ValueError(f"{name}: {where} (shape {p.shape}) is read-only, so an "
                                 "update cannot be written into it\nhint: optimise a "
                                 ".clone() of it")
            if id(p) in seen:
                raise ValueError(f"{name}: {where} appears twice in the group (shape "
                                 f"{p.shape})")
            seen.add(id(p))
        for j, other in enumerate(self.param_groups):
            shared = [i for i, p in enumerate(params) if any(p is q for q in other["params"])]
            if shared:
                raise ValueError(f"{name}: parameter {shared[0]} of group {k} is already in "
                                 f"group {j}; a parameter may appear in one group only")
        group = {key: value for key, value in param_group.items() if key != "params"}
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        group["params"] = params
        self._check_group(group)
        self.param_groups.append(group)

    # --- the training-loop calls --------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: ``p.grad = None`` (the default: the next backward
        allocates a fresh one, and a parameter without a gradient is skipped by ``step``),
        or with ``set_to_none=False`` fill the existing ones with zeros in place.

        >>> import tinytorch as tt
        >>> w = tt.ones(2, requires_grad=True); (w * 3).sum().backward()
        >>> opt = tt.optim.SGD([w]); opt.zero_grad(set_to_none=False); w.grad.tolist()
        [0.0, 0.0]
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    ops.copy_into(p.grad, 0.0)  # the copy kernel, in place
                    if bump_version is not None:
                        bump_version(p.grad)

    def step(self, closure=None):
        """Update every parameter that has a gradient, one kernel call each. ``closure``,
        when given, recomputes and returns the loss (with gradients recorded) first.

        >>> import tinytorch as tt
        >>> w = tt.tensor([1.0], requires_grad=True)
        >>> opt = tt.optim.SGD([w], lr=0.5)
        >>> def closure():
        ...     opt.zero_grad(); loss = (w * w).sum(); loss.backward(); return loss
        >>> opt.step(closure).item(), w.item()
        (1.0, 0.0)
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                self._update_group(group)
        return loss

    # --- helpers for the subclasses' hot loops -------------------------------------------
    # A step must cost little Python per parameter (a training step of a small MLP is a few
    # hundred microseconds in all), so the subclasses keep, per parameter, a tuple of the
    # flat arrays the kernel writes (``self._flat``), built and checked once by
    # ``_prepare``; the hot loop only checks by identity that the parameter's array and its
    # state tensors are still the ones the tuple was built from, and checks the gradient's
    # shape and dtype (a new gradient every backward).

    def _where(self, group: dict, p: Tensor) -> str:
        k = next(j for j, g in enumerate(self.param_groups) if g is group)
        i = next(j for j, q in enumerate(group["params"]) if q is p)
        return f"{type(self).__name__}.step(): parameter {i} of group {k}"

    def _check_param(self, group: dict, p: Tensor) -> np.ndarray:
        """``p``'s array as the kernel's flat view (a view, so the update lands in ``p``)."""
        pd = p._data
        if not (pd.flags.c_contiguous and pd.flags.writeable):
            raise ValueError(f"{self._where(group, p)} (shape {p.shape}, strides "
                             f"{p.strides}) is no longer a contiguous, writeable array")
        return pd.reshape(-1)

    def _check_buffer(self, group: dict, p: Tensor, name: str, buf) -> np.ndarray:
        """A state buffer as a flat view, after checking that it matches ``p``: the kernel
        writes ``p.numel()`` elements into it."""
        pd = p._data
        arr = buf._data if isinstance(buf, Tensor) else None
        if arr is None or arr.shape != pd.shape or arr.dtype != pd.dtype or \
                not arr.flags.c_contiguous:
            shown = f"shape {buf.shape}, {buf.dtype.name}" if isinstance(buf, Tensor) else \
                type(buf).__name__
            raise ValueError(f"{self._where(group, p)}: state[{name!r}] ({shown}) does "
                             f"not match the parameter (shape {p.shape}, {p.dtype.name}, "
                             "contiguous)\nhint: state buffers are made by step() or "
                             "load_state_dict(); do not replace them by hand")
        return arr.reshape(-1)

    def _bad_grad(self, group: dict, p: Tensor) -> None:
        """Raise for a gradient that does not fit its parameter (the hot loop's slow path)."""
        g = p.grad
        if not isinstance(g, Tensor):
            raise TypeError(f"{self._where(group, p)} has a .grad of type "
                            f"{type(g).__name__}, not a Tensor")
        if g.shape != p.shape:
            raise ValueError(f"{self._where(group, p)} has shape {p.shape} but its .grad "
                             f"has shape {g.shape}")
        raise TypeError(f"{self._where(group, p)} is {p.dtype.name} but its .grad is "
                        f"{g.dtype.name}\nhint: p.grad = p.grad.to(p.dtype)")

    # --- checkpoints ----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {name: tensor or number}}, "param_groups": [{..., "params":
        [index, ...]}]}``, PyTorch's layout: parameters by position, in group order. The
        tensors are the optimiser's own buffers, not copies (as PyTorch); save or clone
        them before stepping again if you need a snapshot.

        >>> import tinytorch as tt
        >>> w = tt.ones(2, requires_grad=True); w.grad = tt.ones(2)
        >>> opt = tt.optim.Adam([w]); opt.step()
        >>> sd = opt.state_dict()
        >>> sorted(sd["state"][0]), sd["state"][0]["step"], sd["param_groups"][0]["params"]
        (['exp_avg', 'exp_avg_sq', 'step'], 1, [0])
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {index[id(p)]: dict(s) for p, s in self.state.items()
                 if id(p) in index and s}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what ``state_dict()`` returned (for an optimiser over parameters of the
        same shapes, in the same order). Everything is checked before anything changes:
        the group count, each group's size, each buffer's shape, the hyperparameters. The
        buffers are copied (cast to each parameter's dtype), so the optimiser never shares
        memory with the dict.

        >>> import tinytorch as tt
        >>> w = tt.ones(2, requires_grad=True); w.grad = tt.ones(2)
        >>> opt = tt.optim.SGD([w], lr=0.1, momentum=0.9); opt.step()
        >>> twin = tt.optim.SGD([tt.ones(2, requires_grad=True)], lr=0.5, momentum=0.9)
        >>> twin.load_state_dict(opt.state_dict())
        >>> twin.param_groups[0]["lr"], twin.state_dict()["state"][0]["momentum_buffer"].tolist()
        (0.1, [1.0, 1.0])
        """
        name = f"{type(self).__name__}.load_state_dict()"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{name}: expected a dict, got {type(state_dict).__name__}")
        missing = [k for k in ("state", "param_groups") if k not in state_dict]
        if missing:
            raise ValueError(f"{name}: the dict lacks {missing}; it has keys "
                             f"{sorted(map(str, state_dict))}\nhint: pass what "
                             "optimizer.state_dict() returned")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise TypeError(f"{name}: 'param_groups' must be a list and 'state' a dict, got "
                            f"{type(saved_groups).__name__} and {type(saved_state).__name__}")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(f"{name}: the loaded state dict has {len(saved_groups)} "
                             f"parameter group(s), this optimizer has "
                             f"{len(self.param_groups)}")
        by_index: dict = {}
        new_groups = []
        for k, (group, saved) in enumerate(zip(self.param_groups, saved_groups, strict=True)):
            if not isinstance(saved, dict) or "params" not in saved:
                raise ValueError(f"{name}: loaded parameter group {k} is not a dict with a "
                                 "'params' entry")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"{name}: loaded parameter group {k} has "
                                 f"{len(saved['params'])} parameter(s), but group {k} of "
                                 f"this optimizer has {len(group['params'])}")
            for index, p in zip(saved["params"], group["params"], strict=True):
                if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                    raise TypeError(f"{name}: group {k} refers to a parameter by "
                                    f"{_describe(index)}; expected an integer index")
                if int(index) in by_index:
                    raise ValueError(f"{name}: parameter index {index} appears twice in "
                                     "the loaded groups")
                by_index[int(index)] = p
            # A key the saved group lacks (an older checkpoint, or one from PyTorch trimmed
            # to the keys tinytorch knows) keeps this optimiser's current value.
            merged = {key: value for key, value in group.items() if key != "params"}
            merged.update((key, value) for key, value in saved.items() if key != "params")
            merged["params"] = group["params"]
            self._check_group(merged)
            new_groups.append(merged)
        new_state: defaultdict = defaultdict(dict)
        for index, entry in saved_state.items():
            p = by_index.get(index) if isinstance(index, (int, np.integer)) else None
            if p is None:
                raise ValueError(f"{name}: the state refers to parameter {index!r}, which "
                                 f"no loaded group lists (indices: {sorted(by_index)})")
            new_state[p] = self._load_entry(name, int(index), p, entry)
        self.param_groups = new_groups
        self.state = new_state
        self._flat.clear()

    def _load_entry(self, name: str, index: int, p: Tensor, entry) -> dict:
        """One parameter's state, checked against ``p`` and copied."""
        if not isinstance(entry, dict):
            raise TypeError(f"{name}: the state of parameter {index} must be a dict, got "
                            f"{type(entry).__name__}")
        if entry:
            absent = [k for k in self._state_buffers + self._state_counters
                      if k not in entry]
            if absent:
                raise ValueError(f"{name}: the state of parameter {index} lacks {absent} "
                                 f"(it has {sorted(entry)})")
        out = {}
        for key, value in entry.items():
            where = f"state[{index}][{key!r}]"
            if key in self._state_counters:
                if isinstance(value, Tensor) and value.numel() == 1:
                    value = value.item()
                if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) \
                        or value != value or value < 0 or value != math.floor(value):
                    raise ValueError(f"{name}: {where} must be a whole number >= 0, got "
                                     f"{_describe(value)}")
                out[key] = int(value)
            elif key in self._state_buffers and not isinstance(value, Tensor) and not (
                    value is None and key in self._nullable_buffers):
                raise TypeError(f"{name}: {where} must be a Tensor of shape {p.shape}, got "
                                f"{_describe(value)}")
            elif isinstance(value, Tensor):
                if value.shape != p.shape:
                    raise ValueError(f"{name}: {where} has shape {value.shape}, but "
                                     f"parameter {index} has shape {p.shape}")
                copy = ops.cast(value, p.dtype) if value.dtype != p.dtype else \
                    ops.contiguous_copy(value)
                out[key] = copy
            elif value is None or isinstance(value, (int, float, np.number)):
                out[key] = value
            else:
                raise TypeError(f"{name}: {where} is a {type(value).__name__}; state "
                                "values are tensors or numbers")
        return out

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for k, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {k}")
            lines += [f"    {key}: {group[key]}" for key in sorted(group) if key != "params"]
        return "\n".join(lines + [")"])


def check_number(owner: str, name: str, value, *, low: float = 0.0,
                 allow_low: bool = True) -> None:
    """A hyperparameter must be a real, finite number ``>= low`` (or ``> low``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{owner}: {name} must be a number, got {_describe(value)}")
    ok = value >= low if allow_low else value > low
    if not (ok and math.isfinite(value)):
        bound = ">=" if allow_low else ">"
        raise ValueError(f"{owner}: invalid {name}={value!r}; it must be a finite number "
                         f"{bound} {low}")
