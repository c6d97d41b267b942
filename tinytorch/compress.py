"""``tinytorch compress RUN_DIR``: compress a trained run's model and measure what it buys.

From a run directory made by ``tinytorch train`` it loads the best checkpoint (the float32
model), then builds the variants asked for:

- ``int8``: post-training quantisation (``tinytorch.quantization``): weights per output
  channel, activations calibrated on training batches; the layers run on int8 kernels;
- ``pruned``: magnitude pruning (masks, same shapes; ``--structured``: whole channels and
  neurons removed, so the dense layers shrink), optionally fine-tuned with distillation
  from the float model (``tinytorch.pruning``);
- ``pruned+int8`` when both are asked for: the pruned (and fine-tuned) model, quantised.

Each variant is written next to the original, in ``RUN_DIR/compressed/`` (``.npz`` arrays
plus a ``.json`` description, atomic writes, no pickle), and measured the same way: its
parameter count, its bytes on disk (both files), its accuracy on the test split and its
latency per batch on the jit backend (median of interleaved rounds: every variant is timed
in each round, so a slow phase of the machine hits all of them), and the speed-up against
float32 from those medians.

>>> rows = [{"variant": "float32", "parameters": 10, "bytes": 400, "accuracy": 0.9,
...          "latency_s": 2e-4, "speedup": 1.0, "path": "m.json"}]
>>> print(format_table(rows).splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
variant  parameters  bytes on disk  test accuracy  latency/batch (jit)  speed-up
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

import tinytorch as tt
from tinytorch.nn import Module

__all__ = ["compress_run", "format_table", "measure_latency", "COMPRESSED_DIR"]

COMPRESSED_DIR = "compressed"  # inside the run directory


def _check_options(quantize, prune, structured, finetune, calibration_batches=1,
                   rounds=1) -> None:
    """Every option checked before anything is loaded or trained."""
    from tinytorch.pruning.magnitude import check_amount  # noqa: PLC0415

    if quantize not in (None, "int8"):
        raise ValueError(f"compress: quantize must be 'int8' or None, got {quantize!r}")
    if prune is not None:
        check_amount(prune, "compress --prune")
    if not isinstance(structured, bool):
        raise TypeError(f"compress: structured must be True or False, got {structured!r}")
    if structured and prune is None:
        raise ValueError("compress: --structured needs --prune AMOUNT (the fraction of "
                         "channels to remove)")
    if isinstance(finetune, bool) or not isinstance(finetune, int) or finetune < 0:
        raise ValueError(f"compress: finetune must be an int >= 0 (epochs), got {finetune!r}")
    if finetune and prune is None:
        raise ValueError("compress: --finetune EPOCHS recovers accuracy after pruning; give "
                         "--prune AMOUNT too")
    for name, value in (("calibration_batches", calibration_batches), ("rounds", rounds)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"compress: {name} must be an int >= 1, got {value!r}")
    if quantize is None and prune is None:
        raise ValueError("compress: nothing to do; give --quantize int8, --prune AMOUNT, "
                         "or both")


def _load_run(run_dir, checkpoint: str):
    """(config, experiment, float model restored from the checkpoint)."""
    from tinytorch.train.experiment import build, run_checkpoint  # noqa: PLC0415

    cfg, ckpt = run_checkpoint(run_dir, checkpoint)
    exp = build(cfg, None, progress=False, log=None)
    ckpt.restore(exp.model)
    exp.model.eval()
    return cfg, exp, exp.model


def _disk_bytes(json_path: Path) -> int:
    """Both files of a saved model: the ``.json`` description and its ``.npz`` arrays."""
    return sum(p.stat().st_size for p in (json_path, json_path.with_suffix(".npz"))
               if p.exists())


def measure_latency(models: dict[str, Module], batch: np.ndarray, *, rounds: int = 15,
                    backend: str = "jit", warmup: int = 2) -> dict[str, float]:
    """Median seconds of one forward pass of each model on ``batch`` (no graph, eval
    mode), on ``backend``. Rounds interleave the models, so each round times every model
    within a few milliseconds of the others.

    >>> from tinytorch import nn
    >>> m = nn.Sequential(nn.Linear(4, 2))
    >>> t = measure_latency({"a": m}, np.zeros((8, 4), np.float32), rounds=3)
    >>> t["a"] > 0
    True
    """
    x = tt.tensor(batch)
    times: dict[str, list[float]] = {name: [] for name in models}
    with tt.backend(backend), tt.no_grad():
        for model in models.values():
            model.eval()
            for _ in range(warmup):  # compile, or load numba's cache, outside the timing
                model(x)
        for _ in range(rounds):
            for name, model in models.items():
                start = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _first_batch(loader) -> np.ndarray:
    x, _ = next(iter(loader))
    return x.numpy() if isinstance(x, tt.Tensor) else np.asarray(x)


def compress_run(run_dir, *, quantize: str | None = None, prune: float | None = None,
                 structured: bool = False, finetune: int = 0, checkpoint: str = "best",
                 calibration_batches: int = 16, rounds: int = 15,
                 log: Callable[[str], None] | None = print) -> list[dict]:
    """Compress the model of ``run_dir`` (see the module docstring) and return one row per
    variant: ``variant``, ``parameters``, ``bytes`` (on disk), ``accuracy`` (test split),
    ``latency_s`` (median per batch of ``batch`` test images, jit), ``speedup`` (float32's
    latency / this one's) and ``path`` (the ``.json`` written). Structured pruning and int8
    combine (``pruned50s+int8``); a magnitude-pruned model keeps its shapes and Linear
    layers above the CSR crossover run on CSR kernels, so it is not quantised as well.
    """
    _check_options(quantize, prune, structured, finetune, calibration_batches, rounds)
    from tinytorch import pruning  # noqa: PLC0415

    say = log or (lambda line: None)
    cfg, exp, model = _load_run(run_dir, checkpoint)
    out_dir = Path(run_dir) / COMPRESSED_DIR
    out_dir.mkdir(exist_ok=True)
    test = exp.data.test
    variants: dict[str, tuple[Module, Path]] = {}

    with tt.backend(cfg.backend):
        variants["float32"] = (model, pruning.save_pruned(out_dir / "float32", model))
        pruned = None
        if prune is not None:
            kind = "channels" if structured else "weights (global magnitude)"
            pruned = pruning.prune_model(model, prune, structured=structured)
            say(f"pruned {prune:.0%} of the {kind}: test accuracy "
                f"{pruning.accuracy(model, test):.4f} -> {pruning.accuracy(pruned, test):.4f}")
            if finetune:
                tt.manual_seed(cfg.seed)
                # a gentler rate than training from scratch: the weights are nearly there
                pruning.finetune(pruned, exp.data.train, finetune, teacher=model,
                                 lr=cfg.optim.lr * 0.3, log=lambda line: say("  " + line))
            pruned.eval()
            name = f"pruned{round(prune * 100)}" + ("s" if structured else "")
            if not structured:
                for _, layer in pruning.prunable_layers(pruned):  # fold the masks in
                    if pruning.is_pruned(layer):
                        pruning.remove(layer)
                pruned = pruning.to_sparse(pruned)  # Linear layers sparse enough: CSR
            variants[name] = (pruned, pruning.save_pruned(out_dir / name, pruned))
        if quantize is not None:
            from tinytorch import quantization  # noqa: PLC0415

            calibration = _calibration(exp.data.train, calibration_batches)
            for base_name, base in [("", model)] + ([(name, pruned)] if structured else []):
                label = f"{base_name}+int8" if base_name else "int8"
                say(f"quantising {base_name or 'float32'} to int8 (calibrating on "
                    f"{len(calibration)} batches) ...")
                qmodel = quantization.quantize_model(base, calibration)
                path = quantization.save_quantized(qmodel, out_dir / label.replace("+", "_"))
                variants[label] = (qmodel, path)

        say("measuring accuracy and latency ...")
        accuracy = {name: pruning.accuracy(m, test) for name, (m, _) in variants.items()}
    batch = _first_batch(test)
    latency = measure_latency({name: m for name, (m, _) in variants.items()}, batch,
                              rounds=rounds)
    rows = []
    for name, (m, path) in variants.items():
        rows.append({"variant": name, "parameters": _parameters(m, path),
                     "bytes": _disk_bytes(path), "accuracy": accuracy[name],
                     "latency_s": latency[name],
                     "speedup": latency["float32"] / latency[name], "batch": len(batch),
                     "path": str(path)})
    return rows


def _calibration(loader, batches: int) -> list:
    out = []
    for i, batch in enumerate(loader):
        if i >= batches:
            break
        out.append(batch)
    return out


def _parameters(model: Module, json_path: Path) -> int:
    """Parameters that are not zero-by-pruning count; for a saved model, what its JSON
    says (a quantised layer keeps its weights as int8 buffers, not Parameters)."""
    import json  # noqa: PLC0415

    record = json.loads(json_path.read_text(encoding="utf-8"))
    count = record.get("parameters")
    if isinstance(count, int):
        return count - int(record.get("zeros", 0))
    return int(sum(p.numel() for p in model.parameters()))


def format_table(rows: list[dict]) -> str:
    """One aligned line per variant."""
    header = ["variant", "parameters", "bytes on disk", "test accuracy",
              "latency/batch (jit)", "speed-up"]
    lines = [[r["variant"], f"{r['parameters']:,}", f"{r['bytes'] / 1024:.1f} KiB",
              f"{r['accuracy']:.4f}", f"{r['latency_s'] * 1e6:.0f} us",
              f"{r['speedup']:.2f}x"] for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join([f"{{:<{widths[0]}}}"] + [f"{{:>{w}}}" for w in widths[1:]])
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)
