"""CSR weights for inference: ``CSR``, the ops ``csr_linear`` / ``csr_matmul``, the layer
``SparseLinear``, and ``to_sparse(model)`` that swaps pruned Linear layers for it.

Zeroed weights make nothing faster while the dense kernel still multiplies by them. A CSR
weight stores only the non-zeros, and ``kernels/sparse.py`` does ``2 * nnz * M`` FLOPs
instead of ``2 * N * K * M``. But a sparse multiply-add costs more than a dense one (an
indirect load, less SIMD), so CSR pays only above a crossover sparsity:
``CSR_CROSSOVER``, measured against the dense jit ``linear_forward`` at 512 x 512, batch
32..256 (docs/pruning.md; re-measure with ``python -m tinytorch.pruning.measure``).
``to_sparse`` swaps a layer only above it.

``SparseLinear`` is inference-only: its weight is not a parameter, and a forward pass with
an input that requires grad is refused, so call a model that holds one under
``tt.no_grad()`` (the layers before it have parameters that require grad, so their outputs
do too). To train, fine-tune the masked dense model instead, then convert. The CSR arrays
are buffers, so ``state_dict`` holds them.

>>> import tinytorch as tt
>>> from tinytorch import nn
>>> from tinytorch.pruning import l1_unstructured
>>> _ = tt.manual_seed(0)
>>> dense = l1_unstructured(nn.Linear(16, 8), 0.9)
>>> layer = SparseLinear.from_linear(dense)
>>> layer
SparseLinear(in_features=16, out_features=8, nnz=13, bias=True)
>>> x = tt.randn(4, 16)
>>> bool(((layer(x) - dense(x)).abs().max() < 1e-5).item())
True
"""

from __future__ import annotations

import copy
import math

import numpy as np

from tinytorch import dispatch
from tinytorch.autograd import is_grad_enabled
from tinytorch.kernels.sparse import (
    INDICES_DTYPE,
    INDPTR_DTYPE,
    csr_from_dense,
    dense_from_csr,
)
from tinytorch.nn import Linear, Module
from tinytorch.ops._common import new, reshape_view
from tinytorch.tensor import Tensor

__all__ = ["CSR_CROSSOVER", "CSR", "csr_linear", "csr_matmul", "SparseLinear", "to_sparse"]

# The sparsity above which the jit CSR kernel beats the dense jit linear kernel, measured
# (docs/pruning.md, interleaved medians at 512 x 512, batch 32..256, float32, one thread).
CSR_CROSSOVER = 0.8

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _check_csr(indptr, indices, values, shape, where: str) -> None:
    """Everything the compiled kernels assume and do not check: dtypes, lengths, row
    pointers that start at 0, never decrease and end at nnz, column indices in range."""
    for name, arr in (("indptr", indptr), ("indices", indices), ("values", values)):
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"{where}: {name} must be a numpy array, got "
                            f"{type(arr).__name__}")
        if arr.ndim != 1:
            raise ValueError(f"{where}: {name} must be 1-D, got shape {arr.shape}")
    if indptr.dtype != INDPTR_DTYPE or indices.dtype != INDICES_DTYPE:
        raise TypeError(f"{where}: indptr must be int64 and indices int32, got "
                        f"{indptr.dtype} and {indices.dtype}\nhint: build them with "
                        "CSR.from_dense(weight)")
    if values.dtype not in _FLOATS:
        raise TypeError(f"{where}: values must be float32 or float64, got {values.dtype}")
    n, k = shape
    nnz = values.shape[0]
    if indptr.shape[0] != n + 1:
        raise ValueError(f"{where}: indptr has {indptr.shape[0]} entries; a matrix of "
                         f"shape {shape} needs {n + 1} (rows + 1)")
    if indices.shape[0] != nnz:
        raise ValueError(f"{where}: indices has {indices.shape[0]} entries but values has "
                         f"{nnz}; they must match (one column index per non-zero)")
    if indptr[0] != 0 or indptr[-1] != nnz:
        raise ValueError(f"{where}: indptr must start at 0 and end at nnz={nnz}, got "
                         f"{int(indptr[0])} ... {int(indptr[-1])}")
    if n and (np.diff(indptr) < 0).any():
        row = int(np.argmax(np.diff(indptr) < 0))
        raise ValueError(f"{where}: indptr decreases at row {row} ({int(indptr[row])} -> "
                         f"{int(indptr[row + 1])}); row pointers never decrease")
    if nnz and (int(indices.min()) < 0 or int(indices.max()) >= k):
        bad = indices[(indices < 0) | (indices >= k)][0]
        raise ValueError(f"{where}: column index {int(bad)} is out of range for {k} "
                         "columns")


