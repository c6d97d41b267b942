"""The module order of the course, in one place: the CLI, the grader, the docs and the tests
all read it from here.

>>> from tinytorch.manifest import MODULES
>>> [m.number for m in MODULES][:3], MODULES[1].name
(['00', '01', '02'], 'tensor')
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Module:
    number: str  # two digits, the order of the course
    name: str
    lesson: str  # the systems lesson of the module


MODULES = (
    Module("00", "setup", "the environment as a system: versions, threads, JIT cache, CUDA"),
    Module("01", "tensor", "storage, shape, strides, views, broadcasting, memory footprint"),
    Module("02", "mlp", "forward pass as loops: matmul, bias, activations; loop order"),
    Module("03", "cnn", "convolution as a memory problem: direct loops, im2col, padding"),
    Module("04", "autograd", "the graph, saved tensors, gradient memory, freeing"),
    Module("05", "data", "I/O pipelines, batching, shuffling, prefetch, preprocessing kernels"),
    Module("06", "training", "optimiser update loops, schedules, checkpoint and resume"),
    Module("07", "config", "experiment management: configs, seeds, run directories, sweeps"),
    Module("08", "profiling", "op-level timers, FLOPs/bytes, line_profiler, memory_profiler"),
    Module("09", "compression", "quantisation and pruning as kernels, with measured gains"),
    Module("10", "kernels", "tiling, parallelism, fusion, GPU kernels"),
    Module("11", "benchmarking", "honest measurement: warm-up, medians, ratios, rooflines"),
    Module("12", "mlops", "export, serving, monitoring"),
)


def module(number_or_name: str) -> Module:
    """Look a module up by number (``"01"`` or ``"1"``) or name (``"tensor"``)."""
    key = str(number_or_name)
    for m in MODULES:
        if key in (m.number, m.name) or (key.isdigit() and int(key) == int(m.number)):
            return m
    known = ", ".join(f"{m.number} {m.name}" for m in MODULES)
    raise ValueError(f"no module {number_or_name!r}; modules: {known}")
