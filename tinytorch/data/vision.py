"""Downloadable image data sets: ``MNIST``, ``FashionMNIST`` (IDX files, gzip) and
``CIFAR10`` (the *binary* distribution; never the pickled Python one) (module 05).

First use downloads the archives into the cache (``tinytorch.data.download``: mirrors,
sha256, atomic writes), then decompresses each split once into a raw ``.npy`` file of
uint8 pixels next to the archive. Every later use opens that file with
``np.load(mmap_mode="r")``: the images are a memory map, so constructing a data set reads
nothing, and a batch reads only the pages of its own images (47 MB for MNIST's training
images, 150 MB for CIFAR-10's, never copied into memory whole).

Cache layout (``data_root()``: ``$TINYTORCH_DATA``, else ``$XDG_CACHE_HOME/tinytorch``,
else ``~/.cache/tinytorch``)::

    mnist/          train-images-idx3-ubyte.gz  train-images-idx3-ubyte.npy  (N, 1, 28, 28)
                    train-labels-idx1-ubyte.gz  train-labels-idx1-ubyte.npy  (N,)
                    t10k-images-idx3-ubyte.gz   ...
    fashion-mnist/  the same four names
    cifar-10/       cifar-10-binary.tar.gz      train-images.npy (N, 3, 32, 32), train-labels.npy,
                                                test-images.npy, test-labels.npy

``ds[i]`` is ``(image, label)``: the image a float32 ``(C, H, W)`` tensor in ``[0, 1]``
(then ``transform``, if given), the label an int. ``ds.tensors()`` is the stored data, the
uint8 pixels as a memory-mapped tensor and the int64 labels; ``ds.transform_batch`` turns
gathered rows into what ``ds[i]`` gives, a whole batch at a time, which is what
``DataLoader``'s fast path calls (a ``transform`` therefore sees one image ``(C, H, W)`` from
``ds[i]`` and a batch ``(N, C, H, W)`` from the loader: every transform in
``tinytorch.data.transforms`` takes both).

>>> from tinytorch.data.vision import MNIST
>>> MNIST.classes[:3], [f.name for f in MNIST.remote_files("test")]
(['0', '1', '2'], ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
"""

from __future__ import annotations

import contextlib
import gzip
import os
import struct
import tarfile
import zlib
from pathlib import Path, PurePosixPath

import numpy as np

from tinytorch import dtypes as dt
from tinytorch.data.dataset import Dataset
from tinytorch.data.download import RemoteFile, atomic_write, data_root, fetch_all
from tinytorch.data.transforms import ToDtype
from tinytorch.tensor import Tensor

__all__ = ["MNIST", "FashionMNIST", "CIFAR10", "read_idx_to_npy", "read_cifar_to_npy"]

SPLITS = ("train", "test")


# --- raw formats -> .npy ----------------------------------------------------------------


def _write_npy_header(f, shape: tuple) -> int:
    """Write a ``.npy`` header for a C-ordered uint8 array of ``shape``; returns the offset
    of the data (the pixels are then written as raw bytes, in pieces)."""
    np.lib.format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False,
                                             "shape": tuple(int(s) for s in shape)})
    return f.tell()


def read_idx_to_npy(source, dest, *, kind: str, image_size: tuple = (28, 28),
                    num_classes: int = 10) -> tuple:
    """Decompress the IDX file ``source`` (gzip) into the ``.npy`` file ``dest``, streaming
    (1 MiB at a time) and atomically; returns the array's shape.

    ``kind="images"`` expects magic 0x00000803 (uint8, 3 dims) and ``image_size`` rows and
    columns, stored as ``(N, 1, rows, cols)``; ``kind="labels"`` expects 0x00000801 (uint8,
    1 dim) and values below ``num_classes``. Any other header, a short payload or trailing
    bytes raise ValueError naming the file and what was expected.
    """
    source = Path(source)
    ndim = {"images": 3, "labels": 1}[kind]
    expected_magic = 0x800 + ndim
    try:
        with gzip.open(source, "rb") as f:
            head = f.read(4)
            magic = int.from_bytes(head, "big") if len(head) == 4 else None
            if magic != expected_magic:
                got = "a file shorter than 4 bytes" if magic is None else f"0x{magic:08x}"
                raise ValueError(
                    f"{source}: not an IDX {kind} file: magic number {got}, expected "
                    f"0x{expected_magic:08x} (uint8 data, {ndim} dimension"
                    f"{'s' if ndim > 1 else ''})\nhint: the file is damaged or is not "
                    f"what its name says; delete it and download it again")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) != 4 * ndim:
                raise ValueError(f"{source}: IDX header cut short: {len(raw_dims)} of the "
                                 f"{4 * ndim} bytes of dimension sizes")
            dims = struct.unpack(f">{ndim}I", raw_dims)
            if kind == "images" and tuple(dims[1:]) != tuple(image_size):
                raise ValueError(f"{source}: IDX images of {dims[1]}x{dims[2]} pixels, "
                                 f"expected {image_size[0]}x{image_size[1]}")
            shape = (dims[0], 1, *dims[1:]) if kind == "images" else (dims[0],)
            total = int(np.prod(shape))
            with atomic_write(dest) as out:
                _write_npy_header(out, shape)
                done = 0
                while done < total:
                    chunk = f.read(min(1 << 20, total - done))
                    if not chunk:
                        raise ValueError(f"{source}: IDX payload cut short: the header "
                                         f"promises {shape} = {total:,} bytes, the file has "
                                         f"{done:,}")
                    if kind == "labels":
                        top = max(chunk)
                        if top >= num_classes:
                            raise ValueError(f"{source}: label {top} found; labels are "
                                             f"0..{num_classes - 1}")
                    out.write(chunk)
                    done += len(chunk)
                if f.read(1):
                    raise ValueError(f"{source}: bytes after the {total:,} that the IDX "
                                     f"header {shape} promises")
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{source}: cannot decompress ({type(err).__name__}: {err})\nhint: "
                         "delete it and download it again") from None
    return shape


CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte, then 1024 red, 1024 green, 1024 blue (row-major)
CIFAR_MEMBERS = {"train": [f"data_batch_{k}.bin" for k in range(1, 6)],
                 "test": ["test_batch.bin"]}


def read_cifar_to_npy(archive, folder, *, num_classes: int = 10) -> dict:
    """Read ``data_batch_1..5.bin`` and ``test_batch.bin`` from the CIFAR-10 binary
    ``archive`` (``.tar.gz``) into ``train-images.npy`` ``(N, 3, 32, 32)``,
    ``train-labels.npy``, ``test-images.npy`` and ``test-labels.npy`` in ``folder``,
    streaming and atomically; returns ``{split: number of images}``.

    Each record is 3,073 bytes: the label, then the 32x32 red, green and blue planes, so
    the pixels are CHW already. A missing member, a member whose size is not a whole number
    of records, or a label above 9 raise ValueError naming the archive and the member.
    Members are read with ``extractfile``: nothing is unpacked to disk, and member names are
    never used as paths.
    """
    archive, folder = Path(archive), Path(folder)
    counts = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            by_name = {PurePosixPath(m.name).name: m for m in tar.getmembers() if m.isfile()}
            chosen = {}
            for split, names in CIFAR_MEMBERS.items():  # check every member before writing
                members = chosen[split] = []
                for name in names:
                    member = by_name.get(name)
                    if member is None:
                        every = ", ".join(n for ns in CIFAR_MEMBERS.values() for n in ns)
                        raise ValueError(f"{archive}: no member {name} (expected "
                                         f"cifar-10-batches-bin/{name}; the archive must "
                                         f"hold {every})\nhint: is this the binary "
                                         "version, cifar-10-binary.tar.gz?")
                    if member.size % CIFAR_RECORD:
                        raise ValueError(f"{archive}: member {member.name} has {member.size:,}"
                                         f" bytes, not a whole number of {CIFAR_RECORD}-byte "
                                         "records (label + 3x32x32 pixels)")
                    members.append(member)
            for split, members in chosen.items():
                n = sum(m.size // CIFAR_RECORD for m in members)
                labels = np.empty(n, np.uint8)
                with atomic_write(folder / f"{split}-images.npy") as out:
                    _write_npy_header(out, (n, 3, 32, 32))
                    row = 0
                    for member in members:
                        src = tar.extractfile(member)
                        left = member.size // CIFAR_RECORD
                        while left:
                            take = min(left, 1024)
                            data = src.read(take * CIFAR_RECORD)
                            if len(data) != take * CIFAR_RECORD:
                                raise ValueError(f"{archive}: member {member.name} cut short")
                            records = np.frombuffer(data, np.uint8).reshape(take, CIFAR_RECORD)
                            top = int(records[:, 0].max())
                            if top >= num_classes:
                                raise ValueError(f"{archive}: member {member.name} holds "
                                                 f"label {top}; CIFAR-10 labels are "
                                                 f"0..{num_classes - 1}")
                            labels[row:row + take] = records[:, 0]
                            out.write(records[:, 1:].tobytes())
                            row += take
                            left -= take
                with atomic_write(folder / f"{split}-labels.npy") as out:
                    np.save(out, labels, allow_pickle=False)
                counts[split] = n
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{archive}: cannot read the archive ({type(err).__name__}: {err})"
                         "\nhint: delete it and download it again") from None
    return counts


