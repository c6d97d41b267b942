"""The pytest plugin the grading child process loads: the ``student`` fixture, and a log of
each test's start and result, written line by line so that the parent still knows which
test was running if this process hangs or dies.

Options: ``--lab-file PATH`` (the student's file), ``--results PATH`` (JSON lines).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import traceback
from pathlib import Path

import pytest

MAX_FEEDBACK = 2000  # characters: a test that prints megabytes must not flood the report


def pytest_addoption(parser):
    group = parser.getgroup("tinytorch grading")
    group.addoption("--lab-file", required=True, help="the student's lab file")
    group.addoption("--results", required=True, help="JSON lines written as tests run")


def pytest_configure(config):
    config.addinivalue_line("markers", "points(n): the weight of a grader test")
    config._tt_results = open(config.getoption("--results"), "a", encoding="utf-8")  # noqa: SIM115


def pytest_sessionfinish(session, exitstatus):
    session.config._tt_exitstatus = int(exitstatus)


def pytest_unconfigure(config):
    stream = getattr(config, "_tt_results", None)
    if stream is not None:
        stream.close()
    # A thread of the student's that is not a daemon and never ends would keep this process
    # alive after the last test (Python joins such threads at exit), and the engine would
    # wait for it. Every result is logged by now: leave without joining it.
    stuck = [t for t in threading.enumerate()
             if t is not threading.main_thread() and t.is_alive() and not t.daemon]
    if stuck:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(getattr(config, "_tt_exitstatus", 0))


def _write(config, **record) -> None:
    stream = config._tt_results
    stream.write(json.dumps(record) + "\n")
    stream.flush()


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        marker = item.get_closest_marker("points")
        _write(config, event="collected", id=item.nodeid, name=item.name,
               doc=(item.obj.__doc__ or "").strip().splitlines()[0:1],
               points=float(marker.args[0]) if marker else 1.0)


def pytest_runtest_logstart(nodeid, location):
    _write(pytest_runtest_logstart.config, event="start", id=nodeid)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" or (report.when == "setup" and not report.passed):
        feedback = "" if report.passed else _feedback(call.excinfo, item.config)
        _write(item.config, event="result", id=item.nodeid, passed=report.passed,
               feedback=feedback[:MAX_FEEDBACK])


def _feedback(excinfo, config) -> str:
    """What a student should read: the assertion message, or the error and the line of
    their file where it happened."""
    if excinfo is None:
        return "failed"
    err = excinfo.value
    if isinstance(err, AssertionError) or type(err).__name__ in ("Failed", "Skipped"):
        text = str(getattr(err, "msg", None) or err) or "assertion failed"
        return text
    lab = str(Path(config.getoption("--lab-file")).resolve())
    where = ""
    for frame in reversed(traceback.extract_tb(err.__traceback__)):
        if str(Path(frame.filename).resolve()) == lab:
            where = f" (line {frame.lineno} of your file: {frame.line})"
            break
    return f"your code raised {type(err).__name__}: {err}{where}"


@pytest.fixture(scope="session")
def student(request):
    """The student's lab file, imported as a module (once per grading process)."""
    path = Path(request.config.getoption("--lab-file"))
    if not path.is_file():
        pytest.fail(f"no lab file at {path}", pytrace=False)
    spec = importlib.util.spec_from_file_location("student_lab", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["student_lab"] = module
    try:
        spec.loader.exec_module(module)
    except SyntaxError as err:
        pytest.fail(f"your lab file has a syntax error at line {err.lineno}: {err.msg}\n"
                    f"    {(err.text or '').rstrip()}", pytrace=False)
    except Exception as err:  # noqa: BLE001 (any error while importing is feedback)
        pytest.fail(f"importing your lab file failed: {type(err).__name__}: {err}\nhint: "
                    "code outside functions runs on import; keep experiments under "
                    "`if __name__ == \"__main__\":` or guard them", pytrace=False)
    return module


def pytest_sessionstart(session):
    pytest_runtest_logstart.config = session.config
