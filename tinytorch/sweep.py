"""Grid sweeps (module 07): run every combination of some config values, one run directory
each, and write a summary table (``summary.csv``, and printed).

The grid comes from the config's ``[sweep]`` table (``"optim.lr" = [1e-3, 3e-3]``, or the
nested spelling ``[sweep.optim] lr = [...]``) and from ``--grid key=v1,v2`` on the command
line (which replaces a key of the same name). Every point is validated before the first
one trains, so a typo in the last value fails in a second, not after an hour. Points run
one after another in this process (the compiled kernels are shared); a point whose loss
diverges is recorded with status ``diverged`` and the sweep goes on.

::

    runs/<name>-sweep-<YYYYmmdd-HHMMSS>/
        summary.csv     one row per point: the swept values, status, metrics, seconds
        p00/ p01/ ...   each point's run directory (config.toml, metrics.jsonl, ...)

>>> import tempfile
>>> from tinytorch.config import load_config
>>> cfg = load_config("digits_mlp", ["train.epochs=1", "data.train_subset=120",
...                                  "data.test_subset=60", "checkpoint.every_epochs=0"])
>>> out = run_sweep(cfg, {"optim.lr": [0.01, 0.001]}, runs_dir=tempfile.mkdtemp(),
...                 log=None)
>>> [(row["optim.lr"], row["status"]) for row in out["rows"]]
[(0.01, 'completed'), (0.001, 'completed')]
>>> out["csv"].name
'summary.csv'
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import time
from pathlib import Path

from tinytorch.config import Config, ConfigError, _set_path, parse_config, sweep_points, to_dict
from tinytorch.io import atomic_write_text

__all__ = ["run_sweep", "point_configs", "format_table", "COLUMNS"]

# The result columns of summary.csv, after the point number and the swept keys.
COLUMNS = ("status", "epochs", "best_epoch", "train_loss", "val_loss", "val_accuracy",
           "test_loss", "test_accuracy", "seconds", "run_dir")


def point_configs(cfg: Config, grid: dict | None = None) -> tuple[list[str], list[Config]]:
    """The swept keys and one validated Config per grid point (``cfg.sweep`` updated by
    ``grid``); every point is checked before any runs, and all problems are reported
    together, each prefixed by its point.

    >>> keys, cfgs = point_configs(Config(), {"train.epochs": [1, 2]})
    >>> keys, [c.train.epochs for c in cfgs], cfgs[0].sweep
    (['train.epochs'], [1, 2], {})
    """
    table = dict(cfg.sweep)
    table.update(grid or {})
    if not table:
        raise ConfigError(["sweep: nothing to sweep\n  hint: add a [sweep] table to the "
                           "config (\"optim.lr\" = [1e-3, 3e-3]) or pass --grid "
                           "optim.lr=1e-3,3e-3"])
    checked = parse_config({**to_dict(cfg), "sweep": table})  # types of the grid values
    keys = list(checked.sweep)
    base = to_dict(cfg)
    base["sweep"] = {}
    configs, problems = [], []
    for i, point in enumerate(sweep_points(checked)):
        data = to_dict(parse_config(base))  # a fresh deep copy
        for key, value in point.items():
            _set_path(data, key, value)
        try:
            configs.append(parse_config(data))
        except ConfigError as err:
            shown = ", ".join(f"{k}={v!r}" for k, v in point.items())
            problems += [f"point {i} ({shown}): {p}" for p in err.problems]
    if problems:
        raise ConfigError(problems, "sweep")
    return keys, configs


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def format_table(rows: list[dict], keys: list[str]) -> str:
    """The summary as aligned text columns (what ``tinytorch sweep`` prints).

    >>> print(format_table([{"point": 0, "optim.lr": 0.1, "status": "completed",
    ...                      "test_accuracy": 0.96}], ["optim.lr"]))
    point  optim.lr  status     test_accuracy
    0      0.1       completed  0.96
    """
    columns = ["point", *keys] + [c for c in COLUMNS if c != "run_dir" and
                                  any(row.get(c) is not None for row in rows)]
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
              for r in cells]
    return "\n".join(lines)


def _write_csv(path: Path, rows: list[dict], keys: list[str]) -> None:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["point", *keys, *COLUMNS], lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (",".join(map(str, v)) if isinstance(v, list) else v)
                         for k, v in row.items()})
    atomic_write_text(path, out.getvalue())  # rewritten after each point: never torn


def run_sweep(cfg: Config, grid: dict | None = None, *, runs_dir=None, progress=False,
              log=print, point_log=None) -> dict:
    """Train every point of the grid; returns ``{"dir", "csv", "keys", "rows"}``. ``log``
    gets one line per finished point (and the table at the end is the caller's to print,
    ``format_table``); ``point_log`` gets each point's per-epoch lines (default: none)."""
    from tinytorch.train.experiment import train  # noqa: PLC0415 (heavy; only when run)
    from tinytorch.train.trainer import TrainingDiverged  # noqa: PLC0415

    keys, configs = point_configs(cfg, grid)
    parent = Path(cfg.runs_dir if runs_dir is None else runs_dir)
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 1000):
        folder = parent / (f"{cfg.name}-sweep-{stamp}" + ("" if attempt == 1
                                                           else f"-{attempt}"))
        try:
            folder.mkdir()
            break
        except FileExistsError:
            continue
    csv_path = folder / "summary.csv"
    rows: list[dict] = []
    for i, point_cfg in enumerate(configs):
        row = {"point": i, **{k: _get(point_cfg, k) for k in keys}}
        start = time.perf_counter()
        try:
            out = train(point_cfg, runs_dir=folder, run_name=f"p{i:02d}", progress=progress,
                        log=point_log)
        except TrainingDiverged as err:
            row.update(status="diverged", epochs=err.epoch - 1,
                       run_dir=str(folder / f"p{i:02d}"))
        else:
            history = out["history"]
            last = history[-1] if history else {}
            row.update(status=out["status"], epochs=out["epochs"],
                       best_epoch=out.get("best_epoch"), train_loss=last.get("train_loss"),
                       val_loss=last.get("val_loss"), val_accuracy=last.get("val_accuracy"),
                       test_loss=out["test_loss"], test_accuracy=out["test_accuracy"],
                       run_dir=out["run_dir"])
        row["seconds"] = round(time.perf_counter() - start, 3)
        rows.append(row)
        _write_csv(csv_path, rows, keys)
        if log is not None:
            shown = ", ".join(f"{k}={_cell(row[k])}" for k in keys)
            acc = row.get("test_accuracy")
            log(f"point {i + 1}/{len(configs)} ({shown}): {row['status']}"
                + (f", test accuracy {acc:.4f}" if acc is not None else "")
                + f" in {row['seconds']:.1f}s")
    return {"dir": folder, "csv": csv_path, "keys": keys, "rows": rows}


def _get(cfg: Config, path: str):
    node = cfg
    for part in path.split("."):
        node = getattr(node, part)
    return node
