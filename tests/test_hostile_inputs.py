"""Findings of the hostile-inputs review, one test each: nothing destroyed, no foreign code
loaded, a clear message naming the file (and line or offset) instead of a traceback."""

from __future__ import annotations

import errno
import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.cli import describe_os_error, entry
from xlcorpus.engine.local import LocalEngine
from xlcorpus.errors import InputError, StoreError
from xlcorpus.sources.inputs import open_input, os_input_error, read_token_pairs, sniff_codec
from xlcorpus.store import Store

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"


@pytest.fixture(scope="module")
def small_store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("hostile") / "store")
    pl.run(pl.load(REPO / "pipelines" / "import_bitext.yaml").pipeline, store, LocalEngine(progress=False))
    return store


def fresh_copy(store: Store, dest: Path) -> Store:
    shutil.copytree(store.root, dest)
    return Store(dest)


# ----------------------------------------------------------- export hf --overwrite
def test_export_overwrite_never_replaces_the_store_cwd_home_or_a_foreign_folder(small_store, tmp_path,
                                                                                 monkeypatch, capsys):
    store = fresh_copy(small_store, tmp_path / "store")
    before = sorted(p.relative_to(store.root) for p in Path(store.root).rglob("*"))
    base = ["export", "hf", "bitext", "--store", store.root, "--license", "cc-by-4.0", "--overwrite", "--to"]
    assert entry(base + [store.root]) == 1
    assert "it is, holds or lies in the store" in capsys.readouterr().err
    assert entry(base + [str(tmp_path)]) == 1  # holds the store
    assert entry(base + [str(Path(store.root) / "bitext")]) == 1  # inside the store
    assert sorted(p.relative_to(store.root) for p in Path(store.root).rglob("*")) == before
    work = tmp_path / "work"
    (work / "keep").mkdir(parents=True)
    (work / "keep" / "notes.txt").write_text("mine")
    monkeypatch.chdir(work)
    assert entry(base + ["."]) == 1 and "the current folder" in capsys.readouterr().err
    monkeypatch.setenv("HOME", str(work / "keep"))
    assert entry(base + [str(work / "keep")]) == 1 and "the home folder" in capsys.readouterr().err
    monkeypatch.setenv("HOME", str(tmp_path / "elsewhere"))
    assert entry(base + [str(work / "keep")]) == 1  # not made by an export: no marker
    assert "was not made by `xlcorpus export hf`" in capsys.readouterr().err
    assert (work / "keep" / "notes.txt").read_text() == "mine"
    out = work / "hub"
    assert entry(base[:-2] + ["--to", str(out)]) == 0 and (out / ".xlcorpus-export").is_file()
    assert entry(base + [str(out)]) == 0  # an earlier export: replaced


def test_export_refuses_a_filesystem_root(small_store):
    from xlcorpus.export.hf import ExportError, check_replaceable

    with pytest.raises(ExportError, match="refusing"):
        check_replaceable(Path("/"), small_store)  # only checks, never deletes


# ----------------------------------------------------------- code from the cache folder
def test_eflomal_seeding_loads_no_code_and_changes_no_process_state(tmp_path):
    """Seeding is a mount namespace per call: no preload, no cached library, os.environ untouched."""
    from xlcorpus.align import seeding

    before = dict(os.environ)
    argv, env = seeding.eflomal_command(["-h"], 5, tmp_path)
    assert "LD_PRELOAD" not in env or env["LD_PRELOAD"] == before.get("LD_PRELOAD")
    assert dict(os.environ) == before and env["OMP_NUM_THREADS"] == "1"
    assert not any(p.endswith(".so") for p in argv)
    if seeding.can_seed():
        assert argv[0].endswith("unshare") and (tmp_path / "seed").read_bytes() == (5).to_bytes(8, "little")


def test_trust_rules(tmp_path):
    from xlcorpus.trust import private_folder, trusted, untrusted_reason

    folder = tmp_path / "c"
    assert private_folder(folder) is None
    f = folder / "x.so"
    f.write_bytes(b"x")
    os.chmod(f, 0o600)
    assert trusted(f)
    os.chmod(f, 0o620)
    assert "writable by group or others" in untrusted_reason(f)
    os.chmod(f, 0o600)
    link = folder / "l.so"
    link.symlink_to(f)
    assert not trusted(link)
    os.chmod(tmp_path, 0o757)
    try:
        assert "writable by another user" in untrusted_reason(f)
    finally:
        os.chmod(tmp_path, 0o700)


