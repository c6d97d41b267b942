# The one buggy function of a wrong lab for the grader self-tests: the test appends it to
# the reference lab04_autograd.py, where it replaces the correct definition.
# Bug: adds the bytes of every saved tensor, so memory saved by several nodes (y = tanh(x)
# saved by tanh and by y * y) is counted several times.
# See README.md beside this file.


def saved_bytes(nodes):
    return sum(t.nbytes for node in nodes for t in saved_tensors_of(node))
