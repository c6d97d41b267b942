"""tt.summary: per-layer shapes, parameter/activation/saved bytes and FLOPs, measured on one
forward pass; the model comes back untouched."""

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn


def mlp():
    tt.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))


def test_rows_of_an_mlp_match_the_formulas():
    report = tt.summary(mlp(), (32, 64))
    first, relu, last = report.rows
    assert [r.kind for r in report.rows] == ["Linear", "ReLU", "Linear"]
    assert first.output_shape == (32, 128) and first.output_bytes == 32 * 128 * 4
    assert first.param_bytes == (64 * 128 + 128) * 4
    assert first.flops == 2 * 32 * 64 * 128 + 32 * 128
    # what backward needs: the first linear keeps its input, relu its input, the second
    # linear the relu output; parameters are not counted (they exist anyway)
    assert first.saved_bytes == 32 * 64 * 4
    assert relu.saved_bytes == 32 * 128 * 4 and last.saved_bytes == 32 * 128 * 4
    assert report.total("param_bytes") == sum(p.nbytes for p in mlp().parameters())
    assert all(r.workspace_bytes == 0 for r in report.rows)


def test_table_has_a_row_per_layer_and_a_total():
    text = str(tt.summary(mlp(), (8, 64)))
    lines = text.splitlines()
    assert lines[0] == "input (8, 64)" and "saved" in lines[1]
    assert sum(line.startswith(("0 ", "1 ", "2 ")) for line in lines) == 3
    assert any(line.startswith("total") for line in lines)


def test_the_model_is_left_as_it_was():
    model = mlp().eval()
    before = [p.numpy().copy() for p in model.parameters()]
    tt.summary(model, (4, 64))
    assert not model.training
    assert all(np.array_equal(b, p.numpy()) for b, p in zip(before, model.parameters(),
                                                              strict=True))
    assert "forward" not in vars(model[0])  # the measuring wrapper is gone
    assert all(p.grad is None for p in model.parameters())


def test_float64_models_count_eight_bytes():
    model = nn.Sequential(nn.Linear(3, 2, dtype=tt.float64))
    (row,) = tt.summary(model, (5, 3)).rows
    assert row.output_bytes == 5 * 2 * 8 and row.param_bytes == (3 * 2 + 2) * 8


def test_observers_are_removed_even_when_the_forward_fails():
    from tinytorch import autograd

    with pytest.raises(ValueError, match="in_features=64"):
        tt.summary(mlp(), (2, 3))
    assert autograd._node_observers == []


@pytest.mark.parametrize("model, shape, error", [
    ("not a module", (2, 3), TypeError),
    (None, (2, 0), ValueError),
    (None, "32x64", ValueError),
])
def test_bad_arguments(model, shape, error):
    with pytest.raises(error):
        tt.summary(mlp() if model is None else model, shape)
