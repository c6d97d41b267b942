"""Line and memory profiles (module 08): ``tinytorch.profiler_lines``,
``tinytorch.profiler_memory`` and ``tinytorch profile --lines / --memory``.

Tiny shapes and one or two steps: these tests check the structure of what is reported (the
hot lines are lines of the kernel's source, the jit path really runs in a child with
NUMBA_DISABLE_JIT=1 and says so, the memory report has its fields), never a timing."""

import inspect
import os
import subprocess
import sys

import numpy as np
import pytest

from tinytorch import cli, dispatch, profiler_lines, profiler_memory
from tinytorch.kernels import conv, matmul

# --- profiler_lines ----------------------------------------------------------------------


def _source_lines(fn) -> dict[int, str]:
    lines, start = inspect.getsourcelines(fn)
    return {start + i: line.rstrip("\n") for i, line in enumerate(lines)}


def test_every_supported_op_gets_inputs_from_its_driver():
    """Each driver calls every kernel of its family: the capture finds a first call, with
    arrays (outputs first) that the numpy kernel accepts."""
    ops = profiler_lines.supported_ops()
    assert {"matmul_forward", "conv2d_forward", "relu_forward", "adam_step"} <= set(ops)
    for op in ops:
        args, params = profiler_lines.kernel_inputs(op, size=3)
        assert isinstance(args[0], np.ndarray), op
        dispatch.kernel_for(op, "numpy")[1](*args, **params)  # a valid call, by contract


def test_supported_ops_cover_every_naive_kernel_of_the_known_families():
    known = {"elementwise", "elementwise_backward", "reduce", "reduce_backward", "matmul",
             "linear", "activation", "loss", "optim", "transforms", "conv", "pool", "norm"}
    have = {op for op, impls in dispatch._TABLE.items() if "naive" in impls
            and impls["naive"].__module__.rsplit(".", 1)[-1] in known}
    assert have <= set(profiler_lines.supported_ops())


def test_kernel_inputs_are_copies_of_the_function_layers_arrays():
    args, params = profiler_lines.kernel_inputs("matmul_forward", size=5)
    assert [a.shape for a in args] == [(1, 5, 5)] * 3 and params == {}
    again, _ = profiler_lines.kernel_inputs("matmul_forward", size=5)
    np.testing.assert_array_equal(args[1], again[1])  # seeded: the same inputs each time
    _, params = profiler_lines.kernel_inputs("conv2d_forward", size=4)
    assert params["pad_h"] == 1 and params["groups"] == 1


def test_naive_line_profile_names_lines_of_the_kernel_source():
    report = profiler_lines.profile_lines("matmul_forward", size=4)
    assert report.kernel == "matmul_forward_naive" and report.backend == "naive"
    assert report.note is None and not report.numba_disable_jit
    source = _source_lines(matmul.matmul_forward_naive)
    for line in report.lines:
        assert line.function == "matmul_forward_naive"
        assert source[line.lineno] == line.source  # the table names real source lines
    top = report.top(3)
    assert len(top) == 3 and top[0].time_s >= top[1].time_s >= top[2].time_s
    # the multiply-add runs B*M*N*K times: the innermost line is hit most
    inner = next(s for s in report.lines if "acc +=" in s.source)
    assert inner.hits == 4 ** 3
    assert sum(s.percent for s in report.lines) == pytest.approx(100.0)
    text = report.format()
    assert "Line #" in text and "Hits" in text and "% Time" in text  # line_profiler's text
    assert "top 3 lines by % of the kernel's time" in text
    assert all(f"matmul_forward_naive:{s.lineno}" in text for s in top)


def test_repeat_multiplies_the_hits():
    once = profiler_lines.profile_lines("relu_forward", size=3)
    twice = profiler_lines.profile_lines("relu_forward", size=3, repeat=2)
    assert twice.calls == 2
    assert {s.lineno: 2 * s.hits for s in once.lines} == {s.lineno: s.hits
                                                         for s in twice.lines}


