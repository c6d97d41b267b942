"""The Tensor itself: creation, metadata, views that share storage, strides as PyTorch
reports them, zero-size tensors, ``__setitem__`` and repr.

Expected strides and offsets are worked out by hand from PyTorch's rules (in elements,
``torch.Tensor.stride()`` and ``storage_offset()``), so this file needs no torch.
"""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.testing import assert_close

# --- creation ---------------------------------------------------------------------------


@pytest.mark.parametrize("data, dtype, shape", [
    (1.5, tt.float32, ()),
    (3, tt.int64, ()),
    (True, tt.bool, ()),
    ([1.0, 2.0], tt.float32, (2,)),
    ([1, 2, 3], tt.int64, (3,)),
    ([True, False], tt.bool, (2,)),
    ([[1, 2], [3, 4], [5, 6]], tt.int64, (3, 2)),
    ([[1, 2.5]], tt.float32, (1, 2)),  # a float anywhere makes it float
    ([[[1.0]]], tt.float32, (1, 1, 1)),
    ([], tt.float32, (0,)),  # as torch.tensor([])
])
def test_tensor_from_python_infers_dtype(data, dtype, shape):
    t = tt.tensor(data)
    assert t.dtype == dtype
    assert t.shape == shape
    assert t.tolist() == np.array(data).tolist()


@pytest.mark.parametrize("npdtype, dtype", [
    (np.float32, tt.float32), (np.float64, tt.float64), (np.int64, tt.int64),
    (np.int32, tt.int32), (np.int8, tt.int8), (np.uint8, tt.uint8), (np.bool_, tt.bool),
])
def test_tensor_from_numpy_keeps_dtype_and_copies(npdtype, dtype):
    arr = np.arange(6).reshape(2, 3).astype(npdtype)
    t = tt.tensor(arr)
    assert t.dtype == dtype and t.shape == (2, 3)
    assert t.numpy().dtype == npdtype
    np.testing.assert_array_equal(t.numpy(), arr)
    assert not np.shares_memory(t.numpy(), arr)  # tt.tensor always copies
    # numpy scalars keep their dtype too (torch.tensor(np.float64(2.0)) is float64)
    assert tt.tensor(arr.reshape(-1)[0]).dtype == dtype
    assert tt.tensor(arr.reshape(-1)[0]).shape == ()


def test_tensor_from_non_contiguous_numpy_and_from_tensor():
    arr = np.arange(12.0).reshape(3, 4).T[::2]
    t = tt.tensor(arr)
    assert t.is_contiguous() and t.dtype == tt.float64
    np.testing.assert_array_equal(t.numpy(), arr)
    u = tt.tensor(t)
    assert u.dtype == t.dtype and not u.shares_storage(t)
    assert u.tolist() == t.tolist()


def test_tensor_explicit_dtype():
    assert tt.tensor([1, 2], dtype=tt.float64).dtype == tt.float64
    assert tt.tensor([1.7, -1.7], dtype=tt.int64).tolist() == [1, -1]  # truncates like torch
    assert tt.tensor([1, 2], dtype="int8").dtype == tt.int8
    assert tt.tensor([0.0, 2.0], dtype=bool).tolist() == [False, True]
    assert tt.tensor(np.arange(3), dtype=tt.float32).dtype == tt.float32


@pytest.mark.parametrize("fn, fill", [(tt.zeros, 0), (tt.ones, 1), (tt.empty, None)])
def test_filled_creation(fn, fill):
    for args in [((2, 3),), (2, 3), ([2, 3],)]:
        t = fn(*args)
        assert t.shape == (2, 3) and t.dtype == tt.float32 and t.is_contiguous()
        assert t.strides == (3, 1)
        if fill is not None:
            assert t.tolist() == [[fill] * 3] * 2
    assert fn(4, dtype=tt.int32).dtype == tt.int32
    assert fn().shape == ()  # no sizes: a 0-d tensor, as torch.zeros(())
    assert fn(()).shape == ()


