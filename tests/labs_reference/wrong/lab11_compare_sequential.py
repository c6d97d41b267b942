def compare(a_fn, b_fn, *, rounds: int, clock=time.perf_counter) -> float:
    # bug: all of A, then all of B: a machine that drifts in between skews the ratio
    a_fn()
    b_fn()
    a_times, b_times = [], []
    for _ in range(rounds):
        start = clock()
        a_fn()
        a_times.append(clock() - start)
    for _ in range(rounds):
        start = clock()
        b_fn()
        b_times.append(clock() - start)
    return statistics.median(a / b for a, b in zip(a_times, b_times, strict=True))
