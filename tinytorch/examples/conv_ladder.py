"""The Conv2d forward ladder, measured here: naive loops -> the same loops compiled -> padded
-> flat -> parallel -> im2col + matmul -> numpy -> PyTorch, on one layer (batch 32, 3 -> 16
channels, 32x32, 3x3, padding 1, float32), as a table and, with matplotlib installed, a PNG.

``python -m tinytorch.examples.conv_ladder [--png ladder.png]``

Every rung is checked against the numpy oracle before it is timed; its first call
(compilation, or a load from numba's cache) is reported apart; steady state is the median of
several rounds. The naive rung runs one image and is scaled to the batch (its loops take
about a second per image). Ratios are to PyTorch's ``F.conv2d`` in the same process.

>>> rows = ladder(batch=2, rounds=2, rungs=["jit", "numpy"], naive_images=0)
>>> [r["rung"] for r in rows if r["rung"] != "torch"]
['jit', 'numpy']
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np

from tinytorch.kernels import conv as K
from tinytorch.testing import assert_close

PARAMS = {"stride_h": 1, "stride_w": 1, "pad_h": 1, "pad_w": 1, "dil_h": 1, "dil_w": 1,
          "groups": 1}


def _inputs(n: int, c_in: int = 3, c_out: int = 16, hw: int = 32, k: int = 3):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c_in, hw, hw)).astype(np.float32)
    w = (rng.standard_normal((c_out, c_in, k, k)) / np.sqrt(c_in * k * k)).astype(np.float32)
    b = rng.standard_normal(c_out).astype(np.float32)
    return x, w, b, np.empty((n, c_out, hw, hw), np.float32)


def _median_seconds(fn, rounds: int, *args, **kwargs) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn(*args, **kwargs)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ladder(batch: int = 32, rounds: int = 7, rungs=None, naive_images: int = 1) -> list[dict]:
    """One row per rung: ``rung``, ``first_call_s``, ``seconds`` (per batch), ``images``
    actually run, and ``ratio_to_torch`` when PyTorch is installed."""
    rungs = list(rungs or K.VARIANTS)
    # The oracle runs once, first: numpy's matmul leaves OpenBLAS threads spinning for a
    # while, and a compiled kernel timed right after one shares the 2 cores with them
    # (docs/benchmarking.md). Then a pause, so they are asleep before any rung is timed.
    x_all, w, b, out_all = _inputs(batch)
    expected = np.empty_like(out_all)
    K.conv2d_forward_numpy(expected, x_all, w, b, **PARAMS)
    time.sleep(0.5)
    rows = []
    for rung in rungs:
        n = naive_images if rung == "naive" else batch
        if n == 0:
            continue
        x, out = np.ascontiguousarray(x_all[:n]), out_all[:n]
        fn = K.VARIANTS[rung]
        start = time.perf_counter()
        fn(out, x, w, b, **PARAMS)
        first = time.perf_counter() - start
        assert_close(out, expected[:n], rtol=1e-4, atol=1e-4)
        slow = rung in ("naive", "jit_direct")
        seconds = _median_seconds(fn, 1 if slow else rounds, out, x, w, b, **PARAMS)
        rows.append({"rung": rung, "images": n, "first_call_s": first,
                     "seconds": seconds * batch / n})
    try:
        import torch  # noqa: PLC0415 (optional)
    except ImportError:
        return rows
    x, w, b, _ = _inputs(batch)
    tx, tw, tb = (torch.from_numpy(a) for a in (x, w, b))
    conv = torch.nn.functional.conv2d
    conv(tx, tw, tb, padding=1)
    seconds = _median_seconds(conv, rounds, tx, tw, tb, padding=1)
    rows.append({"rung": "torch", "images": batch, "first_call_s": 0.0, "seconds": seconds})
    for row in rows:
        row["ratio_to_torch"] = row["seconds"] / seconds
    return rows


def format_table(rows: list[dict]) -> str:
    lines = ["| rung | ms per batch of 32 | x PyTorch | first call (s) |", "|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio_to_torch']:.2f}" if "ratio_to_torch" in r else "-"
        note = f" (scaled from {r['images']} image)" if r["rung"] == "naive" else ""
        lines.append(f"| {r['rung']}{note} | {r['seconds'] * 1e3:.2f} | {ratio} | "
                     f"{r['first_call_s']:.2f} |")
    return "\n".join(lines)


def plot(rows: list[dict], path) -> None:
    """A log-scale bar chart of time per batch, one bar per rung (needs matplotlib)."""
    import matplotlib  # noqa: PLC0415 (optional: pip install -e ".[plot]")

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(8, 4))
    names = [r["rung"] for r in rows]
    ax.bar(names, [r["seconds"] * 1e3 for r in rows], color="#4c72b0")
    ax.set_yscale("log")
    ax.set_ylabel("ms per batch (log scale)")
    ax.set_title("Conv2d forward, 32x3x32x32 -> 16 channels, 3x3, pad 1 (float32)")
    for i, r in enumerate(rows):
        if "ratio_to_torch" in r:
            ax.annotate(f"{r['ratio_to_torch']:.3g}x", (i, r["seconds"] * 1e3),
                        ha="center", va="bottom", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinytorch.examples.conv_ladder")
    parser.add_argument("--png", help="also write the ladder as a PNG (needs matplotlib)")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    rows = ladder(rounds=args.rounds)
    print(format_table(rows))
    if args.png:
        try:
            plot(rows, args.png)
        except ImportError:
            print("matplotlib is not installed: pip install -e \".[plot]\"", file=sys.stderr)
            return 2
        print(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
