"""The cached Uroman copy: same output, only trusted files are loaded, damaged ones rebuilt."""

from __future__ import annotations

import os
import stat

import pytest
import uroman

from xlcorpus.translit import uroman_cache
from xlcorpus.translit.uroman_cache import cache_path, load_uroman

SAMPLES = [("一百二十三万", "zho"), ("½ und 23½", "deu"), ("Ⅻ", None), ("١٢٣٫٥", "ara"), ("Съешь ещё", "rus"),
           ("กรุงเทพมหานคร", "tha"), ("こんにちは、世界", "jpn"), ("서울특별시", "kor"), ("ሰላም ፡ ዓለም", "amh")]


@pytest.fixture
def builds(tmp_path, monkeypatch):
    """Cache in a temporary folder; counts how many times a Uroman is built."""
    monkeypatch.setenv("XLCORPUS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("XLCORPUS_UROMAN_CACHE", raising=False)
    count = {"n": 0}
    real_init = uroman.Uroman.__init__

    def counting_init(self, *a, **kw):
        count["n"] += 1
        real_init(self, *a, **kw)

    monkeypatch.setattr(uroman.Uroman, "__init__", counting_init)
    return count


def test_copy_is_written_once_then_loaded_with_identical_output(builds):
    built = load_uroman()
    path = cache_path()
    assert builds["n"] == 1 and path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_uroman()
    assert builds["n"] == 1 and loaded is not built
    for text, lcode in SAMPLES:
        assert loaded.romanize_string(text, lcode=lcode) == built.romanize_string(text, lcode=lcode), text
    assert loaded.dict_num["not a number"] is None  # the defaultdict still answers None


def test_untrusted_or_damaged_copies_are_rebuilt(builds):
    load_uroman()
    path = cache_path()
    os.chmod(path, 0o666)  # writable by others: never loaded
    load_uroman()
    assert builds["n"] == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # replaced by a private copy
    path.write_bytes(b"not a pickle")
    os.chmod(path, 0o600)
    u = load_uroman()
    assert builds["n"] == 3 and u.romanize_string("Москва") == "Moskva"
    assert load_uroman() and builds["n"] == 3  # the rebuilt copy is used again


def test_switched_off(builds, monkeypatch):
    monkeypatch.setenv(uroman_cache.ENV_SWITCH, "0")
    load_uroman()
    load_uroman()
    assert builds["n"] == 2 and not cache_path().exists()
