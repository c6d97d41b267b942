# %% [markdown]
# # Lab 05: data: I/O pipelines, batching, shuffling, prefetch, preprocessing kernels
#
# Before a training step can run, its batch must exist: an order of the samples is drawn,
# cut into batches, each batch's samples are gathered and stacked into one array, the
# pixels are preprocessed, and all of it should be ready *before* the step asks for it.
#
# ```
# storage ── order (shuffle) ── batch indices ── gather + stack ── transform ── [queue] ── step
#              batch_indices                        collate     normalize_forward  PrefetchIterator
# ```
#
# You write each stage yourself, then measure it against tinytorch's `DataLoader`
# (`tinytorch/data/loader.py`, `docs/data.md`) and its compiled transform kernels
# (`kernels/transforms.py`), and finally train the digits MLP on your own normalisation
# kernel.
#
# **Systems questions**:
#
# 1. How many bytes is one batch: 32 digits (`1x8x8` float32) with int64 labels, 32
#    CIFAR-10 images (`3x32x32`) as uint8 and as float32, 256 ImageNet crops (`3x224x224`)
#    in float32? At a step time of 300 us, what bandwidth must the loader sustain?
# 2. Where does a loader's time go? Compare `ds[i]` for each sample plus a stack (one Python
#    call, one tensor and one tuple *per sample*) with one numpy fancy index per tensor
#    (`images[batch]`): which cost grows with the number of samples, which with the bytes?
#    What share of a training step is each?
# 3. Why draw each epoch's order once, as a permutation, from a generator of its own? What
#    goes wrong when the indices are drawn *with replacement* (`rng.choice(n, n)`)?
# 4. A background thread prefetches the next batch while the step runs. What can it hide:
#    a file read, `time.sleep`, a numba kernel compiled with `nogil=True`, a Python loop?
#    Why does the interpreter lock (the GIL) decide? When would you need processes
#    (PyTorch's `num_workers`), and what do they cost instead?
# 5. How much memory does a prefetch depth of `d` keep alive (the queue, the batch being
#    built, the batch being trained on)? Why must the queue be bounded?
#
# Fill in each `TODO`, run `python lab05_data.py` for the experiments and
# `tinytorch grade 05` to check.

# %%
import builtins
import contextvars  # noqa: F401 (for PrefetchIterator: see section 4)
import math
import queue  # noqa: F401 (for PrefetchIterator)
import threading  # noqa: F401 (for PrefetchIterator)
import time
import warnings

import numba
import numpy as np

import tinytorch as tt
from tinytorch.data import DataLoader, TensorDataset, default_collate
from tinytorch.data import transforms as T
from tinytorch.data.datasets import Digits
from tinytorch.examples.mlp_digits import build_mlp, step_breakdown
from tinytorch.nn import functional as F

# `kernprof -l -v lab05_data.py` puts a `profile` decorator into builtins; without
# kernprof the decorator does nothing.
profile = getattr(builtins, "profile", lambda fn: fn)


# %% [markdown]
# ## 1. The batches of one epoch
#
# An epoch visits every sample once. In order, the batches are `[0, B)`, `[B, 2B)`, ...;
# shuffled, draw **one** permutation of `0..n-1` for the whole epoch, `rng.permutation(n)`,
# and cut it the same way. The last batch holds the `n % B` samples left over, unless
# `drop_last` drops it (every step then sees exactly `B` samples).
#
# tinytorch's `DataLoader(ds, batch_size, shuffle=True, drop_last=..., generator=rng)`
# draws its order exactly this way (`RandomSampler.epoch_indices`), so for the same
# generator state your batches must be the loader's. Calling `batch_indices` again with the
# same `rng` is the next epoch: a new order.


# %%
def batch_indices(n: int, batch_size: int, drop_last: bool = False, rng=None) -> list:
    """The index arrays of one epoch over ``n`` samples: a list of 1-D int64 arrays of
    ``batch_size`` indices (the last one shorter unless ``drop_last``); in order when
    ``rng`` is None, else in the order ``rng.permutation(n)`` (a numpy ``Generator``).

    >>> [b.tolist() for b in batch_indices(5, 2)]
    [[0, 1], [2, 3], [4]]
    >>> [b.tolist() for b in batch_indices(5, 2, drop_last=True)]
    [[0, 1], [2, 3]]
    >>> sorted(np.concatenate(batch_indices(5, 2, rng=np.random.default_rng(0))).tolist())
    [0, 1, 2, 3, 4]
    """
    # TODO: the order (np.arange or one rng.permutation), then slices of batch_size
    raise NotImplementedError("TODO: implement batch_indices")


