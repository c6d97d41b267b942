"""Shared fixtures. The CUDA kernels run on numba's simulator unless a real GPU check asks
otherwise (scripts/gpu_check.sh sets TINYTORCH_REAL_GPU=1): the variable must be set before
anything imports numba.cuda, so it is set here, at collection time."""

import os

if os.environ.get("TINYTORCH_REAL_GPU") != "1":
    os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tinytorch as tt  # noqa: E402

CPU_BACKENDS = ("naive", "jit", "numpy")


@pytest.fixture(params=CPU_BACKENDS)
def backend(request):
    """Run the test once per CPU backend, with that backend active."""
    with tt.backend(request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_dispatch_state():
    """Tests that set a global backend or an op override must not leak it."""
    d = tt.dispatch
    saved = (d._default, d._default_fallback, dict(d._op_overrides),
             {op: dict(impls) for op, impls in d._TABLE.items()}, list(d._extra_backends))
    yield
    d._default, d._default_fallback = saved[0], saved[1]
    d._op_overrides.clear()
    d._op_overrides.update(saved[2])
    for op, impls in saved[3].items():  # kernels a test registered do not outlive it
        d._TABLE[op].clear()
        d._TABLE[op].update(impls)
    d._extra_backends[:] = saved[4]


@pytest.fixture
def spy():
    """Every kernel replaced by a spy that records and raises (``tt.testing.no_kernel_runs``):
    a test using it proves its error came before any kernel ran."""
    with tt.testing.no_kernel_runs() as calls:
        yield calls
