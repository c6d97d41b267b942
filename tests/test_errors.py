"""Bad input is part of the contract: a clear ValueError / TypeError / IndexError, raised
by the function layer BEFORE any kernel runs (compiled kernels do not bounds-check).

The proof: every kernel in the table is replaced, under a backend named ``spy``, by a spy
that records the call and raises ``KernelCalled`` (which is none of the three error types,
so a test that expected one fails loudly). Each test runs under ``tt.backend("spy")`` and
checks that the spy was never called. A kernel reached by mistake cannot hide behind a
"no kernel for this backend" error either: every op has a spy.
"""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.testing import KernelCalled
from tinytorch.testing import assert_raises as raises


def test_the_spy_does_see_kernels(spy):
    """The harness itself: a valid op does reach the spy (so silence below means
    something), and it is the spy that runs, not a real kernel."""
    with pytest.raises(KernelCalled):
        tt.ones(2) + tt.ones(2)
    assert spy == ["add_forward"]
    spy.clear()


# --- shapes -------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [
    lambda a, b: a + b, lambda a, b: a - b, lambda a, b: a * b, lambda a, b: a / b,
    lambda a, b: a ** b, lambda a, b: a == b, lambda a, b: a < b, lambda a, b: a >= b,
    lambda a, b: tt.add(a, b), lambda a, b: tt.pow(a, b), lambda a, b: a.sub(b),
])
def test_broadcast_mismatch_names_both_shapes(spy, fn):
    a, b = tt.ones(2, 3), tt.ones(4, 3)
    raises(ValueError, lambda: fn(a, b), "(2, 3)", "(4, 3)", "broadcast")


def test_broadcast_mismatch_in_higher_dims(spy):
    raises(ValueError, lambda: tt.ones(5, 1, 3) + tt.ones(4, 2, 3), "(5, 1, 3)", "(4, 2, 3)",
           "dimension 0")
    raises(ValueError, lambda: tt.ones(4, 1, 3) + tt.ones(4, 2, 2), "(4, 1, 3)", "(4, 2, 2)",
           "dimension 2")
    raises(ValueError, lambda: tt.ones(3) * tt.ones(2, 4), "(3,)", "(2, 4)")
    raises(ValueError, lambda: tt.ones(2, 3).T + tt.ones(2, 3), "(3, 2)", "(2, 3)")
    raises(ValueError, lambda: tt.ones(0) + tt.ones(2), "(0,)", "(2,)")


def test_where_mismatch_names_the_shapes(spy):
    cond = tt.ones(2, 3, dtype=tt.bool)  # (x > 0 would run a kernel)
    raises(ValueError, lambda: tt.where(cond, tt.ones(4, 3), 0.0), "(2, 3)", "(4, 3)")
    raises(ValueError, lambda: tt.where(cond, 1.0, tt.ones(5)), "(2, 3)", "(5,)")
    raises(TypeError, lambda: tt.where(tt.ones(2), 1.0, 0.0), "bool")
    raises(TypeError, lambda: tt.where(cond, [1.0], 0.0))
    raises(TypeError, lambda: tt.where([True], 1.0, 0.0), "Tensor")


@pytest.mark.parametrize("sa, sb", [
    ((2, 3), (4, 3)), ((3,), (4,)), ((3,), (2, 4)), ((2, 3), (2,)), ((5, 2, 3), (4, 2)),
    ((2, 3, 4), (3, 4, 5)),  # the batch dimensions do not broadcast
])
def test_matmul_mismatch_names_both_shapes(spy, sa, sb):
    a, b = tt.ones(sa), tt.ones(sb)
    raises(ValueError, lambda: a @ b, str(sa), str(sb))
    raises(ValueError, lambda: tt.matmul(a, b), str(sa), str(sb))


