"""Grader of lab 01 (tensor): strides, element offsets, transpose as a view, broadcasting,
expand with stride 0, the storage a view spans, and an add kernel as loops that numba
compiles and the dispatcher runs.

Each test checks one function of the lab on its own, so one bug costs the points of that
function only.
"""

import warnings

import numba
import numpy as np
import pytest

import tinytorch as tt
from tinytorch.grading import call, expect_close, expect_equal, points


def _require(condition, message: str) -> None:
    """Fail with ``message`` alone (a bare assert would add pytest's internals)."""
    if not condition:
        raise AssertionError(message)


def _as_tuple(value, what: str) -> tuple:
    _require(isinstance(value, (tuple, list)),
             f"{what}: expected a tuple of ints, got {value!r}")
    return tuple(int(v) for v in value)


# --- contiguous_strides ------------------------------------------------------------------

STRIDE_HINT = ("the last dimension has stride 1; each other stride is the product of the "
               "sizes to its right")


@points(2)
def test_contiguous_strides_of_common_shapes(student):
    """Row-major strides of 1-D, 2-D, 3-D and 4-D shapes."""
    for shape, expected in [((5,), (1,)), ((2, 3), (3, 1)), ((2, 3, 4), (12, 4, 1)),
                            ((2, 3, 4, 5), (60, 20, 5, 1))]:
        got = _as_tuple(call(student, "contiguous_strides", shape),
                        f"contiguous_strides({shape})")
        expect_equal(got, expected, what=f"contiguous_strides({shape})", hint=STRIDE_HINT)


@points(2)
def test_contiguous_strides_with_size_one_dims_and_0d(student):
    """Size-1 dimensions, and a 0-d shape () whose strides are ()."""
    for shape, expected in [((3, 1, 2), (2, 2, 1)), ((1, 1), (1, 1)), ((1, 4), (4, 1)),
                            ((), ())]:
        got = _as_tuple(call(student, "contiguous_strides", shape),
                        f"contiguous_strides({shape})")
        expect_equal(got, expected, what=f"contiguous_strides({shape})", hint=STRIDE_HINT)


@points(1)
def test_contiguous_strides_with_a_size_zero_dim(student):
    """A size-0 dimension counts as size 1 (PyTorch's rule): (2, 0, 3) -> (3, 3, 1)."""
    got = _as_tuple(call(student, "contiguous_strides", (2, 0, 3)),
                    "contiguous_strides((2, 0, 3))")
    expect_equal(got, (3, 3, 1), what="contiguous_strides((2, 0, 3))",
                 hint="multiply by max(size, 1), so a size-0 dim does not zero the strides")


# --- element_offset ----------------------------------------------------------------------

@points(2)
def test_element_offset_in_contiguous_and_strided_views(student):
    """offset + sum(index * stride), for plain, transposed and offset views."""
    cases = [((1, 2), (4, 1), 0, 6), ((0, 0), (4, 1), 0, 0), ((1, 2), (1, 4), 0, 9),
             ((1, 2, 3), (12, 4, 1), 0, 23), ((1, 1), (4, 2), 4, 10), ((2,), (0,), 3, 3)]
    for index, strides, offset, expected in cases:
        got = call(student, "element_offset", index, strides, offset)
        expect_equal(got, expected, what=f"element_offset({index}, {strides}, {offset})",
                     hint="start at offset, then add index[d] * strides[d] for every d")


@points(1)
def test_element_offset_of_a_0d_tensor_and_default_offset(student):
    """A 0-d index () lands on the offset; offset defaults to 0."""
    expect_equal(call(student, "element_offset", (), (), 5), 5,
                 what="element_offset((), (), 5)", hint="with no dimensions, only offset is left")
    expect_equal(call(student, "element_offset", (1, 0), (3, 1)), 3,
                 what="element_offset((1, 0), (3, 1)) with the default offset")


# --- transpose_view ----------------------------------------------------------------------

def _transpose(student, shape, strides, d0, d1):
    got = call(student, "transpose_view", shape, strides, d0, d1)
    what = f"transpose_view({shape}, {strides}, {d0}, {d1})"
    _require(isinstance(got, (tuple, list)) and len(got) == 2,
             f"{what}: expected a pair (new_shape, new_strides), got {got!r}")
    return (_as_tuple(got[0], what + " shape"), _as_tuple(got[1], what + " strides")), what


