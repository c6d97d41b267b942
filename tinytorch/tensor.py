"""The Tensor: a numpy array for storage, plus shape, strides, dtype and views (module 01).

A Tensor holds two numpy arrays: ``_storage``, the flat buffer that owns the memory and is
shared by every view of it, and ``_data``, this tensor's window on that buffer (shape,
strides in bytes, and a start). Views -- ``reshape``/``view``, ``transpose``, ``permute``,
``unsqueeze``, ``squeeze``, ``expand``, slicing -- build a new window on the same storage
and copy nothing; ``.strides`` and ``.storage_offset()`` are read off the window, in
elements, as PyTorch's ``stride()`` and ``storage_offset()``.

This file never imports kernels: every computation goes through ``tinytorch.ops``, which
goes through the dispatcher.

>>> import tinytorch as tt
>>> x = tt.arange(12).reshape(3, 4)
>>> x.strides, x.T.strides, x.T.is_contiguous()
((4, 1), (1, 4), False)
>>> y = x[1:, ::2]
>>> y.shape, y.strides, y.storage_offset()
((2, 2), (4, 2), 4)
>>> y.shares_storage(x)
True
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from tinytorch import dtypes as _dt
from tinytorch.indexing import check_index, unsqueeze_strides
from tinytorch.layout import contiguous_strides, normalize_dim

__all__ = ["Tensor", "ReductionResult"]

# What max(dim=...) and min(dim=...) return, as torch.return_types.max does.
ReductionResult = namedtuple("ReductionResult", ["values", "indices"])


def _shape_args(args, what: str) -> tuple:
    """``f(2, 3)`` and ``f((2, 3))`` both mean shape (2, 3); validate the sizes."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    out = []
    for s in args:
        if isinstance(s, bool) or not isinstance(s, (int, np.integer)):
            raise TypeError(f"{what}: sizes must be ints, got {type(s).__name__} {s!r} in "
                            f"{tuple(args)}")
        out.append(int(s))
    return tuple(out)


