# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab08_profiling.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: shares are of the k ops shown, not of the whole profile.


def summarize_profile(rows, k: int = 5) -> list:
    per_op: dict = {}
    for row in rows:
        total, calls = per_op.get(row["op"], (0.0, 0))
        per_op[row["op"]] = (total + row["total_s"], calls + row["calls"])
    ranked = sorted(per_op.items(), key=lambda item: (-item[1][0], item[0]))[:k]
    shown = sum(total for _, (total, _) in ranked)
    return [(op, total, calls, total / shown if shown else 0.0)
            for op, (total, calls) in ranked]
