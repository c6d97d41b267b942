"""The data pipeline (module 05): what a ``DataLoader`` adds per batch, and what prefetching
hides (``pytest bench/test_bench_data.py --benchmark-only``).

1. **Loader overhead per batch** on the digits training split (batch 32, shuffled, 45
   batches an epoch): the fast path (one fancy index per tensor), the per-item path
   (``ds[i]`` for each sample, then a stack), and the fast path through the prefetch
   thread, against the time of one jit training step of the digits MLP measured in the same
   process (``mlp_digits.step_breakdown``). The target: the fast path costs at most 10% of
   a step.
2. **Prefetch hiding a slow transform**: a whole training epoch of the MLP on batches that
   are slow to prepare, with ``prefetch=0`` (load, then train, in turn) and ``prefetch=2``
   (the next batch loads while this one trains), epochs alternating. ``io_wait+jit``: about
   0.5 ms of waiting per batch (``SLOW_S``, standing for a disk read; it holds no lock) and
   the jit ``Normalize`` kernel (``nogil``): prefetching hides it behind the training step.
   ``naive_loops``: the same kernel as Python loops, about 1 ms per batch *holding* the
   interpreter lock: the two threads can only take turns, so prefetching gains nothing.
   That is the lesson: a thread hides waiting and lock-free work, not Python work.

Each benchmark first checks that its batches equal the oracle's (the per-item path, or
the loader without prefetch). Figures from one run are in ``extra_info`` and are printed
with ``-s``.
"""

import time

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data import DataLoader, TensorDataset, default_collate
from tinytorch.data import transforms as T
from tinytorch.data.datasets import Digits
from tinytorch.examples import mlp_digits
from tinytorch.nn import functional as F

BATCH = 32
SLOW_S = 0.0005


@pytest.fixture(scope="module")
def step_us():
    """Median jit training step of the digits MLP (64-128-10, batch 32, Adam), this process."""
    return mlp_digits.step_breakdown("jit", steps=300)["step_us"]


def _epoch(loader) -> int:
    n = 0
    for _ in loader:
        n += 1
    return n


def _same_batches(a, b) -> bool:
    return all(np.array_equal(x.numpy(), y.numpy())
               for ba, bb in zip(a, b, strict=True) for x, y in zip(ba, bb, strict=True))


@pytest.mark.parametrize("path", ["fast", "per_item", "fast_prefetch"])
def test_loader_overhead_per_batch(benchmark, step_us, path):
    benchmark.group = "DataLoader per epoch, digits train, batch 32, shuffled"
    ds = Digits("train", flatten=True)
    kw = {"batch_size": BATCH, "shuffle": True, "generator": 0}
    if path == "per_item":
        kw["collate_fn"] = default_collate
    if path == "fast_prefetch":
        kw["prefetch"] = 2
    loader = DataLoader(ds, **kw)
    oracle = DataLoader(ds, collate_fn=default_collate, **{k: v for k, v in kw.items()
                                                          if k not in ("collate_fn", "prefetch")})
    assert _same_batches(list(DataLoader(ds, **kw)), list(oracle))
    batches = len(loader)
    benchmark.pedantic(_epoch, args=(loader,), rounds=30 if path != "per_item" else 5,
                       iterations=1, warmup_rounds=1)
    per_batch_us = benchmark.stats.stats.median / batches * 1e6
    benchmark.extra_info.update(per_batch_us=per_batch_us, jit_step_us=step_us,
                                fraction_of_step=per_batch_us / step_us)
    print(f"\n{path:14s} {per_batch_us:7.1f} us per batch = {per_batch_us / step_us:6.1%} of "
          f"a {step_us:.0f} us jit step")
    if path == "fast":
        assert per_batch_us <= 0.10 * step_us, (per_batch_us, step_us)


class SlowDigits(TensorDataset):
    """Digits whose batches are slow to prepare: ``wait_s`` of I/O-like waiting (it releases
    the interpreter lock, as a file read does), then a ``Normalize`` kernel."""

    def __init__(self, wait_s: float):
        images, labels = Digits("train", flatten=True).tensors()
        super().__init__(images, labels)
        self.wait_s = wait_s
        self.normalize = T.Normalize(0.3, 0.35)

    def transform_batch(self, arrays):
        if self.wait_s:
            time.sleep(self.wait_s)  # a disk read or a download: no lock held
        x = self.normalize.apply(arrays[0].reshape(-1, 1, 8, 8)).reshape(-1, 64)
        return [x, arrays[1]]


def _train_epoch(loader, model, opt) -> None:
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("slow", ["io_wait+jit", "naive_loops"])
def test_prefetch_hides_a_slow_transform(benchmark, slow):
    """Epochs with ``prefetch=0`` and ``prefetch=2`` alternate, so both see the same noise of
    this shared machine; the benchmark's time is one such pair, the figures per variant are
    medians in ``extra_info``. ``io_wait+jit``: SLOW_S of waiting that holds no lock, then
    the jit (``nogil``) kernel; ``naive_loops``: no wait, the kernel as Python loops, which
    hold the lock for about a millisecond per batch."""
    benchmark.group = "MLP epoch with a slow transform: prefetch=0 then prefetch=2"
    transform_backend = "naive" if slow == "naive_loops" else "jit"
    ds = SlowDigits(0.0 if slow == "naive_loops" else SLOW_S)
    kw = {"batch_size": BATCH, "shuffle": True, "generator": 0}
    plain, ahead = DataLoader(ds, **kw), DataLoader(ds, prefetch=2, **kw)
    assert _same_batches(list(ahead), list(DataLoader(ds, **kw)))
    tt.manual_seed(0)
    model = mlp_digits.build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=1e-3)
    times = {0: [], 2: []}

    def pair():
        for depth, loader in ((0, plain), (2, ahead)):
            start = time.perf_counter()
            _train_epoch(loader, model, opt)
            times[depth].append(time.perf_counter() - start)

    # the model's kernels on jit; the transform's kernel on the backend under test
    ops = {"normalize": transform_backend} if transform_backend != "jit" else None
    with tt.backend("jit", ops=ops):
        pair()  # compile outside the timing
        times[0].clear()
        times[2].clear()
        benchmark.pedantic(pair, rounds=5 if transform_backend == "naive" else 25,
                           iterations=1, warmup_rounds=0)
    steps = len(plain)
    before, after = (float(np.median(times[d])) * 1e3 for d in (0, 2))
    benchmark.extra_info.update(epoch_ms_prefetch0=before, epoch_ms_prefetch2=after,
                                speedup=before / after, steps=steps)
    print(f"\n{slow:12s}: epoch {before:6.1f} ms without prefetch, "
          f"{after:6.1f} ms with prefetch=2 ({before / after:.2f}x; "
          f"{before / steps * 1e3:.0f} -> {after / steps * 1e3:.0f} us per step)")