# --- the data sets ----------------------------------------------------------------------


class _ImageDataset(Dataset):
    """What MNIST, FashionMNIST and CIFAR10 share: the split, the cache folder, the memory
    map, ``ds[i]``, ``tensors()`` and ``transform_batch``."""

    folder_name = ""
    classes: list[str] = []
    image_shape: tuple = ()

    def __init__(self, root=None, split: str = "train", download: bool = True,
                 transform=None, *, quiet: bool | None = None):
        who = f"{type(self).__name__}()"
        if not isinstance(split, str):
            raise TypeError(f"{who}: split must be a string, one of {list(SPLITS)}, got "
                            f"{type(split).__name__} {split!r}")
        if split not in SPLITS:
            raise ValueError(f"{who}: unknown split {split!r}; allowed: 'train', 'test'")
        if not isinstance(download, (bool, np.bool_)):
            raise TypeError(f"{who}: download must be True or False, got {download!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"{who}: transform must be callable (a transform such as "
                            f"Normalize(...)), got {type(transform).__name__}")
        self.split = split
        self.root = data_root(root)
        self.folder = self.root / self.folder_name
        self.transform = transform
        self._to_float = ToDtype(dt.float32, scale=True)
        images_path, labels_path = self._npy_paths(split)
        loaded = self._open(images_path, labels_path)
        if loaded is None:  # first use, or a derived file that does not open: (re)build it
            archives = fetch_all(self.remote_files(split), self.folder, download=bool(download),
                                 quiet=quiet, what=f"{type(self).__name__} {split}")
            try:
                self._build(split, archives)
            except BaseException:
                # all or nothing: a split whose images were written but whose labels were
                # bad must not look half-built to the next run
                for path in self._derived_paths():
                    with contextlib.suppress(OSError):
                        os.unlink(path)
                raise
            loaded = self._open(images_path, labels_path, strict=True)
        self._images, self._labels = loaded
        self._targets = Tensor(self._labels)

    # -- files -----------------------------------------------------------------------------
    @classmethod
    def remote_files(cls, split: str) -> list[RemoteFile]:
        raise NotImplementedError

    def _npy_paths(self, split: str) -> tuple[Path, Path]:
        raise NotImplementedError

    def _build(self, split: str, archives: list[Path]) -> None:
        raise NotImplementedError

    def _derived_paths(self) -> list[Path]:
        """Every file ``_build`` writes (removed again if it fails)."""
        return list(self._npy_paths(self.split))

    def _open(self, images_path: Path, labels_path: Path, strict: bool = False):
        """``(images memmap, int64 labels)`` from the derived files, or None when they are
        missing or do not open (then they are rebuilt); ``strict`` raises instead."""
        try:
            images = np.load(images_path, mmap_mode="r", allow_pickle=False)
            labels = np.load(labels_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as err:
            if strict:
                raise ValueError(f"{images_path.parent}: cannot open the decompressed "
                                 f"{self.split} files ({err})") from None
            return None
        if (images.dtype != np.uint8 or images.ndim != 4
                or images.shape[1:] != self.image_shape or labels.dtype != np.uint8
                or labels.shape != images.shape[:1]):
            if strict:
                raise ValueError(f"{images_path}: holds {images.dtype} {images.shape} and "
                                 f"{labels_path.name} {labels.dtype} {labels.shape}; "
                                 f"expected uint8 (N, {', '.join(map(str, self.image_shape))})"
                                 " and uint8 (N,)")
            for path in (images_path, labels_path):
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return None
        return images, labels.astype(np.int64)

    # -- samples ---------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, index):
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"{type(self).__name__} indices must be integers, got "
                            f"{type(index).__name__}")
        n = len(self._labels)
        if not -n <= index < n:
            raise IndexError(f"index {index} is out of range for the {self.split} split "
                             f"({n} images)")
        image = self._to_float(self._images[int(index)])  # (C, H, W) float32 array
        if self.transform is not None:
            image = self.transform(image)
        if isinstance(image, np.ndarray):
            image = Tensor(image)
        return image, int(self._labels[index])

    def tensors(self) -> tuple[Tensor, Tensor]:
        """``(images, labels)``: the stored uint8 pixels ``(N, C, H, W)``, a memory-mapped,
        read-only tensor, and the int64 labels ``(N,)``. Use ``transform_batch`` (or a
        ``DataLoader``) to get what ``ds[i]`` gives."""
        return Tensor(self._images), self._targets

    def transform_batch(self, arrays):
        """Rows gathered from ``tensors()`` (numpy ``(images, labels)``) as ``ds[i]`` would
        give them, for a whole batch at once: pixels to float32 in ``[0, 1]``, then
        ``transform`` on the ``(N, C, H, W)`` batch."""
        images, labels = arrays
        images = self._to_float.apply(images)
        if self.transform is not None:
            images = self.transform(images)
        return [images, labels]

    def __repr__(self) -> str:
        shape = "x".join(map(str, self.image_shape))
        return (f"{type(self).__name__}(split={self.split!r}, {len(self)} images of {shape}, "
                f"root={str(self.root)!r})")


class MNIST(_ImageDataset):
    """MNIST handwritten digits (LeCun, Cortes and Burges): 60,000 training and 10,000 test
    images of 28x28 grey pixels, labels 0..9. ``MNIST(root=None, split="train",
    download=True, transform=None)``; see the module docstring for the cache and the
    returned types."""

    folder_name = "mnist"
    classes = [str(d) for d in range(10)]
    image_shape = (1, 28, 28)
    mirrors = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
               "https://storage.googleapis.com/cvdf-datasets/mnist/",
               "http://yann.lecun.com/exdb/mnist/")
    # file -> (sha256, bytes); the sha256 is what makes a plain-http mirror safe to use
    resources = {
        "train-images-idx3-ubyte.gz":
            ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
        "train-labels-idx1-ubyte.gz":
            ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
        "t10k-images-idx3-ubyte.gz":
            ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        "t10k-labels-idx1-ubyte.gz":
            ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    }

    @staticmethod
    def _stems(split: str) -> tuple[str, str]:
        prefix = "train" if split == "train" else "t10k"
        return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"

    @classmethod
    def remote_files(cls, split: str) -> list[RemoteFile]:
        """The two archives of ``split``, with their checksums and mirrors."""
        return [RemoteFile(name, *cls.resources[name][:1], tuple(cls.mirrors),
                           cls.resources[name][1])
                for name in (f"{stem}.gz" for stem in cls._stems(split))]

    def _npy_paths(self, split: str) -> tuple[Path, Path]:
        images, labels = self._stems(split)
        return self.folder / f"{images}.npy", self.folder / f"{labels}.npy"

    def _build(self, split: str, archives: list[Path]) -> None:
        images_path, labels_path = self._npy_paths(split)
        n_images = read_idx_to_npy(archives[0], images_path, kind="images",
                                   image_size=self.image_shape[1:])[0]
        n_labels = read_idx_to_npy(archives[1], labels_path, kind="labels",
                                   num_classes=len(self.classes))[0]
        if n_images != n_labels:
            raise ValueError(f"{archives[0]} holds {n_images:,} images but {archives[1]} "
                             f"holds {n_labels:,} labels; they must match")


