"""The dispatcher: backend choice, overrides, student kernels, errors, and the table's
completeness (every naive kernel has a jit twin and a numpy oracle)."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import dispatch
from tinytorch.kernels import REGISTRY


def test_default_backend_is_jit_and_set_backend_changes_it():
    assert tt.get_backend() == "jit"
    tt.set_backend("numpy")
    assert tt.get_backend() == "numpy"


def test_context_manager_nests_and_restores():
    with tt.backend("naive"):
        assert tt.get_backend() == "naive"
        with tt.backend("numpy"):
            assert tt.get_backend() == "numpy"
        assert tt.get_backend() == "naive"
    assert tt.get_backend() == "jit"


def test_context_manager_restores_after_an_exception():
    with pytest.raises(RuntimeError), tt.backend("naive"):
        raise RuntimeError("boom")
    assert tt.get_backend() == "jit"


def test_available_backends_lists_cpu_backends_first():
    assert tt.available_backends()[:3] == ["naive", "jit", "numpy"]


def test_environment_variable_sets_the_default():
    code = "import tinytorch as tt; print(tt.get_backend())"
    env = dict(os.environ, TINYTORCH_BACKEND="numpy")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "numpy"


def test_bad_environment_variable_names_the_variable_and_the_choices():
    code = "import tinytorch as tt; tt.get_backend()"
    env = dict(os.environ, TINYTORCH_BACKEND="fast")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True)
    assert out.returncode != 0
    assert "TINYTORCH_BACKEND='fast'" in out.stderr and "naive, jit, numpy" in out.stderr


def test_importing_tinytorch_compiles_nothing():
    code = ("import tinytorch, tinytorch.kernels as k\n"
            "from numba.core.registry import CPUDispatcher\n"
            "compiled = [op for op, impls in k.REGISTRY.items() for f in impls.values()\n"
            "            if isinstance(f, CPUDispatcher) and f.signatures]\n"
            "import sys; print(compiled, 'numba.cuda' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[] False"


def test_unknown_backend_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'fast'; known backends: naive, "
                                         r"jit, numpy, cuda"):
        tt.set_backend("fast")
    with pytest.raises(ValueError, match="unknown backend"), tt.backend("fast"):
        pass
    with pytest.raises(TypeError):
        tt.set_backend(3)


def test_per_op_override_beats_the_current_backend():
    tt.set_op_backend("add", "numpy")
    with tt.backend("naive"):
        assert dispatch.kernel_for("add_forward")[0] == "numpy"
        assert dispatch.kernel_for("mul_forward")[0] == "naive"
    tt.set_op_backend("add", None)
    assert dispatch.kernel_for("add_forward")[0] == "jit"


def test_context_overrides_apply_inside_the_block_only():
    with tt.backend("naive", ops={"exp": "numpy"}):
        assert dispatch.kernel_for("exp_forward")[0] == "numpy"
        assert dispatch.kernel_for("log_forward")[0] == "naive"
    assert dispatch.kernel_for("exp_forward")[0] == "jit"


def test_override_of_an_unknown_op_is_an_error():
    with pytest.raises(ValueError, match="unknown op 'convolve'"):
        tt.set_op_backend("convolve", "numpy")


def test_student_kernel_under_a_new_backend_runs_a_model():
    calls = []

    def relu_loops(out, x):  # a student's own loops, same signature as the built-ins
        calls.append(x.shape)
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                out[i, j] = x[i, j] if x[i, j] > 0 else 0.0

    tt.register_kernel("relu_forward", "student", relu_loops)
    assert "student" in tt.available_backends()
    x = tt.tensor([[-1.0, 2.0], [3.0, -4.0]])
    w = tt.tensor([[1.0, 0.0], [0.0, 1.0]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with tt.backend("student", fallback="jit"):
            y = tt.relu(x @ w).sum()
            y2 = tt.relu(x @ w).sum()
    assert calls, "the student's kernel was not called"
    assert y.item() == y2.item() == 5.0
    fallback_warnings = [w for w in caught if "fallback" in str(w.message)]
    # matmul_forward, sum_forward and copy_forward (the float64 sum cast back to float32)
    # borrowed from jit: one warning each, not one per call
    assert len(fallback_warnings) == 3


def test_missing_kernel_names_the_backends_that_have_it():
    tt.register_kernel("relu_forward", "partial", lambda out, x: None)
    with tt.backend("partial"):
        with pytest.raises(ValueError, match=r"exp_forward has no 'partial' kernel; "
                                             r"available: naive, jit, numpy"):
            tt.exp(tt.ones(2))


def test_register_kernel_validates_its_arguments():
    with pytest.raises(ValueError, match="unknown op"):
        tt.register_kernel("conv9d_forward", "mine", lambda out: None)
    with pytest.raises(TypeError, match="callable"):
        tt.register_kernel("add_forward", "mine", 42)
    with pytest.raises(TypeError, match="identifier"):
        tt.register_kernel("add_forward", "my backend", lambda out, a, b: None)


def test_cuda_without_a_gpu_explains_the_simulator(monkeypatch):
    monkeypatch.setattr(dispatch._kernels, "cuda_status", lambda: ("none", "no GPU found"))
    with pytest.raises(ValueError, match="NUMBA_ENABLE_CUDASIM=1"):
        tt.set_backend("cuda")
    assert "cuda" not in tt.available_backends()


def test_hooks_see_every_kernel_call():
    seen = []

    import contextlib

    @contextlib.contextmanager
    def hook(op, backend, args, params):
        seen.append((op, backend))
        yield

    dispatch.add_hook(hook)
    try:
        with tt.backend("numpy"):
            (tt.ones(2, 2) + 1).sum()
    finally:
        dispatch.remove_hook(hook)
    # the float32 sum accumulates in float64, then the copy kernel casts it back
    assert seen == [("add_forward", "numpy"), ("sum_forward", "numpy"),
                    ("copy_forward", "numpy")]


# --- the table itself ------------------------------------------------------------------

def test_every_op_has_naive_jit_and_numpy():
    for op, impls in REGISTRY.items():
        missing = {"naive", "jit", "numpy"} - set(impls)
        assert not missing, f"{op} lacks {sorted(missing)}"


def test_jit_kernels_compile_the_naive_source():
    """'Literally the same source': the jit twin wraps the naive function (except where a
    launcher picks among compiled variants, which must say so)."""
    from numba.core.registry import CPUDispatcher

    for op, impls in REGISTRY.items():
        jit = impls["jit"]
        if isinstance(jit, CPUDispatcher):
            assert jit.py_func is impls["naive"], op
        else:
            assert "launcher" in (jit.__doc__ or "").lower(), (
                f"{op}: the jit entry is neither a compiled naive kernel nor a documented "
                "launcher")


def test_naive_and_jit_agree_with_numpy_on_a_tiny_call_for_every_op():
    """A smoke pass over the foundation's kernels called directly (the later families --
    linear, activation, loss, optim, reduce_backward -- have oracle tests of their own, and
    tests/test_autograd_ops.py checks that every forward and backward kernel is run)."""
    from tinytorch.kernels import elementwise, elementwise_backward, matmul, reduce

    rng = np.random.default_rng(0)
    x = rng.uniform(0.5, 2.0, (3, 4))
    foundation = [*elementwise.KERNELS, *reduce.KERNELS, *matmul.KERNELS,
                  *(f"{name}_backward" for name in elementwise_backward.BINARY
                    + elementwise_backward.UNARY)]
    for op in foundation:
        impls = REGISTRY[op]
        n_out = 1
        if op in ("mul_backward", "div_backward", "pow_backward"):
            # (grad_a, grad_b, grad_out, a, b)
            args = (np.empty((3, 4)), np.empty((3, 4)), x[::-1], x, x[:, ::-1])
            n_out = 2
        elif op.endswith("_backward"):
            # (grad_x, grad_out, x or the forward output); sigmoid's output lies in (0, 1)
            saved = x / 3 if op == "sigmoid_backward" else x - 1.2
            args = (np.empty((3, 4)), x[::-1], saved)
        elif op.startswith("matmul"):
            args = (np.empty((1, 3, 3)), x[None, :, :3], x[None, :3, :3])
        elif op in ("max_forward", "min_forward"):
            args = (np.empty(3), np.empty(3, np.int64), x)
        elif op in ("sum_forward", "mean_forward"):
            args = (np.empty(3), x)
        elif op == "where_forward":
            args = (np.empty((3, 4)), x > 1, x, -x)
        elif op == "clamp_forward":
            args = (np.empty((3, 4)), x, 0.8, 1.5)
        elif op in ("eq_forward", "ne_forward", "lt_forward", "le_forward", "gt_forward",
                    "ge_forward"):
            args = (np.empty((3, 4), bool), x, x[::-1])
        elif op.split("_")[0] in ("add", "sub", "mul", "div", "pow"):
            args = (np.empty((3, 4)), x, x[::-1])
        else:
            args = (np.empty((3, 4)), x)
        outs = {}
        for backend in ("naive", "jit", "numpy"):
            copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            impls[backend](*copies)
            if op in ("max_forward", "min_forward"):
                n_out = 2
            outs[backend] = copies[:n_out]
        for backend in ("naive", "jit"):
            for got, want in zip(outs[backend], outs["numpy"], strict=True):
                np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=f"{op} {backend}")


def test_kernel_docstring_examples_run():
    """kernels/ is outside pytest's doctest collection (it must only be imported as
    tinytorch.kernels), so its docstring examples run here."""
    import doctest
    import importlib
    import pkgutil

    import tinytorch.kernels as kernels_pkg

    failures = []
    for info in pkgutil.walk_packages(kernels_pkg.__path__, "tinytorch.kernels."):
        module = importlib.import_module(info.name)
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        if result.failed:
            failures.append(info.name)
    assert not failures, f"doctests failed in {failures}"


def test_the_environment_variable_is_followed_when_it_changes(monkeypatch):
    """The kernel-call fast path caches the variable's value but sees every change."""
    tt.register_kernel("add_forward", "mine", lambda out, a, b: out.fill(100))
    a = tt.ones(2)
    assert (a + a).tolist() == [2.0, 2.0]
    monkeypatch.setenv("TINYTORCH_BACKEND", "mine")
    assert (a + a).tolist() == [100.0, 100.0]
    monkeypatch.delenv("TINYTORCH_BACKEND")
    assert (a + a).tolist() == [2.0, 2.0]
    monkeypatch.setenv("TINYTORCH_BACKEND", "bogus")
    with pytest.raises(ValueError, match="TINYTORCH_BACKEND='bogus' is not a backend"):
        a + a
