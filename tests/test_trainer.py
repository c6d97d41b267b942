"""The training loop (module 06): Trainer.fit, metrics, schedules, clipping, early stopping,
the NaN/inf stop, bit-identical resume, and the model zoo."""

import json

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.config import load_config
from tinytorch.nn import functional as F
from tinytorch.testing import assert_close, gradcheck, tolerances
from tinytorch.train import (
    CheckpointManager,
    Trainer,
    TrainingDiverged,
    load_checkpoint,
    models,
)
from tinytorch.train import experiment as E


def _data(rng, n=20, d=4, classes=3, batch=5):
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return [(tt.tensor(x[i:i + batch]), tt.tensor(y[i:i + batch])) for i in range(0, n, batch)]


def _model(seed=0, d=4, classes=3):
    tt.manual_seed(seed)
    return nn.Sequential(nn.Linear(d, 6), nn.ReLU(), nn.Linear(6, classes))


def _bits(model):
    return [p.numpy().tobytes() for p in model.parameters()]


class Epochs:
    """A loader that gives a different list of batches each epoch."""

    def __init__(self, *epochs):
        self.epochs, self.count = epochs, 0

    def __iter__(self):
        batches = self.epochs[min(self.count, len(self.epochs) - 1)]
        self.count += 1
        return iter(batches)

    def __len__(self):
        return len(self.epochs[0])


# --- the loop is the hand-written loop ----------------------------------------------------


def test_fit_takes_exactly_the_steps_of_a_hand_written_loop(backend, rng):
    batches = _data(rng)
    model = _model()
    opt = tt.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = tt.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    trainer = Trainer(model, opt, batches, scheduler=sched, clip_grad_norm=0.5,
                      progress=False, log=None)
    result = trainer.fit(epochs=2)

    ref = _model()
    ref_opt = tt.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    ref_sched = tt.optim.lr_scheduler.StepLR(ref_opt, step_size=1, gamma=0.5)
    epoch_losses = []
    for _ in range(2):
        total = 0.0
        for x, y in batches:
            loss = F.cross_entropy(ref(x), y)
            total += loss.item() * y.shape[0]
            ref_opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(list(ref.parameters()), 0.5)
            ref_opt.step()
        ref_sched.step()
        epoch_losses.append(total / 20)
    assert _bits(model) == _bits(ref)
    assert [r["train_loss"] for r in result["history"]] == epoch_losses
    assert [r["lr"] for r in result["history"]] == [0.1, 0.05]
    assert (trainer.epoch, trainer.step, result["status"]) == (2, 8, "completed")


def test_evaluate_matches_a_numpy_oracle(backend, rng):
    batches = _data(rng, n=13, batch=4)  # a smaller last batch: the mean is per sample
    model = _model()
    trainer = Trainer(model, tt.optim.SGD(model.parameters()), batches, progress=False,
                      log=None)
    out = trainer.evaluate(batches)
    w1, b1, w2, b2 = (p.numpy().astype(np.float64) for p in model.parameters())
    x = np.concatenate([b[0].numpy() for b in batches]).astype(np.float64)
    y = np.concatenate([b[1].numpy() for b in batches])
    logits = np.maximum(x @ w1.T + b1, 0) @ w2.T + b2
    shifted = logits - logits.max(1, keepdims=True)
    nll = np.log(np.exp(shifted).sum(1)) - shifted[np.arange(len(y)), y]
    rtol, atol = tolerances(tt.float32)  # float32 logits against a float64 oracle
    assert out["samples"] == 13
    assert out["loss"] == pytest.approx(nll.mean(), rel=10 * rtol, abs=10 * atol)
    assert out["accuracy"] == np.mean(logits.argmax(1) == y)