def _frozen(arr: np.ndarray, dtype) -> np.ndarray:
    out = np.array(arr, dtype=dtype, copy=True, order="C")
    out.flags.writeable = False
    return out


class CSR:
    """A validated ``(N, K)`` matrix in compressed sparse row form: ``indptr`` (int64,
    ``N + 1``), ``indices`` (int32, column of each non-zero), ``values``. The arrays are
    private read-only copies, checked once here, so the kernels can trust them later.

    >>> import numpy as np
    >>> m = CSR.from_dense(np.array([[0.0, 1.5], [0.0, 0.0], [2.0, 0.0]]))
    >>> m.shape, m.nnz, round(m.sparsity, 3), m.indptr.tolist()
    ((3, 2), 2, 0.667, [0, 1, 1, 2])
    >>> m.to_dense().tolist()
    [[0.0, 1.5], [0.0, 0.0], [2.0, 0.0]]
    """

    def __init__(self, indptr, indices, values, shape):
        where = "CSR()"
        if not (isinstance(shape, tuple) and len(shape) == 2 and all(
                isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 0
                for s in shape)):
            raise ValueError(f"{where}: shape must be a pair of ints >= 0, got {shape!r}")
        _check_csr(indptr, indices, values, shape, where)
        self.shape = (int(shape[0]), int(shape[1]))
        self.indptr = _frozen(indptr, INDPTR_DTYPE)
        self.indices = _frozen(indices, INDICES_DTYPE)
        self.values = _frozen(values, values.dtype)

    @classmethod
    def from_dense(cls, weight) -> CSR:
        """The non-zeros of a 2-D float Tensor or array (exact zeros are dropped)."""
        arr = weight._data if isinstance(weight, Tensor) else weight
        if not isinstance(arr, np.ndarray):
            raise TypeError(f"CSR.from_dense(): expected a Tensor or numpy array, got "
                            f"{type(weight).__name__}")
        if arr.ndim != 2:
            raise ValueError(f"CSR.from_dense(): expected a 2-D weight (out_features, "
                             f"in_features), got shape {arr.shape}")
        if arr.dtype not in _FLOATS:
            raise TypeError(f"CSR.from_dense(): expected float32 or float64, got {arr.dtype}")
        return cls(*csr_from_dense(arr), arr.shape)

    nnz = property(lambda self: int(self.values.shape[0]), doc="stored non-zeros")

    @property
    def sparsity(self) -> float:
        """The fraction of the ``N * K`` entries that are zero."""
        total = self.shape[0] * self.shape[1]
        return 1.0 - self.nnz / total if total else 0.0

    @property
    def nbytes(self) -> int:
        """Bytes of the three arrays (compare ``N * K * itemsize`` dense)."""
        return self.indptr.nbytes + self.indices.nbytes + self.values.nbytes

    def to_dense(self) -> Tensor:
        """The dense matrix as a new Tensor."""
        return Tensor(dense_from_csr(self.indptr, self.indices, self.values, self.shape))

    def __repr__(self) -> str:
        return f"CSR(shape={self.shape}, nnz={self.nnz}, dtype={self.values.dtype})"


def _check_input(x, k: int, dtype: np.dtype, where: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: input must be a Tensor, got {type(x).__name__}\nhint: "
                        "wrap data with tt.tensor(...)")
    if x.ndim == 0 or x.shape[-1] != k:
        raise ValueError(f"{where}: input of shape {x.shape} has "
                         f"{x.shape[-1] if x.ndim else 'no'} features but the sparse weight "
                         f"expects in_features={k}")
    if x._data.dtype != dtype:
        raise TypeError(f"{where}: input is {x.dtype.name} but the weight is {dtype}\n"
                        f"hint: x.to(tt.{dtype})")
    if x.requires_grad and is_grad_enabled():
        raise RuntimeError(f"{where}: CSR weights are for inference and record no graph, "
                           "but the input requires grad\nhint: call it under tt.no_grad() "
                           "(SparseLinear is "
                           "inference-only); to train, fine-tune the masked dense model "
                           "(keep_masks) and convert after")


