"""Checkpoints (module 06): .npz + JSON, atomic, checksummed, never unpickled; a process
killed while writing one leaves the previous one loadable and resumable."""

import hashlib
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import tinytorch as tt
from tinytorch import nn
from tinytorch.config import load_config
from tinytorch.train import (
    CheckpointError,
    CheckpointManager,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from tinytorch.train import experiment as E


def _trained(seed=0, steps=3):
    """A small model, Adam and a StepLR after a few real steps (non-trivial state)."""
    tt.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = tt.optim.Adam(model.parameters(), lr=0.01, betas=(0.8, 0.95))
    sched = tt.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    x, y = tt.randn(8, 4), tt.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    for _ in range(steps):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    return model, opt, sched


def _fresh(seed=1):
    return _trained(seed=seed, steps=0)


def _bits(model):
    return {k: v.numpy().tobytes() for k, v in model.state_dict().items()}


# --- round trip ------------------------------------------------------------------------------


def test_a_round_trip_restores_model_optimiser_scheduler_and_generators_exactly(tmp_path):
    model, opt, sched = _trained()
    gen = np.random.default_rng(5)
    gen.random(3)
    path = save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, epoch=2,
                           step=3, generators={"loader": gen}, config={"name": "x"},
                           metrics={"val_accuracy": 0.5}, trainer={"bad_epochs": 1})
    expected_next = np.random.default_rng(5)
    expected_next.random(3)

    model2, opt2, sched2 = _fresh()
    gen2 = np.random.default_rng(99)
    ckpt = load_checkpoint(path)
    ckpt.restore(model2, opt2, sched2, {"loader": gen2})
    assert _bits(model2) == _bits(model)
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd["param_groups"] == sd2["param_groups"]
    assert opt2.param_groups[0]["betas"] == (0.8, 0.95)  # a tuple again, not a JSON list
    for index, entry in sd["state"].items():
        assert entry["step"] == sd2["state"][index]["step"]
        for key in ("exp_avg", "exp_avg_sq"):
            assert entry[key].numpy().tobytes() == sd2["state"][index][key].numpy().tobytes()
    assert sched2.state_dict() == sched.state_dict()
    assert gen2.random() == expected_next.random()
    assert (ckpt.epoch, ckpt.step, ckpt.config, ckpt.metrics, ckpt.trainer) == \
        (2, 3, {"name": "x"}, {"val_accuracy": 0.5}, {"bad_epochs": 1})


def test_training_on_after_a_restore_matches_training_on_without_one(tmp_path):
    model, opt, sched = _trained(steps=2)
    path = save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched)
    model2, opt2, sched2 = _fresh()
    load_checkpoint(path).restore(model2, opt2, sched2)
    x, y = tt.randn(8, 4), tt.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    for m, o, s in ((model, opt, sched), (model2, opt2, sched2)):
        for _ in range(3):
            loss = nn.functional.cross_entropy(m(x), y)
            o.zero_grad()
            loss.backward()
            o.step()
            s.step()
    assert _bits(model2) == _bits(model)