def test_the_training_accuracy_counts_the_logits_argmax(rng):
    batches = _data(rng)
    model = _model()
    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.0), batches,
                      progress=False, log=None)
    record = trainer.train_epoch()
    expected = np.mean([(model(x).numpy().argmax(1) == y.numpy()).mean() for x, y in batches])
    assert record["train_accuracy"] == pytest.approx(expected)
    assert record["steps"] == 4 and record["train_seconds"] > 0


def test_fit_matches_pytorch(rng):
    torch = pytest.importorskip("torch")
    batches = _data(rng, n=24, batch=8)
    model = _model()
    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.2, momentum=0.5,
                                          weight_decay=1e-3), batches, clip_grad_norm=1.0,
                      progress=False, log=None)
    trainer.fit(epochs=3)

    ref = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    with torch.no_grad():
        for p, q in zip(_model().parameters(), ref.parameters(), strict=True):
            q.copy_(torch.from_numpy(p.numpy().copy()))
    opt = torch.optim.SGD(ref.parameters(), lr=0.2, momentum=0.5, weight_decay=1e-3)
    for _ in range(3):
        for x, y in batches:
            loss = torch.nn.functional.cross_entropy(ref(torch.from_numpy(x.numpy())),
                                                     torch.from_numpy(y.numpy()))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ref.parameters(), 1.0)
            opt.step()
    # 12 steps of float32 rounding, summed in other orders: float32's tolerances, widened
    rtol, atol = tolerances(tt.float32)
    for p, q in zip(model.parameters(), ref.parameters(), strict=True):
        assert_close(p, q.detach().numpy(), rtol=100 * rtol, atol=10 * atol)


# --- schedules, clipping, early stopping ----------------------------------------------------


def test_a_per_step_schedule_steps_after_every_optimiser_step(rng):
    batches = _data(rng)
    model = _model()
    opt = tt.optim.SGD(model.parameters(), lr=1.0)
    sched = tt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=8)
    trainer = Trainer(model, opt, batches, scheduler=sched, scheduler_interval="step",
                      progress=False, log=None)
    trainer.fit(epochs=2)
    assert sched.last_epoch == 8
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_clipping_bounds_each_update(rng):
    batches = [(x * 100, y) for x, y in _data(rng)]  # large gradients
    model = _model()
    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=1.0), batches[:1],
                      clip_grad_norm=0.01, progress=False, log=None)
    before = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    trainer.fit(epochs=1)
    after = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    assert np.linalg.norm(after - before) == pytest.approx(0.01, rel=1e-3)


def test_early_stopping_waits_patience_epochs_then_keeps_the_best(rng, tmp_path):
    from tinytorch.config import Config
    from tinytorch.runs import Run

    run = Run.create(Config(name="es"), runs_dir=tmp_path)
    batches = _data(rng)
    model = _model()
    manager = CheckpointManager(run.checkpoints_dir, keep_last=1, mode="min")
    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.0), batches,
                      monitor="train_loss", early_stopping_patience=2, checkpoints=manager,
                      run=run, progress=False, log=None)
    result = trainer.fit(epochs=10)  # lr 0: the loss never improves after epoch 1
    assert result["status"] == "early_stopping"
    assert (trainer.epoch, trainer.best_epoch, trainer.bad_epochs) == (3, 1, 2)
    events = [r["event"] for r in run.metrics()]
    assert events == ["epoch", "epoch", "epoch", "early_stop"]
    kept = sorted(p.name for p in run.checkpoints_dir.glob("*.json"))
    assert kept == ["ckpt-e0001-s00000004.json", "ckpt-e0003-s00000012.json"]
    assert manager.best().name == "ckpt-e0001-s00000004.json"


def test_min_delta_decides_what_counts_as_an_improvement(rng):
    batches = _data(rng)
    model = _model()
    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.01), batches,
                      monitor="train_loss", early_stopping_patience=1, min_delta=10.0,
                      progress=False, log=None)
    assert trainer.fit(epochs=5)["status"] == "early_stopping" and trainer.epoch == 2