@points(2)
def test_strides_of_a_transpose(student):
    """Transposing swaps two sizes and the same two strides."""
    for shape, strides, d0, d1, expected in [
            ((2, 3), (3, 1), 0, 1, ((3, 2), (1, 3))),
            ((2, 3, 4), (12, 4, 1), 0, 2, ((4, 3, 2), (1, 4, 12))),
            ((2, 3, 4), (12, 4, 1), 1, 2, ((2, 4, 3), (12, 1, 4))),
            ((5, 1), (1, 1), 1, 0, ((1, 5), (1, 1)))]:
        got, what = _transpose(student, shape, strides, d0, d1)
        expect_equal(got, expected, what=what,
                     hint="swap entries d0 and d1 in the shape AND in the strides")


@points(1)
def test_transpose_with_negative_or_equal_dims(student):
    """Negative dims count from the end; transpose(d, d) changes nothing."""
    got, what = _transpose(student, (2, 3, 4), (12, 4, 1), -1, -3)
    expect_equal(got, ((4, 3, 2), (1, 4, 12)), what=what,
                 hint="dim -1 is the last dimension: d % ndim turns it into an index")
    got, what = _transpose(student, (2, 3), (3, 1), 1, 1)
    expect_equal(got, ((2, 3), (3, 1)), what=what)


@points(1)
def test_transpose_matches_tinytorch(student):
    """Your transpose agrees with tinytorch's x.transpose on a sliced view."""
    x = tt.zeros(4, 5, 6)[:, ::2]
    for d0, d1 in [(0, 1), (0, 2), (2, 1)]:
        got, what = _transpose(student, x.shape, x.strides, d0, d1)
        t = x.transpose(d0, d1)
        expect_equal(got, (t.shape, t.strides), what=what)


# --- broadcast_shape ---------------------------------------------------------------------

BROADCAST_HINT = ("align the shapes at the right; sizes must be equal or one of them 1, "
                  "and the result takes the larger")


@points(2)
def test_broadcast_shape_of_compatible_shapes(student):
    """Same rank: size-1 dimensions stretch to the other size."""
    for a, b, expected in [((3, 1), (1, 4), (3, 4)), ((2, 3), (2, 3), (2, 3)),
                           ((1, 1), (5, 1), (5, 1)), ((4, 1, 3), (1, 6, 1), (4, 6, 3)),
                           ((2, 0), (1, 0), (2, 0)), ((1,), (0,), (0,))]:
        got = _as_tuple(call(student, "broadcast_shape", a, b), f"broadcast_shape({a}, {b})")
        expect_equal(got, expected, what=f"broadcast_shape({a}, {b})", hint=BROADCAST_HINT)


@points(2)
def test_broadcast_shape_with_different_ranks_and_0d(student):
    """Missing leading dimensions count as 1; a 0-d shape broadcasts with anything."""
    for a, b, expected in [((5, 3, 4), (4,), (5, 3, 4)), ((4,), (5, 3, 1), (5, 3, 4)),
                           ((), (2, 3), (2, 3)), ((2, 3), (), (2, 3)), ((), (), ()),
                           ((8, 1, 6, 1), (7, 1, 5), (8, 7, 6, 5))]:
        got = _as_tuple(call(student, "broadcast_shape", a, b), f"broadcast_shape({a}, {b})")
        expect_equal(got, expected, what=f"broadcast_shape({a}, {b})",
                     hint="pad the shorter shape with 1s on the LEFT before comparing")


def _broadcast_error(student, a, b) -> str:
    try:
        got = call(student, "broadcast_shape", a, b)
    except ValueError as err:
        return str(err)
    raise AssertionError(f"broadcast_shape({a}, {b}) should raise ValueError, but it "
                         f"returned {got!r}\nhint: sizes that differ and are both not 1 "
                         "cannot broadcast")


@points(2)
def test_broadcast_shape_rejects_incompatible_shapes(student):
    """Sizes that differ and are not 1 raise ValueError."""
    for a, b in [((3,), (4,)), ((2, 3), (3, 2)), ((5, 3, 4), (3,)), ((2, 1), (8, 4, 3))]:
        _broadcast_error(student, a, b)


