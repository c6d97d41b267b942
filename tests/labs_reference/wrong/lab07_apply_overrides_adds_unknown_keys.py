# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the walk creates whatever is missing (setdefault), so a typo such as optim.lrr=0.1
# silently adds a new key and the run trains with the default rate; a table can be
# replaced by a value, and a path through a value crashes with AttributeError.


def apply_overrides(config: dict, overrides) -> dict:
    out = copy.deepcopy(config)
    for item in overrides:
        key, value = parse_override(item)
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out
