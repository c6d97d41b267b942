"""Comparing results: ``assert_close`` with tolerances per dtype that names the worst element.

>>> import tinytorch as tt
>>> assert_close(tt.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-7])
>>> assert_close(tt.tensor([1.0, 2.0]), [1.0, 2.5])
Traceback (most recent call last):
...
AssertionError: tensors are not close: 1 of 2 elements differ (float32: rtol=1.3e-06, atol=1e-05)
worst element at index (1,): got 2.0, expected 2.5 (abs diff 0.5, allowed 1.33e-05)
"""

from __future__ import annotations

import contextlib

import numpy as np

__all__ = ["assert_close", "gradcheck", "tolerances", "KernelCalled", "no_kernel_runs",
           "assert_raises", "memory_growth"]

# PyTorch's defaults for torch.testing.assert_close: (rtol, atol) per dtype.
_TOLERANCES = {
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
}


def tolerances(dtype) -> tuple[float, float]:
    """``(rtol, atol)`` for a dtype: exact (0, 0) for integers and bools.

    >>> import tinytorch as tt
    >>> tolerances(tt.float64)
    (1e-07, 1e-07)
    """
    npd = dtype.np if hasattr(dtype, "np") else np.dtype(dtype)
    return _TOLERANCES.get(npd, (0.0, 0.0))


def _as_numpy(x) -> np.ndarray:
    data = getattr(x, "_data", None)
    return data if isinstance(data, np.ndarray) else np.asarray(x)


def assert_close(actual, expected, *, rtol: float | None = None, atol: float | None = None,
                 check_dtype: bool = False, equal_nan: bool = True, msg: str = "") -> None:
    """Raise AssertionError unless ``|actual - expected| <= atol + rtol * |expected|``
    everywhere (shapes equal; NaN equals NaN unless ``equal_nan=False``).

    Tolerances default to the dtype of ``actual`` (float32 looser than float64, integers
    exact). The message gives the count of mismatches and the worst element: its index,
    both values, the difference and what was allowed there.
    """
    a, e = _as_numpy(actual), _as_numpy(expected)
    if a.shape != e.shape:
        raise AssertionError(f"{msg}shapes differ: got {a.shape}, expected {e.shape}")
    if check_dtype and a.dtype != e.dtype:
        raise AssertionError(f"{msg}dtypes differ: got {a.dtype}, expected {e.dtype}")
    default_rtol, default_atol = tolerances(a.dtype)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    if a.size == 0:
        return
    a64 = a.astype(np.float64) if a.dtype != np.bool_ else a.astype(np.int64)
    e64 = e.astype(np.float64) if e.dtype != np.bool_ else e.astype(np.int64)
    with np.errstate(invalid="ignore"):
        diff = np.abs(a64 - e64)
        allowed = atol + rtol * np.abs(e64)
        bad = ~(diff <= allowed)
        same_inf = (a64 == e64)  # inf == inf with the same sign
        bad &= ~same_inf
        if equal_nan:
            bad &= ~(np.isnan(a64) & np.isnan(e64))
    if not bad.any():
        return
    # rank mismatches by how far past their allowance they are; NaN mismatches first
    excess = np.where(np.isnan(diff), np.inf, diff - allowed)
    excess = np.where(bad, excess, -np.inf)
    worst = np.unravel_index(int(np.argmax(excess)), a.shape)
    raise AssertionError(
        f"{msg}tensors are not close: {int(bad.sum())} of {a.size} elements differ "
        f"({a.dtype}: rtol={rtol:.2g}, atol={atol:.2g})\n"
        f"worst element at index {tuple(int(i) for i in worst)}: got {a[worst].item()!r}, "
        f"expected {e[worst].item()!r} (abs diff {diff[worst]:.3g}, allowed {allowed[worst]:.3g})")