def test_full_and_like():
    t = tt.full((2, 2), 7)
    assert t.dtype == tt.int64 and t.tolist() == [[7, 7], [7, 7]]
    assert tt.full((3,), 0.5).dtype == tt.float32
    assert tt.full((1,), True).dtype == tt.bool
    assert tt.full(3, 2.0, dtype=tt.float64).tolist() == [2.0, 2.0, 2.0]
    x = tt.ones(2, 3, dtype=tt.int8)
    assert tt.zeros_like(x).dtype == tt.int8 and tt.zeros_like(x).tolist() == [[0] * 3] * 2
    assert tt.ones_like(x, dtype=tt.float64).dtype == tt.float64


def test_arange():
    assert tt.arange(5).tolist() == [0, 1, 2, 3, 4] and tt.arange(5).dtype == tt.int64
    assert tt.arange(2, 8, 3).tolist() == [2, 5]
    assert tt.arange(5, 0, -2).tolist() == [5, 3, 1]
    f = tt.arange(0, 1, 0.25)
    assert f.dtype == tt.float32 and f.tolist() == [0.0, 0.25, 0.5, 0.75]
    assert tt.arange(3.0).dtype == tt.float32
    assert tt.arange(3, dtype=tt.float64).dtype == tt.float64
    assert tt.arange(0).shape == (0,)


def test_rand_randn_and_manual_seed():
    tt.manual_seed(123)
    a, b = tt.rand(3, 4), tt.randn((2, 5))
    tt.manual_seed(123)
    c, d = tt.rand(3, 4), tt.randn((2, 5))
    assert a.tolist() == c.tolist() and b.tolist() == d.tolist()
    assert a.dtype == tt.float32 and a.shape == (3, 4) and b.shape == (2, 5)
    assert ((a.numpy() >= 0) & (a.numpy() < 1)).all()
    tt.manual_seed(124)
    assert tt.rand(3, 4).tolist() != a.tolist()
    assert tt.randn(100, dtype=tt.float64).dtype == tt.float64
    big = tt.randn(10000).numpy()
    assert abs(big.mean()) < 0.05 and abs(big.std() - 1) < 0.05


# --- metadata ---------------------------------------------------------------------------


def test_metadata_of_a_contiguous_tensor():
    x = tt.arange(24, dtype=tt.int32).reshape(2, 3, 4)
    assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(-1) == 4
    assert x.ndim == 3 and x.dim() == 3 and len(x) == 2
    assert x.dtype == tt.int32
    assert x.strides == (12, 4, 1) and x.stride() == (12, 4, 1) and x.stride(1) == 4
    assert x.storage_offset() == 0
    assert x.is_contiguous() and x.contiguous() is x
    assert x.numel() == 24 and x.nbytes == 96 and x.element_size() == 4
    assert x.device == "cpu"
    assert isinstance(x.numpy(), np.ndarray) and x.numpy().shape == (2, 3, 4)
    assert x.tolist() == np.arange(24).reshape(2, 3, 4).tolist()


def test_item_and_scalar_conversions():
    assert tt.tensor(2.5).item() == 2.5 and isinstance(tt.tensor(2.5).item(), float)
    assert tt.tensor([[7]]).item() == 7 and isinstance(tt.tensor([[7]]).item(), int)
    assert tt.tensor(True).item() is True
    assert float(tt.tensor([1.5])) == 1.5 and int(tt.tensor(3)) == 3
    assert bool(tt.tensor([1.0]))
    assert tt.tensor(4.0).tolist() == 4.0
    with pytest.raises(ValueError, match="one element"):
        tt.tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(tt.tensor([1.0, 2.0]))


def test_zero_dim_tensor():
    s = tt.tensor(3.0)
    assert s.shape == () and s.ndim == 0 and s.strides == () and s.numel() == 1
    assert s.is_contiguous() and s.storage_offset() == 0
    assert (s + 1).shape == () and (s * tt.ones(2)).shape == (2,)
    assert s.unsqueeze(0).shape == (1,) and s.reshape(1, 1).shape == (1, 1)
    assert s.T.shape == () and s.sum().shape == () and s.max().item() == 3.0
    with pytest.raises(TypeError):
        len(s)


def test_iteration_and_integer_index_give_tensors():
    x = tt.tensor([[1, 2], [3, 4]])
    rows = list(x)
    assert [r.tolist() for r in rows] == [[1, 2], [3, 4]]
    assert all(r.shares_storage(x) for r in rows)
    e = x[1, 0]
    assert isinstance(e, tt.Tensor) and e.shape == () and e.item() == 3
    assert e.storage_offset() == 2 and e.shares_storage(x)
    assert [v.item() for v in tt.tensor([5, 6])] == [5, 6]


