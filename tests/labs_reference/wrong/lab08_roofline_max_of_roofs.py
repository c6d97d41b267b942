# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab08_profiling.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the attainable rate is the higher roof, not the lower one.


def roofline(flops: float, nbytes: float, peak_gflops: float, peak_gbs: float):
    intensity = flops / nbytes if nbytes else math.inf
    memory_roof = intensity * peak_gbs
    bound = "memory" if memory_roof < peak_gflops else "compute"
    return intensity, max(memory_roof, peak_gflops), bound
