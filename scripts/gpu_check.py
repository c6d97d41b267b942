"""Checks for the cuda kernels that need more than the simulator. Driven by gpu_check.sh.

Two commands:

``python scripts/gpu_check.py bench [--n 1024] [--repeats 10]``
    On a machine with a CUDA GPU: time the naive and the tiled matmul kernels on
    (1, n, n) @ (1, n, n) float32 against numpy on the CPU. Each kernel's result is checked
    against numpy before it is timed. Reported apart, because they answer different
    questions: the first call (which includes compiling the kernel), the kernel alone
    (median of CUDA-event timings after warm-up), the host<->device transfers, and one
    end-to-end call through the kernel contract (copy in, run, copy out).

``python scripts/gpu_check.py ptx [--cc 8.0]``
    Without a GPU: compile every cuda kernel, for every dtype the tests use, to PTX for one
    compute capability. It runs numba's real CUDA front end (typing, lowering, NVVM), which
    the simulator skips, so it catches code that runs as Python under the simulator but
    does not compile for a GPU. Needs the CUDA toolkit's NVVM, not a driver; exits 77
    ("skipped") when NVVM is missing.

Both commands must run with the simulator off (``NUMBA_ENABLE_CUDASIM`` unset or 0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

EXIT_SKIPPED = 77  # the automake convention for "could not run here"


def _require_real_cuda():
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "0") not in ("", "0"):
        sys.exit("gpu_check.py: unset NUMBA_ENABLE_CUDASIM (or set it to 0): this script "
                 "checks the real CUDA compiler and GPU, not the simulator")


# --- ptx: compile every kernel for a GPU without one ---


def _ptx_cases():
    """(label, kernel, argument types) for every kernel the tests launch."""
    from numba import types

    from tinytorch.kernels.cuda import elementwise, matmul, reduce
    from tinytorch.kernels.cuda._launch import numba_type

    def arr(dtype, ndim):
        return types.Array(numba_type(dtype), ndim, "C")

    binary = ("add", "sub", "mul", "div")
    for op, kernel in elementwise.KERNELS_1D.items():
        dtypes = ("float32", "float64") if op in ("div", "exp") else ("float32", "float64", "int64")
        n_args = 3 if op in binary else 2
        for dt in dtypes:
            yield f"elementwise {op} {dt}", kernel, (arr(dt, 1),) * n_args
    for dt in ("float32", "float64", "int64"):
        kernel = reduce.sum_rows_kernel(np.dtype(dt))
        yield f"reduce sum {dt}", kernel, (arr(dt, 1), arr(dt, 2))
    for dt in ("float32", "float64"):
        sig = (arr(dt, 3),) * 3
        yield f"matmul naive {dt}", matmul.matmul_naive_kernel(np.dtype(dt)), sig
        for tile in (matmul.TILE, 4):
            kernel = matmul.matmul_tiled_kernel(np.dtype(dt), tile)
            yield f"matmul tiled(tile={tile}) {dt}", kernel, sig


def cmd_ptx(args) -> int:
    _require_real_cuda()
    from numba import cuda
    from numba.cuda.cudadrv.error import NvvmSupportError

    cc = tuple(int(p) for p in args.cc.split("."))
    failures = 0
    for label, kernel, sig in _ptx_cases():
        t0 = time.perf_counter()
        try:
            ptx, _ = cuda.compile_ptx(kernel.py_func, sig, cc=cc)
        except Exception as exc:
            text = " ".join(f"{type(exc).__name__}: {exc}".split())
            if isinstance(exc, NvvmSupportError) or "libdevice" in text.lower():
                # the toolkit is missing, not the kernel broken
                print(f"skipped: the CUDA toolkit (NVVM, libdevice) is not available here\n"
                      f"  {text}")
                return EXIT_SKIPPED
            print(f"FAIL {label}: {text}")
            failures += 1
            continue
        n_lines = ptx.count("\n")
        print(f"ok   {label:32s} {n_lines:5d} PTX lines  {time.perf_counter() - t0:5.2f} s")
    print(f"{failures} failure(s) compiling for compute capability {args.cc}")
    return 1 if failures else 0


# --- bench: naive vs tiled matmul on a real GPU ---


def _median_seconds(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _kernel_seconds(launch, repeats, warmup=2):
    """Median kernel time from CUDA events recorded around each launch.

    Launches are asynchronous: the host returns at once, so a host clock would time the
    launch call, not the kernel. Events are timestamps recorded on the GPU's stream; the
    difference of two is the GPU time between them.
    """
    from numba import cuda

    for _ in range(warmup):
        launch()
    cuda.synchronize()
    start, end = cuda.event(timing=True), cuda.event(timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        launch()
        end.record()
        end.synchronize()
        times.append(cuda.event_elapsed_time(start, end) / 1e3)  # ms -> s
    return statistics.median(times)


def cmd_bench(args) -> int:
    _require_real_cuda()
    from tinytorch.kernels.cuda import cuda_status

    kind, detail = cuda_status()
    if kind != "gpu":
        print(f"gpu_check.py bench needs a CUDA GPU; found {kind}: {detail}")
        return EXIT_SKIPPED

    from numba import cuda

    from tinytorch.kernels.cuda import matmul

    n, repeats = args.n, args.repeats
    flops = 2.0 * n**3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, n, n), dtype=np.float32)
    b = rng.standard_normal((1, n, n), dtype=np.float32)
    out = np.empty((1, n, n), dtype=np.float32)

    ref = np.matmul(a, b)
    np.matmul(a, b, out=out)  # warm-up (BLAS thread pool start-up)
    t_numpy = _median_seconds(lambda: np.matmul(a, b, out=out), repeats)

    # transfers, timed on the host clock with a synchronize so that the whole copy is
    # inside the interval; host->device includes allocating the device buffers, as every
    # launcher call does (numba has no memory pool by default)
    def h2d():
        cuda.to_device(a), cuda.to_device(b)
        cuda.synchronize()

    def d2h():
        d_out.copy_to_host(out)
        cuda.synchronize()

    d_a, d_b = cuda.to_device(a), cuda.to_device(b)
    d_out = cuda.device_array(out.shape, dtype=out.dtype)
    h2d(), d2h()  # warm-up: the first copies pay one-off driver set-up
    t_h2d = _median_seconds(h2d, repeats)
    t_d2h = _median_seconds(d2h, repeats)

    rows = [("numpy (CPU)", None, t_numpy)]
    scale = float(np.abs(ref).max())
    for name, launch in (("cuda naive", matmul.matmul_naive_device),
                         ("cuda tiled", matmul.matmul_tiled_device)):
        t0 = time.perf_counter()
        launch(d_out, d_a, d_b)  # first call: compiles for (float32, 3-D, C) then runs
        cuda.synchronize()
        t_first = time.perf_counter() - t0
        # validate before timing: a fast wrong kernel is not a result
        got = d_out.copy_to_host()
        rel_err = float(np.abs(got - ref).max()) / scale
        if rel_err > 1e-4:
            print(f"FAIL {name}: max |got - numpy| / max |numpy| = {rel_err:.2e} > 1e-4")
            return 1
        t_kernel = _kernel_seconds(lambda launch=launch: launch(d_out, d_a, d_b), repeats)
        rows.append((name, t_first, t_kernel))

    matmul.matmul_forward_cuda_tiled(out, a, b)  # warm-up
    t_e2e = _median_seconds(lambda: matmul.matmul_forward_cuda_tiled(out, a, b), repeats)

    print(f"\nmatmul (1, {n}, {n}) @ (1, {n}, {n}) float32 on {detail}; "
          f"medians of {repeats} runs after warm-up\n")
    print(f"{'variant':<14}{'first call':>12}{'time':>12}{'GFLOP/s':>10}{'vs numpy':>10}")
    for name, t_first, t in rows:
        first = "-" if t_first is None else f"{t_first:.2f} s"
        print(f"{name:<14}{first:>12}{t * 1e3:>9.3f} ms{flops / t / 1e9:>10.1f}"
              f"{t_numpy / t:>9.1f}x")
    mib = 2 * a.nbytes / 2**20
    print("\nfirst call = compile + run; cuda times are kernel only (CUDA events); "
          "vs numpy = numpy time / this time")
    print(f"transfers: host->device a and b ({mib:.1f} MiB, with allocation) {t_h2d * 1e3:.3f} ms "
          f"({2 * a.nbytes / t_h2d / 1e9:.1f} GB/s), device->host out {t_d2h * 1e3:.3f} ms")
    print(f"end to end, matmul_forward_cuda_tiled(out, a, b) with copies: {t_e2e * 1e3:.3f} ms")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_bench = sub.add_parser("bench", help="time naive vs tiled matmul on the GPU")
    p_bench.add_argument("--n", type=int, default=1024)
    p_bench.add_argument("--repeats", type=int, default=10)
    p_ptx = sub.add_parser("ptx", help="compile every kernel to PTX (no GPU needed)")
    p_ptx.add_argument("--cc", default="8.0", help="compute capability, e.g. 8.0 or 9.0")
    args = parser.parse_args(argv)
    return cmd_bench(args) if args.cmd == "bench" else cmd_ptx(args)


if __name__ == "__main__":
    sys.exit(main())
