"""Downloading data sets: mirrors, sha256 checks, a cache folder, atomic writes (module 05).

A ``RemoteFile`` names a file, its sha256, its size and the URLs it can be fetched from
(mirrors, tried in order). ``fetch`` puts it into a cache folder:

- **The cache** is ``$TINYTORCH_DATA`` if set, else ``$XDG_CACHE_HOME/tinytorch``, else
  ``~/.cache/tinytorch`` (``data_root``); each data set has a sub-folder (``mnist/``, ...).
- **Atomic writes.** A download streams into a hidden temporary file in the destination
  folder, is checked (length and sha256), flushed to disk (``fsync``), then renamed over the
  final name (``os.replace``, atomic on POSIX and Windows). A file under its final name is
  therefore always complete and verified; a crash or a broken transfer leaves at most a
  ``.<name>.*.part`` file, which is removed on the next attempt.
- **Retries.** A refused connection, an HTTP error, a transfer cut short or a checksum
  mismatch moves on to the next mirror, from scratch.
- **Offline.** When every mirror fails (or ``download=False`` and the file is missing), the
  error lists each file, the URLs to get it from, its sha256, and the exact path to put it
  at by hand.
- **Progress** is a tqdm bar on stderr, silent when stderr is not a terminal.

Only the standard library's ``urllib`` talks to the network.

>>> import os, tempfile
>>> folder = tempfile.mkdtemp()
>>> with open(os.path.join(folder, "hello.txt"), "wb") as f:
...     _ = f.write(b"hello")
>>> spec = RemoteFile("hello.txt", sha256_bytes(b"hello"), ("https://example.invalid/",), 5)
>>> fetch(spec, folder).name  # already there and verified: nothing is downloaded
'hello.txt'
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RemoteFile", "DownloadError", "data_root", "fetch", "fetch_all", "sha256_file",
           "sha256_bytes", "atomic_write", "manual_instructions", "ENV_VAR"]

ENV_VAR = "TINYTORCH_DATA"
CHUNK = 1 << 20  # bytes per read: large enough to keep the per-chunk Python work invisible
USER_AGENT = "tinytorch-data/0.1 (+urllib)"


class DownloadError(RuntimeError):
    """Every mirror of a file failed (offline, a moved file, a corrupt copy). The message
    says what was tried and how to put the file in place by hand."""


@dataclass(frozen=True)
class RemoteFile:
    """One file to download: its ``name`` in the cache folder, the ``sha256`` of its bytes,
    the ``mirrors`` (base URLs ending in ``/``, or full URLs ending in the name) tried in
    order, and its ``size`` in bytes when known (a cut transfer is caught before hashing).

    >>> RemoteFile("a.gz", "0" * 64, ("https://example.invalid/data/",)).urls()
    ['https://example.invalid/data/a.gz']
    """

    name: str
    sha256: str
    mirrors: tuple[str, ...]
    size: int | None = None

    def __post_init__(self):
        if not self.name or "/" in self.name or "\\" in self.name or self.name.startswith("."):
            raise ValueError(f"RemoteFile(): name must be a plain file name, got {self.name!r}")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise ValueError(f"RemoteFile({self.name!r}): sha256 must be 64 lowercase hex "
                             f"digits, got {self.sha256!r}")
        if isinstance(self.mirrors, str) or not self.mirrors:
            raise ValueError(f"RemoteFile({self.name!r}): mirrors must be a non-empty tuple "
                             f"of URLs, got {self.mirrors!r}")

    def urls(self) -> list[str]:
        return [m + self.name if m.endswith("/") else m for m in self.mirrors]


def data_root(root=None) -> Path:
    """The cache folder: ``root`` if given, else ``$TINYTORCH_DATA``, else
    ``$XDG_CACHE_HOME/tinytorch``, else ``~/.cache/tinytorch`` (not created here).

    >>> str(data_root("/tmp/mydata"))
    '/tmp/mydata'
    """
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path (str or pathlib.Path), got "
                            f"{type(root).__name__}")
        return Path(root).expanduser()
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "tinytorch"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``.

    >>> sha256_bytes(b"")[:12]
    'e3b0c44298fc'
    """
    return hashlib.sha256(data).hexdigest()