# %% [markdown]
# ## 2. Collate: a list of samples into one batch
#
# The general way to build a batch: call `ds[i]` for each index, which gives a pair
# `(image, label)`, then *collate* the list of pairs into two arrays. Allocate the batch
# once, `np.empty((N, *image.shape), image.dtype)`, and copy each image into its row
# (that is what `np.stack` does; a list grown by appending and converted at the end
# copies everything twice). Images may be numpy arrays or tinytorch Tensors
# (`tensor.numpy()` is the array behind one); labels are ints. Keep the images' dtype;
# labels become int64, the class indices that `cross_entropy` expects.
#
# A batch needs one shape: raise `ValueError` for an empty list, and for an image whose
# shape differs from the first one's, naming the sample and both shapes, e.g.
# `sample 3 has shape (1, 9, 9), sample 0 has (1, 8, 8)`.


# %%
@profile
def collate(samples: list) -> tuple:
    """``(images, labels)``: the images of ``samples`` (a list of ``(image, label)`` pairs,
    each image an array or a Tensor of one shape ``S``) stacked into an array ``(N, *S)`` of
    their dtype, and the labels as an int64 array ``(N,)``.

    >>> x, y = collate([(np.zeros((1, 2, 2), np.float32), 3), (np.ones((1, 2, 2), np.float32), 7)])
    >>> x.shape, x.dtype, y.tolist(), y.dtype
    ((2, 1, 2, 2), dtype('float32'), [3, 7], dtype('int64'))
    """
    # TODO: check the list; allocate (N, *shape) once; copy each image and label in
    raise NotImplementedError("TODO: implement collate")


# %% [markdown]
# ## 3. A preprocessing kernel: per-channel normalisation
#
# `Normalize(mean, std)` maps each pixel to `(x - mean[c]) / std[c]`, `c` its channel.
# tinytorch runs it as the kernel `normalize_forward(out, x, mean, std)` on arrays viewed
# as `(N, C, L)` (`L = H * W` pixels per channel), with `mean` and `std` of shape `(C,)`
# in the dtype of `x` (`kernels/transforms.py`). Write it as loops over numbers with
# that signature, outputs first: `out` arrives holding garbage (`np.empty`), so assign
# every element; return nothing. Inputs may be views with any strides: index them as
# `x[n, c, k]`. Then `numba.njit` compiles it and the dispatcher runs it as your backend.


# %%
@profile
def normalize_forward(out, x, mean, std):
    """``out[n, c, k] = (x[n, c, k] - mean[c]) / std[c]`` for ``out`` and ``x`` of shape
    ``(N, C, L)``, ``mean`` and ``std`` of shape ``(C,)``.

    >>> out = np.empty((1, 2, 2))
    >>> normalize_forward(out, np.ones((1, 2, 2)), np.array([0.5, 0.0]), np.array([0.5, 2.0]))
    >>> out.tolist()
    [[[1.0, 1.0], [0.5, 0.5]]]
    """
    # TODO: three loops, n, c, k; read mean[c] and std[c] once per channel
    raise NotImplementedError("TODO: implement normalize_forward")