def test_the_files_are_a_plain_npz_and_json_and_the_json_describes_the_npz(tmp_path):
    model, opt, _ = _trained()
    path = save_checkpoint(tmp_path, model=model, optimizer=opt, epoch=1, step=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-e0001-s00000003.json", "ckpt-e0001-s00000003.npz"]
    meta = json.loads(path.read_text())
    data = path.with_suffix(".npz").read_bytes()
    assert meta["format"] == "tinytorch-checkpoint" and meta["version"] == 1
    assert meta["arrays"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert meta["arrays"]["bytes"] == len(data)
    with np.load(path.with_suffix(".npz"), allow_pickle=False) as archive:
        assert sorted(archive.files) == meta["arrays"]["keys"]
        assert "model.0.weight" in archive.files and "optimizer.0.exp_avg" in archive.files
        assert archive["model.0.weight"].dtype == np.float32


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model, opt, sched = _trained()
    path = save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched)

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    model2, opt2, sched2 = _fresh()
    load_checkpoint(path).restore(model2, opt2, sched2)
    assert _bits(model2) == _bits(model)


def test_an_npz_holding_a_pickled_object_is_refused(tmp_path):
    model, _, _ = _trained()
    path = save_checkpoint(tmp_path, model=model)
    npz = path.with_suffix(".npz")
    np.savez(npz, **{"model.0.weight": np.array([{"evil": 1}], dtype=object)})
    meta = json.loads(path.read_text())
    data = npz.read_bytes()  # make the checksums agree: only allow_pickle=False stands
    meta["arrays"].update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    from tinytorch.train.checkpoint import _digest

    meta["checksum"] = _digest(meta)
    path.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint(path)


# --- damage is an error, never a silent load -----------------------------------------------


@pytest.fixture
def saved(tmp_path):
    model, opt, sched = _trained()
    return save_checkpoint(tmp_path, model=model, optimizer=opt, scheduler=sched, epoch=1,
                           step=3)


def _untouched_after(fn):
    model, opt, sched = _fresh()
    before = _bits(model)
    with pytest.raises(CheckpointError) as err:
        fn(model, opt, sched)
    assert _bits(model) == before  # nothing was copied in
    return str(err.value)


def test_a_truncated_npz_is_a_clear_error(saved):
    npz = saved.with_suffix(".npz")
    npz.write_bytes(npz.read_bytes()[:-100])
    text = _untouched_after(lambda m, o, s: load_checkpoint(saved).restore(m, o, s))
    assert "is corrupt" in text and str(saved) in text and "sha256" in text
    assert "truncated or changed" in text


def test_one_flipped_byte_in_the_npz_is_a_clear_error(saved):
    npz = saved.with_suffix(".npz")
    data = bytearray(npz.read_bytes())
    data[len(data) // 2] ^= 0x01
    npz.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="is corrupt: .*sha256"):
        load_checkpoint(saved)


def test_a_truncated_json_is_a_clear_error(saved):
    saved.write_text(saved.read_text()[:200])
    with pytest.raises(CheckpointError, match="is corrupt: not valid JSON"):
        load_checkpoint(saved)


def test_an_edited_json_fails_its_own_checksum(saved):
    meta = json.loads(saved.read_text())
    meta["step"] = 4
    saved.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        load_checkpoint(saved)


def test_a_missing_npz_a_foreign_json_and_a_missing_file_are_clear_errors(saved, tmp_path):
    saved.with_suffix(".npz").unlink()
    with pytest.raises(CheckpointError, match="is incomplete: its arrays file .* is missing"):
        load_checkpoint(saved)
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    with pytest.raises(CheckpointError, match="is not a tinytorch checkpoint"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "ckpt-e0009-s00000009.json")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        load_checkpoint(empty)


def test_a_newer_format_version_is_refused(saved):
    meta = json.loads(saved.read_text())
    meta["version"] = 2
    saved.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="format version 2; this tinytorch reads "
                                              "version 1"):
        load_checkpoint(saved)


def test_loading_a_folder_takes_the_newest_and_a_corrupt_newest_names_the_one_before(
        tmp_path):
    model, opt, sched = _trained()
    first = save_checkpoint(tmp_path, model=model, epoch=1, step=3)
    second = save_checkpoint(tmp_path, model=model, epoch=2, step=6)
    assert load_checkpoint(tmp_path).path == second
    second.with_suffix(".npz").write_bytes(b"garbage")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path)
    assert "is corrupt" in str(err.value)
    assert f"the checkpoint before it is {first}" in str(err.value)
    assert load_checkpoint(first).step == 3


