"""``Module``: the base class of every layer and model (module 02), with PyTorch's API.

A module owns three ordered tables, filled by plain attribute assignment:

- ``_parameters``: name -> ``Parameter`` (learnable; what ``parameters()`` yields and an
  optimiser updates);
- ``_buffers``: name -> ``Tensor`` (state that is not learned, e.g. running statistics or a
  loss's ``pos_weight``; ``register_buffer``). Persistent buffers go into ``state_dict``;
  non-persistent ones do not;
- ``_modules``: name -> sub-``Module`` (the children; together they form the module tree).

Traversal walks that tree depth first in registration order and yields dotted names
(``"0.weight"``, ``"encoder.1.bias"``); a module or parameter reachable under two names is
yielded once. ``state_dict()`` maps the same dotted names to detached tensors and
``load_state_dict`` copies values back in through the copy kernel.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> class Affine(nn.Module):
...     def __init__(self, n):
...         super().__init__()
...         self.scale = nn.Parameter(tt.ones(n))
...         self.register_buffer("calls", tt.zeros(1))
...     def forward(self, x):
...         return x * self.scale
>>> m = Affine(2)
>>> [name for name, _ in m.named_parameters()], list(m.state_dict())
(['scale'], ['scale', 'calls'])
>>> m(tt.tensor([1.0, 2.0])).tolist()
[1.0, 2.0]
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.nn.parameter import Parameter
from tinytorch.tensor import Tensor

__all__ = ["Module", "LoadStateDictError"]


class LoadStateDictError(ValueError):
    """``load_state_dict`` found keys it cannot load. Every problem is listed in one
    message, one per line; the lists are also attributes: ``missing_keys``,
    ``unexpected_keys`` and ``size_mismatches`` (``(key, checkpoint_shape, model_shape)``).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> try:
    ...     nn.Linear(2, 2).load_state_dict({"weight": tt.ones(2, 3), "extra": tt.ones(1)})
    ... except nn.LoadStateDictError as err:
    ...     err.missing_keys, err.unexpected_keys, err.size_mismatches
    (['bias'], ['extra'], [('weight', (2, 3), (2, 2))])
    """

    def __init__(self, message: str, missing_keys: list, unexpected_keys: list,
                 size_mismatches: list):
        super().__init__(message)
        self.missing_keys = missing_keys
        self.unexpected_keys = unexpected_keys
        self.size_mismatches = size_mismatches


def _check_name(name, what: str) -> None:
    """A name that can become an attribute and one part of a dotted state_dict key."""
    if not isinstance(name, str):
        raise TypeError(f"{what} name must be a string, got {type(name).__name__} {name!r}")
    if name == "":
        raise ValueError(f'{what} name can\'t be empty string ""')
    if "." in name:
        raise ValueError(f"{what} name can't contain \".\", got {name!r}\nhint: the dot "
                         "separates the levels of a state_dict key (\"encoder.weight\")")


def _indent(text: str, spaces: int) -> str:
    """Indent every line of ``text`` but the first (a child's repr inside its parent's)."""
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


class Module:
    """Base class of layers and models: subclass it, call ``super().__init__()`` first,
    assign parameters and sub-modules as attributes, and write ``forward``. Calling the
    module runs ``forward``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> class MLP(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.hidden = nn.Linear(4, 8)
    ...         self.out = nn.Linear(8, 2)
    ...     def forward(self, x):
    ...         return self.out(self.hidden(x).relu())
    >>> model = MLP()
    >>> [n for n, _ in model.named_parameters()]
    ['hidden.weight', 'hidden.bias', 'out.weight', 'out.bias']
    >>> model(tt.ones(3, 4)).shape
    (3, 2)
    >>> model.eval().training, model.hidden.training
    (False, False)
    """

    training: bool

    def __init__(self) -> None:
        # object.__setattr__: our own __setattr__ needs these tables to exist already.
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers", set())
        object.__setattr__(self, "_modules", OrderedDict())

    # --- calling --------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        """The computation; every subclass that can be called defines it (``module(x)``
        runs it). The base class has none:

        >>> from tinytorch import nn
        >>> nn.Module().forward()
        Traceback (most recent call last):
        ...
        NotImplementedError: Module [Module] is missing the required "forward" function
        """
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  '"forward" function')

    def __call__(self, *args, **kwargs):
        # Kept to one line on purpose: it runs for every layer on every step (no hooks).
        return self.forward(*args, **kwargs)

    # --- registration ---------------------------------------------------------------------
    def _tables(self) -> dict:
        tables = self.__dict__
        if "_parameters" not in tables:
            raise AttributeError(f"cannot assign parameters, buffers or modules before "
                                 f"Module.__init__() call\nhint: call super().__init__() "
                                 f"first in {type(self).__name__}.__init__")
        return tables

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or ``None``: a declared slot with no value, skipped by
        ``parameters()`` and ``state_dict()``). Same as ``self.<name> = param``.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> m = nn.Module()
        >>> m.register_parameter("w", nn.Parameter(tt.ones(2)))
        >>> [n for n, _ in m.named_parameters()]
        ['w']
        """
        self._check_free(name, "_parameters", "parameter")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} object to parameter "
                            f"{name!r} (tinytorch.nn.Parameter or None required)\nhint: wrap "
                            f"the tensor: nn.Parameter(t)")
        self.__dict__["_parameters"][name] = param

    def register_buffer(self, name: str, tensor: Tensor | None,
                        persistent: bool = True) -> None:
        """Add a tensor that is module state but not learned. Persistent buffers are saved
        in ``state_dict``; ``persistent=False`` keeps one out of it.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> m = nn.Module()
        >>> m.register_buffer("mean", tt.zeros(2))
        >>> m.register_buffer("scratch", tt.zeros(2), persistent=False)
        >>> [n for n, _ in m.named_buffers()], list(m.state_dict())
        (['mean', 'scratch'], ['mean'])
        """
        self._check_free(name, "_buffers", "buffer")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign {type(tensor).__name__} object to buffer "
                            f"{name!r} (Tensor or None required)")
        if not isinstance(persistent, (bool, np.bool_)):
            raise TypeError(f"register_buffer(): persistent must be a bool, got "
                            f"{type(persistent).__name__}")
        self.__dict__["_buffers"][name] = tensor
        if persistent:
            self.__dict__["_non_persistent_buffers"].discard(name)
        else:
            self.__dict__["_non_persistent_buffers"].add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (``None``: a declared slot with no module). Same as
        ``self.<name> = module``; containers use it with names "0", "1", ...

        >>> from tinytorch import nn
        >>> m = nn.Module()
        >>> m.add_module("act", nn.ReLU())
        >>> m
        Module(
          (act): ReLU()
        )
        """
        self._check_free(name, "_modules", "module")
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass (adding "
                            f"child {name!r} to {type(self).__name__})")
        self.__dict__["_modules"][name] = module

    register_module = add_module

    def _check_free(self, name, table: str, what: str) -> None:
        """``name`` may be (re)registered in ``table``: it is a valid name and not already
        a plain attribute, a method, or an entry of another table (as PyTorch's
        ``register_*`` refuse; plain assignment replaces instead, see ``__setattr__``)."""
        d = self._tables()
        _check_name(name, what)
        if name in d[table]:
            return
        taken = name in d or hasattr(type(self), name) or any(
            name in d[t] for t in ("_parameters", "_buffers", "_modules") if t != table)
        if taken:
            raise ValueError(f"attribute {name!r} already exists on {type(self).__name__}; "
                             f"cannot register a {what} under that name\nhint: pick another "
                             f"name, or delete the attribute first (del module.{name})")

    def _forget(self, name: str, keep: str = "") -> None:
        """Remove ``name`` from every table but ``keep``, so that it lives in one table
        only. The kept table is left alone: replacing an entry keeps its place in order."""
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if table != keep:
                d[table].pop(name, None)
        if keep != "_buffers":
            d["_non_persistent_buffers"].discard(name)

    def __setattr__(self, name: str, value) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            self._tables()  # raises the "call super().__init__()" error
            _check_name(name, "parameter")  # before anything is removed below
            d.pop(name, None)  # assignment replaces whatever had the name
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                hint = ("nn.Parameter(value)" if isinstance(value, Tensor) else
                        "a tinytorch.nn.Parameter")
                raise TypeError(
                    f"cannot assign {type(value).__name__} as parameter {name!r} of "
                    f"{type(self).__name__} (tinytorch.nn.Parameter or None expected)\n"
                    f"hint: to replace it assign {hint}; to change its values in place "
                    f"use `with tt.no_grad(): module.{name}[...] = value`")
            params[name] = None
        elif isinstance(value, Module):
            self._tables()
            _check_name(name, "module")
            d.pop(name, None)
            self._forget(name, keep="_modules")
            self.add_module(name, value)
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign {type(value).__name__} as child module "
                                f"{name!r} of {type(self).__name__} (Module or None "
                                f"expected)")
            d["_modules"][name] = None
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign {type(value).__name__} as buffer {name!r} "
                                f"of {type(self).__name__} (Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name: str):
        # Only reached when normal lookup fails, i.e. for registered names: three dict
        # lookups, no copies (forward passes read weights through here on every step).
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            t = d.get(table)
            if t is not None and name in t:
                return t[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules"):
            if name in d.get(table, ()):
                self._forget(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = set(super().__dir__())
        for table in ("_parameters", "_buffers", "_modules"):
            keys.update(self.__dict__.get(table, ()))
        return sorted(keys)

    # --- traversal ------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(dotted_name, module)`` for this module (name ``prefix``) and every module
        below it, depth first in registration order; a module reachable twice is yielded
        once unless ``remove_duplicate=False``.

        >>> from tinytorch import nn
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
        >>> [name for name, _ in net.named_modules()]
        ['', '0', '1', '1.0']
        """
        if memo is None:
            memo = set()
        # An explicit stack rather than recursive generators: same pre-order, but no chain
        # of nested generators for every item (deep models, and cheap parameters() calls).
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if remove_duplicate:
                if id(module) in memo:
                    continue
                memo.add(id(module))
            yield name, module
            children = [(f"{name}.{key}" if name else key, child)
                        for key, child in module.__dict__["_modules"].items()
                        if child is not None]
            stack.extend(reversed(children))

    def modules(self) -> Iterator[Module]:
        """This module and every module below it, each once, in the order of
        ``named_modules`` (names are not built: this runs on every ``parameters()``).

        >>> from tinytorch import nn
        >>> [type(m).__name__ for m in nn.Sequential(nn.Linear(2, 2), nn.ReLU()).modules()]
        ['Sequential', 'Linear', 'ReLU']
        """
        seen = set()
        stack = [self]
        while stack:
            module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield module
            stack.extend(child for child in reversed(module.__dict__["_modules"].values())
                         if child is not None)

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """``(name, child)`` for the direct children, each child once.

        >>> from tinytorch import nn
        >>> [n for n, _ in nn.Sequential(nn.ReLU(), nn.Tanh()).named_children()]
        ['0', '1']
        """
        seen = set()
        for name, child in self._modules.items():
            if child is not None and id(child) not in seen:
                seen.add(id(child))
                yield name, child

    def children(self) -> Iterator[Module]:
        """The direct children (see ``named_children``).

        >>> from tinytorch import nn
        >>> [type(m).__name__ for m in nn.Sequential(nn.ReLU(), nn.Tanh()).children()]
        ['ReLU', 'Tanh']
        """
        for _, child in self.named_children():
            yield child

    def _named_members(self, table: str, prefix: str, recurse: bool,
                       remove_duplicate: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) \
            if recurse else [(prefix, self)]
        for mod_prefix, mod in mods:
            for name, value in mod.__dict__[table].items():
                if value is None or (remove_duplicate and id(value) in seen):
                    continue
                seen.add(id(value))
                yield (f"{mod_prefix}.{name}" if mod_prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(dotted_name, parameter)`` pairs, depth first in registration order. A
        parameter shared by several modules is yielded once, under its first name.

        >>> from tinytorch import nn
        >>> lin = nn.Linear(2, 2)
        >>> net = nn.Sequential(lin, nn.ReLU(), lin)
        >>> [n for n, _ in net.named_parameters()]
        ['0.weight', '0.bias']
        """
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def _members(self, table: str, recurse: bool):
        """The values of ``table`` over the tree, each once, without building names: an
        optimiser and ``zero_grad`` call this every step."""
        seen = set()
        for module in self.modules() if recurse else (self,):
            for value in module.__dict__[table].values():
                if value is not None and id(value) not in seen:
                    seen.add(id(value))
                    yield value

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter once (what an optimiser takes), in ``named_parameters`` order.

        >>> from tinytorch import nn
        >>> sum(p.numel() for p in nn.Linear(64, 128).parameters())
        8320
        """
        return self._members("_parameters", recurse)

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        """``(dotted_name, buffer)`` pairs, persistent or not, each buffer once.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> net = nn.Sequential(nn.BCEWithLogitsLoss(pos_weight=tt.ones(2)))
        >>> [n for n, _ in net.named_buffers()]
        ['0.pos_weight']
        """
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        """Every buffer once (see ``named_buffers``).

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> [b.tolist() for b in nn.BCEWithLogitsLoss(pos_weight=tt.ones(2)).buffers()]
        [[1.0, 1.0]]
        """
        return self._members("_buffers", recurse)

    # --- modes and bulk operations --------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every module below it; returns self.
        Layers such as ``Dropout`` read ``self.training``.

        >>> from tinytorch import nn
        >>> net = nn.Sequential(nn.Dropout(0.5))
        >>> net.train(False) is net, net[0].training
        (True, False)
        """
        if not isinstance(mode, (bool, np.bool_)):
            raise TypeError(f"train(mode): mode must be a bool, got {type(mode).__name__} "
                            f"{mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """``train(False)``: evaluation mode, recursively; returns self.

        >>> from tinytorch import nn
        >>> nn.Sequential(nn.Dropout()).eval()[0].training
        False
        """
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Switch gradient recording for every parameter (e.g. freeze a feature extractor
        with ``requires_grad_(False)``); returns self.

        >>> from tinytorch import nn
        >>> lin = nn.Linear(2, 2).requires_grad_(False)
        >>> [p.requires_grad for p in lin.parameters()]
        [False, False]
        """
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"requires_grad_(): requires_grad must be a bool, got "
                            f"{type(requires_grad).__name__}")
        for p in self.parameters():
            p.requires_grad_(bool(requires_grad))
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Clear every parameter's ``.grad``: drop it (``None``, the default, frees the
        memory and lets the next backward write it fresh) or fill it with zeros in place.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> lin = nn.Linear(2, 1)
        >>> lin(tt.ones(1, 2)).sum().backward()
        >>> lin.zero_grad(set_to_none=False); lin.bias.grad.tolist()
        [0.0]
        >>> lin.zero_grad(); lin.bias.grad is None
        True
        """
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with no_grad():
                    p.grad[...] = 0  # the copy kernel broadcasts the scalar in place

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every child (recursively), then on self; returns self. The usual
        way to run a custom initialisation over a whole model.

        >>> from tinytorch import nn
        >>> net = nn.Sequential(nn.Linear(2, 2), nn.ReLU())
        >>> def init(m):
        ...     if isinstance(m, nn.Linear):
        ...         nn.init.zeros_(m.bias)
        >>> net.apply(init)[0].bias.tolist()
        [0.0, 0.0]
        """
        if not callable(fn):
            raise TypeError(f"apply(fn): fn must be callable, got {type(fn).__name__}")
        for child in self.children():
            child.apply(fn)
        fn(self)
        return self

    # --- state_dict -----------------------------------------------------------------------
    def _state_entries(self, prefix: str = ""):
        """``(key, tensor)`` for every parameter and persistent buffer, as PyTorch orders
        them: a module's own parameters, then its buffers, then each child's, recursively.
        Not deduplicated: a shared parameter appears under each of its names."""
        d = self.__dict__
        for name, p in d["_parameters"].items():
            if p is not None:
                yield prefix + name, p
        skip = d["_non_persistent_buffers"]
        for name, b in d["_buffers"].items():
            if b is not None and name not in skip:
                yield prefix + name, b
        for name, child in d["_modules"].items():
            if child is not None:
                yield from child._state_entries(prefix + name + ".")

    def state_dict(self, prefix: str = "", keep_vars: bool = False) -> OrderedDict:
        """An ordered dict of dotted names -> tensors: every parameter and persistent
        buffer. Values are detached (same storage, no graph) unless ``keep_vars=True``.
        Save it with numpy (``np.savez(path, **{k: v.numpy() for k, v in sd.items()})``),
        never with pickle.

        >>> from tinytorch import nn
        >>> sd = nn.Sequential(nn.Linear(3, 2)).state_dict()
        >>> [(k, v.shape, v.requires_grad) for k, v in sd.items()]
        [('0.weight', (2, 3), False), ('0.bias', (2,), False)]
        """
        if not isinstance(prefix, str):
            raise TypeError(f"state_dict(): prefix must be a string, got "
                            f"{type(prefix).__name__}")
        return OrderedDict((k, v if keep_vars else v.detach())
                           for k, v in self._state_entries(prefix))

    def load_state_dict(self, state_dict: Mapping, strict: bool = True):
        """Copy the values of ``state_dict`` into this module's parameters and persistent
        buffers, in place (under ``no_grad``, through the copy kernel; dtypes are cast to
        the module's).

        Everything is checked before anything is copied, and every problem is reported in
        one ``LoadStateDictError`` (a ValueError): missing keys, unexpected keys and shape
        mismatches, one per line. With ``strict=False`` missing and unexpected keys are
        allowed and returned as ``(missing_keys, unexpected_keys)``; shape mismatches are
        still refused. A value that is not a Tensor is a TypeError.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> a, b = nn.Linear(2, 2), nn.Linear(2, 2)
        >>> b.load_state_dict(a.state_dict())
        ([], [])
        >>> bool((a.weight == b.weight).numpy().all())
        True
        >>> b.load_state_dict({"weight": tt.zeros(2, 2)}, strict=False)
        (['bias'], [])
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict(): expected a mapping of names to tensors "
                            f"(e.g. from state_dict()), got {type(state_dict).__name__}")
        if not isinstance(strict, (bool, np.bool_)):
            raise TypeError(f"load_state_dict(): strict must be a bool, got "
                            f"{type(strict).__name__}")
        expected = list(self._state_entries())
        expected_keys = {k for k, _ in expected}
        missing, mismatched, copies = [], [], []
        for key, target in expected:
            if key not in state_dict:
                missing.append(key)
                continue
            value = state_dict[key]
            if not isinstance(value, Tensor):
                raise TypeError(f"load_state_dict(): the value for {key!r} is a "
                                f"{type(value).__name__}, not a Tensor\nhint: convert "
                                f"arrays with tt.tensor(...) before loading")
            if value.shape != target.shape:
                mismatched.append((key, value.shape, target.shape))
                continue
            copies.append((target, value))
        unexpected = [k for k in state_dict if k not in expected_keys]
        if mismatched or (strict and (missing or unexpected)):
            lines = [f"Error(s) in loading state_dict for {type(self).__name__}:"]
            if strict:
                lines += [f'\tMissing key in state_dict: "{k}".' for k in missing]
                lines += [f'\tUnexpected key in state_dict: "{k}".' for k in unexpected]
            lines += [f"\tsize mismatch for {k}: copying a param with shape {src} from "
                      f"checkpoint, the shape in current model is {dst}."
                      for k, src, dst in mismatched]
            lines.append("hint: nothing was copied; strict=False ignores missing and "
                         "unexpected keys (never size mismatches)" if strict else
                         "hint: nothing was copied; size mismatches are refused even "
                         "with strict=False")
            raise LoadStateDictError("\n".join(lines), missing, unexpected, mismatched)
        with no_grad():
            for target, value in copies:
                target[...] = value  # Tensor.__setitem__ -> ops.copy_into -> copy kernel
        return missing, unexpected

    # --- printing -------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text between the parentheses of this module's repr (its settings);
        subclasses override it.

        >>> from tinytorch import nn
        >>> nn.Linear(64, 128).extra_repr()
        'in_features=64, out_features=128, bias=True'
        """
        return ""

    def _child_lines(self) -> list[str]:
        return [f"({name}): {_indent(repr(child), 2)}"
                for name, child in self._modules.items()]

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = self._child_lines()
        lines = extra_lines + child_lines
        text = type(self).__name__ + "("
        if len(extra_lines) == 1 and not child_lines:
            text += extra_lines[0]
        elif lines:
            text += "\n  " + "\n  ".join(lines) + "\n"
        return text + ")"
