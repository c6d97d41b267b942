# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: dict(config) copies the top level only: setting optim.lr writes into the caller's
# own optim table (and the result shares every inner table and list with the input).


def apply_overrides(config: dict, overrides) -> dict:
    out = dict(config)
    for item in overrides:
        key, value = parse_override(item)
        parts = key.split(".")
        node = out
        for depth, part in enumerate(parts):
            where = ".".join(parts[:depth])
            if part not in node:
                close = difflib.get_close_matches(part, list(node), n=1)
                if close:
                    guess = f"{where}.{close[0]}" if where else close[0]
                    raise ValueError(f"unknown key {key!r}; did you mean {guess!r}?")
                raise ValueError(f"unknown key {key!r}; {where or 'the config'} has: "
                                 f"{', '.join(sorted(node))}")
            if depth == len(parts) - 1:
                if isinstance(node[part], dict):
                    raise ValueError(f"override {key!r} would replace the table {key!r}")
                node[part] = value
            else:
                if not isinstance(node[part], dict):
                    raise ValueError(f"override {key!r}: {'.'.join(parts[:depth + 1])!r} "
                                     "is a value, not a table")
                node = node[part]
    return out
