"""Data sets shipped inside the package: ``Digits``, the UCI 8x8 handwritten digits.

``digits.npz`` (about 49 KB, built by ``scripts/make_digits.py``; provenance, licence and
checksum in ``DIGITS.md`` next to it) holds 1,797 images of 8x8 pixel counts 0..16, their
labels 0..9, and a fixed stratified train/test split (1,438 / 359 images, about 80/20 in
every class). It is read with ``np.load(..., allow_pickle=False)`` after its sha256 has been
checked: no network, no pickle, no scikit-learn.

>>> from tinytorch.data.datasets import Digits
>>> train = Digits("train")
>>> len(train), train[0][0].shape, train.classes[:3]
(1438, (1, 8, 8), ['0', '1', '2'])
"""

from __future__ import annotations

import hashlib
import io
from importlib import resources
from pathlib import Path

import numpy as np

from tinytorch.data.dataset import Dataset
from tinytorch.data.vision import CIFAR10, MNIST, FashionMNIST  # noqa: F401 (downloadable ones)
from tinytorch.tensor import Tensor

__all__ = ["Digits", "DIGITS_SHA256"]

# sha256 of tinytorch/data/digits.npz as scripts/make_digits.py writes it (byte-reproducible)
DIGITS_SHA256 = "358352f751c13603a34116a54681b0256ab051479ed476990208464649776dc7"
SPLITS = ("train", "test")


def _load_digits(path=None) -> dict[str, np.ndarray]:
    """The arrays of ``digits.npz`` (the packaged file, or a copy at ``path``) after checking
    its sha256: a truncated or altered file is an error, not silently wrong data."""
    if path is None:
        where = "the packaged tinytorch/data/digits.npz"
        data = resources.files("tinytorch.data").joinpath("digits.npz").read_bytes()
    else:
        where = str(path)
        data = Path(path).read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != DIGITS_SHA256:
        raise ValueError(f"{where} is corrupt: its sha256 is {digest}, expected "
                         f"{DIGITS_SHA256} ({len(data)} bytes read)\nhint: reinstall "
                         "tinytorch, or rebuild the file with scripts/make_digits.py "
                         "(see tinytorch/data/DIGITS.md)")
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


class Digits(Dataset):
    """The UCI handwritten digits: ``Digits(split="train" | "test", flatten=False)``.

    ``ds[i]`` is ``(image, label)``: a float32 tensor of pixel values scaled to ``[0, 1]``
    (count / 16) shaped ``(1, 8, 8)`` (channels, height, width), or ``(64,)`` with
    ``flatten=True``, and the digit as an int. ``ds.tensors()`` gives the whole split as two
    tensors, for batching by slicing. ``path`` reads a copy of ``digits.npz`` from elsewhere;
    it must match the same checksum.

    >>> from tinytorch.data.datasets import Digits
    >>> test = Digits("test", flatten=True)
    >>> images, labels = test.tensors()
    >>> images.shape, images.dtype, labels.dtype, 0.0 <= images.min().item() <= 1.0
    ((359, 64), tinytorch.float32, tinytorch.int64, True)
    """

    classes = [str(d) for d in range(10)]

    def __init__(self, split: str = "train", flatten: bool = False, *, path=None):
        if not isinstance(split, str):
            raise TypeError(f"Digits(): split must be a string, one of {list(SPLITS)}, got "
                            f"{type(split).__name__} {split!r}")
        if split not in SPLITS:
            raise ValueError(f"Digits(): unknown split {split!r}; allowed: "
                             f"{', '.join(repr(s) for s in SPLITS)}")
        if not isinstance(flatten, (bool, np.bool_)):
            raise TypeError(f"Digits(): flatten must be True or False, got {flatten!r}")
        arrays = _load_digits(path)
        index = arrays[f"{split}_idx"]
        shape = (len(index), 64) if flatten else (len(index), 1, 8, 8)
        # uint8 counts 0..16 to float32 in [0, 1]: one vectorised pass at load time
        pixels = arrays["images"][index].reshape(shape).astype(np.float32) / np.float32(16)
        self.split = split
        self.flatten = bool(flatten)
        self._labels = arrays["labels"][index]
        self._images = Tensor(pixels)
        self._targets = Tensor(self._labels.copy())

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Digits indices must be integers, got {type(index).__name__}")
        n = len(self._labels)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for the {self.split} split "
                             f"({n} images)")
        return self._images[int(index)], int(self._labels[index])

    def tensors(self) -> tuple[Tensor, Tensor]:
        """``(images, labels)``: all images as one float32 tensor (``(N, 1, 8, 8)`` or
        ``(N, 64)``) and the labels as int64 ``(N,)``. They are the data set's own tensors,
        not copies: slice them for batches, and clone before writing into them."""
        return self._images, self._targets

    def __repr__(self) -> str:
        shape = "x".join(map(str, self._images.shape[1:]))
        return (f"Digits(split={self.split!r}, {len(self)} images of {shape}, "
                f"{len(self.classes)} classes)")