def test_jit_path_runs_in_a_child_with_numba_disable_jit_and_says_so(monkeypatch):
    """The child really has NUMBA_DISABLE_JIT=1 (it reports numba's own setting back), the
    report carries the note, and the launcher's callee (jit_ikj at this size) is profiled
    line by line."""
    seen = {}
    real_run = subprocess.run

    def spy(cmd, **kwargs):
        seen["cmd"], seen["env"] = cmd, kwargs.get("env")
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(profiler_lines.subprocess, "run", spy)
    report = profiler_lines.profile_lines("matmul_forward", backend="jit", size=4)
    assert seen["env"]["NUMBA_DISABLE_JIT"] == "1"
    assert seen["cmd"][:3] == [sys.executable, "-m", "tinytorch.profiler_lines"]
    assert "NUMBA_DISABLE_JIT" not in os.environ or os.environ["NUMBA_DISABLE_JIT"] != "1"
    assert report.numba_disable_jit is True  # numba.config.DISABLE_JIT, read in the child
    assert report.note == profiler_lines.JIT_NOTE
    assert "NUMBA_DISABLE_JIT=1" in report.format()
    assert report.kernel == "matmul_forward_jit"
    functions = {s.function for s in report.lines}
    assert {"matmul_forward_jit", "matmul_forward_jit_ikj"} <= functions
    hot = report.top(1)[0]
    assert hot.function == "matmul_forward_jit_ikj"  # the launcher's call line is left out
    assert _source_lines(matmul.matmul_forward_jit_ikj.py_func)[hot.lineno] == hot.source


def test_variant_of_a_ladder_is_profiled_with_its_helpers():
    report = profiler_lines.profile_lines("conv2d_forward", variant="jit_direct", size=3)
    assert report.variant == "jit_direct" and report.note == profiler_lines.JIT_NOTE
    assert report.kernel == conv.conv2d_forward_naive.__name__  # the same source, compiled
    assert "variants" not in report.summary()
    assert list(profiler_lines.variants_of("matmul_forward")) == list(matmul.VARIANTS)
    assert list(profiler_lines.variants_of("conv2d_backward")) == list(conv.BACKWARD_VARIANTS)


@pytest.mark.parametrize("call, error, match", [
    (lambda: profiler_lines.profile_lines("relu_fwd"), ValueError,
     r"no naive kernel to line-profile for op 'relu_fwd'; supported ops: .*matmul_forward"
     r".*\nhint: did you mean relu_backward, relu_forward\?"),
    (lambda: profiler_lines.profile_lines(3), TypeError, "op must be a kernel name"),
    (lambda: profiler_lines.profile_lines("add_forward", backend="numpy"), ValueError,
     "backend must be 'naive' or 'jit'"),
    (lambda: profiler_lines.profile_lines("matmul_forward", variant="fast"), ValueError,
     "matmul_forward has no variant 'fast'; its variants: naive, jit_ijk"),
    (lambda: profiler_lines.profile_lines("add_forward", size=0), ValueError,
     "size must be between 1 and 1024 for add_forward, got 0; it means n x n operands"),
    (lambda: profiler_lines.profile_lines("matmul_forward", size=4096), ValueError,
     r"size must be between 1 and 128 for matmul_forward.*\nhint: interpreted loops"),
    (lambda: profiler_lines.profile_lines("add_forward", size=2.5), TypeError,
     "size must be an int"),
    (lambda: profiler_lines.profile_lines("add_forward", repeat=0), ValueError,
     "repeat must be an int >= 1"),
])
def test_bad_arguments_are_clear_errors(call, error, match, monkeypatch):
    def no_child(*args, **kwargs):
        raise AssertionError("a bad argument must fail before any child process starts")

    monkeypatch.setattr(profiler_lines.subprocess, "run", no_child)
    with pytest.raises(error, match=match):
        call()


def test_report_round_trips_through_json_data():
    report = profiler_lines.profile_lines("sum_forward", size=2)
    again = profiler_lines.LineReport.from_dict(report.to_dict())
    assert again == report


# --- the CLI -----------------------------------------------------------------------------


def test_cli_lines_prints_the_listing_and_the_summary(capsys):
    assert cli.main(["profile", "--lines", "relu_forward", "--size", "3"]) == 0
    out = capsys.readouterr().out
    assert "Function: relu_forward_naive" in out and "top 3 lines" in out