# ----------------------------------------------------------- CRFsuite model checksum
def test_damaged_crf_model_is_an_error_not_a_crash(tmp_path):
    annotations = SAMPLE / "translit" / "etymology.tsv"
    model = tmp_path / "m"
    assert entry(["-q", "etymology", "train", "--annotations", str(annotations), "--model", str(model)]) == 0
    assert len(json.loads((model / "meta.json").read_text())["sha256"]) == 64
    data = (model / "model.crfsuite").read_bytes()
    for damaged in (data[: len(data) // 2], data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]):
        (model / "model.crfsuite").write_bytes(damaged)
        proc = subprocess.run([sys.executable, "-m", "xlcorpus", "etymology", "eval", "--model", str(model),
                               "--annotations", str(annotations)], capture_output=True, text=True, timeout=120,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        assert proc.returncode == 1, proc.stderr
        assert "damaged or altered model" in proc.stderr and "Traceback" not in proc.stderr


# ----------------------------------------------------------- the input layer
@pytest.mark.parametrize("suffix,compress", [(".gz", gzip.compress), (".xz", lzma.compress),
                                             (".bz2", __import__("bz2").compress)])
def test_truncated_and_mislabelled_compression(tmp_path, suffix, compress):
    body = b"".join(b"line %d\n" % i for i in range(5000))
    good = tmp_path / f"a.txt{suffix}"
    good.write_bytes(compress(body))
    with open_input(good) as fh:
        assert fh.read() == body
    hidden = tmp_path / "hidden.txt"  # compressed data under a plain name: read by its content
    hidden.write_bytes(compress(body))
    with open_input(hidden) as fh:
        assert fh.read() == body
    cut = tmp_path / f"cut.txt{suffix}"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) * 2 // 3])
    with pytest.raises(InputError, match=rf"cut.txt{suffix}: (truncated|corrupt or truncated)"):
        with open_input(cut) as fh:
            fh.read()
    fake = tmp_path / f"plain.txt{suffix}"
    fake.write_bytes(body)
    with pytest.raises(InputError, match=rf"plain.txt{suffix}: is named {suffix} but is not"):
        open_input(fake)


def test_uri_inputs_through_fsspec():
    import fsspec

    from xlcorpus.sources.inputs import iter_lines

    with fsspec.open("memory://xlcorpus-test/pairs.txt.gz", "wb") as fh:
        fh.write(gzip.compress(b"a ||| b\nc ||| d\n"))
    assert list(iter_lines("memory://xlcorpus-test/pairs.txt.gz")) == [(1, b"a ||| b"), (2, b"c ||| d")]
    with pytest.raises(InputError, match="memory://xlcorpus-test/none.txt: does not exist"):
        open_input("memory://xlcorpus-test/none.txt")


def test_codec_sniffing_needs_real_magic():
    assert sniff_codec(b"BZh91AY&SY") == "bz2"
    assert sniff_codec(b"BZh9 words") is None  # text that merely starts like bz2
    assert sniff_codec(b"\x1f\x8b\x08") == "gzip" and sniff_codec(b"\xfd7zXZ\x00") == "xz"


def test_open_failures_name_the_file(tmp_path, monkeypatch):
    with pytest.raises(InputError, match=r"missing.txt: does not exist"):
        open_input(tmp_path / "missing.txt")
    with pytest.raises(InputError, match=r": is a folder, not a file"):
        open_input(tmp_path)
    with pytest.raises(InputError, match=r"file name too long"):
        open_input(tmp_path / ("x" * 300))
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match=r"a part of the path is a file, not a folder"):
        open_input(tmp_path / "f" / "g")
    assert str(os_input_error("in.txt", PermissionError(errno.EACCES, "Permission denied", "in.txt"))) == \
        "in.txt: permission denied"  # (this test may run as root, who can read anything)
    assert describe_os_error(PermissionError(errno.EACCES, "x", "/s/_staging")) == "/s/_staging: permission denied"
    assert describe_os_error(OSError(errno.EROFS, "x", "/s/_releases.lock")) == "/s/_releases.lock: read-only file system"


def test_unreadable_and_read_only_paths_via_the_cli(tmp_path, monkeypatch, capsys):
    """PermissionError anywhere in a command is one line naming the path, exit 1."""
    import xlcorpus.store as store_mod

    def denied(*a, **kw):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "s" / "_releases"))

    Store(tmp_path / "s")
    monkeypatch.setattr(store_mod.Store, "_put_release", denied)
    assert entry(["tag", "v1", "--store", str(tmp_path / "s")]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 's' / '_releases'}: permission denied\n"


