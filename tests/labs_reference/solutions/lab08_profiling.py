# The solutions of labs/lab08_profiling.py: its TODO functions, done. The grader self-tests
# build the reference lab by inserting these before the lab's experiments, so
# the reference cannot drift from the lab students get.


def op_flops(op: str, shapes) -> int:
    """FLOPs of one call of kernel ``op`` on arrays of ``shapes`` (outputs first).

    >>> op_flops("matmul_forward", [(1, 2, 3), (1, 2, 4), (1, 4, 3)])
    48
    >>> op_flops("linear_forward", [(2, 3), (2, 4), (3, 4), (3,)])
    54
    """
    if op == "matmul_forward":
        (batch, m, n), k = shapes[0], shapes[1][2]
        return 2 * batch * m * n * k
    if op == "linear_forward":
        (m, n), k = shapes[0], shapes[1][1]
        return 2 * m * n * k + m * n
    if op == "conv2d_forward":
        n_img, c_out, oh, ow = shapes[0]
        _, c_g, kh, kw = shapes[2]
        return n_img * c_out * oh * ow * (2 * c_g * kh * kw + 1)
    raise ValueError(f"op_flops: no formula for {op!r}")


def roofline(flops: float, nbytes: float, peak_gflops: float, peak_gbs: float):
    """``(intensity, attainable_gflops, bound)``: FLOPs per byte, the roofline's best
    GFLOP/s for it, and ``"memory"`` or ``"compute"``.

    >>> roofline(100, 50, peak_gflops=10.0, peak_gbs=1.0)
    (2.0, 2.0, 'memory')
    """
    intensity = flops / nbytes if nbytes else math.inf
    memory_roof = intensity * peak_gbs
    if memory_roof < peak_gflops:
        return intensity, memory_roof, "memory"
    return intensity, peak_gflops, "compute"


def summarize_profile(rows, k: int = 5) -> list:
    """The ``k`` ops with the most time: ``[(op, total_s, calls, share), ...]``.

    >>> rows = [{"op": "add_forward", "total_s": 1.0, "calls": 2},
    ...         {"op": "matmul_forward", "total_s": 2.0, "calls": 1},
    ...         {"op": "add_forward", "total_s": 1.0, "calls": 3}]
    >>> summarize_profile(rows, k=1)
    [('add_forward', 2.0, 5, 0.5)]
    """
    per_op: dict = {}
    for row in rows:
        total, calls = per_op.get(row["op"], (0.0, 0))
        per_op[row["op"]] = (total + row["total_s"], calls + row["calls"])
    grand = sum(total for total, _ in per_op.values())
    ranked = sorted(per_op.items(), key=lambda item: (-item[1][0], item[0]))
    return [(op, total, calls, total / grand if grand else 0.0)
            for op, (total, calls) in ranked[:k]]


def time_split(step, n: int) -> dict:
    """Where ``n`` calls of ``step()`` spend their time: inside kernels or around them.

    >>> split = time_split(lambda: tt.ones(4, 4) @ tt.ones(4, 4), 3)
    >>> sorted(split), 0 <= split["kernel_share"] <= 1
    (['kernel_s', 'kernel_share', 'python_s', 'wall_s'], True)
    """
    step()  # warm-up: compilation or numba's cache, outside the profile
    with tt.profile() as prof:
        start = time.perf_counter()
        for _ in range(n):
            step()
        wall = time.perf_counter() - start
    kernel = sum(row["total_s"] for row in prof.rows())
    return {"wall_s": wall, "kernel_s": kernel, "python_s": wall - kernel,
            "kernel_share": kernel / wall if wall > 0 else 0.0}


def hot_lines(timings: dict, unit: float, k: int = 3) -> list:
    """The ``k`` slowest lines of a line profile.

    >>> timings = {("f.py", 1, "f"): [(2, 1, 100), (3, 10, 300)]}
    >>> hot_lines(timings, 1e-9, k=1)
    [('f', 3, 10, 3e-07, 75.0)]
    """
    lines = [(function, lineno, hits, t * unit)
             for (_, _, function), entries in timings.items()
             for lineno, hits, t in entries]
    total = sum(seconds for *_, seconds in lines)
    lines.sort(key=lambda line: (-line[3], line[0], line[1]))
    return [(function, lineno, hits, seconds, 100.0 * seconds / total if total else 0.0)
            for function, lineno, hits, seconds in lines[:k]]


def peak_alloc_bytes(fn) -> int:
    """Peak bytes allocated by ``fn()`` above the level when it started.

    >>> 8_000_000 <= peak_alloc_bytes(lambda: np.ones(1_000_000).sum()) < 8_100_000
    True
    """
    tracemalloc.start()
    try:
        start, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak - start
