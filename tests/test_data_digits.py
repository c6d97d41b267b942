"""The embedded digits (module 05): shapes, dtypes, the fixed stratified split, the checksum,
no pickle on the load path, the file shipped as package data; Dataset and TensorDataset."""

import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data import Dataset, TensorDataset, datasets
from tinytorch.data.datasets import DIGITS_SHA256, Digits

ROOT = Path(__file__).resolve().parents[1]
PACKAGED = ROOT / "tinytorch" / "data" / "digits.npz"


@pytest.fixture(scope="module")
def raw():
    with np.load(PACKAGED, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@pytest.fixture(scope="module")
def make_digits():
    """scripts/make_digits.py as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("make_digits", ROOT / "scripts" /
                                                  "make_digits.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- shapes, dtypes, values -----------------------------------------------------------------


def test_the_archive_holds_what_digits_md_says(raw):
    assert sorted(raw) == ["images", "labels", "test_idx", "train_idx"]
    assert raw["images"].shape == (1797, 8, 8) and raw["images"].dtype == np.uint8
    assert raw["labels"].shape == (1797,) and raw["labels"].dtype == np.int64
    assert raw["images"].min() == 0 and raw["images"].max() == 16
    assert sorted(np.unique(raw["labels"]).tolist()) == list(range(10))
    assert 20_000 < PACKAGED.stat().st_size < 80_000  # a few tens of KB


@pytest.mark.parametrize("split,n", [("train", 1438), ("test", 359)])
def test_shapes_dtypes_and_values(split, n):
    ds = Digits(split)
    assert len(ds) == n
    image, label = ds[0]
    assert isinstance(image, tt.Tensor) and image.shape == (1, 8, 8)
    assert image.dtype == tt.float32 and type(label) is int and 0 <= label <= 9
    images, labels = ds.tensors()
    assert images.shape == (n, 1, 8, 8) and images.dtype == tt.float32
    assert labels.shape == (n,) and labels.dtype == tt.int64
    pixels = images.numpy()
    assert pixels.min() == 0.0 and pixels.max() == 1.0
    assert np.array_equal(pixels * 16, np.round(pixels * 16))  # counts / 16, exactly


def test_flatten_gives_rows_of_64():
    flat, square = Digits("test", flatten=True), Digits("test")
    assert flat[3][0].shape == (64,) and flat.tensors()[0].shape == (359, 64)
    assert np.array_equal(flat.tensors()[0].numpy(), square.tensors()[0].numpy().reshape(359, 64))


def test_items_agree_with_the_raw_file_and_with_tensors(raw):
    ds = Digits("train")
    images, labels = ds.tensors()
    for i in (0, 1, 700, len(ds) - 1, -1):
        image, label = ds[i]
        j = raw["train_idx"][i]
        assert label == raw["labels"][j] == labels[i].item()
        assert np.array_equal(image.numpy()[0] * 16, raw["images"][j])
        assert np.array_equal(image.numpy(), images[i].numpy())


def test_classes_and_repr():
    ds = Digits("test")
    assert ds.classes == [str(d) for d in range(10)]
    assert repr(ds) == "Digits(split='test', 359 images of 1x8x8, 10 classes)"


# --- the split ------------------------------------------------------------------------------


def test_splits_are_disjoint_and_cover_everything(raw):
    train, test = raw["train_idx"], raw["test_idx"]
    assert train.dtype == test.dtype == np.int64
    assert len(train) + len(test) == 1797
    assert not set(train.tolist()) & set(test.tolist())
    assert sorted(train.tolist() + test.tolist()) == list(range(1797))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(test) > 0)  # sorted


def test_the_split_is_stratified(raw):
    labels = raw["labels"]
    for c in range(10):
        n = int((labels == c).sum())
        n_test = int((labels[raw["test_idx"]] == c).sum())
        n_train = int((labels[raw["train_idx"]] == c).sum())
        assert n_test == round(0.2 * n) and n_train == n - n_test, c
        assert n_test > 0 and n_train > 0
    shares = [float((labels[raw["test_idx"]] == c).mean()) for c in range(10)]
    overall = [float((labels == c).mean()) for c in range(10)]
    assert np.allclose(shares, overall, atol=0.005)  # each class in proportion


def test_the_split_is_the_scripts_seeded_split(raw, make_digits):
    train, test = make_digits.stratified_split(raw["labels"])
    assert np.array_equal(train, raw["train_idx"]) and np.array_equal(test, raw["test_idx"])
    other_train, _ = make_digits.stratified_split(raw["labels"], seed=1)
    assert not np.array_equal(other_train, train)  # the seed is what fixes it


# --- the file: checksum, no pickle, reproducible bytes -------------------------------------


def test_the_packaged_file_matches_the_checksum_constant_and_digits_md():
    digest = hashlib.sha256(PACKAGED.read_bytes()).hexdigest()
    assert digest == DIGITS_SHA256
    md = (ROOT / "tinytorch" / "data" / "DIGITS.md").read_text()
    assert DIGITS_SHA256 in md
    for fact in ("10.24432/C50P49", "CC BY 4.0", "Alpaydin", "Kaynak", "1998",
                 "scripts/make_digits.py"):
        assert fact in md, fact


def test_the_script_rebuilds_the_same_bytes(raw, make_digits, tmp_path):
    out = tmp_path / "digits.npz"
    data = make_digits.write_npz(out, raw)
    assert hashlib.sha256(data).hexdigest() == DIGITS_SHA256
    assert out.read_bytes() == PACKAGED.read_bytes()


def test_the_script_reads_a_csv_into_checked_arrays(make_digits, raw, tmp_path):
    import gzip

    table = np.concatenate([raw["images"].reshape(1797, 64), raw["labels"][:, None]], axis=1)
    src = tmp_path / "digits.csv.gz"
    with gzip.open(src, "wt") as f:
        np.savetxt(f, table, fmt="%d", delimiter=",")
    images, labels = make_digits.read_csv(src)
    assert np.array_equal(images, raw["images"]) and np.array_equal(labels, raw["labels"])
    with gzip.open(src, "wt") as f:
        np.savetxt(f, table[:10], fmt="%d", delimiter=",")
    with pytest.raises(SystemExit, match="expected 1797 rows of 65 numbers"):
        make_digits.read_csv(src)


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_a_corrupted_copy_raises(tmp_path, damage):
    copy = tmp_path / "digits.npz"
    shutil.copyfile(PACKAGED, copy)
    assert len(Digits("test", path=copy)) == 359  # the intact copy loads
    data = bytearray(copy.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[:-100]
    else:
        data += b"\0"
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError) as info:
        Digits("train", path=copy)
    message = str(info.value)
    assert "is corrupt" in message and DIGITS_SHA256 in message
    assert hashlib.sha256(bytes(data)).hexdigest() in message and str(copy) in message


def test_loading_never_allows_pickle(monkeypatch):
    seen = []
    real_load = np.load

    def spy_load(*args, **kwargs):
        seen.append(kwargs.get("allow_pickle"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(np, "load", spy_load)
    Digits("train")
    assert seen == [False]


def test_the_archive_has_no_object_arrays():
    with zipfile.ZipFile(PACKAGED) as zf:
        names = sorted(zf.namelist())
        assert names == ["images.npy", "labels.npy", "test_idx.npy", "train_idx.npy"]
        for name in names:
            with zf.open(name) as member:  # read_array raises on an object array here
                arr = np.lib.format.read_array(member, allow_pickle=False)
                assert arr.dtype != np.dtype(object), name


# --- package data ---------------------------------------------------------------------------


def test_the_file_is_found_through_importlib_resources():
    root = resources.files("tinytorch.data")
    assert root.joinpath("digits.npz").is_file() and root.joinpath("DIGITS.md").is_file()
    data = root.joinpath("digits.npz").read_bytes()
    assert hashlib.sha256(data).hexdigest() == DIGITS_SHA256


def test_pyproject_ships_the_data_files():
    # a regex, not tomllib: the project supports Python 3.10, which has no tomllib
    text = (ROOT / "pyproject.toml").read_text()
    table = text.split("[tool.setuptools.package-data]", 1)[1].split("\n[", 1)[0]
    line = re.search(r'^"tinytorch\.data" = \[(.*)\]$', table, re.MULTILINE)
    assert line is not None, table
    assert set(re.findall(r'"([^"]+)"', line.group(1))) >= {"*.npz", "*.md"}


@pytest.mark.slow
def test_a_built_wheel_contains_the_data_and_loads_it(tmp_path):
    """Build a wheel from a copy of the sources (the build writes build/ and egg-info
    folders, which must not land in the working tree), install it into a folder, and load
    the digits from there with importlib.resources."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.nbi", "*.nbc", "*.pyc")
    for folder in ("tinytorch", "kernels", "labs"):
        shutil.copytree(ROOT / folder, src / folder, ignore=ignore)
    build = ("import sys; from setuptools import build_meta as b; "
             "print(b.build_wheel(sys.argv[1]))")
    subprocess.run([sys.executable, "-c", build, str(tmp_path / "dist")], cwd=src,
                   check=True, capture_output=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("tinytorch-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert {"tinytorch/data/digits.npz", "tinytorch/data/DIGITS.md"} <= names
        site = tmp_path / "site"
        zf.extractall(site)
    check = ("import sys; sys.path.insert(0, sys.argv[1]); import tinytorch.data.datasets as d; "
             "assert d.__file__.startswith(sys.argv[1]), d.__file__; "
             "print(len(d.Digits('test')))")
    out = subprocess.run([sys.executable, "-c", check, str(site)], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "359"


# --- bad input ------------------------------------------------------------------------------


def test_bad_split_names_list_the_allowed_ones():
    with pytest.raises(ValueError, match="unknown split 'validation'; allowed: 'train', "
                                         "'test'"):
        Digits("validation")
    with pytest.raises(TypeError, match=r"split must be a string, one of \['train', "
                                        r"'test'\], got int 0"):
        Digits(0)
    with pytest.raises(TypeError, match="flatten must be True or False, got 'yes'"):
        Digits("train", flatten="yes")


def test_bad_indices():
    ds = Digits("test")
    with pytest.raises(IndexError, match=r"index 359 is out of range for the test split "
                                         r"\(359 images\)"):
        ds[359]
    with pytest.raises(IndexError, match="index -360"):
        ds[-360]
    with pytest.raises(TypeError, match="Digits indices must be integers, got float"):
        ds[1.0]
    assert ds[np.int64(2)][1] == ds[2][1]


def test_a_missing_file_is_an_os_error(tmp_path):
    with pytest.raises(FileNotFoundError):
        Digits("train", path=tmp_path / "nope.npz")


# --- Dataset and TensorDataset ---------------------------------------------------------------


def test_dataset_base_names_what_is_missing():
    class Empty(Dataset):
        pass

    with pytest.raises(NotImplementedError, match="Empty must define __len__"):
        len(Empty())
    with pytest.raises(NotImplementedError, match="Empty must define __getitem__"):
        Empty()[0]


def test_tensor_dataset_serves_rows_as_views():
    x = tt.arange(12.0).reshape(4, 3)
    y = tt.tensor([0, 1, 2, 3])
    ds = TensorDataset(x, y)
    assert len(ds) == 4 and isinstance(ds, Dataset)
    row, label = ds[2]
    assert row.tolist() == [6.0, 7.0, 8.0] and label.item() == 2
    assert row.shares_storage(x)
    assert [t.shape for t in ds[1:3]] == [(2, 3), (2,)]


def test_tensor_dataset_bad_input():
    with pytest.raises(ValueError, match="tensor 0 has 3 rows, tensor 1 has 2 .*"
                                         r"\(shapes \(3, 2\), \(2,\)\)"):
        TensorDataset(tt.zeros(3, 2), tt.zeros(2))
    with pytest.raises(TypeError, match="argument 1 is a list, not a Tensor"):
        TensorDataset(tt.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="needs at least one tensor"):
        TensorDataset()
    with pytest.raises(ValueError, match="argument 0 is 0-d"):
        TensorDataset(tt.tensor(1.0))


def test_the_package_exports():
    assert tt.data.Dataset is Dataset and tt.data.TensorDataset is TensorDataset
    assert tt.data.datasets is datasets and datasets.Digits is Digits
