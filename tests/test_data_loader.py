"""DataLoader (module 05): order, batch sizes, drop_last and the last partial batch, len,
shuffling that is reproducible and independent of the global seed (and leaves the model's
random stream alone), samplers, collation, the fast path (equal to the per-item path, also
with random transforms), prefetch (same batches, bounded, errors re-raised, clean shutdown,
the caller's backend), and bad input."""

import contextlib
import gc
import gzip
import json
import struct
import sys
import threading
import time

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data import (
    MNIST,
    DataLoader,
    Dataset,
    RandomSampler,
    Sampler,
    SequentialSampler,
    TensorDataset,
    default_collate,
)
from tinytorch.data import download as dl
from tinytorch.data import transforms as T
from tinytorch.data.datasets import Digits
from tinytorch.testing import assert_raises


def rows_dataset(n=10, features=2):
    """Row i holds i in every feature, label i % 3: a batch shows which rows it holds."""
    x = tt.tensor(np.repeat(np.arange(n, dtype=np.float32)[:, None], features, axis=1))
    return TensorDataset(x, tt.tensor(np.arange(n) % 3))


def rows_of(batch) -> list[int]:
    return batch[0].numpy()[:, 0].astype(int).tolist()


def epoch(loader) -> list[list[int]]:
    return [rows_of(b) for b in loader]


class Items(Dataset):
    """A plain map-style data set (no .tensors): the per-item path."""

    def __init__(self, n=7):
        self.n = n
        self.calls = 0

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        self.calls += 1
        return tt.tensor([float(i), -float(i)]), i


def prefetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tinytorch-prefetch"]


