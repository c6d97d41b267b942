"""Training (module 06): the loop, crash-safe checkpoints, the model zoo, and the glue from
a config to a run directory (``tinytorch train``).

- ``Trainer``: train and eval loops, metrics, progress bar, schedules, clipping, early
  stopping, the NaN/inf stop (``trainer.py``).
- ``save_checkpoint``/``load_checkpoint``/``CheckpointManager``: ``.npz`` + JSON, atomic,
  checksummed, bit-identical resume (``checkpoint.py``).
- ``models``: ``mlp``, ``cnn``, ``lenet`` (``models.py``).
- ``train(config)``, ``resume(run_dir)``, ``evaluate_run(run_dir)`` (``experiment.py``).

``docs/training.md`` describes the loop, the checkpoint format and the run directory.

>>> import tempfile
>>> from tinytorch.config import load_config
>>> from tinytorch import train as T
>>> cfg = load_config("digits_mlp", ["train.epochs=1", "data.train_subset=100"])
>>> out = T.train(cfg, runs_dir=tempfile.mkdtemp(), log=None, progress=False)
>>> out["epochs"], len(T.list_checkpoints(out["experiment"].run.checkpoints_dir))
(1, 1)
"""

from tinytorch.train import models
from tinytorch.train.checkpoint import (
    Checkpoint,
    CheckpointError,
    CheckpointManager,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from tinytorch.train.experiment import (
    DataMissing,
    Experiment,
    build,
    build_data,
    evaluate_run,
    resume,
    step_times,
    train,
)
from tinytorch.train.trainer import Trainer, TrainingDiverged

__all__ = ["Trainer", "TrainingDiverged", "Checkpoint", "CheckpointError",
           "CheckpointManager", "save_checkpoint", "load_checkpoint", "list_checkpoints",
           "models", "Experiment", "build", "build_data", "train", "resume", "evaluate_run",
           "step_times", "DataMissing"]
