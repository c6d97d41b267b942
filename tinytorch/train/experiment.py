"""From a config to a trained model in a run directory: ``train``, ``resume``,
``evaluate_run``, and ``step_times`` (the naive-versus-jit line of ``tinytorch train``).

``build(config)`` turns a validated ``Config`` into the objects of an experiment, always in
the same order so that one seed gives one run: the data first (the validation split, the
loader's shuffling and the augmentation have their own generators, seeded from
``[seed, k]``, so they never draw from the model's stream), then ``tt.manual_seed(seed)``
and the model (its initial weights are the global generator's first draws; dropout draws
from it later), then the optimiser and the schedule. ``resume`` builds the same objects
and overwrites their state with a checkpoint's.

>>> import tempfile
>>> from tinytorch.config import load_config
>>> cfg = load_config("digits_mlp", ["train.epochs=1", "data.train_subset=200",
...                                  "data.test_subset=100"])
>>> out = train(cfg, runs_dir=tempfile.mkdtemp(), log=None, progress=False)
>>> out["status"], out["epochs"], 0.0 <= out["test_accuracy"] <= 1.0
('completed', 1, True)
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import tinytorch as tt
from tinytorch.config import Config, to_dict
from tinytorch.data import DataLoader, Sampler, TensorDataset
from tinytorch.runs import Run
from tinytorch.tensor import Tensor
from tinytorch.train.checkpoint import CheckpointManager, load_checkpoint
from tinytorch.train.models import build_model
from tinytorch.train.trainer import MONITORS, Trainer

__all__ = ["Experiment", "build", "build_data", "build_optimizer", "build_scheduler",
           "train", "resume", "evaluate_run", "step_times", "DataMissing"]

# Separate streams from one seed: numpy's SeedSequence makes [seed, k] independent of
# [seed, j] and of the global generator's seed, so adding augmentation does not change the
# shuffling, and neither changes the initial weights.
_SHUFFLE, _CROP, _FLIP, _SPLIT = 1, 2, 3, 4


class DataMissing(FileNotFoundError):
    """A data set that is not on disk; the message says how to get it."""


@dataclass
class Data:
    """The loaders of an experiment and what the model needs to know about the inputs."""

    train: DataLoader
    val: DataLoader | None
    test: DataLoader
    input_shape: tuple
    num_classes: int
    generators: dict = field(default_factory=dict)


def _split_indices(cfg: Config, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, val rows) of the first ``n`` training images: ``val_fraction`` of them
    held out at random ([seed, _SPLIT]), each part kept in its original order."""
    d = cfg.data
    n_val = int(round(n * d.val_fraction))
    if d.val_fraction and n_val == 0:
        n_val = 1
    if n_val >= n:
        raise ValueError(f"data.val_fraction={d.val_fraction} of {n} training images leaves "
                         "none to train on\nhint: lower data.val_fraction or raise "
                         "data.train_subset")
    order = np.random.default_rng([cfg.seed, _SPLIT]).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


class _Augmented(TensorDataset):
    """A TensorDataset whose batches get a random transform of their images: the loader's
    fast path gathers a batch, then calls ``transform_batch`` once for all of it."""

    def __init__(self, images: Tensor, labels: Tensor, transform):
        super().__init__(images, labels)
        self.transform = transform

    def transform_batch(self, arrays):
        images, labels = arrays
        return [self.transform(images), labels]


class _Rows(Sampler):
    """The given rows of a data set, in order, or in a new random order each epoch from
    ``generator``: a train/val split of a memory-mapped data set without copying it."""

    def __init__(self, rows, generator: np.random.Generator | None = None):
        self.rows = np.asarray(rows, dtype=np.int64)
        self.generator = generator

    def epoch_indices(self) -> np.ndarray:
        if self.generator is None:
            return self.rows
        return self.rows[self.generator.permutation(len(self.rows))]

    def __len__(self) -> int:
        return len(self.rows)