def _run(op: str, x: Tensor, w: CSR, bias) -> Tensor:
    arr = x._data
    rows = arr if arr.ndim == 2 else reshape_view(arr, (math.prod(arr.shape[:-1]),
                                                        arr.shape[-1]))
    n = w.shape[0]
    out = np.empty((rows.shape[0], n), w.values.dtype)
    if out.size:
        if op == "csr_linear_forward":
            dispatch.call(op, out, rows, w.indptr, w.indices, w.values, bias)
        else:
            dispatch.call(op, out, rows, w.indptr, w.indices, w.values)
    return new(out.reshape(x.shape[:-1] + (n,)))


def csr_matmul(x: Tensor, weight: CSR) -> Tensor:
    """``x @ weight.T`` with ``weight`` ``(N, K)`` in CSR and ``x`` ``(..., K)``.

    >>> import tinytorch as tt
    >>> w = CSR.from_dense(tt.tensor([[0.0, 2.0], [1.0, 0.0]]))
    >>> csr_matmul(tt.tensor([[3.0, 4.0]]), w).tolist()
    [[8.0, 3.0]]
    """
    if not isinstance(weight, CSR):
        raise TypeError(f"csr_matmul(): weight must be a CSR, got {type(weight).__name__}\n"
                        "hint: CSR.from_dense(w)")
    _check_input(x, weight.shape[1], weight.values.dtype, "csr_matmul()")
    return _run("csr_matmul_forward", x, weight, None)


def csr_linear(x: Tensor, weight: CSR, bias: Tensor | None = None) -> Tensor:
    """``x @ weight.T + bias``, the CSR twin of ``F.linear`` (inference only).

    >>> import tinytorch as tt
    >>> w = CSR.from_dense(tt.tensor([[0.0, 2.0], [1.0, 0.0]]))
    >>> csr_linear(tt.tensor([[3.0, 4.0]]), w, tt.tensor([0.5, -1.0])).tolist()
    [[8.5, 2.0]]
    """
    if not isinstance(weight, CSR):
        raise TypeError(f"csr_linear(): weight must be a CSR, got {type(weight).__name__}\n"
                        "hint: CSR.from_dense(w)")
    dtype = weight.values.dtype
    if bias is None:
        b = np.zeros(weight.shape[0], dtype)
    else:
        if not isinstance(bias, Tensor):
            raise TypeError(f"csr_linear(): bias must be a Tensor or None, got "
                            f"{type(bias).__name__}")
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"csr_linear(): bias must have shape ({weight.shape[0]},) to "
                             f"match out_features, got {bias.shape}")
        if bias._data.dtype != dtype:
            raise TypeError(f"csr_linear(): bias is {bias.dtype.name} but the weight is "
                            f"{dtype}")
        b = bias._data
    _check_input(x, weight.shape[1], dtype, "csr_linear()")
    return _run("csr_linear_forward", x, weight, b)


