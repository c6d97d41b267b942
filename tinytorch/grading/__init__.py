"""Autograding of the labs (``tinytorch grade NN``): helpers that grader tests use.

A grader is a pytest file ``tinytorch/grading/graders/test_labNN.py``. Its tests take the
``student`` fixture (the student's lab file, imported), call into it with ``call`` and
check with ``expect_close``/``expect_equal``, whose failures read as feedback: what was
expected, what came back, the shape, the first wrong index and a hint. ``@points(n)`` weights
a test. The engine (``engine.py``) runs the graders in a child process with a time limit
per test, so an infinite loop or a crash in student code fails one test, not the grader.

>>> expect_equal((3, 1), (3, 1), what="strides")
>>> expect_close([1.0, 2.0], [1.0, 2.5], what="sum")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
AssertionError: sum: wrong value at index (1,): expected 2.5, got 2.0 (1 of 2 elements ...
"""

from __future__ import annotations

import numpy as np
import pytest

__all__ = ["points", "call", "expect_close", "expect_equal"]


def points(n: float):
    """Weight of a grader test: ``@points(3)``."""
    return pytest.mark.points(n)


def call(student, name: str, *args, **kwargs):
    """Call the student's function ``name``; a missing function, a TODO left undone or a
    wrong signature becomes a failure that says so."""
    fn = getattr(student, name, None)
    if fn is None or not callable(fn):
        pytest.fail(f"your lab file has no function `{name}` (was it renamed or deleted?)",
                    pytrace=False)
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        pytest.fail(f"`{name}` is not implemented yet: replace its `raise "
                    "NotImplementedError` with your code", pytrace=False)
    except TypeError as err:
        if _is_signature_error(err, fn):
            pytest.fail(f"`{name}` cannot be called the way the lab specifies: {err}\nhint: "
                        "keep the parameters of the function as the lab gives them",
                        pytrace=False)
        raise


def _is_signature_error(err: TypeError, fn) -> bool:
    # Raised by binding the arguments (the call itself), not inside the student's body:
    # then the traceback has no frame below this one.
    return err.__traceback__ is None or err.__traceback__.tb_next is None


def _as_array(x) -> np.ndarray:
    data = getattr(x, "_data", None)
    return np.asarray(data if isinstance(data, np.ndarray) else x)


def expect_close(got, expected, *, what: str, hint: str = "", rtol: float | None = None,
                 atol: float | None = None) -> None:
    """Fail unless ``got`` matches ``expected`` (shape and values, float tolerance)."""
    g, e = _as_array(got), _as_array(expected)
    if g.shape != e.shape:
        _fail(f"{what}: wrong shape: expected {e.shape}, got {g.shape}", hint)
    rtol = 1e-5 if rtol is None else rtol
    atol = 1e-6 if atol is None else atol
    if g.size == 0:
        return
    try:
        bad = ~np.isclose(g.astype(np.float64), e.astype(np.float64), rtol=rtol, atol=atol,
                          equal_nan=True)
    except (TypeError, ValueError):
        _fail(f"{what}: expected numbers, got {got!r}", hint)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(f"{what}: wrong value at index {index}: expected {e[index].item()!r}, got "
              f"{g[index].item()!r} ({int(bad.sum())} of {g.size} elements wrong, shape "
              f"{g.shape})", hint)


def expect_equal(got, expected, *, what: str, hint: str = "") -> None:
    """Fail unless ``got == expected`` exactly (tuples, ints, bools, strings)."""
    if got != expected:
        _fail(f"{what}: expected {expected!r}, got {got!r}", hint)


def _fail(message: str, hint: str):
    raise AssertionError(message + (f"\nhint: {hint}" if hint else ""))
