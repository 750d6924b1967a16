"""Claim-check blobs as files: ``<dir>/blobs/<bucket>/<key>``, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from tayori.backends.base import check_blob_key, check_bucket_name
from tayori.errors import BlobError, BlobNotFound, InvalidBlobKey

__all__ = ["FileBlobStore", "check_blob_key", "check_bucket_name"]


class FileBlobStore:
    def __init__(self, root: str | os.PathLike[str], bucket: str) -> None:
        self.bucket = check_bucket_name(bucket)
        self._dir = Path(root) / bucket

    def _path(self, key: str) -> Path:
        path = self._dir / check_blob_key(key)
        # belt and braces: the resolved path must stay inside the bucket directory
        if not path.resolve().is_relative_to(self._dir.resolve()):
            raise InvalidBlobKey(f"blob key {key[:60]!r} escapes the bucket")
        return path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, path)
            except BaseException:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
                raise
        except OSError as exc:
            raise BlobError(
                f"cannot write blob {self.bucket}/{key}: {exc.strerror or exc}"
            ) from None

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"blob {self.bucket}/{key} does not exist") from None
        except IsADirectoryError:
            raise BlobNotFound(f"blob {self.bucket}/{key} does not exist") from None
        except OSError as exc:
            raise BlobError(
                f"cannot read blob {self.bucket}/{key}: {exc.strerror or exc}"
            ) from None

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise BlobError(
                f"cannot delete blob {self.bucket}/{key}: {exc.strerror or exc}"
            ) from None
