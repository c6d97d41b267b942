"""Image transforms (module 05): ``ToDtype``, ``Normalize``, ``RandomCrop``,
``RandomHorizontalFlip`` and ``Compose``, with PyTorch's (torchvision's) names and meanings.

Every transform takes one image ``(C, H, W)`` *or a whole batch* ``(N, C, H, W)``, as a
``Tensor`` (gives a Tensor) or a numpy array (gives an array), and never writes into its
input. The per-pixel work runs in the kernels of ``kernels/transforms.py`` through the
dispatcher, so ``with tt.backend("naive")`` shows the loops and ``jit`` compiles them.

Applying a transform to a whole batch in one kernel call is what makes augmentation cheap:
the loader's fast path gathers a batch, then transforms it at once (``docs/data.md``).
Random transforms draw their numbers from their own ``numpy.random.Generator``, one value
per image in image order, so a batch of ``N`` images gets exactly the numbers that ``N``
calls on single images would get: batched and per-image application agree, and the model's
random stream (``tt.manual_seed``) is never advanced by augmentation. ``generator`` takes a
seed or a Generator; by default a transform spawns an independent child of the global
generator's seed sequence, which is reproducible after ``tt.manual_seed`` and draws nothing
from the model's stream.

>>> import numpy as np, tinytorch as tt
>>> from tinytorch.data import transforms as T
>>> pipeline = T.Compose([T.ToDtype(tt.float32, scale=True),
...                       T.RandomCrop(4, padding=1, generator=0),
...                       T.RandomHorizontalFlip(generator=1), T.Normalize([0.5], [0.25])])
>>> batch = np.full((8, 1, 4, 4), 255, np.uint8)
>>> out = pipeline(batch)
>>> out.shape, out.dtype, float(out.max())
((8, 1, 4, 4), dtype('float32'), 2.0)
"""

from __future__ import annotations

import numbers

import numpy as np

from tinytorch import dispatch
from tinytorch import dtypes as dt
from tinytorch import random as _random
from tinytorch.tensor import Tensor

__all__ = ["Transform", "Compose", "ToDtype", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "make_generator"]

_FLOAT_NP = (np.dtype(np.float32), np.dtype(np.float64))


def make_generator(generator, who: str) -> np.random.Generator:
    """The ``numpy.random.Generator`` behind ``generator``: a Generator is used as it is, an
    int seeds a new one, ``None`` spawns an independent child of the global generator's seed
    sequence (``tt.manual_seed`` makes it reproducible; spawning draws no number, so the
    model's random stream is left exactly where it was).

    >>> make_generator(3, "demo").random() == np.random.default_rng(3).random()
    True
    """
    if generator is None:
        return _random.generator().spawn(1)[0]
    if isinstance(generator, np.random.Generator):
        return generator
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        if generator < 0:
            raise ValueError(f"{who}: generator seed must be >= 0, got {generator}")
        return np.random.default_rng(int(generator))
    raise TypeError(f"{who}: generator must be None, an int seed or a numpy.random.Generator, "
                    f"got {type(generator).__name__} {generator!r}")


def _as_images(x, who: str) -> tuple[np.ndarray, bool]:
    """``(batch, single)``: the data of ``x`` as a 4-D ``(N, C, H, W)`` array (a view for a
    single ``(C, H, W)`` image) and whether it was one image."""
    if isinstance(x, Tensor):
        if x.requires_grad:
            raise ValueError(f"{who}: the input requires grad; transforms prepare data "
                             "outside the autograd graph\nhint: pass tensor.detach()")
        arr = x._data
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise TypeError(f"{who}: expected a Tensor or a numpy array of images, got "
                        f"{type(x).__name__}")
    if arr.ndim == 3:
        return arr[None], True
    if arr.ndim == 4:
        return arr, False
    raise ValueError(f"{who}: expected one image (C, H, W) or a batch (N, C, H, W), got shape "
                     f"{arr.shape}\nhint: a flat (N, 784) batch needs .reshape(N, 1, 28, 28)")


def _like_input(x, arr: np.ndarray, single: bool):
    """``arr`` (a 4-D batch) shaped and typed like the input: one image stays one image, a
    Tensor in gives a Tensor out."""
    if single:
        arr = arr[0]
    return Tensor(arr) if isinstance(x, Tensor) else arr