def test_extra_bitext_reader_is_strict_and_shared(tmp_path):
    a, b = tmp_path / "x.en", tmp_path / "x.fr"
    a.write_text("the cat\n\nsat\n")
    b.write_text("le chat\nvide\n")
    with pytest.raises(InputError, match=r"x.en:3: line 3 has no counterpart"):
        read_token_pairs(a, b)
    b.write_bytes(b"le chat\nvide\nassis\xff\n")
    with pytest.raises(InputError, match=r"x.fr:3: invalid UTF-8 at byte 5"):
        read_token_pairs(a, b)
    b.write_text("le chat\nvide\nassis\n")
    assert read_token_pairs(a, b) == ([["the", "cat"], ["sat"]], [["le", "chat"], ["assis"]])


# ----------------------------------------------------------- bitext control characters
def test_nul_and_control_characters_in_bitext_are_rejected_or_kept_when_asked(tmp_path):
    from xlcorpus.sources.bitext import BitextImport

    pairs = tmp_path / "p.txt"
    pairs.write_bytes(b"a b ||| c d\nnul\x00here ||| x\nok ||| bell\x07\nfine ||| tab\tinside\n")
    store = Store(tmp_path / "s")
    pl.run(BitextImport("en", "fr", pairs=pairs), store, LocalEngine(progress=False))
    assert sorted(store.to_arrow("bitext").column("src").to_pylist()) == ["a b", "fine"]
    reasons = {r["position"]: r["reason"] for r in store.to_arrow("bitext_rejects").to_pylist()}
    assert reasons == {2: "source side: control character U+0000 at offset 3",
                       3: "target side: control character U+0007 at offset 4"}
    kept = Store(tmp_path / "k")
    pl.run(BitextImport("en", "fr", pairs=pairs, keep_control=True), kept, LocalEngine(progress=False))
    assert kept.count("bitext") == 4


# ----------------------------------------------------------- the store
def test_damaged_tables_are_named_and_the_others_stay_usable(small_store, tmp_path, capsys):
    store = fresh_copy(small_store, tmp_path / "s")
    root = Path(store.root)
    assert entry(["check", "--store", str(root)]) == 0
    log = sorted((root / "bitext" / "_delta_log").glob("*.json"))[-1]
    log.write_bytes(log.read_bytes()[:100])  # a cut last commit
    capsys.readouterr()
    assert entry(["tables", "--store", str(root)]) == 1
    out = capsys.readouterr()
    assert out.out.startswith("bitext_rejects\t") and "table 'bitext'" in out.err and "Traceback" not in out.err
    assert entry(["sql", "--store", str(root), "--format", "csv", "SELECT 1 AS one"]) == 0
    assert capsys.readouterr().out.splitlines() == ['"one"', "1"]
    assert entry(["sql", "--store", str(root), "SELECT count(*) FROM bitext"]) == 1
    assert entry(["check", "--store", str(root)]) == 1
    err = capsys.readouterr().err
    assert f"error: {log}:1: not a JSON action" in err
    (root / "_releases.json").write_text("{bad")
    assert entry(["check", "--store", str(root)]) == 1
    assert "_releases.json: damaged releases file" in capsys.readouterr().err
    with pytest.raises(StoreError, match="damaged releases file"):
        store.releases()


