"""The backend dispatcher: one table ``op -> {backend: kernel}`` plus a policy.

The table is assembled from the ``KERNELS`` dicts of the family files in
``tinytorch.kernels`` (PyTorch keeps the same idea in ``native_functions.yaml``). The policy
picks a backend for each call, from the most to the least specific:

1. a per-op override (``set_op_backend("matmul", "numpy")`` or ``backend(..., ops={...})``);
2. the innermost ``with tt.backend(name):`` block (a context variable, so threads and
   async tasks each see their own);
3. the global default: ``tt.set_backend(name)``, else the environment variable
   ``TINYTORCH_BACKEND``, else ``"jit"``.

There is no silent fallback. An op without a kernel for the chosen backend raises and names
the backends it has; a fallback backend that the user asked for (``fallback="jit"``) warns
once per op.

>>> import tinytorch as tt
>>> with tt.backend("numpy"):
...     tt.get_backend()
'numpy'
>>> "jit" in tt.available_backends()
True
"""

from __future__ import annotations

import contextlib
import contextvars
import operator
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from time import perf_counter as _perf_counter

import numpy as np

from tinytorch import kernels as _kernels
from tinytorch import threads as _threads

__all__ = [
    "BUILTIN_BACKENDS", "set_backend", "get_backend", "backend", "available_backends",
    "register_kernel", "set_op_backend", "kernel_for", "call", "ops", "add_hook",
    "remove_hook", "add_timer", "remove_timer", "add_recorder", "remove_recorder",
    "BackendError",
]

BUILTIN_BACKENDS = ("naive", "jit", "numpy", "cuda")
ENV_VAR = "TINYTORCH_BACKEND"


class BackendError(ValueError):
    """A backend that does not exist, cannot run here, or has no kernel for an op."""


# op -> {backend: kernel}. Built once from the kernel families; nothing compiles here, since
# njit wraps lazily and cuda kernels load on first call.
_TABLE: dict[str, dict[str, Callable]] = {}
for _op, _impls in _kernels.REGISTRY.items():
    _TABLE[_op] = dict(_impls)
for _op, _kernel in _kernels.cuda_kernels().items():
    _TABLE.setdefault(_op, {})["cuda"] = _kernel

_extra_backends: list[str] = []  # names introduced by register_kernel, in order
_default: str | None = None  # set_backend(); None means "read the environment"
_default_fallback: str | None = None
_context: contextvars.ContextVar[tuple | None] = contextvars.ContextVar(
    "tinytorch_backend", default=None)  # (backend, fallback, ops overrides)
_op_overrides: dict[str, str] = {}
_warned_fallbacks: set[tuple[str, str, str]] = set()
_thread_policy_warned: list[bool] = []  # a bad TINYTORCH_THREADS is reported once
_hooks: list[Callable] = []
_timers: list[Callable] = []  # fn(op, backend, args, seconds) after each kernel (add_timer)
# list.append of each recording profile (add_recorder): gets one record tuple per kernel call
_recorders: list[Callable] = []
_recorder_shapes: list[bool] = []  # per recorder: does it want shapes and dtypes?
_shapes_wanted = False  # any(_recorder_shapes)
_interned_keys: dict[tuple, tuple] = {}  # emptied when the last recorder goes
_only_recorder: Callable | None = None  # the recorder, when it is the only listener
_timing = False  # _timers or _recorders: one global test on the untimed path
_SHAPE_DTYPE = operator.attrgetter("shape", "dtype")


def _known() -> list[str]:
    return list(BUILTIN_BACKENDS) + _extra_backends


def _check_name(name, what: str = "backend") -> str:
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a string such as 'jit', got {type(name).__name__}")
    if name not in _known():
        raise BackendError(
            f"unknown {what} {name!r}; known backends: {', '.join(_known())}\n"
            f"hint: tt.register_kernel(op, {name!r}, fn) creates a new backend")
    return name


def _check_usable(name: str) -> None:
    """Raise if a backend exists but cannot run on this machine (cuda without a GPU)."""
    if name != "cuda":
        return
    kind, detail = _kernels.cuda_status()
    if kind == "none":
        raise BackendError(
            f"the 'cuda' backend needs an NVIDIA GPU and none is usable here ({detail}).\n"
            "hint: to run the CUDA kernels on the CPU simulator, start Python with "
            "NUMBA_ENABLE_CUDASIM=1 in the environment (slow: tiny shapes only)")


