"""Optimisers whose update loops are kernels (module 06), and learning-rate schedules.

``SGD``, ``Adam`` and ``AdamW`` follow PyTorch's update rules and ``state_dict`` layout; each
``step()`` calls one fused kernel per parameter (``kernels/optim.py``). ``lr_scheduler``
holds ``StepLR``, ``CosineAnnealingLR``, ``ExponentialLR`` and ``LambdaLR``. See
``docs/optim.md`` for the formulas and for why one pass over memory matters.

>>> import tinytorch as tt
>>> w = tt.tensor([3.0], requires_grad=True)
>>> opt = tt.optim.SGD([w], lr=0.25)
>>> for _ in range(3):
...     opt.zero_grad(); (w * w).sum().backward(); opt.step()
>>> w.item()
0.375
"""

from tinytorch.optim import lr_scheduler
from tinytorch.optim.adam import Adam, AdamW
from tinytorch.optim.optimizer import Optimizer
from tinytorch.optim.sgd import SGD

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "lr_scheduler"]
