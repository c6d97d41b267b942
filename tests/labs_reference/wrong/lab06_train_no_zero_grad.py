# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab06_training.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: no optimizer.zero_grad(), so backward() keeps adding into .grad and every batch
# steps with the sum of all gradients so far.


def train_epoch(model, optimizer, images, labels, batch_size: int, rng) -> float:
    order = rng.permutation(len(labels))
    losses = []
    for start in range(0, len(order), batch_size):
        index = order[start:start + batch_size]
        loss = F.cross_entropy(model(tt.tensor(images[index])), tt.tensor(labels[index]))
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return float(np.mean(losses))
