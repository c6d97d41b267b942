"""``DataLoader``: batches of a data set, in order or shuffled, optionally prefetched by a
background thread (module 05). PyTorch's names and meanings, one process, no workers.

Three ideas carry the lesson (``docs/data.md``):

1. **The fast path.** A data set that exposes its samples as whole tensors (``.tensors``,
   a tuple or a method returning one: ``TensorDataset``, ``Digits``, ``MNIST``, ...) is
   batched with one numpy fancy index per tensor, not ``batch_size`` calls of
   ``ds[i]`` and a stack. A data set may add ``transform_batch(arrays) -> arrays``, which
   turns the gathered rows into what ``ds[i]`` would have given, for a whole batch at once
   (uint8 pixels to floats, then its transform). A ``collate_fn`` of your own, or a
   subclass that overrides ``__getitem__``, takes the per-item path instead: both paths give
   equal batches.
2. **Its own random stream.** ``shuffle=True`` draws each epoch's order from the loader's own
   ``numpy.random.Generator`` (``generator=`` a seed or a Generator; by default a child
   spawned from the global generator's seed sequence, reproducible after ``tt.manual_seed``),
   so shuffling never moves the model's random stream: the same seed gives the same
   initialisation and dropout masks with or without shuffling.
3. **Prefetch.** ``prefetch=N`` builds batches in a background thread, at most ``N`` ahead,
   while the main thread trains: loading overlaps compute wherever the loading code lets go
   of the interpreter lock (numpy copies, file reads, the ``nogil`` transform kernels).
   Errors in the thread are raised in the loop that consumes the batches; a loop that stops
   early (``break``, an exception) stops the thread.

>>> import tinytorch as tt
>>> from tinytorch.data import DataLoader, TensorDataset
>>> ds = TensorDataset(tt.arange(10.0).reshape(5, 2), tt.tensor([0, 1, 0, 1, 1]))
>>> loader = DataLoader(ds, batch_size=2)
>>> len(loader), [y.tolist() for _, y in loader]
(3, [[0, 1], [0, 1], [1]])
>>> [y.shape[0] for _, y in DataLoader(ds, batch_size=2, shuffle=True, drop_last=True,
...                                    generator=0)]
[2, 2]
"""

from __future__ import annotations

import contextvars
import itertools
import math
import numbers
import queue
import threading
import weakref
from collections.abc import Iterable, Mapping

import numpy as np

from tinytorch.data.dataset import TensorDataset
from tinytorch.data.transforms import make_generator
from tinytorch.tensor import Tensor

__all__ = ["DataLoader", "Sampler", "SequentialSampler", "RandomSampler", "default_collate"]


# --- samplers ---------------------------------------------------------------------------


def _dataset_len(data_source, who: str) -> int:
    try:
        n = len(data_source)
    except TypeError:
        raise TypeError(f"{who}: the data set ({type(data_source).__name__}) has no len(); "
                        "map-style data sets define __len__ and __getitem__") from None
    return n


class Sampler:
    """Base class of the index orders: iterate to get the indices of one epoch. Any
    iterable of ints works as a ``DataLoader(sampler=...)``; subclasses of this class may
    also offer ``epoch_indices()``, the whole epoch as one int64 array, which the loader
    slices instead of iterating.

    >>> list(SequentialSampler(range(3)))
    [0, 1, 2]
    """

    def epoch_indices(self) -> np.ndarray:
        raise NotImplementedError

    def __iter__(self):
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        raise NotImplementedError