def test_cli_lines_jit_says_what_the_times_mean(capsys):
    assert cli.main(["profile", "--lines", "relu_forward", "--backend", "jit", "--size",
                     "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("note: jit kernel run as Python with NUMBA_DISABLE_JIT=1")
    assert "they show where the loops are, not how fast they run compiled" in out


@pytest.mark.parametrize("argv, match", [
    (["--lines", "nope_forward"], "error: no naive kernel to line-profile for op "
     "'nope_forward'; supported ops: abs_backward"),
    (["--lines", "add_forward", "--backend", "numpy"], "backend must be 'naive' or 'jit'"),
    (["--lines", "add_forward", "digits_cnn"], "takes no CONFIG"),
    (["--lines", "add_forward", "--memory"], "choose one"),
])
def test_cli_bad_lines_arguments_exit_2_with_a_message(argv, match, capsys):
    assert cli.main(["profile", *argv]) == 2
    captured = capsys.readouterr()
    assert match in captured.err and captured.out == ""


def test_cli_reports_a_failed_child_with_exit_1(monkeypatch, capsys):
    def failed(*args, **kwargs):
        return subprocess.CompletedProcess(args, 3, stdout="", stderr="Boom: child died")

    monkeypatch.setattr(profiler_lines.subprocess, "run", failed)
    assert cli.main(["profile", "--lines", "add_forward", "--backend", "jit"]) == 1
    err = capsys.readouterr().err
    assert "NUMBA_DISABLE_JIT=1 failed (exit 3)" in err and "Boom: child died" in err


# --- profiler_memory ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def mlp_step():
    return profiler_memory.config_step("digits_mlp", ["data.batch_size=4"])


def test_memory_report_has_the_promised_fields(mlp_step):
    report = profiler_memory.profile_memory(
        mlp_step, steps=2, warmup=1, line_steps=1, model=mlp_step.model,
        input_shape=tuple(mlp_step.batch[0].shape))
    assert len(report.rss_after_step_mib) == 2
    assert report.peak_rss_mib >= max(report.rss_after_step_mib) > 0
    assert report.traced_peak_bytes > 0 and report.traced_retained_bytes >= 0
    assert report.increment_per_step_mib == pytest.approx(
        (report.rss_after_step_mib[-1] - report.rss_before_mib) / 2)
    params = sum(p.nbytes for p in mlp_step.model.parameters())
    assert report.summary["parameters"] == params
    assert report.summary["saved for backward"] > 0
    # line by line: the lines of training_step, each run once
    body = {r["source"]: r for r in report.lines}
    for line in ("logits = model(x)", "loss.backward()", "optimizer.step()"):
        assert body[line]["occurrences"] == 1 and body[line]["function"] == "training_step"
    text = report.format()
    for field in ("RSS at start", "RSS increment per step", "peak RSS",
                  "allocated at a step's peak", "still held after a step",
                  "tt.summary: saved for backward", "line by line", "loss.backward()"):
        assert field in text, field


def test_memory_of_a_plain_callable_without_lines_or_peak_sampler():
    blocks = []
    report = profiler_memory.profile_memory(lambda: blocks.append(np.ones(1 << 16)),
                                            steps=1, warmup=0, peak=False, lines=False)
    # the step keeps its 512 KiB array: tracemalloc sees it held after the step
    assert report.traced_retained_bytes >= 8 << 16
    assert report.lines == [] and report.line_text == "" and report.summary is None


@pytest.mark.parametrize("kwargs, error, match", [
    ({"step": 3}, TypeError, "step must be callable, got int"),
    ({"step": print, "steps": 0}, ValueError, "steps must be >= 1, got 0"),
    ({"step": print, "warmup": 1.5}, TypeError, "warmup must be an int"),
    ({"step": print}, ValueError, "lines=True needs a ConfigStep"),
])
def test_profile_memory_bad_arguments(kwargs, error, match):
    ran = []
    kwargs = dict(kwargs)
    if kwargs["step"] is print:
        kwargs["step"] = lambda: ran.append(1)
    with pytest.raises(error, match=match):
        profiler_memory.profile_memory(**kwargs)
    assert ran == []  # validated before any step ran


def test_cli_memory_prints_the_table_and_the_lines(capsys):
    assert cli.main(["profile", "--memory", "digits_mlp", "data.batch_size=4", "--steps",
                     "1", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("digits_mlp on jit, batch 4: memory of 1 training steps")
    for field in ("peak RSS", "RSS increment per step", "allocated at a step's peak",
                  "tt.summary: parameters", "Increment", "optimizer.step()"):
        assert field in out, field


def test_cli_memory_unknown_config_exits_2(capsys):
    assert cli.main(["profile", "--memory", "no_such_config"]) == 2
    assert "no config file 'no_such_config'" in capsys.readouterr().err



def test_a_child_that_runs_too_long_is_stopped_with_a_clear_error(monkeypatch):
    import subprocess

    def too_slow(cmd, **kwargs):
        assert "--deadline" in cmd  # the child also stops itself if the parent dies
        raise subprocess.TimeoutExpired(cmd, kwargs["timeout"])

    monkeypatch.setattr(profiler_lines.subprocess, "run", too_slow)
    with pytest.raises(RuntimeError, match=r"took over 2 s and was stopped\nhint: lower "):
        profiler_lines.profile_lines("matmul_forward", backend="jit", timeout=2)
