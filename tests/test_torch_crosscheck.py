"""Cross-check against PyTorch itself: dtype promotion, strides of views, broadcasting
matmul, reductions. Runs when torch is importable (``pip install -e ".[compare]"``) and is
skipped, visibly, otherwise."""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.testing import assert_close

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install -e '.[compare]'")

DTYPES = {tt.float32: torch.float32, tt.float64: torch.float64, tt.int64: torch.int64,
          tt.int32: torch.int32, tt.int8: torch.int8, tt.uint8: torch.uint8,
          tt.bool: torch.bool}
TO_TT = {v: k for k, v in DTYPES.items()}


def pair(shape, dtype=tt.float32, seed=0):
    arr = np.random.default_rng(seed).standard_normal(shape) * 3
    x = tt.tensor(arr, dtype=dtype)
    return x, torch.from_numpy(x.numpy().copy())


@pytest.mark.parametrize("a_dtype", [tt.float32, tt.float64, tt.int64, tt.int32, tt.int8,
                                     tt.uint8, tt.bool])
@pytest.mark.parametrize("b", ["int", "float", "bool", tt.float64, tt.int32, tt.uint8,
                               "0d-float64", "0d-int64"])
def test_promotion_matches_pytorch(a_dtype, b):
    x = tt.ones(3, dtype=a_dtype)
    tx = torch.ones(3, dtype=DTYPES[a_dtype])
    if b in ("int", "float", "bool"):
        scalar = {"int": 2, "float": 2.5, "bool": True}[b]
        y, ty = scalar, scalar
    elif isinstance(b, str):  # a 0-d tensor
        dtype = tt.float64 if b == "0d-float64" else tt.int64
        y, ty = tt.tensor(1, dtype=dtype), torch.tensor(1, dtype=DTYPES[dtype])
    else:
        y, ty = tt.ones(3, dtype=b), torch.ones(3, dtype=DTYPES[b])
    expected = torch.result_type(tx, ty)
    # int8 with uint8 gives int16 in PyTorch; tinytorch has no int16 and takes int32
    expected_tt = tt.int32 if expected == torch.int16 else TO_TT[expected]
    assert (x * y).dtype == expected_tt, f"{a_dtype} * {b}"


@pytest.mark.parametrize("make", [
    lambda x: x.transpose(0, 2),
    lambda x: x.permute(2, 0, 1),
    lambda x: x[1:, ::2],
    lambda x: x[:, 1],
    lambda x: x[..., None],
    lambda x: x.unsqueeze(1),
    lambda x: x[:, :1].expand(3, 4, 5),
    lambda x: x.reshape(12, 5),
    lambda x: x[:, :, 2:].transpose(1, 2),
], ids=["transpose", "permute", "slice-step", "int-index", "none", "unsqueeze", "expand",
        "reshape", "slice-transpose"])
def test_view_strides_and_offsets_match_pytorch(make):
    x, tx = pair((3, 4, 5))
    v, tv = make(x), make(tx)
    assert v.shape == tuple(tv.shape)
    assert v.strides == tv.stride()
    assert v.storage_offset() == tv.storage_offset()
    assert v.is_contiguous() == tv.is_contiguous()
    assert_close(v, tv.numpy())


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
                                    ((5, 1, 2, 3), (4, 3, 2)), ((2, 3, 4), (4, 5))])
def test_matmul_shapes_and_values_match_pytorch(shapes):
    (a, ta), (b, tb) = pair(shapes[0], seed=1), pair(shapes[1], seed=2)
    out, tout = a @ b, ta @ tb
    assert out.shape == tuple(tout.shape)
    assert_close(out, tout.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("call", [
    lambda m, x: m.sum(x, dim=(0, 2), keepdim=True),
    lambda m, x: m.mean(x, dim=-1),
    lambda m, x: m.max(x, dim=1)[1],
    lambda m, x: m.argmin(x),
    lambda m, x: m.amax(x, dim=(1, 2)),
    lambda m, x: m.clamp(x, min=-1.0, max=0.5),
    lambda m, x: m.where(x > 0, x, m.zeros(1)),
    lambda m, x: m.cat([x, x], dim=1),
    lambda m, x: m.stack([x, x], dim=-1),
    lambda m, x: m.sigmoid(x * 300),
], ids=["sum", "mean", "max-indices", "argmin", "amax", "clamp", "where", "cat", "stack",
        "sigmoid-large"])
def test_ops_match_pytorch(call):
    x, tx = pair((3, 4, 5))
    out, tout = call(tt, x), call(torch, tx)
    assert out.shape == tuple(tout.shape)
    assert out.dtype == TO_TT[tout.dtype]
    assert_close(out, tout.numpy(), rtol=1e-5, atol=1e-6)
