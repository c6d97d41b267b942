"""Containers: ``Sequential`` (a pipeline: each module's output is the next one's input)
and ``ModuleList`` (a list of modules that registers them, with no ``forward`` of its own).

Children are registered under the names "0", "1", ..., so their parameters get dotted
names such as ``"0.weight"``.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
>>> len(net), type(net[1]).__name__, net[-1].out_features
(3, 'ReLU', 2)
>>> net(tt.ones(5, 4)).shape
(5, 2)
>>> blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
>>> len(list(blocks.parameters()))
6
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import numpy as np

from tinytorch.nn.module import Module, _indent
from tinytorch.tensor import Tensor

__all__ = ["Sequential", "ModuleList"]


def _check_module(module, where: str) -> Module:
    """``module`` if it is a Module instance; else a TypeError naming its type and where it
    was passed (``where``: e.g. "Sequential(): argument at position 2")."""
    if isinstance(module, Module):
        return module
    if isinstance(module, type) and issubclass(module, Module):
        raise TypeError(f"{where} is the class {module.__name__}, not a Module instance\n"
                        f"hint: call it to make a layer: nn.{module.__name__}(...)")
    raise TypeError(f"{where} is a {type(module).__name__}, not a Module\nhint: containers "
                    f"hold layers such as nn.Linear(...) or nn.ReLU(); wrap a function in a "
                    f"Module subclass (nn.ReLU() rather than F.relu)")


def _position(idx, length: int, cls: str) -> int:
    """An int index (negative counts from the end) as a position in ``range(length)``."""
    if isinstance(idx, (bool, np.bool_)) or not isinstance(idx, (int, np.integer)):
        raise TypeError(f"{cls} indices must be integers or slices, got "
                        f"{type(idx).__name__}")
    pos = operator.index(idx)
    if not -length <= pos < length:
        raise IndexError(f"index {pos} is out of range for a {cls} of length {length}")
    return pos % length


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Build it from modules (named "0", "1", ...) or from one ``OrderedDict`` (or dict) of
    names to modules. Indexing gives a module, slicing a new ``Sequential`` over the same
    modules (keeping their names, as PyTorch does); ``len``, iteration, ``append``,
    assignment and ``del`` by index work as on a list.

    >>> from collections import OrderedDict
    >>> from tinytorch import nn
    >>> net = nn.Sequential(OrderedDict(fc=nn.Linear(3, 3), act=nn.Tanh()))
    >>> [n for n, _ in net.named_parameters()]
    ['fc.weight', 'fc.bias']
    >>> net.append(nn.Linear(3, 1))[1:]
    Sequential(
      (act): Tanh()
      (2): Linear(in_features=3, out_features=1, bias=True)
    )
    """

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], dict):  # OrderedDict is a dict
            for name, module in args[0].items():
                self.add_module(name, _check_module(
                    module, f"Sequential(): the value for key {name!r}"))
        else:
            for i, module in enumerate(args):
                self.add_module(str(i), _check_module(
                    module, f"Sequential(): argument at position {i}"))

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        for module in self._modules.values():
            input = module(input)
        return input

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx) -> Module | Sequential:
        if isinstance(idx, slice):
            return type(self)(OrderedDict(list(self._modules.items())[idx]))
        return list(self._modules.values())[_position(idx, len(self), "Sequential")]

    def __setitem__(self, idx, module: Module) -> None:
        pos = _position(idx, len(self), "Sequential")
        _check_module(module, f"Sequential: the value assigned at index {idx}")
        key = list(self._modules)[pos]
        self._modules[key] = module  # in place: keeps the name and the order

    def __delitem__(self, idx) -> None:
        keys = list(self._modules)
        if isinstance(idx, slice):
            doomed = keys[idx]
        else:
            doomed = [keys[_position(idx, len(self), "Sequential")]]
        for key in doomed:
            del self._modules[key]
        # Renumber "0".."n-1", as PyTorch does, so that append() and indexing stay aligned.
        modules = list(self._modules.values())
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def append(self, module: Module) -> Sequential:
        """Add ``module`` at the end; returns self.

        >>> from tinytorch import nn
        >>> len(nn.Sequential().append(nn.ReLU()).append(nn.Tanh()))
        2
        """
        _check_module(module, f"Sequential.append(): the module for position {len(self)}")
        # PyTorch names it str(len(self)); after a slice such as net[1:] (names "1", "2")
        # that name can be taken, and reusing it would silently replace a layer.
        n = len(self)
        while str(n) in self._modules:
            n += 1
        self.add_module(str(n), module)
        return self


