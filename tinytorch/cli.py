"""The ``tinytorch`` command: ``doctor``, ``mlp``, ``bench``, ``grade``, ``lab``, ``modules``.

>>> main(["modules"])  # doctest: +ELLIPSIS
00  setup ...
0
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["main"]


def _doctor(args) -> int:
    from tinytorch import doctor  # noqa: PLC0415

    return doctor.main(run_kernels=not args.no_kernels)


def _bench(args) -> int:
    from tinytorch import bench  # noqa: PLC0415

    ops = args.ops or ["matmul"]
    unknown = [op for op in ops if op not in bench.BENCH_OPS]
    if unknown:
        print(f"error: no benchmark for {', '.join(unknown)}; choose from "
              f"{', '.join(bench.BENCH_OPS)}", file=sys.stderr)
        return 2
    progress = None if args.quiet or not sys.stderr.isatty() else (
        lambda msg: print(f"  ... {msg}", file=sys.stderr, flush=True))
    all_rows = []
    for op in ops:
        try:
            rows = bench.run_bench(op, backends=args.backends, sizes=args.sizes,
                                   dtype=args.dtype, rounds=args.rounds,
                                   naive_max=args.naive_max, progress=progress)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(bench.format_table(rows))
        print()
        all_rows += rows
    if args.json:
        from tinytorch.io import atomic_write_text  # noqa: PLC0415

        atomic_write_text(args.json, bench.to_json(all_rows))
        print(f"wrote {args.json}")
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

    p = sub.add_parser("bench", help="time an op on every backend: median, GFLOP/s, "
                       "speed-up over naive, ratio to numpy")
    p.add_argument("ops", nargs="*", help="ops to time (default: matmul); one of: matmul, "
                   "add, mul, exp, relu, sum")
    p.add_argument("--backends", nargs="+", help="default: every available backend, and "
                   "'torch' when PyTorch is installed")
    p.add_argument("--sizes", nargs="+", type=int, help="matmul: n; others: elements")
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--rounds", type=int, default=5, help="warm rounds per measurement")
    p.add_argument("--naive-max", type=int, default=None,
                   help="largest size at which the (slow) naive backend is timed")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