class SparseLinear(Module):
    """``y = x @ W.T + b`` with ``W`` held in CSR (buffers ``indptr``, ``indices``,
    ``values``, ``bias``): the inference form of a pruned ``Linear``.

    >>> import numpy as np, tinytorch as tt
    >>> layer = SparseLinear(CSR.from_dense(np.eye(3, dtype=np.float32)))
    >>> layer(tt.tensor([[1.0, 2.0, 3.0]])).tolist(), layer.csr.nnz
    ([[1.0, 2.0, 3.0]], 3)
    """

    def __init__(self, weight: CSR, bias: Tensor | None = None) -> None:
        super().__init__()
        if not isinstance(weight, CSR):
            raise TypeError(f"SparseLinear(): weight must be a CSR, got "
                            f"{type(weight).__name__}\nhint: SparseLinear.from_linear(layer)")
        self.out_features, self.in_features = weight.shape
        dtype = weight.values.dtype
        if bias is not None:
            if not isinstance(bias, Tensor):
                raise TypeError(f"SparseLinear(): bias must be a Tensor or None, got "
                                f"{type(bias).__name__}")
            if bias.shape != (self.out_features,) or bias._data.dtype != dtype:
                raise ValueError(f"SparseLinear(): bias must be {dtype} of shape "
                                 f"({self.out_features},), got {bias.dtype.name} "
                                 f"{bias.shape}")
            bias = Tensor(np.array(bias._data, copy=True))
        # Writable copies as buffers (load_state_dict writes into them); the structure is
        # checked again whenever one of them changes (see _csr).
        self.register_buffer("indptr", Tensor(np.array(weight.indptr)))
        self.register_buffer("indices", Tensor(np.array(weight.indices)))
        self.register_buffer("values", Tensor(np.array(weight.values)))
        self.register_buffer("bias", bias)
        self._stamp = None
        self._cached: CSR | None = None

    @classmethod
    def from_linear(cls, layer: Linear) -> SparseLinear:
        """The CSR form of a (pruned) plain ``Linear``: its non-zero weights and its bias.
        A fused ``LinearReLU`` / ``LinearGELU`` is refused: this layer applies no
        activation, so converting one would silently drop it."""
        # Exact type: a subclass of Linear (the fused layers) computes more than x @ W.T + b.
        if type(layer) is not Linear:
            if isinstance(layer, Linear):
                raise TypeError(f"SparseLinear.from_linear(): {type(layer).__name__} fuses an "
                                "activation that SparseLinear does not apply; only a plain "
                                "nn.Linear converts\nhint: keep the fused layer dense, or "
                                "split it into nn.Linear + its activation first")
            raise TypeError(f"SparseLinear.from_linear(): expected an nn.Linear, got "
                            f"{type(layer).__name__}")
        bias = layer._parameters["bias"]
        return cls(CSR.from_dense(layer.weight), None if bias is None else bias.detach())

    @property
    def csr(self) -> CSR:
        """The weight as a validated CSR (re-checked only after a buffer changed)."""
        b = self._buffers
        ip, ix, v = b["indptr"], b["indices"], b["values"]
        stamp = (id(ip._data), ip._version, id(ix._data), ix._version, id(v._data),
                 v._version)
        if stamp != self._stamp:
            self._cached = CSR(ip._data, ix._data, v._data,
                               (self.out_features, self.in_features))
            self._stamp = stamp
        return self._cached

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002 (PyTorch's name)
        return csr_linear(input, self.csr, self._buffers["bias"])

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"nnz={int(self._buffers['values'].shape[0])}, "
                f"bias={self._buffers['bias'] is not None}")


def to_sparse(model: Module, min_sparsity: float | None = None) -> Module:
    """A copy of ``model`` whose Linear layers with at least ``min_sparsity`` zeros
    (default ``CSR_CROSSOVER``, where CSR starts to beat the dense kernel) are
    ``SparseLinear``; the others, and ``model`` itself, are unchanged. Only plain
    ``nn.Linear`` layers are swapped: the fused ``LinearReLU`` / ``LinearGELU`` stay dense
    (``SparseLinear`` applies no activation).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> from tinytorch.pruning import l1_unstructured
    >>> model = nn.Sequential(l1_unstructured(nn.Linear(8, 8), 0.9), nn.ReLU(), nn.Linear(8, 2))
    >>> [type(m).__name__ for m in to_sparse(model)]
    ['SparseLinear', 'ReLU', 'Linear']
    """
    if not isinstance(model, Module):
        raise TypeError(f"to_sparse(): expected an nn.Module, got {type(model).__name__}")
    if min_sparsity is None:
        min_sparsity = CSR_CROSSOVER
    if isinstance(min_sparsity, (bool, np.bool_)) or not isinstance(
            min_sparsity, (int, float, np.integer, np.floating)):
        raise TypeError(f"to_sparse(): min_sparsity must be a number in [0, 1], got "
                        f"{type(min_sparsity).__name__} {min_sparsity!r}")
    if not (math.isfinite(min_sparsity) and 0.0 <= min_sparsity <= 1.0):
        raise ValueError(f"to_sparse(): min_sparsity must be in [0, 1], got {min_sparsity!r}")
    if isinstance(model, Linear):
        raise TypeError("to_sparse(): pass a model that contains the Linear layer (to swap a "
                        "single layer, use SparseLinear.from_linear(layer))")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if type(child) is Linear:  # exact: fused subclasses apply an activation too
                w = child.weight._data
                zeros = 1.0 - np.count_nonzero(w) / w.size
                if zeros >= min_sparsity:
                    parent._modules[name] = SparseLinear.from_linear(child)
    return model
