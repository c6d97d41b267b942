"""Downloads and the downloadable data sets (module 05), against an HTTP server that this
test starts on 127.0.0.1 and that serves files generated here in the real formats (IDX gzip
files, a CIFAR-10 binary tar.gz): mirrors tried in order after a 404, a truncated transfer
or a wrong checksum; every mirror bad gives one clear error and leaves nothing half-written;
the offline error says which files to put where; the cache folder; memory mapping; bad
headers that name the file and what was expected. No real host is contacted."""

import gzip
import http.server
import io
import os
import socket
import struct
import tarfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import tinytorch as tt
from tinytorch.data import CIFAR10, MNIST, DataLoader, FashionMNIST
from tinytorch.data import download as dl
from tinytorch.data import transforms as T
from tinytorch.data.vision import read_idx_to_npy
from tinytorch.testing import assert_close, assert_raises

# --- a local HTTP server ----------------------------------------------------------------


class Server:
    """Serves ``routes[path] = (body, mode)``; mode ``ok``, ``truncate`` (announces the
    whole length, sends half, hangs up) or ``404``. Records every path requested."""

    def __init__(self):
        self.routes: dict[str, tuple[bytes, str]] = {}
        self.hits: list[str] = []
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the stdlib's name)
                state.hits.append(self.path)
                body, mode = state.routes.get(self.path, (b"", "404"))
                if mode == "404":
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body[:len(body) // 2] if mode == "truncate" else body)
                self.close_connection = True

            def log_message(self, *args):  # keep the test output clean
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def serve(self, path: str, body: bytes, mode: str = "ok") -> None:
        self.routes[path] = (body, mode)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)  # 127.0.0.1 must be reached directly
    s = Server()
    yield s
    s.close()