class ModuleList(Module):
    """A list of modules that registers each one as a child (a plain Python list would
    hide their parameters from ``parameters()`` and ``state_dict()``). It has no
    ``forward``: the owning module decides how to call the entries.

    Supports ``append``, ``extend``, ``insert``, ``index``, ``len``, iteration, indexing
    (slices give a new ModuleList), assignment and ``del`` by index, and ``+=``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> layers = nn.ModuleList([nn.Linear(4, 4)])
    >>> layers.extend([nn.ReLU(), nn.Linear(4, 4)]).insert(1, nn.Tanh())
    >>> layers
    ModuleList(
      (0): Linear(in_features=4, out_features=4, bias=True)
      (1): Tanh()
      (2): ReLU()
      (3): Linear(in_features=4, out_features=4, bias=True)
    )
    >>> x = tt.ones(2, 4)
    >>> for layer in layers:
    ...     x = layer(x)
    >>> x.shape
    (2, 4)
    """

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, idx) -> Module | ModuleList:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])
        return self._modules[str(_position(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx, module: Module) -> None:
        pos = _position(idx, len(self), "ModuleList")
        _check_module(module, f"ModuleList: the value assigned at index {idx}")
        self._modules[str(pos)] = module

    def __delitem__(self, idx) -> None:
        modules = list(self._modules.values())
        if isinstance(idx, slice):
            del modules[idx]
        else:
            del modules[_position(idx, len(self), "ModuleList")]
        self._renumber(modules)

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def _renumber(self, modules: list) -> None:
        self._modules.clear()
        for i, module in enumerate(modules):
            self._modules[str(i)] = module

    def append(self, module: Module) -> ModuleList:
        """Add ``module`` at the end; returns self.

        >>> from tinytorch import nn
        >>> len(nn.ModuleList().append(nn.ReLU()))
        1
        """
        _check_module(module, f"ModuleList.append(): the module for position {len(self)}")
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        """Add every module of an iterable at the end (all are checked before any is
        added); returns self.

        >>> from tinytorch import nn
        >>> len(nn.ModuleList().extend([nn.ReLU(), nn.Tanh()]))
        2
        """
        if not isinstance(modules, Iterable):  # a single layer is not iterable
            raise TypeError(f"ModuleList.extend() should be called with an iterable of "
                            f"modules, but got {type(modules).__name__}\nhint: use "
                            f"append() for a single module")
        modules = list(modules)
        start = len(self)
        for i, module in enumerate(modules):
            _check_module(module, f"ModuleList: the item at position {start + i}")
        for i, module in enumerate(modules):
            self.add_module(str(start + i), module)
        return self

    def insert(self, index: int, module: Module) -> None:
        """Insert ``module`` before position ``index`` (list semantics: negative counts
        from the end, out-of-range indices clamp to either end).

        >>> from tinytorch import nn
        >>> layers = nn.ModuleList([nn.ReLU()]); layers.insert(0, nn.Tanh())
        >>> [type(m).__name__ for m in layers]
        ['Tanh', 'ReLU']
        """
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ModuleList.insert(): index must be an int, got "
                            f"{type(index).__name__}")
        _check_module(module, f"ModuleList.insert(): the module for index {index}")
        modules = list(self._modules.values())
        modules.insert(int(index), module)
        self._renumber(modules)

    def index(self, module: Module) -> int:
        """The position of ``module`` (by identity), as ``list.index``; ValueError when it
        is not in the list.

        >>> from tinytorch import nn
        >>> act = nn.ReLU()
        >>> nn.ModuleList([nn.Tanh(), act]).index(act)
        1
        """
        for i, m in enumerate(self._modules.values()):
            if m is module:
                return i
        raise ValueError(f"{type(module).__name__} module is not in this ModuleList")

    def _child_lines(self) -> list[str]:
        # PyTorch's ModuleList repr folds runs of identical entries: "(0-2): 3 x Linear(...)".
        items = list(self._modules.items())
        texts = [repr(m) for _, m in items]
        lines, start = [], 0
        while start < len(items):
            end = start
            while end + 1 < len(items) and texts[end + 1] == texts[start]:
                end += 1
            body = _indent(texts[start], 2)
            if end > start:
                lines.append(f"({items[start][0]}-{items[end][0]}): {end - start + 1} x {body}")
            else:
                lines.append(f"({items[start][0]}): {body}")
            start = end + 1
        return lines
