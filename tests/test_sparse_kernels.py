"""The CSR kernels (kernels/sparse.py) against the numpy oracle on every CPU backend, the
CSR container and its checks, the ops csr_linear / csr_matmul, and SparseLinear."""

from __future__ import annotations

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.kernels import sparse as K
from tinytorch.nn.fused import LinearGELU, LinearReLU
from tinytorch.pruning import (
    CSR,
    SparseLinear,
    csr_linear,
    csr_matmul,
    l1_unstructured,
    to_sparse,
)
from tinytorch.testing import assert_close


def sparse_weight(rng, n, k, sparsity, dtype=np.float64):
    w = rng.standard_normal((n, k)).astype(dtype)
    w[rng.random((n, k)) < sparsity] = 0
    return w


def oracle(x, w, b=None):
    out = x.astype(np.float64) @ w.astype(np.float64).T
    return out if b is None else out + b


# (M, K, N): size 1, odd sizes, M just past the rows8 block (8), N and K past it too
SHAPES = [(1, 1, 1), (3, 5, 4), (9, 7, 6), (17, 33, 12)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.95])
def test_csr_kernels_match_numpy(backend, rng, dtype, shape, sparsity):
    m, k, n = shape
    w = sparse_weight(rng, n, k, sparsity, dtype)
    x = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal(n).astype(dtype)
    indptr, indices, data = K.csr_from_dense(w)
    out = np.full((m, n), np.nan, dtype)
    tt.dispatch.call("csr_linear_forward", out, x, indptr, indices, data, b)
    assert_close(out, oracle(x, w, b).astype(dtype), check_dtype=True)
    out[:] = np.nan
    tt.dispatch.call("csr_matmul_forward", out, x, indptr, indices, data)
    assert_close(out, oracle(x, w).astype(dtype))