class FashionMNIST(MNIST):
    """Fashion-MNIST (Xiao, Rasul and Vollgraf, Zalando): MNIST's format and sizes, with
    pictures of ten kinds of clothing."""

    folder_name = "fashion-mnist"
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
    mirrors = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
               "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/"
               "fashion/")
    resources = {
        "train-images-idx3-ubyte.gz":
            ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
        "train-labels-idx1-ubyte.gz":
            ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
        "t10k-images-idx3-ubyte.gz":
            ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
        "t10k-labels-idx1-ubyte.gz":
            ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
    }


class CIFAR10(_ImageDataset):
    """CIFAR-10 (Krizhevsky, 2009): 50,000 training and 10,000 test colour images of 32x32
    pixels in ten classes, from the binary distribution ``cifar-10-binary.tar.gz`` (records
    of a label byte and 3,072 CHW pixel bytes; no pickle is ever read). ``CIFAR10(root=None,
    split="train", download=True, transform=None)``."""

    folder_name = "cifar-10"
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck"]
    image_shape = (3, 32, 32)
    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
    archive = ("cifar-10-binary.tar.gz",
               "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd", 170052171)

    @classmethod
    def remote_files(cls, split: str) -> list[RemoteFile]:
        """The one archive that holds both splits."""
        name, sha256, size = cls.archive
        return [RemoteFile(name, sha256, tuple(cls.mirrors), size)]

    def _npy_paths(self, split: str) -> tuple[Path, Path]:
        return self.folder / f"{split}-images.npy", self.folder / f"{split}-labels.npy"

    def _build(self, split: str, archives: list[Path]) -> None:
        read_cifar_to_npy(archives[0], self.folder, num_classes=len(self.classes))

    def _derived_paths(self) -> list[Path]:
        return [p for split in SPLITS for p in self._npy_paths(split)]