class Transform:
    """Base class: subclasses implement ``apply(batch)`` on a 4-D ``(N, C, H, W)`` numpy
    array and return a new array; ``__call__`` accepts one image or a batch, as a Tensor or
    an array, validates it, and gives back the same kind.

    >>> class Invert(Transform):
    ...     def apply(self, batch):
    ...         return 1.0 - batch
    >>> Invert()(np.zeros((1, 2, 2))).tolist()
    [[[1.0, 1.0], [1.0, 1.0]]]
    """

    def apply(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must define apply(batch)")

    def __call__(self, x):
        batch, single = _as_images(x, type(self).__name__)
        return _like_input(x, self.apply(batch), single)


class Compose(Transform):
    """Apply ``transforms`` in order: ``Compose([ToDtype(tt.float32, scale=True),
    Normalize(mean, std)])``. Items may be transforms of this module (run on the array, one
    Tensor at the end) or any callable taking and returning an array of images.

    >>> import tinytorch as tt
    >>> c = Compose([ToDtype(tt.float32, scale=True), Normalize(0.5, 0.5)])
    >>> c(tt.tensor([[[0, 255]]], dtype=tt.uint8)).tolist()
    [[[-1.0, 1.0]]]
    """

    def __init__(self, transforms):
        if not isinstance(transforms, (list, tuple)):
            raise TypeError(f"Compose() takes a list of transforms, got "
                            f"{type(transforms).__name__}")
        for i, t in enumerate(transforms):
            if isinstance(t, type):
                raise TypeError(f"Compose(): item {i} is the class {t.__name__}, not a "
                                f"transform\nhint: make one first, e.g. {t.__name__}(...)")
            if not callable(t):
                raise TypeError(f"Compose(): item {i} is a {type(t).__name__}, which is not "
                                "callable\nhint: pass transform objects such as "
                                "Normalize(mean, std)")
        self.transforms = list(transforms)

    def apply(self, batch: np.ndarray) -> np.ndarray:
        for t in self.transforms:
            batch = t.apply(batch) if isinstance(t, Transform) else t(batch)
        return batch

    def __call__(self, x):
        batch, single = _as_images(x, "Compose")
        return _like_input(x, self.apply(batch), single)

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToDtype(Transform):
    """Convert images to a float dtype; with ``scale=True``, uint8 pixels 0..255 become
    ``[0, 1]`` (divided by 255), as torchvision's ``ToDtype(..., scale=True)``. Unlike
    torchvision's ``ToTensor`` there is no HWC-to-CHW transpose: the data sets here store
    CHW already.

    >>> import tinytorch as tt
    >>> ToDtype(tt.float64, scale=True)(np.array([[[0, 51, 255]]], np.uint8)).tolist()
    [[[0.0, 0.2, 1.0]]]
    """

    def __init__(self, dtype=dt.float32, scale: bool = False):
        dtype = dt.as_dtype(dtype)
        if dtype.np not in _FLOAT_NP:
            raise ValueError(f"ToDtype(): converts images to float32 or float64, got {dtype}")
        if not isinstance(scale, (bool, np.bool_)):
            raise TypeError(f"ToDtype(): scale must be True or False, got {scale!r}")
        self.dtype = dtype
        self.scale = bool(scale)

    def apply(self, batch: np.ndarray) -> np.ndarray:
        if self.scale and batch.dtype != np.uint8:
            raise TypeError(f"ToDtype(scale=True): scaling maps uint8 pixels 0..255 to "
                            f"[0, 1]; the images are {batch.dtype}\nhint: scale=False for "
                            "a plain cast")
        if batch.dtype.kind not in "uif":
            raise TypeError(f"ToDtype(): cannot convert {batch.dtype} images to {self.dtype}")
        n = batch.shape[0]
        shape_2d = (n, batch[0].size if n else 0)  # (N, C*H*W); explicit, as N may be 0
        out = np.empty(batch.shape, self.dtype.np)
        dispatch.call("to_dtype_forward", out.reshape(shape_2d), batch.reshape(shape_2d),
                      divisor=255.0 if self.scale else 1.0)
        return out

    def __repr__(self) -> str:
        return f"ToDtype({self.dtype}, scale={self.scale})"


def _channel_values(values, name: str) -> np.ndarray:
    if isinstance(values, numbers.Real) and not isinstance(values, bool):
        values = [values]
    if isinstance(values, Tensor):
        values = values.tolist()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"Normalize(): {name} must be a number or a sequence of numbers (one "
                        f"per channel), got {values!r}") from None
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"Normalize(): {name} must be a number or a flat sequence with one "
                         f"value per channel, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"Normalize(): {name} must be finite, got {arr.tolist()}")
    return arr


