"""Run directories (module 07): one folder per experiment, everything needed to trust and
repeat it.

::

    runs/<name>-<YYYYmmdd-HHMMSS>/
        config.toml        the validated config, overrides applied (re-runnable as is)
        environment.json   versions, backend, threads, platform, git commit (if any)
        metrics.jsonl      one JSON object per line: every epoch, the test result, stops
        checkpoints/       ckpt-e<epoch>-s<step>.npz + .json (tinytorch.train.checkpoint)

Lines of ``metrics.jsonl`` carry an ``"event"`` (``"epoch"``, ``"test"``, ``"diverged"``,
``"early_stop"``, ``"resume"``) and the ``"step"`` they belong to; a resumed run first drops
the lines newer than the checkpoint it resumes from, so the file tells one history.

>>> import tempfile
>>> from tinytorch.config import Config
>>> run = Run.create(Config(name="demo"), runs_dir=tempfile.mkdtemp())
>>> run.path.name.startswith("demo-"), run.config().name
(True, 'demo')
>>> run.log({"event": "epoch", "step": 10, "train_loss": 0.5})
>>> run.metrics()[0]["train_loss"]
0.5
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import subprocess
import sys
from pathlib import Path

from tinytorch.config import Config, load_config, to_toml
from tinytorch.io import atomic_write_text

__all__ = ["Run", "RunDirError", "environment", "git_commit"]


class RunDirError(ValueError):
    """A folder that is not a usable run directory (what is missing, and a hint)."""


def _clean(value):
    """JSON-safe copy: NaN/inf floats become the strings "nan"/"inf" (strict JSON has no
    such numbers, and a diverged loss is exactly the value worth recording)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def git_commit(path=None) -> dict | None:
    """``{"commit": sha, "dirty": bool}`` of the git checkout holding ``path`` (default:
    tinytorch's own source), or None when it is not in one or git is missing.

    >>> info = git_commit()
    >>> info is None or len(info["commit"]) == 40
    True
    """
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                             capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return None
        status = subprocess.run(["git", "-C", str(where), "status", "--porcelain",
                                 "--untracked-files=no"], capture_output=True, text=True,
                                timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": sha.stdout.strip(), "dirty": bool(status.stdout.strip())}


def environment(backend: str | None = None) -> dict:
    """What a run depends on besides its config: versions, the backend, thread settings,
    the machine and the git commit of tinytorch's source.

    >>> env = environment("jit")
    >>> env["backend"], sorted(env["versions"])[:3]
    ('jit', ['numba', 'numpy', 'python'])
    """
    import numba  # noqa: PLC0415 (only when a run starts)
    import numpy as np  # noqa: PLC0415

    import tinytorch  # noqa: PLC0415

    return {
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "backend": backend,
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "numba": numba.__version__, "tinytorch": tinytorch.__version__},
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "env": {k: os.environ[k] for k in ("TINYTORCH_BACKEND", "NUMBA_NUM_THREADS",
                                           "OMP_NUM_THREADS", "TINYTORCH_DATA")
                if k in os.environ},
        "argv": list(sys.argv),
        "git": git_commit(),
    }


class Run:
    """A run directory: ``Run.create(config)`` makes a new one, ``Run.open(path)`` opens
    an existing one (to resume or evaluate it).

    >>> import tempfile
    >>> from tinytorch.config import Config
    >>> run = Run.create(Config(name="a"), runs_dir=tempfile.mkdtemp())
    >>> Run.open(run.path).config() == run.config()
    True
    """

    def __init__(self, path):
        self.path = Path(path)

    # --- the files -----------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.toml"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def environment_path(self) -> Path:
        return self.path / "environment.json"

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    # --- making and opening --------------------------------------------------------------
    @classmethod
    def create(cls, config: Config, runs_dir=None, *, name: str | None = None,
               timestamp: bool = True) -> Run:
        """A fresh ``<runs_dir>/<name>-<timestamp>/`` (``-2``, ``-3`` ... when two runs
        start in the same second) holding the config snapshot and the environment.
        ``runs_dir`` defaults to ``config.runs_dir``, ``name`` to ``config.name``;
        ``timestamp=False`` leaves the stamp out (a sweep's points, inside the sweep's
        own stamped folder)."""
        if not isinstance(config, Config):
            raise TypeError(f"Run.create(): expected a Config, got {type(config).__name__}")
        parent = Path(config.runs_dir if runs_dir is None else runs_dir)
        parent.mkdir(parents=True, exist_ok=True)
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        base = f"{name or config.name}-{stamp}" if timestamp else (name or config.name)
        for attempt in range(1, 1000):
            path = parent / (base if attempt == 1 else f"{base}-{attempt}")
            try:
                path.mkdir()  # atomic: two processes never get the same folder
                break
            except FileExistsError:
                continue
        else:
            raise RuntimeError(f"could not find a free run folder name for {base!r} in "
                               f"{parent}")
        run = cls(path)
        run.checkpoints_dir.mkdir()
        atomic_write_text(run.config_path, to_toml(config))
        atomic_write_text(run.environment_path,
                          json.dumps(environment(config.backend), indent=2) + "\n")
        run.metrics_path.touch()
        return run

    @classmethod
    def open(cls, path) -> Run:
        """An existing run directory; RunDirError when ``path`` is not one."""
        path = Path(path)
        if not path.is_dir():
            raise RunDirError(f"no run directory at {path}\nhint: run folders are made by "
                              "`tinytorch train`, under ./runs/ by default")
        run = cls(path)
        if not run.config_path.is_file():
            raise RunDirError(f"{path} is not a run directory: it has no config.toml\n"
                              "hint: pass the folder `tinytorch train` printed, e.g. "
                              "runs/digits_cnn-20250101-120000")
        return run

    def config(self, overrides=()) -> Config:
        """The config snapshot, validated again (with ``overrides`` applied)."""
        return load_config(self.config_path, overrides)

    def save_config(self, config: Config) -> None:
        """Replace the snapshot (a resume with overrides records what it ran with)."""
        atomic_write_text(self.config_path, to_toml(config))

    def environment(self) -> dict:
        """The recorded ``environment.json``."""
        return json.loads(self.environment_path.read_text(encoding="utf-8"))

    def record_resume(self, backend: str, step: int) -> None:
        """Add this session's environment to ``environment.json`` under ``"resumes"``."""
        env = self.environment() if self.environment_path.is_file() else {}
        session = environment(backend)
        session["from_step"] = step
        env.setdefault("resumes", []).append(session)
        atomic_write_text(self.environment_path, json.dumps(env, indent=2) + "\n")

    # --- metrics.jsonl -------------------------------------------------------------------
    def log(self, record: dict) -> None:
        """Append one record as a JSON line (flushed: a crash loses at most this line)."""
        line = json.dumps(_clean(record), allow_nan=False)
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def metrics(self) -> list[dict]:
        """Every complete record of ``metrics.jsonl`` (a torn last line, from a crash in the
        middle of a write, is skipped)."""
        if not self.metrics_path.is_file():
            return []
        out = []
        for line in self.metrics_path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out

    def truncate_metrics(self, step: int) -> None:
        """Keep the records of steps ``<= step`` (a resume from that step drops the lines
        of the lost work that came after it)."""
        kept = [r for r in self.metrics() if r.get("step", 0) <= step]
        atomic_write_text(self.metrics_path,
                          "".join(json.dumps(r, allow_nan=False) + "\n" for r in kept))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"