# --- views share storage ----------------------------------------------------------------


def _assert_shares(make, view, base):
    """``view = make(base)`` shares the base's storage: by the tensor's own test, by
    numpy's, and by writes: one through the base is seen in the view, one through the view
    (when it is writeable) lands in exactly the base elements that the view shows."""
    assert view.shares_storage(base) and base.shares_storage(view)
    if view.numel() == 0:
        return
    assert np.shares_memory(view.numpy(), base.numpy())
    fresh = np.arange(base.numel(), dtype=base.numpy().dtype).reshape(base.shape) + 100
    base.numpy()[...] = fresh
    np.testing.assert_array_equal(view.numpy(), make(tt.tensor(fresh)).numpy())
    if view.numpy().flags.writeable:
        view[...] = -7
        mask = tt.zeros(base.shape, dtype=tt.bool)
        make(mask)[...] = True
        np.testing.assert_array_equal(base.numpy() == -7, mask.numpy())


def _base():
    return tt.arange(24.0).reshape(2, 3, 4)


@pytest.mark.parametrize("make, shape, strides, offset", [
    (lambda x: x.reshape(6, 4), (6, 4), (4, 1), 0),
    (lambda x: x.view(4, 6), (4, 6), (6, 1), 0),
    (lambda x: x.view(-1), (24,), (1,), 0),
    (lambda x: x.view(2, -1), (2, 12), (12, 1), 0),
    (lambda x: x.transpose(0, 2), (4, 3, 2), (1, 4, 12), 0),
    (lambda x: x.transpose(-1, -2), (2, 4, 3), (12, 1, 4), 0),
    (lambda x: x.T, (4, 3, 2), (1, 4, 12), 0),
    (lambda x: x.permute(2, 0, 1), (4, 2, 3), (1, 12, 4), 0),
    (lambda x: x.permute((1, 2, 0)), (3, 4, 2), (4, 1, 12), 0),
    (lambda x: x.unsqueeze(0), (1, 2, 3, 4), (24, 12, 4, 1), 0),
    (lambda x: x.unsqueeze(1), (2, 1, 3, 4), (12, 12, 4, 1), 0),
    (lambda x: x.unsqueeze(-1), (2, 3, 4, 1), (12, 4, 1, 1), 0),
    (lambda x: x[:1].squeeze(), (3, 4), (4, 1), 0),
    (lambda x: x[:, :1].squeeze(1), (2, 4), (12, 1), 0),
    (lambda x: x[1:, 1:2].squeeze(), (4,), (1,), 16),
    (lambda x: x[1], (3, 4), (4, 1), 12),
    (lambda x: x[1, 2], (4,), (1,), 20),
    (lambda x: x[-1, -1, -1], (), (), 23),
    (lambda x: x[:, 1:3, ::2], (2, 2, 2), (12, 4, 2), 4),
    (lambda x: x[1:, ::2, 1::3], (1, 2, 1), (12, 8, 3), 13),
    (lambda x: x[..., 1], (2, 3), (12, 4), 1),
    (lambda x: x[None], (1, 2, 3, 4), (24, 12, 4, 1), 0),
    (lambda x: x[:, None], (2, 1, 3, 4), (12, 12, 4, 1), 0),
    (lambda x: x[..., None], (2, 3, 4, 1), (12, 4, 1, 1), 0),
    (lambda x: x[None, 1, ..., None, ::2], (1, 3, 1, 2), (24, 4, 4, 2), 12),
    (lambda x: x[:, 1:3, ::2].T, (2, 2, 2), (2, 4, 12), 4),
    (lambda x: x.transpose(0, 1)[1:], (2, 2, 4), (4, 12, 1), 4),
])
def test_view_strides_offset_and_sharing(make, shape, strides, offset):
    x = _base()
    v = make(x)
    assert v.shape == shape
    assert v.strides == strides, f"strides {v.strides}, PyTorch gives {strides}"
    assert v.storage_offset() == offset
    np.testing.assert_array_equal(v.numpy(),
                                  np.asarray(make(_NumpyView(np.arange(24.0).reshape(2, 3, 4)))))
    _assert_shares(make, v, x)