class SequentialSampler(Sampler):
    """``0, 1, ..., len(data_source) - 1``, every epoch.

    >>> SequentialSampler([7, 8]).epoch_indices().tolist()
    [0, 1]
    """

    def __init__(self, data_source):
        self.data_source = data_source
        _dataset_len(data_source, "SequentialSampler()")

    def epoch_indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices, a new one per epoch, from its own generator
    (``generator``: a seed, a ``numpy.random.Generator``, or ``None`` for a child of the
    global generator's seed sequence). ``replacement=True`` draws ``num_samples`` indices
    with repetition, as PyTorch.

    >>> s = RandomSampler(range(5), generator=0)
    >>> sorted(s) == [0, 1, 2, 3, 4], list(s) == list(RandomSampler(range(5), generator=0))
    (True, False)
    """

    def __init__(self, data_source, replacement: bool = False, num_samples=None,
                 generator=None):
        self.data_source = data_source
        _dataset_len(data_source, "RandomSampler()")
        if not isinstance(replacement, (bool, np.bool_)):
            raise TypeError(f"RandomSampler(): replacement must be True or False, got "
                            f"{replacement!r}")
        if num_samples is not None:
            if isinstance(num_samples, bool) or not isinstance(num_samples, numbers.Integral):
                raise TypeError(f"RandomSampler(): num_samples must be an int, got "
                                f"{num_samples!r}")
            if num_samples < 1:
                raise ValueError(f"RandomSampler(): num_samples must be >= 1, got "
                                 f"{num_samples}")
            if not replacement and num_samples > len(data_source):
                raise ValueError(f"RandomSampler(): num_samples={num_samples} is more than "
                                 f"the {len(data_source)} samples, without replacement\n"
                                 "hint: replacement=True")
        self.replacement = bool(replacement)
        self._num_samples = None if num_samples is None else int(num_samples)
        self.generator = make_generator(generator, "RandomSampler()")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def epoch_indices(self) -> np.ndarray:
        n = len(self.data_source)
        if self.replacement:
            return self.generator.integers(0, n, self.num_samples, dtype=np.int64)
        order = self.generator.permutation(n)
        return order if self._num_samples is None else order[:self._num_samples]

    def __len__(self) -> int:
        return self.num_samples


# --- collation --------------------------------------------------------------------------


def default_collate(batch: list):
    """Stack a list of samples into a batch, field by field: tensors and numpy arrays are
    stacked into one tensor (their dtype kept), Python ints become an int64 tensor, floats
    float64 and bools bool (as PyTorch); tuples and lists of fields give a tuple or list of
    batches, dicts a dict; strings stay a list.

    >>> import tinytorch as tt
    >>> x, y = default_collate([(tt.zeros(2), 3), (tt.ones(2), 4)])
    >>> x.shape, y.dtype, y.tolist()
    ((2, 2), tinytorch.int64, [3, 4])
    """
    if not isinstance(batch, (list, tuple)):
        raise TypeError(f"default_collate(): needs a list of samples, got "
                        f"{type(batch).__name__}")
    if not batch:
        raise ValueError("default_collate(): needs at least one sample, got an empty list")
    first = batch[0]
    if isinstance(first, Tensor):
        return Tensor(_stack([t._data for t in batch], "tensors"))
    if isinstance(first, np.ndarray):
        return Tensor(_stack(batch, "arrays"))
    if isinstance(first, (bool, np.bool_)):
        return Tensor(np.array(batch, dtype=np.bool_))
    if isinstance(first, (int, np.integer)):
        return Tensor(np.array(batch, dtype=np.int64))
    if isinstance(first, (float, np.floating)):
        return Tensor(np.array(batch, dtype=np.float64))
    if isinstance(first, (str, bytes)):
        return list(batch)
    if isinstance(first, Mapping):
        return {key: default_collate([sample[key] for sample in batch]) for key in first}
    if isinstance(first, (tuple, list)):
        size = len(first)
        for i, sample in enumerate(batch):
            if not isinstance(sample, (tuple, list)) or len(sample) != size:
                raise ValueError(f"default_collate(): sample 0 has {size} fields but sample "
                                 f"{i} is {type(sample).__name__} {_short(sample)}; every "
                                 "sample of a batch needs the same structure")
        fields = [default_collate(list(column)) for column in zip(*batch, strict=True)]
        return tuple(fields) if isinstance(first, tuple) else fields
    raise TypeError(f"default_collate(): cannot batch samples of type {type(first).__name__}"
                    "\nhint: return tensors, numpy arrays, numbers, tuples or dicts of them "
                    "from __getitem__, or pass collate_fn=...")


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _stack(arrays, what: str) -> np.ndarray:
    shape = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != shape:
            raise ValueError(f"default_collate(): cannot stack {what} of different shapes: "
                             f"sample 0 has {shape}, sample {i} has {a.shape}\nhint: "
                             "resize or crop to one shape in the data set's transform")
    return np.stack(arrays)


# --- the loader -------------------------------------------------------------------------


def _fast_tensors(dataset) -> tuple[np.ndarray, ...] | None:
    """The arrays of a data set's ``.tensors``, if it has them and its ``ds[i]`` is their
    row ``i`` (transformed by ``transform_batch`` if it has one); else None."""
    tensors = getattr(dataset, "tensors", None)
    if tensors is None:
        return None
    cls = type(dataset)
    getitem_owner = next((c for c in cls.__mro__ if "__getitem__" in vars(c)), None)
    tensors_owner = next((c for c in cls.__mro__ if "tensors" in vars(c)), None)
    # a subclass that overrides __getitem__ (say, to augment) must keep its own meaning
    if getitem_owner is not TensorDataset and getitem_owner is not tensors_owner:
        return None
    if callable(tensors):
        tensors = tensors()
    if not isinstance(tensors, (tuple, list)) or not tensors:
        raise TypeError(f"DataLoader(): {cls.__name__}.tensors must be a non-empty tuple of "
                        f"tensors, got {type(tensors).__name__}")
    n = len(dataset)
    arrays = []
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"DataLoader(): {cls.__name__}.tensors item {i} is a "
                            f"{type(t).__name__}, not a Tensor")
        if t.ndim == 0 or t.shape[0] != n:
            raise ValueError(f"DataLoader(): {cls.__name__}.tensors item {i} has shape "
                             f"{t.shape}, but the data set has {n} samples; every tensor "
                             "needs one row per sample")
        arrays.append(t._data)
    return tuple(arrays)


def _check_flag(value, name: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"DataLoader(): {name} must be True or False, got "
                        f"{type(value).__name__} {value!r}")
    return bool(value)


class DataLoader:
    """Iterate over ``dataset`` in batches: ``for x, y in DataLoader(ds, batch_size=32,
    shuffle=True): ...``; every ``iter()`` is a new epoch.

    - ``batch_size``: samples per batch; the last batch is smaller unless ``drop_last``.
    - ``shuffle``: a new random order each epoch, from the loader's own generator.
    - ``sampler``: any iterable of indices (or a ``Sampler``) instead; not with ``shuffle``.
    - ``collate_fn``: turns a list of samples into a batch (default: ``default_collate``);
      giving one takes the per-item path.
    - ``generator``: the shuffle's seed or ``numpy.random.Generator`` (default: a child of
      the global generator's seed sequence).
    - ``prefetch``: build up to this many batches ahead in a background thread (0: none).

    >>> import tinytorch as tt
    >>> from tinytorch.data import DataLoader
    >>> from tinytorch.data.datasets import Digits
    >>> loader = DataLoader(Digits("test"), batch_size=64, shuffle=True, generator=0, prefetch=2)
    >>> x, y = next(iter(loader))
    >>> len(loader), x.shape, y.dtype
    (6, (64, 1, 8, 8), tinytorch.int64)
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, sampler=None,
                 drop_last: bool = False, collate_fn=None, generator=None, prefetch: int = 0):
        if not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader(): the data set must support ds[i] (__getitem__); "
                            f"got {type(dataset).__name__}")
        n = _dataset_len(dataset, "DataLoader()")
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"DataLoader(): batch_size must be an int, got "
                            f"{type(batch_size).__name__} {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader(): batch_size must be >= 1, got {batch_size}")
        shuffle = _check_flag(shuffle, "shuffle")
        drop_last = _check_flag(drop_last, "drop_last")
        if isinstance(prefetch, bool) or not isinstance(prefetch, numbers.Integral):
            raise TypeError(f"DataLoader(): prefetch must be an int (batches to build ahead), "
                            f"got {type(prefetch).__name__} {prefetch!r}")
        if prefetch < 0:
            raise ValueError(f"DataLoader(): prefetch must be >= 0 (0 turns it off), got "
                             f"{prefetch}")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader(): collate_fn must be callable, got "
                            f"{type(collate_fn).__name__}")
        if sampler is not None:
            if shuffle:
                raise ValueError("DataLoader(): sampler and shuffle=True both choose the "
                                 "order; give one\nhint: RandomSampler(ds) as the sampler "
                                 "shuffles")
            if isinstance(sampler, (str, bytes, Mapping)) or not isinstance(sampler, Iterable):
                raise TypeError(f"DataLoader(): sampler must be an iterable of indices, got "
                                f"{type(sampler).__name__}")
            if generator is not None:
                raise ValueError("DataLoader(): generator seeds the shuffle; with a sampler, "
                                 "give the sampler its own generator")
        elif shuffle:
            sampler = RandomSampler(dataset, generator=make_generator(generator,
                                                                      "DataLoader()"))
        else:
            if generator is not None:
                make_generator(generator, "DataLoader()")  # still reject a wrong type
            sampler = SequentialSampler(dataset)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.sampler = sampler
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        self.prefetch = int(prefetch)
        self._n = n
        # the fast path: decided once, not per batch
        self._arrays = None if collate_fn is not None else _fast_tensors(dataset)
        self._transform_batch = getattr(dataset, "transform_batch", None)

    def __len__(self) -> int:
        """Batches per epoch (needs a sampler with ``len()``)."""
        try:
            n = len(self.sampler)
        except TypeError:
            raise TypeError(f"len(DataLoader): the sampler {type(self.sampler).__name__} has "
                            "no len()") from None
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def state_dict(self) -> dict:
        """The loader's random state, for a checkpoint: the shuffle generator's state (a
        JSON-safe dict; None without one). Saved between epochs and restored with
        ``load_state_dict``, the next epochs' orders are those of an uninterrupted run. (A
        random transform keeps its own generator: ``transform.generator``.)

        >>> import tinytorch as tt
        >>> ds = tt.data.TensorDataset(tt.arange(6.0))
        >>> a = DataLoader(ds, batch_size=3, shuffle=True, generator=0)
        >>> _ = list(a)
        >>> b = DataLoader(ds, batch_size=3, shuffle=True, generator=99)
        >>> b.load_state_dict(a.state_dict())
        >>> [x.tolist() for x, in a] == [x.tolist() for x, in b]
        True
        """
        generator = getattr(self.sampler, "generator", None)
        if not isinstance(generator, np.random.Generator):
            return {"sampler_generator": None}
        return {"sampler_generator": generator.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved (before starting the next epoch)."""
        if not isinstance(state, dict) or set(state) != {"sampler_generator"}:
            raise ValueError(f"DataLoader.load_state_dict(): expected a dict with the one key "
                             f"'sampler_generator' (from state_dict()), got {_short(state)}")
        saved = state["sampler_generator"]
        generator = getattr(self.sampler, "generator", None)
        if saved is None or not isinstance(generator, np.random.Generator):
            if saved is None and not isinstance(generator, np.random.Generator):
                return
            raise ValueError("DataLoader.load_state_dict(): the state was saved from a loader "
                             f"{'without' if saved is None else 'with'} a shuffle generator, "
                             f"this one has {'one' if saved is None else 'none'}")
        try:
            generator.bit_generator.state = saved
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(f"DataLoader.load_state_dict(): not a generator state of this "
                             f"loader's {type(generator.bit_generator).__name__} ({err})") from None

    def __iter__(self):
        # The epoch's order is drawn here, in the caller's thread, so a prefetching loader
        # gives the same batches as one that does not.
        sampler = self.sampler
        if (type(sampler) is SequentialSampler and sampler.data_source is self.dataset
                and self._arrays is not None):
            batches = self._sequential_fast(self._n)
        else:
            if isinstance(sampler, Sampler):
                indices = sampler.epoch_indices()
                if type(sampler) not in (SequentialSampler, RandomSampler):
                    indices = self._checked(indices, type(sampler).__name__)
                chunks = self._chunks_of_array(indices)
            else:
                chunks = self._chunks_of_iterable(iter(sampler))
            batches = (self._fast(chunks) if self._arrays is not None
                       else self._per_item(chunks))
        if self.prefetch:
            return _PrefetchIterator(batches, self.prefetch)
        return batches

    # -- index chunks ----------------------------------------------------------------------
    def _checked(self, indices, who: str) -> np.ndarray:
        """A sampler's whole-epoch indices, checked once per epoch (vectorised): the fast
        path's fancy index would silently wrap a negative index."""
        indices = np.asarray(indices)
        if indices.ndim != 1 or (indices.size and indices.dtype.kind not in "iu"):
            raise TypeError(f"DataLoader: {who}.epoch_indices() must give a 1-D array of "
                            f"ints, got {indices.dtype} of shape {indices.shape}")
        if indices.size and (indices.min() < 0 or indices.max() >= self._n):
            bad = indices[(indices < 0) | (indices >= self._n)][0]
            raise IndexError(f"DataLoader: the sampler {who} gave index {bad}, but the data "
                             f"set has {self._n} samples (0..{self._n - 1})")
        return indices.astype(np.int64, copy=False)

    def _chunks_of_array(self, indices: np.ndarray):
        bs, n = self.batch_size, len(indices)
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            yield indices[start:start + bs]

    def _chunks_of_iterable(self, it):
        bs, n = self.batch_size, self._n
        while True:
            chunk = list(itertools.islice(it, bs))
            if not chunk or (self.drop_last and len(chunk) < bs):
                return
            for i in chunk:
                if isinstance(i, bool) or not isinstance(i, numbers.Integral):
                    raise TypeError(f"DataLoader: the sampler gave {type(i).__name__} {i!r}; "
                                    "indices must be ints")
                if not 0 <= i < n:
                    raise IndexError(f"DataLoader: the sampler gave index {i}, but the data "
                                     f"set has {n} samples (0..{n - 1})")
            yield np.array(chunk, dtype=np.int64)

    # -- batches ---------------------------------------------------------------------------
    def _sequential_fast(self, n: int):
        """In order: each batch is a slice of every array, copied (the batch owns its data;
        ``np.array`` also turns a slice of a memory map into a plain in-memory array)."""
        arrays, transform, bs = self._arrays, self._transform_batch, self.batch_size
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            batch = [np.array(a[start:start + bs]) for a in arrays]
            if transform is not None:
                batch = transform(batch)
            yield tuple([Tensor(b) for b in batch])

    def _fast(self, chunks):
        """Any order: one fancy index per array gathers the batch's rows (a copy)."""
        arrays, transform = self._arrays, self._transform_batch
        for index in chunks:
            batch = [a[index] for a in arrays]
            if transform is not None:
                batch = transform(batch)
            yield tuple([Tensor(b) for b in batch])

    def _per_item(self, chunks):
        """The general path: ``ds[i]`` for each index, then ``collate_fn``."""
        dataset, collate = self.dataset, self.collate_fn or default_collate
        for index in chunks:
            yield collate([dataset[i] for i in index.tolist()])

    def __repr__(self) -> str:
        return (f"DataLoader({type(self.dataset).__name__} of {self._n}, batch_size="
                f"{self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last}, "
                f"prefetch={self.prefetch}, fast_path={self._arrays is not None})")


# --- prefetch ---------------------------------------------------------------------------

_DONE = object()


class _Failure:
    __slots__ = ("error",)

    def __init__(self, error: BaseException):
        self.error = error


def _produce(batches, out: queue.Queue, stop: threading.Event) -> None:
    """The prefetch thread: run the batch generator and put each batch into ``out``. It
    holds no reference to the iterator that owns it, so that iterator can be collected (and
    then stops this thread) as soon as the consumer drops it."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.05)  # wakes up to notice a stop request
                return True
            except queue.Full:
                continue
        return False

    try:
        for batch in batches:
            if not put(batch):
                return
        put(_DONE)
    except BaseException as error:  # noqa: BLE001 (re-raised in the consumer)
        put(_Failure(error))
    finally:
        batches.close()


def _shutdown(stop: threading.Event, q: queue.Queue, thread: threading.Thread) -> None:
    stop.set()
    try:  # unblock a put() waiting for room
        while True:
            q.get_nowait()
    except queue.Empty:
        pass
    if thread is not threading.current_thread():
        thread.join(timeout=5.0)


class _PrefetchIterator:
    """Batches built ahead by a daemon thread into a queue of at most ``depth`` batches.

    ``close()`` (also on garbage collection, ``with``, or the end of the epoch) stops and
    joins the thread; an exception raised while building a batch is raised again here, in
    the consumer, with its original traceback."""

    def __init__(self, batches, depth: int):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        # the thread runs in a copy of the caller's context: `with tt.backend(...)` is a
        # context variable, and the transforms must use the caller's backend
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run,
                                        args=(_produce, batches, self._queue, self._stop),
                                        name="tinytorch-prefetch", daemon=True)
        self._finalizer = weakref.finalize(self, _shutdown, self._stop, self._queue,
                                           self._thread)
        self._thread.start()
        self._finished = False

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        while True:
            try:
                item = self._queue.get(timeout=0.1)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    self.close()
                    raise RuntimeError("DataLoader: the prefetch thread stopped without "
                                       "finishing the epoch") from None
        if item is _DONE:
            self.close()
            raise StopIteration
        if isinstance(item, _Failure):
            self.close()
            error = item.error
            if hasattr(error, "add_note"):
                error.add_note("(raised while building a batch in the DataLoader prefetch "
                               "thread)")
            raise error
        return item

    def close(self) -> None:
        """Stop the prefetch thread and wait for it; the iterator then ends."""
        self._finished = True
        self._finalizer()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
