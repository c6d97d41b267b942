# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: only the top-level keys are sorted; the tables inside keep their insertion order,
# so the same config read from two files with their keys in another order gets two hashes.


def config_hash(config: dict) -> str:
    text = json.dumps(dict(sorted(config.items())), separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
