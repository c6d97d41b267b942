"""Array-only kernels, shipped as ``tinytorch.kernels`` (never as a bare ``kernels`` module).

Each family file (``elementwise``, ``elementwise_backward``, ``reduce``, ``matmul``,
``linear``, ``activation``, ``loss``, ``optim``, ``transforms``, ``conv``, ``pool``, ``norm``,
``quant``, ``qgemm``, ``sparse``, ``linear_act``) ends
with a ``KERNELS`` table ``{"<op>_<direction>": {"naive": f, "jit": g, "numpy": h}}``;
``REGISTRY`` merges them and the dispatcher reads it. Nothing here compiles: ``njit``
compiles on first call, and the CUDA kernels in ``kernels/cuda/`` are imported only when the
``cuda`` backend first runs. See ``docs/kernels.md`` for the contract every kernel keeps.
"""

import functools

from . import (
    activation,
    conv,
    elementwise,
    elementwise_backward,
    linear,
    linear_act,
    loss,
    matmul,
    norm,
    optim,
    pool,
    qgemm,
    quant,
    reduce,
    reduce_backward,
    sparse,
    transforms,
)

FAMILIES = (elementwise, elementwise_backward, reduce, reduce_backward, matmul, linear, activation,
            loss, optim, transforms)
FAMILIES += (conv,)
FAMILIES += (pool, norm)
FAMILIES += (quant, qgemm)
FAMILIES += (sparse,)
FAMILIES += (linear_act,)

REGISTRY: dict[str, dict] = {}
for _family in FAMILIES:
    for _op, _impls in _family.KERNELS.items():
        if _op in REGISTRY:
            raise RuntimeError(f"kernel {_op!r} registered by two families")
        REGISTRY[_op] = dict(_impls)
del _family, _op, _impls


def cuda_kernels() -> dict:
    """``{op: lazy cuda kernel}``; importing this does not import ``numba.cuda``."""
    from .cuda import CUDA_KERNELS

    return dict(CUDA_KERNELS)


@functools.lru_cache(maxsize=1)
def cuda_status() -> tuple[str, str]:
    """``("gpu", name)``, ``("simulator", how)`` or ``("none", why)``; imports numba.cuda."""
    from .cuda import cuda_status as _status

    return _status()