def _augmentation(cfg: Config, size, generators: dict) -> list:
    """Random crops (padding an eighth of the side), and flips for CIFAR-10 only: digits,
    letters and clothes are not mirror-symmetric. Each has its own seeded generator."""
    from tinytorch.data import transforms as T  # noqa: PLC0415

    crop = T.RandomCrop(tuple(size), padding=max(1, size[0] // 8),
                        generator=np.random.default_rng([cfg.seed, _CROP]))
    generators["crop"] = crop.generator
    steps = [crop]
    if cfg.data.dataset == "cifar10":
        flip = T.RandomHorizontalFlip(generator=np.random.default_rng([cfg.seed, _FLIP]))
        generators["flip"] = flip.generator
        steps.append(flip)
    return steps


def _digits_data(cfg: Config) -> Data:
    """The embedded digits, small enough to hold in memory: normalised once with the
    training rows' own mean and std, then batched by slicing (the loader's fast path)."""
    from tinytorch.data.datasets import Digits  # noqa: PLC0415

    d = cfg.data
    train_x, train_y = (t.numpy() for t in Digits("train").tensors())
    test_x, test_y = (t.numpy() for t in Digits("test").tensors())
    if d.train_subset:
        train_x, train_y = train_x[:d.train_subset], train_y[:d.train_subset]
    if d.test_subset:
        test_x, test_y = test_x[:d.test_subset], test_y[:d.test_subset]
    train_rows, val_rows = _split_indices(cfg, len(train_y))
    val_x, val_y = train_x[val_rows], train_y[val_rows]
    train_x, train_y = train_x[train_rows], train_y[train_rows]
    mean = train_x.mean(dtype=np.float64)  # no peeking at the test split
    std = train_x.std(dtype=np.float64) + 1e-6

    def norm(x):
        return Tensor(np.ascontiguousarray((x - mean) / std, dtype=np.float32))

    def labels(y):
        return Tensor(np.ascontiguousarray(y, dtype=np.int64))

    generators: dict = {}
    if d.augment:
        from tinytorch.data import transforms as T  # noqa: PLC0415

        steps = _augmentation(cfg, train_x.shape[2:], generators)
        train_ds = _Augmented(norm(train_x), labels(train_y), T.Compose(steps))
    else:
        train_ds = TensorDataset(norm(train_x), labels(train_y))
    shuffle = np.random.default_rng([cfg.seed, _SHUFFLE])
    generators["shuffle"] = shuffle
    train = DataLoader(train_ds, batch_size=d.batch_size, sampler=_Rows(
        np.arange(len(train_y)), shuffle), drop_last=d.drop_last, prefetch=d.prefetch)
    val = DataLoader(TensorDataset(norm(val_x), labels(val_y)),
                     batch_size=d.eval_batch_size) if len(val_y) else None
    test = DataLoader(TensorDataset(norm(test_x), labels(test_y)),
                      batch_size=d.eval_batch_size)
    return Data(train, val, test, tuple(train_x.shape[1:]), 10, generators)


# Per-channel mean and std of each training split (pixels in [0, 1]), the usual constants:
# fixed numbers, so that nothing reads a whole memory-mapped data set to compute them.
_STATS = {"mnist": ((0.1307,), (0.3081,)), "fashion_mnist": ((0.2860,), (0.3530,)),
          "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))}


def _open_vision(cfg: Config, split: str, transform):
    from tinytorch.data import download, vision  # noqa: PLC0415 (only these data sets)

    cls = {"mnist": vision.MNIST, "fashion_mnist": vision.FashionMNIST,
           "cifar10": vision.CIFAR10}[cfg.data.dataset]
    try:
        return cls(root=cfg.data.root or None, split=split, download=cfg.data.download,
                   transform=transform)
    except (FileNotFoundError, download.DownloadError) as err:
        how = ("" if cfg.data.download else
               "\nor let tinytorch fetch it: add data.download=true to the command")
        raise DataMissing(f"{cfg.data.dataset}: the data set is not on this machine\n"
                          f"{err}{how}") from None


def _vision_data(cfg: Config) -> Data:
    """MNIST, Fashion-MNIST or CIFAR-10: memory-mapped uint8 pixels, never read whole.
    Each batch is gathered, scaled to [0, 1], augmented and normalised by the data set's
    ``transform_batch``; the val rows are a sampler over the training split."""
    from tinytorch.data import transforms as T  # noqa: PLC0415

    d = cfg.data
    norm = T.Normalize(*_STATS[d.dataset])
    generators: dict = {}
    plain = _open_vision(cfg, "train", norm)
    test_ds = _open_vision(cfg, "test", norm)
    size = plain.image_shape[1:]
    train_ds = _open_vision(cfg, "train", T.Compose(
        _augmentation(cfg, size, generators) + [norm])) if d.augment else plain
    n = min(d.train_subset or len(plain), len(plain))
    train_rows, val_rows = _split_indices(cfg, n)
    shuffle = np.random.default_rng([cfg.seed, _SHUFFLE])
    generators["shuffle"] = shuffle
    train = DataLoader(train_ds, batch_size=d.batch_size, sampler=_Rows(train_rows, shuffle),
                       drop_last=d.drop_last, prefetch=d.prefetch)
    val = DataLoader(plain, batch_size=d.eval_batch_size,
                     sampler=_Rows(val_rows)) if len(val_rows) else None
    n_test = min(d.test_subset or len(test_ds), len(test_ds))
    test = DataLoader(test_ds, batch_size=d.eval_batch_size, sampler=_Rows(np.arange(n_test)))
    return Data(train, val, test, tuple(plain.image_shape), len(plain.classes), generators)


def build_data(cfg: Config) -> Data:
    """The train/val/test loaders of ``cfg.data``. The val rows come out of the training
    split (``val_fraction``); the test split is never trained or selected on. A data set
    that is not on disk raises DataMissing, whose message says how to get it.

    >>> data = build_data(Config())
    >>> len(data.train.sampler), len(data.val.sampler), len(data.test.dataset)
    (1294, 144, 359)
    """
    if cfg.data.dataset == "digits":
        return _digits_data(cfg)
    return _vision_data(cfg)


def build_optimizer(cfg: Config, model) -> tt.optim.Optimizer:
    """The ``[optim]`` table as a tinytorch optimiser over ``model``'s parameters.

    >>> from tinytorch import nn
    >>> build_optimizer(Config(), nn.Linear(2, 2)).defaults["lr"]
    0.001
    """
    o = cfg.optim
    params = list(model.parameters())
    if o.name == "sgd":
        return tt.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay,
                            nesterov=o.nesterov)
    cls = tt.optim.Adam if o.name == "adam" else tt.optim.AdamW
    return cls(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)


def build_scheduler(cfg: Config, optimizer, steps_per_epoch: int):
    """The ``[scheduler]`` table (None for ``"none"``); ``t_max = 0`` anneals over the
    whole run, in epochs or in steps as ``interval`` says.

    >>> from tinytorch import nn
    >>> cfg = Config(); cfg.scheduler.name = "cosine"; cfg.train.epochs = 4
    >>> build_scheduler(cfg, build_optimizer(cfg, nn.Linear(2, 2)), 10).T_max
    4
    """
    s = cfg.scheduler
    if s.name == "none":
        return None
    if s.name == "step":
        return tt.optim.lr_scheduler.StepLR(optimizer, step_size=s.step_size, gamma=s.gamma)
    t_max = s.t_max or (cfg.train.epochs if s.interval == "epoch"
                        else cfg.train.epochs * steps_per_epoch)
    return tt.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=t_max, eta_min=s.eta_min)