# %% [markdown]
# ## 4. Prefetch: a background thread and a bounded queue
#
# `PrefetchIterator(iterable, depth)` iterates over `iterable` (a generator of batches,
# say) like a plain `for`, but a background thread produces the items *ahead*, into a
# `queue.Queue(maxsize=depth)`, while your loop works on the current one. The contract:
#
# - **Order**: items come out in the order the iterable gives them, every one of them.
# - **Bounded**: at most `depth` items wait in the queue; when it is full the thread waits
#   for room. `depth < 1` is a `ValueError` (`queue.Queue(maxsize=0)` would be unbounded).
# - **Errors**: an exception raised by the iterable in the thread must not vanish with the
#   thread: put it into the queue, and raise it in `__next__`, after the items before it.
# - **Shutdown**: when the iterable is exhausted, `__next__` raises `StopIteration`;
#   `close()` (also on leaving a `with` block) asks the thread to stop and waits for it
#   (`join`). A thread that waits in `queue.put` for room that never comes would wait
#   forever: put with a timeout, in a loop that checks a `threading.Event` set by `close()`.
#
# A recipe: in `__init__`, keep `iter(iterable)`, make the queue and the event, and start
# `threading.Thread(target=contextvars.copy_context().run, args=(self._work,),
# daemon=True)`. (A new thread starts with fresh context variables; copying the caller's
# context keeps a `with tt.backend(...)` around your loop in force inside the thread.) In
# the thread, put tagged entries: `("item", x)`, then `("done", None)`, or
# `("error", exc)`; `__next__` reads one and acts on its tag.


# %%
class PrefetchIterator:
    """Iterate over ``iterable`` while a daemon thread produces up to ``depth`` items ahead
    into a bounded queue. Items come out in order; an exception of the iterable is raised
    by ``next()`` after the items before it; ``close()`` (or leaving ``with``) stops and
    joins the thread, and so does reaching the end.

    >>> with PrefetchIterator(iter(range(5)), depth=2) as it:
    ...     list(it)
    [0, 1, 2, 3, 4]
    """

    def __init__(self, iterable, depth: int = 2):
        # TODO: check depth; the iterator, a queue.Queue(maxsize=depth), a threading.Event;
        # start a daemon thread that runs self._work
        raise NotImplementedError("TODO: implement PrefetchIterator")

    def _work(self) -> None:
        """The thread's body: put every item of the iterable into the queue, then a "done"
        entry, or an "error" entry with the exception raised; give up once a stop is
        asked for (never block forever on a full queue)."""
        # TODO: a put with a timeout in a loop that checks the event; try/except around
        # the iteration
        raise NotImplementedError("TODO: implement PrefetchIterator")

    def __iter__(self):
        return self

    def __next__(self):
        """The next item, in order; raises the thread's exception again; StopIteration at
        the end and after ``close()``."""
        # TODO: get one entry; act on its tag (close the iterator at "done" and "error")
        raise NotImplementedError("TODO: implement PrefetchIterator")

    def close(self) -> None:
        """Ask the thread to stop and wait for it (join); calling it again does nothing."""
        # TODO: set the event, join the thread; later next() calls raise StopIteration
        raise NotImplementedError("TODO: implement PrefetchIterator")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# %% [markdown]
# ## Experiments
#
# Run `python lab05_data.py`. For a line-by-line profile of `collate` and of your
# normalisation loops (the Python versions; numba's machine code has no lines to count):
#
# ```bash
# kernprof -l -v lab05_data.py
# ```


# %%
def _todo(name: str) -> None:
    print(f"TODO: implement {name} first")


def _tried(fn, *args) -> bool:
    """Call ``fn`` once on small input: False (after saying so) while it is a TODO."""
    try:
        fn(*args)
    except NotImplementedError:
        _todo(fn.__name__)
        return False
    return True


def _prefetch_done() -> bool:
    """False (after saying so) while PrefetchIterator is a TODO."""
    try:
        with PrefetchIterator(iter(range(3)), 1) as it:
            list(it)
    except NotImplementedError:
        _todo("PrefetchIterator")
        return False
    return True


def _plain(fn):
    """The function itself, without kernprof's wrapper (numba compiles only the former)."""
    return getattr(fn, "__wrapped__", fn)


def _median_s(fn, *args, repeat: int = 5) -> float:
    fn(*args)  # warm-up: the first call of a jit function compiles
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def _digit_arrays(split: str = "train", flatten: bool = False):
    images, labels = Digits(split, flatten=flatten).tensors()
    return images.numpy(), labels.numpy()


def _drain(iterator) -> int:
    n = 0
    for _ in iterator:
        n += 1
    return n


