"""Safe ZIP expansion into jobs/{job_id}/extracted/ (docs/api.md, Bad input), with our own
bounded ZIP reader: every cap is enforced on bytes actually read or inflated, never on header
fields alone."""

import os
import shutil
import stat
import struct
import unicodedata
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from zipfile import BadZipFile  # the standard library's error for a corrupt entry

from linting.errors import BadArchive
from linting.options import CONFIG_FILE_NAMES

IGNORE_FILE_NAME = ".sqlfluffignore"
MAX_PART_BYTES = 255  # NAME_MAX of ext4, XFS and NFS: a longer folder or file cannot be created
MAX_NAME_BYTES = 1024
_CHUNK = 1 << 16  # most bytes inflated per step, so one step never holds a bomb in memory
_EOCD, _EOCD64 = struct.Struct("<4s4H2LH"), struct.Struct("<4sQ2H2L4Q")
_CENTRAL, _LOCAL = struct.Struct("<8x2H4x3L3H4x2L"), struct.Struct("<4s5H3L2H")
_LOCATOR_SIZE, _UTF8_FLAG, _ENCRYPTED_FLAG, _STORED, _DEFLATED = 20, 0x800, 0x1, 0, 8
# Bidi overrides and isolates reorder how a name is displayed ("evil\u202elqs.txt").
_KINDS = {IGNORE_FILE_NAME: "ignore", **dict.fromkeys(CONFIG_FILE_NAMES, "config")}
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True, kw_only=True)
class ArchiveLimits:
    max_entries: int
    max_total_bytes: int
    max_file_bytes: int


@dataclass
class Expansion:
    """What an archive held: extracted files, rejected SQL entries, and ignored files."""

    sql_files: list[str] = field(default_factory=list)
    config_files: list[str] = field(default_factory=list)
    ignore_files: list[str] = field(default_factory=list)
    rejected: dict[str, str] = field(default_factory=dict)
    ignored_count: int = 0


@dataclass(frozen=True)
class _Entry:
    raw_name: bytes
    flags: int
    method: int
    crc: int
    csize: int
    size: int  # as declared: used only to refuse early, never to bound what is inflated
    mode: int
    offset: int


def _read_directory(f: BinaryIO, size: int, limits: ArchiveLimits) -> list[_Entry]:
    """The central directory's entries, refused on its declared count before any is parsed."""
    tail_start = max(0, size - _EOCD.size - 0xFFFF)  # the record ends in a comment of < 64 KiB
    f.seek(tail_start)
    tail = f.read()
    at = -1 if len(tail) < _EOCD.size else tail.rfind(b"PK\x05\x06", 0, len(tail) - _EOCD.size + 4)
    if at < 0:
        raise BadArchive("not a valid ZIP archive: no end of central directory record")
    *_, count, cd_size, cd_offset, _ = _EOCD.unpack_from(tail, at)
    cd_end = tail_start + at
    f.seek(max(0, cd_end - _EOCD64.size - _LOCATOR_SIZE))  # a ZIP64 end record, if any
    record = f.read(_EOCD64.size + _LOCATOR_SIZE)
    if record.startswith(b"PK\x06\x06") and record[_EOCD64.size :].startswith(b"PK\x06\x07"):
        *_, count, cd_size, cd_offset = _EOCD64.unpack_from(record)
        cd_end -= _EOCD64.size + _LOCATOR_SIZE
    over = f"over the limit of {limits.max_entries} (ZIP_MAX_ENTRIES)"
    if count > limits.max_entries:
        raise BadArchive(f"too many entries: the archive declares {count}, {over}")
    cd_start = cd_end - cd_size
    if cd_start < 0:
        raise BadArchive("not a valid ZIP archive: corrupt central directory")
    shift = cd_start - cd_offset  # bytes before the archive (a self-extracting stub)
    f.seek(cd_start)
    entries: list[_Entry] = []
    done = 0
    while done < cd_size:  # counted while read: the declared count may lie
        head = f.read(_CENTRAL.size)
        if len(head) < _CENTRAL.size or not head.startswith(b"PK\x01\x02"):
            raise BadArchive("not a valid ZIP archive: corrupt central directory")
        if len(entries) == limits.max_entries:
            raise BadArchive(f"too many entries: more than the archive declares, {over}")
        flags, method, crc, csize, size_, n, m, k, attr, offset = _CENTRAL.unpack(head)
        name, extra = f.read(n), f.read(m)
        f.seek(k, os.SEEK_CUR)
        size_, csize, offset = _zip64_fields(extra, [size_, csize, offset])
        entries.append(_Entry(name, flags, method, crc, csize, size_, attr >> 16, offset + shift))
        done += _CENTRAL.size + n + m + k
    return entries


