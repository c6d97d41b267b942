"""Train an MLP (64 -> 128 -> 10) on the embedded 8x8 digits, on each backend you name, and
print test accuracy and time per epoch; with PyTorch installed, the same model in PyTorch
for a one-process comparison (``tinytorch mlp``).

Everything the step does goes through tinytorch: ``nn.Linear`` (the fused linear kernel),
``nn.ReLU``, ``F.cross_entropy`` (fused log-softmax + NLL), ``loss.backward()`` and
``optim.Adam`` (one fused update kernel per parameter). Batches are cut from the whole
training split held in memory, in an order drawn from a seeded generator, so a run is
reproducible and every backend sees the same batches.

>>> result = train_mlp("jit", epochs=1, seed=0)
>>> sorted(result) == ['epoch_seconds', 'losses', 'test_accuracy', 'train_seconds']
True
"""

from __future__ import annotations

import time

import numpy as np

import tinytorch as tt
from tinytorch import nn
from tinytorch.data.datasets import Digits
from tinytorch.nn import functional as F

__all__ = ["build_mlp", "train_mlp", "epoch_runner", "batches", "accuracy", "step_breakdown",
           "torch_epoch_runner", "torch_mlp_epoch_seconds", "main"]


def build_mlp(hidden: int = 128) -> nn.Module:
    """``Linear(64, hidden) -> ReLU -> Linear(hidden, 10)``, initialised from the current
    ``tt.manual_seed`` state."""
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def _arrays(split: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = Digits(split, flatten=True).tensors()
    return images.numpy(), labels.numpy()


def batches(n: int, batch_size: int, rng: np.random.Generator):
    """Index arrays of one shuffled epoch (the last batch may be smaller)."""
    order = rng.permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def accuracy(model: nn.Module, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of ``images`` whose largest logit is the right label."""
    model.eval()
    with tt.no_grad():
        predicted = model(tt.tensor(images)).argmax(dim=1).numpy()
    model.train()
    return float((predicted == labels).mean())


def train_mlp(backend: str = "jit", *, epochs: int = 30, batch_size: int = 32,
              lr: float = 2e-3, hidden: int = 128, seed: int = 0, max_steps=None,
              on_epoch=None, fallback: str | None = None) -> dict:
    """Train the MLP with Adam on ``backend``; returns per-step ``losses``, the per-epoch
    times ``epoch_seconds``, ``train_seconds`` and the final ``test_accuracy``.

    ``max_steps`` stops early (to compare a few steps across backends);
    ``on_epoch(epoch, loss, seconds)`` is called after each epoch; ``fallback`` names the
    backend for ops that ``backend`` has no kernel for (a lab's backend that implements
    one op: ``train_mlp("student", fallback="jit")``).
    """
    train_x, train_y = _arrays("train")
    test_x, test_y = _arrays("test")
    tt.manual_seed(seed)
    model = build_mlp(hidden)
    opt = tt.optim.Adam(model.parameters(), lr=lr)
    order_rng = np.random.default_rng(seed)
    losses, epoch_seconds = [], []
    with tt.backend(backend, fallback=fallback):
        for epoch in range(epochs):
            start = time.perf_counter()
            _epoch(model, opt, train_x, train_y, batch_size, order_rng, losses, max_steps)
            epoch_seconds.append(time.perf_counter() - start)
            if on_epoch is not None:
                on_epoch(epoch, losses[-1], epoch_seconds[-1])
            if max_steps is not None and len(losses) >= max_steps:
                break
        test_accuracy = accuracy(model, test_x, test_y)
    return {"losses": losses, "epoch_seconds": epoch_seconds,
            "train_seconds": sum(epoch_seconds), "test_accuracy": test_accuracy}


def _epoch(model, opt, images, labels, batch_size, order_rng, losses, max_steps=None):
    """One pass over the data: the whole training step, nothing else."""
    for index in batches(len(labels), batch_size, order_rng):
        loss = F.cross_entropy(model(tt.tensor(images[index])), tt.tensor(labels[index]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if max_steps is not None and len(losses) >= max_steps:
            return


def epoch_runner(backend: str = "jit", *, batch_size: int = 32, lr: float = 2e-3,
                 seed: int = 0):
    """A fresh model, optimiser and data, and a zero-argument function that trains one
    epoch on ``backend``: what a benchmark times, without the set-up.

    >>> run = epoch_runner("jit")
    >>> len(run()) == 45  # steps of batch 32 over the 1,438 training images
    True
    """
    train_x, train_y = _arrays("train")
    tt.manual_seed(seed)
    model = build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=lr)
    order_rng = np.random.default_rng(seed)

    def run() -> list:
        losses: list = []
        with tt.backend(backend):
            _epoch(model, opt, train_x, train_y, batch_size, order_rng, losses)
        return losses

    return run


def step_breakdown(backend: str = "jit", *, steps: int = 200, batch_size: int = 32,
                   seed: int = 0) -> dict:
    """Where a training step's time goes: ``step_us`` (median step time, nothing hooked),
    ``kernel_us`` (time inside kernels per step, from a dispatcher timer around each call),
    ``python_us`` (the rest: validation, allocation, the graph, dispatch) and
    ``kernel_calls`` per step. The timer's own cost lands in neither: the dispatcher reads
    the clock around the kernel alone, and step time is measured in a run without it.

    >>> b = step_breakdown("jit", steps=5)
    >>> b["kernel_calls"] > 5 and b["step_us"] > b["kernel_us"] > 0
    True
    """
    from tinytorch import dispatch  # noqa: PLC0415

    train_x, train_y = _arrays("train")
    tt.manual_seed(seed)
    model = build_mlp()
    opt = tt.optim.Adam(model.parameters(), lr=1e-3)
    index = np.arange(batch_size)
    x, y = train_x[index], train_y[index]

    def step():
        loss = F.cross_entropy(model(tt.tensor(x)), tt.tensor(y))
        opt.zero_grad()
        loss.backward()
        opt.step()

    with tt.backend(backend):
        for _ in range(3):
            step()  # compile / warm up
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        inside = [0.0, 0]

        def timer(op, backend, args, seconds):  # the dispatcher times the kernel alone
            inside[0] += seconds
            inside[1] += 1

        dispatch.add_timer(timer)
        try:
            for _ in range(steps):
                step()
        finally:
            dispatch.remove_timer(timer)
    step_us = float(np.median(times)) * 1e6
    kernel_us = inside[0] / steps * 1e6
    return {"step_us": step_us, "kernel_us": kernel_us, "python_us": step_us - kernel_us,
            "kernel_calls": inside[1] / steps}


def torch_mlp_epoch_seconds(epochs: int = 3, *, batch_size: int = 32, lr: float = 2e-3,
                            hidden: int = 128, seed: int = 0,
                            threads: int | None = None) -> tuple[list, float]:
    """The same model, optimiser, batches and loop in PyTorch: per-epoch seconds and test
    accuracy. ``threads`` sets ``torch.set_num_threads`` for the run (restored after).
    Raises ImportError when PyTorch is not installed."""
    import torch  # noqa: PLC0415 (optional)

    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _torch_run(torch, epochs, batch_size, lr, hidden, seed)
    finally:
        torch.set_num_threads(previous)


def _torch_run(torch, epochs, batch_size, lr, hidden, seed):
    test_x, test_y = _arrays("test")
    model, run = _torch_setup(torch, batch_size, lr, hidden, seed)
    seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        predicted = model(torch.from_numpy(test_x)).argmax(1).numpy()
    return seconds, float((predicted == test_y).mean())


def _torch_setup(torch, batch_size, lr, hidden, seed):
    train_x, train_y = _arrays("train")
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(),
                                torch.nn.Linear(hidden, 10))
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order_rng = np.random.default_rng(seed)

    def run() -> None:
        for index in batches(len(train_y), batch_size, order_rng):
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(train_x[index])),
                                                     torch.from_numpy(train_y[index]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()

    return model, run


def torch_epoch_runner(*, batch_size: int = 32, lr: float = 2e-3, seed: int = 0):
    """``epoch_runner``'s twin in PyTorch (ImportError when it is not installed)."""
    import torch  # noqa: PLC0415 (optional)

    return _torch_setup(torch, batch_size, lr, 128, seed)[1]


def main(backends=("jit", "numpy"), epochs: int = 30, *, torch: bool = True,
         quiet: bool = False) -> int:
    """Train on each backend in turn and print one line per backend (and PyTorch)."""
    rows = []
    for backend in backends:
        def progress(epoch, loss, seconds, backend=backend):
            if not quiet:
                print(f"  {backend:6s} epoch {epoch + 1:3d}/{epochs}  loss {loss:.4f}  "
                      f"{seconds * 1e3:7.1f} ms", flush=True)
        result = train_mlp(backend, epochs=epochs, on_epoch=progress)
        # the first epoch includes compiling (or loading cached) kernels: report it apart
        steady = result["epoch_seconds"][1:] or result["epoch_seconds"]
        rows.append((backend, result["test_accuracy"], result["epoch_seconds"][0],
                     float(np.median(steady))))
    if torch:
        try:
            seconds, acc = torch_mlp_epoch_seconds(epochs=min(epochs, 5))
            rows.append(("torch", acc, seconds[0], float(np.median(seconds[1:] or seconds))))
        except ImportError:
            pass
    print(f"\nMLP 64-128-10 on the digits ({len(_arrays('train')[1])} train / "
          f"{len(_arrays('test')[1])} test images), Adam lr 2e-3, batch 32, {epochs} epochs")
    print(f"{'backend':8s} {'test acc':>9s} {'1st epoch':>10s} {'epoch (median)':>15s}")
    for name, acc, first, median in rows:
        print(f"{name:8s} {acc * 100:8.2f}% {first * 1e3:8.1f}ms {median * 1e3:13.1f}ms")
    if "jit" in backends:
        b = step_breakdown("jit")
        print(f"\njit step: {b['step_us']:.0f} us = {b['kernel_us']:.0f} us in "
              f"{b['kernel_calls']:.0f} kernel calls + {b['python_us']:.0f} us of Python "
              "(checks, allocation, graph, dispatch)")
    return 0