def test_a_checkpoint_for_another_model_or_optimiser_is_refused_before_any_copy(saved):
    tt.manual_seed(0)
    other = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    before = _bits(other)
    ckpt = load_checkpoint(saved)
    with tt.testing.no_kernel_runs(), \
            pytest.raises(CheckpointError, match="does not fit this model") as err:
        ckpt.restore(other)  # refused before the copy kernel runs for any parameter
    assert "size mismatch for 0.weight" in str(err.value)
    assert _bits(other) == before
    model, _, sched = _fresh()
    with pytest.raises(CheckpointError, match="state of a Adam optimiser, not of a SGD"):
        load_checkpoint(saved).restore(model, tt.optim.SGD(model.parameters()))
    with pytest.raises(CheckpointError, match="holds a StepLR state, not a "
                                              "CosineAnnealingLR's"):
        opt = tt.optim.Adam(model.parameters())
        load_checkpoint(saved).restore(
            model, opt, tt.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3))
    with pytest.raises(CheckpointError, match="no state for the random generator 'loader'"):
        load_checkpoint(saved).restore(model, generators={"loader": np.random.default_rng()})


def test_save_checks_its_arguments_before_writing(tmp_path):
    model, opt, _ = _trained()
    with pytest.raises(TypeError, match="model must be an nn.Module, got dict"):
        save_checkpoint(tmp_path, model={})
    with pytest.raises(TypeError, match="optimizer must be a tt.optim optimizer"):
        save_checkpoint(tmp_path, model=model, optimizer="adam")
    with pytest.raises(ValueError, match="epoch must be >= 0, got -1"):
        save_checkpoint(tmp_path, model=model, epoch=-1)
    with pytest.raises(TypeError, match="step must be an int, got float"):
        save_checkpoint(tmp_path, model=model, step=1.5)
    with pytest.raises(TypeError, match=r"generators\['g'\] must be a numpy.random.Generator"):
        save_checkpoint(tmp_path, model=model, generators={"g": 3})
    with pytest.raises(TypeError, match="metrics.*is a object"):
        save_checkpoint(tmp_path, model=model, metrics={"x": object()})
    assert list(tmp_path.iterdir()) == []


# --- keeping the last N and the best ----------------------------------------------------------


def test_the_manager_keeps_the_last_n_and_the_best(tmp_path):
    model, _, _ = _trained()
    manager = CheckpointManager(tmp_path, keep_last=2, keep_best=True, mode="min")
    losses = [0.9, 0.2, 0.5, 0.6, 0.7]
    for epoch, loss in enumerate(losses, start=1):
        manager.save(model=model, epoch=epoch, step=epoch * 10,
                     monitor={"name": "val_loss", "value": loss, "mode": "min"})
    names = [p.name for p in list_checkpoints(tmp_path)]
    assert names == ["ckpt-e0002-s00000020.json", "ckpt-e0004-s00000040.json",
                     "ckpt-e0005-s00000050.json"]
    assert sorted(p.name for p in tmp_path.glob("*.npz")) == \
        [n.replace(".json", ".npz") for n in names]
    assert manager.best().name == "ckpt-e0002-s00000020.json"
    assert manager.latest().name == "ckpt-e0005-s00000050.json"


def test_without_keep_best_only_the_last_n_stay(tmp_path):
    model, _, _ = _trained()
    manager = CheckpointManager(tmp_path, keep_last=1, keep_best=False)
    for epoch, acc in enumerate([0.9, 0.1], start=1):
        manager.save(model=model, epoch=epoch, step=epoch,
                     monitor={"name": "val_accuracy", "value": acc, "mode": "max"})
    assert [p.name for p in list_checkpoints(tmp_path)] == ["ckpt-e0002-s00000002.json"]