def _env_default() -> str:
    """The backend named by ``TINYTORCH_BACKEND`` (``jit`` when unset), validated."""
    global _env_cache
    raw = _env_raw()
    if _env_cache is not None and _env_cache[0] == raw:
        return _env_cache[1]
    name = os.environ.get(ENV_VAR, "jit").strip() or "jit"
    if name not in _known():
        raise BackendError(
            f"{ENV_VAR}={name!r} is not a backend; known backends: {', '.join(_known())}")
    _env_cache = (raw, name)
    return name


# ``os.environ.get`` costs about a microsecond (it encodes the key), as much as a small
# kernel, and ``call`` needs the variable on every kernel call. CPython's ``os.environ``
# keeps its encoded items in ``_data``, updated by every assignment and deletion, so a dict
# lookup there tells whether the variable changed since it was validated.
_ENV_DATA = getattr(os.environ, "_data", None)
_ENV_KEY = os.environ.encodekey(ENV_VAR) if hasattr(os.environ, "encodekey") else None
_env_cache: tuple | None = None  # (raw value, validated backend name)


def _env_raw():
    if _ENV_DATA is not None and _ENV_KEY is not None:
        return _ENV_DATA.get(_ENV_KEY)
    return os.environ.get(ENV_VAR)


def set_backend(name: str, *, fallback: str | None = None) -> None:
    """Set the global default backend (what ``get_backend()`` returns outside any
    ``with tt.backend(...)`` block).

    ``fallback`` names a backend to use, with a one-time warning per op, for ops that have
    no kernel under ``name``: handy when a student's backend implements only a few ops.

    >>> import tinytorch as tt
    >>> tt.set_backend("numpy"); tt.get_backend()
    'numpy'
    >>> tt.set_backend("jit")
    """
    global _default, _default_fallback
    _check_name(name)
    _check_usable(name)
    if fallback is not None:
        _check_name(fallback, "fallback backend")
    _default, _default_fallback = name, fallback
    # the cores go to the pool this backend uses (jit: numba's; BLAS runs on one thread);
    # docs/threads.md has the contention this avoids
    _apply_thread_policy(name)


def get_backend() -> str:
    """The backend that ops use right now (innermost ``with tt.backend`` first).

    >>> import tinytorch as tt
    >>> tt.get_backend() in tt.available_backends()
    True
    """
    ctx = _context.get()
    if ctx is not None:
        return ctx[0]
    return _default if _default is not None else _env_default()


@contextlib.contextmanager
def backend(name: str, *, fallback: str | None = None,
            ops: dict[str, str] | None = None) -> Iterator[str]:
    """Use backend ``name`` inside the block; ``ops={"matmul": "numpy"}`` overrides single
    ops inside the block too. Blocks nest; leaving one restores the previous choice.

    >>> import tinytorch as tt
    >>> with tt.backend("naive", ops={"matmul": "numpy"}):
    ...     tt.dispatch.kernel_for("matmul_forward")[0], tt.dispatch.kernel_for("add_forward")[0]
    ('numpy', 'naive')
    """
    _check_name(name)
    _check_usable(name)
    if fallback is not None:
        _check_name(fallback, "fallback backend")
    overrides = {}
    for op, b in (ops or {}).items():
        overrides[op] = _check_name(b)
    token = _context.set((name, fallback, overrides))
    try:
        _apply_thread_policy(name)  # per block, never per kernel call
        yield name
    finally:
        _context.reset(token)
        _apply_thread_policy(get_backend())


def _apply_thread_policy(name: str) -> None:
    """``tinytorch.threads``' policy for backend ``name``. A bad ``TINYTORCH_THREADS``
    is reported once and leaves the pools as they are: a setting about speed must not stop
    a backend switch (nor leave one half done)."""
    try:
        _threads.apply_backend_policy(name)
    except ValueError as err:
        if not _thread_policy_warned:
            _thread_policy_warned.append(True)
            warnings.warn(f"{err}; thread pools left as they are", RuntimeWarning,
                          stacklevel=_user_stacklevel())