# --- the NaN/inf stop -------------------------------------------------------------------------


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(rng,
                                                                                tmp_path):
    from tinytorch.config import Config
    from tinytorch.runs import Run

    good = _data(rng)
    bad = [(tt.full((5, 4), float("nan")), good[0][1])] + good[1:]
    run = Run.create(Config(name="nan"), runs_dir=tmp_path)
    model = _model()
    manager = CheckpointManager(run.checkpoints_dir, keep_last=2)
    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.1), Epochs(good, bad),
                      monitor="train_loss", checkpoints=manager, run=run, progress=False,
                      log=None)
    with pytest.raises(TrainingDiverged) as err:
        trainer.fit(epochs=3)
    text = str(err.value)
    assert "training stopped: the loss became nan at epoch 2, batch 1 (step 5)" in text
    assert "the weights were not updated with it" in text
    assert "ckpt-e0001-s00000004.json" in text and "optim.lr" in text
    assert (err.value.epoch, err.value.step) == (2, 4)
    ckpt = load_checkpoint(err.value.last_checkpoint)
    assert ckpt.epoch == 1
    assert [ckpt.arrays[f"model.{k}"].tobytes() for k in ("0.weight", "0.bias", "2.weight",
                                                           "2.bias")] == _bits(model)
    last = run.metrics()[-1]
    assert last["event"] == "diverged" and last["value"] == "nan"


def test_an_infinite_loss_before_any_checkpoint_says_so(rng):
    batches = [(x * float("inf"), y) for x, y in _data(rng)]
    model = _model()
    trainer = Trainer(model, tt.optim.SGD(model.parameters()), batches, progress=False,
                      log=None)
    with pytest.raises(TrainingDiverged, match="no checkpoint was saved before it"):
        trainer.fit(epochs=1)


def test_a_nan_gradient_norm_stops_before_the_update(rng):
    batches = _data(rng)
    model = _model()
    before = _bits(model)

    def loss_fn(logits, targets):  # sqrt(0) = 0, but its gradient is 0 * inf = nan
        return tt.sqrt((logits * 0.0).sum())

    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.1), batches,
                      loss_fn=loss_fn, clip_grad_norm=1.0, progress=False, log=None)
    with pytest.raises(TrainingDiverged, match="the gradient norm became nan"):
        trainer.fit(epochs=1)
    assert _bits(model) == before


def test_weights_that_went_bad_unnoticed_are_never_checkpointed(rng, tmp_path):
    batches = _data(rng)
    model = _model()
    manager = CheckpointManager(tmp_path, keep_last=2)

    def loss_fn(logits, targets):  # a finite loss whose gradient is nan: no clipping
        return tt.sqrt((logits * 0.0).sum())  # to catch it, so the weights become nan

    trainer = Trainer(model, tt.optim.SGD(model.parameters(), lr=0.1), batches[:1],
                      loss_fn=loss_fn, monitor="train_loss", checkpoints=manager,
                      progress=False, log=None)  # one step: its loss is still finite
    with pytest.raises(TrainingDiverged, match="the weights became nan at the end of epoch "
                                               "1 .step 1.; that state was not saved"):
        trainer.fit(epochs=2)
    assert list(tmp_path.iterdir()) == []


# --- resume: bit-identical ----------------------------------------------------------------------


class Interrupt(Exception):
    pass


def _stop_after(epoch):
    def callback(trainer, record):
        if record["epoch"] == epoch:
            raise Interrupt  # after the epoch's checkpoint: a crash between epochs
    return callback


def _without_times(records):
    drop = {"seconds", "train_seconds", "step_ms"}
    return [{k: v for k, v in r.items() if k not in drop} for r in records
            if r["event"] == "epoch"]


