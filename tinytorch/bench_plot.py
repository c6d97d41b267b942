"""``tinytorch bench --plot PATH.png``: speed-up versus size, and a roofline.

Left panel: for each op, the jit kernel's speed-up over the naive loops (solid) and its
ratio to numpy (dashed; above 1 means faster than numpy), against the op's size, both axes
logarithmic. Sizes are in each op's own unit (the table footer says which).

Right panel: the roofline. x is arithmetic intensity (FLOPs per byte of compulsory
traffic, from the op's spec), y the GFLOP/s a row reached; the roof is ``min(peak,
intensity * bandwidth)`` with both figures measured live by ``tinytorch.probes``. A marker
far under the roof is a kernel with headroom; one on the slanted part is memory-bound and
can only get faster by moving fewer bytes (fusion, smaller dtypes), not by computing faster.

matplotlib is an optional extra (``pip install -e ".[plot]"``); the figure is drawn on an
Agg canvas without touching pyplot's global state, and written atomically (a temporary
file, then a rename), so a crash never leaves half a PNG.

>>> rows = [dict(op="add", family="elementwise", size=10, backend=b, gflops=g, intensity=1/12,
...              speedup_vs_naive=s, ratio_to_numpy=r)
...         for b, g, s, r in (("naive", 0.01, 1.0, 0.1), ("jit", 1.0, 100.0, 1.2),
...                            ("numpy", 0.8, 80.0, 1.0))]
>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "bench.png"
>>> plot(rows, dict(peak_gflops=100.0, stream_gbs=10.0), path)
>>> path.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["plot", "require_matplotlib"]

_BACKEND_COLORS = {"naive": "tab:gray", "jit": "tab:blue", "numpy": "tab:orange",
                   "torch": "tab:red", "cuda": "tab:green"}
_MARKERS = "osD^v<>PXh*p"


def require_matplotlib():
    """Import matplotlib or raise ImportError with the install hint.

    >>> require_matplotlib().__name__
    'matplotlib'
    """
    try:
        import matplotlib  # noqa: PLC0415 (optional extra)
    except ImportError as err:
        raise ImportError("--plot needs matplotlib, an optional extra that is not installed"
                          "\nhint: pip install -e '.[plot]' (or drop --plot; --json keeps "
                          "every figure)") from err
    return matplotlib


def _speedup_panel(ax, rows):
    ops = list(dict.fromkeys(r["op"] for r in rows))
    import matplotlib  # noqa: PLC0415 (optional extra, checked by plot())

    cmap = matplotlib.colormaps["tab20"]
    drawn = False
    for i, op in enumerate(ops):
        jit = sorted((r for r in rows if r["op"] == op and r["backend"] == "jit"),
                     key=lambda r: r["size"])
        color = cmap(i % 20)
        for key, style in (("speedup_vs_naive", "-"), ("ratio_to_numpy", "--")):
            pts = [(r["size"], r[key]) for r in jit if r.get(key)]
            if pts:
                x, y = zip(*pts, strict=True)
                ax.plot(x, y, style, marker=_MARKERS[i % len(_MARKERS)], color=color,
                        label=op if key == "speedup_vs_naive" else None, ms=4)
                drawn = True
    ax.axhline(1.0, color="black", lw=0.8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("size (each op's own unit; see the table footer)")
    ax.set_ylabel("jit speed-up: over naive (solid), over numpy (dashed)")
    ax.set_title("jit / naive and jit / numpy")
    if drawn:
        ax.legend(fontsize=6, ncol=2, loc="best")


def _roofline_panel(ax, rows, machine):
    peak, bw = machine["peak_gflops"], machine["stream_gbs"]
    xs = [r["intensity"] for r in rows if r["gflops"] > 0]
    lo = min([peak / bw / 100, *xs]) / 2
    hi = max([peak / bw * 10, *xs]) * 2
    grid = np.logspace(np.log10(lo), np.log10(hi), 200)
    ax.plot(grid, np.minimum(peak, grid * bw), color="black", lw=1.5)
    ax.annotate(f"{bw:.3g} GB/s (STREAM triad)", (grid[20], grid[20] * bw), fontsize=7,
                rotation=0, xytext=(4, 6), textcoords="offset points")
    ax.annotate(f"{peak:.3g} GFLOP/s (BLAS float32)", (grid[-60], peak), fontsize=7,
                xytext=(0, 4), textcoords="offset points")
    families = list(dict.fromkeys(r["family"] for r in rows))
    for r in rows:
        if r["gflops"] <= 0:
            continue
        ax.scatter(r["intensity"], r["gflops"], s=18, alpha=0.8,
                   color=_BACKEND_COLORS.get(r["backend"], "tab:purple"),
                   marker=_MARKERS[families.index(r["family"]) % len(_MARKERS)])
    for b, color in _BACKEND_COLORS.items():
        if any(r["backend"] == b for r in rows):
            ax.scatter([], [], color=color, marker="o", label=b)
    for i, fam in enumerate(families):
        ax.scatter([], [], color="white", edgecolors="black", marker=_MARKERS[i % len(
            _MARKERS)], label=fam)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte of compulsory traffic)")
    ax.set_ylabel("GFLOP/s")
    ax.set_title("roofline (one marker per op, backend, size)")
    ax.legend(fontsize=6, ncol=2, loc="lower right")


def plot(rows: list[dict], machine: dict, path) -> None:
    """Draw both panels for ``rows`` (``run_bench`` output) under the roofs in ``machine``
    (``probes.measure()``) and write the PNG at ``path`` atomically."""
    require_matplotlib()
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    from tinytorch.io import atomic_write_bytes  # noqa: PLC0415

    if not rows:
        raise ValueError("nothing to plot: no benchmark rows")
    fig = Figure(figsize=(12, 5), dpi=90, layout="constrained")
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2)
    _speedup_panel(left, rows)
    _roofline_panel(right, rows, machine)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    atomic_write_bytes(path, buf.getvalue())
