"""A corpus of broken inputs built from the bundled samples (cut, flipped, mislabelled,
duplicated, hostile paths) and the CLI commands to run on them.

Used by ``tests/test_broken_inputs_cli.py`` (every case must end in exit 1 or 2 naming the
file, or exit 0 with the expected rejects, and never print a traceback) and by
``benchmarks/broken_inputs.py`` (the counts by command and outcome).
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
PIPELINES = REPO / "pipelines"


@dataclass
class Case:
    """One command on one broken input: ``codes`` are the accepted exit codes, ``names`` the
    strings the output must contain (the file at fault, the line, the reject count)."""

    name: str
    command: str  # the CLI command exercised, for the counts
    reader: str  # the reader (or store part) exercised
    args: list[str]
    codes: tuple[int, ...] = (1,)
    names: list[str] = field(default_factory=list)


def _cut(data: bytes, share: float = 0.5) -> bytes:
    return data[: int(len(data) * share)]


def _flip(data: bytes, at: int, byte: int = 0xFF) -> bytes:
    return data[:at] + bytes([byte]) + data[at + 1:]


def build(root: Path) -> list[Case]:
    """Write the broken inputs under ``root``; return the cases."""
    root.mkdir(parents=True, exist_ok=True)

    def w(name: str, data: bytes) -> str:
        (root / name).write_bytes(data)
        return str(root / name)

    en = (SAMPLE / "bitext" / "sample.en-fr.en").read_bytes()
    fr = (SAMPLE / "bitext" / "sample.en-fr.fr").read_bytes()
    pairs = (SAMPLE / "bitext" / "sample.en-de.txt").read_bytes()
    wd = (SAMPLE / "entitycs" / "wikidata-sample.json").read_bytes()
    wp = (SAMPLE / "entitycs" / "enwiki-sample.xml").read_bytes()
    conll_en = (SAMPLE / "project" / "sample.en.conll").read_bytes()
    conll_es = (SAMPLE / "project" / "sample.es.conll").read_bytes()
    toolbox = (SAMPLE / "igt" / "sample.es.toolbox.txt").read_bytes()
    etym = (SAMPLE / "translit" / "etymology.tsv").read_bytes()
    align_en = (SAMPLE / "align" / "sample.en-fr.en").read_bytes().splitlines()
    align_fr = (SAMPLE / "align" / "sample.en-fr.fr").read_bytes().splitlines()
    align_pairs = b"".join(a + b" ||| " + b + b"\n" for a, b in zip(align_en, align_fr))
    stores = iter(range(1000))
    pairs_yaml = w("pairs.yaml", b"pipeline: bitext-import\nparams:\n  pairs: none.txt\n  src_lang: en\n  tgt_lang: de\n")

    def run(pipeline: str, *sets: str) -> list[str]:
        path = pipeline if "/" in pipeline else str(PIPELINES / pipeline)
        return ["-q", "run", path, "--store", str(root / f"store{next(stores)}"),
                *[x for s in sets for x in ("--set", s)]]

    wd_lines = wd.splitlines(True)
    first_entity = next(i for i, line in enumerate(wd_lines) if line.startswith(b"{"))
    cases = [
        # bitext import
        Case("moses-cut", "run bitext-import", "bitext", run("import_bitext.yaml", f"src={w('cut.en', en)}",
             f"tgt={w('cut.fr', _cut(fr))}"), names=["cut.en:"]),
        Case("pairs-bad-bytes", "run bitext-import", "bitext",
             run(pairs_yaml, "pairs=" + w("bad.txt", _flip(pairs, 10) + b"nul\x00x ||| y\n")),
             codes=(0,)),
        Case("pairs-gz-cut", "run bitext-import", "bitext", run(pairs_yaml,
             f"pairs={w('cut.txt.gz', _cut(gzip.compress(pairs * 50)))}"), names=["cut.txt.gz: truncated gzip"]),
        Case("pairs-xz-cut", "run bitext-import", "bitext", run(pairs_yaml,
             f"pairs={w('cut.txt.xz', _cut(lzma.compress(pairs * 50)))}"), names=["cut.txt.xz: truncated xz"]),
        Case("pairs-not-gzip", "run bitext-import", "bitext", run(pairs_yaml,
             f"pairs={w('plain.txt.gz', pairs)}"), names=["plain.txt.gz: is named .gz but is not gzip"]),
        Case("pairs-folder", "run bitext-import", "bitext", run(pairs_yaml,
             f"pairs={root}"), codes=(1, 2), names=[root.name]),
        Case("pairs-missing", "run bitext-import", "bitext", run(pairs_yaml,
             f"pairs={root / 'missing.txt'}"), names=["missing.txt: does not exist"]),
        Case("lang-300-chars", "run bitext-import", "bitext", run("import_bitext.yaml", "src_lang=" + "x" * 300),
             names=["is not a language code"]),
        # Wikidata + Wikipedia
        Case("wikidata-bz2-cut", "run entitycs", "wikidata", run("entitycs.yaml",
             f"wikidata={w('wd.json.bz2', _cut(bz2.compress(wd * 20)))}"), names=["wd.json.bz2: corrupt or truncated bz2"]),
        Case("wikidata-not-bz2", "run entitycs", "wikidata", run("entitycs.yaml",
             f"wikidata={w('wdplain.json.bz2', wd)}"), names=["wdplain.json.bz2: is named .bz2 but is not bz2"]),
        Case("wikidata-duplicated", "run entitycs", "wikidata", run("entitycs.yaml",
             f"wikidata={w('wddup.json', b''.join(wd_lines[:first_entity + 1] + wd_lines[first_entity:]))}"),
             codes=(0,)),
        Case("wikidata-flipped", "run entitycs", "wikidata", run("entitycs.yaml",
             f"wikidata={w('wdflip.json', _flip(wd, len(wd) // 2, ord('}')))}"), codes=(0,)),
        Case("wikipedia-bad-byte", "run entitycs", "wikipedia", run("entitycs.yaml",
             f"wikipedia={w('wp.xml', _flip(wp, wp.index(b'<title>Malta') + 8))}"), codes=(0,)),
        Case("wikipedia-cut-bz2", "run entitycs", "wikipedia", run("entitycs.yaml",
             f"wikipedia={w('wp.xml.bz2', _cut(bz2.compress(wp * 40)))}"), names=["wp.xml.bz2: corrupt or truncated bz2"]),
        Case("wikipedia-not-xml", "run entitycs", "wikipedia", run("entitycs.yaml",
             f"wikipedia={w('notes.xml', b'just text')}"), names=["notes.xml: not a MediaWiki XML export"]),
        # label projection
        Case("project-conll-utf8", "project", "conll", ["project", "--source", w("src.conll", _flip(conll_en, 30)),
             "--target", str(SAMPLE / "project" / "sample.es.conll"), "--output", str(root / "out.conll")],
             names=["src.conll:", "invalid UTF-8"]),
        Case("project-conll-tab-token", "project", "conll", ["project", "--source",
             w("tab.conll", conll_en.replace(b"European\tB-ORG", b"Euro\t10\tB-ORG")),
             "--target", str(SAMPLE / "project" / "sample.es.conll"), "--output", str(root / "out.conll")],
             names=["tab.conll:", "3 tab-separated columns"]),
        Case("project-extra-cut", "project", "extra-bitext", ["project", "--source", str(SAMPLE / "project" / "sample.en.conll"),
             "--target", str(SAMPLE / "project" / "sample.es.conll"), "--output", str(root / "out.conll"),
             "--extra-bitext", w("x.en", en), w("x.es", _cut(fr))], names=["x.en:"]),
        Case("eval-spans-utf8", "eval spans", "conll", ["eval", "spans", "--gold", w("gold.conll", _flip(conll_es, 5)),
             "--pred", str(SAMPLE / "project" / "sample.es.conll")], names=["gold.conll:", "invalid UTF-8"]),
        Case("tprojection-utf8", "run tprojection", "conll", run("tprojection.yaml",
             f"source={w('tp.conll', _flip(conll_en, 30))}"), names=["tp.conll:"]),
        # alignment
        Case("align-utf8", "align", "align-pairs", ["align", "--input", w("ap.txt", _flip(align_pairs, 20)),
             "--output", str(root / "links.txt")], names=["ap.txt:1", "invalid UTF-8"]),
        Case("align-no-separator", "align", "align-pairs", ["align", "--input",
             w("nosep.txt", align_pairs + b"no separator here\n"), "--output", str(root / "links.txt")],
             names=[f"nosep.txt:{len(align_en) + 1}"]),
        Case("align-extra-cut", "align", "extra-bitext", ["align", "--input", w("ap2.txt", align_pairs), "--output",
             str(root / "links.txt"), "--extra-bitext", w("e.en", en), w("e.fr", _cut(fr))], names=["e.en:"]),
        Case("eval-align-out-of-range", "eval align", "links", ["eval", "align", "--gold", w("gold.links", b"0-0 9-9\n"),
             "--pred", w("pred.links", b"0-0\n"), "--pairs", w("one.pairs", b"a b ||| c d\n")],
             names=["gold.links:1", "outside"]),
        Case("eval-align-short-pairs", "eval align", "links", ["eval", "align", "--gold", w("gold2.links", b"0-0\n1-1\n"),
             "--pred", w("pred2.links", b"0-0\n1-1\n"), "--pairs", w("short.pairs", b"a b ||| c d\n")],
             names=["short.pairs: has 1 sentence pairs"]),
        Case("eval-align-bad-link", "eval align", "links", ["eval", "align", "--gold", w("gold3.links", b"0-x\n"),
             "--pred", w("pred3.links", b"0-0\n")], names=["gold3.links:1"]),
        # romanize, etymology, IGT
        Case("romanize-utf8", "romanize", "text", ["romanize", "--lang", "uk", "--input",
             w("uk.txt", "Я люблю\n".encode() + b"\xff\xfe\n"), "--output", str(root / "uk.rom")], codes=(0, 1),
             names=["uk.txt"]),
        Case("romanize-gz-cut", "romanize", "text", ["romanize", "--lang", "uk", "--input",
             w("uk.txt.gz", _cut(gzip.compress("Я люблю читати\n".encode() * 2000))), "--output", str(root / "uk.rom")],
             names=["uk.txt.gz: truncated gzip"]),
        Case("etymology-annotations-utf8", "etymology cv", "annotations", ["etymology", "cv", "--annotations",
             w("etym.tsv", _flip(etym, 40))], names=["etym.tsv:"]),
        Case("igt-cut", "igt convert", "toolbox", ["igt", "convert", "--input", w("igt.txt", _cut(toolbox, 0.6)),
             "--from", "toolbox", "--to", "cldf", "--output", str(root / "igt.csv")], codes=(0,)),
        Case("igt-utf8", "igt convert", "toolbox", ["igt", "convert", "--input", w("igt2.txt", _flip(toolbox, 50)),
             "--from", "toolbox", "--to", "cldf", "--output", str(root / "igt2.csv")], names=["igt2.txt:"]),
        # stores and outputs
        Case("store-under-a-file", "run bitext-import", "store", ["run", str(PIPELINES / "import_bitext.yaml"),
             "--store", str(Path(w("afile", b"x")) / "store")], names=["afile/store: a part of the path is a file"]),
    ]
    return cases


def damage_store(store: Path) -> list[Case]:
    """Cases on a store (made by the caller) whose ``bitext`` log is cut."""
    log = sorted((store / "bitext" / "_delta_log").glob("*.json"))[-1]
    log.write_bytes(log.read_bytes()[:100])
    (store / "_releases.json").write_text("{bad")
    s = ["--store", str(store)]
    return [
        Case("store-tables", "tables", "store", ["tables", *s], names=["table 'bitext'"]),
        Case("store-sql-other", "sql", "store", ["sql", *s, "SELECT count(*) FROM bitext_rejects"], codes=(0,)),
        Case("store-sql-broken", "sql", "store", ["sql", *s, "SELECT count(*) FROM bitext"], names=["table 'bitext'"]),
        Case("store-check", "check", "store", ["check", *s], names=[f"{log.name}:1", "_releases.json"]),
        Case("store-history", "history", "store", ["history", "bitext", *s], names=["table 'bitext'"]),
        Case("store-tag", "tag", "store", ["tag", "v1", "--table", "bitext_rejects", *s], names=["_releases.json"]),
        Case("export-over-store", "export hf", "store", ["export", "hf", "bitext_rejects", *s, "--to", str(store),
             "--overwrite"], names=["refusing to replace"]),
    ]


def run_case(case: Case, cwd: Path, timeout: float = 300, checkout: Path = REPO) -> subprocess.CompletedProcess:
    """Run the case's command with the ``xlcorpus`` of ``checkout``."""
    env = {**os.environ, "PYTHONPATH": str(checkout), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "xlcorpus", *case.args], capture_output=True, text=True,
                          cwd=cwd, env=env, timeout=timeout)


def verdict(case: Case, proc: subprocess.CompletedProcess) -> str | None:
    """What is wrong with the outcome of ``case`` (None: as expected)."""
    out = proc.stdout + proc.stderr
    if proc.returncode < 0:
        return f"crashed with signal {-proc.returncode}"
    if "Traceback" in out or "unexpected " in proc.stderr:
        return "traceback or unexpected error:\n" + proc.stderr[-2000:]
    if proc.returncode not in case.codes:
        return f"exit {proc.returncode}, expected {case.codes}:\n{proc.stderr[-2000:]}"
    missing = [n for n in case.names if n not in out]
    if missing:
        return f"output lacks {missing}:\n{out[-2000:]}"
    return None


def copy_store(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    return dest

