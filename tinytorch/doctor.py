"""``tinytorch doctor`` (module 00): the environment as a system.

Reports the versions that matter, the CPU, numba's threads and threading layer, the BLAS
numpy calls, the JIT cache directory, CUDA, and then compiles and runs one small kernel per
backend, with compile time and run time apart, each result checked against numpy. Returns a
list of problems: empty means healthy.

>>> report = collect(run_kernels=False)
>>> report["problems"], sorted(report["versions"])[:2]
([], ['llvmlite', 'numba'])
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = ["collect", "format_report", "main"]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_flags() -> list[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in ("avx2", "fma", "avx512f") if f in have]
    except OSError:
        pass
    return []


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info  # noqa: PLC0415

        from tinytorch import threads  # noqa: PLC0415

        policy = threads.get_policy()
        why = ("; tinytorch's thread policy 'auto': one thread while jit is the backend, "
               "BLAS's own width under numpy (docs/threads.md)" if policy == "auto" else
               f"; thread policy {policy!r}")
        for pool in threadpool_info():
            if pool.get("user_api") == "blas":
                return (f"{pool.get('internal_api')} {pool.get('version')} "
                        f"({pool.get('num_threads')} threads now, "
                        f"{pool.get('architecture')}{why})")
    except ImportError:
        pass
    try:
        cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{cfg.get('name')} {cfg.get('version')} (threadpoolctl not installed)"
    except Exception as err:  # noqa: BLE001 (numpy's config format varies by version)
        return f"unknown ({err})"


def _cache_dir() -> tuple[str, bool, str]:
    """Where numba writes compiled kernels, whether it is writable, and a note."""
    import numba  # noqa: PLC0415

    from tinytorch import kernels  # noqa: PLC0415

    configured = numba.config.CACHE_DIR
    if configured:
        where, note = Path(configured), "NUMBA_CACHE_DIR"
    else:
        where, note = Path(kernels.__file__).parent / "__pycache__", "next to the kernels"
    try:
        where.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=where):
            pass
        return str(where), True, note
    except OSError as err:
        return (str(where), False,
                f"{note}: not writable ({err.strerror}); numba falls back to a user cache "
                "dir or compiles every run. hint: set NUMBA_CACHE_DIR to a writable folder")


def _kernel_timings() -> list[dict]:
    """Compile and run add_forward on every available backend; time both apart."""
    import numba  # noqa: PLC0415

    from tinytorch import dispatch  # noqa: PLC0415
    from tinytorch.kernels import elementwise  # noqa: PLC0415

    rng = np.random.default_rng(0)
    rows = []
    for backend in dispatch.available_backends():
        if backend not in ("naive", "jit", "numpy", "cuda"):
            continue
        n = {"naive": 64, "cuda": 16}.get(backend, 512)  # cuda may be the slow simulator
        a = rng.standard_normal((n, n)).astype(np.float32)
        b = rng.standard_normal((n, n)).astype(np.float32)
        out = np.empty_like(a)
        compile_s = None
        try:
            kernel = dispatch.kernel_for("add_forward", backend)[1]
            if backend == "jit":
                # A fresh, uncached compile of the same source: the true compile time, which
                # a later run skips thanks to cache=True.
                fresh = numba.njit(cache=False, error_model="numpy")(
                    elementwise.add_forward_naive)
                start = time.perf_counter()
                fresh.compile((numba.typeof(out), numba.typeof(a), numba.typeof(b)))
                compile_s = time.perf_counter() - start
            start = time.perf_counter()
            kernel(out, a, b)
            first = time.perf_counter() - start
            ok = bool(np.allclose(out, a + b))
            times = []
            for _ in range(3 if backend in ("naive", "cuda") else 20):
                start = time.perf_counter()
                kernel(out, a, b)
                times.append(time.perf_counter() - start)
            rows.append(dict(backend=backend, shape=(n, n), compile_s=compile_s,
                             first_call_s=first, run_s=statistics.median(times), ok=ok))
        except Exception as err:  # noqa: BLE001 (the doctor reports, never crashes)
            rows.append(dict(backend=backend, shape=(n, n), error=f"{type(err).__name__}: "
                             f"{err}", ok=False))
    return rows


def collect(run_kernels: bool = True) -> dict:
    """Gather the report as a dict (``format_report`` prints it)."""
    report: dict = {"problems": []}
    report["python"] = f"{platform.python_implementation()} {platform.python_version()}"
    versions = {"numpy": np.__version__}
    try:
        import llvmlite  # noqa: PLC0415
        import numba  # noqa: PLC0415

        versions.update(numba=numba.__version__, llvmlite=llvmlite.__version__)
    except ImportError as err:
        report["problems"].append(f"numba is not importable ({err}); hint: pip install -e .")
        numba = None
    import tinytorch  # noqa: PLC0415

    versions["tinytorch"] = tinytorch.__version__
    report["versions"] = versions
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    report["cpu"] = dict(name=_cpu_name(), logical_cores=os.cpu_count(),
                         usable_cores=affinity, simd=_cpu_flags())
    report["blas"] = _blas()
    if numba is not None:
        report["numba_threads"] = dict(
            threads=numba.get_num_threads(), max_threads=numba.config.NUMBA_NUM_THREADS,
            layer_requested=numba.config.THREADING_LAYER)
        where, writable, note = _cache_dir()
        report["cache"] = dict(dir=where, writable=writable, note=note)
    from tinytorch import kernels  # noqa: PLC0415

    kind, detail = kernels.cuda_status()
    report["cuda"] = dict(kind=kind, detail=detail)
    report["backend"] = _current_backend(report)
    if run_kernels and numba is not None:
        report["kernels"] = _kernel_timings()
        for row in report["kernels"]:
            if not row["ok"]:
                report["problems"].append(
                    f"the {row['backend']} kernel failed its check: "
                    f"{row.get('error', 'result differs from numpy')}")
        report["numba_threads"]["layer_used"] = _threading_layer()
    return report


def _current_backend(report: dict) -> str:
    from tinytorch import dispatch  # noqa: PLC0415

    try:
        return dispatch.get_backend()
    except ValueError as err:
        report["problems"].append(str(err))
        return "invalid"


def _threading_layer() -> str:
    """The layer numba picked; it is only known after a parallel kernel has run."""
    import numba  # noqa: PLC0415

    @numba.njit(parallel=True)
    def _touch(x):
        for i in numba.prange(x.shape[0]):
            x[i] += 1.0

    try:
        _touch(np.zeros(4))
        return numba.threading_layer()
    except Exception as err:  # noqa: BLE001
        return f"unavailable ({err})"


def _fmt_s(s) -> str:
    if s is None:
        return "-"
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} us"


def format_report(report: dict) -> str:
    v = report["versions"]
    cpu = report["cpu"]
    lines = [
        "tinytorch doctor",
        f"  python        {report['python']} ({sys.executable})",
        "  versions      " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"  cpu           {cpu['name']}; {cpu['logical_cores']} logical cores, "
        f"{cpu['usable_cores']} usable; SIMD: {', '.join(cpu['simd']) or 'none found'}",
        f"  blas          {report['blas']}",
    ]
    if "numba_threads" in report:
        t = report["numba_threads"]
        lines.append(f"  numba threads {t['threads']} of {t['max_threads']}; threading layer "
                     f"{t.get('layer_used', '?')} (requested: {t['layer_requested']})")
    if "cache" in report:
        c = report["cache"]
        state = "writable" if c["writable"] else "NOT writable"
        lines.append(f"  jit cache     {c['dir']} ({state}; {c['note']})")
    cuda = report["cuda"]
    lines.append(f"  cuda          {cuda['kind']}: {cuda['detail']}")
    if cuda["kind"] == "none":
        lines.append("                (optional; to run the CUDA kernels on the CPU simulator, "
                     "start with NUMBA_ENABLE_CUDASIM=1)")
    lines.append(f"  backend       {report['backend']} (TINYTORCH_BACKEND or tt.set_backend)")
    if "kernels" in report:
        lines.append("  add_forward, float32, one kernel per backend:")
        lines.append(f"    {'backend':8} {'shape':>10} {'compile':>10} {'first call':>11} "
                     f"{'run':>10}  check")
        for r in report["kernels"]:
            if "error" in r:
                lines.append(f"    {r['backend']:8} error: {r['error']}")
                continue
            shape = "x".join(map(str, r["shape"]))
            lines.append(f"    {r['backend']:8} {shape:>10} {_fmt_s(r['compile_s']):>10} "
                         f"{_fmt_s(r['first_call_s']):>11} {_fmt_s(r['run_s']):>10}  "
                         f"{'ok' if r['ok'] else 'WRONG'}")
        lines.append("    compile: a fresh uncached numba compile; first call: with "
                     "cache=True (a load from disk after the first run)")
    if report["problems"]:
        lines.append("problems:")
        lines += [f"  - {p}" for p in report["problems"]]
    else:
        lines.append("all checks passed")
    return "\n".join(lines)


def main(run_kernels: bool = True) -> int:
    report = collect(run_kernels=run_kernels)
    print(format_report(report))
    return 1 if report["problems"] else 0
