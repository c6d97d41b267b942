"""The student's side: where labs are copied to, and the best score of each, kept in a
small JSON file in the workspace (written atomically).

The workspace is ``--dir``, else ``$TINYTORCH_WORKSPACE``, else ``./tinytorch-labs``.

>>> import tempfile
>>> ws = tempfile.mkdtemp()
>>> start_lab("01", ws).name
'lab01_tensor.py'
>>> record_score(ws, "01", 3.0, 10.0); best_scores(ws)["01"]
{'best': 3.0, 'max': 10.0}
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tinytorch.io import atomic_write_text
from tinytorch.manifest import module

PROGRESS = ".tinytorch-progress.json"


def _labs_dir() -> Path:
    import tinytorch.labs  # noqa: PLC0415 (labs/ in the repository, shipped as tinytorch.labs)

    return Path(tinytorch.labs.__file__).parent


def workspace(path=None) -> Path:
    return Path(path or os.environ.get("TINYTORCH_WORKSPACE") or "tinytorch-labs")


def lab_source(lab: str) -> Path:
    """The pristine lab file shipped with tinytorch."""
    m = module(lab)
    path = _labs_dir() / f"lab{m.number}_{m.name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"lab {m.number} ({m.name}) is not written yet")
    return path


def student_file(lab: str, ws=None) -> Path:
    m = module(lab)
    return workspace(ws) / f"lab{m.number}_{m.name}.py"


def start_lab(lab: str, ws=None) -> Path:
    """Copy a fresh lab into the workspace; never overwrite a student's file."""
    src, dst = lab_source(lab), student_file(lab, ws)
    if dst.exists():
        raise FileExistsError(f"{dst} already exists: it is your work, so it is left alone\n"
                              f"hint: to start over, move it away first")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    return dst


def best_scores(ws=None) -> dict:
    path = workspace(ws) / PROGRESS
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def record_score(ws, lab: str, score: float, max_score: float) -> None:
    """Keep the best score of each lab."""
    data = best_scores(ws)
    number = module(lab).number
    old = data.get(number, {})
    if not old or score > old.get("best", -1):
        data[number] = {"best": score, "max": max_score}
        atomic_write_text(workspace(ws) / PROGRESS, json.dumps(data, indent=2))
