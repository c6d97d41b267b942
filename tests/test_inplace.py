"""In-place ops and the version counter: what they compute on every backend, what they
refuse, and how autograd catches a saved tensor that changed before backward."""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.testing import assert_close


@pytest.mark.parametrize("op, fn", [
    ("add_", np.add), ("sub_", np.subtract), ("mul_", np.multiply), ("div_", np.divide)])
@pytest.mark.parametrize("other_shape", [(3, 4), (4,), (1, 4), ()])
def test_inplace_binary_matches_numpy(backend, rng, op, fn, other_shape):
    x0 = rng.uniform(1, 2, (3, 4)).astype(np.float32)
    y0 = rng.uniform(1, 2, other_shape).astype(np.float32)
    x = tt.tensor(x0)
    result = getattr(x, op)(tt.tensor(y0))
    assert result is x
    assert_close(x, fn(x0, y0))
    assert x._version == 1


def test_add_with_alpha_and_scalars(backend):
    x = tt.tensor([1.0, 2.0])
    x.add_(tt.tensor([1.0, 1.0]), alpha=-3).sub_(1.0, alpha=2).mul_(2).div_(4)
    assert x.tolist() == [(1 - 3 - 2) * 2 / 4, (2 - 3 - 2) * 2 / 4]


def test_augmented_assignment_is_in_place():
    x = tt.tensor([1.0, 2.0])
    alias = x
    x += 1
    x *= 3
    x -= tt.tensor([1.0, 1.0])
    x /= 2
    assert alias is x and x.tolist() == [2.5, 4.0] and x._version == 4


def test_inplace_on_a_view_writes_the_base_and_bumps_the_shared_version():
    base = tt.zeros(2, 3)
    row = base[1]
    row.add_(5.0)
    assert base.tolist() == [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]
    assert base._version == row._version == 1
    base[0, 0] = 7.0  # __setitem__ bumps too
    assert row._version == 2 and base.T._version == 2


def test_fill_zero_copy_clamp(backend):
    x = tt.arange(6.0).reshape(2, 3)
    x.clamp_(1.0, 4.0)
    assert x.tolist() == [[1.0, 1.0, 2.0], [3.0, 4.0, 4.0]]
    x.copy_(tt.tensor([9.0, 8.0, 7.0]))  # broadcast over the rows
    assert x.tolist() == [[9.0, 8.0, 7.0]] * 2
    x.fill_(2.5)
    assert x.tolist() == [[2.5] * 3] * 2
    x.zero_()
    assert x.tolist() == [[0.0] * 3] * 2 and x._version == 4


def test_overlapping_operand_is_read_before_it_is_written():
    x0 = np.arange(9.0).reshape(3, 3)
    x = tt.tensor(x0)
    x.add_(x.T)  # x.T reads elements that the kernel has already written
    assert_close(x, x0 + x0.T)


def test_int_tensor_takes_int_results_and_refuses_float_ones():
    x = tt.tensor([1, 2], dtype=tt.int8)
    x.add_(tt.tensor([100, 1], dtype=tt.int64))  # same category: cast back, as PyTorch
    assert x.dtype is tt.int8 and x.tolist() == [101, 3]
    with pytest.raises(TypeError, match="result type float32 can't be cast.*int8"):
        x.mul_(1.5)
    with pytest.raises(TypeError, match="can't be cast"):
        x.div_(2)  # true division gives a float
    assert x.tolist() == [101, 3] and x._version == 1


def test_inplace_cannot_grow_self():
    x = tt.zeros(3)
    with pytest.raises(ValueError, match=r"other of shape \(2, 3\) does not broadcast to "
                                         r"self's shape \(3,\)"):
        x.add_(tt.ones(2, 3))
    assert x._version == 0


def test_inplace_into_an_expanded_view_is_refused():
    x = tt.ones(3).expand(2, 3)
    with pytest.raises(ValueError, match="read-only view"):
        x.mul_(2)


def test_fill_takes_a_number_not_a_tensor_of_values():
    with pytest.raises(ValueError, match="use copy_"):
        tt.zeros(3).fill_(tt.ones(3))


def test_leaf_that_requires_grad_is_written_only_under_no_grad():
    w = tt.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="(?s)leaf tensor that requires grad.*no_grad"):
        w.add_(1.0)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        w += 1
    with tt.no_grad():
        w.sub_(0.5)
    assert w.tolist() == [0.5, 0.5] and w.requires_grad and w.is_leaf


def test_non_leaf_in_place_is_refused_while_recording():
    w = tt.ones(2, requires_grad=True)
    y = w * 2
    with pytest.raises(RuntimeError, match="part of a recorded graph"):
        y.mul_(3)


def test_backward_refuses_a_saved_tensor_changed_in_place():
    x = tt.tensor([1.0, 2.0])
    w = tt.tensor([3.0, 4.0], requires_grad=True)
    loss = (x * w).sum()  # mul saves x for w's gradient
    x.mul_(10)
    with pytest.raises(RuntimeError, match=r"modified by an in-place operation.*shape \(2,\)"
                                           r".*at version 1; expected version 0"):
        loss.backward()


def test_parameter_update_between_forward_and_backward_is_caught():
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    with tt.no_grad():
        w.sub_(0.1)  # an optimiser step too early
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_change_to_an_unsaved_input_is_fine():
    x = tt.tensor([1.0, 2.0])
    w = tt.tensor([3.0, 4.0], requires_grad=True)
    loss = (x + w).sum()  # add saves nothing
    x.mul_(10)
    loss.backward()
    assert w.grad.tolist() == [1.0, 1.0]


def test_saved_output_changed_through_a_view_is_caught():
    w = tt.tensor([0.5, 1.0], requires_grad=True)
    y = w.exp()  # exp saves its output
    loss = y.sum()
    with tt.no_grad():
        y[0] = 0.0
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


@pytest.mark.parametrize("write", [
    lambda acc, v: acc.add_(v),
    lambda acc, v: acc.__iadd__(v),
    lambda acc, v: acc.copy_(v),
    lambda acc, v: acc.fill_(v.sum()),
    lambda acc, v: acc.__setitem__(0, v[1]),
], ids=["add_", "+=", "copy_", "fill_", "setitem"])
def test_writing_a_value_that_requires_grad_in_place_is_refused(write):
    """PyTorch would record the write; tinytorch records no in-place op, so it refuses
    rather than silently dropping the value's gradient."""
    w = tt.tensor([1.0, 2.0], requires_grad=True)
    acc = tt.zeros(2)
    with pytest.raises(RuntimeError, match="requires grad"):
        write(acc, w * 3)
    assert acc.tolist() == [0.0, 0.0] and acc._version == 0
    with tt.no_grad():
        write(acc, w * 3)  # no graph recorded: allowed


def test_bool_sub_is_refused_like_bool_subtraction():
    with pytest.raises(TypeError, match="subtraction of bool"):
        tt.tensor([True]).sub_(tt.tensor([True]))
    with pytest.raises(TypeError, match="subtraction of bool"):
        tt.tensor([True, False]).sub_(True)


@pytest.mark.parametrize("fn", ["softmax", "log_softmax"])
def test_changing_a_softmax_output_in_place_is_caught(fn):
    from tinytorch.nn import functional as F

    x = tt.tensor([[1.0, 2.0, 3.0]], requires_grad=True)
    y = getattr(F, fn)(x, dim=-1)
    first = y[0, 0]
    y.detach().mul_(0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        first.backward()