def test_missing_data_file_is_named_by_check(small_store, tmp_path, capsys):
    store = fresh_copy(small_store, tmp_path / "s")
    part = next(Path(store.root, "bitext").rglob("*.parquet"))
    part.unlink()
    assert entry(["check", "--store", store.root]) == 1
    assert f"error: {part}: data file of table 'bitext' v0 is missing" in capsys.readouterr().err
    assert entry(["tables", "--store", store.root]) == 1
    assert "table 'bitext'" in capsys.readouterr().err
    other = next(Path(store.root, "bitext_rejects").rglob("*.parquet"))
    other.write_bytes(other.read_bytes() + b"x")
    assert entry(["check", "--store", store.root]) == 1
    assert "bytes, but the log of table 'bitext_rejects' says" in capsys.readouterr().err


def test_store_path_under_a_file_and_a_huge_language_code(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    run = ["run", str(REPO / "pipelines" / "import_bitext.yaml")]
    assert entry(run + ["--store", str(tmp_path / "file" / "store")]) == 1
    assert "a part of the path is a file, not a folder" in capsys.readouterr().err
    assert entry(run + ["--store", str(tmp_path / "s"), "--set", "src_lang=" + "x" * 300]) == 1
    err = capsys.readouterr().err
    assert "is not a language code" in err and "Traceback" not in err  # refused before any step
    from xlcorpus.errors import StoreError
    from xlcorpus.schema import contract
    from xlcorpus.store import Store

    row = {"id": "1", "src_lang": "x" * 300, "tgt_lang": "fr", "src": "a", "tgt": "b", "source": "f", "line": 1}
    with pytest.raises(StoreError, match="invalid partition value.*300 characters"):  # the store's own guard
        Store(tmp_path / "t").write("bitext", contract("bitext").batch([row]))


def _pair_file_bytes() -> bytes:
    lines = [f"w{n} é\t{n} ||| m{n} \r ü{'|' * (n % 3)}".encode() for n in range(1, 40)]
    return b"\n".join(lines[:20]) + b"\r\n" + b"\n".join(lines[20:])  # a CRLF, no line end at the end


@pytest.mark.parametrize("block", [7, 64, 1 << 20])
def test_chunk_offsets_point_at_the_lines_read_pair_lines_reads(tmp_path, monkeypatch, block):
    """Each chunk read from its byte offset gives the lines (numbers and text) of the whole
    file's read, however blocks cut the lines; a compressed file has no offsets."""
    from xlcorpus.sources import inputs

    monkeypatch.setattr(inputs, "BUFFER", block)
    path = tmp_path / "pairs.txt"
    path.write_bytes(_pair_file_bytes())
    whole = list(inputs.read_pair_lines(path))
    assert len(whole) == 39 and whole[19][2].endswith("ü||") and whole[20][1] == "w21 é\t21"
    for every in (1, 5, 13, 39, 100):
        total, offsets = inputs.pair_line_offsets(path, every)
        assert total == 39 and len(offsets) == -(-39 // every)
        got = [x for k, off in enumerate(offsets) for x in inputs.read_pair_lines(path, off, 1 + k * every, every)]
        assert got == whole
    gz = tmp_path / "pairs.txt.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert inputs.pair_line_offsets(gz, 5) is None
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert inputs.pair_line_offsets(empty, 5) == (0, [])


@pytest.mark.parametrize("bad, what", [(b"a b c", "found 0 '|||' separators"),
                                       (b"a ||| b ||| c", "found 2 '|||' separators"),
                                       (b"a \xff ||| b", "invalid UTF-8 at byte 2 of the line"),
                                       (b"", "found 0 '|||' separators")])
@pytest.mark.parametrize("block", [16, 1 << 20])
def test_the_chunk_scan_reports_a_bad_line_as_read_pair_lines_does(tmp_path, monkeypatch, bad, what, block):
    from xlcorpus.sources import inputs

    monkeypatch.setattr(inputs, "BUFFER", block)
    lines = [b"x ||| y ||||"[: 7 + n % 2] for n in range(30)]  # '|||' and '||||' on the right: one separator
    lines[17:17] = [bad, b"a ||| b ||| c"]
    path = tmp_path / "pairs.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as scan:
        inputs.pair_line_offsets(path, 4)
    with pytest.raises(InputError) as read:
        list(inputs.read_pair_lines(path))
    assert str(scan.value) == str(read.value)
    assert str(scan.value).startswith(f"{path}:18: ") and str(scan.value).endswith(what)
