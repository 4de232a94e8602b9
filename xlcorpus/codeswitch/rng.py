"""Counter-based random numbers shared by the vectorised and the per-row implementations.

Every random decision is a pure function of (seed, record id, target language, link
position, purpose), computed with the SplitMix64 finaliser; so results depend neither on
batching nor on workers, and NumPy (vectorised) and plain Python give identical values.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ids import seed_for, stable_id

MASK64 = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
C1 = 0xBF58476D1CE4E5B9
C2 = 0x94D049BB133111EB
STEP = 0xD1B54A32D192ED03
INV53 = 1.0 / (1 << 53)
# purposes of per-entity draws
SWITCH, ALIAS, PICK = 1, 2, 3

_U = np.uint64


def mix64(x: int) -> int:
    """SplitMix64 of a Python int (mod 2**64)."""
    z = (x + GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * C1) & MASK64
    z = ((z ^ (z >> 27)) * C2) & MASK64
    return z ^ (z >> 31)


def mix64_np(x: np.ndarray) -> np.ndarray:
    """SplitMix64 of a uint64 array (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = x.astype(np.uint64)  # a copy: the in-place steps below never touch x
        z += _U(GOLDEN)
        z ^= z >> _U(30)
        z *= _U(C1)
        z ^= z >> _U(27)
        z *= _U(C2)
        z ^= z >> _U(31)
        return z


def draw(pair_key: int, link: int, purpose: int) -> int:
    """The 64-bit draw for one link of one (sentence, language) pair."""
    return mix64((pair_key + (link * 4 + purpose) * STEP) & MASK64)


def draw_np(pair_key: np.ndarray, link: np.ndarray, purpose: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return mix64_np(pair_key + (link.astype(np.uint64) * _U(4) + _U(purpose)) * _U(STEP))


def uniform(z: int) -> float:
    return (z >> 11) * INV53


def uniform_np(z: np.ndarray) -> np.ndarray:
    return (z >> _U(11)).astype(np.float64) * INV53


def lang_key(lang: str) -> int:
    return seed_for(0, "lang", lang)


def id_hash(record_id: str) -> int:
    """64-bit value of a record id: the id itself when it is 16 hex digits (a ``stable_id``),
    else the ``stable_id`` of it."""
    if len(record_id) == 16:
        try:
            return int(record_id, 16)
        except ValueError:
            pass
    return int(stable_id(record_id), 16)


_HEX_VALUE = np.full(256, 255, dtype=np.uint8)
for _i, _c in enumerate(b"0123456789abcdef"):
    _HEX_VALUE[_c] = _i
for _i, _c in enumerate(b"ABCDEF"):
    _HEX_VALUE[_c] = 10 + _i
_HEX_CHARS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def id_hash_np(ids: pa.Array) -> np.ndarray:
    """:func:`id_hash` of a string array, vectorised when every id is 16 hex digits."""
    ids = ids.cast(pa.string())
    n = len(ids)
    if n and ids.null_count == 0:
        offsets = np.frombuffer(ids.buffers()[1], dtype=np.int32)[ids.offset: ids.offset + n + 1]
        if np.all(np.diff(offsets) == 16):
            data = np.frombuffer(ids.buffers()[2], dtype=np.uint8)[offsets[0]: offsets[-1]].reshape(n, 16)
            nib = _HEX_VALUE[data]
            if not (nib == 255).any():
                out = np.zeros(n, dtype=np.uint64)
                for j in range(16):
                    out = (out << _U(4)) | nib[:, j].astype(np.uint64)
                return out
    return np.array([id_hash(x) for x in ids.to_pylist()], dtype=np.uint64)


def hex16(x: int) -> str:
    return f"{x:016x}"


def hex16_np(x: np.ndarray) -> pa.StringArray:
    """16-hex-digit strings of a uint64 array, as an Arrow string array."""
    n = len(x)
    b = x.astype(">u8").view(np.uint8).reshape(n, 8)
    nib = np.empty((n, 16), dtype=np.uint8)
    nib[:, 0::2] = b >> 4
    nib[:, 1::2] = b & 15
    data = _HEX_CHARS[nib].tobytes()
    offsets = np.arange(0, 16 * n + 1, 16, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data))


def pc_len(arr: pa.Array) -> np.ndarray:
    return pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