@pytest.mark.parametrize("variant", ["jit_gather", "jit_rows8", "jit_batch"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_every_jit_variant_matches_numpy(rng, variant, shape):
    """The launcher picks one path by nnz; each path must be right on its own."""
    m, k, n = shape
    w = sparse_weight(rng, n, k, 0.6)
    x = rng.standard_normal((m, k))
    b = rng.standard_normal(n)
    out = np.empty((m, n))
    K.VARIANTS["csr_linear_forward"][variant](out, x, *K.csr_from_dense(w), b)
    assert_close(out, oracle(x, w, b))


def test_empty_rows_all_zero_matrix_and_strided_input(backend, rng):
    w = sparse_weight(rng, 6, 10, 0.5)
    w[[0, 3, 5]] = 0  # empty rows, first and last among them
    big = rng.standard_normal((11, 20))
    x = big[::1, ::2]  # a non-contiguous view: the kernels accept any strides
    b = rng.standard_normal(6)
    out = np.empty((11, 6))
    tt.dispatch.call("csr_linear_forward", out, x, *K.csr_from_dense(w), b)
    assert_close(out, oracle(x, w, b))
    assert out[:, 0].tolist() == [b[0]] * 11  # an empty row gives exactly its bias
    zero = np.zeros((4, 10))
    indptr, indices, data = K.csr_from_dense(zero)
    assert indptr.tolist() == [0] * 5 and indices.size == 0
    out = np.full((11, 4), np.nan)
    tt.dispatch.call("csr_matmul_forward", out, x, indptr, indices, data)
    assert (out == 0).all()


def test_zero_size_operands(backend):
    indptr, indices, data = K.csr_from_dense(np.zeros((3, 0)))  # K = 0: the bias only
    out = np.empty((2, 3))
    tt.dispatch.call("csr_linear_forward", out, np.empty((2, 0)), indptr, indices, data,
                     np.array([1.0, 2.0, 3.0]))
    assert out.tolist() == [[1.0, 2.0, 3.0]] * 2
    out = np.empty((0, 3))  # no rows: nothing to do
    tt.dispatch.call("csr_matmul_forward", out, np.empty((0, 4)),
                     *K.csr_from_dense(np.ones((3, 4))))
    assert out.shape == (0, 3)


def test_csr_from_dense_layout_and_round_trip(rng):
    w = np.array([[0.0, 2.0, 0.0], [0.0, 0.0, 0.0], [1.0, np.nan, -3.0]])
    indptr, indices, data = K.csr_from_dense(w)
    assert indptr.dtype == np.int64 and indices.dtype == np.int32
    assert indptr.tolist() == [0, 1, 1, 4] and indices.tolist() == [1, 0, 1, 2]
    assert np.isnan(data[2])  # NaN is not zero: it is stored
    back = K.dense_from_csr(indptr, indices, data, w.shape)
    np.testing.assert_array_equal(back, w)
    w = sparse_weight(rng, 7, 9, 0.7, np.float32)
    back = K.dense_from_csr(*K.csr_from_dense(w), w.shape)
    assert back.dtype == np.float32 and (back == w).all()


# --- the ops and the CSR container ----------------------------------------------------------

def test_csr_linear_matches_the_dense_linear_op(backend, rng):
    layer = l1_unstructured(nn.Linear(12, 5, dtype=tt.float64), 0.7)
    x = tt.tensor(rng.standard_normal((2, 3, 12)))  # leading dimensions are kept
    w = CSR.from_dense(layer.weight)
    with tt.no_grad():
        expected = layer(x)
    assert_close(csr_linear(x, w, layer.bias.detach()), expected)
    assert_close(csr_matmul(x, w), expected - layer.bias.detach())
    assert csr_linear(x, w).shape == (2, 3, 5)


def test_csr_container_validates_once_and_is_read_only(rng):
    w = CSR.from_dense(sparse_weight(rng, 4, 6, 0.5))
    assert w.shape == (4, 6) and w.nnz == int(np.count_nonzero(w.values))
    with pytest.raises(ValueError, match="read-only"):
        w.indices[0] = 100  # what the kernels trust cannot change behind their back
    assert w.nbytes == w.indptr.nbytes + w.indices.nbytes + w.values.nbytes
    assert repr(w).startswith("CSR(shape=(4, 6)")


BAD_CSR = [
    (lambda ip, ix, v: (ip[::-1].copy(), ix, v), ValueError, "start at 0"),
    (lambda ip, ix, v: (np.array([0, 3, 1, 4, 4], np.int64), ix, v), ValueError,
     "decreases at row 1"),
    (lambda ip, ix, v: (ip, np.array([0, 1, 9, 2], np.int32), v), ValueError,
     "column index 9 is out of range for 6"),
    (lambda ip, ix, v: (ip, np.array([0, -1, 2, 2], np.int32), v), ValueError,
     "column index -1"),
    (lambda ip, ix, v: (ip.astype(np.int32), ix, v), TypeError, "indptr must be int64"),
    (lambda ip, ix, v: (ip, ix, v.astype(np.int64)), TypeError, "float32 or float64"),
    (lambda ip, ix, v: (ip, ix[:-1], v), ValueError, "indices has 3 entries but values"),
    (lambda ip, ix, v: (ip[:-1], ix, v), ValueError, "needs 5 \\(rows \\+ 1\\)"),
    (lambda ip, ix, v: (ip, ix, v.tolist()), TypeError, "values must be a numpy array"),
]


@pytest.mark.parametrize("case", range(len(BAD_CSR)))
def test_bad_csr_structure_is_refused(case):
    indptr = np.array([0, 1, 2, 4, 4], np.int64)
    indices = np.array([0, 1, 2, 5], np.int32)
    values = np.ones(4)
    make, error, message = BAD_CSR[case]
    with pytest.raises(error, match=message):
        CSR(*make(indptr, indices, values), (4, 6))
    with pytest.raises(ValueError, match="shape must be a pair"):
        CSR(indptr, indices, values, (4, -6))


def test_bad_input_raises_before_any_kernel(spy, rng):
    w = CSR.from_dense(sparse_weight(rng, 3, 4, 0.5, np.float32))
    x = tt.ones(2, 4)
    with pytest.raises(ValueError, match=r"3 features but the sparse weight expects "
                                         r"in_features=4"):
        csr_linear(tt.ones(2, 3), w)
    with pytest.raises(TypeError, match="input is float64 but the weight is float32"):
        csr_linear(tt.ones(2, 4, dtype=tt.float64), w)
    with pytest.raises(TypeError, match="input must be a Tensor, got ndarray"):
        csr_matmul(np.ones((2, 4), np.float32), w)
    with pytest.raises(TypeError, match="weight must be a CSR, got ndarray"):
        csr_linear(x, np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        csr_linear(x, w, tt.ones(4))
    with pytest.raises(TypeError, match="bias is float64"):
        csr_linear(x, w, tt.ones(3, dtype=tt.float64))
    with pytest.raises(ValueError, match="no features"):
        csr_linear(tt.tensor(1.0), w)
    assert spy == []


def test_an_input_that_requires_grad_is_refused_outside_no_grad(rng):
    w = CSR.from_dense(sparse_weight(rng, 3, 4, 0.5, np.float32))
    x = tt.ones(2, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="CSR weights are for inference"):
        csr_linear(x, w)
    with tt.no_grad():
        assert csr_linear(x, w).shape == (2, 3)


def test_a_model_with_a_sparse_layer_says_to_call_it_under_no_grad(rng):
    # A Linear before the SparseLinear has parameters, so its output requires grad: the
    # message must say what to do, not just what went wrong.
    _ = tt.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.ReLU(),
                          SparseLinear.from_linear(l1_unstructured(nn.Linear(6, 3), 0.8)))
    x = tt.tensor(rng.standard_normal((2, 4)).astype(np.float32))
    hidden = model[1](model[0](x))
    assert hidden.requires_grad
    with tt.testing.no_kernel_runs() as calls, pytest.raises(
            RuntimeError, match=r"call it under tt.no_grad\(\) \(SparseLinear is "
                                r"inference-only\)"):
        model[2](hidden)
    assert calls == []
    with tt.no_grad():
        assert model(x).shape == (2, 3)


# --- SparseLinear ---------------------------------------------------------------------------

def test_sparse_linear_matches_the_pruned_dense_layer(backend, rng):
    _ = tt.manual_seed(3)
    dense = l1_unstructured(nn.Linear(10, 7), 0.8)
    layer = SparseLinear.from_linear(dense)
    x = tt.tensor(rng.standard_normal((5, 10)).astype(np.float32))
    with tt.no_grad():
        assert_close(layer(x), dense(x))
    assert layer.csr.nnz == int(np.count_nonzero(dense.weight.numpy()))
    assert list(layer.state_dict()) == ["indptr", "indices", "values", "bias"]
    assert list(layer.parameters()) == []  # inference only: nothing to train


def test_sparse_linear_rechecks_its_buffers_after_they_change(rng):
    layer = SparseLinear(CSR.from_dense(sparse_weight(rng, 3, 4, 0.3, np.float32)))
    x = tt.ones(1, 4)
    good = layer(x)
    state = layer.state_dict()
    bad = state["indices"].numpy().copy()
    bad[0] = 40  # out of range: a compiled gather would read outside x
    layer.load_state_dict({**state, "indices": tt.tensor(bad)})
    with tt.testing.no_kernel_runs() as calls:
        with pytest.raises(ValueError, match="column index 40 is out of range for 4"):
            layer(x)
    assert calls == []
    layer.load_state_dict({**state, "indices": tt.tensor(bad % 4)})
    assert layer(x).shape == good.shape  # valid again: checked once more, then it runs


def test_sparse_linear_construction_errors():
    with pytest.raises(TypeError, match="weight must be a CSR"):
        SparseLinear(np.eye(2))
    with pytest.raises(TypeError, match="expected an nn.Linear, got Conv2d"):
        SparseLinear.from_linear(nn.Conv2d(1, 1, 1))
    for fused in (LinearReLU(4, 3), LinearGELU(4, 3)):
        with pytest.raises(TypeError, match=f"{type(fused).__name__} fuses an activation "
                                            "that SparseLinear does not apply; only a plain "
                                            "nn.Linear converts"):
            SparseLinear.from_linear(fused)


@pytest.mark.parametrize("fused", [LinearReLU, LinearGELU])
def test_to_sparse_leaves_fused_layers_dense_so_the_activation_stays(rng, fused):
    _ = tt.manual_seed(0)
    model = nn.Sequential(l1_unstructured(fused(8, 8), 0.9), nn.Linear(8, 2))
    model[1] = l1_unstructured(model[1], 0.9)
    swapped = to_sparse(model)
    assert [type(m).__name__ for m in swapped] == [fused.__name__, "SparseLinear"]
    x = tt.tensor(rng.standard_normal((5, 8)).astype(np.float32))
    with tt.no_grad():
        hidden = swapped[0](x).numpy()
        assert_close(swapped(x), model(x))
    assert (hidden >= -0.17).all()  # the activation ran (GELU's minimum is about -0.17)
    w = CSR.from_dense(np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"bias must be float32 of shape \(2,\)"):
        SparseLinear(w, tt.ones(3))


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
def test_csr_layout_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = sparse_weight(rng, 6, 9, 0.7)
    x = rng.standard_normal((4, 9))
    csr = CSR.from_dense(w)
    # torch checks the invariants (row pointers, column range) that our CSR() checks
    t = torch.sparse_csr_tensor(torch.tensor(csr.indptr),
                                torch.tensor(csr.indices.astype(np.int64)),
                                torch.tensor(csr.values), size=(6, 9),
                                check_invariants=True)
    expected = (t @ torch.from_numpy(x).T).T.numpy()
    assert_close(csr_matmul(tt.tensor(x), csr), expected)
