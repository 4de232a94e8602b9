"""The one input layer: every reader and command opens its input files here.

- :func:`open_input` opens a local path or an fsspec URI (``s3://...``); the codec (gzip,
  bz2 with parallel decompression, xz, zstd when ``zstandard`` is installed) is chosen from
  the content's magic bytes, not the name; a file named ``.gz``/``.bz2``/``.xz``/``.zst``
  that is not such data is an error. A truncated or corrupt compressed stream raises
  :class:`~xlcorpus.errors.InputError` naming the file and the decompressed byte offset.
- Every failure to open (missing, a folder, unreadable, a name too long) is an
  ``InputError`` of the form ``FILE: what is wrong``; the CLI prints it as
  ``error: FILE[:LINE]: what is wrong`` and exits 1.
- :func:`iter_lines` yields raw lines split on ``\\n`` only (never on Unicode line separators
  such as U+2028, which are part of the text; a ``\\r`` before the ``\\n`` is removed);
  :func:`decode_line` turns one into text or a reject with its line and byte offset;
  :func:`text_lines` is the strict form (an invalid line is an error with its line number).
- :func:`split_pair` is the one ``src ||| tgt`` parser; :func:`read_token_pairs` the one
  reader of line-parallel tokenized bitext (the extra training bitext of the aligners).
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import lzma
import os
import re
from collections.abc import Callable, Iterator
from itertools import islice, zip_longest
from pathlib import Path
from typing import BinaryIO

from ..engine.core import Reject
from ..errors import InputError
from ..progress import track_input

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]
BUFFER = 1 << 20
SUFFIX_CODECS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zst": "zstd"}
_BZ2_BLOCK = (b"1AY&SY", b"\x17rE8P\x90")  # first block or end of stream after b"BZh1".."BZh9"
# NUL and other C0/C1 control characters (tab allowed): never part of a sentence.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def input_error(path: PathLike, what: str, line: int | None = None) -> InputError:
    """``InputError("FILE[:LINE]: what")``."""
    return InputError(f"{path}{f':{line}' if line is not None else ''}: {what}")


def display_name(path: PathLike) -> str:
    """The name recorded as a record's source: the file name, stable across machines."""
    return Path(str(path).rstrip("/")).name


def is_uri(path: PathLike) -> bool:
    return "://" in str(path)


def sniff_codec(head: bytes) -> str | None:
    """The compression of a stream starting with ``head`` (None: not compressed)."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if len(head) >= 10 and head[:3] == b"BZh" and head[3:4].isdigit() and head[3:4] != b"0" \
            and head[4:10] in _BZ2_BLOCK:
        return "bz2"
    return None


def codec_of(path: PathLike) -> str | None:
    """The compression of the file ``path`` by its content (None: not compressed)."""
    with _open_raw(path) as fh:
        return sniff_codec(fh.read(10))


def _open_raw(path: PathLike) -> BinaryIO:
    """Open the file itself; every OS failure becomes an InputError naming it."""
    if is_uri(path) and str(path).split("://", 1)[0].lower() in ARROW_SCHEMES:
        return _open_arrow(str(path))
    if is_uri(path):
        import fsspec

        try:
            return fsspec.open(str(path), "rb").open()
        except FileNotFoundError:
            raise input_error(path, "does not exist") from None
        except (OSError, ValueError, ImportError) as exc:
            raise input_error(path, f"cannot be opened: {exc}") from None
    try:
        return open(path, "rb", buffering=BUFFER)
    except OSError as exc:
        raise os_input_error(path, exc) from None


ARROW_SCHEMES = {"s3", "gs", "gcs", "abfs", "abfss", "hdfs"}


def _open_arrow(uri: str) -> BinaryIO:
    """An object-store file through pyarrow's own filesystems (credentials and endpoint from
    the environment, e.g. ``AWS_ENDPOINT_URL``), which need no extra package."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    try:
        fs, inner = pafs.FileSystem.from_uri(uri)
        info = fs.get_file_info(inner)
        if info.type == pafs.FileType.NotFound:
            raise input_error(uri, "does not exist")
        if info.type == pafs.FileType.Directory:
            raise input_error(uri, "is a folder, not a file")
        return io.BufferedReader(_ArrowRaw(fs.open_input_file(inner)), BUFFER)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise input_error(uri, f"cannot be opened: {exc}") from None


