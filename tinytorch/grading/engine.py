"""Run a lab's grader against a student's file, safely, and score it.

The grader tests run in a child Python process (pytest with ``grading/plugin.py``), which
logs each test's start and result as JSON lines. The parent watches that log: a test that
runs past its time limit (an infinite loop) or a child that dies (a crash inside a compiled
kernel) fails *that* test with feedback, and a fresh child carries on with the tests that
have not run. The grader itself only fails when it cannot run at all.

>>> from tinytorch.grading.engine import grader_path
>>> grader_path("01").name
'test_lab01.py'
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tinytorch.manifest import module

GRADERS = Path(__file__).parent / "graders"


class GraderError(RuntimeError):
    """The grader could not run (not the student's fault): the CLI exits non-zero."""


@dataclass
class TestResult:
    name: str
    max_score: float
    score: float = 0.0
    output: str = ""


@dataclass
class GradeResult:
    lab: str
    file: str
    tests: list[TestResult] = field(default_factory=list)

    @property
    def score(self) -> float:
        return sum(t.score for t in self.tests)

    @property
    def max_score(self) -> float:
        return sum(t.max_score for t in self.tests)

    def gradescope(self) -> dict:
        """The Gradescope autograder ``results.json`` format."""
        return {"score": self.score, "max_score": self.max_score,
                "output": f"lab {self.lab}: {self.score:g} / {self.max_score:g}",
                "tests": [asdict(t) for t in self.tests]}

    def table(self) -> str:
        width = max([len(t.name) for t in self.tests] + [4])
        lines = [f"lab {self.lab} ({self.file})", f"{'test':{width}}  points  feedback"]
        for t in self.tests:
            mark = "ok" if t.score == t.max_score else "FAIL"
            first = t.output.splitlines()[0] if t.output else ""
            lines.append(f"{t.name:{width}}  {t.score:g}/{t.max_score:g} {mark:4} {first}")
            lines += [f"{'':{width}}             {more}" for more in t.output.splitlines()[1:]]
        lines.append(f"total: {self.score:g} / {self.max_score:g}")
        return "\n".join(lines)


def grader_path(lab: str) -> Path:
    """The grader test file of lab ``lab`` (a number or a module name)."""
    path = GRADERS / f"test_lab{module(lab).number}.py"
    if not path.is_file():
        raise GraderError(f"lab {module(lab).number} ({module(lab).name}) has no grader yet")
    return path


def _read(log: Path) -> list[dict]:
    if not log.exists():
        return []
    records = []
    for line in log.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written right now
            break
    return records


def grade(lab: str, file, *, time_limit: float = 60.0, max_restarts: int = 50,
          grader: Path | None = None) -> GradeResult:
    """Grade ``file`` with lab ``lab``'s grader (or the grader file ``grader``);
    ``time_limit`` seconds per test."""
    grader = Path(grader) if grader is not None else grader_path(lab)
    file = Path(file)
    result = GradeResult(module(lab).number, str(file))
    with tempfile.TemporaryDirectory(prefix="tinytorch-grade-") as tmp:
        tmp = Path(tmp)
        (tmp / "pytest.ini").write_text("[pytest]\n")  # no project config leaks in
        log = tmp / "results.jsonl"
        collected: dict[str, dict] = {}
        outcome: dict[str, tuple[bool, str]] = {}
        for _ in range(max_restarts):
            skip = list(outcome)
            status = _run_child(grader, file, log, tmp, skip, time_limit, collected, outcome)
            if status == "done":
                break
        else:
            raise GraderError(f"the grader restarted {max_restarts} times; giving up")
        if not collected:
            raise GraderError(f"the grader {grader.name} collected no tests")
        for test_id, info in collected.items():
            passed, feedback = outcome.get(test_id, (False, "did not run"))
            result.tests.append(TestResult(
                name=info["name"], max_score=info["points"],
                score=info["points"] if passed else 0.0, output=feedback))
    return result


def _run_child(grader, file, log, tmp, skip, time_limit, collected, outcome) -> str:
    """One child pytest run; returns "done" or "restart" (after a hang or a crash)."""
    start_line = len(_read(log))
    cmd = [sys.executable, "-m", "pytest", str(grader), "-q", "-p", "tinytorch.grading.plugin",
           "-p", "no:cacheprovider", "-c", str(tmp / "pytest.ini"), "--rootdir", str(tmp),
           "--lab-file", str(file.resolve()), "--results", str(log)]
    for test_id in skip:
        cmd += ["--deselect", test_id]
    env = dict(os.environ, PYTEST_DISABLE_PLUGIN_AUTOLOAD="1")
    with open(tmp / "child.out", "wb") as sink:
        child = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.STDOUT, env=env,
                                 cwd=tmp, stdin=subprocess.DEVNULL)
        running, since = None, time.monotonic()
        while True:
            code = child.poll()
            for record in _read(log)[start_line:]:
                start_line += 1
                if record["event"] == "collected":
                    collected.setdefault(record["id"], record)
                elif record["event"] == "start":
                    running, since = record["id"], time.monotonic()
                elif record["event"] == "result":
                    outcome[record["id"]] = (record["passed"], record["feedback"])
                    running = None
            if running is not None and time.monotonic() - since > time_limit:
                child.kill()
                child.wait()
                outcome[running] = (False, f"timed out after {time_limit:g} s: is there an "
                                           "infinite loop, or a loop far slower than needed?")
                return "restart"
            if code is not None:
                if running is not None and running not in outcome:
                    outcome[running] = (False, _crash_message(code))
                    return "restart"
                if code not in (0, 1, 5) and not collected:
                    tail = (tmp / "child.out").read_text(errors="replace")[-2000:]
                    raise GraderError(f"the grader could not start (exit {code}):\n{tail}")
                return "done"
            time.sleep(0.05)


def _crash_message(code: int) -> str:
    how = f"signal {-code}" if code < 0 else f"exit code {code}"
    return (f"the Python process died during this test ({how}): a crash, for example an "
            "out-of-bounds write in a compiled (numba) kernel, or a call to exit()")