def experiment_batch_order() -> None:
    if not _tried(batch_indices, 3, 2):
        return
    seed = 5
    mine = [b.tolist() for b in batch_indices(10, 4, False, np.random.default_rng(seed))]
    loader = DataLoader(TensorDataset(tt.arange(10)), batch_size=4, shuffle=True,
                        generator=np.random.default_rng(seed))
    theirs = [x.tolist() for (x,) in loader]
    print(f"your batches  {mine}")
    print(f"DataLoader's  {theirs}  (the same generator seed, {seed}; equal: {mine == theirs})")
    replaced = np.random.default_rng(0).choice(1000, 1000)  # with replacement: a bug
    print(f"drawn with replacement, an epoch of 1000 sees {len(np.unique(replaced))} distinct "
          "samples (about 1 - 1/e = 63%); a permutation sees all 1000")


def experiment_bytes_per_batch() -> None:
    step_s = step_breakdown("jit", steps=100)["step_us"] * 1e-6
    print("bytes per batch, and the bandwidth at 1,000 images/s (a GPU training a ResNet-50):")
    for name, batch, shape, dtype in [("digits", 32, (1, 8, 8), np.float32),
                                      ("MNIST as stored", 32, (1, 28, 28), np.uint8),
                                      ("MNIST as float32", 32, (1, 28, 28), np.float32),
                                      ("CIFAR-10 as stored", 32, (3, 32, 32), np.uint8),
                                      ("CIFAR-10 as float32", 32, (3, 32, 32), np.float32),
                                      ("ImageNet crops, float32", 256, (3, 224, 224),
                                       np.float32)]:
        per_image = math.prod(shape) * np.dtype(dtype).itemsize + 8  # pixels + an int64 label
        print(f"  {name:24} {batch:4d} x {str(shape):14} {batch * per_image / 2**20:9.3f} MiB "
              f"per batch  {per_image * 1000 / 1e6:8.2f} MB/s")
    print("keeping pixels as uint8 until the batch is gathered moves 4x fewer bytes; the "
          "conversion to float32 is then one kernel per batch (ToDtype)")
    if not _tried(collate, [(np.zeros(1), 0)]):
        return
    ds = Digits("train")
    images, labels = collate([ds[i] for i in range(32)])
    print(f"a digits batch from your collate: images {images.shape} {images.dtype} = "
          f"{images.nbytes:,} B, labels {labels.shape} {labels.dtype} = {labels.nbytes} B; "
          f"at one jit step of the digits MLP per batch ({step_s * 1e6:.0f} us): "
          f"{32 / step_s:,.0f} images/s, {(images.nbytes + labels.nbytes) / step_s / 1e6:.1f} "
          "MB/s from the loader")


def experiment_loader_overhead() -> None:
    if not (_tried(batch_indices, 3, 2) and _tried(collate, [(np.zeros(1), 0)])):
        return
    ds = Digits("train")
    images, labels = (t.numpy() for t in ds.tensors())
    step_us = step_breakdown("jit", steps=200)["step_us"]
    batches = batch_indices(len(ds), 32, False, np.random.default_rng(0))

    def per_item_only():
        for index in batches:
            [ds[i] for i in index.tolist()]

    def per_item(collate_fn):
        def epoch():
            for index in batches:
                collate_fn([ds[i] for i in index.tolist()])
        return epoch

    def fancy_index():
        for index in batches:
            images[index], labels[index]

    loader = DataLoader(ds, batch_size=32, shuffle=True, generator=0)
    rows = {"ds[i] for each sample only": per_item_only,
            "ds[i] + your collate": per_item(collate),
            "ds[i] + default_collate": per_item(default_collate),
            "fast path: images[index]": fancy_index,
            "DataLoader (fast path)": lambda: _drain(loader),
            "DataLoader, prefetch=2": lambda: _drain(DataLoader(ds, batch_size=32,
                                                                shuffle=True, generator=0,
                                                                prefetch=2))}
    print(f"batches of 32 digits, one epoch = {len(batches)} batches; per batch, against a "
          f"{step_us:.0f} us jit training step:")
    for name, epoch in rows.items():
        us = _median_s(epoch, repeat=3) / len(batches) * 1e6
        print(f"  {name:28} {us:8.1f} us  {us / step_us:7.1%} of a step")
    print("the per-item path pays a Python call, a Tensor and a tuple per sample: its cost "
          "grows with the batch size, not the bytes; the fast path is one copy per tensor")
    print("line by line: kernprof -l -v lab05_data.py (collate is marked @profile)")