def wait_for_no_prefetch_thread(timeout=5.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        gc.collect()
        if not prefetch_threads():
            return True
        time.sleep(0.01)
    return False


@pytest.fixture(autouse=True)
def _no_thread_outlives_a_test():
    yield
    assert wait_for_no_prefetch_thread(), "a prefetch thread was left running"


# --- order, sizes, len ------------------------------------------------------------------


@pytest.mark.parametrize("prefetch", [0, 2])
def test_in_order_with_a_partial_last_batch_or_drop_last(prefetch):
    ds = rows_dataset(10)
    loader = DataLoader(ds, batch_size=4, prefetch=prefetch)
    assert len(loader) == 3
    assert epoch(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = next(iter(loader))
    assert x.shape == (4, 2) and x.dtype == tt.float32
    assert y.tolist() == [0, 1, 2, 0] and y.dtype == tt.int64
    dropped = DataLoader(ds, batch_size=4, drop_last=True, prefetch=prefetch)
    assert len(dropped) == 2 and epoch(dropped) == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert epoch(DataLoader(ds, batch_size=5, drop_last=True)) == [[0, 1, 2, 3, 4],
                                                                  [5, 6, 7, 8, 9]]
    assert epoch(DataLoader(ds, batch_size=20)) == [list(range(10))]
    assert epoch(DataLoader(ds, batch_size=20, drop_last=True)) == []
    assert len(DataLoader(ds)) == 10 and len(DataLoader(ds, batch_size=3)) == 4


def test_every_iter_is_a_new_epoch_and_batches_own_their_data():
    ds = rows_dataset(5)
    loader = DataLoader(ds, batch_size=2)
    assert epoch(loader) == epoch(loader)
    x, _ = next(iter(loader))
    x.numpy()[:] = -1  # writing into a batch must not write into the data set
    assert ds.tensors[0].numpy()[0, 0] == 0.0 and not x.shares_storage(ds.tensors[0])


def test_an_empty_data_set_gives_no_batches():
    ds = TensorDataset(tt.zeros(0, 3))
    assert len(DataLoader(ds, batch_size=2)) == 0 and list(DataLoader(ds, batch_size=2)) == []
    assert list(DataLoader(ds, batch_size=2, shuffle=True, generator=0, prefetch=1)) == []


# --- shuffling --------------------------------------------------------------------------


def test_shuffle_gives_a_new_permutation_each_epoch_reproducibly():
    ds = rows_dataset(20)
    loader = DataLoader(ds, batch_size=6, shuffle=True, generator=3)
    first, second = epoch(loader), epoch(loader)
    assert [len(b) for b in first] == [6, 6, 6, 2]
    assert sorted(sum(first, [])) == list(range(20)) == sorted(sum(second, []))
    assert first != second and first != [list(range(6))]
    twin = DataLoader(ds, batch_size=6, shuffle=True, generator=3)
    assert epoch(twin) == first and epoch(twin) == second
    assert epoch(DataLoader(ds, batch_size=6, shuffle=True, generator=4)) != first
    gen = np.random.default_rng(3)  # a Generator is used as given
    assert epoch(DataLoader(ds, batch_size=6, shuffle=True, generator=gen)) == first


def test_shuffle_is_independent_of_the_global_seed_and_leaves_its_stream_alone():
    ds = rows_dataset(16)
    tt.manual_seed(0)
    a = epoch(DataLoader(ds, batch_size=4, shuffle=True, generator=9))
    tt.manual_seed(1)
    b = epoch(DataLoader(ds, batch_size=4, shuffle=True, generator=9))
    assert a == b
    # the model's stream: the same numbers with or without a shuffled epoch in between
    tt.manual_seed(5)
    expected = tt.rand(4).tolist()
    tt.manual_seed(5)
    for _ in DataLoader(ds, batch_size=4, shuffle=True):
        pass
    assert tt.rand(4).tolist() == expected
    # without a generator, the order follows tt.manual_seed (a spawned child stream)
    tt.manual_seed(5)
    c = epoch(DataLoader(ds, batch_size=4, shuffle=True))
    tt.manual_seed(5)
    assert epoch(DataLoader(ds, batch_size=4, shuffle=True)) == c


def test_state_dict_resumes_the_shuffle_order_through_json():
    ds = rows_dataset(12)
    run = DataLoader(ds, batch_size=5, shuffle=True, generator=1)
    epoch(run)
    saved = json.loads(json.dumps(run.state_dict()))  # JSON-safe, as a checkpoint keeps it
    rest = [epoch(run), epoch(run)]
    resumed = DataLoader(ds, batch_size=5, shuffle=True, generator=77)
    resumed.load_state_dict(saved)
    assert [epoch(resumed), epoch(resumed)] == rest
    in_order = DataLoader(ds, batch_size=5)
    assert in_order.state_dict() == {"sampler_generator": None}
    in_order.load_state_dict({"sampler_generator": None})
    assert_raises(ValueError, lambda: in_order.load_state_dict(saved), "with a shuffle",
                  "none")
    assert_raises(ValueError, lambda: resumed.load_state_dict({"sampler_generator": None}),
                  "without")
    assert_raises(ValueError, lambda: resumed.load_state_dict({"epoch": 3}),
                  "'sampler_generator'")
    bad = {"sampler_generator": {"bit_generator": "MT19937", "state": {}}}
    assert_raises(ValueError, lambda: resumed.load_state_dict(bad), "PCG64")


def test_shuffled_fast_path_gathers_the_rows_the_order_names():
    images, labels = Digits("test").tensors()
    loader = DataLoader(Digits("test"), batch_size=50, shuffle=True, generator=1)
    order = np.random.default_rng(1).permutation(len(labels))
    for k, (x, y) in enumerate(loader):
        index = order[k * 50:(k + 1) * 50]
        assert np.array_equal(x.numpy(), images.numpy()[index])
        assert np.array_equal(y.numpy(), labels.numpy()[index])


# --- samplers ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["fast", "per_item"])
def test_a_sampler_sets_the_order(data):
    ds = rows_dataset(8) if data == "fast" else Items(8)
    got = [b[0].numpy()[:, 0].astype(int).tolist()
           for b in DataLoader(ds, batch_size=3, sampler=[7, 0, 7, 2, 5])]
    assert got == [[7, 0, 7], [2, 5]]
    gen = (i for i in (1, 3, 5, 6))  # any iterable, even without len()
    assert [rows_of(b) for b in DataLoader(ds, batch_size=3, sampler=gen)] == [[1, 3, 5], [6]]
    assert_raises(TypeError, lambda: len(DataLoader(ds, sampler=iter([1]))), "no len()")


def test_builtin_samplers():
    ds = rows_dataset(6)
    assert list(SequentialSampler(ds)) == [0, 1, 2, 3, 4, 5] and len(SequentialSampler(ds)) == 6
    r = RandomSampler(ds, generator=0)
    assert sorted(r) == list(range(6)) and len(r) == 6
    with_rep = RandomSampler(ds, replacement=True, num_samples=50, generator=0)
    drawn = list(with_rep)
    assert len(drawn) == 50 == len(with_rep) and set(drawn) <= set(range(6))
    assert len(set(drawn)) < 50  # repetitions
    part = RandomSampler(ds, num_samples=4, generator=0)
    assert len(list(part)) == 4 and len(set(part)) == 4
    loader = DataLoader(ds, batch_size=5, sampler=RandomSampler(ds, generator=2))
    assert epoch(loader)[0] == np.random.default_rng(2).permutation(6)[:5].tolist()


def test_a_custom_sampler_class_is_checked_once_per_epoch():
    class Evens(Sampler):
        def __init__(self, n):
            self.n = n

        def epoch_indices(self):
            return np.arange(0, self.n, 2)

        def __len__(self):
            return (self.n + 1) // 2

    assert epoch(DataLoader(rows_dataset(7), batch_size=2, sampler=Evens(7))) == [[0, 2],
                                                                                  [4, 6]]
    loader = DataLoader(rows_dataset(5), batch_size=2, sampler=Evens(12))
    assert_raises(IndexError, lambda: list(loader), "index 6", "5 samples")


def test_bad_sampler_indices_are_refused():
    ds = rows_dataset(4)
    assert_raises(IndexError, lambda: list(DataLoader(ds, sampler=[0, 4])), "index 4",
                  "4 samples (0..3)")
    assert_raises(IndexError, lambda: list(DataLoader(ds, sampler=[-1])), "index -1")
    assert_raises(TypeError, lambda: list(DataLoader(ds, sampler=[0.5])), "float", "ints")
    assert_raises(TypeError, lambda: list(DataLoader(ds, sampler=[True])), "bool")


# --- collation --------------------------------------------------------------------------


def test_default_collate_follows_pytorch_types():
    assert default_collate([1, 2]).dtype == tt.int64
    assert default_collate([1.5, 2.0]).dtype == tt.float64
    assert default_collate([True, False]).dtype == tt.bool
    assert default_collate([np.int32(1), np.int32(2)]).dtype == tt.int64
    arrays = default_collate([np.zeros((2, 3), np.float32), np.ones((2, 3), np.float32)])
    assert arrays.shape == (2, 2, 3) and arrays.dtype == tt.float32
    tensors = default_collate([tt.zeros(3, dtype=tt.int32), tt.ones(3, dtype=tt.int32)])
    assert tensors.shape == (2, 3) and tensors.dtype == tt.int32
    batch = default_collate([{"x": tt.zeros(2), "name": "a", "k": (1, 2.0)},
                             {"x": tt.ones(2), "name": "b", "k": (3, 4.0)}])
    assert batch["x"].shape == (2, 2) and batch["name"] == ["a", "b"]
    assert batch["k"][0].tolist() == [1, 3] and batch["k"][1].dtype == tt.float64
    as_list = default_collate([[1, 2], [3, 4]])
    assert isinstance(as_list, list) and as_list[0].tolist() == [1, 3]


def test_default_collate_refuses_what_it_cannot_stack():
    assert_raises(ValueError, lambda: default_collate([tt.zeros(2), tt.zeros(3)]),
                  "different shapes", "(2,)", "(3,)")
    assert_raises(ValueError, lambda: default_collate([(1, 2), (3,)]), "2 fields",
                  "sample 1")
    assert_raises(TypeError, lambda: default_collate([object()]), "object", "collate_fn")
    assert_raises(ValueError, lambda: default_collate([]), "at least one sample")
    assert_raises(TypeError, lambda: default_collate(tt.zeros(2)), "list of samples")


def test_a_collate_fn_gets_the_list_of_samples():
    seen = []

    def collate(samples):
        seen.append(len(samples))
        return [label for _, label in samples]

    ds = rows_dataset(5)
    assert list(DataLoader(ds, batch_size=2, collate_fn=collate)) == [[0, 1], [2, 0], [1]]
    assert seen == [2, 2, 1]


# --- the fast path ----------------------------------------------------------------------


def test_fast_path_skips_getitem_and_equals_the_per_item_path(monkeypatch):
    calls = []
    original = Digits.__getitem__

    def counting(self, i):
        calls.append(i)
        return original(self, i)

    monkeypatch.setattr(Digits, "__getitem__", counting)
    ds = Digits("test")
    fast = list(DataLoader(ds, batch_size=40, shuffle=True, generator=6))
    assert calls == []  # one fancy index per tensor, no ds[i]
    slow = list(DataLoader(ds, batch_size=40, shuffle=True, generator=6,
                           collate_fn=default_collate))
    assert len(calls) == len(ds)
    assert len(fast) == len(slow) == 9
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        assert fx.dtype == sx.dtype and fy.dtype == sy.dtype == tt.int64
        assert np.array_equal(fx.numpy(), sx.numpy()) and np.array_equal(fy.numpy(),
                                                                          sy.numpy())


def test_a_subclass_that_overrides_getitem_keeps_its_meaning():
    class Doubled(TensorDataset):
        def __getitem__(self, i):
            x, y = super().__getitem__(i)
            return x * 2, y

    ds = Doubled(tt.arange(4.0), tt.tensor([0, 1, 0, 1]))
    assert [x.tolist() for x, _ in DataLoader(ds, batch_size=2)] == [[0.0, 2.0], [4.0, 6.0]]


def test_bad_tensors_on_a_data_set_are_reported():
    class Mismatch(Dataset):
        def __len__(self):
            return 3

        def __getitem__(self, i):
            return i

        def tensors(self):
            return (tt.zeros(2, 1),)

    assert_raises(ValueError, lambda: DataLoader(Mismatch()), "shape (2, 1)", "3 samples")
    Mismatch.tensors = lambda self: [np.zeros(3)]
    assert_raises(TypeError, lambda: DataLoader(Mismatch()), "ndarray", "not a Tensor")


def write_mnist(root, rng, monkeypatch, n=9):
    """A small MNIST in the cache, built from IDX files as the real one is (no network)."""
    images = rng.integers(0, 256, (n, 28, 28)).astype(np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    files = {"train-images-idx3-ubyte.gz": gzip.compress(
        struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()),
        "train-labels-idx1-ubyte.gz": gzip.compress(struct.pack(">II", 0x801, n)
                                                    + labels.tobytes())}
    (root / "mnist").mkdir(parents=True)
    for name, body in files.items():
        (root / "mnist" / name).write_bytes(body)
    monkeypatch.setattr(MNIST, "resources", {name: (dl.sha256_bytes(body), len(body))
                                             for name, body in files.items()})
    return images, labels


def _augment(seed):
    return T.Compose([T.RandomCrop(24, padding=2, generator=seed),
                      T.RandomHorizontalFlip(generator=seed + 1),
                      T.Normalize(0.1307, 0.3081)])


@pytest.mark.parametrize("shuffle", [False, True])
def test_fast_path_with_random_transforms_equals_the_per_item_path(backend, tmp_path, rng,
                                                                  monkeypatch, shuffle):
    """The batched transform draws one number per image in image order, as the per-image
    calls do, so the two paths agree exactly, augmentation included."""
    images, _ = write_mnist(tmp_path, rng, monkeypatch)
    fast_ds = MNIST(root=tmp_path, download=False, transform=_augment(4))
    slow_ds = MNIST(root=tmp_path, download=False, transform=_augment(4))
    kw = {"batch_size": 4, "shuffle": shuffle, "generator": 2 if shuffle else None}
    fast = list(DataLoader(fast_ds, **kw))
    slow = list(DataLoader(slow_ds, collate_fn=default_collate, **kw))
    assert [x.shape for x, _ in fast] == [(4, 1, 24, 24), (4, 1, 24, 24), (1, 1, 24, 24)]
    for (fx, fy), (sx, sy) in zip(fast, slow, strict=True):
        assert fx.dtype == sx.dtype == tt.float32
        assert np.array_equal(fx.numpy(), sx.numpy()) and fy.tolist() == sy.tolist()
    plain = MNIST(root=tmp_path, download=False)
    x, y = next(iter(DataLoader(plain, batch_size=9)))
    assert np.array_equal(x.numpy()[:, 0], images / np.float32(255))


# --- prefetch ---------------------------------------------------------------------------


@pytest.mark.parametrize("data", ["fast", "per_item"])
def test_prefetch_gives_the_same_batches(data):
    ds = rows_dataset(23) if data == "fast" else Items(23)
    plain = DataLoader(ds, batch_size=4, shuffle=True, generator=8)
    ahead = DataLoader(ds, batch_size=4, shuffle=True, generator=8, prefetch=3)
    for _ in range(2):  # two epochs each: the orders stay in step
        got, expected = list(ahead), list(plain)
        assert len(got) == len(expected) == 6
        for g, e in zip(got, expected, strict=True):
            assert all(np.array_equal(a.numpy(), b.numpy()) for a, b in zip(g, e, strict=True))


def test_prefetch_with_augmentation_equals_no_prefetch(tmp_path, rng, monkeypatch):
    write_mnist(tmp_path, rng, monkeypatch)
    a = list(DataLoader(MNIST(root=tmp_path, download=False, transform=_augment(1)),
                        batch_size=2, shuffle=True, generator=0))
    b = list(DataLoader(MNIST(root=tmp_path, download=False, transform=_augment(1)),
                        batch_size=2, shuffle=True, generator=0, prefetch=2))
    assert all(np.array_equal(x.numpy(), u.numpy()) for (x, _), (u, _) in zip(a, b,
                                                                               strict=True))


class Failing(Dataset):
    def __init__(self, bad_at, n=10):
        self.bad_at, self.n = bad_at, n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.bad_at:
            raise KeyError(f"sample {i} is unreadable")
        return tt.tensor([float(i)])


def test_an_error_in_the_prefetch_thread_is_raised_in_the_loop():
    loader = DataLoader(Failing(bad_at=5), batch_size=2, prefetch=2)
    seen = []
    with pytest.raises(KeyError, match="sample 5 is unreadable") as info:
        for x in loader:
            seen.append(x.tolist())
    assert seen == [[[0.0], [1.0]], [[2.0], [3.0]]]  # every batch before the bad one
    if sys.version_info >= (3, 11):  # exception notes
        assert any("prefetch thread" in note for note in info.value.__notes__)
    assert "__getitem__" in [entry.name for entry in info.traceback]  # the real origin
    assert wait_for_no_prefetch_thread()


def test_an_error_in_transform_batch_is_raised_in_the_loop():
    class BadBatch(TensorDataset):
        def transform_batch(self, arrays):
            raise ValueError("cannot decode this batch")

    loader = DataLoader(BadBatch(tt.zeros(4, 2)), batch_size=2, prefetch=1)
    assert_raises(ValueError, lambda: list(loader), "cannot decode")


@pytest.mark.parametrize("how", ["break", "raise", "close", "with"])
def test_the_prefetch_thread_stops_when_the_loop_stops(how):
    ds = rows_dataset(200)
    loader = DataLoader(ds, batch_size=2, prefetch=2)
    if how == "break":
        for _ in loader:
            break
    elif how == "raise":
        with contextlib.suppress(RuntimeError):
            for _ in loader:
                raise RuntimeError("the training step failed")
    elif how == "close":
        it = iter(loader)
        next(it)
        assert prefetch_threads()
        it.close()
        assert not it._thread.is_alive() and list(it) == []
    else:
        with iter(loader) as it:
            next(it)
    assert wait_for_no_prefetch_thread()


def test_prefetch_stays_at_most_n_batches_ahead():
    built = []

    class Counting(TensorDataset):
        def transform_batch(self, arrays):
            built.append(1)
            return arrays

    def settle(count):
        """Wait until ``count`` batches are built (a loaded machine may be slow to run the
        thread), then a little longer: a producer that ignored the bound would go on."""
        end = time.monotonic() + 10
        while len(built) < count and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(0.2)

    it = iter(DataLoader(Counting(tt.zeros(100, 1)), batch_size=1, prefetch=3))
    settle(4)  # the consumer takes nothing: the producer must stop at the bound
    assert len(built) == 4  # 3 in the queue, plus 1 built and waiting for room
    next(it)
    settle(5)
    assert len(built) == 5
    it.close()


def test_prefetch_runs_in_the_callers_backend():
    seen = set()

    @contextlib.contextmanager
    def hook(op, backend, args, params):
        if op == "to_dtype_forward":
            seen.add((backend, threading.current_thread().name))
        yield

    class Pixels(TensorDataset):
        def transform_batch(self, arrays):
            return [T.ToDtype(tt.float32, scale=True).apply(arrays[0])]

    ds = Pixels(tt.zeros(4, 1, 2, 2, dtype=tt.uint8))
    tt.dispatch.add_hook(hook)
    try:
        with tt.backend("numpy"):
            list(DataLoader(ds, batch_size=2, prefetch=1))
    finally:
        tt.dispatch.remove_hook(hook)
    assert seen == {("numpy", "tinytorch-prefetch")}


# --- bad input --------------------------------------------------------------------------


def test_bad_arguments_are_refused():
    ds = rows_dataset(4)
    assert_raises(ValueError, lambda: DataLoader(ds, batch_size=0), "batch_size", ">= 1", "0")
    assert_raises(ValueError, lambda: DataLoader(ds, batch_size=-2), ">= 1")
    assert_raises(TypeError, lambda: DataLoader(ds, batch_size=2.0), "int", "2.0")
    assert_raises(TypeError, lambda: DataLoader(ds, batch_size=True), "int")
    assert_raises(TypeError, lambda: DataLoader(ds, shuffle="yes"), "shuffle", "True or False")
    assert_raises(TypeError, lambda: DataLoader(ds, drop_last=1), "drop_last")
    assert_raises(ValueError, lambda: DataLoader(ds, prefetch=-1), "prefetch", ">= 0")
    assert_raises(TypeError, lambda: DataLoader(ds, prefetch=1.5), "prefetch")
    assert_raises(TypeError, lambda: DataLoader(ds, collate_fn="stack"), "collate_fn")
    assert_raises(ValueError, lambda: DataLoader(ds, shuffle=True, sampler=[0, 1]),
                  "sampler and shuffle", "RandomSampler")
    assert_raises(TypeError, lambda: DataLoader(ds, sampler="0123"), "iterable of indices")
    assert_raises(TypeError, lambda: DataLoader(ds, sampler=3), "iterable")
    assert_raises(ValueError, lambda: DataLoader(ds, sampler=[0], generator=1), "generator")
    assert_raises(TypeError, lambda: DataLoader(ds, shuffle=True, generator="x"), "generator")
    assert_raises(TypeError, lambda: DataLoader(ds, generator=1.5), "generator")
    assert_raises(TypeError, lambda: DataLoader(object()), "ds[i]")
    assert_raises(TypeError, lambda: DataLoader([1, 2, 3].__iter__()), "__getitem__")

    class NoLen:
        def __getitem__(self, i):
            return i

    assert_raises(TypeError, lambda: DataLoader(NoLen()), "no len()")
    assert_raises(ValueError, lambda: RandomSampler(ds, num_samples=9), "replacement=True")
    assert_raises(ValueError, lambda: RandomSampler(ds, num_samples=0), ">= 1")
    assert_raises(TypeError, lambda: RandomSampler(ds, replacement=1), "replacement")