def available_backends() -> list[str]:
    """Backends that can run on this machine: naive, jit and numpy always, cuda when a GPU
    or the simulator is present, and every backend added with ``register_kernel``.

    >>> import tinytorch as tt
    >>> tt.available_backends()[:3]
    ['naive', 'jit', 'numpy']
    """
    names = ["naive", "jit", "numpy"]
    if _kernels.cuda_status()[0] != "none":
        names.append("cuda")
    return names + _extra_backends


def register_kernel(op: str, backend: str, fn: Callable) -> None:
    """Register ``fn`` as the kernel of ``op`` for ``backend``; a new backend name creates
    that backend. ``fn`` takes the op's kernel signature, outputs first: for example
    ``matmul_forward(out, a, b)`` on ``(B, M, N)``, ``(B, M, K)``, ``(B, K, N)`` arrays
    (``docs/kernels.md`` lists every family's shapes).

    >>> import numpy as np, tinytorch as tt
    >>> def my_matmul(out, a, b):
    ...     np.matmul(a, b, out=out)
    >>> tt.register_kernel("matmul_forward", "mine", my_matmul)
    >>> with tt.backend("mine"):
    ...     (tt.ones(2, 3) @ tt.ones(3, 2)).tolist()
    [[3.0, 3.0], [3.0, 3.0]]
    """
    if not isinstance(op, str) or op not in _TABLE:
        known = ", ".join(sorted(_TABLE))
        raise BackendError(f"unknown op {op!r}; ops with kernels: {known}")
    if not isinstance(backend, str) or not backend.isidentifier():
        raise TypeError(f"backend name must be an identifier string, got {backend!r}")
    if not callable(fn):
        raise TypeError(f"kernel for {op!r} must be callable, got {type(fn).__name__}")
    if backend not in _known():
        _extra_backends.append(backend)
    _TABLE[op][backend] = fn


def set_op_backend(op: str, backend: str | None) -> None:
    """Route one op (``"matmul"`` covers ``matmul_forward`` and later ``matmul_backward``;
    or a full kernel name) to ``backend`` whatever the current backend is; ``None`` clears.

    >>> import tinytorch as tt
    >>> tt.set_op_backend("matmul", "numpy"); tt.set_op_backend("matmul", None)
    """
    if not isinstance(op, str) or not any(k == op or k.rsplit("_", 1)[0] == op
                                          for k in _TABLE):
        raise BackendError(f"unknown op {op!r}; ops: {', '.join(ops())}")
    if backend is None:
        _op_overrides.pop(op, None)
    else:
        _op_overrides[op] = _check_name(backend)


def ops() -> list[str]:
    """Every op name in the table (``add``, ``matmul``, ...), without the direction suffix."""
    return sorted({k.rsplit("_", 1)[0] for k in _TABLE})


def _choose(op: str) -> tuple[str, str | None]:
    """The backend for one kernel name, and the fallback in force."""
    base = op.rsplit("_", 1)[0]
    ctx = _context.get()
    if ctx is not None:
        name, fallback, overrides = ctx
        for key in (op, base):
            if key in overrides:
                return overrides[key], None
    else:
        name, fallback = get_backend(), _default_fallback
    for key in (op, base):
        if key in _op_overrides:
            return _op_overrides[key], None
    return name, fallback


def kernel_for(op: str, backend: str | None = None) -> tuple[str, Callable]:
    """The ``(backend, kernel)`` that a call of ``op`` would run now.

    >>> import tinytorch as tt
    >>> tt.dispatch.kernel_for("add_forward", "numpy")[0]
    'numpy'
    """
    impls = _TABLE.get(op)
    if impls is None:
        raise BackendError(f"unknown op {op!r}; ops with kernels: {', '.join(sorted(_TABLE))}")
    fallback = None
    if backend is None:
        backend, fallback = _choose(op)
    else:
        _check_name(backend)
    fn = impls.get(backend)
    if fn is not None:
        _check_usable(backend)
        return backend, fn
    if fallback is not None and fallback in impls:
        key = (op, backend, fallback)
        if key not in _warned_fallbacks:
            _warned_fallbacks.add(key)
            warnings.warn(f"{op} has no {backend!r} kernel; using the {fallback!r} fallback "
                          "you asked for", RuntimeWarning, stacklevel=_user_stacklevel())
        _check_usable(fallback)
        return fallback, impls[fallback]
    have = ", ".join(b for b in _known() if b in impls)
    raise BackendError(f"{op} has no {backend!r} kernel; available: {have}\n"
                       f"hint: tt.register_kernel({op!r}, {backend!r}, fn) adds one, or "
                       f"tt.set_backend({backend!r}, fallback='jit') borrows the rest")


