"""Optimiser update kernels: one SGD or Adam/AdamW step over one parameter, in place.

Every array is a flat 1-D C-contiguous view of ``N`` elements of one dtype: the parameter
``param`` and its state buffers are written in place (they are the outputs, so they come
first, except ``grad``, which is read only and sits where PyTorch puts it). The function layer
(``tinytorch.optim``) passes ``p._data.reshape(-1)`` of a contiguous parameter, checks every
shape and dtype, and passes the hyperparameters as keyword scalars.

SGD (PyTorch's rule; ``first`` is True on the first step, when the buffer is still empty)::

    d = g + weight_decay * p
    if momentum != 0:
        buf = d                                      if first
        buf = momentum * buf + (1 - dampening) * d   otherwise
        d = d + momentum * buf   if nesterov   else   buf
    p = p - lr * d

Adam / AdamW (``step`` counts from 1; ``decoupled`` picks AdamW's weight decay)::

    if decoupled:  p = p * (1 - lr * weight_decay)      (AdamW)
    else:          g = g + weight_decay * p             (Adam: L2 in the gradient)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    bc1 = 1 - beta1 ** step,   bc2 = 1 - beta2 ** step
    p = p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)

Cost per element, with ``s`` bytes per element (4 for float32): SGD does at most 7 FLOPs
and moves ``3 s`` bytes (read ``p``, ``g``; write ``p``), ``5 s`` with momentum (also read
and write ``buf``); Adam does about 15 FLOPs and a square root and moves ``7 s`` bytes (read
``p``, ``g``, ``m``, ``v``; write ``p``, ``m``, ``v``). Both are memory-bound: a few FLOPs
per byte, so the time of a step is the bytes it moves.

Which variant teaches what:

- **naive**: one element at a time, the update rule as written above: the specification.
- **jit**: the same loop compiled. It is *fused*: each element of each array is read once
  and written once, in one pass, with every intermediate (``d``, ``m``, the denominator) in
  a register. That is the minimum traffic, ``7 s`` bytes per element for Adam.
- **numpy**: the same rule as whole-array operations. Each operation is a separate pass over
  memory and most create a temporary array, so Adam moves about ``30 s`` bytes per element
  (counted at ``adam_step_numpy``): about four times the fused loop, which is the lesson
  PyTorch's ``fused=True`` optimisers teach as well.

>>> import numpy as np
>>> p, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
>>> sgd_step_naive(p, g, np.empty(0), lr=0.1, momentum=0.0, dampening=0.0,
...                nesterov=False, weight_decay=0.0, first=True)
>>> p.tolist()
[0.95, 2.1]
"""

import math

import numpy as np
from numba import njit


def _jit(fn):
    """The jit twin of a naive kernel: literally the same source, compiled on first call."""
    return njit(cache=True, error_model="numpy")(fn)


# --- naive ------------------------------------------------------------------------------

def sgd_step_naive(param, grad, momentum_buf, *, lr, momentum, dampening, nesterov,
                   weight_decay, first):
    # momentum_buf is only touched when momentum != 0 (the caller may pass an empty array)
    for i in range(param.shape[0]):
        d = grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            if first:
                b = d
            else:
                b = momentum * momentum_buf[i] + (1 - dampening) * d
            momentum_buf[i] = b
            if nesterov:
                d = d + momentum * b
            else:
                d = b
        param[i] = param[i] - lr * d


def adam_step_naive(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps,
                    weight_decay, step, decoupled):
    # The bias corrections are per step, not per element: computed once, outside the loop.
    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    step_size = lr / bias_correction1
    decay = 1 - lr * weight_decay
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if weight_decay != 0:
            if decoupled:
                p = p * decay
            else:
                g = g + weight_decay * p
        m = beta1 * exp_avg[i] + (1 - beta1) * g
        v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = p - step_size * m / (math.sqrt(v) / bias_correction2_sqrt + eps)


# --- jit --------------------------------------------------------------------------------
# Each jit kernel is its naive twin compiled (built in the table below with _jit()): the
# loop already reads and writes every array once, so compiling it is the fused kernel.


# --- numpy ------------------------------------------------------------------------------

def sgd_step_numpy(param, grad, momentum_buf, *, lr, momentum, dampening, nesterov,
                   weight_decay, first):
    d = grad if weight_decay == 0 else grad + weight_decay * param
    if momentum != 0:
        if first:
            momentum_buf[...] = d
        else:
            momentum_buf *= momentum
            momentum_buf += (1 - dampening) * d
        d = d + momentum * momentum_buf if nesterov else momentum_buf
    param -= lr * d


def adam_step_numpy(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps,
                    weight_decay, step, decoupled):
    # Passes over N elements (r = read, w = write), without weight decay: m *= b1 (r+w),
    # t = (1-b1)*g (r+w), m += t (2r+w), v *= b2 (r+w), t = g*g (r+w), t *= 1-b2 (r+w),
    # v += t (2r+w), s = sqrt(v) (r+w), s /= bc (r+w), s += eps (r+w), t = m/s (2r+w),
    # t *= step_size (r+w), p -= t (2r+w): 30 array-sized transfers, against 7 fused.
    bias_correction1 = 1 - beta1 ** step
    bias_correction2_sqrt = math.sqrt(1 - beta2 ** step)
    step_size = lr / bias_correction1
    g = grad
    if weight_decay != 0:
        if decoupled:
            param *= 1 - lr * weight_decay
        else:
            g = grad + weight_decay * param
    exp_avg *= beta1
    exp_avg += (1 - beta1) * g
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    denom = np.sqrt(exp_avg_sq)
    denom /= bias_correction2_sqrt
    denom += eps
    param -= step_size * (exp_avg / denom)


# --- table ------------------------------------------------------------------------------

sgd_step_jit = _jit(sgd_step_naive)
adam_step_jit = _jit(adam_step_naive)

KERNELS = {
    "sgd_step": {"naive": sgd_step_naive, "jit": sgd_step_jit, "numpy": sgd_step_numpy},
    "adam_step": {"naive": adam_step_naive, "jit": adam_step_jit, "numpy": adam_step_numpy},
}
