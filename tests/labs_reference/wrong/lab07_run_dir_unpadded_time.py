# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab07_config.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the timestamp is built from the numbers without zero padding (2025-1-9 09:05 gives
# 202519-95...), so the names no longer sort by start time.


def run_dir_name(config: dict, when) -> str:
    allowed = set(string.ascii_letters + string.digits + "-_")
    name = "".join(c if c in allowed else "-" for c in str(config.get("name") or "run"))
    stamp = f"{when.year}{when.month}{when.day}-{when.hour}{when.minute}{when.second}"
    return f"{stamp}-{name}-{config_hash(config)[:8]}"
