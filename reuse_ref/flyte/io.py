"""``flyte.io``: ``File``, ``Dir`` and ``DataFrame`` over a local directory.

On the service, ``File`` and ``Dir`` move data through a blob store. The reference's
controller and replicas share one machine, so its "remote" store is a local directory,
as it is in Flyte's local mode: ``REUSE_REF_FLYTE_STORE`` when set (``flyte.run`` sets it
for its runtime, so every replica writes to the same place), else a temporary directory.
A path outside the store (``File(path=...)``, ``from_existing_remote``) is used where it
is. What a task computes is unchanged; only where the bytes live differs, and that is
recorded. A ``DataFrame`` is kept as a pickle of the frame, not as typed columnar files.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from typing import Any, AsyncIterator, List, Optional

from ._unmodelled import module_getattr, record, refuse

__all__ = ["File", "Dir", "DataFrame", "STORE_VARIABLE", "store"]

STORE_VARIABLE = "REUSE_REF_FLYTE_STORE"
_WHY = "typed columnar storage: the reference keeps pickled frames"


def store() -> str:
    """The local directory that stands for the blob store (made on first use)."""
    root = os.environ.get(STORE_VARIABLE)
    if not root:
        root = os.environ[STORE_VARIABLE] = tempfile.mkdtemp(prefix="reuse-ref-store-")
    os.makedirs(root, exist_ok=True)
    return root


def _new_path(name: Optional[str] = None) -> str:
    record("flyte.io (files live in a local directory shared by the controller and its replicas)")
    return os.path.join(store(), uuid.uuid4().hex, name or "data")


class _Handle:
    """The async file object of ``File.open``: ``await read()`` (one block, or all) and ``await write(data)``."""

    def __init__(self, path: str, mode: str, block_size: Optional[int]) -> None:
        if "w" in mode or "a" in mode:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        self._f = open(path, mode if "b" in mode or "t" in mode else mode + "b")
        self._block = block_size

    async def read(self, size: int = -1) -> Any:
        return self._f.read(self._block if size == -1 and self._block else size)

    async def write(self, data: Any) -> int:
        return self._f.write(data)

    async def __aenter__(self) -> "_Handle":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._f.close()

    def __enter__(self) -> "_Handle":
        return self

    def __exit__(self, *exc: Any) -> None:
        self._f.close()


@dataclass
class File:
    """A file by path; ``new_remote``/``from_local`` put it in the local store."""

    path: str
    name: Optional[str] = None
    format: str = ""
    hash: Optional[str] = None

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = os.path.basename(self.path)

    def __class_getitem__(cls, item: Any) -> Any:  # File[...] in annotations
        return cls

    @classmethod
    def new_remote(cls, file_name: Optional[str] = None, hash_method: Any = None) -> "File":
        return cls(path=_new_path(file_name))

    @classmethod
    async def from_local(cls, local_path: str, remote_destination: Optional[str] = None, **kwargs: Any) -> "File":
        path = remote_destination or _new_path(os.path.basename(local_path))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        shutil.copyfile(local_path, path)
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        return cls(path=path, hash=digest)

    @classmethod
    def from_local_sync(cls, local_path: str, remote_destination: Optional[str] = None, **kwargs: Any) -> "File":
        import asyncio

        return asyncio.run(cls.from_local(local_path, remote_destination))

    @classmethod
    def from_existing_remote(cls, remote_path: str, file_cache_key: Optional[str] = None) -> "File":
        return cls(path=remote_path, hash=file_cache_key)

    def open(self, mode: str = "rb", block_size: Optional[int] = None, **kwargs: Any) -> _Handle:
        return _Handle(self.path, mode, block_size)

    def open_sync(self, mode: str = "rb", block_size: Optional[int] = None, **kwargs: Any) -> _Handle:
        return _Handle(self.path, mode, block_size)

    async def download(self, local_path: Optional[str] = None) -> str:
        target = local_path or os.path.join(tempfile.mkdtemp(prefix="reuse-ref-download-"), self.name or "data")
        shutil.copyfile(self.path, target)
        return target

    def download_sync(self, local_path: Optional[str] = None) -> str:
        import asyncio

        return asyncio.run(self.download(local_path))

    async def exists(self) -> bool:
        return os.path.isfile(self.path)

    def exists_sync(self) -> bool:
        return os.path.isfile(self.path)


@dataclass
class Dir:
    """A directory by path; ``from_local`` copies one into the local store."""

    path: str
    name: Optional[str] = None
    format: str = ""
    hash: Optional[str] = None

    def __post_init__(self) -> None:
        if self.name is None:
            self.name = os.path.basename(self.path.rstrip(os.sep))

    def __class_getitem__(cls, item: Any) -> Any:
        return cls

    @classmethod
    async def from_local(cls, local_path: str, remote_path: Optional[str] = None,
                         dir_cache_key: Optional[str] = None, **kwargs: Any) -> "Dir":
        target = remote_path or _new_path(os.path.basename(os.path.abspath(local_path)))
        shutil.copytree(local_path, target, dirs_exist_ok=True)
        return cls(path=target, hash=dir_cache_key)

    @classmethod
    def from_existing_remote(cls, remote_path: str, dir_cache_key: Optional[str] = None) -> "Dir":
        return cls(path=remote_path, hash=dir_cache_key)

    async def exists(self) -> bool:
        return os.path.isdir(self.path)

    def exists_sync(self) -> bool:
        return os.path.isdir(self.path)

    async def walk(self, recursive: bool = True, max_depth: Optional[int] = None) -> AsyncIterator[File]:
        base = self.path.rstrip(os.sep)
        for root, dirs, files in os.walk(base):
            depth = 0 if root == base else os.path.relpath(root, base).count(os.sep) + 1
            if not recursive or (max_depth is not None and depth + 1 >= max_depth):
                dirs.clear()
            for name in sorted(files):
                yield File(path=os.path.join(root, name))
            dirs.sort()

    async def list_files(self) -> List[File]:
        return [f async for f in self.walk(recursive=False)]

    async def get_file(self, file_name: str) -> Optional[File]:
        path = os.path.join(self.path, file_name)
        return File(path=path) if os.path.isfile(path) else None

    async def download(self, local_path: Optional[str] = None) -> str:
        target = local_path or tempfile.mkdtemp(prefix="reuse-ref-download-")
        shutil.copytree(self.path, target, dirs_exist_ok=True)
        return target


class _Reader:
    def __init__(self, frame: "DataFrame") -> None:
        self._frame = frame

    async def all(self) -> Any:
        return self._frame._load()

    def all_sync(self) -> Any:
        return self._frame._load()


@dataclass
class DataFrame:
    """A data frame kept as a pickle in the local store; ``open(type).all()`` gives it back.

    The service stores frames as typed, columnar files (Parquet) and converts between
    frame libraries on the way out; here the frame comes back as the object that went in,
    whatever type ``open`` names.
    """

    uri: Optional[str] = None
    format: str = "pickle"

    def __class_getitem__(cls, item: Any) -> Any:
        return cls

    @classmethod
    def from_df(cls, val: Any, uri: Optional[str] = None) -> "DataFrame":
        record("flyte.io.DataFrame (kept as a pickle in the local store, not as Parquet)")
        path = uri or _new_path("frame.pickle")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            pickle.dump(val, f)
        return cls(uri=path)

    @classmethod
    def from_existing_remote(cls, remote_path: str, format: str = "pickle", **kwargs: Any) -> "DataFrame":
        return cls(uri=remote_path, format=format)

    def open(self, dataframe_type: Any = None) -> _Reader:
        return _Reader(self)

    def _load(self) -> Any:
        if self.uri is None:
            raise refuse("flyte.io.DataFrame without a uri", _WHY)
        with open(self.uri, "rb") as f:
            return pickle.load(f)


__getattr__ = module_getattr("flyte.io", "remote storage beyond files and directories")