def experiment_normalize_kernel() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((64, 3, 32 * 32), dtype=np.float32)  # a CIFAR-sized batch, (N, C, H*W)
    mean = np.array([0.49, 0.48, 0.45], np.float32)
    std = np.array([0.25, 0.24, 0.26], np.float32)
    small = x[:2]  # the Python loops: about a microsecond per element
    out = np.full(small.shape, np.nan, np.float32)
    if not _tried(normalize_forward, out, small, mean, std):
        return
    expected = np.empty_like(small)
    tt.dispatch.kernel_for("normalize_forward", "numpy")[1](expected, small, mean, std)
    if not np.allclose(out, expected, rtol=1e-5, atol=1e-6):
        print("normalize_forward does not match tinytorch's numpy kernel yet: fix it before "
              "timing it")
        return
    loops_s = _median_s(normalize_forward, out, small, mean, std, repeat=3)
    big = np.empty_like(x)
    rows = {"your loops (extrapolated)": loops_s * x.size / small.size,
            "your loops, njit": _median_s(numba.njit(_plain(normalize_forward)), big, x,
                                          mean, std),
            "tinytorch jit": _median_s(tt.dispatch.kernel_for("normalize_forward", "jit")[1],
                                       big, x, mean, std),
            "tinytorch numpy": _median_s(tt.dispatch.kernel_for("normalize_forward",
                                                                "numpy")[1],
                                         big, x, mean, std)}
    moved = 2 * x.nbytes  # read x, write out; mean and std are 24 bytes
    print(f"normalize a batch of 64 x 3 x 32 x 32 float32 ({x.nbytes / 2**20:.2f} MiB), "
          "median times:")
    for name, s in rows.items():
        print(f"  {name:26} {s * 1e3:9.3f} ms  {s / x.size * 1e9:7.2f} ns/element  "
              f"{moved / s / 1e9:6.2f} GB/s")
    print("2 FLOPs per 8 bytes moved: the compiled kernels are bound by memory (this batch "
          "fits in the caches; a larger one runs at DRAM speed), the Python loops by the "
          "interpreter")


def experiment_prefetch() -> None:
    if not (_tried(batch_indices, 3, 2) and _prefetch_done()):
        return
    images, labels = _digit_arrays(flatten=True)
    mean = np.array([images.mean()], np.float32)
    std = np.array([images.std()], np.float32)
    jit_normalize = tt.dispatch.kernel_for("normalize_forward", "jit")[1]
    step_us = step_breakdown("jit", steps=200)["step_us"]
    wait_s = max(step_us * 1e-6, 2e-4)  # as long as a step: prefetching could halve the time

    def io_then_jit(x):
        time.sleep(wait_s)  # stands for a file read: the thread waits, holding no lock
        out = np.empty_like(x)
        jit_normalize(out.reshape(-1, 1, 64), x.reshape(-1, 1, 64), mean, std)  # nogil
        return out

    def python_loops(x):
        out = np.empty_like(x)
        normalize_forward(out.reshape(-1, 1, 64), x.reshape(-1, 1, 64), mean, std)
        return out

    loads = {f"{wait_s * 1e3:.2f} ms I/O wait + jit normalize": io_then_jit}
    if _tried(normalize_forward, np.empty((1, 1, 1)), np.ones((1, 1, 1)), mean[:1], std[:1]):
        loads["your Python normalize loops"] = python_loops

    tt.manual_seed(0)
    model = build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=1e-3)

    def batches(load, seed):
        for index in batch_indices(len(labels), 32, False, np.random.default_rng(seed)):
            yield tt.tensor(load(images[index])), tt.tensor(labels[index])

    def epoch(source) -> float:
        start = time.perf_counter()
        for x, y in source:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        return time.perf_counter() - start

    steps = len(batch_indices(len(labels), 32))
    print(f"one epoch of the digits MLP ({steps} steps, jit step {step_us:.0f} us), "
          "batches prepared in turn or by your PrefetchIterator(depth=2):")
    for name, load in loads.items():
        load(images[:32])  # compile, warm up
        load_us = _median_s(load, images[:32], repeat=5) * 1e6
        times = {"in turn": [], "prefetch": []}
        for seed in range(3):  # alternate, so both see the same noise of the machine
            times["in turn"].append(epoch(batches(load, seed)))
            with PrefetchIterator(batches(load, seed), depth=2) as ahead:
                times["prefetch"].append(epoch(ahead))
        serial, overlapped = (float(np.median(t)) / steps * 1e6 for t in times.values())
        print(f"  {name}: load {load_us:.0f} us per batch")
        print(f"    in turn {serial:6.0f} us/step, prefetched {overlapped:6.0f} us/step "
              f"({serial / overlapped:.2f}x; ideal max(load, step) = "
              f"{max(load_us, step_us):.0f} us)")
    batch_bytes = 32 * images[0].nbytes + 32 * labels.itemsize
    print("waiting and nogil kernels overlap with the step; Python loops hold the GIL, so "
          "the two threads only take turns. Processes (PyTorch's num_workers) would run them "
          "in parallel, at the price of copying every batch from one process to another")
    print(f"memory: depth 2 keeps up to 2 batches queued + 1 being built + 1 in the step = "
          f"4 x {batch_bytes:,} B here; 4 x 154 MB for 256 ImageNet crops in float32")


