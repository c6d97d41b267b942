# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab08_profiling.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: no warm-up: the first call (compilation on jit) lands inside the profile.


def time_split(step, n: int) -> dict:
    with tt.profile() as prof:
        start = time.perf_counter()
        for _ in range(n):
            step()
        wall = time.perf_counter() - start
    kernel = sum(row["total_s"] for row in prof.rows())
    return {"wall_s": wall, "kernel_s": kernel, "python_s": wall - kernel,
            "kernel_share": kernel / wall if wall > 0 else 0.0}
