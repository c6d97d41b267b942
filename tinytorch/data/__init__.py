"""Data sets and loading (module 05); the embedded digits live here.

``Dataset`` is the interface (``len(ds)`` and ``ds[i]``), ``TensorDataset`` serves the rows
of tensors, and ``datasets.Digits`` is the UCI 8x8 handwritten digits, shipped inside the
package (``DIGITS.md`` tells where it comes from).

>>> import tinytorch as tt
>>> images, labels = tt.data.datasets.Digits("train").tensors()
>>> ds = tt.data.TensorDataset(images, labels)
>>> len(ds), ds[0][0].shape
(1438, (1, 8, 8))
"""

from tinytorch.data import datasets, download, transforms
from tinytorch.data.dataset import Dataset, TensorDataset
from tinytorch.data.loader import (
    DataLoader,
    RandomSampler,
    Sampler,
    SequentialSampler,
    default_collate,
)
from tinytorch.data.vision import CIFAR10, MNIST, FashionMNIST

__all__ = ["Dataset", "TensorDataset", "datasets", "DataLoader", "Sampler", "SequentialSampler",
           "RandomSampler", "default_collate", "transforms", "download", "MNIST",
           "FashionMNIST", "CIFAR10"]
