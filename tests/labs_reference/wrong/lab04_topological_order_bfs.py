# The one buggy function of a wrong lab for the grader self-tests: the test appends it to
# the reference lab04_autograd.py, where it replaces the correct definition.
# Bug: a breadth-first walk with a seen set: each node once, but a node reached first by
# a short path comes before nodes on a longer path that still feed it.
# See README.md beside this file.


def topological_order(root):
    order, seen, queue = [], {root}, [root]
    while queue:
        node = queue.pop(0)
        order.append(node)
        for nxt in node.next_functions:
            if nxt is not None and nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return order
