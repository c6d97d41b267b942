"""The training loop (module 06): ``Trainer.fit`` runs epochs of steps, evaluates, steps the
schedule, clips gradients, stops early, stops on a NaN/inf loss, and checkpoints.

One step is the loop every framework runs::

    logits = model(x); loss = loss_fn(logits, y)       # forward
    if loss is nan or inf: stop (TrainingDiverged)     # before it reaches the weights
    optimizer.zero_grad(); loss.backward()             # gradients
    clip_grad_norm_(params, max_norm)                  # optional
    optimizer.step(); scheduler.step() per step        # update

and one epoch is a pass over ``train_loader`` followed by an evaluation on ``val_loader``,
the epoch's scheduler step, the monitor check (early stopping, best checkpoint) and, every
``checkpoint_every`` epochs, a checkpoint. The Python around a step is kept to a few
microseconds (one ``loss.item()``, an argmax on the logits' numpy array for the accuracy, a
counter, a progress-bar tick), because a jit step of a small model is a few hundred.

What makes a resumed run bit-identical to one that never stopped: the checkpoint, taken at
the end of an epoch, holds the model, the optimiser state, the scheduler, the trainer's own
counters (step, best value, epochs without improvement) and the exact states of every
random generator involved (tinytorch's global one, the loader's shuffling one, the random
transforms'); ``resume`` puts every one of them back, and the next epoch draws the same
numbers and adds the same floats in the same order.

>>> import numpy as np, tinytorch as tt
>>> from tinytorch import nn
>>> _ = tt.manual_seed(0)
>>> x = tt.randn(64, 4); y = tt.tensor((x.numpy()[:, 0] > 0).astype(np.int64))
>>> batches = [(x[i:i + 16], y[i:i + 16]) for i in range(0, 64, 16)]
>>> model = nn.Sequential(nn.Linear(4, 2))
>>> trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.5), batches,
...                   val_loader=batches, progress=False, log=None)
>>> result = trainer.fit(epochs=5)
>>> result["status"], trainer.epoch, trainer.step, result["history"][-1]["val_accuracy"] > 0.8
('completed', 5, 20, True)
"""

from __future__ import annotations

import math
import sys
import time

import numpy as np

import tinytorch as tt
from tinytorch.nn import functional as F
from tinytorch.nn.utils import clip_grad_norm_
from tinytorch.tensor import Tensor
from tinytorch.train.checkpoint import Checkpoint, CheckpointManager, load_checkpoint

__all__ = ["Trainer", "TrainingDiverged", "MONITORS"]

# What each monitored metric's "better" means.
MONITORS = {"val_loss": "min", "val_accuracy": "max", "train_loss": "min",
            "train_accuracy": "max"}


class TrainingDiverged(RuntimeError):
    """The loss (or the gradient norm) became NaN or infinite; training stopped before the
    bad values reached the weights of any checkpoint. ``last_checkpoint`` is the newest good
    one (or None), ``epoch`` and ``step`` where it happened."""

    def __init__(self, message: str, *, epoch: int, step: int, value: float,
                 last_checkpoint=None):
        super().__init__(message)
        self.epoch, self.step, self.value = epoch, step, value
        self.last_checkpoint = last_checkpoint


def _as_tensor(x, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)  # no copy: the loader's array is this batch's own
    raise TypeError(f"Trainer: a batch must be (inputs, targets) tensors or arrays; the "
                    f"{what} are a {type(x).__name__}")