@pytest.mark.parametrize("name, overrides", [
    ("digits_mlp", ["model.dropout=0.2", "data.augment=true", "train.clip_grad_norm=1.0",
                    "scheduler.interval=step", "optim.name=adamw", "data.prefetch=2"]),
    ("digits_cnn", ["model.channels=4,8", "optim.name=sgd", "optim.momentum=0.9",
                    "scheduler.name=step", "scheduler.step_size=1"]),
])
def test_a_resumed_run_is_bit_identical_to_one_that_never_stopped(tmp_path, name, overrides):
    settings = overrides + ["train.epochs=3", "data.train_subset=200", "data.test_subset=50",
                            "checkpoint.keep_last=1"]
    cfg = load_config(name, settings)
    whole = E.train(cfg, runs_dir=tmp_path / "whole", log=None, progress=False)
    with pytest.raises(Interrupt):
        E.train(load_config(name, settings), runs_dir=tmp_path / "cut", run_name="cut",
                log=None, progress=False, callbacks=[_stop_after(1)])
    resumed = E.resume(tmp_path / "cut" / "cut", log=None, progress=False)
    assert _bits(resumed["experiment"].model) == _bits(whole["experiment"].model)
    opt_a = whole["experiment"].optimizer.state_dict()["state"]
    opt_b = resumed["experiment"].optimizer.state_dict()["state"]
    for index, entry in opt_a.items():
        for key, value in entry.items():
            other = opt_b[index][key]
            assert (value.numpy().tobytes() == other.numpy().tobytes()) if \
                isinstance(value, tt.Tensor) else value == other
    assert resumed["test_accuracy"] == whole["test_accuracy"]
    run_a = whole["experiment"].run
    run_b = resumed["experiment"].run
    assert _without_times(run_b.metrics()) == _without_times(run_a.metrics())
    assert [r["event"] for r in run_b.metrics()] == ["epoch", "resume", "epoch", "epoch",
                                                     "test"]
    env = json.loads(run_b.environment_path.read_text())
    assert env["resumes"][0]["from_step"] == run_a.metrics()[0]["step"]


def test_resume_with_overrides_trains_longer_and_records_them(tmp_path):
    settings = ["train.epochs=1", "data.train_subset=100", "data.test_subset=30"]
    first = E.train(load_config("digits_mlp", settings), runs_dir=tmp_path, log=None,
                    progress=False)
    again = E.resume(first["run_dir"], overrides=["train.epochs=2"], log=None,
                     progress=False)
    assert again["epochs"] == 2
    assert again["experiment"].run.config().train.epochs == 2
    done = E.resume(first["run_dir"], log=None, progress=False)  # nothing left to do
    assert done["epochs"] == 2 and done["history"] == []


def test_a_resume_that_changes_the_rate_or_the_schedule_length_applies_them(tmp_path):
    settings = ["train.epochs=2", "data.train_subset=100", "data.test_subset=30",
                "optim.name=sgd", "optim.lr=0.1", "scheduler.name=cosine"]
    first = E.train(load_config("digits_mlp", settings), runs_dir=tmp_path, log=None,
                    progress=False)
    lines = []
    again = E.resume(first["run_dir"], overrides=["optim.lr=0.01", "train.epochs=4"],
                     log=lines.append, progress=False)
    sched = again["experiment"].scheduler
    assert sched.base_lrs == [0.01] and sched.T_max == 4  # not the saved 0.1 and 2
    assert again["history"][0]["lr"] == 0.01  # epoch 3 trains at the new rate
    assert "the config changed [optim], scheduler T_max: applied to the restored state" \
        in lines


# --- reporting ------------------------------------------------------------------------------


def test_the_progress_bar_goes_to_stderr_only_when_asked(rng, capsys):
    batches = _data(rng)
    model = _model()
    Trainer(model, tt.optim.SGD(model.parameters()), batches, progress=True,
            log=None).fit(epochs=1)
    assert "epoch 1" in capsys.readouterr().err
    Trainer(model, tt.optim.SGD(model.parameters()), batches, log=None).fit(epochs=1)
    assert capsys.readouterr().err == ""  # not a terminal: no bar by default