def _zip64_fields(extra: bytes, values: list[int]) -> list[int]:
    """Size, compressed size and offset, from the ZIP64 extra field where the header says so."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        if tag == 1:
            count = min(length, len(extra) - pos - 4) // 8
            wide = iter(struct.unpack_from(f"<{count}Q", extra, pos + 4))
            return [next(wide, v) if v == 0xFFFFFFFF else v for v in values]
        pos += 4 + length
    return values


def _inflate(f: BinaryIO, entry: _Entry, out: BinaryIO, limit: int) -> bool:
    """Write the entry's bytes to `out`; False, at byte `limit` + 1, rather than write it."""
    f.seek(entry.offset)
    head = f.read(_LOCAL.size)
    if len(head) < _LOCAL.size or not head.startswith(b"PK\x03\x04"):
        raise BadZipFile("no local header where the central directory points")
    n, m = struct.unpack_from("<2H", head, 26)
    if f.read(n) != entry.raw_name:  # two names for one entry: tools would disagree on it
        raise BadZipFile("its local header names another file")
    f.seek(m, os.SEEK_CUR)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS) if entry.method == _DEFLATED else None
    left, pending, written, crc = entry.csize, b"", 0, 0
    while True:
        if not pending and left:
            pending = f.read(min(_CHUNK, left))
            left -= len(pending)
            if not pending:
                raise BadZipFile("its data is truncated")
        room = min(_CHUNK, limit + 1 - written)
        if inflater is None:
            piece, pending = pending[:room], pending[room:]
        else:
            piece = inflater.decompress(pending, room)  # zlib.error: the caller's
            pending = inflater.unconsumed_tail
        if not piece and (inflater is None or inflater.eof or not (pending or left)):
            break
        written += len(piece)
        if written > limit:
            return False
        crc = zlib.crc32(piece, crc)
        out.write(piece)
    if inflater is not None and not inflater.eof:
        raise BadZipFile("its data is truncated")
    if crc != entry.crc or written != entry.size:
        raise BadZipFile("its CRC-32 or size does not match its header")
    return True


def _decode(entry: _Entry) -> tuple[str, str | None]:
    """The entry's name and any problem (IBM 437, the ZIP default, if not UTF-8 nor flagged)."""
    try:
        return entry.raw_name.decode("utf-8"), None
    except UnicodeDecodeError:
        if entry.flags & _UTF8_FLAG:
            return entry.raw_name.decode("utf-8", "backslashreplace"), "name is not valid UTF-8"
        return entry.raw_name.decode("cp437"), None


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def _name_problem(name: str) -> str | None:
    if "\\" in name or any(_is_control(c) for c in name):  # NUL and ESC are controls too
        return "entry name has a backslash, NUL or control character"
    parts = name.split("/")
    if len(name.encode()) > MAX_NAME_BYTES or any(len(p.encode()) > MAX_PART_BYTES for p in parts):
        return f"entry name is over {MAX_PART_BYTES} bytes a part or {MAX_NAME_BYTES} in all"
    if name.startswith("/") or ":" in parts[0]:
        return "entry has an absolute path"
    if ".." in parts:
        return "entry escapes the extraction directory"
    if any(part in ("", ".") for part in parts):
        return "entry name has an empty or '.' folder"
    return None


