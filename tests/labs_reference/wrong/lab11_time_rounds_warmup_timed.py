def time_rounds(fn, *, warmup: int, rounds: int, number: int,
                clock=time.perf_counter) -> list:
    # bug: the clock starts before the warm-up, so round 1 carries the compilation
    times = []
    start = clock()
    for _ in range(warmup):
        fn()
    for _ in range(rounds):
        for _ in range(number):
            fn()
        end = clock()
        times.append((end - start) / number)
        start = end
    return times
