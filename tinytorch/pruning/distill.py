"""Knowledge distillation (Hinton, Vinyals and Dean, 2015) and the fine-tuning recipe that
recovers accuracy after pruning.

The pruned *student* learns from the hard labels and from the unpruned *teacher*'s softened
output distribution::

    p_t = softmax(teacher_logits / T)          (constants: the teacher is not trained)
    soft = KL(p_t || softmax(student_logits / T)) * T^2
         = T^2 / N * sum_n sum_c p_t[n, c] * (log p_t[n, c] - log_softmax(s / T)[n, c])
    hard = cross_entropy(student_logits, target)
    loss = alpha * soft + (1 - alpha) * hard

A temperature ``T > 1`` spreads the teacher's probability over the wrong classes too
("a 7 looks a bit like a 1"), which carries more information per example than the label;
the gradient of the soft term scales as ``1 / T^2``, hence the ``T^2`` that keeps the two
terms comparable when ``T`` changes. The loss is built from existing autograd ops
(``log_softmax``, ``softmax``, ``cross_entropy``, elementwise, sum), so its gradient needs no
new kernel; the KL is averaged over the batch (PyTorch's ``reduction="batchmean"``).

>>> import tinytorch as tt
>>> s = tt.tensor([[2.0, 0.5, -1.0]]); t = tt.tensor([[2.0, 0.5, -1.0]])
>>> round(distillation_loss(s, t, tt.tensor([0]), alpha=1.0).item(), 6)  # same logits
0.0
"""

from __future__ import annotations

import math
import time

import numpy as np

from tinytorch.autograd import no_grad
from tinytorch.nn import Module
from tinytorch.nn import functional as F
from tinytorch.pruning.magnitude import keep_masks
from tinytorch.tensor import Tensor

__all__ = ["distillation_loss", "finetune", "accuracy"]

_REALS = (int, float, np.integer, np.floating)


def _real(value, name: str, where: str) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, _REALS):
        raise TypeError(f"{where}: {name} must be a number, got "
                        f"{type(value).__name__} {value!r}")
    return float(value)


def _check(student, teacher, target, T, alpha) -> tuple[float, float]:
    where = "distillation_loss()"
    for name, x in (("student_logits", student), ("teacher_logits", teacher),
                    ("target", target)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{where}: {name} must be a Tensor, got {type(x).__name__}")
    if student.ndim != 2 or student.shape[0] == 0 or student.shape[1] == 0:
        raise ValueError(f"{where}: student_logits must be 2-D (batch, classes) with at "
                         f"least one row and one class, got shape {student.shape}")
    if not student.dtype.is_floating_point:
        raise TypeError(f"{where}: logits must be floating point, got {student.dtype.name}")
    if teacher.shape != student.shape or teacher.dtype != student.dtype:
        raise ValueError(f"{where}: teacher_logits ({teacher.dtype.name} {teacher.shape}) "
                         f"must match student_logits ({student.dtype.name} "
                         f"{student.shape})\nhint: the teacher and the student must see "
                         "the same batch and predict the same classes")
    n, c = student.shape
    if target._data.dtype.kind not in "iu":
        raise TypeError(f"{where}: target must hold class indices (int64), got "
                        f"{target.dtype.name}")
    if target.shape != (n,):
        raise ValueError(f"{where}: target must have shape ({n},), one class per row, got "
                         f"{target.shape}")
    labels = target._data
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= c):
        bad = int(labels[(labels < 0) | (labels >= c)][0])
        raise ValueError(f"{where}: target {bad} is out of range for {c} classes")
    return _check_knobs(T, alpha, where)


def _check_knobs(T, alpha, where: str) -> tuple[float, float]:
    T = _real(T, "T", where)
    if not (math.isfinite(T) and T > 0):
        raise ValueError(f"{where}: the temperature T must be a finite number > 0, got {T!r}")
    alpha = _real(alpha, "alpha", where)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"{where}: alpha must be in [0, 1] (the weight of the soft term), "
                         f"got {alpha!r}")
    return T, alpha


def distillation_loss(student_logits: Tensor, teacher_logits: Tensor, target: Tensor,
                      T: float = 4.0, alpha: float = 0.9) -> Tensor:
    """``alpha * KL(softmax(t/T) || softmax(s/T)) * T^2 + (1 - alpha) * CE(s, target)``,
    differentiable in ``student_logits`` (the teacher's logits are treated as constants).

    >>> import tinytorch as tt
    >>> s = tt.tensor([[1.0, 0.0], [0.0, 1.0]], requires_grad=True)
    >>> loss = distillation_loss(s, tt.tensor([[3.0, 0.0], [0.0, 3.0]]), tt.tensor([0, 1]))
    >>> round(loss.item(), 4)
    0.444
    >>> loss.backward(); s.grad.shape
    (2, 2)
    """
    T, alpha = _check(student_logits, teacher_logits, target, T, alpha)
    n = student_logits.shape[0]
    loss = None
    if alpha > 0.0:
        with no_grad():  # the teacher's side: constants of the graph
            t = teacher_logits.detach() * (1.0 / T)
            p_t = F.softmax(t, dim=1)
            log_p_t = F.log_softmax(t, dim=1)
        log_p_s = F.log_softmax(student_logits * (1.0 / T), dim=1)
        soft = (p_t * (log_p_t - log_p_s)).sum() * (alpha * T * T / n)
        loss = soft
    if alpha < 1.0:
        hard = F.cross_entropy(student_logits, target) * (1.0 - alpha)
        loss = hard if loss is None else loss + hard
    return loss