class _Extractor:
    """One pass over the entries, keeping the names claimed so far and the bytes inflated."""

    def __init__(
        self, f: BinaryIO, dest: Path, limits: ArchiveLimits, sql_exts: tuple[str, ...]
    ) -> None:
        self.f, self.dest, self.limits, self.sql_exts = f, dest, limits, sql_exts
        self.result = Expansion()
        self.spent, self.exhausted = 0, False
        self.files: dict[str, str] = {}  # folded name -> name, of every entry we set out to write
        self.folders: set[str] = set()
        self.labels: set[str] = set()

    def add(self, index: int, entry: _Entry) -> None:
        name, problem = _decode(entry)
        if name.endswith("/"):
            return  # a folder entry: folders are made as the files in them need them
        kind = _KINDS.get(name.rsplit("/", 1)[-1], "")  # "" for SQL
        if not kind and not name.lower().endswith(self.sql_exts):
            self.result.ignored_count += 1
            return
        reason = problem or _name_problem(name)
        if reason is None and stat.S_ISLNK(entry.mode):
            reason = "entry is a symbolic link"
        reason = reason or self._collision(name) or self._write(name, entry)
        if reason is None:
            self.labels.add(name)
            listing = {"config": self.result.config_files, "ignore": self.result.ignore_files}
            listing.get(kind, self.result.sql_files).append(name)
        elif not kind:
            self.result.rejected[self._label(name, index)] = reason
        else:  # not a file to lint: an unsafe or unreadable config is left out, and counted
            self.result.ignored_count += 1

    def _collision(self, name: str) -> str | None:
        folded = unicodedata.normalize("NFC", name).casefold()  # as SMB or macOS shares see it
        parts = folded.split("/")
        if folded in self.files:
            if self.files[folded] == name:
                return "duplicate entry name in the archive"
            return "entry name differs from an earlier entry only in letter case or Unicode form"
        if name in self.labels:  # a rejected entry's row already has this path
            return "entry name is taken by an earlier rejected entry"
        if folded in self.folders:
            return "entry name is also a folder in the archive"
        if any("/".join(parts[:i]) in self.files for i in range(1, len(parts))):
            return "a folder in the entry's path is a file in the archive"
        self.files[folded] = name
        self.folders.update("/".join(parts[:i]) for i in range(1, len(parts)))
        return None

    def _write(self, name: str, entry: _Entry) -> str | None:
        cap, budget = self.limits.max_file_bytes, self.limits.max_total_bytes
        too_large = f"too large: over the limit of {cap} bytes (LINT_MAX_FILE_BYTES)"
        over_budget = f"not extracted: archive over {budget} bytes inflated (ZIP_MAX_TOTAL_BYTES)"
        if entry.flags & _ENCRYPTED_FLAG:
            return "entry is encrypted"
        if entry.method not in (_STORED, _DEFLATED):
            return f"entry uses compression method {entry.method}; only Stored and Deflate are read"
        if entry.size > cap:  # a header may lie, but a lie here only makes us refuse sooner
            return too_large
        if self.exhausted or entry.size > budget - self.spent:
            return over_budget
        limit = min(cap, budget - self.spent)
        target = self.dest / name
        reason = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(target, "xb")  # never through a link, never over another entry's file
        except (FileExistsError, NotADirectoryError):
            return "entry name collides with an earlier entry on the shared directory"
        with out:
            try:
                if not _inflate(self.f, entry, out, limit):
                    self.exhausted = limit < cap
                    reason = over_budget if limit < cap else too_large
            except (BadZipFile, zlib.error) as exc:
                reason = f"entry cannot be read: {exc}"
            self.spent += out.tell()
        if reason is not None:
            target.unlink()
        return reason

    def _label(self, name: str, index: int) -> str:
        """A printable, unique key for a rejected entry (also the task row's file name)."""
        shown = "".join(c.encode("unicode_escape").decode() if _is_control(c) else c for c in name)
        if len(shown) > 300:
            shown = shown[:300] + "…"
        if shown in self.labels:
            shown = f"{shown} (entry {index + 1})"
        self.labels.add(shown)
        return shown


def extract_archive(
    archive: Path, dest: Path, limits: ArchiveLimits, sql_exts: tuple[str, ...] = (".sql",)
) -> Expansion:
    """Expand the SQL files (names ending with one of `sql_exts`, lower case), SQLFluff config
    and ignore files of `archive` under `dest`, safely.

    A bad entry is rejected with its reason (printable name -> reason, never a path of this
    machine): one past `max_file_bytes` (inflating stops at its cap + 1st byte), every SQL entry
    once `max_total_bytes` are inflated; if none was extracted, all are in `rejected`. Names
    without the UTF-8 flag are read as UTF-8 if valid, else as IBM 437 (the ZIP default).
    `dest` is emptied first, so a rerun gives the same files (relative to `dest`).

    Raises:
        BadArchive: not a readable ZIP, a corrupt central directory, or too many entries.
    """
    try:
        f = open(archive, "rb")
    except OSError as exc:
        raise BadArchive(f"not a valid ZIP archive: {exc.strerror}") from None
    with f:
        entries = _read_directory(f, os.fstat(f.fileno()).st_size, limits)
        if dest.is_symlink():
            dest.unlink()
        elif dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        extractor = _Extractor(f, dest, limits, sql_exts)
        for index, entry in enumerate(entries):
            extractor.add(index, entry)
    extractor.result.sql_files.sort()  # configs and ignore files stay in archive order
    return extractor.result