def _user_stacklevel() -> int:
    """The stacklevel that points a warning at the first frame outside tinytorch."""
    ours = tuple(os.path.dirname(os.path.abspath(m.__file__)) + os.sep
                 for m in (sys.modules["tinytorch"], _kernels))
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(ours):
        frame, level = frame.f_back, level + 1
    return level


def call(op: str, *args, **params) -> None:
    """Run ``op``'s kernel for the current backend: ``call("add_forward", out, a, b)``.

    Every compute op of tinytorch goes through here, which is where the profiler (module 08)
    hooks in: each timer added with ``add_timer`` learns how long the kernel took, and each
    hook added with ``add_hook`` is entered around the kernel call.
    """
    ctx = _context.get()
    if not _hooks and not _op_overrides and (ctx is None or not ctx[2]):
        # The common case, kept short: it runs once per kernel call, so every microsecond
        # here is a microsecond on every op of a training step.
        name = (_default or _env_default()) if ctx is None else ctx[0]
        impls = _TABLE.get(op)
        fn = impls.get(name) if impls is not None else None
        if fn is not None and name != "cuda":
            if _timing:  # tested here, not above: the untimed path pays one global test
                record = _only_recorder  # read once: another thread may end the profile
                if record is not None and name == "jit":
                    # one profile and jit: _timed_call's work inlined, a frame saved per call
                    start = _perf_counter()
                    fn(*args, **params)
                    seconds = _perf_counter() - start
                    record((op, name, _args_key(args) if _shapes_wanted else None, start,
                            seconds))
                else:
                    _timed_call(op, name, fn, args, params)
            elif name == "jit":  # compiled with error_model="numpy": never warns
                fn(*args, **params)
            else:
                with np.errstate(all="ignore"):
                    fn(*args, **params)
            return
    backend_name, fn = kernel_for(op)
    if not _hooks:
        if _timing:
            _timed_call(op, backend_name, fn, args, params)
        else:
            _quiet_call(backend_name, fn, args, params)
        return
    with contextlib.ExitStack() as stack:
        for hook in _hooks:
            stack.enter_context(hook(op, backend_name, args, params))
        if _timing:
            _timed_call(op, backend_name, fn, args, params)
        else:
            _quiet_call(backend_name, fn, args, params)


def _timed_call(op: str, backend_name: str, fn: Callable, args: tuple, params: dict) -> None:
    # Two clock reads around the kernel alone: the errstate block (numpy and naive
    # backends) is set up outside them, so a timer measures the kernel, not the dispatcher.
    if backend_name == "jit":
        start = _perf_counter()
        fn(*args, **params)
        seconds = _perf_counter() - start
    else:
        with np.errstate(all="ignore"):
            start = _perf_counter()
            fn(*args, **params)
            seconds = _perf_counter() - start
    if _recorders:
        # Built here, once, for every recorder. Reading .shape and .dtype is most of a
        # profiler's cost per call (about 1 us in a training step), so it is skipped when
        # no recorder asks for it, and nothing else is done now (no hashing, no grouping).
        record = (op, backend_name, _args_key(args) if _shapes_wanted else None, start,
                  seconds)
        for append in _recorders:
            append(record)
    if _timers:
        for timer in _timers:
            timer(op, backend_name, args, seconds)


def _args_key(args: tuple) -> tuple:
    """``((shape, dtype), ...)`` of a kernel call's positional arguments, interned: the new
    tuple dies at once, and a long profile holds a few shared keys instead of a tracked
    tuple per call for the garbage collector to walk."""
    try:
        key = tuple(map(_SHAPE_DTYPE, args))
    except AttributeError:  # a scalar passed positionally: rare, and slower
        key = tuple([(getattr(a, "shape", None), getattr(a, "dtype", None)) for a in args])
    return _interned_keys.setdefault(key, key)


