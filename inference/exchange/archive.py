"""Unpacking what a researcher sends: a folder, a .zip, or a .tar / .tar.gz / .tgz.

Everything that arrives is hostile until proven otherwise. The format is told by the file's first
bytes, never its name. Each member is checked before a byte of it is written: a name that is absolute,
climbs out with ``..``, carries a NUL or a drive letter, or a member that is a link, a device or a
FIFO is refused *with its name and the reason* and never created. Regular files are copied out in
chunks while the bytes are counted, so an archive whose headers lie about sizes still stops at the
limits (``ArchiveLimits``) with an ``ArchiveError``. A folder is walked without following links.
"""

from __future__ import annotations

import os
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

CHUNK = 1024 * 1024


class ArchiveError(ValueError):
    """The archive as a whole is refused (unreadable, or past a limit); nothing from it may be used."""


@dataclass(frozen=True)
class ArchiveLimits:
    max_members: int = 20_000
    max_total_bytes: int = 8 * 1024**3
    max_member_bytes: int = 512 * 1024**2


@dataclass
class Unpacked:
    root: Path  # where the regular files are (the folder itself when a folder was given)
    files: list[str] = field(default_factory=list)  # POSIX paths relative to root
    refused: list[tuple[str, str]] = field(default_factory=list)  # (member name, reason)


def archive_format(path: Path) -> str:
    """'folder', 'zip', 'tar' (possibly gzip/bz2/xz-compressed), or ArchiveError."""
    if path.is_dir():
        return "folder"
    with path.open("rb") as handle:
        head = handle.read(512)
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if (
        head[:2] == b"\x1f\x8b"
        or head[:3] == b"BZh"
        or head[:6] == b"\xfd7zXZ\x00"
        or head[257:262] == b"ustar"
    ):
        return "tar"
    raise ArchiveError("not a folder, a .zip or a .tar(.gz) archive")


def safe_member_name(name: str) -> tuple[str | None, str]:
    """The member's relative POSIX path, or None and why it is refused."""
    if "\x00" in name:
        return None, "its name contains a NUL byte"
    cleaned = name.replace("\\", "/")
    if cleaned.startswith("/") or (len(cleaned) > 1 and cleaned[1] == ":"):
        return None, "an absolute path"
    parts = [p for p in PurePosixPath(cleaned).parts if p not in ("", ".")]
    if ".." in parts:
        return None, "a path that climbs out of the archive ('..')"
    if not parts:
        return None, "an empty name"
    if len(cleaned) > 1000 or any(len(p.encode("utf-8", "surrogateescape")) > 255 for p in parts):
        return None, "a name too long for a file system"
    return "/".join(parts), ""


def unpack(source: Path, dest: Path, *, limits: ArchiveLimits | None = None) -> Unpacked:
    """Unpack ``source`` into the empty folder ``dest`` (a folder is listed in place, not copied)."""
    limits = limits or ArchiveLimits()
    kind = archive_format(source)
    if kind == "folder":
        return _list_folder(source, limits)
    dest.mkdir(parents=True, exist_ok=True)
    result = Unpacked(root=dest)
    budget = _Budget(limits)
    try:
        members = _zip_members(source) if kind == "zip" else _tar_members(source)
        for name, kind_of, size, opener in members:
            budget.member()
            relative, reason = safe_member_name(name)
            if relative is None:
                result.refused.append((name, reason))
                continue
            if kind_of == "dir":
                continue
            if kind_of != "file":
                result.refused.append((name, f"a {kind_of}, not a regular file"))
                continue
            if size > limits.max_member_bytes:
                raise ArchiveError(
                    f"{name}: {size} bytes, over the limit of {limits.max_member_bytes} per file"
                )
            target = dest / relative
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with opener() as handle:
                    _copy_counted(handle, target, budget, name)
            except (FileExistsError, NotADirectoryError):
                result.refused.append((name, "a second member with the same path"))
                continue
            result.files.append(relative)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, ArchiveError):
            raise
        raise ArchiveError(f"the archive cannot be read ({type(exc).__name__}: {exc})") from None
    return result


class _Budget:
    def __init__(self, limits: ArchiveLimits) -> None:
        self.limits, self.members, self.bytes = limits, 0, 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveError(f"more than {self.limits.max_members} members")

    def add(self, n: int, name: str) -> None:
        self.bytes += n
        if self.bytes > self.limits.max_total_bytes:
            raise ArchiveError(
                f"inflates past the limit of {self.limits.max_total_bytes} bytes (at member {name})"
            )


def _copy_counted(handle: BinaryIO, target: Path, budget: _Budget, name: str) -> None:
    written = 0
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := handle.read(CHUNK):
            written += len(chunk)
            if written > budget.limits.max_member_bytes:
                raise ArchiveError(
                    f"{name}: inflates past {budget.limits.max_member_bytes} bytes, the limit per file"
                )
            budget.add(len(chunk), name)
            out.write(chunk)


def _zip_members(path: Path) -> Iterator[tuple[str, str, int, object]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            # Unix mode bits, when the zip was made on Unix; many writers set permissions only (no
            # file type), which is a regular file.
            file_type = stat.S_IFMT((info.external_attr >> 16) & 0xFFFF)
            if info.is_dir() or file_type == stat.S_IFDIR:
                kind = "dir"
            elif file_type == stat.S_IFLNK:
                kind = "symbolic link"
            elif file_type in (0, stat.S_IFREG):
                kind = "file"
            else:
                kind = "special file"
            yield info.filename, kind, info.file_size, (lambda info=info: archive.open(info))


def _tar_members(path: Path) -> Iterator[tuple[str, str, int, object]]:
    with tarfile.open(path, mode="r:*") as archive:
        for info in archive:
            if info.isdir():
                kind = "dir"
            elif info.issym():
                kind = "symbolic link"
            elif info.islnk():
                kind = "hard link"
            elif info.isfile():
                kind = "file"
            else:
                kind = "device or FIFO"
            yield info.name, kind, info.size, (lambda info=info: archive.extractfile(info))


def _list_folder(root: Path, limits: ArchiveLimits) -> Unpacked:
    result = Unpacked(root=root)
    budget = _Budget(limits)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath)
        for name in sorted(dirnames):
            if (base / name).is_symlink():
                result.refused.append(((base / name).relative_to(root).as_posix(), "a symbolic link"))
        for name in sorted(filenames):
            path = base / name
            relative = path.relative_to(root).as_posix()
            budget.member()
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                result.refused.append((relative, "a symbolic link"))
            elif not stat.S_ISREG(info.st_mode):
                result.refused.append((relative, "not a regular file"))
            else:
                if info.st_size > limits.max_member_bytes:
                    raise ArchiveError(
                        f"{relative}: over the limit of {limits.max_member_bytes} bytes per file"
                    )
                budget.add(info.st_size, relative)
                result.files.append(relative)
    result.files.sort()
    return result
