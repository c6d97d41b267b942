# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab06_training.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the first step damps the new buffer too (buf = (1 - dampening) * d); PyTorch starts
# it at d.


@profile
def sgd_step(param, grad, momentum_buf, *, lr, momentum, dampening, nesterov,
             weight_decay, first):
    for i in range(param.shape[0]):
        d = grad[i]
        if weight_decay != 0:
            d = d + weight_decay * param[i]
        if momentum != 0:
            previous = 0.0 if first else momentum_buf[i]
            buf = momentum * previous + (1 - dampening) * d
            momentum_buf[i] = buf
            d = d + momentum * buf if nesterov else buf
        param[i] = param[i] - lr * d