def test_matmul_bad_operands(spy):
    raises(ValueError, lambda: tt.tensor(2.0) @ tt.ones(2), "()", "(2,)")
    raises(ValueError, lambda: tt.ones(2) @ tt.tensor(2.0))
    raises(TypeError, lambda: tt.ones(2, dtype=tt.bool) @ tt.ones(2, dtype=tt.bool), "bool")
    raises(TypeError, lambda: tt.matmul(tt.ones(2), [1.0, 2.0]), "Tensor")
    raises(TypeError, lambda: tt.ones(2) @ [1.0, 2.0])
    raises(TypeError, lambda: tt.ones(2) @ np.ones(2), "numpy", "tt.tensor")
    raises(TypeError, lambda: np.ones(2) @ tt.ones(2), "numpy")


def test_cat_and_stack_mismatch(spy):
    raises(ValueError, lambda: tt.cat([tt.ones(2, 3), tt.ones(2, 4)]), "(2, 3)", "(2, 4)")
    raises(ValueError, lambda: tt.cat([tt.ones(2, 3), tt.ones(3)]), "(2, 3)", "(3,)")
    raises(ValueError, lambda: tt.stack([tt.ones(2, 3), tt.ones(3, 2)]), "(2, 3)", "(3, 2)")
    raises(ValueError, lambda: tt.cat([]))
    raises(ValueError, lambda: tt.cat([tt.tensor(1.0), tt.tensor(2.0)]), "zero-dimensional")
    raises(TypeError, lambda: tt.cat(tt.ones(2)))
    raises(TypeError, lambda: tt.cat([tt.ones(2), [1.0]]), "element 1")
    raises(TypeError, lambda: tt.stack([np.ones(2)]))


def test_setitem_mismatch(spy):
    x = tt.zeros(3, 4)
    raises(ValueError, lambda: x.__setitem__(0, tt.ones(3)), "(4,)", "(3,)")
    raises(ValueError, lambda: x.__setitem__(0, tt.ones(2, 4)), "(2, 4)", "(4,)")
    raises(TypeError, lambda: x.__setitem__(0, [1.0] * 4))
    raises(TypeError, lambda: x.__setitem__(0, np.ones(4)))
    e = tt.ones(3, 1).expand(3, 4)
    raises(ValueError, lambda: e.__setitem__(0, 2.0), "read-only", "clone")


def test_view_reshape_permute_expand_errors(spy):
    x = tt.arange(12.0).reshape(3, 4)
    raises(ValueError, lambda: x.T.view(12), "(4, 3)", "(1, 4)", "hint", "reshape")
    raises(ValueError, lambda: x.reshape(5, 3), "(5, 3)", "12")
    raises(ValueError, lambda: x.view(-1, -1), "-1")
    raises(ValueError, lambda: x.reshape(-1, 5), "12")
    raises(ValueError, lambda: x.permute(0, 0), "exactly once")
    raises(ValueError, lambda: x.permute(1), "exactly once")
    raises(ValueError, lambda: x.expand(3, 5), "(3, 4)")
    raises(ValueError, lambda: x.expand(4), "ndim")
    raises(ValueError, lambda: tt.ones(1, 3).expand(-1, 3, 3), "-1")
    raises(TypeError, lambda: x.reshape(2.0, 6), "float")
    raises(TypeError, lambda: x.view("a"))


# --- dtypes -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [
    np.zeros(2, np.float16), np.zeros(2, np.complex64), np.zeros(2, np.int16),
    np.zeros(2, np.uint32), np.array(["a", "b"]), np.array([b"x"]),
    ["a", "b"], [1j, 2], "abc", None, {"a": 1}, [object()], np.float16(1.0),
])
def test_unsupported_data_is_a_type_error(spy, data):
    raises(TypeError, lambda: tt.tensor(data))


@pytest.mark.parametrize("dtype", [np.float16, "float16", np.complex128, "complex64", "str",
                                   object, np.int16, "bogus", 3])
def test_unsupported_dtype_names(spy, dtype):
    raises(TypeError, lambda: tt.zeros(2, dtype=dtype), "unsupported dtype", "float32")
    raises(TypeError, lambda: tt.tensor([1.0], dtype=dtype))
    raises(TypeError, lambda: tt.ones(2).to(dtype))


