"""Where a training step's memory goes (module 08): resident memory measured from outside,
allocations counted from inside, and memory_profiler's line-by-line increments.

Three views, because each one hides something the others show:

- **RSS** (resident set size, what the operating system charges the process), read with
  ``memory_profiler.memory_usage`` (psutil underneath): the start, after each step (the
  increment per step: about 0 once the caches are warm, or the process leaks), and the
  peak, sampled from a thread while the steps run, plus the per-step readings. RSS is
  what runs a machine out of memory, but it moves in pages and the allocator keeps freed
  memory, so small buffers come and go without a trace in it.
- **tracemalloc** (numpy reports its buffers to it): the bytes allocated at the peak of one
  step above what was held before it (activations, gradients, saved tensors, workspace),
  and the bytes still held after the step (0 when a step frees what it made).
- **tt.summary**: tinytorch's own accounting per layer (parameters, activations, bytes
  saved for backward), from one forward pass (``docs/memory.md``).

``profile_memory(step)`` measures any zero-argument callable; ``config_step(name)`` builds
one training step of a config (model, optimiser, loss and one batch, as ``tinytorch train``
builds them), and ``tinytorch profile --memory [CONFIG]`` prints both.

>>> import tinytorch as tt
>>> w = tt.ones(64, 64, requires_grad=True)
>>> report = profile_memory(lambda: (w @ w).sum().backward(), steps=2, peak=False,
...                         lines=False)
>>> report.steps, len(report.rss_after_step_mib), report.traced_peak_bytes >= 64 * 64 * 4
(2, 2, True)
"""

from __future__ import annotations

import dataclasses
import gc
import io
import linecache
import threading
import tracemalloc
from collections.abc import Callable

__all__ = ["profile_memory", "MemoryReport", "config_step", "ConfigStep", "training_step",
           "rss_mib"]


def rss_mib() -> float:
    """This process's resident memory now, in MiB (memory_profiler's psutil reading).

    >>> rss_mib() > 0
    True
    """
    from memory_profiler import memory_usage  # noqa: PLC0415

    return float(memory_usage(-1, interval=0.001, max_iterations=1)[0])