class _NumpyView:
    """The same view methods applied to a numpy array: the oracle for a view's values."""

    def __init__(self, a):
        self.a = a

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.a)

    def reshape(self, *s):
        return _NumpyView(self.a.reshape(*s))

    view = reshape

    def transpose(self, d0, d1):
        return _NumpyView(self.a.swapaxes(d0, d1))

    @property
    def T(self):
        return _NumpyView(self.a.T)

    def permute(self, *dims):
        return _NumpyView(self.a.transpose(*dims))

    def unsqueeze(self, d):
        return _NumpyView(np.expand_dims(self.a, d))

    def squeeze(self, d=None):
        return _NumpyView(np.squeeze(self.a, d))

    def __getitem__(self, index):
        return _NumpyView(self.a[index])


def test_write_through_view_is_seen_in_base_and_back():
    x = tt.zeros(3, 4)
    col = x[:, 1]
    col[...] = 5.0
    assert x.numpy()[:, 1].tolist() == [5.0, 5.0, 5.0]
    t = x.T
    t[2, 0] = 9.0
    assert x[0, 2].item() == 9.0
    x.numpy()[2, 3] = -1.0
    assert t[3, 2].item() == -1.0
    r = x.view(12)
    r[0] = 4.0
    assert x[0, 0].item() == 4.0
    s = x.unsqueeze(0).squeeze(0)
    assert s.shares_storage(x) and np.shares_memory(s.numpy(), x.numpy())


def test_views_of_views_keep_the_storage():
    x = tt.arange(60).reshape(3, 4, 5)
    v = x.permute(2, 0, 1)[1:4, :, ::2].transpose(0, 2).unsqueeze(1)
    assert v.shares_storage(x) and np.shares_memory(v.numpy(), x.numpy())
    np.testing.assert_array_equal(
        v.numpy(),
        np.arange(60).reshape(3, 4, 5).transpose(2, 0, 1)[1:4, :, ::2].swapaxes(0, 2)[:, None])
    assert not tt.arange(3).shares_storage(tt.arange(3))


def test_expand_has_stride_zero_and_is_read_only():
    x = tt.tensor([[1.0], [2.0], [3.0]])  # (3, 1), strides (1, 1)
    e = x.expand(2, 3, 4)
    assert e.shape == (2, 3, 4) and e.strides == (0, 1, 0)
    assert e.shares_storage(x) and np.shares_memory(e.numpy(), x.numpy())
    assert e.tolist() == [[[1.0] * 4, [2.0] * 4, [3.0] * 4]] * 2
    assert x.expand(-1, 5).shape == (3, 5)
    assert x.expand_as(tt.zeros(3, 2)).strides == (1, 0)
    assert not e.is_contiguous()
    x.numpy()[1, 0] = 8.0  # the base is still writeable and the expansion sees it
    assert e[1, 1, 3].item() == 8.0
    with pytest.raises(ValueError, match="read-only"):
        e[0, 0, 0] = 1.0
    with pytest.raises(ValueError):
        e.numpy()[0, 0, 0] = 1.0
    c = e.contiguous()
    assert c.is_contiguous() and not c.shares_storage(x) and c.tolist() == e.tolist()


def test_view_on_non_viewable_strides_raises_and_reshape_copies():
    x = tt.arange(12.0).reshape(3, 4)
    with pytest.raises(ValueError, match=r"hint: use .reshape") as info:
        x.T.view(12)
    assert "(4, 3)" in str(info.value) and "(1, 4)" in str(info.value)  # shape, strides
    r = x.T.reshape(12)
    assert not r.shares_storage(x) and r.is_contiguous()
    assert r.tolist() == np.arange(12.0).reshape(3, 4).T.reshape(12).tolist()
    # but a reshape that strides allow is a view, even of a non-contiguous tensor
    v = x[:, ::2].reshape(3, 2, 1)
    assert v.shares_storage(x)
    assert x.T.contiguous().view(12).tolist() == r.tolist()
    assert x.flatten().shares_storage(x)