@points(1)
def test_broadcast_error_message_names_both_shapes(student):
    """The ValueError says which shapes did not broadcast."""
    message = _broadcast_error(student, (2, 3), (3, 2))
    _require("(2, 3)" in message and "(3, 2)" in message,
             f"the message should contain both shapes, (2, 3) and (3, 2); it was: "
             f"{message!r}\nhint: an f-string with {{a_shape}} and {{b_shape}} of tuples")


# --- expand_strides ----------------------------------------------------------------------

def _expand(student, shape, strides, new_shape):
    what = f"expand_strides({shape}, {strides}, {new_shape})"
    return _as_tuple(call(student, "expand_strides", shape, strides, new_shape), what), what


def _meaningful(strides, shape):
    """Strides of size-1 dimensions never move the position (the index is always 0)."""
    return tuple("any" if n == 1 else s for s, n in zip(strides, shape, strict=True))


@points(2)
def test_expand_gives_stride_zero_on_expanded_dims(student):
    """A size-1 dimension that grows gets stride 0; a kept dimension keeps its stride."""
    for shape, strides, new_shape, expected in [
            ((3, 1), (1, 1), (3, 4), (1, 0)), ((1, 4), (4, 1), (5, 4), (0, 1)),
            ((2, 1, 3), (3, 3, 1), (2, 7, 3), (3, 0, 1)), ((1, 1), (1, 1), (2, 3), (0, 0)),
            ((3, 2), (1, 3), (3, 2), (1, 3))]:
        got, what = _expand(student, shape, strides, new_shape)
        _require(len(got) == len(new_shape), f"{what}: expected {len(new_shape)} strides, "
                 f"got {got!r}")
        expect_equal(_meaningful(got, new_shape), _meaningful(expected, new_shape), what=what,
                     hint="a dimension that grows from 1 reads the same element again and "
                          "again: stride 0")


@points(2)
def test_expand_adds_leading_dims_with_stride_zero(student):
    """New dimensions on the left get stride 0 (a 0-d tensor expands too)."""
    for shape, strides, new_shape, expected in [
            ((4,), (1,), (2, 3, 4), (0, 0, 1)), ((3, 1), (1, 1), (2, 3, 5), (0, 1, 0)),
            ((), (), (2, 2), (0, 0))]:
        got, what = _expand(student, shape, strides, new_shape)
        _require(len(got) == len(new_shape), f"{what}: expected {len(new_shape)} strides, "
                 f"got {got!r}\nhint: one stride per dimension of new_shape")
        expect_equal(_meaningful(got, new_shape), _meaningful(expected, new_shape), what=what,
                     hint="align the shapes at the right; new leading dimensions get 0")


@points(1)
def test_expand_rejects_sizes_that_are_not_one(student):
    """Only size-1 dimensions can grow, and new_shape cannot have fewer dimensions."""
    for shape, strides, new_shape in [((3,), (1,), (4,)), ((2, 3), (3, 1), (2, 6)),
                                      ((2, 3), (3, 1), (3,))]:
        try:
            got = call(student, "expand_strides", shape, strides, new_shape)
        except ValueError:
            continue
        raise AssertionError(f"expand_strides({shape}, {strides}, {new_shape}) should "
                             f"raise ValueError, but it returned {got!r}")


@points(1)
def test_expand_matches_tinytorch(student):
    """Your strides agree with tinytorch's x.expand on a transposed tensor."""
    x = tt.zeros(1, 3).T  # shape (3, 1), strides (1, 1)
    for new_shape in [(3, 4), (2, 3, 5)]:
        got, what = _expand(student, x.shape, x.strides, new_shape)
        e = x.expand(*new_shape)
        expect_equal(_meaningful(got, new_shape), _meaningful(e.strides, new_shape),
                     what=what)


# --- storage_span ------------------------------------------------------------------------

@points(2)
def test_storage_span_of_views(student):
    """Contiguous, transposed, sliced and expanded views."""
    for shape, strides, expected in [((2, 3), (3, 1), 6), ((3, 2), (1, 3), 6),
                                     ((2, 2), (4, 2), 7), ((1000, 1000), (0, 1), 1000),
                                     ((5,), (0,), 1), ((4, 1), (1, 7), 4)]:
        got = call(student, "storage_span", shape, strides)
        expect_equal(got, expected, what=f"storage_span({shape}, {strides})",
                     hint="the last element is sum((size - 1) * stride) past the first; "
                          "the span counts both ends")


