# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: floats are rounded to 6 significant digits "to hide float noise": 1e-7 and 2e-7 stay
# apart, but 1.0000001 and 1.0000002, or 1/3 and 0.333333, become one value and one hash.


def _rounded(value):
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def config_hash(config: dict) -> str:
    text = json.dumps(_rounded(config), sort_keys=True, separators=(",", ":"),
                      allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]
