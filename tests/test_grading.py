"""Grader self-tests for every lab: the reference scores full marks, the untouched lab
scores nothing (lab 00 keeps its environment points), and each realistic wrong
implementation loses exactly the tests that catch its bug, with feedback that says so.
The grader always grades the file it is given, never the reference.

The reference of a lab is built here from the lab itself plus its solved functions
(``labs_reference/solutions/``), inserted before the experiments; a wrong variant is the
reference plus one buggy function (``labs_reference/wrong/``) appended, which replaces the
correct one. So the references cannot drift from the labs students get."""

import json
from pathlib import Path

import pytest

from tinytorch.grading import engine
from tinytorch.grading.workspace import lab_source, start_lab

REFERENCE = Path(__file__).parent / "labs_reference"
SOLUTIONS = REFERENCE / "solutions"
WRONG = REFERENCE / "wrong"
MAIN = 'if __name__ == "__main__":'


def _lab_tables() -> dict:
    """One ``labNN.json`` per lab: its file name, the points an untouched copy keeps (lab
    00: a working environment), and each wrong variant: its bug and the tests it must fail
    (``{"bug": ..., "fails": [...]}``, or just the list)."""
    return {p.stem[3:]: json.loads(p.read_text()) for p in sorted(REFERENCE.glob("lab*.json"))}


TABLES = _lab_tables()
LABS = {lab: t["file"] for lab, t in TABLES.items()}
UNTOUCHED_POINTS = {lab: t["untouched_points"] for lab, t in TABLES.items()}
# wrong variant -> the tests it must fail (all others pass)
WRONG_VARIANTS = {variant: set(entry["fails"] if isinstance(entry, dict) else entry)
                  for t in TABLES.values() for variant, entry in t["wrong"].items()}


def reference_lab(lab: str, folder: Path) -> Path:
    """The lab with its TODO functions solved: solutions go before the experiments."""
    text = lab_source(lab).read_text()
    head, main, tail = text.rpartition("\n" + MAIN)
    assert main, f"lab {lab} has no `{MAIN}` block"
    path = folder / LABS[lab]
    path.write_text(head + "\n\n" + (SOLUTIONS / LABS[lab]).read_text() + main + tail)
    return path


@pytest.mark.parametrize("lab", sorted(LABS))
def test_reference_scores_full_marks(lab, tmp_path):
    result = engine.grade(lab, reference_lab(lab, tmp_path))
    failed = {t.name: t.output for t in result.tests if t.score < t.max_score}
    assert not failed, f"the reference loses points: {failed}"
    assert result.score == result.max_score > 0


@pytest.mark.parametrize("lab", sorted(LABS))
def test_untouched_lab_scores_nothing(lab):
    result = engine.grade(lab, lab_source(lab))
    assert result.score == UNTOUCHED_POINTS[lab]
    todo = [t for t in result.tests if t.score == 0]
    assert todo and all("not implemented yet" in t.output for t in todo)


def wrong_lab(variant: str, folder: Path) -> Path:
    """The reference lab with one function replaced by the buggy one in wrong/."""
    reference = reference_lab(variant[3:5], folder)
    reference.write_text(reference.read_text() + "\n\n" + (WRONG / f"{variant}.py").read_text())
    return reference


# Slow (a grading run of a few seconds per variant, about 75 of them): CI runs them after
# the default test run (`pytest -m slow`).
@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(WRONG_VARIANTS))
def test_each_wrong_implementation_loses_the_right_points(variant, tmp_path):
    lab = variant[3:5]
    result = engine.grade(lab, wrong_lab(variant, tmp_path))
    failed = {t.name for t in result.tests if t.score < t.max_score}
    assert failed == WRONG_VARIANTS[variant]
    for t in result.tests:
        if t.name in failed:
            assert t.output and "not implemented" not in t.output, (t.name, t.output)


def test_grading_the_workspace_copy_grades_the_students_file(tmp_path):
    """`lab start` copies the untouched lab; grading it scores the student's (empty) work,
    not the reference; a second `lab start` never overwrites it."""
    path = start_lab("01", tmp_path)
    path.write_text(path.read_text() + "\n# my notes\n")
    with pytest.raises(FileExistsError):
        start_lab("01", tmp_path)
    assert path.read_text().endswith("# my notes\n")
    assert engine.grade("01", path).score == 0


def test_every_lab_has_a_grader_and_solutions():
    for lab, name in LABS.items():
        assert engine.grader_path(lab).is_file()
        assert (SOLUTIONS / name).is_file() and lab_source(lab).name == name


@pytest.mark.slow
@pytest.mark.parametrize("solved", [False, True], ids=["untouched", "solved"])
@pytest.mark.parametrize("lab", sorted(LABS))
def test_labs_run_as_plain_python(lab, solved, tmp_path):
    """Untouched, a lab's experiments say which TODO is missing instead of crashing; solved,
    they run to the end."""
    import subprocess
    import sys

    path = reference_lab(lab, tmp_path) if solved else lab_source(lab)
    out = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert ("TODO: implement" in out.stdout) != solved


def test_student_workflow_through_the_cli(tmp_path):
    """lab start -> grade --json -> lab list shows the best score, kept in the workspace."""
    import json
    import subprocess
    import sys

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "tinytorch.cli", *args, "--dir",
                               str(tmp_path)], capture_output=True, text=True, timeout=300)

    out = cli("lab", "start", "01")
    assert out.returncode == 0 and "lab01_tensor.py" in out.stdout
    assert cli("lab", "start", "01").returncode == 2  # never overwrites
    wrong_lab("lab01_transpose_shape_only", tmp_path)  # the student's buggy work
    results = tmp_path / "results.json"
    out = cli("grade", "01", "--json", str(results))
    assert out.returncode == 0, out.stderr
    assert "total: 33 / 37" in out.stdout
    data = json.loads(results.read_text())
    assert data["score"] == 33 and data["max_score"] == 37
    listing = cli("lab", "list").stdout.splitlines()
    assert listing[1].split()[:3] == ["01", "tensor", "available"]
    assert "best 33/37" in listing[1]
    assert "not written yet" in listing[-1]  # module 12 has no lab yet