def test_dtype_misuse(spy):
    b = tt.tensor([True, False])
    raises(TypeError, lambda: b - b, "bool")
    raises(TypeError, lambda: -b, "bool")
    raises(TypeError, lambda: tt.clamp(b, 0, 1), "bool")
    raises(TypeError, lambda: b.clamp(min=0.5), "bool")
    raises(TypeError, lambda: tt.tensor([1, 2]).mean(), "floating point", "hint")
    raises(TypeError, lambda: tt.mean(b))
    raises(TypeError, lambda: tt.rand(2, dtype=tt.int64), "floating point")
    raises(TypeError, lambda: tt.randn(2, dtype=tt.bool))


@pytest.mark.parametrize("make", [
    lambda: tt.tensor([1, 2], requires_grad=True),
    lambda: tt.tensor([True], requires_grad=True),
    lambda: tt.ones(2, dtype=tt.int32, requires_grad=True),
    lambda: tt.arange(3, requires_grad=True),
    lambda: tt.tensor([1, 2]).requires_grad_(),
    lambda: tt.full((2,), 3, requires_grad=True),
])
def test_requires_grad_on_integer_tensor(spy, make):
    raises(TypeError, make, "floating point")


def test_negative_integer_power(spy):
    x = tt.tensor([2, 3])
    raises(ValueError, lambda: x ** -1, "negative")
    raises(ValueError, lambda: x ** tt.tensor([1, -2]), "negative")
    raises(ValueError, lambda: 2 ** tt.tensor([-1, 0]), "negative")
    raises(ValueError, lambda: tt.pow(tt.tensor([2], dtype=tt.int8), -3))
    # an exponent of another integer dtype is checked as it is, not after a cast
    raises(ValueError, lambda: x ** tt.tensor([1, -2], dtype=tt.int8), "negative")
    raises(ValueError, lambda: tt.tensor([2], dtype=tt.int8) ** tt.tensor([-1]), "negative")


# --- operands that are not tensors ----------------------------------------------------------


@pytest.mark.parametrize("fn", [
    lambda t: t + [1], lambda t: [1] + t, lambda t: t * (1, 2), lambda t: t - "a",
    lambda t: t / None, lambda t: t ** {}, lambda t: t < [1.0], lambda t: t + 1j,
    lambda t: t + np.ones(1), lambda t: np.ones(1) * t, lambda t: t == np.ones(1),
    lambda t: tt.add(t, [1.0]), lambda t: tt.add([1.0], t), lambda t: tt.mul("2", t),
])
def test_non_tensor_operands(spy, fn):
    raises(TypeError, lambda: fn(tt.tensor([1.0])))


@pytest.mark.parametrize("fn", [
    tt.exp, tt.log, tt.sqrt, tt.neg, tt.abs, tt.relu, tt.sigmoid, tt.tanh, tt.sum, tt.mean,
    tt.max, tt.min, tt.amax, tt.amin, tt.argmax, tt.argmin,
])
@pytest.mark.parametrize("arg", [[1.0], 1.0, np.ones(2)])
def test_functions_want_tensors(spy, fn, arg):
    raises(TypeError, lambda: fn(arg), "Tensor", "tt.tensor")


def test_clamp_arguments(spy):
    x = tt.ones(3)
    raises(ValueError, lambda: tt.clamp(x), "at least one")
    raises(TypeError, lambda: x.clamp(min=tt.tensor(0.0)), "number")
    raises(TypeError, lambda: x.clamp(max="1"), "number")
    raises(TypeError, lambda: tt.clamp([1.0], 0.0))


# --- ragged data, sizes, ranges ---------------------------------------------------------------


@pytest.mark.parametrize("data", [[[1, 2], [3]], [1, [2]], [[[1.0]], [2.0]], [[1, 2], []]])
def test_ragged_lists(spy, data):
    raises(ValueError, lambda: tt.tensor(data), "ragged")


@pytest.mark.parametrize("make", [
    lambda: tt.zeros(-1), lambda: tt.ones(2, -3), lambda: tt.empty((-1, 2)),
    lambda: tt.full((2, -2), 1.0), lambda: tt.rand(-2), lambda: tt.randn(3, -1),
    lambda: tt.ones(6).reshape(-2, -3), lambda: tt.ones(6).view(2, -3),
    lambda: tt.ones(1).expand(-2),
])
def test_negative_sizes(spy, make):
    raises(ValueError, make, "-")


