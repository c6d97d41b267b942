# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: numpy's legacy global state (np.random.seed) is seeded instead of tinytorch's own
# generator, which the initial weights are drawn from: two runs with one seed start from
# different weights.


def seed_everything(seed: int) -> dict:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed_everything(): the seed is an int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed_everything(): the seed must be >= 0, got {seed}")
    np.random.seed(seed)
    random.seed(seed)
    streams = {"shuffle": 1, "crop": 2, "flip": 3, "split": 4}
    return {"model": tt.random.generator(),
            **{name: np.random.default_rng([seed, k]) for name, k in streams.items()}}
