"""The ``tinytorch`` command: ``train``, ``eval``, ``sweep``, ``profile``, ``compress``, ``mlp``,
``doctor``, ``bench``, ``grade``, ``lab``, ``modules``.

>>> main(["modules"])  # doctest: +ELLIPSIS
00  setup ...
0
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

__all__ = ["main"]


def _doctor(args) -> int:
    from tinytorch import doctor  # noqa: PLC0415

    return doctor.main(run_kernels=not args.no_kernels)


def _bench(args) -> int:
    from tinytorch import bench  # noqa: PLC0415

    try:
        ops, wide = bench.resolve_ops(args.ops or ([] if args.family else ["matmul"]),
                                      args.family or ())
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.plot:  # before any timing: a missing optional extra should not cost a run
        try:
            from tinytorch import bench_plot  # noqa: PLC0415

            bench_plot.require_matplotlib()
        except ImportError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    progress = None if args.quiet or not sys.stderr.isatty() else (
        lambda msg: print(f"  ... {msg}", file=sys.stderr, flush=True))
    # `all` and --family: one quick size per op and shorter rounds, unless told otherwise
    min_time = args.min_time if args.min_time is not None else (0.01 if wide else 0.05)
    machine = None
    if args.json or args.plot or args.probes:  # the roofs, measured live, before the ops
        from tinytorch import probes  # noqa: PLC0415

        if progress:
            progress("machine probes (BLAS peak, STREAM triad)")
        machine = probes.measure()
    all_rows = []
    for op in ops:
        try:
            rows = bench.run_bench(op, backends=args.backends, sizes=args.sizes,
                                   dtype=args.dtype, rounds=args.rounds, min_time=min_time,
                                   naive_max=args.naive_max, quick=wide, progress=progress)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        except AssertionError as err:  # a kernel failed its oracle check: it was not timed
            print(f"error: {err}\nhint: a wrong kernel is never timed; tinytorch doctor "
                  "checks every backend", file=sys.stderr)
            return 1
        if machine:
            bench.add_roofs(rows, machine)
        if not wide:
            print(bench.format_table(rows))
            print()
        all_rows += rows
    if wide:
        print(bench.format_table(all_rows))
        print()
    if machine:
        print(f"roofs: peak {machine['peak_gflops']:.3g} GFLOP/s ({machine['peak_probe']}); "
              f"memory {machine['stream_gbs']:.3g} GB/s ({machine['stream_probe']})")
    if args.json:
        from tinytorch.io import atomic_write_text  # noqa: PLC0415

        atomic_write_text(args.json, bench.to_json(all_rows))
        print(f"wrote {args.json}")
    if args.plot:
        bench_plot.plot(all_rows, machine, args.plot)
        print(f"wrote {args.plot}")
    return 0


def _mlp(args) -> int:
    from tinytorch.examples import mlp_digits  # noqa: PLC0415

    if args.epochs < 1:
        print(f"error: --epochs must be at least 1, got {args.epochs}", file=sys.stderr)
        return 2
    try:
        return mlp_digits.main(args.backends, args.epochs, torch=not args.no_torch,
                               quiet=args.quiet)
    except ValueError as err:  # an unknown backend, from the dispatcher
        print(f"error: {err}", file=sys.stderr)
        return 2


def _grade(args) -> int:
    from tinytorch.grading import engine, workspace  # noqa: PLC0415

    try:
        file = args.file or workspace.student_file(args.lab, args.dir)
        if not file.is_file():
            raise FileNotFoundError(f"no lab file at {file}\nhint: tinytorch lab start "
                                    f"{args.lab} copies a fresh one there")
        result = engine.grade(args.lab, file, time_limit=args.time_limit)
    except (engine.GraderError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(result.table())
    if args.json:
        import json  # noqa: PLC0415

        from tinytorch.io import atomic_write_text  # noqa: PLC0415

        atomic_write_text(args.json, json.dumps(result.gradescope(), indent=2))
        print(f"wrote {args.json} (Gradescope results format)")
    if args.file is None:
        workspace.record_score(args.dir, args.lab, result.score, result.max_score)
    return 0  # whatever the score: a low score is a result, not an error


def _lab(args) -> int:
    from tinytorch.grading import workspace  # noqa: PLC0415
    from tinytorch.manifest import MODULES  # noqa: PLC0415

    if args.action == "list":
        best = workspace.best_scores(args.dir)
        for m in MODULES:
            try:
                workspace.lab_source(m.number)
                state = "available"
            except FileNotFoundError:
                state = "not written yet"
            score = best.get(m.number)
            shown = f"best {score['best']:g}/{score['max']:g}" if score else "-"
            print(f"{m.number}  {m.name:13} {state:16} {shown}")
        return 0
    if args.number is None:
        print("error: lab start needs a lab number, e.g. tinytorch lab start 01",
              file=sys.stderr)
        return 2
    try:
        path = workspace.start_lab(args.number, args.dir)
    except (FileExistsError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"copied lab {args.number} to {path}\nnext: edit the TODOs, run `python {path}`, "
          f"then `tinytorch grade {args.number}`")
    return 0


def _modules(args) -> int:
    from tinytorch.manifest import MODULES  # noqa: PLC0415

    for m in MODULES:
        print(f"{m.number}  {m.name:13} {m.lesson}")
    return 0


# --- train, eval, sweep (modules 06 and 07) --------------------------------------------------

def _split_config_args(items: list[str], command: str) -> tuple[str | None, list[str]]:
    """``[CONFIG] [key=value ...]``: the first item without '=' is the config."""
    config, overrides = None, []
    for item in items:
        if "=" in item:
            overrides.append(item)
        elif config is None:
            config = item
        else:
            raise ValueError(f"{command}: got two configs, {config!r} and {item!r}; "
                             "overrides are written key=value (e.g. train.epochs=5)")
    return config, overrides


def _format_seconds(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1e3:.2f} ms"


def _profile(args) -> int:
    """A few training steps of a config under ``tt.profile()``: the op table, and how much
    of a step the kernels account for. ``--lines OP``: a line profile of one kernel
    (``tinytorch.profiler_lines``); ``--memory``: the memory of a few training steps
    (``tinytorch.profiler_memory``)."""
    import time  # noqa: PLC0415

    import tinytorch as tt  # noqa: PLC0415
    from tinytorch import config as C  # noqa: PLC0415
    from tinytorch.train import experiment  # noqa: PLC0415

    if args.lines is not None and args.memory:
        print("error: --lines OP profiles one kernel and --memory a training step: choose "
              "one", file=sys.stderr)
        return 2
    if args.lines is not None:
        return _profile_lines(args)
    if args.memory:
        return _profile_memory(args)
    args.steps = 20 if args.steps is None else args.steps
    args.warmup = 3 if args.warmup is None else args.warmup
    if args.steps < 1 or args.warmup < 0:
        print(f"error: --steps must be >= 1 and --warmup >= 0, got {args.steps} and "
              f"{args.warmup}", file=sys.stderr)
        return 2
    try:
        name, overrides = _split_config_args(args.args, "tinytorch profile")
        if args.backend:
            overrides.append(f"backend={args.backend}")
        cfg = C.load_config(name or "digits_cnn", overrides)
        exp = experiment.build(cfg, log=None)
        model, opt, loss_fn = exp.model, exp.optimizer, exp.trainer.loss_fn
        batches = iter(exp.data.train)
        first = next(batches)

        def step(x, y):
            loss = loss_fn(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()

        if args.overhead:
            return _profile_overhead(cfg, lambda: step(*first), args)
        with tt.backend(cfg.backend):
            for _ in range(args.warmup):  # compile (or load the cache) outside the profile
                step(*first)
            with tt.profile(record_shapes=not args.no_shapes) as prof:
                start = time.perf_counter()
                for _ in range(args.steps):
                    step(*first)
                wall = time.perf_counter() - start
        sort = args.sort
        print(prof.table(sort_by=sort, limit=args.limit))
    except _train_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    kernels = sum(r["total_s"] for r in prof.rows())
    print(f"\n{cfg.name} on {cfg.backend}, batch {cfg.data.batch_size}: {args.steps} steps in "
          f"{wall * 1e3:.1f} ms ({wall / args.steps * 1e3:.2f} ms per step, profiler "
          f"included); kernels {kernels / wall * 100:.0f}% of it, the rest is Python "
          "(checks, allocation, the graph, dispatch)")
    if args.trace:
        prof.export_chrome_trace(args.trace)
        print(f"wrote {args.trace} (open in https://ui.perfetto.dev or chrome://tracing)")
    return 0


def _profile_overhead(cfg, step, args) -> int:
    """``tinytorch profile --overhead``: what the profiler costs on this config's training
    step, with and without shapes (plain and profiled blocks interleaved)."""
    import tinytorch as tt  # noqa: PLC0415
    from tinytorch.profiler import measure_overhead  # noqa: PLC0415

    rounds = 20
    print(f"{cfg.name} on {cfg.backend}, batch {cfg.data.batch_size}: {rounds} rounds of "
          f"{args.steps} plain and {args.steps} profiled steps, interleaved")
    with tt.backend(cfg.backend):
        for shapes in (True, False):
            r = measure_overhead(step, rounds=rounds, steps=args.steps, warmup=args.warmup,
                                 record_shapes=shapes)
            mode = "tt.profile()" if shapes else "tt.profile(record_shapes=False)"
            print(f"  {mode:32s} {r['calls_per_step']:.0f} kernel calls per step, "
                  f"plain {r['plain_s'] * 1e6:.1f} us, profiled {r['profiled_s'] * 1e6:.1f} "
                  f"us: overhead {r['overhead'] * 100:+.1f}%")
    return 0


def _profile_lines(args) -> int:
    """``tinytorch profile --lines OP``: line_profiler's listing of OP's kernel and its
    three hottest lines."""
    from tinytorch import profiler_lines  # noqa: PLC0415

    if args.args:
        print(f"error: --lines profiles one kernel and takes no CONFIG or overrides, got "
              f"{' '.join(args.args)}", file=sys.stderr)
        return 2
    try:
        report = profiler_lines.profile_lines(args.lines, backend=args.backend or "naive",
                                              variant=args.variant, size=args.size,
                                              repeat=args.repeat)
    except (TypeError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except (RuntimeError, OSError) as err:  # the NUMBA_DISABLE_JIT child failed
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(report.format())
    return 0


def _profile_memory(args) -> int:
    """``tinytorch profile --memory [CONFIG]``: RSS, allocations and line-by-line
    increments of a few training steps."""
    from tinytorch import profiler_memory  # noqa: PLC0415

    steps = 5 if args.steps is None else args.steps
    warmup = 1 if args.warmup is None else args.warmup
    try:
        name, overrides = _split_config_args(args.args, "tinytorch profile")
        if args.backend:
            overrides.append(f"backend={args.backend}")
        step = profiler_memory.config_step(name, overrides)
        report = profiler_memory.profile_memory(
            step, steps=steps, warmup=warmup, model=step.model,
            input_shape=tuple(step.batch[0].shape))
    except (TypeError, *_train_errors()) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cfg = step.config
    print(f"{cfg.name} on {cfg.backend}, batch {cfg.data.batch_size}: memory of {steps} "
          f"training steps after {warmup} warm-up step(s)")
    print(report.format())
    return 0


def _compress(args) -> int:
    from tinytorch import compress  # noqa: PLC0415
    from tinytorch.pruning import PrunedModelError  # noqa: PLC0415
    from tinytorch.quantization import QuantizationError  # noqa: PLC0415

    try:
        rows = compress.compress_run(
            args.run_dir, quantize=args.quantize, prune=args.prune, structured=args.structured,
            finetune=args.finetune, checkpoint=args.checkpoint,
            calibration_batches=args.calibration_batches, rounds=args.rounds,
            log=None if args.quiet else print)
    except (TypeError, QuantizationError, PrunedModelError, *_train_errors()) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(compress.format_table(rows))
    print(f"\nwritten to {Path(rows[0]['path']).parent}; latency: median of interleaved "
          f"rounds, one test batch of {rows[0]['batch']}, jit; speed-up: float32's latency / "
          "this one's")
    if args.json:
        from tinytorch.io import atomic_write_text  # noqa: PLC0415

        atomic_write_text(args.json, json.dumps(rows, indent=2))
    return 0


def _train_errors():
    from tinytorch.config import ConfigError  # noqa: PLC0415
    from tinytorch.runs import RunDirError  # noqa: PLC0415
    from tinytorch.train import CheckpointError, DataMissing  # noqa: PLC0415

    return (ConfigError, RunDirError, CheckpointError, DataMissing, FileNotFoundError,
            ValueError)


def _train(args) -> int:
    from tinytorch import config as C  # noqa: PLC0415
    from tinytorch.train import TrainingDiverged, experiment  # noqa: PLC0415

    def log(line):
        print(line, flush=True)

    progress = False if args.quiet else None
    line_log = None if args.quiet else log
    try:
        name, overrides = _split_config_args(args.args, "tinytorch train")
        if args.backend:
            overrides.append(f"backend={args.backend}")
        if args.resume:
            if name is not None:
                raise ValueError(f"tinytorch train: give a CONFIG or --resume RUN_DIR, not "
                                 f"both (got {name!r}); the run's own config.toml is used")
            out = experiment.resume(args.resume, overrides=overrides, progress=progress,
                                    log=line_log)
        else:
            if args.runs_dir:
                overrides.append(f"runs_dir={args.runs_dir}")
            cfg = C.load_config(name or "digits_cnn", overrides)
            out = experiment.train(cfg, progress=progress, log=line_log)
    except TrainingDiverged as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except _train_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cfg = out["experiment"].config
    print(f"run directory: {out['run_dir']}")
    print(f"test accuracy: {out['test_accuracy']:.4f}")
    compare = args.compare if args.compare is not None else cfg.data.dataset == "digits"
    if compare and args.naive_steps > 0:
        fast = cfg.backend if cfg.backend != "naive" else "jit"
        times = experiment.step_times(cfg, ("naive", fast),
                                      steps={"naive": args.naive_steps})
        ratio = times["naive"] / times[fast]
        print(f"time per step (batch {cfg.data.batch_size}, {cfg.model.name}): naive "
              f"{_format_seconds(times['naive'])}, {fast} {_format_seconds(times[fast])}: "
              f"{fast} is {ratio:,.0f}x faster")
    return 0


def _eval(args) -> int:
    from tinytorch.train import experiment  # noqa: PLC0415

    try:
        out = experiment.evaluate_run(args.run_dir, checkpoint=args.checkpoint,
                                      split=args.split, backend=args.backend)
    except _train_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"checkpoint: {out['checkpoint']} (epoch {out['epoch']}, step {out['step']})")
    print(f"{args.split} loss: {out['loss']:.4f}")
    print(f"{args.split} accuracy: {out['accuracy']:.4f}")
    return 0


def _sweep(args) -> int:
    from tinytorch import config as C  # noqa: PLC0415
    from tinytorch import sweep  # noqa: PLC0415

    def log(line):
        print(line, flush=True)

    try:
        name, overrides = _split_config_args(args.args, "tinytorch sweep")
        if name is None:
            raise ValueError("tinytorch sweep: give a CONFIG (a TOML file or a shipped "
                             "config, e.g. digits_mlp)")
        if args.backend:
            overrides.append(f"backend={args.backend}")
        if args.runs_dir:
            overrides.append(f"runs_dir={args.runs_dir}")
        cfg = C.load_config(name, overrides)
        grid = C.parse_grid(args.grid or [])
        out = sweep.run_sweep(cfg, grid, progress=False if args.quiet else None,
                              log=None if args.quiet else log)
    except _train_errors() as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(sweep.format_table(out["rows"], out["keys"]))
    print(f"wrote {out['csv']}")
    return 0 if all(row["status"] != "diverged" for row in out["rows"]) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinytorch", description="tinytorch: loops to systems. A teaching framework "
        "whose operators run as Python loops, numba jit, numpy or CUDA.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="check the environment and time one kernel per "
                       "backend (module 00)")
    p.add_argument("--no-kernels", action="store_true", help="only report, compile nothing")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("mlp", help="train an MLP on the embedded digits on each backend: "
                       "test accuracy and time per epoch (and PyTorch's, when installed)")
    p.add_argument("--backends", nargs="+", default=["jit", "numpy"],
                   help="default: jit numpy (naive works too: about a minute per epoch)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    p.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    p.set_defaults(func=_mlp)

    p = sub.add_parser("bench", help="time ops on every backend: median, GFLOP/s, "
                       "speed-up over naive, ratio to numpy, roofline")
    p.add_argument("ops", nargs="*", help="ops to time (default: matmul), or 'all' for one "
                   "quick size of every op; see the error for the list")
    p.add_argument("--family", nargs="+", metavar="FAMILY", help="every op of these kernel "
                   "families (elementwise, reduce, matmul, linear, conv, pool, norm, "
                   "activation, loss, optim, transforms), one quick size each")
    p.add_argument("--backends", nargs="+", help="default: every available backend, and "
                   "'torch' when PyTorch is installed")
    p.add_argument("--sizes", nargs="+", type=int, help="sizes in each op's own unit "
                   "(printed under the table): matmul n, elementwise elements, ...")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=5, help="warm rounds per measurement")
    p.add_argument("--min-time", type=float, default=None, help="seconds per round and of "
                   "warm-up (default 0.05; 0.01 with 'all' or --family)")
    p.add_argument("--naive-max", type=int, default=None,
                   help="largest size at which the (slow) naive backend is timed")
    p.add_argument("--json", metavar="PATH", help="also write the rows (with the machine "
                   "probes and each row's roofline bound) as JSON")
    p.add_argument("--plot", metavar="PATH.png", help="speed-up versus size and a roofline "
                   "(needs matplotlib: pip install -e '.[plot]')")
    p.add_argument("--probes", action="store_true", help="measure the machine's peak "
                   "GFLOP/s and memory GB/s and add the roofline column")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(func=_bench)

    p = sub.add_parser("grade", help="grade your lab file (pytest underneath, one child "
                       "process, a time limit per test)")
    p.add_argument("lab", help="lab number, e.g. 01")
    p.add_argument("--file", type=Path, help="the file to grade (default: the lab in your "
                   "workspace)")
    p.add_argument("--dir", help="workspace (default: $TINYTORCH_WORKSPACE or "
                   "./tinytorch-labs)")
    p.add_argument("--json", metavar="OUT", help="write the Gradescope results JSON")
    p.add_argument("--time-limit", type=float, default=60.0, help="seconds per test")
    p.set_defaults(func=_grade)

    p = sub.add_parser("lab", help="list the labs, or start one in your workspace")
    p.add_argument("action", choices=["list", "start"])
    p.add_argument("number", nargs="?", help="lab number for `start`")
    p.add_argument("--dir", help="workspace (default: $TINYTORCH_WORKSPACE or "
                   "./tinytorch-labs)")
    p.set_defaults(func=_lab)

    p = sub.add_parser("modules", help="list the course modules in order")
    p.set_defaults(func=_modules)
    p = sub.add_parser("train", help="train a model from a config in a run directory "
                       "(default: the digits CNN with the jit backend, in ./runs/)")
    p.add_argument("args", nargs="*", metavar="CONFIG|key=value",
                   help="a TOML file or a shipped config (default digits_cnn; also "
                   "digits_mlp, mnist_lenet, cifar10_lenet), and overrides such as "
                   "train.epochs=5")
    p.add_argument("--backend", help="naive, jit, numpy, ... (sets the config's backend)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a run from its newest "
                   "checkpoint (overrides still apply, e.g. train.epochs=40)")
    p.add_argument("--runs-dir", help="where run folders go (default: the config's "
                   "runs_dir, ./runs)")
    p.add_argument("--quiet", action="store_true", help="no progress bar, no per-epoch lines")
    p.add_argument("--compare", dest="compare", action="store_true", default=None,
                   help="time naive and jit steps of the model at the end (default: on for "
                   "the digits)")
    p.add_argument("--no-compare", dest="compare", action="store_false",
                   help="skip the naive/jit timing")
    p.add_argument("--naive-steps", type=int, default=2,
                   help="naive steps timed for the comparison (default 2)")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="evaluate a run's checkpoint on its test split")
    p.add_argument("run_dir", help="a run folder made by tinytorch train")
    p.add_argument("--checkpoint", default="best",
                   help="best (default), latest, or a checkpoint .json path")
    p.add_argument("--split", default="test", choices=["test", "val"])
    p.add_argument("--backend", help="default: the run's backend")
    p.set_defaults(func=_eval)

    p = sub.add_parser("profile", help="profile a few training steps of a config: time, "
                       "FLOPs and bytes per op and backend (module 08)")
    p.add_argument("args", nargs="*", metavar="CONFIG|key=value",
                   help="a TOML file or shipped config (default: digits_cnn), and overrides")
    p.add_argument("--backend", help="sets the config's backend; with --lines: naive "
                   "(default) or jit (the jit source run as Python, NUMBA_DISABLE_JIT=1)")
    p.add_argument("--steps", type=int, default=None, help="profiled steps (default 20; "
                   "--memory: 5)")
    p.add_argument("--warmup", type=int, default=None, help="unprofiled steps first "
                   "(compile; default 3, --memory: 1)")
    p.add_argument("--sort", default="total", help="total, calls, median, first, flops, "
                   "bytes or op")
    p.add_argument("--limit", type=int, default=None, help="rows to print")
    p.add_argument("--trace", metavar="PATH", help="also write a Chrome trace (JSON)")
    p.add_argument("--no-shapes", action="store_true", help="group by op only, without "
                   "shapes, FLOPs or bytes: the cheapest profile")
    p.add_argument("--overhead", action="store_true", help="measure what the profiler "
                   "costs on a training step of the config, with and without shapes")
    p.add_argument("--lines", metavar="OP", help="line-profile the naive (or --backend jit) "
                   "kernel of OP, e.g. matmul_forward, conv2d_backward, relu_forward")
    p.add_argument("--variant", help="with --lines: a rung of OP's ladder, e.g. jit_packed")
    p.add_argument("--size", type=int, help="with --lines: the inputs' main dimension "
                   "(default: small, per family)")
    p.add_argument("--repeat", type=int, default=1, help="with --lines: kernel calls")
    p.add_argument("--memory", action="store_true", help="memory of a few training steps "
                   "instead: RSS (memory_profiler), allocations, line-by-line increments")
    p.set_defaults(func=_profile)

    p = sub.add_parser("compress", help="quantise (int8) and/or prune a trained run's model, "
                       "then compare size, accuracy and latency with the float32 model "
                       "(module 09)")
    p.add_argument("run_dir", help="a run folder made by tinytorch train")
    p.add_argument("--quantize", choices=["int8"], help="post-training int8 quantisation "
                   "(weights per channel, activations calibrated on training batches)")
    p.add_argument("--prune", type=float, metavar="AMOUNT", help="fraction in [0, 1) of the "
                   "weights (or, with --structured, of the channels) to remove")
    p.add_argument("--structured", action="store_true", help="remove whole channels and "
                   "neurons: smaller dense layers")
    p.add_argument("--finetune", type=int, default=0, metavar="EPOCHS", help="fine-tune the "
                   "pruned model, distilling from the float model (default 0)")
    p.add_argument("--checkpoint", default="best", help="best (default), latest, or a path")
    p.add_argument("--calibration-batches", type=int, default=16,
                   help="training batches the int8 observers see (default 16)")
    p.add_argument("--rounds", type=int, default=15, help="latency rounds (default 15)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    p.add_argument("--quiet", action="store_true", help="only the table")
    p.set_defaults(func=_compress)

    p = sub.add_parser("sweep", help="train every point of a grid of config values and "
                       "write a summary table (CSV)")
    p.add_argument("args", nargs="*", metavar="CONFIG|key=value",
                   help="a TOML file or shipped config, and overrides")
    p.add_argument("--grid", action="append", metavar="KEY=V1,V2",
                   help="values of one key (repeat for more keys); list-valued keys "
                   "separate points with ';'")
    p.add_argument("--backend", help="sets the config's backend")
    p.add_argument("--runs-dir", help="where the sweep folder goes")
    p.add_argument("--quiet", action="store_true", help="only the final table")
    p.set_defaults(func=_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BrokenPipeError:  # `tinytorch lab list | head`: the reader left, not an error
        # Python would report the pipe again when it flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