@dataclass
class Experiment:
    """Everything ``build`` makes from a config."""

    config: Config
    model: tt.nn.Module
    data: Data
    optimizer: tt.optim.Optimizer
    scheduler: object
    trainer: Trainer
    run: Run | None = None


def build(cfg: Config, run: Run | None = None, *, data: Data | None = None, progress=None,
          log=print, callbacks=()) -> Experiment:
    """Build data (unless given), seed, then build model, optimiser, schedule and trainer
    (see the module docstring for why in this order). Without a ``run`` nothing is written
    and no checkpoint is kept.

    >>> from tinytorch.config import load_config
    >>> exp = build(load_config("digits_cnn", ["model.channels=4,8"]), log=None)
    >>> type(exp.optimizer).__name__, exp.data.input_shape, exp.trainer.monitor
    ('Adam', (1, 8, 8), 'val_accuracy')
    """
    if not isinstance(cfg, Config):
        raise TypeError(f"build(): expected a Config, got {type(cfg).__name__}")
    if data is None:
        data = build_data(cfg)  # draws nothing from the global generator
    tt.manual_seed(cfg.seed)
    model = build_model(cfg.model, data.input_shape, data.num_classes)
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer, len(data.train))
    manager = None
    if run is not None:
        manager = CheckpointManager(run.checkpoints_dir, keep_last=cfg.checkpoint.keep_last,
                                    keep_best=cfg.checkpoint.keep_best,
                                    mode=MONITORS[cfg.train.monitor])
    trainer = Trainer(model, optimizer, data.train, val_loader=data.val,
                      scheduler=scheduler, scheduler_interval=cfg.scheduler.interval,
                      clip_grad_norm=cfg.train.clip_grad_norm,
                      early_stopping_patience=cfg.train.early_stopping_patience,
                      min_delta=cfg.train.min_delta, monitor=cfg.train.monitor,
                      checkpoints=manager, checkpoint_every=cfg.checkpoint.every_epochs,
                      run=run, config=to_dict(cfg), generators=data.generators,
                      progress=progress, log=log, callbacks=callbacks)
    return Experiment(cfg, model, data, optimizer, scheduler, trainer, run)