def closed_port_url(path: str = "/") -> str:
    """A URL on 127.0.0.1 where nothing listens: a connection is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{path}"


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- files in the real formats ----------------------------------------------------------


def idx_images(images: np.ndarray, magic: int = 0x803) -> bytes:
    n, rows, cols = images.shape
    return gzip.compress(struct.pack(">IIII", magic, n, rows, cols) + images.tobytes(),
                         mtime=0)


def idx_labels(labels: np.ndarray, magic: int = 0x801) -> bytes:
    return gzip.compress(struct.pack(">II", magic, len(labels)) + labels.tobytes(), mtime=0)


def cifar_records(labels: np.ndarray, images: np.ndarray) -> bytes:
    return np.concatenate([labels[:, None], images.reshape(len(labels), -1)], axis=1).tobytes()


def cifar_archive(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_mnist(rng, n_train=12, n_test=5, size=28):
    data = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, size, size)).astype(np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        data[f"{prefix}-images-idx3-ubyte.gz"] = (idx_images(images), images)
        data[f"{prefix}-labels-idx1-ubyte.gz"] = (idx_labels(labels), labels)
    return data


def publish(server, monkeypatch, cls, files: dict[str, bytes], prefix="/data/",
            mirrors=None):
    """Serve ``files`` under ``prefix`` and point ``cls`` at them, with their checksums."""
    for name, body in files.items():
        server.serve(prefix + name, body)
    monkeypatch.setattr(cls, "mirrors", tuple(mirrors or (server.url(prefix),)))
    monkeypatch.setattr(cls, "resources", {name: (dl.sha256_bytes(body), len(body))
                                           for name, body in files.items()})


def spec_for(body: bytes, mirrors, name="blob.bin", size=True) -> dl.RemoteFile:
    return dl.RemoteFile(name, dl.sha256_bytes(body), tuple(mirrors),
                         len(body) if size else None)


# --- the cache folder -------------------------------------------------------------------


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("TINYTORCH_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert dl.data_root() == tmp_path / "home" / ".cache" / "tinytorch"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dl.data_root() == tmp_path / "xdg" / "tinytorch"
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "mine"))
    assert dl.data_root() == tmp_path / "mine"
    assert dl.data_root(tmp_path / "explicit") == tmp_path / "explicit"
    assert_raises(TypeError, lambda: dl.data_root(3), "path")


# --- fetch: mirrors, checksums, atomic writes --------------------------------------------


def test_fetch_downloads_verifies_and_then_uses_the_cache(server, tmp_path):
    body = os.urandom(3 * dl.CHUNK // 2)  # more than one read
    server.serve("/a/blob.bin", body)
    spec = spec_for(body, [server.url("/a/")])
    path = dl.fetch(spec, tmp_path / "cache")
    assert path.read_bytes() == body and leftovers(tmp_path / "cache") == ["blob.bin"]
    assert server.hits == ["/a/blob.bin"]
    assert dl.fetch(spec, tmp_path / "cache") == path
    assert server.hits == ["/a/blob.bin"]  # verified in place, not downloaded again


@pytest.mark.parametrize("first", ["404", "truncate", "wrong_checksum", "refused",
                                   "wrong_length"])
def test_a_bad_first_mirror_moves_on_to_the_next(server, tmp_path, first):
    body = os.urandom(5000)
    server.serve("/good/blob.bin", body)
    if first == "404":
        bad = server.url("/missing/")
    elif first == "refused":
        bad = closed_port_url("/")
    else:
        bad = server.url("/bad/")
        served = {"truncate": (body, "truncate"),
                  "wrong_checksum": (bytes(5000), "ok"),  # the right length, other bytes
                  "wrong_length": (body[:4000], "ok")}[first]
        server.serve("/bad/blob.bin", *served)
    path = dl.fetch(spec_for(body, [bad, server.url("/good/")]), tmp_path)
    assert path.read_bytes() == body
    assert leftovers(tmp_path) == ["blob.bin"]  # no temporary file from the failed try


def test_a_cut_transfer_without_a_known_size_is_caught_by_the_checksum(server, tmp_path):
    body = os.urandom(4000)
    server.serve("/x/blob.bin", body[:3000])  # a mirror holding a short copy
    err = assert_raises(dl.DownloadError, lambda: dl.fetch(
        spec_for(body, [server.url("/x/")], size=False), tmp_path), "sha256 mismatch",
        "3,000 bytes")
    assert "blob.bin" in str(err) and leftovers(tmp_path) == []


def test_every_mirror_bad_gives_one_error_that_says_what_to_do(server, tmp_path):
    body = os.urandom(2000)
    server.serve("/t/blob.bin", body, "truncate")
    server.serve("/w/blob.bin", bytes(2000))
    refused = closed_port_url("/r/")
    urls = [server.url("/t/"), server.url("/w/"), server.url("/404/"), refused]
    spec = spec_for(body, urls)
    err = assert_raises(dl.DownloadError, lambda: dl.fetch(spec, tmp_path / "c"),
                        "every mirror failed", "transfer cut short", "sha256 mismatch",
                        "HTTP 404", "cannot connect", "To install by hand",
                        str(tmp_path / "c" / "blob.bin"), spec.sha256, refused + "blob.bin",
                        "TINYTORCH_DATA")
    for url in urls:
        assert url + "blob.bin" in str(err)
    assert leftovers(tmp_path / "c") == []  # nothing half-written


def test_offline_error_lists_every_missing_file_of_a_data_set(tmp_path):
    specs = [spec_for(b"one", [closed_port_url("/m/")], "one.gz"),
             spec_for(b"two", [closed_port_url("/n/")], "two.gz")]
    err = assert_raises(dl.DownloadError,
                        lambda: dl.fetch_all(specs, tmp_path / "ds", what="Demo train"),
                        "Demo train files one.gz, two.gz", str(tmp_path / "ds" / "one.gz"),
                        str(tmp_path / "ds" / "two.gz"))
    assert "cannot connect" in str(err)
    err = assert_raises(FileNotFoundError,
                        lambda: dl.fetch_all(specs, tmp_path / "ds", download=False),
                        "download=False", "download=True", str(tmp_path / "ds" / "one.gz"))
    assert specs[1].sha256 in str(err)


def test_a_wrong_file_in_the_cache_is_an_error_not_replaced(server, tmp_path):
    (tmp_path / "blob.bin").write_bytes(b"hand-made")
    spec = spec_for(b"the real one", [server.url("/")])
    assert_raises(ValueError, lambda: dl.fetch(spec, tmp_path), str(tmp_path / "blob.bin"),
                  spec.sha256, "delete it")
    assert (tmp_path / "blob.bin").read_bytes() == b"hand-made" and server.hits == []


def test_stale_partial_files_are_removed_fresh_ones_kept(server, tmp_path):
    body = b"payload"
    server.serve("/blob.bin", body)
    stale, fresh = tmp_path / ".blob.bin.old.part", tmp_path / ".blob.bin.new.part"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"y")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    dl.fetch(spec_for(body, [server.url("/")]), tmp_path)
    assert not stale.exists() and fresh.exists()  # a younger one may be another download's


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with dl.atomic_write(target) as f:
            f.write(b"half of the new")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old" and leftovers(tmp_path) == ["f.bin"]
    with dl.atomic_write(target) as f:
        f.write(b"new")
    assert target.read_bytes() == b"new" and leftovers(tmp_path) == ["f.bin"]


def test_progress_bar_only_when_asked_or_on_a_terminal(server, tmp_path, capsys):
    body = os.urandom(1000)
    server.serve("/blob.bin", body)
    dl.fetch(spec_for(body, [server.url("/")]), tmp_path / "a")  # stderr is no TTY here
    assert capsys.readouterr().err == ""
    dl.fetch(spec_for(body, [server.url("/")]), tmp_path / "b", quiet=False)
    assert "blob.bin" in capsys.readouterr().err


def test_remote_file_is_validated():
    assert_raises(ValueError, lambda: dl.RemoteFile("../x", "0" * 64, ("u/",)), "plain file")
    assert_raises(ValueError, lambda: dl.RemoteFile("x", "ABC", ("u/",)), "64 lowercase hex")
    assert_raises(ValueError, lambda: dl.RemoteFile("x", "0" * 64, "http://h/"), "tuple")
    assert dl.RemoteFile("x", "0" * 64, ("http://h/y/x",)).urls() == ["http://h/y/x"]


# --- MNIST and Fashion-MNIST ------------------------------------------------------------


@pytest.mark.parametrize("cls", [MNIST, FashionMNIST])
def test_mnist_downloads_decompresses_once_and_memory_maps(server, monkeypatch, tmp_path,
                                                           rng, cls):
    data = make_mnist(rng)
    publish(server, monkeypatch, cls, {name: body for name, (body, _) in data.items()})
    train = cls(root=tmp_path, split="train")
    folder = tmp_path / cls.folder_name
    assert sorted(leftovers(folder)) == ["train-images-idx3-ubyte.gz",
                                         "train-images-idx3-ubyte.npy",
                                         "train-labels-idx1-ubyte.gz",
                                         "train-labels-idx1-ubyte.npy"]
    images, labels = train.tensors()
    raw_images = data["train-images-idx3-ubyte.gz"][1]
    raw_labels = data["train-labels-idx1-ubyte.gz"][1]
    assert isinstance(images.numpy(), np.memmap)  # mapped, not read whole
    assert Path(images.numpy().filename) == folder / "train-images-idx3-ubyte.npy"
    assert images.shape == (12, 1, 28, 28) and images.dtype == tt.uint8
    assert np.array_equal(images.numpy()[:, 0], raw_images)
    assert labels.dtype == tt.int64 and labels.tolist() == raw_labels.tolist()
    assert len(train) == 12 and len(cls.classes) == 10
    image, label = train[3]
    assert image.shape == (1, 28, 28) and image.dtype == tt.float32
    assert_close(image, raw_images[3][None] / np.float32(255))
    assert label == raw_labels[3] and type(label) is int
    assert_raises(IndexError, lambda: train[12], "out of range", "12 images")
    assert "images of 1x28x28" in repr(train)
    assert [h.rsplit("/", 1)[1] for h in server.hits] == ["train-images-idx3-ubyte.gz",
                                                          "train-labels-idx1-ubyte.gz"]
    assert len(cls(root=tmp_path, split="test")) == 5  # the test split's two archives
    # later constructions read the cache: no request, and no server needed at all
    server.close()
    again = cls(root=tmp_path, split="train")
    assert np.array_equal(again.tensors()[0].numpy(), images.numpy())
    assert len(cls(root=tmp_path, split="test")) == 5 and len(server.hits) == 4


def test_mnist_uses_tinytorch_data_and_a_transform(server, monkeypatch, tmp_path, rng):
    data = make_mnist(rng, n_train=4, n_test=3)
    publish(server, monkeypatch, MNIST, {name: body for name, (body, _) in data.items()})
    monkeypatch.setenv("TINYTORCH_DATA", str(tmp_path / "env"))
    ds = MNIST(split="test", transform=T.Normalize(0.5, 0.5))
    assert (tmp_path / "env" / "mnist" / "t10k-images-idx3-ubyte.npy").is_file()
    raw = data["t10k-images-idx3-ubyte.gz"][1]
    assert_close(ds[1][0], (raw[1][None] / np.float32(255) - 0.5) / 0.5)
    x, y = next(iter(DataLoader(ds, batch_size=3)))
    assert x.shape == (3, 1, 28, 28) and x.dtype == tt.float32 and y.dtype == tt.int64
    assert_close(x[1], ds[1][0])


def test_mnist_first_mirror_truncated_second_used(server, monkeypatch, tmp_path, rng):
    data = make_mnist(rng, n_train=3, n_test=2)
    files = {name: body for name, (body, _) in data.items()}
    for name, body in files.items():
        server.serve("/broken/" + name, body, "truncate")
    publish(server, monkeypatch, MNIST, files, prefix="/good/",
            mirrors=[server.url("/broken/"), server.url("/good/")])
    ds = MNIST(root=tmp_path, split="train")
    assert len(ds) == 3
    assert [h.split("/")[1] for h in server.hits] == ["broken", "good", "broken", "good"]
    assert not [n for n in leftovers(tmp_path / "mnist") if n.startswith(".")]


def test_mnist_offline_and_download_false_say_which_files_go_where(monkeypatch, tmp_path):
    monkeypatch.setattr(MNIST, "mirrors", (closed_port_url("/mnist/"),))
    folder = tmp_path / "mnist"
    err = assert_raises(dl.DownloadError, lambda: MNIST(root=tmp_path, split="test"),
                        "MNIST test", str(folder / "t10k-images-idx3-ubyte.gz"),
                        str(folder / "t10k-labels-idx1-ubyte.gz"),
                        MNIST.resources["t10k-images-idx3-ubyte.gz"][0], "1,648,877 bytes",
                        f"TINYTORCH_DATA at a folder whose mnist{os.sep} sub-folder")
    assert "train-images" not in str(err)
    assert_raises(FileNotFoundError, lambda: MNIST(root=tmp_path, download=False),
                  "download=True", str(folder / "train-images-idx3-ubyte.gz"))
    assert leftovers(folder) == []


@pytest.mark.parametrize("case,fragments", [
    ("magic", ["train-images-idx3-ubyte.gz", "not an IDX images file", "0x00000804",
               "expected 0x00000803"]),
    ("size", ["train-images-idx3-ubyte.gz", "27x27 pixels, expected 28x28"]),
    ("short", ["train-images-idx3-ubyte.gz", "cut short", "(4, 1, 28, 28)"]),
    ("trailing", ["train-images-idx3-ubyte.gz", "bytes after"]),
    ("label", ["train-labels-idx1-ubyte.gz", "label 12", "0..9"]),
    ("count", ["holds 4 images", "3 labels"]),
    ("not_gzip", ["train-images-idx3-ubyte.gz", "cannot decompress"]),
])
def test_bad_idx_files_name_the_file_and_what_was_expected(server, monkeypatch, tmp_path, rng,
                                                           case, fragments):
    images = rng.integers(0, 256, (4, 28, 28)).astype(np.uint8)
    labels = np.array([1, 2, 3, 4], np.uint8)
    image_file, label_file = idx_images(images), idx_labels(labels)
    if case == "magic":
        image_file = idx_images(images, magic=0x804)
    elif case == "size":
        image_file = idx_images(images[:, :27, :27])
    elif case == "short":
        image_file = gzip.compress(gzip.decompress(image_file)[:-100])
    elif case == "trailing":
        image_file = gzip.compress(gzip.decompress(image_file) + b"\0")
    elif case == "label":
        label_file = idx_labels(np.array([1, 12, 3, 4], np.uint8))
    elif case == "count":
        label_file = idx_labels(labels[:3])
    elif case == "not_gzip":
        image_file = b"<html>a captive portal page</html>"
    publish(server, monkeypatch, MNIST, {"train-images-idx3-ubyte.gz": image_file,
                                         "train-labels-idx1-ubyte.gz": label_file})
    assert_raises(ValueError, lambda: MNIST(root=tmp_path), *fragments)
    left = leftovers(tmp_path / "mnist")
    assert not [n for n in left if n.endswith(".npy") or n.startswith(".")], left


def test_read_idx_names_the_expected_labels_header(tmp_path):
    path = tmp_path / "labels.gz"
    path.write_bytes(idx_images(np.zeros((1, 28, 28), np.uint8)))  # images where labels go
    assert_raises(ValueError, lambda: read_idx_to_npy(path, tmp_path / "l.npy", kind="labels"),
                  str(path), "0x00000803", "expected 0x00000801", "1 dimension)")


def test_a_damaged_decompressed_file_is_rebuilt_from_the_archive(server, monkeypatch,
                                                                  tmp_path, rng):
    data = make_mnist(rng, n_train=6, n_test=2)
    publish(server, monkeypatch, MNIST, {name: body for name, (body, _) in data.items()})
    MNIST(root=tmp_path)
    npy = tmp_path / "mnist" / "train-images-idx3-ubyte.npy"
    npy.write_bytes(npy.read_bytes()[:300])  # as if a disk filled up under another tool
    hits = len(server.hits)
    ds = MNIST(root=tmp_path)
    assert np.array_equal(ds.tensors()[0].numpy()[:, 0], data["train-images-idx3-ubyte.gz"][1])
    assert len(server.hits) == hits  # rebuilt from the verified archive, not downloaded


def test_mnist_bad_arguments(tmp_path):
    assert_raises(ValueError, lambda: MNIST(root=tmp_path, split="val"), "'val'", "'train'")
    assert_raises(TypeError, lambda: MNIST(root=tmp_path, split=0), "split")
    assert_raises(TypeError, lambda: MNIST(root=tmp_path, download="yes"), "download")
    assert_raises(TypeError, lambda: MNIST(root=tmp_path, transform=3), "transform")
    assert leftovers(tmp_path) == []


# --- CIFAR-10 ---------------------------------------------------------------------------


def make_cifar(rng, per_batch=2, n_test=3):
    batches, members = {}, {}
    for name in [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]:
        n = n_test if name == "test_batch.bin" else per_batch
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = rng.integers(0, 256, (n, 3, 32, 32)).astype(np.uint8)
        batches[name] = (labels, images)
        members[name] = cifar_records(labels, images)
    members["batches.meta.txt"] = b"airplane\nautomobile\n"
    return batches, members


def publish_cifar(server, monkeypatch, body: bytes, mirrors=None):
    server.serve("/kriz/cifar-10-binary.tar.gz", body)
    monkeypatch.setattr(CIFAR10, "mirrors", tuple(mirrors or (server.url("/kriz/"),)))
    monkeypatch.setattr(CIFAR10, "archive", ("cifar-10-binary.tar.gz",
                                             dl.sha256_bytes(body), len(body)))


def test_cifar10_from_the_binary_archive(server, monkeypatch, tmp_path, rng):
    batches, members = make_cifar(rng)
    publish_cifar(server, monkeypatch, cifar_archive(members))
    train = CIFAR10(root=tmp_path, split="train")
    images, labels = train.tensors()
    assert isinstance(images.numpy(), np.memmap)
    assert images.shape == (10, 3, 32, 32) and images.dtype == tt.uint8
    order = [f"data_batch_{k}.bin" for k in range(1, 6)]
    assert np.array_equal(images.numpy(), np.concatenate([batches[b][1] for b in order]))
    assert labels.tolist() == np.concatenate([batches[b][0] for b in order]).tolist()
    # a record is label, then the red, green and blue planes: CHW, channel 0 is red
    record = np.frombuffer(members["data_batch_1.bin"][:3073], np.uint8)
    assert np.array_equal(images.numpy()[0, 0].ravel(), record[1:1025])
    assert np.array_equal(images.numpy()[0, 2].ravel(), record[2049:])
    test = CIFAR10(root=tmp_path, split="test")
    assert len(test) == 3 and server.hits == ["/kriz/cifar-10-binary.tar.gz"]
    image, label = test[2]
    assert image.shape == (3, 32, 32) and label == batches["test_batch.bin"][0][2]
    assert_close(image, batches["test_batch.bin"][1][2] / np.float32(255))
    assert sorted(leftovers(tmp_path / "cifar-10")) == [
        "cifar-10-binary.tar.gz", "test-images.npy", "test-labels.npy", "train-images.npy",
        "train-labels.npy"]
    assert CIFAR10.classes[0] == "airplane" and len(CIFAR10.classes) == 10


@pytest.mark.parametrize("case,fragments", [
    ("missing", ["cifar-10-binary.tar.gz", "no member test_batch.bin", "binary version"]),
    ("ragged", ["cifar-10-binary.tar.gz", "data_batch_3.bin", "3,078 bytes",
                "3073-byte records"]),
    ("label", ["cifar-10-binary.tar.gz", "data_batch_2.bin", "label 10", "0..9"]),
    ("not_tar", ["cifar-10-binary.tar.gz", "cannot read the archive"]),
])
def test_bad_cifar_archives_name_the_member_and_what_was_expected(server, monkeypatch,
                                                                   tmp_path, rng, case,
                                                                   fragments):
    _, members = make_cifar(rng, per_batch=1, n_test=1)
    if case == "missing":
        del members["test_batch.bin"]
    elif case == "ragged":
        members["data_batch_3.bin"] += b"12345"
    elif case == "label":
        members["data_batch_2.bin"] = b"\x0a" + members["data_batch_2.bin"][1:]
    body = b"not a tar at all" if case == "not_tar" else cifar_archive(members)
    publish_cifar(server, monkeypatch, body)
    assert_raises(ValueError, lambda: CIFAR10(root=tmp_path), *fragments)
    left = leftovers(tmp_path / "cifar-10")
    assert left == ["cifar-10-binary.tar.gz"], left  # the verified download, nothing derived


def test_cifar10_offline_error(monkeypatch, tmp_path):
    monkeypatch.setattr(CIFAR10, "mirrors", (closed_port_url("/kriz/"),))
    assert_raises(dl.DownloadError, lambda: CIFAR10(root=tmp_path, split="test"),
                  str(tmp_path / "cifar-10" / "cifar-10-binary.tar.gz"),
                  "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
                  "170,052,171 bytes")