class Tensor:
    """An n-dimensional array with a dtype, strides that can be inspected, and views.

    Make tensors with ``tt.tensor``, ``tt.zeros``, ``tt.arange`` and friends rather than by
    calling ``Tensor`` directly.

    >>> import tinytorch as tt
    >>> t = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    >>> (t * 2 + 1).tolist()
    [[3.0, 5.0], [7.0, 9.0]]
    """

    __slots__ = ("_data", "_storage", "_version_ref", "dtype", "requires_grad", "grad",
                 "grad_fn", "__weakref__")
    __array_priority__ = 1000  # ndarray op Tensor defers to Tensor's reflected operator

    def __init__(self, data: np.ndarray, storage: np.ndarray | None = None, *,
                 requires_grad: bool = False):
        if not isinstance(data, np.ndarray):
            raise TypeError("Tensor(...) takes a numpy array; use tt.tensor(data) for lists "
                            "and scalars")
        # a dict lookup first: this runs for every tensor an op makes
        self.dtype = _dt._BY_NP.get(data.dtype) or _dt.as_dtype(data.dtype)
        if storage is None:  # a fresh tensor owns a fresh contiguous buffer
            if data.size == 0:
                # numpy 2 gives every dimension of an empty array stride 0; PyTorch keeps
                # row-major strides ((2, 0, 3) -> (3, 3, 1)). No memory is touched.
                data = as_strided(data, data.shape,
                                  tuple(s * data.itemsize for s in
                                        contiguous_strides(data.shape)))
            # Not np.ascontiguousarray: it returns at least 1-D, which turned every 0-d
            # tensor (tt.tensor(1.5), full reductions) into shape (1,).
            if not data.flags.c_contiguous:
                data = data.copy(order="C")
            storage = data.reshape(-1)
        self._data = data
        self._storage = storage
        self._version_ref = [0]  # shared by every view of this storage (see _view)
        self.grad = None
        self.grad_fn = None  # the autograd Node that made this tensor (None for a leaf)
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def _view(self, data: np.ndarray) -> Tensor:
        """A new tensor on the same storage (``data`` must be a view of ``_storage``),
        sharing its version counter."""
        view = Tensor(data, self._storage)
        view._version_ref = self._version_ref
        return view

    def __deepcopy__(self, memo: dict) -> Tensor:
        """A copy with its own storage, as ``copy.deepcopy(model)`` needs. Views copied in
        one ``deepcopy`` call keep sharing one new storage; leaves only, as in PyTorch."""
        if self.grad_fn is not None:
            raise RuntimeError("only tensors created by the user (graph leaves) support "
                               "deepcopy\nhint: deepcopy a .detach()ed tensor")
        storage = memo.get(id(self._storage))
        if storage is None:
            storage = self._storage.copy()
            memo[id(self._storage)] = storage
        data = np.ndarray(self._data.shape, self._data.dtype, buffer=storage,
                          offset=self.storage_offset() * self.dtype.itemsize,
                          strides=self._data.strides) if storage.size else storage.reshape(
                              self._data.shape)
        if not self._data.flags.writeable:  # an expand stays read-only
            data.flags.writeable = False
        copy = type(self).__new__(type(self))
        Tensor.__init__(copy, data, storage, requires_grad=self.requires_grad)
        copy._version_ref = memo.setdefault(id(self._version_ref), [0])
        copy.grad = None if self.grad is None else self.grad.__deepcopy__(memo)
        memo[id(self)] = copy
        return copy

    @property
    def _version(self) -> int:
        """How many in-place writes this tensor's storage has seen (through any view).
        Autograd checks it to refuse gradients computed from values that changed."""
        return self._version_ref[0]

    def _bump_version(self) -> None:
        self._version_ref[0] += 1

    # --- metadata -------------------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self._data.shape

    def size(self, dim: int | None = None):
        """The shape, or one dimension's size: ``x.size(0)``."""
        if dim is None:
            return self.shape
        return self.shape[normalize_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        return self._data.ndim

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def strides(self) -> tuple:
        """Strides in elements (numpy counts bytes; PyTorch's ``stride()`` counts elements)."""
        return tuple(s // self.dtype.itemsize for s in self._data.strides)

    def stride(self, dim: int | None = None):
        """PyTorch's spelling: ``x.stride()`` or ``x.stride(dim)``."""
        if dim is None:
            return self.strides
        return self.strides[normalize_dim(dim, self.ndim)]

    def storage_offset(self) -> int:
        """Where this view starts in its storage, in elements."""
        start = self._data.__array_interface__["data"][0]
        base = self._storage.__array_interface__["data"][0]
        return (start - base) // self.dtype.itemsize

    def is_contiguous(self) -> bool:
        """True when the elements lie in row-major order with no gaps (size-1 dimensions may
        have any stride, as in PyTorch)."""
        return bool(self._data.flags.c_contiguous)

    @property
    def nbytes(self) -> int:
        """Bytes of the elements this tensor shows (not of the whole storage)."""
        return self.numel() * self.dtype.itemsize

    def element_size(self) -> int:
        return self.dtype.itemsize

    @property
    def device(self) -> str:
        return "cpu"

    def shares_storage(self, other: Tensor) -> bool:
        """True when both tensors are windows on the same buffer."""
        return isinstance(other, Tensor) and other._storage is self._storage

    @property
    def is_leaf(self) -> bool:
        """True for a tensor no recorded op made (user-created, or made under no_grad)."""
        return self.grad_fn is None

    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Gradients of this tensor with respect to every leaf that requires grad, added
        into their ``.grad``. A non-scalar tensor needs ``gradient`` (same shape); the graph
        is freed afterwards unless ``retain_graph=True``."""
        _autograd.backward(self, gradient, retain_graph)

    def _track(self, out: Tensor, name: str, backward) -> Tensor:
        """Record a view (or copy) op on ``out`` when ``self`` requires grad."""
        if self.requires_grad:
            _autograd.record(out, name, backward, (self,))
        return out

    def requires_grad_(self, flag: bool = True) -> Tensor:
        if not flag and self.grad_fn is not None:
            raise RuntimeError("requires_grad_(False) only works on leaves; use .detach() "
                               "for a tensor without history")
        if flag and not self.dtype.is_floating_point:
            raise TypeError(f"only tensors of floating point dtype can require gradients, "
                            f"got {self.dtype}")
        self.requires_grad = bool(flag)
        return self

    # --- conversion -----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The numpy array behind the tensor; it shares memory, as ``torch.Tensor.numpy``."""
        return self._data

    def __array__(self, dtype=None, copy=None):
        arr = self._data if dtype is None else self._data.astype(dtype)
        return arr.copy() if copy else arr

    def item(self):
        if self.numel() != 1:
            raise ValueError(f"item() needs a tensor with one element, this one has "
                             f"{self.numel()} (shape {self.shape})")
        return self._data.reshape(()).item()

    def tolist(self):
        return self._data.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.numel() != 1:
            raise ValueError(f"the truth value of a tensor with {self.numel()} elements is "
                             "ambiguous; use .any() or .all() style reductions instead")
        return bool(self.item())

    def __len__(self):
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        body = np.array2string(self._data, separator=", ", prefix="tensor(",
                               threshold=1000, edgeitems=3)
        extras = []
        if self.dtype not in (_dt.float32, _dt.int64, _dt.bool_):
            extras.append(f"dtype={self.dtype}")
        if self.numel() == 0 and self.ndim != 1:
            extras.append(f"size={self.shape}")
        if self.requires_grad:
            extras.append("requires_grad=True")
        return "tensor(" + ", ".join([body] + extras) + ")"

    __hash__ = object.__hash__  # __eq__ is elementwise, so identity hashing, as PyTorch

    # --- views: new windows on the same storage, no copy ----------------------------------
    def view(self, *shape) -> Tensor:
        """Same storage, new shape; fails when the strides do not allow it without a copy
        (then use ``reshape`` or ``contiguous().view``)."""
        shape = self._infer_shape(_shape_args(shape, "view"))
        src = self.shape
        try:
            out = self._view(np.reshape(self._data, shape, copy=False))
        except ValueError:
            raise ValueError(
                f"view{shape} is not possible for a tensor of shape {self.shape} and strides "
                f"{self.strides} without copying\nhint: use .reshape(...), which copies "
                "when it must, or .contiguous().view(...)") from None
        return self._track(out, "ViewBackward", lambda g: g.reshape(src))

    def reshape(self, *shape) -> Tensor:
        """A view when the strides allow it, else a contiguous copy (as PyTorch)."""
        shape = self._infer_shape(_shape_args(shape, "reshape"))
        src = self.shape
        try:
            out = self._view(np.reshape(self._data, shape, copy=False))
        except ValueError:  # contiguous() and view() each record their own node
            return self.contiguous().view(shape)
        return self._track(out, "ReshapeBackward", lambda g: g.reshape(src))

    def flatten(self) -> Tensor:
        return self.reshape(-1)

    def _infer_shape(self, shape: tuple) -> tuple:
        n = self.numel()
        if shape.count(-1) > 1:
            raise ValueError(f"only one dimension can be -1, got shape {shape}")
        if any(s < -1 for s in shape):
            raise ValueError(f"invalid shape {shape}: sizes must be >= 0 (or one -1)")
        if -1 in shape:
            known = math.prod(s for s in shape if s != -1)
            if known == 0 or n % known:
                raise ValueError(f"shape {shape} is invalid for a tensor of {n} elements "
                                 f"(shape {self.shape})")
            shape = tuple(n // known if s == -1 else s for s in shape)
        if math.prod(shape) != n:
            raise ValueError(f"shape {shape} is invalid for a tensor of {n} elements "
                             f"(shape {self.shape})")
        return shape

    def transpose(self, dim0: int, dim1: int) -> Tensor:
        """Swap two dimensions: swaps their sizes and strides, moves no data."""
        axes = list(range(self.ndim))
        d0, d1 = normalize_dim(dim0, self.ndim), normalize_dim(dim1, self.ndim)
        if self.ndim == 0:
            return self._track(self._view(self._data), "TransposeBackward", lambda g: g)
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return self._track(self._view(self._data.transpose(axes)), "TransposeBackward",
                           lambda g: g.transpose(d0, d1))

    @property
    def T(self) -> Tensor:
        """All dimensions reversed (for a matrix: the transpose)."""
        return self._track(self._view(self._data.T), "TBackward", lambda g: g.T)

    def permute(self, *dims) -> Tensor:
        dims = _shape_args(dims, "permute")
        norm = [normalize_dim(d, self.ndim) for d in dims]
        if len(dims) != self.ndim or sorted(norm) != list(range(self.ndim)):
            raise ValueError(f"permute{dims} must name each of the {self.ndim} dimensions "
                             f"of a tensor of shape {self.shape} exactly once")
        inverse = tuple(int(i) for i in np.argsort(norm))
        return self._track(self._view(self._data.transpose(norm)), "PermuteBackward",
                           lambda g: g.permute(inverse))

    def unsqueeze(self, dim: int) -> Tensor:
        d = normalize_dim(dim, self.ndim, allow_end=True)
        return self._track(self._view(np.expand_dims(self._data, d)), "UnsqueezeBackward",
                           lambda g: g.squeeze(d))

    def squeeze(self, dim=None) -> Tensor:
        """Drop size-1 dimensions (all of them, or those named; others are left alone)."""
        if dim is None:
            axes = tuple(d for d, s in enumerate(self.shape) if s == 1)
        else:
            dims = dim if isinstance(dim, (tuple, list)) else (dim,)
            axes = tuple(d for d in (normalize_dim(d, self.ndim) for d in dims)
                         if self.ndim and self.shape[d] == 1)
        src = self.shape
        out = self._view(np.squeeze(self._data, axis=axes) if self.ndim else self._data)
        return self._track(out, "SqueezeBackward", lambda g: g.reshape(src))

    def expand(self, *sizes) -> Tensor:
        """Repeat size-1 dimensions without copying: an expanded dimension gets stride 0, so
        every index along it reads the same element. ``-1`` keeps a size. When anything was
        repeated the result is read-only (a write would land on many indices at once).

        >>> import tinytorch as tt
        >>> tt.ones(3, 1).expand(2, 3, 4).strides
        (0, 1, 0)
        """
        sizes = _shape_args(sizes, "expand")
        if len(sizes) < self.ndim:
            raise ValueError(f"expand{sizes}: the number of sizes ({len(sizes)}) must be at "
                             f"least the tensor's ndim ({self.ndim}, shape {self.shape})")
        lead = len(sizes) - self.ndim
        target, strides = [], []
        for d, s in enumerate(sizes):
            own = self.shape[d - lead] if d >= lead else None
            if s == -1:
                if own is None:
                    raise ValueError(f"expand{sizes}: -1 is not allowed in a new leading "
                                     f"dimension ({d})")
                s = own
            if s < 0 or (own is not None and own != 1 and own != s):
                raise ValueError(f"expand{sizes}: the expanded size {s} must match the "
                                 f"existing size {own} at dimension {d} (only size-1 "
                                 f"dimensions expand), tensor shape {self.shape}")
            target.append(s)
            strides.append(0 if own is None or own != s else self._data.strides[d - lead])
        # A new leading dimension of size 1 takes the stride unsqueeze would give it (as
        # PyTorch), so expanding without repeating anything leaves a plain view.
        for d in reversed(range(lead)):
            if target[d] == 1:
                inner = strides[d + 1] * target[d + 1] if d + 1 < len(target) else \
                    self.dtype.itemsize
                strides[d] = inner
        repeats = any(st == 0 and n > 1 for st, n in zip(strides, target, strict=True))
        data = as_strided(self._data, tuple(target), tuple(strides),
                          writeable=self._data.flags.writeable and not repeats)
        src = self.shape
        return self._track(self._view(data), "ExpandBackward",
                           lambda g: _autograd.sum_to(g, src))

    def expand_as(self, other: Tensor) -> Tensor:
        return self.expand(*other.shape)

    def __getitem__(self, index) -> Tensor:
        """Basic indexing: ints, slices with step >= 1, ``None`` and ``...``; a view."""
        index = check_index(index, self.shape)
        # Without an Ellipsis, numpy turns a full integer index (x[0, 1], or x[0] of a 1-D
        # array) into a numpy scalar, not a 0-d view; a trailing ... keeps it an array view.
        if not any(it is Ellipsis for it in index):
            index = index + (Ellipsis,)
        data = self._data[index]
        if any(it is None for it in index):
            data = unsqueeze_strides(data, index, self._data)
        src, dtype = self.shape, self.dtype

        def select_backward(g):
            full = Tensor(np.zeros(src, dtype.np))
            full[index] = g  # the copy kernel writes the gradient into the selected window
            return full

        return self._track(self._view(data), "SelectBackward", select_backward)

    def __setitem__(self, index, value) -> None:
        if self.requires_grad and _autograd.is_grad_enabled():
            # tinytorch does not rewrite the graph for in-place writes (PyTorch does for
            # non-leaves); refusing is honest, and the version counter catches the rest.
            raise RuntimeError("cannot write in place into a tensor that requires grad "
                               "while gradients are recorded\nhint: do it inside "
                               "`with tt.no_grad():` (a parameter update), or write into "
                               "a .detach()ed or .clone()d tensor")
        if isinstance(value, Tensor) and value.requires_grad and _autograd.is_grad_enabled():
            raise RuntimeError("cannot write a value that requires grad in place: "
                               "tinytorch does not record in-place writes in the graph\n"
                               "hint: build the result out of place (tt.where, tt.cat), "
                               "or .detach() the value if no gradient should flow")
        _ops.copy_into(self[index], value)
        self._bump_version()

    def contiguous(self) -> Tensor:
        """Self when already contiguous, else a row-major copy (via the copy kernel)."""
        if self.is_contiguous():
            return self
        return self._track(_ops.contiguous_copy(self), "ContiguousBackward", lambda g: g)

    def clone(self) -> Tensor:
        return self._track(_ops.contiguous_copy(self), "CloneBackward", lambda g: g)

    def to(self, dtype) -> Tensor:
        """A copy cast to ``dtype`` (``self`` when it already has it)."""
        dtype = _dt.as_dtype(dtype)
        if dtype == self.dtype:
            return self
        # the engine casts the gradient back to this tensor's dtype
        return self._track(_ops.cast(self, dtype), "ToCopyBackward", lambda g: g)

    def float(self) -> Tensor:
        return self.to(_dt.float32)

    def double(self) -> Tensor:
        return self.to(_dt.float64)

    def long(self) -> Tensor:
        return self.to(_dt.int64)

    def detach(self) -> Tensor:
        """The same storage without history: no grad_fn, requires_grad False."""
        return self._view(self._data)

    # --- arithmetic: thin calls into the function layer ----------------------------------
    # Operators return NotImplemented for operands they do not know, so Python raises its
    # usual TypeError ("unsupported operand type(s) for +: 'Tensor' and 'list'").
    def _binary(self, op: str, other, reflected: bool = False):
        _reject_ndarray(other, op)
        if not _ops._common.is_operand(other):
            return NotImplemented
        return _ops.binary(op, other, self) if reflected else _ops.binary(op, self, other)

    def __add__(self, other):
        return self._binary("add", other)

    def __radd__(self, other):
        return self._binary("add", other, True)

    def __sub__(self, other):
        return self._binary("sub", other)

    def __rsub__(self, other):
        return self._binary("sub", other, True)

    def __mul__(self, other):
        return self._binary("mul", other)

    def __rmul__(self, other):
        return self._binary("mul", other, True)

    def __truediv__(self, other):
        return self._binary("div", other)

    def __rtruediv__(self, other):
        return self._binary("div", other, True)

    def __pow__(self, other):
        return self._binary("pow", other)

    def __rpow__(self, other):
        return self._binary("pow", other, True)

    def __eq__(self, other):
        return self._binary("eq", other)

    def __ne__(self, other):
        return self._binary("ne", other)

    def __lt__(self, other):
        return self._binary("lt", other)

    def __le__(self, other):
        return self._binary("le", other)

    def __gt__(self, other):
        return self._binary("gt", other)

    def __ge__(self, other):
        return self._binary("ge", other)

    def __neg__(self):
        return _ops.neg(self)

    def __abs__(self):
        return _ops.abs(self)

    def __matmul__(self, other):
        _reject_ndarray(other, "matmul")
        return _ops.matmul(self, other) if isinstance(other, Tensor) else NotImplemented

    def __rmatmul__(self, other):
        _reject_ndarray(other, "matmul")
        return _ops.matmul(other, self) if isinstance(other, Tensor) else NotImplemented

    def add(self, other):
        return _ops.add(self, other)

    def sub(self, other):
        return _ops.sub(self, other)

    def mul(self, other):
        return _ops.mul(self, other)

    def div(self, other):
        return _ops.div(self, other)

    def pow(self, other):
        return _ops.pow(self, other)

    def matmul(self, other):
        return _ops.matmul(self, other)

    def neg(self):
        return _ops.neg(self)

    def abs(self):
        return _ops.abs(self)

    def exp(self):
        return _ops.exp(self)

    def log(self):
        return _ops.log(self)

    def sqrt(self):
        return _ops.sqrt(self)

    def relu(self):
        return _ops.relu(self)

    def sigmoid(self):
        return _ops.sigmoid(self)

    def tanh(self):
        return _ops.tanh(self)

    def clamp(self, min=None, max=None):  # noqa: A002
        return _ops.clamp(self, min, max)

    # --- reductions ----------------------------------------------------------------------
    def sum(self, dim=None, keepdim: bool = False):
        return _ops.sum(self, dim, keepdim)

    def mean(self, dim=None, keepdim: bool = False):
        return _ops.mean(self, dim, keepdim)

    def max(self, dim=None, keepdim: bool = False):
        return _ops.max(self, dim, keepdim)

    def min(self, dim=None, keepdim: bool = False):
        return _ops.min(self, dim, keepdim)

    def amax(self, dim=None, keepdim: bool = False):
        return _ops.amax(self, dim, keepdim)

    def amin(self, dim=None, keepdim: bool = False):
        return _ops.amin(self, dim, keepdim)

    def argmax(self, dim=None, keepdim: bool = False):
        return _ops.argmax(self, dim, keepdim)

    def argmin(self, dim=None, keepdim: bool = False):
        return _ops.argmin(self, dim, keepdim)


def _reject_ndarray(other, op: str) -> None:
    """A numpy array operand is an error, not NotImplemented: NotImplemented lets numpy
    run the op itself on ``Tensor.__array__`` and hand back a bare ndarray (or a numpy
    scalar for ``@``), silently outside the dispatcher."""
    if isinstance(other, np.ndarray):
        raise TypeError(f"{op}: cannot combine a Tensor with a numpy.ndarray of shape "
                        f"{other.shape}\nhint: wrap it with tt.tensor(...)")


from tinytorch import autograd as _autograd  # noqa: E402  (autograd imports Tensor)
from tinytorch import ops as _ops  # noqa: E402  (ops imports Tensor from here)
from tinytorch.ops import inplace as _inplace  # noqa: E402

# In-place methods live in ops/inplace.py; x += y is in place, as in PyTorch.
for _name in _inplace.__all__:
    setattr(Tensor, _name, getattr(_inplace, _name))
Tensor.__iadd__ = _inplace.add_
Tensor.__isub__ = _inplace.sub_
Tensor.__imul__ = _inplace.mul_
Tensor.__itruediv__ = _inplace.div_
del _name
