# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: each new key's loop is put outside the points built so far, so the FIRST key varies
# fastest: every point is there, but point i is another run than tinytorch's p<i>.


def grid_points(grid: dict) -> list:
    for key, values in grid.items():
        if not isinstance(values, (list, tuple)):
            raise TypeError(f"grid_points(): the values of {key!r} must be a list")
        if not values:
            raise ValueError(f"grid_points(): {key!r} has no values")
    points = [{}]
    for key, values in grid.items():
        points = [{**point, key: value} for value in values for point in points]
    return points
