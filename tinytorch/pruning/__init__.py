"""Pruning (module 09): magnitude and structured pruning, CSR kernels that make sparsity
pay, and knowledge distillation to win back the accuracy. See docs/pruning.md.

- ``magnitude``: ``l1_unstructured``, ``global_unstructured``, ``magnitude_prune``,
  ``remove``, masks kept through training by ``keep_masks(optimizer, model)``,
  ``sparsity`` reports;
- ``structured``: ``prune_channels`` rebuilds smaller dense Conv2d/BatchNorm2d/Linear
  layers; ``prune_model`` is the one entry point for ``tinytorch compress``;
- ``sparse``: ``CSR``, ``csr_linear``, ``SparseLinear``, ``to_sparse`` (CSR inference above
  the measured crossover sparsity ``CSR_CROSSOVER``);
- ``distill``: ``distillation_loss``, ``finetune``, ``accuracy``;
- ``serialize``: ``save_pruned`` / ``load_pruned`` (architecture in JSON, arrays in npz);
- ``measure``: the tables of docs/pruning.md (``python -m tinytorch.pruning.measure``).

>>> import tinytorch as tt
>>> from tinytorch import pruning
>>> from tinytorch.train.models import cnn
>>> _ = tt.manual_seed(0)
>>> model = cnn((1, 8, 8), channels=[8, 16])
>>> small = pruning.prune_model(model, 0.5, structured=True)
>>> [m.out_channels for m in small if isinstance(m, tt.nn.Conv2d)]
[4, 8]
"""

from tinytorch.pruning.distill import accuracy, distillation_loss, finetune
from tinytorch.pruning.magnitude import (
    MaskKeeper,
    apply_masks,
    format_sparsity,
    global_unstructured,
    is_pruned,
    keep_masks,
    l1_unstructured,
    magnitude_prune,
    prunable_layers,
    remove,
    sparsity,
)
from tinytorch.pruning.serialize import (
    PrunedModelError,
    build,
    describe,
    load_pruned,
    save_pruned,
)
from tinytorch.pruning.sparse import (
    CSR,
    CSR_CROSSOVER,
    SparseLinear,
    csr_linear,
    csr_matmul,
    to_sparse,
)
from tinytorch.pruning.structured import (
    channel_norms,
    plan_channels,
    prune_channels,
    prune_model,
)

__all__ = [
    "l1_unstructured", "global_unstructured", "magnitude_prune", "remove", "is_pruned",
    "apply_masks", "keep_masks", "MaskKeeper", "prunable_layers", "sparsity",
    "format_sparsity",
    "channel_norms", "plan_channels", "prune_channels", "prune_model",
    "CSR", "CSR_CROSSOVER", "csr_linear", "csr_matmul", "SparseLinear", "to_sparse",
    "distillation_loss", "finetune", "accuracy",
    "describe", "build", "save_pruned", "load_pruned", "PrunedModelError",
]