def training_step(model, optimizer, loss_fn, x, y):
    """One training step, written one action per line so that a line-by-line memory
    profile charges each increment to its action: forward, loss, zero_grad, backward,
    step. Returns the loss.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> model = nn.Linear(4, 2)
    >>> opt = tt.optim.SGD(list(model.parameters()), lr=0.1)
    >>> loss = training_step(model, opt, nn.functional.cross_entropy, tt.ones(3, 4),
    ...                      tt.tensor([0, 1, 1]))
    >>> loss.shape
    ()
    """
    logits = model(x)
    loss = loss_fn(logits, y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


@dataclasses.dataclass
class ConfigStep:
    """One training step of a config, ready to call: ``step()`` runs ``training_step`` on
    the first batch of the training loader under the config's backend. ``config`` is the
    resolved ``Config``; ``model``, ``optimizer``, ``loss_fn`` and ``batch`` (x, y) what
    ``tinytorch train`` would use."""

    config: object
    model: object
    optimizer: object
    loss_fn: Callable
    batch: tuple

    def __call__(self, fn: Callable | None = None):
        """Run one step (``fn`` instead of ``training_step``: a wrapped copy of it)."""
        import tinytorch as tt  # noqa: PLC0415

        with tt.backend(self.config.backend):
            return (fn or training_step)(self.model, self.optimizer, self.loss_fn,
                                         *self.batch)


def config_step(config: str | None = None, overrides: list[str] | None = None) -> ConfigStep:
    """Build a training step of ``config`` (a shipped config name or a TOML path; default
    ``digits_cnn``) with ``overrides`` (``["data.batch_size=8"]``) as ``tinytorch train``
    builds it: model, optimiser, loss and one batch of the training data.

    >>> step = config_step("digits_mlp", ["data.batch_size=4"])
    >>> step.batch[0].shape[0], step.config.backend
    (4, 'jit')
    """
    from tinytorch import config as C  # noqa: PLC0415
    from tinytorch.train import experiment  # noqa: PLC0415

    cfg = C.load_config(config or "digits_cnn", list(overrides or []))
    exp = experiment.build(cfg, log=None)
    x, y = next(iter(exp.data.train))
    return ConfigStep(cfg, exp.model, exp.optimizer, exp.trainer.loss_fn, (x, y))


@dataclasses.dataclass
class MemoryReport:
    """What ``profile_memory`` measured. RSS figures in MiB, tracemalloc and summary figures
    in bytes; ``lines`` the line-by-line rows (function, lineno, increment_mib, rss_mib,
    occurrences, source) and ``line_text`` the listing of memory_profiler's figures (empty
    when ``lines=False``; its ``def`` line shows no increment); ``summary`` tt.summary's
    totals when a model was given."""

    steps: int
    warmup: int
    rss_start_mib: float
    rss_before_mib: float
    rss_after_step_mib: list[float]
    peak_rss_mib: float
    traced_peak_bytes: int
    traced_retained_bytes: int
    summary: dict | None = None
    lines: list[dict] = dataclasses.field(default_factory=list)
    line_text: str = ""

    @property
    def increment_per_step_mib(self) -> float:
        """Mean RSS growth per profiled step (after the warm-up): about 0 unless it leaks."""
        after = self.rss_after_step_mib
        return (after[-1] - self.rss_before_mib) / len(after) if after else 0.0

    def table(self) -> str:
        """The figures as a small two-column table, ready to print.

        >>> r = MemoryReport(2, 1, 50.0, 60.0, [60.5, 61.0], 70.0, 4096, 0)
        >>> print(r.table().splitlines()[5])
        RSS increment per step           0.50 MiB
        """
        rows = [("RSS at start", f"{self.rss_start_mib:.2f} MiB"),
                (f"RSS after {self.warmup} warm-up step(s)", f"{self.rss_before_mib:.2f} MiB"),
                (f"RSS after {self.steps} step(s)", f"{self.rss_after_step_mib[-1]:.2f} MiB"),
                ("RSS increment per step", f"{self.increment_per_step_mib:.2f} MiB"),
                ("peak RSS", f"{self.peak_rss_mib:.2f} MiB"),
                ("allocated at a step's peak", _size(self.traced_peak_bytes)),
                ("still held after a step", _size(self.traced_retained_bytes))]
        if self.summary:
            rows += [(f"tt.summary: {k}", _size(v)) for k, v in self.summary.items()]
        width = max(len(k) for k, _ in rows)
        out = [f"{'measure':{width}s}  {'value':>12s}", "-" * (width + 14)]
        out += [f"{k:{width}s}  {v:>12s}" for k, v in rows]
        return "\n".join(out)

    def format(self) -> str:
        """The table, a legend, then the line-by-line listing (when measured)."""
        legend = ("RSS: resident memory (memory_profiler/psutil; peak sampled while the "
                  "steps ran); allocated/held: numpy and Python allocations (tracemalloc) "
                  "of one step")
        parts = [self.table(), legend]
        if self.line_text:
            parts += ["", "line by line (memory_profiler; Increment is the RSS change the "
                      "line caused, summed over its runs):", self.line_text.rstrip()]
        return "\n".join(parts)


def _size(n: int) -> str:
    n = int(n)
    if abs(n) >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    if abs(n) >= 1 << 10:
        return f"{n / (1 << 10):.1f} KiB"
    return f"{n} B"


def _sampled_peak(fn: Callable, interval: float) -> float:
    """Run ``fn()`` while a thread reads RSS every ``interval`` seconds; the largest reading.

    memory_profiler's own ``memory_usage((fn, args, kwargs), max_usage=True)`` forks a
    watcher process and *calls fn again* when it took fewer than five samples, which would
    run extra training steps; a thread of this process samples the same number (psutil
    releases the GIL while it reads) and runs the steps exactly once."""
    stop = threading.Event()
    readings = [rss_mib()]

    def sample():
        while not stop.wait(interval):
            readings.append(rss_mib())

    watcher = threading.Thread(target=sample, name="tinytorch-rss-sampler", daemon=True)
    watcher.start()
    try:
        fn()
    finally:
        stop.set()
        watcher.join()
    readings.append(rss_mib())
    return max(readings)


def _traced(step: Callable) -> tuple[int, int]:
    """(peak bytes above the start, bytes still held) over one call, by tracemalloc."""
    gc.collect()
    started = not tracemalloc.is_tracing()  # someone else's tracing is left running
    if started:
        tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        step()
        gc.collect()
        end, peak = tracemalloc.get_traced_memory()
    finally:
        if started:
            tracemalloc.stop()
    return max(peak - start, 0), end - start


def _line_profile(step: ConfigStep, calls: int) -> tuple[list[dict], str]:
    from memory_profiler import LineProfiler  # noqa: PLC0415

    profiler = LineProfiler(backend="psutil")
    wrapped = profiler(training_step)
    for _ in range(calls):
        step(wrapped)
    rows = []
    for filename, lines in profiler.code_map.items():  # (file, (lineno, measures))
        for lineno, measured in lines:
            if measured is None:  # a line that never ran (the docstring, blank lines)
                continue
            increment, rss, occurrences = measured
            rows.append({"function": training_step.__name__, "lineno": lineno,
                         "increment_mib": float(increment), "rss_mib": float(rss),
                         "occurrences": int(occurrences),
                         "source": linecache.getline(filename, lineno).strip()})
    # memory_profiler's own listing (show_results) repeats the whole docstring; this is the
    # same table for the lines that ran. The ``def`` line's "increment" is the process's
    # whole RSS (memory_profiler measures it from 0), so it is shown as "-".
    text = io.StringIO()
    text.write(f"{'Line #':>6s}  {'Mem usage':>12s}  {'Increment':>12s}  {'Occurrences':>11s}"
               f"  Line Contents\n")
    for r in rows:
        increment = "-" if r["source"].startswith("def ") else f"{r['increment_mib']:.2f} MiB"
        text.write(f"{r['lineno']:6d}  {r['rss_mib']:8.2f} MiB  {increment:>12s}  "
                   f"{r['occurrences']:11d}  {r['source']}\n")
    return rows, text.getvalue()


def profile_memory(step: Callable, *, steps: int = 5, warmup: int = 1, peak: bool = True,
                   lines: bool = True, line_steps: int = 2, model=None,
                   input_shape: tuple | None = None, interval: float = 0.005) -> MemoryReport:
    """Measure the memory of ``steps`` calls of ``step()`` after ``warmup`` calls (jit
    compilation, caches, optimiser state: the first step allocates what later ones reuse).

    ``peak`` samples RSS from a thread every ``interval`` seconds while the steps run.
    ``lines`` runs ``line_steps`` more steps through memory_profiler's line-by-line
    profiler; it needs a ``ConfigStep`` (the profiled function is ``training_step``).
    ``model`` and ``input_shape`` add tt.summary's totals.

    >>> report = profile_memory(lambda: [0] * 1000, steps=1, warmup=0, peak=False,
    ...                         lines=False)
    >>> report.traced_retained_bytes < 1024, report.peak_rss_mib >= report.rss_start_mib
    (True, True)
    """
    if not callable(step):
        raise TypeError(f"step must be callable, got {type(step).__name__}")
    for name, value, low in (("steps", steps, 1), ("warmup", warmup, 0),
                             ("line_steps", line_steps, 1)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {type(value).__name__}")
        if value < low:
            raise ValueError(f"{name} must be >= {low}, got {value}")
    if lines and not isinstance(step, ConfigStep):
        raise ValueError("lines=True needs a ConfigStep (config_step(...)): the line-by-line "
                         "profile follows training_step; pass lines=False for another "
                         "callable")
    rss_start = rss_mib()
    for _ in range(warmup):
        step()
    gc.collect()
    rss_before = rss_mib()
    after = []
    sampled = 0.0

    def run():
        for _ in range(steps):
            step()
            after.append(rss_mib())

    if peak:
        sampled = _sampled_peak(run, interval)
    else:
        run()
    traced_peak, traced_held = _traced(step)
    summary = None
    if model is not None and input_shape is not None:
        from tinytorch.summary import summary as tt_summary  # noqa: PLC0415

        s = tt_summary(model, tuple(input_shape))
        summary = {"parameters": s.total("param_bytes"),
                   "activations": s.total("output_bytes"),
                   "saved for backward": s.total("saved_bytes")}
    rows, text = _line_profile(step, line_steps) if lines else ([], "")
    return MemoryReport(steps=steps, warmup=warmup, rss_start_mib=rss_start,
                        rss_before_mib=rss_before, rss_after_step_mib=after,
                        peak_rss_mib=max([sampled, rss_start, rss_before, *after]),
                        traced_peak_bytes=traced_peak, traced_retained_bytes=traced_held,
                        summary=summary, lines=rows, line_text=text)