@points(1)
def test_storage_span_of_0d_and_empty(student):
    """A 0-d tensor spans one element; a tensor with a size-0 dimension spans none."""
    for shape, strides, expected in [((), (), 1), ((3, 0), (0, 1), 0), ((0,), (1,), 0)]:
        expect_equal(call(student, "storage_span", shape, strides), expected,
                     what=f"storage_span({shape}, {strides})",
                     hint="check for a size-0 dimension first")


# --- add_loops ---------------------------------------------------------------------------

def _add(student, a, b, fn=None):
    out = np.full(np.broadcast_shapes(a.shape, b.shape), np.nan, dtype=np.float64)
    a, b = np.broadcast_to(a, out.shape), np.broadcast_to(b, out.shape)
    result = call(student, "add_loops", out, a, b) if fn is None else fn(out, a, b)
    expect_equal(result, None, what="the return value of add_loops",
                 hint="write into `out` and return nothing: the caller owns `out`")
    return out, a + b


ADD_HINT = "out[i, j] = a[i, j] + b[i, j] for every i < out.shape[0] and j < out.shape[1]"


@points(2)
def test_add_loops_on_contiguous_arrays(student):
    """Square, wide, tall and 1 x 1 arrays: every element of out is written."""
    rng = np.random.default_rng(0)
    for shape in [(3, 3), (2, 7), (7, 2), (1, 1), (1, 5), (5, 1)]:
        got, expected = _add(student, rng.standard_normal(shape), rng.standard_normal(shape))
        expect_close(got, expected, what=f"add_loops on {shape}", hint=ADD_HINT)


@points(2)
def test_add_loops_with_broadcast_inputs(student):
    """Inputs with stride 0 (a row or a column repeated) and a transposed input."""
    rng = np.random.default_rng(1)
    cases = [(rng.standard_normal((4, 5)), rng.standard_normal((1, 5))),
             (rng.standard_normal((4, 1)), rng.standard_normal((1, 5))),
             (rng.standard_normal((5, 4)).T, rng.standard_normal((4, 1)))]
    for a, b in cases:
        got, expected = _add(student, a, b)
        expect_close(got, expected, what=f"add_loops on {a.shape} + {b.shape} broadcast",
                     hint="index a[i, j] and b[i, j]: strides (even 0) do the broadcasting")


@points(1)
def test_add_loops_on_zero_size_arrays(student):
    """Shapes with no elements: the loops run zero times."""
    for shape in [(0, 5), (3, 0)]:
        got, expected = _add(student, np.zeros(shape), np.zeros(shape))
        expect_close(got, expected, what=f"add_loops on {shape}")


@points(2)
def test_add_loops_compiles_with_numba(student):
    """numba.njit compiles your loops, and the compiled version still agrees."""
    call(student, "add_loops", np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
    fn = getattr(student.add_loops, "__wrapped__", student.add_loops)
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((6, 5)), rng.standard_normal((1, 5))
    try:
        got, expected = _add(student, a, b, fn=numba.njit(fn))
    except numba.core.errors.NumbaError as err:
        first = str(err).strip().splitlines()[0]
        pytest.fail(f"numba could not compile add_loops: {first}\nhint: use only loops, "
                    "numbers and indexing a[i, j] (no lists, no a + b)", pytrace=False)
    expect_close(got, expected, what="numba.njit(add_loops) on (6, 5) + (1, 5)",
                 hint=ADD_HINT)


@points(2)
def test_add_loops_runs_as_a_tinytorch_backend(student):
    """Registered as backend "student", your kernel computes x + y with broadcasting."""
    call(student, "add_loops", np.empty((1, 1)), np.ones((1, 1)), np.ones((1, 1)))
    tt.register_kernel("add_forward", "student", student.add_loops)
    x, y, col = tt.randn(3, 4), tt.randn(4), tt.randn(3, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # ops borrowed from jit warn once
        with tt.backend("student", fallback="jit"):
            row_sum, col_sum = x + y, x + col
    expect_close(row_sum, x.numpy() + y.numpy(), what="x (3, 4) + y (4,) on the student "
                 "backend", hint=ADD_HINT)
    expect_close(col_sum, x.numpy() + col.numpy(), what="x (3, 4) + col (3, 1) on the "
                 "student backend", hint=ADD_HINT)
