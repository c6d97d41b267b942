# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab06_training.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: the bias corrections are left out, so the first steps are far too small (m starts
# at (1 - beta1) g, v at (1 - beta2) g^2).


@profile
def adam_step(param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay,
              step, decoupled):
    for i in range(param.shape[0]):
        p = param[i]
        g = grad[i]
        if weight_decay != 0:
            if decoupled:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m = beta1 * exp_avg[i] + (1 - beta1) * g
        v = beta2 * exp_avg_sq[i] + (1 - beta2) * g * g
        exp_avg[i] = m
        exp_avg_sq[i] = v
        param[i] = p - lr * m / (math.sqrt(v) + eps)
