"""What the kernel families share: the jit twin of a naive kernel, and the ``KERNELS`` table
built from a family's functions by name.

>>> from tinytorch.kernels import activation
>>> impls = activation.KERNELS["gelu_forward"]
>>> sorted(impls), impls["jit"].py_func is activation.gelu_forward_naive
(['jit', 'naive', 'numpy'], True)
"""

from numba import njit


def jit_twin(fn):
    """The jit twin of a naive kernel: literally the same source, compiled on first call
    (and cached on disk), with numpy's error model so all backends agree on inf and nan."""
    return njit(cache=True, error_model="numpy")(fn)


def kernel_table(namespace: dict, kernels) -> dict:
    """``{kernel: {"naive": f, "jit": jit_twin(f), "numpy": g}}`` for kernel names such as
    ``"gelu_forward"``, reading ``<kernel>_naive`` and ``<kernel>_numpy`` from ``namespace``
    (a family's ``globals()``) and storing each twin there as ``<kernel>_jit``, so it can be
    imported by name like the others."""
    table = {}
    for kernel in kernels:
        naive = namespace[f"{kernel}_naive"]
        jitted = namespace[f"{kernel}_jit"] = jit_twin(naive)
        table[kernel] = {"naive": naive, "jit": jitted, "numpy": namespace[f"{kernel}_numpy"]}
    return table