class _ArrowRaw(io.RawIOBase):
    """A pyarrow random-access file as a raw stream (so that it can be buffered and peeked)."""

    def __init__(self, f) -> None:
        self._f = f

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._f.seek(pos, whence)

    def tell(self) -> int:
        return self._f.tell()

    def readinto(self, b) -> int:
        data = self._f.read(len(b))
        b[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


def os_input_error(path: PathLike, exc: OSError) -> InputError:
    """An OSError on ``path`` as a clear InputError."""
    what = {errno.ENOENT: "does not exist", errno.EISDIR: "is a folder, not a file",
            errno.EACCES: "permission denied", errno.EPERM: "permission denied",
            errno.ENAMETOOLONG: "file name too long", errno.ENOTDIR: "a part of the path is a file, not a folder",
            errno.EROFS: "read-only file system", errno.ENOSPC: "no space left on the device",
            }.get(exc.errno or 0, exc.strerror or str(exc))
    return input_error(path, what)


class _Guarded(io.RawIOBase):
    """A decompressing stream whose failures (truncation, corruption) become InputErrors."""

    def __init__(self, inner: BinaryIO, path: PathLike, codec: str):
        self.inner, self.path, self.codec, self.pos = inner, path, codec, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:  # type: ignore[override]
        try:
            n = self.inner.readinto(buf)  # type: ignore[attr-defined]
        except EOFError:
            raise input_error(self.path, f"truncated {self.codec} data: the stream ends after "
                                         f"{self.pos:,} decompressed bytes") from None
        except Exception as exc:  # noqa: BLE001 - zlib, lzma, bz2, zstd and indexed_bzip2 errors alike
            raise input_error(self.path, f"corrupt or truncated {self.codec} data after {self.pos:,} "
                                         f"decompressed bytes ({type(exc).__name__}: {exc})") from None
        self.pos += n or 0
        return n or 0

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            super().close()


def _decompressor(raw: BinaryIO, path: PathLike, codec: str, threads: int | None) -> BinaryIO:
    if codec == "gzip":
        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[return-value]
    if codec == "xz":
        return lzma.LZMAFile(raw)  # type: ignore[return-value]
    if codec == "zstd":
        try:
            import zstandard
        except ImportError:
            raise input_error(path, "is zstd data: pip install zstandard to read it") from None
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)  # type: ignore[return-value]
    if not is_uri(path):
        import indexed_bzip2

        raw.close()
        n = threads or min(os.cpu_count() or 1, 4)
        return indexed_bzip2.open(str(path), parallelization=n)  # type: ignore[return-value]
    import bz2

    return bz2.BZ2File(raw)  # type: ignore[return-value]


def open_input(path: PathLike, threads: int | None = None) -> BinaryIO:
    """Open ``path`` (local or fsspec URI) for binary reading, decompressed by its magic bytes
    (``threads`` for bz2). Raises InputError naming the file on any failure (see module doc)."""
    raw = _open_raw(path)
    try:
        if hasattr(raw, "peek"):
            head = raw.peek(10)[:10]
        else:  # an fsspec file
            head = raw.read(10)
            raw.seek(0)
    except OSError as exc:
        raw.close()
        raise os_input_error(path, exc) from None
    codec = sniff_codec(head)
    named = SUFFIX_CODECS.get(Path(str(path)).suffix.lower())
    if named is not None and codec != named:
        raw.close()
        raise input_error(path, f"is named {Path(str(path)).suffix} but is not {named} data "
                                f"(it starts with {head[:6]!r})")
    log.debug("reading %s (%s)", display_name(path), codec or "not compressed")
    if codec is None:
        track_input(path, raw)
        return raw
    try:
        inner = _decompressor(raw, path, codec, threads)
    except (OSError, RuntimeError) as exc:
        raw.close()
        raise input_error(path, f"cannot read {codec} data: {exc}") from None
    track_input(path, inner if hasattr(inner, "tell_compressed") else raw)  # bytes read, for progress
    return io.BufferedReader(_Guarded(inner, path, codec), BUFFER)  # type: ignore[return-value]


def check_file(path: PathLike) -> None:
    """Raise InputError unless ``path`` can be opened for reading (a URI is checked when read)."""
    if not is_uri(path):
        _open_raw(path).close()


def iter_lines(path: PathLike, start: int = 0, first: int = 1, count: int | None = None
               ) -> Iterator[tuple[int, bytes]]:
    """Yield ``(line_number, raw_line)`` (line end removed) from a possibly compressed file:
    all lines, or ``count`` lines from byte ``start`` (of an uncompressed file, see
    :func:`pair_line_offsets`) numbered from ``first``."""
    with open_input(path) as fh:
        if start:
            fh.seek(start)
        for n, line in enumerate(fh if count is None else islice(fh, count), first):
            if line.endswith(b"\n"):
                line = line[:-1]
                if line.endswith(b"\r"):
                    line = line[:-1]
            yield n, line


def decode_line(raw: bytes, source: str, line: int, stage: str) -> str | Reject:
    """``raw`` as UTF-8 text, or a reject naming the line and the bad byte's offset in it."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Reject(source, line, stage, f"invalid UTF-8 at byte {exc.start} of line {line}",
                      raw.decode("utf-8", "replace"))


def strict_decode(path: PathLike, n: int, raw: bytes) -> str:
    """Line ``n`` of ``path`` as text; invalid UTF-8 raises InputError naming the file, the
    line and the byte offset in it."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise input_error(path, f"invalid UTF-8 at byte {exc.start} of the line", n) from None