class Trainer:
    """Train ``model`` with ``optimizer`` on the batches of ``train_loader`` (any iterable
    of ``(inputs, targets)`` that can be iterated again each epoch; a ``DataLoader``).

    - ``val_loader``: evaluated after every epoch (``val_loss``, ``val_accuracy``).
    - ``loss_fn(logits, targets)``: default ``F.cross_entropy``.
    - ``scheduler`` and ``scheduler_interval`` (``"epoch"`` or ``"step"``).
    - ``clip_grad_norm``: clip the gradients' total 2-norm (0: off).
    - ``monitor`` (``val_loss``, ``val_accuracy``, ``train_loss``, ``train_accuracy``),
      ``early_stopping_patience`` (epochs without an improvement larger than ``min_delta``
      before stopping; 0: never) and the best checkpoint watch it.
    - ``checkpoints``: a ``CheckpointManager``; ``checkpoint_every`` epochs (0: never).
    - ``run``: a ``tinytorch.runs.Run`` whose ``metrics.jsonl`` gets one line per epoch.
    - ``generators``: name -> ``numpy.random.Generator`` saved in checkpoints besides
      tinytorch's global one (the loader's, the random transforms').
    - ``progress``: a tqdm bar per epoch (None: only when stderr is a terminal);
      ``log``: called with one line per epoch (default ``print``; None: silent);
      ``callbacks``: called as ``cb(trainer, record)`` after each epoch's record.
    """

    def __init__(self, model, optimizer, train_loader, *, val_loader=None, loss_fn=None,
                 scheduler=None, scheduler_interval: str = "epoch",
                 clip_grad_norm: float = 0.0, early_stopping_patience: int = 0,
                 min_delta: float = 0.0, monitor: str | None = None,
                 checkpoints: CheckpointManager | None = None, checkpoint_every: int = 1,
                 run=None, config: dict | None = None, generators: dict | None = None,
                 progress: bool | None = None, log=print, callbacks=()):
        if not isinstance(model, tt.nn.Module):
            raise TypeError(f"Trainer(): model must be an nn.Module, got "
                            f"{type(model).__name__}")
        if not isinstance(optimizer, tt.optim.Optimizer):
            raise TypeError(f"Trainer(): optimizer must be a tt.optim optimizer, got "
                            f"{type(optimizer).__name__}")
        if scheduler_interval not in ("epoch", "step"):
            raise ValueError(f"Trainer(): scheduler_interval must be 'epoch' or 'step', got "
                             f"{scheduler_interval!r}")
        if monitor is None:
            monitor = "val_accuracy" if val_loader is not None else "train_loss"
        if monitor not in MONITORS:
            raise ValueError(f"Trainer(): unknown monitor {monitor!r}; choose one of "
                             f"{', '.join(MONITORS)}")
        if monitor.startswith("val_") and val_loader is None:
            raise ValueError(f"Trainer(): monitor={monitor!r} needs a val_loader\nhint: pass "
                             "val_loader=..., or monitor='train_loss'")
        for name, value in (("clip_grad_norm", clip_grad_norm), ("min_delta", min_delta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"Trainer(): {name} must be a number, got "
                                f"{type(value).__name__} {value!r}")
            if not value >= 0 or not math.isfinite(value):
                raise ValueError(f"Trainer(): {name} must be a finite number >= 0, got "
                                 f"{value!r}")
        for name, value in (("early_stopping_patience", early_stopping_patience),
                            ("checkpoint_every", checkpoint_every)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"Trainer(): {name} must be an int, got "
                                f"{type(value).__name__} {value!r}")
            if value < 0:
                raise ValueError(f"Trainer(): {name} must be >= 0, got {value}")
        for name, gen in (generators or {}).items():
            if not isinstance(gen, np.random.Generator):
                raise TypeError(f"Trainer(): generators[{name!r}] must be a "
                                f"numpy.random.Generator, got {type(gen).__name__}")
        self.model, self.optimizer = model, optimizer
        self.train_loader, self.val_loader = train_loader, val_loader
        self.loss_fn = F.cross_entropy if loss_fn is None else loss_fn
        self.scheduler, self.scheduler_interval = scheduler, scheduler_interval
        self.clip_grad_norm = float(clip_grad_norm)
        self.patience, self.min_delta = early_stopping_patience, float(min_delta)
        self.monitor, self.mode = monitor, MONITORS[monitor]
        self.checkpoints, self.checkpoint_every = checkpoints, checkpoint_every
        self.run, self.config = run, config
        self.generators = dict(generators or {})
        self.progress = sys.stderr.isatty() if progress is None else bool(progress)
        self.log = log
        self.callbacks = list(callbacks)
        # the loop's own state, saved in checkpoints
        self.epoch = 0  # epochs completed
        self.step = 0  # optimiser steps taken
        self.best_value: float | None = None
        self.best_epoch = 0
        self.bad_epochs = 0
        self.history: list[dict] = []
        self.last_checkpoint = None

    # --- one epoch ---------------------------------------------------------------------
    def _diverged(self, what: str, value: float, batch: int | None) -> TrainingDiverged:
        """The error (and the metrics line) for a NaN/inf ``what``: in ``batch`` of the
        current epoch (before the update), or, with ``batch`` None, in the weights at the
        end of the epoch just completed (before its checkpoint)."""
        last = self.checkpoints.latest() if self.checkpoints is not None else None
        lrs = ", ".join(f"{g['lr']:.3g}" for g in self.optimizer.param_groups)
        if batch is None:
            epoch = self.epoch
            where = (f"at the end of epoch {epoch} (step {self.step}); that state was not "
                     "saved")
        else:
            epoch = self.epoch + 1
            where = (f"at epoch {epoch}, batch {batch + 1} (step {self.step + 1}); the "
                     "weights were not updated with it")
        kept = (f"the last good checkpoint is kept: {last}\nresume from it with a smaller "
                "rate: tinytorch train --resume RUN_DIR optim.lr=...") if last else \
            "no checkpoint was saved before it"
        message = (f"training stopped: the {what} became {value} {where}\n{kept}\nhint: "
                   f"lower the learning rate (now {lrs}), set train.clip_grad_norm, or "
                   "check the inputs for NaN/inf")
        if self.run is not None:
            self.run.log({"event": "diverged", "epoch": epoch, "step": self.step,
                          "what": what, "value": value,
                          "last_checkpoint": str(last) if last else None})
        return TrainingDiverged(message, epoch=epoch, step=self.step, value=value,
                                last_checkpoint=last)

    def train_epoch(self) -> dict:
        """One pass over ``train_loader``: ``train_loss`` (mean over samples),
        ``train_accuracy``, ``steps``, ``train_seconds``. Raises TrainingDiverged on a
        non-finite loss or gradient norm, before the optimiser step."""
        model, opt, loss_fn = self.model, self.optimizer, self.loss_fn
        per_step = self.scheduler if self.scheduler_interval == "step" else None
        clip = self.clip_grad_norm
        params = [p for group in opt.param_groups for p in group["params"]] if clip else ()
        total_loss, correct, seen, steps = 0.0, 0, 0, 0
        count = np.count_nonzero
        bar = None
        if self.progress:
            from tqdm.auto import tqdm  # noqa: PLC0415 (only with a terminal)

            try:
                total = len(self.train_loader)
            except TypeError:
                total = None
            bar = tqdm(total=total, desc=f"epoch {self.epoch + 1}", leave=False,
                       file=sys.stderr, dynamic_ncols=True, unit="batch")
        model.train()
        start = time.perf_counter()
        try:
            for batch_index, (inputs, targets) in enumerate(self.train_loader):
                # an identity check first: this runs every step
                x = inputs if type(inputs) is Tensor else _as_tensor(inputs, "inputs")
                y = targets if type(targets) is Tensor else _as_tensor(targets, "targets")
                logits = model(x)
                loss = loss_fn(logits, y)
                value = loss.item()
                if not math.isfinite(value):
                    raise self._diverged("loss", value, batch_index)
                opt.zero_grad()
                loss.backward()
                if clip:
                    norm = clip_grad_norm_(params, clip).item()
                    if not math.isfinite(norm):
                        raise self._diverged("gradient norm", norm, batch_index)
                opt.step()
                if per_step is not None:
                    per_step.step()
                self.step += 1
                steps += 1
                n = y.shape[0] if y.ndim else 1
                total_loss += value * n
                seen += n
                if y.ndim == 1 and logits.ndim == 2:  # class labels: count the hits
                    correct += count(logits.numpy().argmax(1) == y.numpy())
                if bar is not None:
                    bar.update(1)
                    if steps % 20 == 0:
                        bar.set_postfix(loss=f"{total_loss / seen:.4f}", refresh=False)
        finally:
            if bar is not None:
                bar.close()
        seconds = time.perf_counter() - start
        if steps == 0:
            raise ValueError("Trainer: the train loader gave no batches\nhint: is the data "
                             "set empty, or drop_last=True with fewer samples than "
                             "batch_size?")
        return {"train_loss": total_loss / seen, "train_accuracy": int(correct) / seen,
                "steps": steps, "train_seconds": seconds}

    def evaluate(self, loader=None) -> dict:
        """Mean loss and accuracy of the model on ``loader`` (default ``val_loader``), with
        gradients off and the model in eval mode: ``{"loss", "accuracy", "samples"}``.

        >>> import tinytorch as tt
        >>> from tinytorch import nn
        >>> model = nn.Linear(2, 2)
        >>> t = Trainer(model, tt.optim.SGD(model.parameters()), [], log=None)
        >>> t.evaluate([(tt.zeros(3, 2), tt.tensor([0, 0, 0]))])["samples"]
        3
        """
        loader = self.val_loader if loader is None else loader
        if loader is None:
            raise ValueError("Trainer.evaluate(): no loader given and no val_loader set")
        model = self.model
        was_training = model.training
        model.eval()
        total, correct, seen = 0.0, 0, 0
        try:
            with tt.no_grad():
                for inputs, targets in loader:
                    x, y = _as_tensor(inputs, "inputs"), _as_tensor(targets, "targets")
                    logits = model(x)
                    n = y.shape[0] if y.ndim else 1
                    total += self.loss_fn(logits, y).item() * n
                    seen += n
                    if y.ndim == 1 and logits.ndim == 2:
                        correct += int((logits.numpy().argmax(1) == y.numpy()).sum())
        finally:
            model.train(was_training)
        if seen == 0:
            raise ValueError("Trainer.evaluate(): the loader gave no samples")
        return {"loss": total / seen, "accuracy": correct / seen, "samples": seen}

    # --- checkpoints -------------------------------------------------------------------
    def _all_generators(self) -> dict:
        # fetched now, not at construction: tt.manual_seed replaces the global generator
        return {"tinytorch": tt.random.generator(), **self.generators}

    def state_dict(self) -> dict:
        """The loop's own counters (what a checkpoint's ``trainer`` entry holds).

        >>> import tinytorch as tt
        >>> m = tt.nn.Linear(2, 2)
        >>> sorted(Trainer(m, tt.optim.SGD(m.parameters()), [], log=None).state_dict())
        ['bad_epochs', 'best_epoch', 'best_value', 'monitor']
        """
        return {"best_value": self.best_value, "best_epoch": self.best_epoch,
                "bad_epochs": self.bad_epochs, "monitor": self.monitor}

    def save_checkpoint(self, metrics: dict | None = None):
        """Save a checkpoint of everything now (needs ``checkpoints``); returns its path.
        ``resume`` on another trainer built the same way continues from it.

        >>> import tempfile, tinytorch as tt
        >>> from tinytorch import nn
        >>> from tinytorch.train import CheckpointManager
        >>> def make():
        ...     _ = tt.manual_seed(0); m = nn.Linear(2, 2)
        ...     return Trainer(m, tt.optim.Adam(m.parameters()), [], log=None,
        ...                    checkpoints=CheckpointManager(folder))
        >>> folder = tempfile.mkdtemp()
        >>> a = make(); a.step = 7; path = a.save_checkpoint()
        >>> b = make(); b.resume(path).step, b.step
        (7, 7)
        """
        if self.checkpoints is None:
            raise ValueError("Trainer.save_checkpoint(): no CheckpointManager was given")
        metrics = metrics or {}
        value = metrics.get(self.monitor)
        for p in self.model.parameters():  # never keep a state that already went bad
            if not np.isfinite(p.numpy()).all():
                raise self._diverged("weights", float("nan"), None)
        self.last_checkpoint = self.checkpoints.save(
            model=self.model, optimizer=self.optimizer, scheduler=self.scheduler,
            epoch=self.epoch, step=self.step, config=self.config,
            generators=self._all_generators(), metrics=metrics,
            monitor={"name": self.monitor, "value": value, "mode": self.mode},
            trainer=self.state_dict())
        return self.last_checkpoint

    def resume(self, checkpoint) -> Checkpoint:
        """Restore everything from a checkpoint (a ``Checkpoint``, or a path for
        ``load_checkpoint``): the next ``fit`` continues where that run stood."""
        ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else \
            load_checkpoint(checkpoint)
        ckpt.restore(self.model, self.optimizer, self.scheduler, self._all_generators())
        state = ckpt.trainer
        self.epoch, self.step = ckpt.epoch, ckpt.step
        self.best_value = state.get("best_value")
        self.best_epoch = state.get("best_epoch", 0)
        self.bad_epochs = state.get("bad_epochs", 0)
        self.last_checkpoint = ckpt.path
        return ckpt

    # --- the loop ----------------------------------------------------------------------
    def _improved(self, value: float) -> bool:
        if self.best_value is None:
            return True
        if self.mode == "max":
            return value > self.best_value + self.min_delta
        return value < self.best_value - self.min_delta

    def _line(self, record: dict, epochs: int) -> str:
        text = (f"epoch {record['epoch']:3d}/{epochs}  train loss {record['train_loss']:.4f} "
                f"acc {record['train_accuracy'] * 100:6.2f}%")
        if "val_loss" in record:
            text += (f"  val loss {record['val_loss']:.4f} acc "
                     f"{record['val_accuracy'] * 100:6.2f}%")
        return text + (f"  lr {record['lr']:.2e}  {record['seconds']:5.1f}s "
                       f"({record['step_ms']:.2f} ms/step)")

    def fit(self, epochs: int) -> dict:
        """Train until ``epochs`` epochs are complete in all (a resumed trainer continues
        from its ``epoch``), or early stopping. Returns ``{"status": "completed" |
        "early_stopping", "epochs", "step", "best_value", "best_epoch", "history"}``;
        raises TrainingDiverged on a NaN/inf loss."""
        if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
            raise ValueError(f"Trainer.fit(): epochs must be an int >= 1, got {epochs!r}")
        status = "completed"
        while self.epoch < epochs:
            start = time.perf_counter()
            record = {"event": "epoch", "epoch": self.epoch + 1}
            record.update(self.train_epoch())
            if self.val_loader is not None:
                val = self.evaluate()
                record["val_loss"], record["val_accuracy"] = val["loss"], val["accuracy"]
            record["lr"] = self.optimizer.param_groups[0]["lr"]
            if self.scheduler is not None and self.scheduler_interval == "epoch":
                self.scheduler.step()
            self.epoch += 1
            record["step"] = self.step
            record["seconds"] = time.perf_counter() - start
            record["step_ms"] = record["train_seconds"] / record["steps"] * 1e3
            value = record[self.monitor]
            if self._improved(value):
                self.best_value, self.best_epoch, self.bad_epochs = value, self.epoch, 0
            else:
                self.bad_epochs += 1
            stop = bool(self.patience) and self.bad_epochs >= self.patience
            last = stop or self.epoch >= epochs
            if self.checkpoints is not None and self.checkpoint_every and \
                    (self.epoch % self.checkpoint_every == 0 or last):
                record["checkpoint"] = self.save_checkpoint(
                    {k: v for k, v in record.items() if isinstance(v, (int, float))}).name
            self.history.append(record)
            if self.run is not None:
                self.run.log(record)
            if self.log is not None:
                self.log(self._line(record, epochs))
            for callback in self.callbacks:
                callback(self, record)
            if stop:
                status = "early_stopping"
                message = (f"early stopping: {self.monitor} has not improved by more than "
                           f"{self.min_delta:g} for {self.bad_epochs} epochs (best "
                           f"{self.best_value:.4f} at epoch {self.best_epoch})")
                if self.run is not None:
                    self.run.log({"event": "early_stop", "epoch": self.epoch,
                                  "step": self.step, "best_value": self.best_value,
                                  "best_epoch": self.best_epoch})
                if self.log is not None:
                    self.log(message)
                break
        return {"status": status, "epochs": self.epoch, "step": self.step,
                "best_value": self.best_value, "best_epoch": self.best_epoch,
                "history": self.history}
