"""Untrusted archives and XML: member names checked, zip bombs refused, reads capped.

Nothing is extracted to disk: members are streamed through a reader that stops at the cap even
when the archive's headers lie about sizes.
"""

from __future__ import annotations

import stat
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from alflow.config import ArchiveLimits
from alflow.errors import InputError


def unsafe_name(name: str) -> str | None:
    """Why a member or file name from a vendor is refused, or None when it is safe."""
    if not name:
        return "empty name"
    if "\0" in name:
        return "NUL in name"
    if "\\" in name:
        return "backslash in name"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(name).parts:
        return "'..' in path"
    return None


class CappedReader:
    """A binary stream that raises ``InputError`` once more than ``cap`` bytes were read."""

    def __init__(self, raw: IO[bytes], cap: int, what: str) -> None:
        self.raw, self.cap, self.what, self.seen = raw, cap, what, 0

    def read(self, size: int = -1) -> bytes:
        want = self.cap + 1 - self.seen if size is None or size < 0 else size
        data = self.raw.read(min(want, self.cap + 1 - self.seen))
        self.seen += len(data)
        if self.seen > self.cap:
            raise InputError(f"{self.what}: over the {self.cap}-byte limit; nothing was imported")
        return data


def check_zip(zf: zipfile.ZipFile, source: str, limits: ArchiveLimits) -> None:
    """Refuse the whole archive for any unsafe member name, symlink, or zip-bomb sign."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise InputError(f"{source}: {len(infos)} members, over the {limits.max_members} limit")
    total = 0
    for info in infos:
        why = unsafe_name(info.filename)
        if why:
            raise InputError(f"{source}: member {info.filename!r} refused: {why}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise InputError(f"{source}: member {info.filename!r} refused: symbolic link")
        total += info.file_size
        if total > limits.max_total_bytes:
            raise InputError(
                f"{source}: members unpack to more than {limits.max_total_bytes} bytes "
                "(vendor.limits.max_total_bytes); refused as a possible zip bomb"
            )
        if info.file_size and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise InputError(
                f"{source}: member {info.filename!r} compresses {info.file_size} bytes into "
                f"{info.compress_size} (ratio over vendor.limits.max_ratio {limits.max_ratio}); "
                "refused as a possible zip bomb"
            )


SUPPORTED_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def refuse_unreadable(info: zipfile.ZipInfo, source: str) -> None:
    """An encrypted member, or one packed with a method Python cannot unpack (AES = 99)."""
    if info.flag_bits & 0x1:
        raise InputError(
            f"{source}!{info.filename}: the archive is encrypted; export it without a password"
        )
    if info.compress_type not in SUPPORTED_METHODS:
        raise InputError(
            f"{source}!{info.filename}: compression method {info.compress_type} is not "
            "supported (use a plain zip: stored or deflate)"
        )


@contextmanager
def open_member(
    path: Path, pick: str, limits: ArchiveLimits, cap: int
) -> Iterator[tuple[str, CappedReader]]:
    """``(member name, capped stream)`` of the member named ``pick`` (at any depth, exactly one)
    of a checked zip archive."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise InputError(f"{path}: not a readable zip archive: {err}") from None
    with zf:
        check_zip(zf, str(path), limits)
        found = [i for i in zf.infolist() if PurePosixPath(i.filename).name == pick]
        if len(found) != 1:
            raise InputError(f"{path}: expected one {pick} in the archive, found {len(found)}")
        refuse_unreadable(found[0], str(path))
        try:
            with zf.open(found[0]) as raw:
                yield found[0].filename, CappedReader(raw, cap, f"{path}!{found[0].filename}")
        except (zipfile.BadZipFile, OSError, EOFError) as err:
            raise InputError(f"{path}!{found[0].filename}: unreadable: {err}") from None