def sha256_file(path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks (never whole)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable: fsync the folder's entry table (POSIX; a no-op elsewhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb") -> Iterator:
    """Write ``path`` all or nothing: yields a file object on a hidden temporary file in the
    same folder; on a clean exit it is flushed, fsynced and renamed to ``path``; on an
    exception it is deleted and ``path`` is untouched.

    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.bin"
    >>> with atomic_write(target) as f:
    ...     _ = f.write(b"data")
    >>> target.read_bytes()
    b'data'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def _remove_stale_parts(folder: Path, name: str, older_than_s: float = 3600.0) -> None:
    """Delete ``.<name>.*.part`` files that a killed process left behind (an hour old:
    younger ones may belong to a download running in another process)."""
    now = time.time()
    for part in folder.glob(f".{name}.*.part"):
        with contextlib.suppress(OSError):
            if now - part.stat().st_mtime > older_than_s:
                part.unlink()


def manual_instructions(files, folder) -> str:
    """The text that tells a person how to install ``files`` into ``folder`` by hand."""
    folder = Path(folder)
    lines = [f"To install by hand, put these files in {folder}{os.sep}:"]
    for spec in files:
        size = f", {spec.size:,} bytes" if spec.size is not None else ""
        lines.append(f"  {folder / spec.name}  (sha256 {spec.sha256}{size})")
        for url in spec.urls():
            lines.append(f"      from {url}")
    lines.append(f"or point {ENV_VAR} at a folder whose {folder.name}{os.sep} sub-folder "
                 f"already holds them (the cache now is {folder.parent}).")
    return "\n".join(lines)


class _Bad(Exception):
    """One failed attempt (the reason is its message)."""


def _download_once(url: str, spec: RemoteFile, dest: Path, *, timeout: float,
                   quiet: bool | None) -> None:
    """Stream ``url`` into ``dest`` atomically, checking length and sha256; raise ``_Bad``
    (leaving nothing behind) on any failure."""
    # imported here: urllib.request pulls in http.client, email and ssl (about 15 ms), which
    # `import tinytorch` should not pay when nothing is downloaded
    import http.client  # noqa: PLC0415
    import urllib.error  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    from tqdm import tqdm  # noqa: PLC0415

    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.sha256()
    received = 0
    try:
        with contextlib.ExitStack() as stack:
            response = stack.enter_context(urllib.request.urlopen(request, timeout=timeout))
            header = response.headers.get("Content-Length")
            expected = int(header) if header and header.isdigit() else spec.size
            if spec.size is not None and expected is not None and expected != spec.size:
                raise _Bad(f"the server announces {expected:,} bytes, expected "
                           f"{spec.size:,}")
            f = stack.enter_context(atomic_write(dest))
            bar = stack.enter_context(tqdm(total=expected, unit="B", unit_scale=True,
                                           unit_divisor=1024, desc=spec.name, leave=False,
                                           disable=None if quiet is None else quiet,
                                           file=sys.stderr))
            while chunk := response.read(CHUNK):
                f.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
            if expected is not None and received != expected:
                raise _Bad(f"transfer cut short: {received:,} of {expected:,} bytes")
            if digest.hexdigest() != spec.sha256:
                raise _Bad(f"sha256 mismatch: got {digest.hexdigest()}, expected "
                           f"{spec.sha256} ({received:,} bytes)")
    except _Bad:
        raise
    except urllib.error.HTTPError as err:
        raise _Bad(f"HTTP {err.code} {err.reason}") from None
    except urllib.error.URLError as err:
        raise _Bad(f"cannot connect: {err.reason}") from None
    except http.client.IncompleteRead as err:
        raise _Bad(f"transfer cut short: {received + len(err.partial):,} bytes received, "
                   f"{err.expected:,} more expected") from None
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise _Bad(f"{type(err).__name__}: {err}") from None


def fetch(spec: RemoteFile, folder, *, download: bool = True, timeout: float = 30.0,
          quiet: bool | None = None) -> Path:
    """The verified local copy of ``spec`` in ``folder``, downloaded from the first mirror
    that works if it is not there yet. A copy already in place is checked against the
    sha256; a wrong one is an error (never silently replaced: it may be a hand-made copy).

    Raises ``DownloadError`` when every mirror fails, ``FileNotFoundError`` when the file is
    missing and ``download`` is False; both say where to put the file by hand.
    """
    return fetch_all([spec], folder, download=download, timeout=timeout, quiet=quiet)[0]


def fetch_all(specs, folder, *, download: bool = True, timeout: float = 30.0,
              quiet: bool | None = None, what: str = "data set") -> list[Path]:
    """``fetch`` for several files; every file is attempted before an error is raised, and
    the error lists all that are missing, so one message says everything to do by hand."""
    folder = Path(folder)
    specs = list(specs)
    paths, missing, reasons = [], [], []
    for spec in specs:
        path = folder / spec.name
        paths.append(path)
        if path.is_file():
            digest = sha256_file(path)
            if digest != spec.sha256:
                raise ValueError(f"{path} is corrupt or not the expected file: its sha256 is "
                                 f"{digest}, expected {spec.sha256}\nhint: delete it and "
                                 "run again to download it afresh")
            continue
        if not download:
            missing.append(spec)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        _remove_stale_parts(folder, spec.name)
        tried = []
        for url in spec.urls():
            try:
                _download_once(url, spec, path, timeout=timeout, quiet=quiet)
                break
            except _Bad as bad:
                tried.append(f"    {url}: {bad}")
        else:
            missing.append(spec)
            reasons.append(f"  {spec.name}:\n" + "\n".join(tried))
    if missing:
        names = ", ".join(s.name for s in missing)
        if not download:
            raise FileNotFoundError(f"the {what} files {names} are not in {folder}, and "
                                    "download=False\nhint: pass download=True, or\n"
                                    + manual_instructions(missing, folder))
        raise DownloadError(f"could not download the {what} files {names}; every mirror "
                            "failed:\n" + "\n".join(reasons) + "\n"
                            + manual_instructions(missing, folder))
    return paths
