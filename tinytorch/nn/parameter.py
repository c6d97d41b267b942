"""``Parameter``: a tensor that a ``Module`` registers as one of its learnable weights.

A Parameter is an ordinary ``Tensor`` (same storage, same ops) with one difference: when it
is assigned as an attribute of a Module, ``Module.__setattr__`` records it in the module's
``_parameters``, so ``parameters()``, ``state_dict()`` and optimisers find it. It requires
grad unless told otherwise.

>>> import tinytorch as tt
>>> from tinytorch.nn import Parameter
>>> w = Parameter(tt.zeros(2))
>>> w.requires_grad, w.is_leaf
(True, True)
>>> w
Parameter containing:
tensor([0., 0.], requires_grad=True)
"""

from __future__ import annotations

import numpy as np

from tinytorch.tensor import Tensor

__all__ = ["Parameter"]


class Parameter(Tensor):
    """A learnable tensor. ``Parameter(data)`` shares ``data``'s storage (no copy), as
    ``torch.nn.Parameter`` does, and is always a leaf: whatever history ``data`` had is
    dropped.

    ``data=None`` gives an empty float32 parameter (a placeholder to fill later).

    >>> import tinytorch as tt
    >>> from tinytorch.nn import Parameter
    >>> t = tt.ones(3)
    >>> p = Parameter(t)
    >>> p.shares_storage(t), (p * 2).tolist()
    (True, [2.0, 2.0, 2.0])
    >>> Parameter(tt.zeros(1), requires_grad=False).requires_grad
    False
    """

    # No new fields: Tensor uses __slots__, and an empty __slots__ keeps a Parameter as
    # small and as fast to touch as a Tensor (no per-instance __dict__).
    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            data = Tensor(np.empty(0, np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(data) takes a Tensor, got {type(data).__name__}\n"
                            "hint: wrap the values first: Parameter(tt.tensor(values))")
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise TypeError(f"Parameter(): requires_grad must be a bool, got "
                            f"{type(requires_grad).__name__} {requires_grad!r}")
        # Share the caller's storage: Parameter(t) is a new leaf over the same memory.
        super().__init__(data._data, data._storage, requires_grad=bool(requires_grad))
        self._version_ref = data._version_ref  # one memory, one version counter

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