def text_lines(path: PathLike) -> Iterator[tuple[int, str]]:
    """``(line_number, text)`` of a UTF-8 text file (strict: see :func:`strict_decode`)."""
    for n, raw in iter_lines(path):
        yield n, strict_decode(path, n, raw)


def control_reason(text: str) -> str | None:
    """Why ``text`` is not a clean sentence (a NUL or other control character), else None."""
    m = CONTROL.search(text)
    return None if m is None else f"control character U+{ord(m.group()):04X} at offset {m.start()}"


def split_pair(text: str) -> list[str]:
    """The one ``src ||| tgt`` parser: split on ``|||`` with the single space on each side
    of it removed (``a ||| b`` -> ``["a", "b"]``); a line without exactly one separator
    gives another number of parts."""
    parts = text.split("|||")
    if len(parts) != 2:
        return parts
    left, right = parts
    return [left[:-1] if left.endswith(" ") else left, right[1:] if right.startswith(" ") else right]


def pair_of(path: PathLike, n: int, raw: bytes) -> tuple[str, str]:
    """Raw line ``n`` of a ``src ||| tgt`` file as (src, tgt); a line without exactly one
    separator or with invalid UTF-8 raises InputError with its line number."""
    parts = split_pair(strict_decode(path, n, raw))
    if len(parts) != 2:
        raise input_error(path, f"expected one 'src ||| tgt' pair, found {len(parts) - 1} '|||' separators", n)
    return parts[0], parts[1]


def read_pair_lines(path: PathLike, start: int = 0, first: int = 1, count: int | None = None
                    ) -> Iterator[tuple[int, str, str]]:
    """``(line, src, tgt)`` of a ``src ||| tgt`` file (or of a range, as :func:`iter_lines`),
    each line checked by :func:`pair_of`."""
    for n, raw in iter_lines(path, start, first, count):
        yield (n, *pair_of(path, n, raw))


_TWO_SEPARATORS = re.compile(rb"\|\|\|[^\n]*\|\|\|")


def _check_pair_block(path: PathLike, block: bytes, lines: int, first: int) -> None:
    """Raise :func:`pair_of`'s error for the first bad line of ``block`` (``lines`` whole
    lines, the first numbered ``first``). Fast when all are good: each line has exactly one
    separator when the block has one per line and no line has two."""
    try:
        block.decode("utf-8")
        good = block.count(b"|||") == lines and not _TWO_SEPARATORS.search(block)
    except UnicodeDecodeError:
        good = False
    if not good:
        for n, raw in enumerate(block.split(b"\n"), first):
            pair_of(path, n, raw[:-1] if raw.endswith(b"\r") else raw)


def pair_line_offsets(path: PathLike, every: int) -> tuple[int, list[int]] | None:
    """The number of lines of a local, uncompressed ``src ||| tgt`` file and the byte
    offset of lines 1, ``every`` + 1, 2 ``every`` + 1, ... (where each chunk of ``every``
    lines starts, for :func:`read_pair_lines`), every line checked as :func:`pair_of`
    does, in blocks. None for a compressed or remote file (it cannot seek)."""
    import numpy as np

    if is_uri(path):
        return None
    with open_input(path) as fh:
        if not isinstance(getattr(fh, "raw", None), io.FileIO):
            return None
        offsets: list[int] = []
        n = pos = 0
        tail = b""
        while True:
            block = fh.read(BUFFER)
            data = tail + block
            if not block:  # a last line without a line end
                data += b"\n" if data else b""
            newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
            if len(newlines):
                cut = int(newlines[-1]) + 1
                _check_pair_block(path, data[:cut - 1], len(newlines), n + 1)
                starts = np.concatenate(([0], newlines[:-1] + 1))
                marks = np.arange(-n % every, len(newlines), every)
                offsets.extend((pos + starts[marks]).tolist())
                n, pos, tail = n + len(newlines), pos + cut, data[cut:]
            else:
                tail = data
            if not block:
                return n, offsets


def read_token_pairs(src: PathLike, tgt: PathLike, tokenize: Callable[[str], list[str]] = str.split,
                     ) -> tuple[list[list[str]], list[list[str]]]:
    """The one reader of extra (training-only) bitext: tokens of two line-parallel files.

    Pairs with an empty side are left out (they teach an aligner nothing). Unequal line
    counts or invalid UTF-8 raise InputError naming the file and line.
    """
    src_out: list[list[str]] = []
    tgt_out: list[list[str]] = []
    for a, b in zip_longest(text_lines(src), text_lines(tgt)):
        if a is None or b is None:
            longer, n = (tgt, b[0]) if a is None else (src, a[0])  # type: ignore[index]
            raise input_error(longer, f"line {n} has no counterpart in {tgt if a is not None else src}: "
                                      "the files are not line-parallel", n)
        s, t = tokenize(a[1]), tokenize(b[1])
        if s and t:
            src_out.append(s)
            tgt_out.append(t)
    return src_out, tgt_out