def test_the_next_save_sweeps_away_the_leftovers_of_an_interrupted_write(tmp_path):
    model, _, _ = _trained()
    manager = CheckpointManager(tmp_path, keep_last=3)
    manager.save(model=model, epoch=1, step=1)
    (tmp_path / ".ckpt-e0002-s00000002.npz.abc123.tmp").write_bytes(b"half")
    (tmp_path / "ckpt-e0002-s00000002.npz").write_bytes(b"npz without its json")
    (tmp_path / "notes.txt").write_text("not ours")
    manager.save(model=model, epoch=2, step=2)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ckpt-e0001-s00000001.json", "ckpt-e0001-s00000001.npz",
        "ckpt-e0002-s00000002.json", "ckpt-e0002-s00000002.npz", "notes.txt"]
    assert load_checkpoint(tmp_path).step == 2


def test_manager_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="keep_last must be an int >= 1, got 0"):
        CheckpointManager(tmp_path, keep_last=0)
    with pytest.raises(ValueError, match="mode must be 'max' or 'min'"):
        CheckpointManager(tmp_path, mode="up")


# --- SIGKILL while writing ---------------------------------------------------------------------

# The child trains a short run and, at the chosen save, writes half of the chosen file into
# a temporary file in the checkpoint folder (the same name pattern tinytorch.io uses), tells
# the parent, and waits to be killed: a crash in the middle of a write, at a known moment.
CHILD = textwrap.dedent("""
    import os, sys, tempfile, time
    from pathlib import Path
    import tinytorch.train.checkpoint as C
    from tinytorch.config import load_config
    from tinytorch.train import experiment

    runs, marker, kill_at, part = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    real = C.atomic_write_bytes
    saves = [0]

    def write(path, data):
        path = Path(path)
        if path.suffix == ".npz":
            saves[0] += 1
        if saves[0] == kill_at and path.suffix == "." + part:
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.write(fd, data[: len(data) // 2])
            os.fsync(fd)
            marker.write_text(tmp)
            time.sleep(600)
        real(path, data)

    C.atomic_write_bytes = write
    cfg = load_config("digits_mlp", sys.argv[5:])
    experiment.train(cfg, runs_dir=runs, run_name="run", log=None, progress=False)
""")

SHORT = ["train.epochs=3", "data.train_subset=160", "data.test_subset=50", "model.hidden=16",
         "checkpoint.keep_last=2", "optim.lr=0.01"]


@pytest.mark.parametrize("part", ["npz", "json"])
def test_a_process_killed_while_writing_a_checkpoint_leaves_the_previous_one_resumable(
        tmp_path, part):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    marker = tmp_path / "writing"
    runs = tmp_path / "runs"
    child = subprocess.Popen([sys.executable, str(script), str(runs), str(marker), "2", part,
                              *SHORT], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert child.poll() is None, child.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the child never reached the second save"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == -signal.SIGKILL
    folder = runs / "run" / "checkpoints"
    names = sorted(p.name for p in folder.iterdir())
    assert Path(marker.read_text()).name in names  # the torn temporary file is there
    assert "ckpt-e0002-s00000010.json" not in names  # the second checkpoint never was
    if part == "json":
        assert "ckpt-e0002-s00000010.npz" in names  # its npz, without the JSON
    ckpt = load_checkpoint(runs / "run")
    assert (ckpt.epoch, ckpt.step) == (1, 5)

    resumed = E.resume(runs / "run", log=None, progress=False)
    assert resumed["epochs"] == 3
    fresh = E.train(load_config("digits_mlp", SHORT), runs_dir=tmp_path / "fresh", log=None,
                    progress=False)
    assert _bits(resumed["experiment"].model) == _bits(fresh["experiment"].model)
    # the next saves swept away the torn temporary file (and the npz without its JSON)
    left = sorted(p.name for p in folder.iterdir())
    stems = sorted(n[:-5] for n in left if n.endswith(".json"))
    assert left == sorted([f"{s}.json" for s in stems] + [f"{s}.npz" for s in stems])
    assert stems[-2:] == ["ckpt-e0002-s00000010", "ckpt-e0003-s00000015"]