def _finish(exp: Experiment, result: dict) -> dict:
    test = exp.trainer.evaluate(exp.data.test)
    if exp.run is not None:
        exp.run.log({"event": "test", "epoch": exp.trainer.epoch, "step": exp.trainer.step,
                     "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                     "test_samples": test["samples"]})
    result = dict(result)
    result.update(test_loss=test["loss"], test_accuracy=test["accuracy"],
                  run_dir=str(exp.run.path) if exp.run is not None else None,
                  experiment=exp)
    return result


def train(cfg: Config, *, runs_dir=None, run_name: str | None = None, progress=None,
          log=print, callbacks=()) -> dict:
    """Train ``cfg`` in a new run directory (under ``runs_dir``, default
    ``cfg.runs_dir``; named ``run_name`` exactly when given, else ``<name>-<timestamp>``);
    returns ``Trainer.fit``'s result plus ``test_loss``,
    ``test_accuracy``, ``run_dir`` and the ``experiment``. A NaN/inf loss raises
    ``TrainingDiverged`` (the run directory keeps the last good checkpoint)."""
    if not isinstance(cfg, Config):
        raise TypeError(f"train(): expected a Config, got {type(cfg).__name__}")
    with tt.backend(cfg.backend):
        data = build_data(cfg)  # a missing data set fails here, before a folder is made
        run = Run.create(cfg, runs_dir, name=run_name, timestamp=run_name is None)
        if log is not None:
            log(f"run directory: {run.path}")
        exp = build(cfg, run, data=data, progress=progress, log=log, callbacks=callbacks)
        result = exp.trainer.fit(cfg.train.epochs)
        return _finish(exp, result)


def resume(run_dir, *, overrides=(), checkpoint=None, backend: str | None = None,
           progress=None, log=print, callbacks=()) -> dict:
    """Continue the run in ``run_dir`` from its newest checkpoint (or ``checkpoint``, a
    path) up to its config's epochs; ``overrides`` change the config first (for example
    ``train.epochs=30`` to train longer), and the snapshot records them. Same backend and
    config give parameters bit-identical to a run that never stopped.

    >>> import tempfile
    >>> from tinytorch.config import load_config
    >>> cfg = load_config("digits_mlp", ["train.epochs=1", "data.train_subset=100"])
    >>> first = train(cfg, runs_dir=tempfile.mkdtemp(), log=None, progress=False)
    >>> resume(first["run_dir"], overrides=["train.epochs=2"], log=None)["epochs"]
    2
    """
    run = Run.open(run_dir)
    cfg = run.config(overrides)
    if backend is not None:
        cfg.backend = backend
    ckpt = load_checkpoint(checkpoint if checkpoint is not None else run.checkpoints_dir)
    if overrides or backend is not None:
        run.save_config(cfg)
    with tt.backend(cfg.backend):
        exp = build(cfg, run, progress=progress, log=log, callbacks=callbacks)
        exp.trainer.resume(ckpt)
        _apply_changed_settings(exp, ckpt.config or {}, log)
        run.truncate_metrics(ckpt.step)
        run.record_resume(cfg.backend, ckpt.step)
        run.log({"event": "resume", "epoch": ckpt.epoch, "step": ckpt.step,
                 "checkpoint": ckpt.path.name})
        if log is not None:
            log(f"resumed {run.path} from {ckpt.path.name} (epoch {ckpt.epoch}, step "
                f"{ckpt.step})")
        t = exp.trainer
        result = t.fit(cfg.train.epochs) if t.epoch < cfg.train.epochs else {
            "status": "completed", "epochs": t.epoch, "step": t.step,
            "best_value": t.best_value, "best_epoch": t.best_epoch, "history": []}
        return _finish(exp, result)


# The hyperparameters a checkpoint's optimiser and scheduler states carry with them, which
# a resume must set again when the config changed them.
_SCHEDULER_SETTINGS = ("step_size", "gamma", "T_max", "eta_min")


def _apply_changed_settings(exp: Experiment, saved_config: dict, log) -> None:
    """A checkpoint's optimiser and scheduler states include their hyperparameters (the
    learning rate, the step size, the cosine's length), so restoring them would silently
    undo an override such as ``--resume RUN_DIR optim.lr=1e-4`` (the advice after a NaN
    stop) or ``train.epochs=40`` (a longer cosine). Settings that differ from the ones the
    config now gives are set again after the restore: a new rate takes over from here on
    (also as the schedule's base), and the schedule continues from it."""
    cfg = exp.config
    changed = []
    fresh_opt = build_optimizer(cfg, exp.model)  # only read: it holds no state
    fresh_sched = build_scheduler(cfg, fresh_opt, len(exp.data.train))
    if saved_config.get("optim", to_dict(cfg)["optim"]) != to_dict(cfg)["optim"]:
        lr = fresh_opt.defaults["lr"]
        for group in exp.optimizer.param_groups:
            group.update(fresh_opt.defaults)
            if "initial_lr" in group:
                group["initial_lr"] = lr
        if exp.scheduler is not None:
            n = len(exp.optimizer.param_groups)
            exp.scheduler.base_lrs = [lr] * n
            exp.scheduler._last_lr = [lr] * n
        changed.append("[optim]")
    if exp.scheduler is not None:
        for key in _SCHEDULER_SETTINGS:
            if hasattr(fresh_sched, key) and getattr(fresh_sched, key) != \
                    getattr(exp.scheduler, key):
                setattr(exp.scheduler, key, getattr(fresh_sched, key))
                changed.append(f"scheduler {key}")
    if changed and log is not None:
        log(f"the config changed {', '.join(changed)}: applied to the restored state")


def run_checkpoint(run_dir, checkpoint: str = "best") -> tuple[Config, object]:
    """``(config, checkpoint)`` of a run: its ``"best"`` checkpoint (by the run's monitor;
    the newest when none is marked best), its ``"latest"``, or a checkpoint path. Raises the
    run's or the checkpoint's clear error when there is none."""
    run = Run.open(run_dir)
    cfg = run.config()
    if checkpoint in ("best", "latest"):
        manager = CheckpointManager(run.checkpoints_dir, mode=MONITORS[cfg.train.monitor])
        path = (manager.best() if checkpoint == "best" else None) or manager.latest()
        if path is None:
            load_checkpoint(run.checkpoints_dir)  # raises its "no checkpoint" error
    else:
        path = Path(checkpoint)
    return cfg, load_checkpoint(path)


def evaluate_run(run_dir, *, checkpoint: str = "best", split: str = "test",
                 backend: str | None = None) -> dict:
    """Loss and accuracy of a run's checkpoint (``"best"``, ``"latest"`` or a path) on
    its ``"test"`` or ``"val"`` split: ``{"loss", "accuracy", "samples", "checkpoint",
    "epoch", "step"}``.

    >>> import tempfile
    >>> from tinytorch.config import load_config
    >>> cfg = load_config("digits_mlp", ["train.epochs=1", "data.train_subset=100"])
    >>> out = train(cfg, runs_dir=tempfile.mkdtemp(), log=None, progress=False)
    >>> result = evaluate_run(out["run_dir"], checkpoint="latest")
    >>> result["samples"], result["accuracy"] == out["test_accuracy"]
    (359, True)
    """
    if split not in ("test", "val"):
        raise ValueError(f"evaluate_run(): split must be 'test' or 'val', got {split!r}")
    cfg, ckpt = run_checkpoint(run_dir, checkpoint)
    with tt.backend(backend or cfg.backend):
        exp = build(cfg, None, progress=False, log=None)
        ckpt.restore(exp.model)
        loader = exp.data.test if split == "test" else exp.data.val
        if loader is None:
            raise ValueError("evaluate_run(): this run has no validation split "
                             "(data.val_fraction = 0)")
        out = exp.trainer.evaluate(loader)
    out["checkpoint"] = str(ckpt.path)
    out["epoch"], out["step"] = ckpt.epoch, ckpt.step
    return out


def step_times(cfg: Config, backends=("naive", "jit"), *, steps=None,
               warmup=None) -> dict:
    """Median seconds of one training step (forward, loss, backward, optimiser step) of
    ``cfg``'s model at its batch size on each backend: a fresh model and one fixed batch,
    ``warmup`` untimed steps first (jit compiles, or loads its cache, there). Defaults:
    naive 2 timed steps and no warm-up, others 20 timed after 3.

    >>> cfg = Config()
    >>> t = step_times(cfg, ("jit", "numpy"), steps={"jit": 3, "numpy": 3})
    >>> sorted(t), all(v > 0 for v in t.values())
    (['jit', 'numpy'], True)
    """
    steps = dict(steps or {})
    warmup = dict(warmup or {})
    tt.manual_seed(cfg.seed)
    data = build_data(cfg)
    x, y = next(iter(data.train))
    out = {}
    for backend in backends:
        tt.manual_seed(cfg.seed)
        model = build_model(cfg.model, data.input_shape, data.num_classes)
        opt = build_optimizer(cfg, model)
        n = steps.get(backend, 2 if backend == "naive" else 20)
        w = warmup.get(backend, 0 if backend == "naive" else 3)
        times = []
        with tt.backend(backend):
            for i in range(w + n):
                start = time.perf_counter()
                loss = tt.nn.functional.cross_entropy(model(x), y)
                opt.zero_grad()
                loss.backward()
                opt.step()
                if i >= w:
                    times.append(time.perf_counter() - start)
        out[backend] = statistics.median(times)
    return out
