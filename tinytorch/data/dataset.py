"""``Dataset``, the indexable collection of samples, and ``TensorDataset``.

A data set answers two questions: how many samples (``len``) and what sample ``i`` is
(``ds[i]``). Batching, shuffling and prefetching belong to a loader built on top of these
two calls.

>>> import tinytorch as tt
>>> ds = TensorDataset(tt.arange(6.0).reshape(3, 2), tt.tensor([0, 1, 0]))
>>> len(ds), [t.tolist() for t in ds[1]]
(3, [[2.0, 3.0], 1])
"""

from __future__ import annotations

from tinytorch.tensor import Tensor

__all__ = ["Dataset", "TensorDataset"]


class Dataset:
    """Base class: subclasses define ``__getitem__(i)`` and ``__len__()``.

    >>> class Squares(Dataset):
    ...     def __len__(self):
    ...         return 4
    ...     def __getitem__(self, i):
    ...         return i * i
    >>> [Squares()[i] for i in range(len(Squares()))]
    [0, 1, 4, 9]
    """

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")


class TensorDataset(Dataset):
    """Samples are the rows of tensors that share their first dimension: ``ds[i]`` is
    ``(t0[i], t1[i], ...)``, views that copy nothing.

    >>> import tinytorch as tt
    >>> x, y = tt.zeros(4, 3), tt.tensor([1, 2, 3, 4])
    >>> ds = TensorDataset(x, y)
    >>> ds[-1][1].item(), ds[0][0].shape
    (4, (3,))
    """

    def __init__(self, *tensors: Tensor):
        if not tensors:
            raise ValueError("TensorDataset() needs at least one tensor")
        for i, t in enumerate(tensors):
            if not isinstance(t, Tensor):
                raise TypeError(f"TensorDataset(): argument {i} is a {type(t).__name__}, "
                                "not a Tensor\nhint: wrap data with tt.tensor(...)")
            if t.ndim == 0:
                raise ValueError(f"TensorDataset(): argument {i} is 0-d; samples are taken "
                                 "along the first dimension")
        n = tensors[0].shape[0]
        for i, t in enumerate(tensors):
            if t.shape[0] != n:
                shapes = ", ".join(str(x.shape) for x in tensors)
                raise ValueError(f"TensorDataset(): every tensor needs the same first "
                                 f"dimension; tensor 0 has {n} rows, tensor {i} has "
                                 f"{t.shape[0]} (shapes {shapes})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]
