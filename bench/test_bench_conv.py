"""Conv2d forward and forward+backward, the issue-4 layer: batch 32, 3 -> 16 channels,
32 x 32, 3 x 3 kernel, padding 1, float32. The forward ladder climbs ``kernels.conv.VARIANTS``
(naive -> jit direct -> jit padded -> jit flat -> jit parallel -> im2col -> numpy) next to
PyTorch's ``F.conv2d``, all in one process; forward+backward runs the whole autograd op
(``tt.nn.functional.conv2d`` and ``.backward``) on each backend and in PyTorch.

Read ratios within a group:
``pytest bench/test_bench_conv.py --benchmark-only --benchmark-group-by=group``.
Every benchmark first checks its result against the numpy oracle and times its first call
(compilation, or a load from numba's cache) into ``extra_info``. The naive rungs run one
image, not 32 (their loops take about a second an image): ``extra_info["images"]`` says
how many, so compare per image.
"""

import time

import numpy as np
import pytest

import tinytorch as tt
import tinytorch.nn.functional as F
from tinytorch.kernels import conv as K
from tinytorch.testing import assert_close

N, C_IN, C_OUT, HW, KS = 32, 3, 16, 32, 3
PARAMS = {"stride_h": 1, "stride_w": 1, "pad_h": 1, "pad_w": 1, "dil_h": 1, "dil_w": 1,
          "groups": 1}
FLOP = 2 * N * C_OUT * HW * HW * C_IN * KS * KS


def _data(n):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, C_IN, HW, HW)).astype(np.float32)
    w = (rng.standard_normal((C_OUT, C_IN, KS, KS)) / np.sqrt(C_IN * KS * KS)).astype(
        np.float32)
    b = rng.standard_normal(C_OUT).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("variant", list(K.VARIANTS))
def test_conv2d_forward_ladder(benchmark, variant):
    n = 1 if variant == "naive" else N
    x, w, b = _data(n)
    out = np.empty((n, C_OUT, HW, HW), np.float32)
    expected = np.empty_like(out)
    K.conv2d_forward_numpy(expected, x, w, b, **PARAMS)
    fn = K.VARIANTS[variant]
    start = time.perf_counter()
    fn(out, x, w, b, **PARAMS)
    benchmark.extra_info.update(first_call_s=time.perf_counter() - start, images=n,
                                gflop=FLOP * n / N / 1e9)
    assert_close(out, expected, rtol=1e-5, atol=1e-5)
    benchmark.group = "conv2d forward, 32x3x32x32 -> 16, 3x3, pad 1"
    if variant in ("naive", "jit_direct"):  # slow rungs: a few rounds
        benchmark.pedantic(fn, args=(out, x, w, b), kwargs=PARAMS, rounds=3, iterations=1,
                           warmup_rounds=0)
    else:
        benchmark(fn, out, x, w, b, **PARAMS)


def test_conv2d_forward_torch(benchmark):
    torch = pytest.importorskip("torch")
    x, w, b = _data(N)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    expected = np.empty((N, C_OUT, HW, HW), np.float32)
    K.conv2d_forward_numpy(expected, x, w, b, **PARAMS)
    assert_close(torch.nn.functional.conv2d(tx, tw, tb, padding=1).numpy(), expected,
                 rtol=1e-5, atol=1e-5)
    benchmark.extra_info.update(images=N, gflop=FLOP / 1e9, threads=torch.get_num_threads())
    benchmark.group = "conv2d forward, 32x3x32x32 -> 16, 3x3, pad 1"
    with torch.no_grad():
        benchmark(torch.nn.functional.conv2d, tx, tw, tb, padding=1)


def _tt_step(backend, n):
    x, w, b = _data(n)
    g = np.random.default_rng(1).standard_normal((n, C_OUT, HW, HW)).astype(np.float32)
    leaves = [tt.tensor(a, requires_grad=True) for a in (x, w, b)]
    grad = tt.tensor(g)

    def step():
        with tt.backend(backend):
            for t in leaves:
                t.grad = None
            F.conv2d(*leaves, padding=1).backward(grad)
        return [t.grad.numpy() for t in leaves]

    return step, (x, w, b, g)


@pytest.mark.parametrize("backend", ["naive", "jit", "numpy"])
def test_conv2d_forward_backward(benchmark, backend):
    n = 1 if backend == "naive" else N
    step, (x, w, b, g) = _tt_step(backend, n)
    start = time.perf_counter()
    grads = step()
    benchmark.extra_info.update(first_call_s=time.perf_counter() - start, images=n,
                                gflop=3 * FLOP * n / N / 1e9)
    oracle = [np.empty_like(x), np.empty_like(w), np.empty_like(b)]
    K.conv2d_backward_numpy(*oracle, g, x, w, need_x=True, need_w=True, need_b=True, **PARAMS)
    for got, exp in zip(grads, oracle, strict=True):  # grad_w sums 32k products
        assert_close(got, exp, rtol=1e-4, atol=1e-4 * float(np.abs(exp).max()))
    benchmark.group = "conv2d forward+backward, 32x3x32x32 -> 16, 3x3, pad 1"
    if backend == "naive":
        benchmark.pedantic(step, rounds=2, iterations=1, warmup_rounds=0)
    else:
        benchmark(step)


def test_conv2d_forward_backward_torch(benchmark):
    torch = pytest.importorskip("torch")
    x, w, b = _data(N)
    g = torch.from_numpy(np.random.default_rng(1).standard_normal(
        (N, C_OUT, HW, HW)).astype(np.float32))
    leaves = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]

    def step():
        for t in leaves:
            t.grad = None
        torch.nn.functional.conv2d(*leaves, padding=1).backward(g)

    benchmark.extra_info.update(images=N, gflop=3 * FLOP / 1e9, threads=torch.get_num_threads())
    benchmark.group = "conv2d forward+backward, 32x3x32x32 -> 16, 3x3, pad 1"
    benchmark(step)