def gradcheck(fn, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              seed: int = 0) -> bool:
    """Check autograd's gradients of ``fn(*inputs)`` against central differences.

    Every input that requires grad must be float64. The output is projected on fixed random
    weights ``w`` (so one backward gives a whole vector-Jacobian product ``w^T J``), and for
    every element ``x_i`` of every such input the numerical derivative
    ``(L(x_i + eps) - L(x_i - eps)) / (2 eps)`` of ``L = sum(w * fn(...))`` must match the
    analytical one within ``atol + rtol * |numerical|``. Returns True, or raises
    AssertionError naming the input, the worst element, and both values. The inputs'
    ``.grad`` is left as it was.

    >>> import tinytorch as tt
    >>> x = tt.tensor([[0.5, -1.0], [2.0, 0.25]], dtype=tt.float64, requires_grad=True)
    >>> gradcheck(lambda t: (t * t).tanh().sum(dim=1), [x])
    True
    """
    from tinytorch import autograd
    from tinytorch.tensor import Tensor

    inputs = list(inputs)
    checked = [(k, t) for k, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError("gradcheck(): no input requires grad")
    for k, t in checked:
        if t.dtype.np != np.float64:
            raise TypeError(f"gradcheck(): input {k} is {t.dtype}; central differences need "
                            "float64 (use dtype=tt.float64)")
        if t.grad_fn is not None:
            raise ValueError(f"gradcheck(): input {k} is not a leaf; pass tensors created "
                             "with requires_grad=True")
    out = fn(*inputs)
    w = np.random.default_rng(seed).uniform(0.5, 1.5, out.shape)

    def loss() -> float:
        with autograd.no_grad():
            return float(np.sum(fn(*inputs)._data.astype(np.float64) * w))

    saved = [t.grad for _, t in checked]
    try:
        for _, t in checked:
            t.grad = None
        out.backward(Tensor(w.astype(out.dtype.np)))
        analytical = [np.zeros(t.shape) if t.grad is None else t.grad._data.copy()
                      for _, t in checked]
    finally:
        for (_, t), g in zip(checked, saved, strict=True):
            t.grad = g
    for (k, t), ana in zip(checked, analytical, strict=True):
        arr = t._data
        num = np.zeros(t.shape)
        for idx in np.ndindex(*t.shape):
            orig = arr[idx]
            arr[idx] = orig + eps
            plus = loss()
            arr[idx] = orig - eps
            minus = loss()
            arr[idx] = orig
            num[idx] = (plus - minus) / (2 * eps)
        diff = np.abs(ana - num)
        allowed = atol + rtol * np.abs(num)
        bad = ~(diff <= allowed)
        if bad.any():
            excess = np.where(bad, np.where(np.isnan(diff), np.inf, diff - allowed), -np.inf)
            worst = np.unravel_index(int(np.argmax(excess)), t.shape)
            raise AssertionError(
                f"gradcheck: gradient of input {k} (shape {t.shape}) is wrong at "
                f"{int(bad.sum())} of {t.numel()} elements; worst at index "
                f"{tuple(int(i) for i in worst)}: analytical {float(ana[worst])!r}, "
                f"numerical {float(num[worst])!r} (abs diff {diff[worst]:.3g}, allowed "
                f"{allowed[worst]:.3g})")
    return True


class KernelCalled(Exception):  # noqa: N818 (it reports an event, not an error)
    """Raised by the spy kernels of ``no_kernel_runs``: validation let a call through."""


@contextlib.contextmanager
def no_kernel_runs():
    """Inside the block every kernel is a spy (under a temporary backend ``"spy"``) that
    records its op and raises ``KernelCalled``; leaving the block checks that none ran.
    Proves that bad input is refused *before* compiled code, which does not bounds-check,
    could see it. Yields the list of ops that reached a kernel.

    >>> import tinytorch as tt
    >>> x = tt.ones(2, 3)
    >>> with no_kernel_runs():
    ...     try:
    ...         x @ tt.ones(4, 2)
    ...     except ValueError:
    ...         pass
    """
    from tinytorch import dispatch  # noqa: PLC0415 (testing is imported by tinytorch)

    calls: list[str] = []

    def make(op):
        def spy_kernel(*args, **params):
            calls.append(op)
            raise KernelCalled(f"{op} ran on bad input")
        return spy_kernel

    added = "spy" not in dispatch._extra_backends
    saved = {op: impls.get("spy") for op, impls in dispatch._TABLE.items()}
    for op in dispatch._TABLE:
        dispatch.register_kernel(op, "spy", make(op))
    try:
        with dispatch.backend("spy"):
            yield calls
    finally:
        for op, previous in saved.items():
            if previous is None:
                dispatch._TABLE[op].pop("spy", None)
            else:
                dispatch._TABLE[op]["spy"] = previous
        if added:
            dispatch._extra_backends.remove("spy")
    assert calls == [], f"kernels ran before the error was raised: {calls}"


def assert_raises(exc, fn, *fragments):
    """``fn()`` raises ``exc`` whose message contains every string in ``fragments``;
    returns the exception.

    >>> assert_raises(ValueError, lambda: int("x"), "invalid literal")
    ValueError("invalid literal for int() with base 10: 'x'")
    """
    try:
        fn()
    except exc as err:
        for fragment in fragments:
            assert fragment in str(err), f"{fragment!r} not in message: {err}"
        return err
    raise AssertionError(f"{fn} did not raise {exc.__name__}")


def memory_growth(step, steps: int = 2000, warmup: int = 150, windows: int = 2) -> int:
    """Bytes of memory (numpy buffers included: numpy reports them to ``tracemalloc``)
    still held after ``steps`` more calls of ``step()``: about 0 when each call releases
    what it made (saved tensors, graphs, gradients).

    The smallest growth over ``windows`` consecutive windows is returned: a leak grows in
    every window, while a one-off allocation (an interpreter table or cache reaching its
    size, measured once here at 1.7 MB) lands in one window only.

    >>> import tinytorch as tt
    >>> w = tt.ones(8, requires_grad=True)
    >>> memory_growth(lambda: (w * w).sum().backward(), steps=200, warmup=20) < 16 * 1024
    True
    """
    import gc  # noqa: PLC0415
    import tracemalloc  # noqa: PLC0415

    for _ in range(warmup // 3):  # compile and fill caches before tracing
        step()
    gc.collect()
    tracemalloc.start()
    growths = []
    try:
        for _ in range(warmup - warmup // 3):
            step()
        for _ in range(windows):
            before = tracemalloc.take_snapshot()
            for _ in range(steps):
                step()
            gc.collect()
            after = tracemalloc.take_snapshot()
            growths.append(sum(stat.size_diff for stat in after.compare_to(before,
                                                                          "filename")))
    finally:
        tracemalloc.stop()
    return min(growths)
