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

import numpy as np

__all__ = ["assert_close", "tolerances"]

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
