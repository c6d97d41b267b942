"""numba.cuda kernels, imported only when the cuda backend is first used.

This file is a static table and must stay cheap: it never imports ``numba.cuda``. Importing
``numba.cuda`` costs time, and it decides *at that moment* between the real driver and the
simulator from ``NUMBA_ENABLE_CUDASIM``, so importing it from ``import tinytorch`` would
fix that choice before a test or a user has a chance to set the variable. Instead each
entry is a ``LazyKernel`` that imports its family module (``elementwise``, ``reduce``,
``matmul``, which import ``numba.cuda``) on its first call.

Every kernel has the project's contract, ``kernel(out, *inputs) -> None`` with host numpy
arrays: the launcher copies the inputs to the GPU, launches, and copies the result back
into ``out``. See ``docs/kernels.md``.

>>> CUDA_KERNELS["matmul_forward"]
LazyKernel('matmul', 'matmul_forward_cuda_tiled')
>>> sorted(VARIANTS)
['matmul_naive', 'matmul_tiled']
"""

from __future__ import annotations

import importlib
import os

__all__ = ["CUDA_KERNELS", "VARIANTS", "LazyKernel", "cuda_status"]

# Spelled out rather than taken from __name__: this folder is only ever imported as
# tinytorch.kernels.cuda (a tool that imports it by path, like doctest collection, would
# see a bare `kernels.cuda`, the name an unrelated PyPI package owns).
_PACKAGE = "tinytorch.kernels.cuda"


class LazyKernel:
    """A kernel that imports ``tinytorch.kernels.cuda.<module>`` when first called.

    >>> k = LazyKernel("elementwise", "add_forward_cuda")
    >>> k
    LazyKernel('elementwise', 'add_forward_cuda')
    >>> k.qualname
    'tinytorch.kernels.cuda.elementwise.add_forward_cuda'
    """

    __slots__ = ("module", "name", "_fn")

    def __init__(self, module: str, name: str):
        self.module = module
        self.name = name
        self._fn = None

    @property
    def qualname(self) -> str:
        return f"{_PACKAGE}.{self.module}.{self.name}"

    def load(self):
        """Import the family module (and with it ``numba.cuda``) and return the launcher."""
        if self._fn is None:
            mod = importlib.import_module(f"{_PACKAGE}.{self.module}")
            self._fn = getattr(mod, self.name)
        return self._fn

    def __call__(self, out, *inputs, **params):
        return self.load()(out, *inputs, **params)

    def __repr__(self) -> str:
        return f"LazyKernel({self.module!r}, {self.name!r})"


def _table(module: str, names: dict[str, str]) -> dict[str, LazyKernel]:
    return {op: LazyKernel(module, fn) for op, fn in names.items()}


# op name -> launcher. The registered matmul is the tiled kernel; the naive one is a variant.
CUDA_KERNELS: dict[str, LazyKernel] = {
    **_table(
        "elementwise",
        {
            "add_forward": "add_forward_cuda",
            "sub_forward": "sub_forward_cuda",
            "mul_forward": "mul_forward_cuda",
            "div_forward": "div_forward_cuda",
            "relu_forward": "relu_forward_cuda",
            "neg_forward": "neg_forward_cuda",
            "exp_forward": "exp_forward_cuda",
        },
    ),
    "sum_forward": LazyKernel("reduce", "sum_forward_cuda"),
    "matmul_forward": LazyKernel("matmul", "matmul_forward_cuda_tiled"),
    "conv2d_forward": LazyKernel("conv", "conv2d_forward_cuda"),  # naive: one thread/output
}

# Alternative implementations of one op, for benchmarks and labs (same signature).
VARIANTS: dict[str, LazyKernel] = {
    "matmul_naive": LazyKernel("matmul", "matmul_forward_cuda_naive"),
    "matmul_tiled": LazyKernel("matmul", "matmul_forward_cuda_tiled"),
}


def cuda_status() -> tuple[str, str]:
    """Where cuda kernels would run: ``("gpu", device name)``, ``("simulator", ...)``, or
    ``("none", reason)``. Imports ``numba.cuda`` (so call it only when you mean to use it);
    never raises.

    >>> kind, detail = cuda_status()
    >>> kind in ("gpu", "simulator", "none")
    True
    """
    env = os.environ.get("NUMBA_ENABLE_CUDASIM")
    try:
        from numba import cuda
    except Exception as exc:  # numba missing or broken: report, never raise
        return "none", f"cannot import numba.cuda: {type(exc).__name__}: {exc}"
    try:
        # Ask the module numba actually loaded, not the environment or numba.config: numba
        # reads NUMBA_ENABLE_CUDASIM once, and numba.config can be reloaded later, so both
        # can disagree with the implementation behind `numba.cuda`.
        if "simulator" in getattr(cuda.is_available, "__module__", ""):
            return "simulator", "NUMBA_ENABLE_CUDASIM=1"
        if cuda.is_available():
            name = cuda.get_current_device().name
            if isinstance(name, bytes):  # older drivers bindings return bytes
                name = name.decode(errors="replace")
            return "gpu", str(name)
        err = cuda.cuda_error()
        # the driver's message spans several lines; fold it into one
        reason = " ".join(str(err).split()) if err else "numba.cuda.is_available() is False"
        if env == "1":
            reason += (
                "; NUMBA_ENABLE_CUDASIM=1 is set but numba.cuda loaded the real driver "
                "(set the variable before numba is first imported)"
            )
        return "none", f"no CUDA GPU: {reason}"
    except Exception as exc:
        return "none", f"{type(exc).__name__}: {exc}"
