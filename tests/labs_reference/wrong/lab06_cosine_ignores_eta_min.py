# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab06_training.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the schedule forgets eta_min and anneals to 0.


def cosine_lr(step: int, base_lr: float, t_max: int, eta_min: float = 0.0) -> float:
    return base_lr * (1 + math.cos(math.pi * step / t_max)) / 2