def test_each_epoch_logs_one_line(rng, capsys):
    batches = _data(rng)
    model = _model()
    Trainer(model, tt.optim.SGD(model.parameters()), batches, val_loader=batches,
            progress=False).fit(epochs=2)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch   2/2  train loss ")
    assert "val loss" in lines[1] and "ms/step" in lines[1]


def test_evaluate_runs_in_eval_mode_and_restores_training_mode(rng):
    batches = _data(rng)
    tt.manual_seed(0)
    model = nn.Sequential(nn.Dropout(0.5), nn.Linear(4, 3))
    trainer = Trainer(model, tt.optim.SGD(model.parameters()), batches, progress=False,
                      log=None)
    first, second = trainer.evaluate(batches), trainer.evaluate(batches)
    assert first == second  # no dropout while evaluating
    assert model.training


# --- bad input ------------------------------------------------------------------------------


def test_trainer_arguments_are_checked(rng):
    batches = _data(rng)
    model = _model()
    opt = tt.optim.SGD(model.parameters())
    with tt.testing.no_kernel_runs():  # every refusal comes before any kernel
        with pytest.raises(TypeError, match="model must be an nn.Module, got function"):
            Trainer(lambda x: x, opt, batches)
        with pytest.raises(TypeError, match="optimizer must be a tt.optim optimizer"):
            Trainer(model, "sgd", batches)
        with pytest.raises(ValueError, match="unknown monitor 'accuracy'"):
            Trainer(model, opt, batches, monitor="accuracy")
        with pytest.raises(ValueError, match="monitor='val_loss' needs a val_loader"):
            Trainer(model, opt, batches, monitor="val_loss")
        with pytest.raises(ValueError, match="clip_grad_norm must be a finite number >= 0"):
            Trainer(model, opt, batches, clip_grad_norm=-1)
        with pytest.raises(TypeError, match="clip_grad_norm must be a number, got str"):
            Trainer(model, opt, batches, clip_grad_norm="1")
        with pytest.raises(ValueError, match="scheduler_interval must be 'epoch' or 'step'"):
            Trainer(model, opt, batches, scheduler_interval="batch")
        with pytest.raises(TypeError, match="early_stopping_patience must be an int, got float"):
            Trainer(model, opt, batches, early_stopping_patience=1.5)
        with pytest.raises(ValueError, match="checkpoint_every must be >= 0, got -1"):
            Trainer(model, opt, batches, checkpoint_every=-1)
        with pytest.raises(TypeError, match=r"generators\['x'\] must be a numpy.random"):
            Trainer(model, opt, batches, generators={"x": 0})
        trainer = Trainer(model, opt, batches, log=None, progress=False)
        with pytest.raises(ValueError, match="epochs must be an int >= 1, got 0"):
            trainer.fit(0)
        with pytest.raises(ValueError, match="no loader given and no val_loader"):
            trainer.evaluate()
        with pytest.raises(ValueError, match="Trainer.save_checkpoint\\(\\): no CheckpointManager"):
            trainer.save_checkpoint()


def test_bad_batches_are_explained(rng):
    model = _model()
    opt = tt.optim.SGD(model.parameters())
    trainer = Trainer(model, opt, [([1.0] * 4, tt.tensor([0]))], log=None, progress=False)
    with tt.testing.no_kernel_runs(), pytest.raises(TypeError, match="the inputs are a list"):
        trainer.fit(1)
    with pytest.raises(ValueError, match="the train loader gave no batches"):
        Trainer(model, opt, [], log=None, progress=False).fit(1)


# --- the model zoo ----------------------------------------------------------------------------


