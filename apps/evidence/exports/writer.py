"""A zip bundle that remembers the SHA-256 and size of every file it writes (for the manifest),
with a streaming entry for files too large to hold in memory."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class DigestWriter:
    """File-like writer for one zip entry: buffers small writes, hashes what it passes on."""

    def __init__(self, raw: IO[bytes], buffer_size: int = 1 << 20):
        self.raw, self.digest, self.size = raw, hashlib.sha256(), 0
        self._parts: list[bytes] = []
        self._pending = 0
        self._limit = buffer_size

    def write(self, data: bytes) -> None:
        self._parts.append(data)
        self._pending += len(data)
        if self._pending >= self._limit:
            self.flush()

    def flush(self) -> None:
        if self._parts:
            chunk = b"".join(self._parts)
            self.raw.write(chunk)
            self.digest.update(chunk)
            self.size += len(chunk)
            self._parts, self._pending = [], 0


class ZipBundle:
    def __init__(self, path: Path, compresslevel: int = 1):
        self.path = path
        self.zip = zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel, allowZip64=True)
        self.files: dict[str, dict[str, int | str]] = {}
        self._stamp = time.gmtime()[:6]

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def add_bytes(self, name: str, data: bytes, *, listed: bool = True) -> None:
        self.zip.writestr(self._info(name), data)
        if listed:
            self.files[name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}

    @contextlib.contextmanager
    def stream(self, name: str) -> Iterator[DigestWriter]:
        with self.zip.open(self._info(name), mode="w", force_zip64=True) as raw:
            writer = DigestWriter(raw)
            yield writer
            writer.flush()
        self.files[name] = {"sha256": writer.digest.hexdigest(), "size": writer.size}

    def add_fileobj(self, name: str, fileobj: IO[bytes]) -> None:
        fileobj.seek(0)
        with self.stream(name) as out:
            while chunk := fileobj.read(1 << 20):
                out.write(chunk)

    def add_path(self, name: str, source: Path) -> None:
        with open(source, "rb") as f:
            self.add_fileobj(name, f)

    def close(self) -> None:
        self.zip.close()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def move(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(src), str(dst))