def test_contiguous_of_transposed_and_sliced():
    x = tt.arange(20.0).reshape(4, 5)
    for v in (x.T, x[:, 1::2], x[::3], x.T[1:], x.unsqueeze(0).expand(2, 4, 5)):
        c = v.contiguous()
        assert c.is_contiguous() and c.strides == tt.zeros(c.shape).strides
        assert c.storage_offset() == 0
        assert c.tolist() == v.tolist()
        assert not c.shares_storage(x)
    cl = x.clone()
    assert cl.tolist() == x.tolist() and not cl.shares_storage(x)


def test_size_one_dims_do_not_break_contiguity():
    x = tt.zeros(3, 1, 4)
    assert x.transpose(0, 1).shape == (1, 3, 4) and x.transpose(0, 1).is_contiguous()
    assert x[:, :, 1:2].is_contiguous() is False
    assert tt.zeros(3, 4)[1:2].is_contiguous()


def test_to_and_casts():
    x = tt.tensor([1.7, -2.2, 0.0])
    assert x.to(tt.int64).tolist() == [1, -2, 0]
    assert x.to(tt.float32) is x
    assert x.double().dtype == tt.float64 and x.long().dtype == tt.int64
    assert x.to(tt.bool).tolist() == [True, True, False]
    assert tt.tensor([1, 2]).float().dtype == tt.float32
    assert not x.double().shares_storage(x)
    assert x.T.to(tt.float64).tolist() == x.tolist()


# --- zero-size tensors -------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3), (0, 4)])
def test_zero_size_tensors(shape, backend):
    z = tt.zeros(shape)
    assert z.shape == shape and z.numel() == 0 and z.nbytes == 0 and z.tolist() == \
        np.zeros(shape).tolist()
    # PyTorch's strides for an empty tensor stay row-major: (2, 0, 3) -> (3, 3, 1)
    assert z.strides == tt.layout.contiguous_strides(shape) and z.is_contiguous()
    for fn in (tt.ones, tt.empty, tt.rand, tt.randn):
        assert fn(shape).shape == shape
    assert (z + 1).shape == shape and (z * tt.ones(shape[-1])).shape == shape
    assert tt.exp(z).shape == shape and (z > 0).dtype == tt.bool
    assert z.sum().item() == 0.0 and z.sum().shape == ()
    assert z.reshape(-1).shape == (0,) and z.T.shape == shape[::-1]
    assert z.unsqueeze(0).shape == (1,) + shape
    assert z.contiguous().shape == shape
    assert tt.cat([z, z]).shape == (2 * shape[0],) + shape[1:]


def test_zero_size_views_and_reductions(backend):
    z = tt.zeros(2, 0, 3)
    assert z.sum(dim=1).tolist() == [[0.0] * 3] * 2
    assert z.sum(dim=(0, 2)).shape == (0,)
    assert z.sum(dim=1, keepdim=True).shape == (2, 1, 3)
    assert z.transpose(0, 1).shape == (0, 2, 3) and z[:, :, 1:].shape == (2, 0, 2)
    assert z[1].shape == (0, 3) and z.permute(2, 1, 0).shape == (3, 0, 2)
    assert np.isnan(z.mean(dim=1).numpy()).all()
    assert tt.zeros(3)[1:1].shape == (0,) and tt.zeros(3)[5:].shape == (0,)
    assert tt.zeros(0, 4).max(dim=1).values.shape == (0,)


def test_matmul_with_zero_sizes(backend):
    a, b = tt.ones(3, 0), tt.ones(0, 5)
    out = a @ b
    assert out.shape == (3, 5) and out.tolist() == [[0.0] * 5] * 3  # K = 0: all zeros
    assert (tt.ones(0, 4) @ tt.ones(4, 5)).shape == (0, 5)
    assert (tt.ones(2, 3, 0) @ tt.ones(0, 2)).tolist() == [[[0.0] * 2] * 3] * 2
    assert (tt.ones(0) @ tt.ones(0)).item() == 0.0
    assert (tt.ones(0, 3, 4) @ tt.ones(4, 2)).shape == (0, 3, 2)


# --- __setitem__ ---------------------------------------------------------------------------