def _quiet_call(backend_name: str, fn: Callable, args: tuple, params: dict) -> None:
    # inf and nan are results, as in PyTorch, not warnings: Python loops on numpy scalars
    # and numpy kernels would otherwise warn on overflow or 0/0.
    if backend_name == "jit":
        fn(*args, **params)
        return
    with np.errstate(all="ignore"):
        fn(*args, **params)


def add_hook(hook: Callable) -> None:
    """Add ``hook(op, backend, args, params)``, a context-manager factory entered around
    every kernel call (a profiler times the ``with`` body)."""
    _hooks.append(hook)


def remove_hook(hook: Callable) -> None:
    """Remove a hook added with ``add_hook``; removing one that is absent is not an error."""
    with contextlib.suppress(ValueError):
        _hooks.remove(hook)


def add_timer(fn: Callable) -> None:
    """Add ``fn(op, backend, args, seconds)``, a plain callable run after every kernel call
    with the kernel's own time (two ``time.perf_counter()`` reads around it). Much cheaper
    than a hook (no context manager per call): ``tt.profile`` is built on it. The kernel's
    outputs are written when ``fn`` runs; ``fn`` must not keep ``args`` (they are the
    caller's arrays).

    >>> import tinytorch as tt
    >>> seen = []
    >>> def timer(op, backend, args, seconds):
    ...     seen.append((op, backend, seconds >= 0))
    >>> tt.dispatch.add_timer(timer)
    >>> with tt.backend("numpy"):
    ...     _ = tt.ones(2) + tt.ones(2)
    >>> tt.dispatch.remove_timer(timer)
    >>> seen
    [('add_forward', 'numpy', True)]
    """
    if not callable(fn):
        raise TypeError(f"a timer must be callable as fn(op, backend, args, seconds), got "
                        f"{type(fn).__name__}")
    _timers.append(fn)
    _update_timing()


def remove_timer(fn: Callable) -> None:
    """Remove one timer added with ``add_timer`` (the last one added if it was added more
    than once); removing one that is absent is not an error.

    >>> import tinytorch as tt
    >>> tt.dispatch.remove_timer(print)  # never added: nothing happens
    """
    for i in range(len(_timers) - 1, -1, -1):
        if _timers[i] == fn:  # ==, not is: a bound method is a new object per access
            del _timers[i]
            break
    _update_timing()


def add_recorder(append: Callable, *, shapes: bool = True) -> None:
    """Add ``append`` (typically a list's ``append``), called after every kernel call with
    one record ``(op, backend, ((shape, dtype), ...), start, seconds)``: the shape and
    dtype of each positional argument (``(None, None)`` for a non-array; the whole key is
    ``None`` unless some recorder was added with ``shapes=True``), the
    ``time.perf_counter()`` reading before the kernel, and the kernel's own time. The
    cheapest way to watch every call (``tt.profile`` uses it): one tuple per call, built
    once for all recorders, and the arrays themselves are never kept.

    >>> import tinytorch as tt
    >>> records = []
    >>> tt.dispatch.add_recorder(records.append)
    >>> with tt.backend("numpy"):
    ...     _ = tt.ones(2) + tt.ones(2)
    >>> tt.dispatch.remove_recorder(records.append)
    >>> [(op, backend, [shape for shape, dtype in key]) for op, backend, key, _, _ in records]
    [('add_forward', 'numpy', [(1, 2), (1, 2), (1, 2)])]
    """
    if not callable(append):
        raise TypeError(f"a recorder must be callable with one record tuple, got "
                        f"{type(append).__name__}")
    _recorders.append(append)
    _recorder_shapes.append(bool(shapes))
    _update_timing()


def remove_recorder(append: Callable) -> None:
    """Remove one recorder added with ``add_recorder``; absent is not an error."""
    for i in range(len(_recorders) - 1, -1, -1):
        if _recorders[i] == append:  # a bound method is a new object per access
            del _recorders[i]
            del _recorder_shapes[i]
            break
    _update_timing()


def _update_timing() -> None:
    global _timing, _shapes_wanted, _only_recorder
    _timing = bool(_timers or _recorders)
    _shapes_wanted = any(_recorder_shapes)
    _only_recorder = _recorders[0] if len(_recorders) == 1 and not _timers else None
    if not _recorders:
        _interned_keys.clear()