def _train_digits(backend: str, epochs: int, *, max_steps=None) -> dict:
    """The digits MLP trained on normalised images: your batch order, the Normalize
    transform through the dispatcher (your kernel on the "student" backend), Adam. Returns
    the test accuracy, the median time per step over the epochs and the last loss."""
    images, labels = _digit_arrays()
    test_images, test_labels = _digit_arrays("test")
    normalize = T.Normalize(float(images.mean()), float(images.std()))
    tt.manual_seed(0)
    model = build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)
    step_s = []  # per epoch, seconds per step
    with warnings.catch_warnings():
        # ops without a "student" kernel borrow jit, with one RuntimeWarning per op
        warnings.simplefilter("ignore", RuntimeWarning)
        with tt.backend(backend, fallback="jit"):
            for _ in range(epochs):
                steps, start = 0, time.perf_counter()
                for index in batch_indices(len(labels), 32, False, rng):
                    x = normalize(images[index]).reshape(len(index), 64)
                    loss = F.cross_entropy(model(tt.tensor(x)), tt.tensor(labels[index]))
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                    steps += 1
                    if max_steps is not None and steps >= max_steps:
                        break
                step_s.append((time.perf_counter() - start) / steps)
            model.eval()
            with tt.no_grad():
                x = normalize(test_images).reshape(len(test_labels), 64)
                predicted = model(tt.tensor(x)).argmax(dim=1).numpy()
    return {"accuracy": float((predicted == test_labels).mean()),
            "step_s": float(np.median(step_s)), "loss": loss.item()}


def experiment_student_backend() -> None:
    if not (_tried(batch_indices, 3, 2)
            and _tried(normalize_forward, np.empty((1, 1, 1)), np.ones((1, 1, 1)),
                       np.zeros(1), np.ones(1))):
        return
    tt.register_kernel("normalize_forward", "student", normalize_forward)
    slow = _train_digits("student", 1, max_steps=10)
    print(f"your Python loops as the Normalize kernel: {slow['step_s'] * 1e3:.1f} ms per "
          "training step")
    compiled = numba.njit(_plain(normalize_forward))
    compiled(np.empty((1, 1, 1), np.float32), np.ones((1, 1, 1), np.float32),
             np.zeros(1, np.float32), np.ones(1, np.float32))  # compile before timing
    tt.register_kernel("normalize_forward", "student", compiled)
    mine = _train_digits("student", 10)
    ref = _train_digits("jit", 10)
    print(f"digits MLP on normalised images, 10 epochs: your njit kernel "
          f"{mine['accuracy'] * 100:.2f}% test accuracy ({mine['step_s'] * 1e6:.0f} us/step), "
          f"tinytorch jit {ref['accuracy'] * 100:.2f}% ({ref['step_s'] * 1e6:.0f} us/step); "
          f"final losses {mine['loss']:.4f} and {ref['loss']:.4f}")


# %%
if __name__ == "__main__":
    for experiment in (experiment_batch_order, experiment_bytes_per_batch,
                       experiment_loader_overhead, experiment_normalize_kernel,
                       experiment_prefetch, experiment_student_backend):
        print(f"\n== {experiment.__name__} ==")
        experiment()