def test_setitem_scalars_tensors_and_broadcast(backend):
    x = tt.zeros(3, 4)
    x[0] = 1.0
    x[1, 2] = 5
    x[2] = tt.tensor([1.0, 2.0, 3.0, 4.0])
    x[:, 3] = tt.tensor(9.0)
    assert x.tolist() == [[1, 1, 1, 9], [0, 0, 5, 9], [1, 2, 3, 9]]
    x[...] = tt.tensor([[7.0], [8.0], [6.0]])  # (3, 1) broadcast over columns
    assert x.tolist() == [[7] * 4, [8] * 4, [6] * 4]
    x[:, ::2] = tt.tensor([[0.5, 0.25]])
    assert x[:, 0].tolist() == [0.5] * 3 and x[:, 2].tolist() == [0.25] * 3
    y = tt.zeros(2, 3, dtype=tt.int8)
    y[0] = 300  # a Python int wraps into int8 as in PyTorch
    y[1] = tt.tensor([1.9, -1.9, 2.5])  # float into int: truncates toward zero
    assert y.tolist() == [[44, 44, 44], [1, -1, 2]]
    b = tt.zeros(3, dtype=tt.bool)
    b[1] = True
    assert b.tolist() == [False, True, False]


def test_setitem_through_transposed_view(backend):
    x = tt.zeros(2, 3)
    x.T[1:] = tt.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.tolist() == [[0, 1, 3], [0, 2, 4]]


def test_setitem_overlapping_source_and_target(backend):
    x = tt.arange(6)
    x[1:] = x[:-1]
    assert x.tolist() == [0, 0, 1, 2, 3, 4]  # not [0, 0, 0, 0, 0, 0]
    y = tt.arange(6)
    y[:-1] = y[1:]
    assert y.tolist() == [1, 2, 3, 4, 5, 5]
    m = tt.arange(9.0).reshape(3, 3)
    m[...] = m.T
    assert m.tolist() == np.arange(9.0).reshape(3, 3).T.tolist()


def test_setitem_shape_mismatch():
    x = tt.zeros(3, 4)
    with pytest.raises(ValueError):
        x[0] = tt.ones(3)
    with pytest.raises(ValueError):
        x[0] = tt.ones(2, 4)  # would need to shrink: not a broadcast
    with pytest.raises(TypeError):
        x[0] = [1.0, 2.0, 3.0, 4.0]


# --- repr -----------------------------------------------------------------------------------


def test_repr_smoke():
    assert repr(tt.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert repr(tt.tensor([1, 2])) == "tensor([1, 2])"
    assert repr(tt.tensor(3)) == "tensor(3)"
    assert "dtype=tinytorch.float64" in repr(tt.tensor([1.0], dtype=tt.float64))
    assert "dtype=tinytorch.int8" in repr(tt.ones(2, dtype=tt.int8))
    assert "requires_grad=True" in repr(tt.ones(2, requires_grad=True))
    assert "size=(2, 0)" in repr(tt.zeros(2, 0))
    assert repr(tt.zeros(0)) == "tensor([])"
    assert "..." in repr(tt.zeros(100, 100))  # summarised, not 10000 numbers
    assert repr(tt.float32) == "tinytorch.float32"
    str(tt.arange(6).reshape(2, 3).T)  # a non-contiguous one prints too


def test_check_against_assert_close():
    x = tt.arange(6.0).reshape(2, 3)
    assert_close(x.T, np.arange(6.0).reshape(2, 3).T)


def test_deepcopy_gives_own_storage_and_keeps_views_together():
    import copy

    x = tt.arange(6.0).reshape(2, 3)
    row = x[1]
    x2, row2 = copy.deepcopy([x, row])
    assert not x2.shares_storage(x) and row2.shares_storage(x2)
    assert row2.storage_offset() == 3 and row2.tolist() == [3.0, 4.0, 5.0]
    x2[1, 0] = 9.0
    assert row2.tolist()[0] == 9.0 and row.tolist()[0] == 3.0
    assert copy.deepcopy(tt.ones(3).expand(2, 3)).numpy().flags.writeable is False


def test_deepcopy_of_a_model_copies_parameters_and_refuses_non_leaves():
    import copy

    from tinytorch import nn

    model = nn.Sequential(nn.Linear(3, 2))
    clone = copy.deepcopy(model)
    w, w2 = model[0].weight, clone[0].weight
    assert isinstance(w2, nn.Parameter) and w2.requires_grad and w2.is_leaf
    assert w2.tolist() == w.tolist() and not w2.shares_storage(w)
    with pytest.raises(RuntimeError, match="graph leaves"):
        copy.deepcopy(w * 2)
