"""Stable ids and fingerprints.

Ids are derived from the input (source, position, parameters), never from row order, batch
or worker, so reruns and engines give the same ids. They are the first 16 hex digits of a
BLAKE2b digest of the parts joined by the unit separator (U+001F).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

SEP = "\x1f"


def stable_id(*parts: Any) -> str:
    """16-hex-digit id of ``parts`` (each converted with ``str``)."""
    data = SEP.join("" if p is None else str(p) for p in parts).encode("utf-8")
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def seed_for(seed: int, *parts: Any) -> int:
    """A 64-bit seed for one record: sampling depends on (seed, record), not on batching."""
    data = SEP.join([str(seed), *map(str, parts)]).encode("utf-8")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


def params_fingerprint(obj: Any) -> str:
    """Fingerprint of a JSON-able value (parameters), independent of key order."""
    data = orjson.dumps(obj, option=orjson.OPT_SORT_KEYS, default=str)
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def file_fingerprint(path: str | os.PathLike[str], sample: int = 1 << 20) -> str:
    """Cheap content fingerprint of a file: size plus BLAKE2b of its first and last MiB.

    Full hashing of a 100 GB dump would cost minutes; size and the two ends catch every
    realistic change of a dump or corpus file (new dumps differ at both ends). A directory
    is fingerprinted from the sorted fingerprints of its files.
    """
    p = Path(path)
    if p.is_dir():
        inner = [f"{f.relative_to(p)}:{file_fingerprint(f)}" for f in sorted(p.rglob("*")) if f.is_file()]
        return params_fingerprint(inner)
    size = p.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    h.update(str(size).encode())
    with p.open("rb") as fh:
        h.update(fh.read(sample))
        if size > sample:
            fh.seek(max(sample, size - sample))
            h.update(fh.read(sample))
    return h.hexdigest()