@pytest.mark.parametrize("build, shape, params", [
    (lambda: models.digits_mlp(), (1, 8, 8), 64 * 128 + 128 + 128 * 10 + 10),
    (lambda: models.digits_cnn(), (1, 8, 8),
     (16 * 9 + 16) + (32 * 16 * 9 + 32) + (32 * 2 * 2 * 10 + 10)),
    (lambda: models.lenet((1, 28, 28)), (1, 28, 28),
     (6 * 25 + 6) + (16 * 6 * 25 + 16) + (256 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)),
    (lambda: models.lenet((3, 32, 32)), (3, 32, 32),
     (6 * 75 + 6) + (16 * 6 * 25 + 16) + (400 * 120 + 120) + (120 * 84 + 84) + (84 * 10 + 10)),
])
def test_zoo_models_map_images_to_ten_logits(build, shape, params):
    model = build()
    assert model(tt.zeros(2, *shape)).shape == (2, 10)
    assert models.count_parameters(model) == params


def test_a_conv_stack_too_deep_for_the_image_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="block 4 of 4 gets a 1x1 input") as err:
        models.cnn((1, 8, 8), channels=[2, 2, 2, 2])
    assert "model.channels" in str(err.value)
    with pytest.raises(ValueError, match=r"input_shape must be \(channels, height, width\)"):
        models.mlp((64,))


def _to_float64(model):
    """Replace every parameter by a float64 copy (gradcheck differentiates in float64)."""
    for module in model.modules():
        for name, p in list(module._parameters.items()):
            setattr(module, name, nn.Parameter(tt.tensor(p.numpy(), dtype=tt.float64)))
    return model


@pytest.mark.parametrize("build, shape", [
    (lambda: models.mlp((1, 3, 3), hidden=[4], num_classes=3), (1, 3, 3)),
    (lambda: models.cnn((1, 4, 4), channels=[2], hidden=[3], num_classes=3), (1, 4, 4)),
    (lambda: models.lenet((1, 6, 6), channels=[2], hidden=[3], num_classes=3,
                          kernel_size=3), (1, 6, 6)),
])
def test_zoo_models_backpropagate_correctly(backend, build, shape):
    tt.manual_seed(3)
    model = _to_float64(build())
    x = tt.tensor(np.random.default_rng(0).standard_normal((2, *shape)), dtype=tt.float64,
                  requires_grad=True)
    params = list(model.parameters())
    assert gradcheck(lambda x, *ps: model(x), [x, *params])


def test_build_model_follows_the_config():
    cfg = load_config("digits_cnn", ["model.channels=4,8", "model.hidden=12"])
    model = models.build_model(cfg.model, (1, 8, 8), 10)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert [c.out_channels for c in convs] == [4, 8]
    assert [(m.in_features, m.out_features) for m in linears] == [(32, 12), (12, 10)]


# --- building an experiment --------------------------------------------------------------------


def test_the_validation_split_is_held_out_of_training_and_fixed_by_the_seed():
    cfg = load_config("digits_mlp", ["data.val_fraction=0.25", "data.train_subset=200"])
    data = E.build_data(cfg)
    train_x = data.train.dataset.tensors[0].numpy()
    val_x = data.val.dataset.tensors[0].numpy()
    assert (len(train_x), len(val_x)) == (150, 50)
    rows = {r.tobytes() for r in train_x}
    assert not any(r.tobytes() in rows for r in val_x)
    again = E.build_data(cfg)
    assert again.val.dataset.tensors[0].numpy().tobytes() == val_x.tobytes()
    # normalised with the training rows' statistics
    assert abs(float(train_x.mean())) < 1e-3 and len(data.test.dataset) == 359


def test_the_same_seed_gives_the_same_run_and_another_seed_another(tmp_path):
    settings = ["train.epochs=1", "data.train_subset=100", "data.test_subset=30"]
    runs = [E.train(load_config("digits_mlp", settings + [f"seed={s}"]), runs_dir=tmp_path,
                    log=None, progress=False) for s in (0, 0, 1)]
    bits = [_bits(r["experiment"].model) for r in runs]
    assert bits[0] == bits[1] and bits[0] != bits[2]
