"""The measurements behind docs/pruning.md: ``python -m tinytorch.pruning.measure``.

1. ``csr_crossover``: the jit CSR kernel (``csr_linear_forward``) against the dense jit
   kernel a ``Linear`` runs (``linear_forward``), on one ``N x K`` weight pruned to each
   sparsity, for each batch size: median microseconds of each, measured in one process in
   interleaved rounds (dense, CSR, dense, CSR, ...), so a noisy neighbour slows both.
2. ``structured_speedup``: the digits CNN trained by its config, pruned to half its
   channels (``prune_channels``), its forward pass timed against the original's the same
   way, and the test accuracy before pruning, right after, and after fine-tuning without
   and with distillation.

Timings are ratios on this machine, not constants: re-run the script where it matters.

>>> rows = csr_crossover(sizes=[(16, 16)], batches=[4], sparsities=[0.5], rounds=1,
...                      calls=2)
>>> sorted(rows[0])
['batch', 'csr_us', 'dense_us', 'density_nnz', 'k', 'n', 'sparsity', 'speedup']
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np

__all__ = ["interleaved", "csr_crossover", "crossover_sparsity", "structured_speedup",
           "main"]


def interleaved(fns: dict, rounds: int = 7, calls: int = 20) -> dict:
    """``{name: median seconds per call}``: each round runs every function ``calls`` times
    in turn (A, B, A, B, ...); the median over rounds of each per-call mean.

    >>> sorted(interleaved({"a": lambda: None, "b": lambda: None}, rounds=1, calls=1))
    ['a', 'b']
    """
    samples: dict = {name: [] for name in fns}
    for fn in fns.values():  # warm-up: compile, or load numba's cache
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            start = time.perf_counter()
            for _ in range(calls):
                fn()
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: float(np.median(v)) for name, v in samples.items()}


def csr_crossover(sizes=((512, 512),), batches=(32, 128, 256),
                  sparsities=(0.5, 0.7, 0.8, 0.9, 0.95, 0.99), dtype=np.float32,
                  rounds: int = 7, calls: int = 10, seed: int = 0) -> list[dict]:
    """One row per (size, batch, sparsity): dense and CSR microseconds and their ratio
    (``speedup`` > 1: CSR is faster). Calls the registered jit kernels directly."""
    from tinytorch.dispatch import kernel_for  # noqa: PLC0415
    from tinytorch.kernels.sparse import csr_from_dense  # noqa: PLC0415

    dense_kernel = kernel_for("linear_forward", "jit")[1]
    csr_kernel = kernel_for("csr_linear_forward", "jit")[1]
    rng = np.random.default_rng(seed)
    rows = []
    for n, k in sizes:
        for m in batches:
            x = rng.standard_normal((m, k)).astype(dtype)
            b = rng.standard_normal(n).astype(dtype)
            for s in sparsities:
                w = rng.standard_normal((n, k)).astype(dtype)
                # exactly round(s * n * k) zeros, as magnitude pruning leaves
                w.reshape(-1)[rng.permutation(n * k)[:int(round(s * n * k))]] = 0
                indptr, indices, data = csr_from_dense(w)
                out_d = np.empty((m, n), dtype)
                out_s = np.empty((m, n), dtype)
                t = interleaved({
                    "dense": lambda out_d=out_d, x=x, w=w, b=b: dense_kernel(out_d, x, w, b),
                    "csr": lambda out_s=out_s, x=x, p=indptr, i=indices, d=data, b=b:
                        csr_kernel(out_s, x, p, i, d, b),
                }, rounds=rounds, calls=calls)
                np.testing.assert_allclose(out_s, out_d, rtol=1e-3, atol=1e-3)
                rows.append({"n": n, "k": k, "batch": m, "sparsity": s,
                             "density_nnz": int(data.size), "dense_us": t["dense"] * 1e6,
                             "csr_us": t["csr"] * 1e6, "speedup": t["dense"] / t["csr"]})
    return rows


def crossover_sparsity(rows: list[dict]) -> dict:
    """``{(n, k, batch): the lowest measured sparsity from which CSR is faster at every
    higher measured sparsity}`` (None where it never is).

    >>> crossover_sparsity([{"n": 1, "k": 1, "batch": 1, "sparsity": s, "speedup": v}
    ...                     for s, v in [(0.5, 0.5), (0.8, 1.2), (0.9, 2.0)]])
    {(1, 1, 1): 0.8}
    """
    out = {}
    for key in sorted({(r["n"], r["k"], r["batch"]) for r in rows}):
        series = sorted((r["sparsity"], r["speedup"]) for r in rows
                        if (r["n"], r["k"], r["batch"]) == key)
        found = None
        for s, speedup in reversed(series):
            if speedup <= 1.0:
                break
            found = s
        out[key] = found
    return out


def _table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
    head = "| " + " | ".join(title for title, _ in columns) + " |"
    rule = "|" + "|".join("---:" for _ in columns) + "|"
    body = ["| " + " | ".join(fmt.format(**r) for _, fmt in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _forward_times(dense, pruned, images, batches, rounds, calls, threads,
                   taps=(None, 64)) -> list[dict]:
    """Forward microseconds of both models per batch size, on ``threads`` numba threads,
    for each value of the conv launcher's ``IM2COL_MIN_TAPS`` in ``taps`` (None: as
    committed). Why the second: halving the 24 input channels of the second convolution
    leaves 12 * 3 * 3 = 108 taps, under the committed 128, so the launcher sends the pruned
    layer to its direct kernel, which vectorises along a 4-wide plane; the what-if row
    shows the speed-up the im2col path gives it. The constant is restored afterwards."""
    import numba  # noqa: PLC0415

    import tinytorch as tt  # noqa: PLC0415
    from tinytorch.kernels import conv  # noqa: PLC0415

    saved_threads, saved_taps = numba.get_num_threads(), conv.IM2COL_MIN_TAPS
    numba.set_num_threads(threads or saved_threads)
    rows = []
    try:
        with tt.no_grad(), tt.backend("jit"):
            for m in batches:
                x = tt.tensor(images[:m])
                for value in taps:
                    conv.IM2COL_MIN_TAPS = saved_taps if value is None else value
                    t = interleaved({"dense": lambda x=x: dense(x),
                                     "pruned": lambda x=x: pruned(x)},
                                    rounds=rounds, calls=calls)
                    rows.append({"batch": m, "taps": conv.IM2COL_MIN_TAPS,
                                 "dense_us": t["dense"] * 1e6, "pruned_us": t["pruned"] * 1e6,
                                 "speedup": t["dense"] / t["pruned"]})
    finally:
        conv.IM2COL_MIN_TAPS = saved_taps
        numba.set_num_threads(saved_threads)
    return rows


def structured_speedup(amount: float = 0.5, epochs: int | None = None,
                       finetune_epochs: int = 5, batches=(32, 359), rounds: int = 9,
                       calls: int = 20, threads: int | None = 1, log=print) -> dict:
    """Train the digits CNN (``configs/digits_cnn.toml``), prune ``amount`` of its channels,
    and return the forward timings and accuracies (see the module docstring). ``threads``:
    numba's thread count while timing (1: stable numbers on a shared machine; None: as
    configured)."""
    import tinytorch as tt  # noqa: PLC0415
    from tinytorch.config import load_config  # noqa: PLC0415
    from tinytorch.pruning.distill import accuracy, finetune  # noqa: PLC0415
    from tinytorch.pruning.structured import prune_channels  # noqa: PLC0415
    from tinytorch.train.experiment import build  # noqa: PLC0415
    from tinytorch.train.models import count_parameters  # noqa: PLC0415

    overrides = [] if epochs is None else [f"train.epochs={epochs}"]
    cfg = load_config("digits_cnn", overrides)
    exp = build(cfg, log=None, progress=False)
    with tt.backend(cfg.backend):
        exp.trainer.fit(epochs=cfg.train.epochs)
        teacher = exp.model.eval()
        result = {"channels": list(cfg.model.channels), "amount": amount,
                  "acc_dense": accuracy(teacher, exp.data.test)}
        pruned = prune_channels(teacher, amount)
        result["channels_pruned"] = [m.out_channels for m in pruned
                                     if isinstance(m, tt.nn.Conv2d)]
        result["params_dense"] = count_parameters(teacher)
        result["params_pruned"] = count_parameters(pruned)
        result["acc_pruned"] = accuracy(pruned, exp.data.test)
        for name, teach in (("acc_finetuned", None), ("acc_distilled", teacher)):
            student = copy.deepcopy(pruned)
            tt.manual_seed(cfg.seed)
            finetune(student, exp.data.train, finetune_epochs, teacher=teach,
                     lr=cfg.optim.lr * 0.3)
            result[name] = accuracy(student, exp.data.test)
        images = np.concatenate([x.numpy() for x, _ in exp.data.test])
        pruned.eval()
        result["forward"] = _forward_times(teacher, pruned, images, batches, rounds, calls,
                                           threads)
    if log is not None:
        log(f"digits CNN channels {result['channels']} -> {result['channels_pruned']}")
    return result


def main(argv=None) -> None:
    """Print both tables as markdown (``--quick``: fewer sizes and rounds)."""
    parser = argparse.ArgumentParser(prog="python -m tinytorch.pruning.measure")
    parser.add_argument("--quick", action="store_true", help="a fast, rougher run")
    parser.add_argument("--skip-cnn", action="store_true", help="only the CSR table")
    parser.add_argument("--skip-csr", action="store_true", help="only the CNN table")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 9
    if not args.skip_csr:
        rows = csr_crossover(batches=(32, 256) if args.quick else (32, 128, 256),
                             rounds=rounds)
        print("CSR (jit) vs dense (jit) linear_forward, float32, 512 x 512 weight\n")
        print(_table(rows, [("batch", "{batch}"), ("sparsity", "{sparsity:.2f}"),
                            ("nnz", "{density_nnz}"), ("dense us", "{dense_us:.1f}"),
                            ("CSR us", "{csr_us:.1f}"), ("dense / CSR", "{speedup:.2f}x")]))
        print("\ncrossover (lowest sparsity from which CSR stays faster):")
        for (n, k, m), s in crossover_sparsity(rows).items():
            print(f"  {n}x{k}, batch {m}: {s}")
    if args.skip_cnn:
        return
    res = structured_speedup(epochs=5 if args.quick else None,
                             finetune_epochs=2 if args.quick else 5, rounds=rounds)
    print(f"\ndigits CNN, channels {res['channels']} -> {res['channels_pruned']} "
          f"(amount {res['amount']}), parameters {res['params_dense']} -> "
          f"{res['params_pruned']}\n")
    print(_table(res["forward"], [("batch", "{batch}"), ("IM2COL_MIN_TAPS", "{taps}"),
                                  ("dense us", "{dense_us:.0f}"),
                                  ("pruned us", "{pruned_us:.0f}"),
                                  ("speed-up", "{speedup:.2f}x")]))
    print(f"\ntest accuracy: dense {res['acc_dense']:.4f}, pruned {res['acc_pruned']:.4f}, "
          f"fine-tuned {res['acc_finetuned']:.4f}, fine-tuned with distillation "
          f"{res['acc_distilled']:.4f}")


if __name__ == "__main__":
    main()
