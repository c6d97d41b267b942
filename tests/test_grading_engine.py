"""The grading engine on a toy grader: scores, feedback, and every way a student's file can
go wrong (syntax error, missing function, wrong signature, TODO left, infinite loop, crash,
megabytes of output) ends as a graded result, never a grader traceback."""

import json
import subprocess
import sys
import textwrap
import time

import pytest

from tinytorch.grading import engine

GRADER = '''
import numpy as np
from tinytorch.grading import call, expect_close, expect_equal, points

@points(2)
def test_double(student):
    expect_close(call(student, "double", np.arange(3.0)), [0.0, 2.0, 4.0], what="double",
                 hint="multiply each element by 2")

@points(1)
def test_name(student):
    expect_equal(call(student, "name"), "tiny", what="name()")

def test_loop(student):
    expect_equal(call(student, "loop", 3), 3, what="loop(3)")
'''

GOOD = '''
def double(x):
    return x * 2

def name():
    return "tiny"

def loop(n):
    return n
'''


@pytest.fixture
def toy(tmp_path):
    grader = tmp_path / "test_toy.py"
    grader.write_text(GRADER)

    def run(source, **kw):
        lab = tmp_path / "lab.py"
        lab.write_text(textwrap.dedent(source))
        return engine.grade("00", lab, grader=grader, **kw)
    return run


def scores(result):
    return {t.name: t.score for t in result.tests}


def feedback(result, name):
    return next(t.output for t in result.tests if t.name == name)


def test_a_correct_file_scores_full_marks(toy):
    result = toy(GOOD)
    assert result.score == result.max_score == 4
    assert scores(result) == {"test_double": 2, "test_name": 1, "test_loop": 1}


def test_a_wrong_value_loses_points_with_index_and_hint(toy):
    result = toy(GOOD.replace("x * 2", "x + 2"))
    assert scores(result)["test_double"] == 0 and result.score == 2
    text = feedback(result, "test_double")
    assert "wrong value at index (0,)" in text and "expected 0.0, got 2.0" in text
    assert "hint: multiply each element by 2" in text


def test_todo_missing_function_and_wrong_signature(toy):
    source = GOOD.replace("return x * 2", "raise NotImplementedError")
    source = source.replace("def name():\n    return \"tiny\"", "")
    source = source.replace("def loop(n):", "def loop():")
    result = toy(source)
    assert result.score == 0
    assert "not implemented yet" in feedback(result, "test_double")
    assert "no function `name`" in feedback(result, "test_name")
    assert "cannot be called the way the lab specifies" in feedback(result, "test_loop")


def test_an_error_inside_student_code_names_their_line(toy):
    result = toy(GOOD.replace("return n", "return [][n]"))
    text = feedback(result, "test_loop")
    assert "IndexError" in text and "of your file" in text


def test_a_syntax_error_fails_every_test_with_the_line(toy):
    result = toy(GOOD + "\ndef broken(:\n")
    assert result.score == 0
    assert all("syntax error at line" in t.output for t in result.tests)


def test_an_infinite_loop_fails_that_test_only(toy):
    result = toy(GOOD.replace("return n", "while True:\n        pass"), time_limit=3)
    assert scores(result) == {"test_double": 2, "test_name": 1, "test_loop": 0}
    assert "timed out after 3 s" in feedback(result, "test_loop")


def test_a_crash_of_the_process_fails_that_test_only(toy):
    crash = "import os\n    os.kill(os.getpid(), 11)"  # what a wild write in a kernel does
    result = toy(GOOD.replace("return \"tiny\"", crash))
    assert scores(result) == {"test_double": 2, "test_name": 0, "test_loop": 1}
    assert "the Python process died" in feedback(result, "test_name")
    assert "signal 11" in feedback(result, "test_name")


def test_megabytes_of_output_do_not_flood_the_report(toy):
    result = toy(GOOD.replace("return x * 2", "print('x' * 5_000_000)\n    return x + 1"))
    assert scores(result)["test_double"] == 0
    assert all(len(t.output) <= 2000 for t in result.tests)


def test_gradescope_json_and_exit_status(tmp_path):
    grader = tmp_path / "test_toy.py"
    grader.write_text(GRADER)
    lab = tmp_path / "lab.py"
    lab.write_text(GOOD.replace("x * 2", "x"))
    result = engine.grade("00", lab, grader=grader)
    data = result.gradescope()
    assert data["score"] == 2 and data["max_score"] == 4
    assert {"name", "score", "max_score", "output"} <= set(data["tests"][0])
    json.dumps(data)


def test_cli_grade_exits_zero_whatever_the_score_and_two_without_a_file(tmp_path):
    out = subprocess.run([sys.executable, "-m", "tinytorch.cli", "grade", "01", "--file",
                          str(tmp_path / "missing.py")], capture_output=True, text=True)
    assert out.returncode == 2 and "no lab file" in out.stderr
    out = subprocess.run([sys.executable, "-m", "tinytorch.cli", "grade", "99"],
                         capture_output=True, text=True)
    assert out.returncode == 2 and "no module '99'" in out.stderr


def test_a_students_never_ending_thread_does_not_hang_the_grader(tmp_path):
    """A non-daemon thread that never stops keeps a Python process from exiting; the plugin
    leaves once every result is logged, so grading still finishes."""
    grader = tmp_path / "test_lab00.py"
    grader.write_text(
        "import pytest\n\n@pytest.mark.points(1)\ndef test_starts_a_thread(student):\n"
        "    student.start_forever()\n")
    lab = tmp_path / "lab.py"
    lab.write_text("import threading, time\n\ndef start_forever():\n"
                   "    threading.Thread(target=lambda: time.sleep(3600)).start()\n")
    start = time.monotonic()
    result = engine.grade("00", lab, grader=grader, time_limit=30)
    assert result.score == 1 and time.monotonic() - start < 25
