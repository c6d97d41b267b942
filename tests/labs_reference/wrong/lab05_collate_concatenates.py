# The one buggy function of a wrong lab for the grader self-tests: the test appends
# it to the reference lab05_data.py, where it replaces the correct definition.
# See README.md beside this file.

# Bug: np.concatenate joins the images along their existing first axis instead of
# stacking them along a new one: (1, 8, 8) images give (N, 8, 8), not (N, 1, 8, 8).


@profile
def collate(samples: list) -> tuple:
    if not samples:
        raise ValueError("collate(): needs at least one sample, got an empty list")
    images = [s[0].numpy() if isinstance(s[0], tt.Tensor) else np.asarray(s[0])
              for s in samples]
    for i, image in enumerate(images):
        if image.shape != images[0].shape:
            raise ValueError(f"collate(): sample {i} has shape {image.shape}, sample 0 has "
                             f"{images[0].shape}")
    labels = np.array([int(s[1]) for s in samples], dtype=np.int64)
    return np.concatenate(images), labels