@pytest.mark.parametrize("make", [
    lambda: tt.zeros(2.5), lambda: tt.ones("3"), lambda: tt.empty(True),
    lambda: tt.zeros((2, None)), lambda: tt.full(2.0, 1.0),
])
def test_non_integer_sizes(spy, make):
    raises(TypeError, make)


def test_arange_arguments(spy):
    raises(ValueError, lambda: tt.arange(0, 5, 0), "nonzero")
    raises(ValueError, lambda: tt.arange(5, 0, 1), "inconsistent")
    raises(ValueError, lambda: tt.arange(float("nan")), "finite")
    raises(ValueError, lambda: tt.arange(0, float("inf")), "finite")
    raises(TypeError, lambda: tt.arange("5"))
    raises(TypeError, lambda: tt.full((2,), "x"), "number")
    raises(TypeError, lambda: tt.full((2,), tt.ones(1)), "number")


def test_manual_seed_arguments(spy):
    raises(ValueError, lambda: tt.manual_seed(-1))
    raises(TypeError, lambda: tt.manual_seed(1.5))
    raises(TypeError, lambda: tt.manual_seed(True))


def test_tensor_constructor_wants_an_array(spy):
    raises(TypeError, lambda: tt.Tensor([1.0, 2.0]), "tt.tensor")


# --- dims ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [
    lambda x: x.sum(dim=2), lambda x: x.sum(dim=-3), lambda x: x.sum(dim=(0, 2)),
    lambda x: x.mean(dim=5), lambda x: x.max(dim=2), lambda x: x.min(dim=-3),
    lambda x: x.amax(dim=(1, 7)), lambda x: x.argmax(dim=2), lambda x: x.argmin(dim=-9),
    lambda x: x.transpose(0, 2), lambda x: x.transpose(-3, 1), lambda x: x.permute(0, 2),
    lambda x: x.unsqueeze(3), lambda x: x.unsqueeze(-4), lambda x: x.squeeze(2),
    lambda x: x.size(2), lambda x: x.stride(-3), lambda x: tt.cat([x, x], dim=2),
    lambda x: tt.stack([x, x], dim=4), lambda x: tt.stack([x, x], dim=-4),
])
def test_dim_out_of_range(spy, fn):
    x = tt.ones(2, 3)
    raises(IndexError, lambda: fn(x), "dimension out of range")


@pytest.mark.parametrize("dtype", [tt.bool, tt.int8, tt.float64])
def test_dim_out_of_range_before_any_cast(spy, dtype):
    """bool max/min and int sums cast first: the dims must be checked before that."""
    x = tt.ones(2, 3, dtype=dtype)
    for fn in (tt.max, tt.min, tt.amax, tt.argmax, tt.sum):
        raises(IndexError, lambda fn=fn: fn(x, 2), "dimension out of range")
    raises(IndexError, lambda: tt.amin(x, (0, 5)))
    raises(IndexError, lambda: tt.argmin(tt.ones(0, 3, dtype=dtype), 0), "size 0")


def test_dim_wrong_type_or_repeated(spy):
    x = tt.ones(2, 3)
    raises(TypeError, lambda: x.sum(dim=1.0), "int")
    raises(TypeError, lambda: x.sum(dim="0"))
    raises(ValueError, lambda: x.sum(dim=(0, 0)), "more than once")
    raises(ValueError, lambda: x.amax(dim=(1, -1)), "more than once")
    raises(TypeError, lambda: x.max(dim=(0, 1)), "amax")
    raises(TypeError, lambda: x.argmin(dim=(0,)))
    raises(TypeError, lambda: x.sum(dim=0, keepdim=1), "bool")


# --- indexing -----------------------------------------------------------------------------