class Normalize(Transform):
    """``(x - mean[c]) / std[c]`` per channel, as torchvision's ``Normalize``; ``mean`` and
    ``std`` are numbers (every channel) or one value per channel. Float images only.

    >>> Normalize([0.5, 0.0], [0.5, 2.0])(np.ones((2, 1, 1), np.float32)).ravel().tolist()
    [1.0, 0.5]
    """

    def __init__(self, mean, std):
        self.mean = _channel_values(mean, "mean")
        self.std = _channel_values(std, "std")
        if (self.std == 0).any():
            raise ValueError(f"Normalize(): std must be nonzero in every channel, got "
                             f"{self.std.tolist()} (dividing by 0 gives inf)")
        # per-dtype copies of (mean, std), made once, not on every batch
        self._cast: dict = {}

    def apply(self, batch: np.ndarray) -> np.ndarray:
        if batch.dtype not in _FLOAT_NP:
            raise TypeError(f"Normalize(): needs float images, got {batch.dtype}\nhint: put "
                            "ToDtype(tt.float32, scale=True) before it")
        n, c, height, width = batch.shape
        for name, values in (("mean", self.mean), ("std", self.std)):
            if values.size not in (1, c):
                raise ValueError(f"Normalize(): {name} has {values.size} values but the "
                                 f"images have {c} channels (shape {batch.shape})")
        key = (batch.dtype, c)
        cast = self._cast.get(key)
        if cast is None:
            cast = self._cast[key] = tuple(np.ascontiguousarray(np.broadcast_to(v, (c,)),
                                                                batch.dtype)
                                           for v in (self.mean, self.std))
        out = np.empty(batch.shape, batch.dtype)
        shape_3d = (n, c, height * width)
        dispatch.call("normalize_forward", out.reshape(shape_3d), batch.reshape(shape_3d),
                      *cast)
        return out

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def _check_int(value, who: str, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low:
        raise ValueError(f"{who}: {name} must be >= {low}, got {value}")
    return int(value)


class RandomCrop(Transform):
    """Pad every side by ``padding`` pixels of ``fill``, then cut a ``size`` window at a
    random place, a new place for every image (torchvision's ``RandomCrop`` with
    ``padding_mode="constant"``). ``size`` is an int (square) or ``(h, w)``. The padded
    image is never built: the kernel reads ``fill`` wherever the window leaves the image.

    >>> crop = RandomCrop(2, padding=1, generator=0)
    >>> crop(np.ones((3, 1, 2, 2), np.float32)).shape
    (3, 1, 2, 2)
    """

    def __init__(self, size, padding: int = 0, fill=0, generator=None):
        if isinstance(size, (tuple, list)):
            if len(size) != 2:
                raise ValueError(f"RandomCrop(): size must be an int or (height, width), "
                                 f"got {size!r}")
            h, w = (_check_int(s, "RandomCrop()", "size", 1) for s in size)
        else:
            h = w = _check_int(size, "RandomCrop()", "size", 1)
        self.size = (h, w)
        self.padding = _check_int(padding, "RandomCrop()", "padding", 0)
        if isinstance(fill, bool) or not isinstance(fill, numbers.Real):
            raise TypeError(f"RandomCrop(): fill must be a number, got {fill!r}")
        self.fill = fill
        self.generator = make_generator(generator, "RandomCrop()")

    def apply(self, batch: np.ndarray) -> np.ndarray:
        n, c, height, width = batch.shape
        h, w = self.size
        p = self.padding
        if h > height + 2 * p or w > width + 2 * p:
            raise ValueError(f"RandomCrop(size={self.size}, padding={p}): the crop is larger "
                             f"than the padded image ({height}+{2 * p})x({width}+{2 * p}) of "
                             f"batch shape {batch.shape}\nhint: a smaller size or more "
                             "padding")
        try:
            fill = batch.dtype.type(self.fill)
        except (OverflowError, ValueError):
            raise ValueError(f"RandomCrop(): fill={self.fill!r} does not fit in "
                             f"{batch.dtype} images") from None
        if batch.dtype.kind in "iu" and fill != self.fill:
            raise ValueError(f"RandomCrop(): fill={self.fill!r} is not a {batch.dtype} value")
        # one uniform pair per image, in image order (see the module docstring): the corner
        # of the window in padded coordinates, shifted into the image's coordinates
        u = self.generator.random((n, 2))
        offsets = np.empty((n, 2), np.int64)
        offsets[:, 0] = (u[:, 0] * (height + 2 * p - h + 1)).astype(np.int64) - p
        offsets[:, 1] = (u[:, 1] * (width + 2 * p - w + 1)).astype(np.int64) - p
        out = np.empty((n, c, h, w), batch.dtype)
        dispatch.call("crop_forward", out, batch, offsets, fill=fill)
        return out

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding}, fill={self.fill})"


class RandomHorizontalFlip(Transform):
    """Mirror each image left to right with probability ``p`` (a new coin per image).

    >>> flip = RandomHorizontalFlip(p=1.0)
    >>> flip(np.array([[[1, 2, 3]]])).tolist()
    [[[3, 2, 1]]]
    """

    def __init__(self, p: float = 0.5, generator=None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real):
            raise TypeError(f"RandomHorizontalFlip(): p must be a number, got {p!r}")
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip(): p is a probability in [0, 1], got {p}")
        self.p = float(p)
        self.generator = make_generator(generator, "RandomHorizontalFlip()")

    def apply(self, batch: np.ndarray) -> np.ndarray:
        flip = self.generator.random(batch.shape[0]) < self.p
        out = np.empty(batch.shape, batch.dtype)
        dispatch.call("hflip_forward", out, batch, flip)
        return out

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