def _batch(x, what: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return Tensor(x)
    raise TypeError(f"finetune(): a batch must be (inputs, targets) tensors or arrays; the "
                    f"{what} are a {type(x).__name__}")


def accuracy(model: Module, loader) -> float:
    """The fraction of ``loader``'s samples whose largest logit is the label (eval mode,
    no graph; the model's mode is restored).

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> model = nn.Sequential(nn.Linear(2, 2))
    >>> 0.0 <= accuracy(model, [(tt.randn(4, 2), tt.tensor([0, 1, 0, 1]))]) <= 1.0
    True
    """
    if not isinstance(model, Module):
        raise TypeError(f"accuracy(): expected an nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    correct = seen = 0
    try:
        with no_grad():
            for x, y in loader:
                logits = model(_batch(x, "inputs"))
                labels = _batch(y, "targets").numpy()
                correct += int(np.count_nonzero(logits.numpy().argmax(1) == labels))
                seen += labels.shape[0]
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("accuracy(): the loader gave no samples")
    return correct / seen


def finetune(model: Module, loader, epochs: int, teacher: Module | None = None, *,
             optimizer=None, lr: float = 1e-3, T: float = 4.0, alpha: float = 0.9,
             val_loader=None, log=None) -> dict:
    """Train a pruned ``model`` for ``epochs`` passes over ``loader`` (``(inputs, targets)``
    batches), keeping its pruning masks (``keep_masks``) so pruned weights stay zero.
    With a ``teacher`` (the unpruned model) the loss is ``distillation_loss(..., T,
    alpha)``; without, plain cross-entropy. ``optimizer`` defaults to ``Adam(lr=lr)``.
    Returns ``{"history": [{"epoch", "train_loss", "seconds", "val_accuracy"?}]}``.

    >>> import tinytorch as tt
    >>> from tinytorch import nn
    >>> _ = tt.manual_seed(0)
    >>> x = tt.randn(32, 4); y = tt.tensor((x.numpy()[:, 0] > 0).astype("int64"))
    >>> teacher = nn.Sequential(nn.Linear(4, 2))
    >>> out = finetune(nn.Sequential(nn.Linear(4, 2)), [(x, y)], 3, teacher=teacher)
    >>> len(out["history"]), out["history"][-1]["train_loss"] > 0
    (3, True)
    """
    from tinytorch.optim import Adam, Optimizer  # noqa: PLC0415 (optim imports nn)

    if not isinstance(model, Module):
        raise TypeError(f"finetune(): model must be an nn.Module, got {type(model).__name__}")
    if teacher is not None and not isinstance(teacher, Module):
        raise TypeError(f"finetune(): teacher must be an nn.Module or None, got "
                        f"{type(teacher).__name__}")
    if isinstance(epochs, (bool, np.bool_)) or not isinstance(epochs, (int, np.integer)):
        raise TypeError(f"finetune(): epochs must be an int, got {type(epochs).__name__}")
    if epochs < 0:
        raise ValueError(f"finetune(): epochs must be >= 0, got {epochs}")
    if optimizer is None:
        optimizer = Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    elif not isinstance(optimizer, Optimizer):
        raise TypeError(f"finetune(): optimizer must be a tt.optim optimizer, got "
                        f"{type(optimizer).__name__}")
    if teacher is not None:
        _check_knobs(T, alpha, "finetune()")  # before any step
        teacher.eval()
    keeper = keep_masks(optimizer, model)
    history = []
    was_training = model.training
    try:
        for epoch in range(1, epochs + 1):
            model.train()
            start, total, seen = time.perf_counter(), 0.0, 0
            for x, y in loader:
                x, y = _batch(x, "inputs"), _batch(y, "targets")
                logits = model(x)
                if teacher is None:
                    loss = F.cross_entropy(logits, y)
                else:
                    with no_grad():
                        teacher_logits = teacher(x)
                    loss = distillation_loss(logits, teacher_logits, y, T, alpha)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.item() * y.shape[0]
                seen += y.shape[0]
            if seen == 0:
                raise ValueError("finetune(): the loader gave no batches")
            record = {"epoch": epoch, "train_loss": total / seen,
                      "seconds": time.perf_counter() - start}
            if val_loader is not None:
                record["val_accuracy"] = accuracy(model, val_loader)
            history.append(record)
            if log is not None:
                log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                             for k, v in record.items()))
    finally:
        keeper.remove()
        model.train(was_training)
    return {"history": history}