def test_integer_index_out_of_range_names_dim_and_size(spy):
    x = tt.ones(3, 4)
    raises(IndexError, lambda: x[3], "index 3", "dimension 0", "size 3")
    raises(IndexError, lambda: x[-4], "index -4", "dimension 0", "size 3")
    raises(IndexError, lambda: x[0, 4], "index 4", "dimension 1", "size 4")
    raises(IndexError, lambda: x[1:, -5], "dimension 1", "size 4")
    raises(IndexError, lambda: x[..., 7], "dimension 1", "size 4")
    raises(IndexError, lambda: x[None, 2, 9], "dimension 1", "size 4")
    raises(IndexError, lambda: x[0, 0, 0], "too many indices")
    raises(IndexError, lambda: x[..., 0, ...], "ellipsis")
    raises(IndexError, lambda: tt.zeros(0)[0], "size 0")
    raises(IndexError, lambda: x.__setitem__((5, 0), 1.0), "dimension 0")


@pytest.mark.parametrize("index", [
    np.s_[::-1], np.s_[:, ::-2], np.s_[::0], np.s_[1:, ::-1],
])
def test_negative_or_zero_slice_step(spy, index):
    raises(ValueError, lambda: tt.ones(3, 4)[index], "step")


@pytest.mark.parametrize("index", [
    [0, 1], (slice(None), [0, 2]), np.array([0, 1]), np.array([True, False, True]),
    1.5, "a", np.s_[0.5:], True, (0, None, [1]),
])
def test_advanced_indexing_is_a_type_error_with_hint(spy, index):
    x = tt.ones(3, 4)
    raises(TypeError, lambda: x[index])


def test_tensor_index_points_to_where(spy):
    x = tt.ones(3, 4)
    raises(TypeError, lambda: x[tt.ones(3, 4, dtype=tt.bool)], "hint", "tt.where")
    raises(TypeError, lambda: x[tt.tensor([0, 1])], "basic indexing")


# --- empty reductions ---------------------------------------------------------------------


@pytest.mark.parametrize("fn", [
    lambda x: x.max(), lambda x: x.min(), lambda x: x.amax(), lambda x: tt.amin(x),
    lambda x: x.argmax(), lambda x: x.argmin(), lambda x: x.max(dim=1),
    lambda x: x.amin(dim=(0, 1)), lambda x: x.argmax(dim=1, keepdim=True),
])
def test_max_of_zero_elements(spy, fn):
    raises(IndexError, lambda: fn(tt.zeros(2, 0)), "size 0")


def test_item_and_bool_of_many_elements(spy):
    raises(ValueError, lambda: tt.ones(2).item(), "one element")
    raises(ValueError, lambda: bool(tt.ones(2)), "ambiguous")
    raises(TypeError, lambda: len(tt.tensor(1.0)))


# --- backends -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["bogus", "JIT", "", "numba"])
def test_bad_backend_names(spy, name):
    raises(ValueError, lambda: tt.set_backend(name), repr(name), "naive")
    raises(ValueError, lambda: tt.backend(name).__enter__(), repr(name))
    raises(ValueError, lambda: tt.set_op_backend("matmul", name), repr(name))
    raises(ValueError, lambda: tt.set_backend("jit", fallback=name))
    assert tt.get_backend() == "spy"  # nothing changed


def test_backend_name_wrong_type(spy):
    raises(TypeError, lambda: tt.set_backend(3), "string")
    raises(TypeError, lambda: tt.backend(None).__enter__())
    raises(ValueError, lambda: tt.set_op_backend("nope", "numpy"), "unknown op")
    raises(ValueError, lambda: tt.register_kernel("nope_forward", "x", print), "unknown op")
    raises(TypeError, lambda: tt.register_kernel("add_forward", "has space", print))
    raises(TypeError, lambda: tt.register_kernel("add_forward", "x", 3), "callable")


def test_bad_backend_in_environment(monkeypatch):
    monkeypatch.setattr(tt.dispatch, "_default", None)
    monkeypatch.setenv("TINYTORCH_BACKEND", "nonsense")
    raises(ValueError, tt.get_backend, "TINYTORCH_BACKEND", "nonsense")


def test_scalar_overflow_is_rejected_before_any_kernel(spy):
    """A Python int past int64 is refused before the other operand is cast (a kernel)."""
    with pytest.raises(ValueError, match="does not fit in int64"):
        tt.tensor([True, False]) + 2**70
    with pytest.raises(ValueError, match="without overflow"):
        tt.clamp(tt.ones(2, dtype=tt.int8), min=1000)
    assert spy == []
