# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab01_tensor.py, where it replaces the correct definition.
# See README.md beside this file.


def expand_strides(shape: tuple, strides: tuple, new_shape: tuple) -> tuple:
    lead = len(new_shape) - len(shape)
    if lead < 0:
        raise ValueError(f"cannot expand {tuple(shape)} to {tuple(new_shape)}: fewer "
                         f"dimensions")
    result = [0] * lead
    for old, stride, new in zip(shape, strides, new_shape[lead:], strict=True):
        if old == new:
            result.append(stride)
        elif old == 1:
            result.append(stride)
        else:
            raise ValueError(f"cannot expand {tuple(shape)} to {tuple(new_shape)}: size "
                             f"{old} is not 1 and differs from {new}")
    return tuple(result)
