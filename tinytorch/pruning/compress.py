"""``compress_run``: prune a trained run's model, fine-tune it, measure it, save it -- the
whole of ``tinytorch compress RUN_DIR --prune AMOUNT [--structured] [--finetune EPOCHS]``
in one call, so the command itself only parses arguments and prints.

The model comes from the run's best checkpoint (or ``"latest"``, or a checkpoint path),
built from the run's own config; the data too (same split, same normalisation). The pruned
model goes to ``<run>/pruned/<name>.{json,npz}`` (``save_pruned``: the architecture in
JSON, so a structured-pruned model with new channel counts loads without a config), and
the JSON's ``meta`` records the settings and the accuracies.

>>> import tempfile
>>> from tinytorch.config import load_config
>>> from tinytorch.train.experiment import train
>>> cfg = load_config("digits_mlp", ["train.epochs=1", "data.train_subset=200"])
>>> run = train(cfg, runs_dir=tempfile.mkdtemp(), log=None, progress=False)["run_dir"]
>>> out = compress_run(run, 0.5, structured=True, finetune_epochs=1, log=None)
>>> out["path"].name, out["params_pruned"] < out["params_dense"]
('prune-0.5-structured.json', True)
"""

from __future__ import annotations

from pathlib import Path

import tinytorch as tt
from tinytorch.pruning.distill import accuracy, finetune
from tinytorch.pruning.magnitude import check_amount, sparsity
from tinytorch.pruning.serialize import save_pruned
from tinytorch.pruning.sparse import to_sparse
from tinytorch.pruning.structured import prune_model

__all__ = ["compress_run"]


def _params(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def compress_run(run_dir, amount: float, *, structured: bool = False,
                 finetune_epochs: int = 0, distill: bool = True, checkpoint: str = "best",
                 sparse: bool = False, lr: float | None = None, name: str | None = None,
                 backend: str | None = None, log=print) -> dict:
    """Prune the model of ``run_dir`` by ``amount`` (structured: channels; else global
    magnitude with masks), fine-tune it ``finetune_epochs`` epochs (with the unpruned model
    as teacher when ``distill``; ``lr`` defaults to 0.3 x the run's), optionally swap its
    Linear layers to CSR (``sparse``, above ``CSR_CROSSOVER``), save it and return
    ``{"path", "acc_dense", "acc_pruned", "acc_finetuned"?, "params_dense",
    "params_pruned", "sparsity", "checkpoint"}`` (test-split accuracies)."""
    from tinytorch.runs import Run  # noqa: PLC0415 (training machinery: load lazily)
    from tinytorch.train.checkpoint import CheckpointManager, load_checkpoint  # noqa: PLC0415
    from tinytorch.train.experiment import build  # noqa: PLC0415
    from tinytorch.train.trainer import MONITORS  # noqa: PLC0415

    amount = check_amount(amount, "compress_run()")
    if isinstance(finetune_epochs, bool) or not isinstance(finetune_epochs, int):
        raise TypeError(f"compress_run(): finetune_epochs must be an int, got "
                        f"{type(finetune_epochs).__name__}")
    if finetune_epochs < 0:
        raise ValueError(f"compress_run(): finetune_epochs must be >= 0, got "
                         f"{finetune_epochs}")
    run = Run.open(run_dir)
    cfg = run.config()
    if checkpoint in ("best", "latest"):
        manager = CheckpointManager(run.checkpoints_dir, mode=MONITORS[cfg.train.monitor])
        path = (manager.best() if checkpoint == "best" else None) or manager.latest()
        if path is None:
            load_checkpoint(run.checkpoints_dir)  # raises its "no checkpoint" error
    else:
        path = Path(checkpoint)
    ckpt = load_checkpoint(path)
    say = log or (lambda _line: None)
    with tt.backend(backend or cfg.backend):
        exp = build(cfg, None, progress=False, log=None)
        ckpt.restore(exp.model)
        dense = exp.model.eval()
        out = {"checkpoint": str(ckpt.path), "params_dense": _params(dense),
               "acc_dense": accuracy(dense, exp.data.test)}
        pruned = prune_model(dense, amount, structured=structured)
        out["acc_pruned"] = accuracy(pruned, exp.data.test)
        say(f"pruned {amount:.0%} ({'channels' if structured else 'weights'}): test "
            f"accuracy {out['acc_dense']:.4f} -> {out['acc_pruned']:.4f}")
        if finetune_epochs:
            tt.manual_seed(cfg.seed)
            finetune(pruned, exp.data.train, finetune_epochs,
                     teacher=dense if distill else None,
                     lr=cfg.optim.lr * 0.3 if lr is None else lr,
                     log=(lambda line: say(f"  finetune {line}")) if log else None)
            out["acc_finetuned"] = accuracy(pruned, exp.data.test)
            say(f"fine-tuned {finetune_epochs} epoch(s){' with distillation' if distill else ''}"
                f": test accuracy {out['acc_finetuned']:.4f}")
        if sparse:
            pruned = to_sparse(pruned)
    out["params_pruned"] = _params(pruned)
    out["sparsity"] = sparsity(pruned)["sparsity"]
    stem = name or f"prune-{amount:g}{'-structured' if structured else ''}"
    meta = {"run": str(run.path), "amount": amount, "structured": structured,
            "finetune_epochs": finetune_epochs, "distill": distill, "sparse": sparse,
            **{k: v for k, v in out.items() if k != "checkpoint"},
            "checkpoint": out["checkpoint"]}
    out["path"] = save_pruned(Path(run.path) / "pruned" / stem, pruned, meta=meta)
    say(f"saved {out['path']}")
    return out
