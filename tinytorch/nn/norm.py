"""``BatchNorm2d`` (module 03): per-channel normalisation with learned scale and shift, and
running statistics for evaluation.

Training normalises each channel with the batch's own mean and (biased) variance and folds
them into ``running_mean`` / ``running_var`` (buffers: saved in ``state_dict``, not learned);
evaluation normalises with those running statistics, so a single image gives the same answer
whatever batch it comes in. One fused kernel forward and one backward (``kernels/norm.py``).

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> bn = nn.BatchNorm2d(16)
>>> bn
BatchNorm2d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
>>> list(bn.state_dict())
['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
>>> bn(tt.randn(8, 16, 4, 4)).shape
(8, 16, 4, 4)
>>> bn.num_batches_tracked.item()
1
"""

from __future__ import annotations

import math

import numpy as np

from tinytorch import dtypes as _dt
from tinytorch.autograd import no_grad
from tinytorch.nn import init
from tinytorch.nn.module import Module
from tinytorch.nn.parameter import Parameter
from tinytorch.ops.norm import batch_norm
from tinytorch.tensor import Tensor

__all__ = ["BatchNorm2d"]

_BOOLS = (bool, np.bool_)


class BatchNorm2d(Module):
    """Normalise each of the ``num_features`` channels of an ``(N, C, H, W)`` input:
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``.

    - ``training`` (``model.train()``): ``mean`` and ``var`` are the batch's, over ``N``,
      ``H`` and ``W`` (the biased variance); the running statistics move towards them,
      ``running = (1 - momentum) * running + momentum * batch`` with the unbiased variance
      for ``running_var``; ``num_batches_tracked`` counts the updates. ``momentum=None``
      gives the plain average of all batches so far (momentum ``1 / num_batches_tracked``).
    - eval (``model.eval()``): ``running_mean`` and ``running_var`` normalise, nothing
      changes. With ``track_running_stats=False`` there are none, and batch statistics are
      used in both modes.
    - ``affine=True``: ``weight`` (ones) and ``bias`` (zeros) are parameters; ``False``: none.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> bn = nn.BatchNorm2d(2, momentum=0.5)
    >>> x = tt.tensor([[[[1.0]], [[2.0]]], [[[3.0]], [[6.0]]]])  # (2, 2, 1, 1)
    >>> [round(v, 3) for v in bn(x).flatten().tolist()]
    [-1.0, -1.0, 1.0, 1.0]
    >>> bn.running_mean.tolist(), bn.running_var.tolist()
    ([1.0, 2.0], [1.5, 4.5])
    >>> bn.eval()(x).shape
    (2, 2, 1, 1)
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=None) -> None:
        super().__init__()
        if isinstance(num_features, _BOOLS) or not isinstance(num_features, (int, np.integer)):
            raise TypeError(f"BatchNorm2d(): num_features must be an int, got "
                            f"{type(num_features).__name__} {num_features!r}")
        if num_features <= 0:
            raise ValueError(f"BatchNorm2d(): num_features must be positive, got "
                             f"{num_features}")
        for name, value in (("eps", eps), ("momentum", momentum)):
            if value is None and name == "momentum":
                continue
            if isinstance(value, _BOOLS) or not isinstance(value, (int, float, np.integer,
                                                                   np.floating)):
                raise TypeError(f"BatchNorm2d(): {name} must be a number"
                                f"{' or None' if name == 'momentum' else ''}, got "
                                f"{type(value).__name__} {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"BatchNorm2d(): {name} must be a finite number >= 0, got "
                                 f"{value}")
        for name, value in (("affine", affine), ("track_running_stats", track_running_stats)):
            if not isinstance(value, _BOOLS):
                raise TypeError(f"BatchNorm2d(): {name} must be a bool, got "
                                f"{type(value).__name__} {value!r}")
        dtype = _dt.as_dtype(dtype if dtype is not None else _dt.default_float)
        if not dtype.is_floating_point:
            raise TypeError(f"BatchNorm2d(): dtype must be a floating point type, got {dtype.name}")
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        c = self.num_features
        if self.affine:
            self.weight = Parameter(Tensor(np.empty(c, dtype.np)))
            self.bias = Parameter(Tensor(np.empty(c, dtype.np)))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", Tensor(np.empty(c, dtype.np)))
            self.register_buffer("running_var", Tensor(np.empty(c, dtype.np)))
            self.register_buffer("num_batches_tracked", Tensor(np.zeros((), np.int64)))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, count 0 (in place).

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> bn = nn.BatchNorm2d(1)
        >>> _ = bn(tt.tensor([[[[4.0]]], [[[6.0]]]]))
        >>> bn.running_mean.tolist(); bn.reset_running_stats(); bn.running_mean.tolist()
        [0.5]
        [0.0]
        """
        if self.track_running_stats:
            with no_grad():
                self.running_mean.zero_()
                self.running_var.fill_(1)
                self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, and ``weight`` to 1, ``bias`` to 0 (in place)."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        if not isinstance(input, Tensor):
            raise TypeError(f"BatchNorm2d.forward(): input must be a Tensor, got "
                            f"{type(input).__name__}\nhint: wrap data with tt.tensor(...)")
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d: expected 4D input (N, C, H, W) (got "
                             f"{input.ndim}D input of shape {input.shape})\nhint: an "
                             "unbatched image (C, H, W) needs x.unsqueeze(0)")
        if input.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm2d({self.num_features}): the input has "
                             f"{input.shape[1]} channels (dim 1 of shape {input.shape}) but the "
                             f"layer has num_features={self.num_features}\nhint: num_features "
                             "must equal the out_channels of the layer before")
        buffers = self._buffers
        running_mean, running_var = buffers["running_mean"], buffers["running_var"]
        counter = buffers["num_batches_tracked"]
        factor = 0.0 if self.momentum is None else self.momentum
        update = self.training and self.track_running_stats and counter is not None
        if update and self.momentum is None:
            factor = 1.0 / (int(counter.item()) + 1)  # a cumulative average of all batches
        # Batch statistics when training, or when there are no running ones to use.
        use_batch = self.training or (running_mean is None and running_var is None)
        track = not self.training or self.track_running_stats
        params = self._parameters
        out = batch_norm(input, running_mean if track else None,
                         running_var if track else None, params["weight"], params["bias"],
                         use_batch, factor, self.eps)
        if update:  # counted once the forward pass has succeeded
            # A host-side step counter, not tensor math: bumped in place with its version,
            # without the 10 us of a kernel call through add_ (the cost of the whole
            # batch norm at small sizes).
            counter._data += 1
            counter._bump_version()
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")
