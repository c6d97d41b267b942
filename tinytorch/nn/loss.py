"""Loss modules: each holds its settings (``reduction`` and friends) and calls the matching
``tinytorch.nn.functional`` loss, which runs the loss kernels through the dispatcher.

``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"`` (one loss per element
or sample).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> nn.MSELoss()(tt.tensor([1.0, 3.0]), tt.tensor([1.0, 1.0])).item()
2.0
>>> nn.CrossEntropyLoss(label_smoothing=0.1)
CrossEntropyLoss()
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch.nn import functional as F
from tinytorch.nn.module import Module
from tinytorch.tensor import Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "NLLLoss", "BCEWithLogitsLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _check_reduction(reduction, cls: str) -> str:
    if not isinstance(reduction, str) or reduction not in _REDUCTIONS:
        raise ValueError(f"{cls}(): reduction must be one of 'mean', 'sum', 'none', got "
                         f"{reduction!r}")
    return reduction


def _check_ignore_index(ignore_index, cls: str) -> int:
    if isinstance(ignore_index, (bool, np.bool_)) or not isinstance(ignore_index,
                                                                    (int, np.integer)):
        raise TypeError(f"{cls}(): ignore_index must be an int (a class index to skip), "
                        f"got {type(ignore_index).__name__} {ignore_index!r}")
    return int(ignore_index)


class _Loss(Module):
    """What every loss shares: a validated ``reduction``. PyTorch prints losses without
    their settings (``CrossEntropyLoss()``), and so do these."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = _check_reduction(reduction, type(self).__name__)


class MSELoss(_Loss):
    """Mean squared error: ``(input - target) ** 2``, reduced.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.MSELoss(reduction="none")(tt.tensor([1.0, 3.0]), tt.tensor([0.0, 0.0])).tolist()
    [1.0, 9.0]
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.mse_loss(input, target, reduction=self.reduction)


class CrossEntropyLoss(_Loss):
    """Cross entropy of logits ``(N, C)`` (or ``(C,)``) against class indices ``(N,)``
    (int64): ``log_softmax`` then the negative log likelihood of the target class, in one
    numerically stable op. Targets equal to ``ignore_index`` count for nothing (and not in
    the mean's denominator); ``label_smoothing`` mixes the one-hot target with the uniform
    distribution.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> logits = tt.zeros(2, 4)
    >>> round(nn.CrossEntropyLoss()(logits, tt.tensor([0, 3])).item(), 4)   # log(4)
    1.3863
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.ignore_index = _check_ignore_index(ignore_index, "CrossEntropyLoss")
        if isinstance(label_smoothing, (bool, np.bool_)) or not isinstance(
                label_smoothing, (int, float, np.integer, np.floating)):
            raise TypeError(f"CrossEntropyLoss(): label_smoothing must be a number, got "
                            f"{type(label_smoothing).__name__} {label_smoothing!r}")
        if not 0.0 <= label_smoothing <= 1.0 or math.isnan(label_smoothing):
            raise ValueError(f"CrossEntropyLoss(): label_smoothing must be between 0.0 and "
                             f"1.0, got {label_smoothing}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.cross_entropy(input, target, reduction=self.reduction,
                               ignore_index=self.ignore_index,
                               label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Negative log likelihood: ``-input[n, target[n]]``, for ``input`` that already holds
    log-probabilities (e.g. from ``LogSoftmax(dim=1)``); ``ignore_index`` as in
    ``CrossEntropyLoss``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> nn.NLLLoss()(tt.tensor([[-1.0, -2.0], [-3.0, -4.0]]), tt.tensor([1, 0])).item()
    2.5
    """

    def __init__(self, ignore_index: int = -100, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.ignore_index = _check_ignore_index(ignore_index, "NLLLoss")

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.nll_loss(input, target, reduction=self.reduction,
                          ignore_index=self.ignore_index)


class BCEWithLogitsLoss(_Loss):
    """Binary cross entropy on logits (sigmoid folded in, numerically stable):
    ``-(pos_weight * y * log(sigmoid(x)) + (1 - y) * log(1 - sigmoid(x)))``. ``pos_weight``
    (one weight per class, broadcast over the last dimension) is registered as a buffer,
    so it is saved in ``state_dict``, as in PyTorch.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> round(nn.BCEWithLogitsLoss()(tt.zeros(3), tt.ones(3)).item(), 4)   # log(2)
    0.6931
    >>> list(nn.BCEWithLogitsLoss(pos_weight=tt.ones(3)).state_dict())
    ['pos_weight']
    """

    def __init__(self, reduction: str = "mean", pos_weight: Tensor | None = None) -> None:
        super().__init__(reduction)
        if pos_weight is not None and not isinstance(pos_weight, Tensor):
            raise TypeError(f"BCEWithLogitsLoss(): pos_weight must be a Tensor or None, got "
                            f"{type(pos_weight).__name__}\nhint: tt.tensor([w1, w2, ...]), "
                            f"one weight per class")
        self.register_buffer("pos_weight", pos_weight)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
