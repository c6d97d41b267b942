"""tinytorch: a teaching deep-learning framework where every operator is written as Python
loops, then compiled with numba, behind one backend dispatcher ("loops to systems").

>>> import tinytorch as tt
>>> x = tt.arange(6.0).reshape(2, 3)
>>> with tt.backend("naive"):
...     slow = (x @ x.T).tolist()
>>> slow == (x @ x.T).tolist()
True

Importing tinytorch compiles nothing: each jit kernel compiles on its first call (and is
cached on disk), each cuda kernel loads when the cuda backend first runs.
"""

from tinytorch import autograd, data, dispatch, layout, nn, ops, optim, testing, threads
from tinytorch.autograd import Function, enable_grad, is_grad_enabled, no_grad
from tinytorch.creation import (
    arange,
    empty,
    full,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)
from tinytorch.dispatch import (
    available_backends,
    backend,
    get_backend,
    register_kernel,
    set_backend,
    set_op_backend,
)
from tinytorch.dtypes import (
    DType,
    as_dtype,
    float32,
    float64,
    int8,
    int32,
    int64,
    promote_types,
    result_type,
    uint8,
)
from tinytorch.dtypes import bool_ as bool  # noqa: A001 (PyTorch's name: tt.bool)
from tinytorch.ops import (
    abs,
    add,
    amax,
    amin,
    argmax,
    argmin,
    cat,
    clamp,
    div,
    eq,
    exp,
    ge,
    gt,
    le,
    log,
    lt,
    matmul,
    max,
    mean,
    min,
    mul,
    ne,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    stack,
    sub,
    sum,
    tanh,
    where,
)
from tinytorch.profiler import profile
from tinytorch.random import manual_seed
from tinytorch.summary import summary
from tinytorch.tensor import Tensor

__version__ = "0.1.0"

# PyTorch's dtype aliases
float = float32  # noqa: A001
double = float64
long = int64
int = int32  # noqa: A001
from tinytorch import pruning, quantization  # noqa: E402 (module 09; compiles nothing)

# The default backend's thread policy, once: under jit, numba's pool gets the cores and BLAS
# runs on one thread (TINYTORCH_THREADS=off keeps every pool as it is; docs/threads.md).
try:
    threads.apply_backend_policy(dispatch.get_backend())
except ValueError:  # a bad TINYTORCH_BACKEND: the first op says so; a bad TINYTORCH_THREADS:
    # the first backend switch warns once and leaves the pools alone
    pass
