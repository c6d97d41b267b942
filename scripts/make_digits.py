"""Build ``tinytorch/data/digits.npz`` from the UCI handwritten digits (the 8x8 version).

Usage::

    pip download scikit-learn --no-deps --only-binary=:all: -d /tmp/skl
    unzip -j /tmp/skl/scikit_learn-*.whl sklearn/datasets/data/digits.csv.gz -d /tmp/skl
    python scripts/make_digits.py /tmp/skl/digits.csv.gz

The input is the data file scikit-learn ships (a copy of the UCI "Optical Recognition of
Handwritten Digits" test set, ``optdigits.tes``): 1,797 rows of 64 pixel counts (0..16,
row-major 8x8) and the digit. Only the data is taken, no code; nothing at run time needs
scikit-learn.

The output holds ``images`` (uint8, (1797, 8, 8)), ``labels`` (int64, (1797,)), and a fixed
stratified split as sorted index arrays ``train_idx`` and ``test_idx``: in each class, a
permutation from a seeded generator sends ``round(0.2 * n)`` images to the test split and
the rest to the training split.

The file is an ``np.savez_compressed``-style archive (a deflated zip of ``.npy`` files,
readable by ``np.load(..., allow_pickle=False)``) written with a fixed timestamp, so the
same input gives the same bytes, and the sha256 in ``tinytorch/data/datasets.py`` and
``DIGITS.md`` can be checked by rebuilding (``np.savez_compressed`` stamps the current time
into the zip, so its bytes, and hash, change on every run).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import sys
import zipfile
from pathlib import Path

import numpy as np

SEED = 20240917  # fixes the split; changing it changes the file and its sha256
TEST_FRACTION = 0.2
ROWS, SIDE, CLASSES = 1797, 8, 10
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tinytorch" / "data" / "digits.npz"


def read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images uint8 (N, 8, 8), labels int64 (N,))``, checked."""
    with gzip.open(path, "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    if table.shape != (ROWS, SIDE * SIDE + 1):
        sys.exit(f"{path}: expected {ROWS} rows of {SIDE * SIDE + 1} numbers, got "
                 f"{table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 16:
        sys.exit(f"{path}: pixel values must lie in 0..16, got {pixels.min()}..{pixels.max()}")
    if set(np.unique(labels).tolist()) != set(range(CLASSES)):
        sys.exit(f"{path}: labels must be the digits 0..9, got {np.unique(labels)}")
    return pixels.reshape(ROWS, SIDE, SIDE).astype(np.uint8), labels.astype(np.int64)


def stratified_split(labels: np.ndarray, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Sorted ``(train_idx, test_idx)``: ``round(TEST_FRACTION * n)`` of each class's ``n``
    images go to the test split, chosen by one seeded generator, class by class."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(CLASSES):
        members = rng.permutation(np.flatnonzero(labels == c))
        n_test = round(TEST_FRACTION * len(members))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return (np.sort(np.concatenate(train)).astype(np.int64),
            np.sort(np.concatenate(test)).astype(np.int64))


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> bytes:
    """A deflated zip of ``.npy`` members (what ``np.savez_compressed`` writes) with a fixed
    timestamp, so the bytes depend only on the arrays; returns the bytes written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w") as member:
                np.lib.format.write_array(member, np.ascontiguousarray(arr),
                                          allow_pickle=False)
    tmp.replace(path)
    return path.read_bytes()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_gz", type=Path, help="sklearn/datasets/data/digits.csv.gz")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write the archive (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    images, labels = read_csv(args.csv_gz)
    train_idx, test_idx = stratified_split(labels)
    data = write_npz(args.out, {"images": images, "labels": labels,
                                "train_idx": train_idx, "test_idx": test_idx})
    source = hashlib.sha256(args.csv_gz.read_bytes()).hexdigest()
    print(f"input  {args.csv_gz}  sha256 {source}")
    print(f"wrote  {args.out}  {len(data)} bytes  sha256 {hashlib.sha256(data).hexdigest()}")
    print(f"train  {len(train_idx)}  test {len(test_idx)}  per class (train/test): " +
          ", ".join(f"{c}:{(labels[train_idx] == c).sum()}/{(labels[test_idx] == c).sum()}"
                    for c in range(CLASSES)))


if __name__ == "__main__":
    main()
