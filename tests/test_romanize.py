"""Romanization: identity with whole-string uroman, offsets, options, stage, pipeline, CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xlcorpus.cli import entry
from xlcorpus.translit import fastregex, uroman_compat
from xlcorpus.translit.romanize import (ExactRomanizer, LanguageError, RomanizeStage, chunks,
                                        uroman_lcode)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NTREX = SHARED / "parallel" / "ntrex128"


@pytest.fixture(scope="module")
def uroman():
    from uroman import Uroman

    return Uroman()


@pytest.fixture(scope="module")
def rom(uroman):
    return ExactRomanizer(uroman=uroman)


def whole(uroman, text: str, lcode: str | None) -> str:
    """The reference: plain uroman (no regex cache) on the whole string."""
    was = fastregex.installed()
    fastregex.uninstall()
    try:
        return uroman.romanize_string(text, lcode=lcode)
    finally:
        if was:
            fastregex.install()


def test_lcode_mapping():
    assert uroman_lcode("uk") == "ukr"
    assert uroman_lcode("zh-CN") == "zho"
    assert uroman_lcode("ar") == "ara"
    assert uroman_lcode("rus") == "rus"
    assert uroman_lcode("und") is None and uroman_lcode(None) is None
    with pytest.raises(LanguageError, match="xx-bogus"):
        uroman_lcode("xx-bogus")


def test_chunks_keep_trailing_blanks():
    assert chunks("  a bc\t d ") == ["  ", "a ", "bc\t ", "d "]
    assert chunks("a\tb  c") == ["a\tb  ", "c"]
    assert "".join(chunks("x  y")) == "x  y"
    assert chunks("") == []


# Strings where token-wise romanization differs from whole-string uroman unless handled:
# Thai อ after a consonant in the previous word, full-width punctuation with spaces, Ethiopic
# word space, NBSP, numbers across blanks, context rules (Russian е, Greek αυ), kana, Tibetan.
TRICKY = [
    ("ก ต่อมา", "tha"), ("a ต่อมา", "tha"), ('ข "ต่อต้านและขัดขวาง"', "tha"), ("ขึ้นให้ได้ ก่อนที่จะหมด", "tha"),
    ("ฝนเขตร้อนที่ ก่อนที่ฝน ต่อมา", "tha"), ("约翰逊（ John Howard Johnson）牧师", "zho"),
    ("“救助儿童会（ Save the Children）”正在", "zho"), ("我们 一百二十 ３.５ 分之一", "zho"),
    ("ሰላም፡ ዓለም።  ፲፪", "amh"), ("«\xa0vu le débat»", "fra"), ("я\xa0— это ты", "rus"),
    ("1 000 000 et 3,14 ou -5 + 7", "fra"), ("ШАР Шар ещё её ее", "rus"), ("αυτό το ευρώ", "ell"),
    ("ちょっと カップ ラーメン ー", "jpn"), ("हिन्दी में लिखा गया है।", "hin"), ("བོད་ཡིག བོད", "bod"),
    ("⠠⠁⠃⠉ ⠼⠁⠃", None), ("  leading\tand  trailing  ", "eng"), ("", "eng"), ("tion eight Isle Sch", "eng"),
    ("Московский ПАРК Ёлки", "rus"), ("\t\u2009x a\t\u3000b", "eng"), ("서울은 한국의 수도입니다 1,000원", "kor"),
    # cut inside segments: word-boundary keys (γκ, ий), number tokens (分之, 负), kana
    ("Γκιόργκε Ιβάνοφ", "ell"), ("на валлийском twp", "rus"), ("三分之一和负五个", "zho"),
    ("北京是中国的首都，人口二千一百万。", "zho"), ("日本の首都は東京です。ちょっとラーメン", "jpn"),
]


@pytest.mark.parametrize("text,lcode", TRICKY)
def test_identical_to_whole_string_uroman(rom, uroman, text, lcode):
    r = rom.romanize(text, lcode)
    assert r.romanized == whole(uroman, text, lcode)


def test_inner_cuts_only_where_context_stops(rom):
    assert rom.inner_cuts("北京是中国", "zho") == [3, 4]  # 北京 is a rule key (a word) with a word-boundary test
    assert rom.inner_cuts("三分之一", "zho") == []  # number, fraction connector 分之
    word = "Γκιόργκε"
    cuts = rom.inner_cuts(word, "ell")
    assert cuts and 5 not in cuts and 6 not in cuts and 7 not in cuts  # around the inner γκ
    word = "валлийском"
    assert word.index("ий") + 2 not in rom.inner_cuts(word, "rus")  # ий tests the word end
    assert rom.inner_cuts("ก่อนที่", "tha") == []


def test_unvalidated_script_falls_back_to_whole_string(rom):
    assert rom.romanize("བོད་ཡིག བོད", "bod").method == "whole"
    assert rom.romanize("თბილისი არის", "kat").method == "whole"
    assert rom.romanize("Москва и Киев", "rus").method == "segments"


ALPHABET = ("abcdeIST  \t\t,.;:-'\"()0123456789" "абвгдеёжзийШщъьЕ" "αβγδευοΑΣ" "ابتثجحهويىةٌ"
            "אבגדהוזחט" "中国人一二十分之，。、（）《》" "あいうかっゃーアカッャ" "한국어서울" "ሀለሐ፡።፲"
            "กขคอ่้ะาเ" "कखगािीुेंँ्" "\xa0\u3000\u2009")


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(alphabet=ALPHABET, max_size=40),
       lcode=st.sampled_from(["eng", "rus", "ell", "ara", "heb", "zho", "jpn", "kor", "amh", "tha", "hin", None]))
def test_random_strings_identical(rom, uroman, text, lcode):
    assert rom.romanize(text, lcode).romanized == whole(uroman, text, lcode)


def test_offsets_map_spans_back(rom):
    text = "Москва — столица, 北京 ก่อนที่ x"
    r = rom.romanize(text, "rus")
    edges = r.edges()
    assert edges[0][0] == 0 and edges[-1][1] == len(text)
    assert edges[-1][3] == len(r.romanized)
    for (s, e, rs, re_), nxt in zip(edges, edges[1:] + [None]):
        assert 0 <= s <= e <= len(text) and 0 <= rs <= re_ <= len(r.romanized)
        if nxt:
            assert nxt[0] == e and nxt[2] == re_  # contiguous
    # the first word: source span and romanized span agree with a direct romanization
    first = [x for x in edges if x[1] <= len("Москва")]
    assert text[first[0][0]:first[-1][1]] == "Москва"
    assert r.romanized[first[0][2]:first[-1][3]] == "Moskva"


def test_char_table_segments_match_uroman_edges(rom, uroman):
    from uroman import RomFormat

    text = "Die Straße nach Köln"
    got = rom.romanize(text, "deu")
    ref = uroman.romanize_string(text, lcode="deu", rom_format=RomFormat.EDGES)
    assert [(e.start, e.end) for e in ref] == [(s, e) for s, e, _, _ in got.edges()]
    assert [e.txt for e in ref] == [got.romanized[a:b] for _, _, a, b in got.edges()]


def test_keep_latin_leaves_latin_tokens(rom):
    text = "Компания Apple представила iPhone 15."
    r = rom.romanize(text, "rus", keep_latin=True)
    assert r.method == "keep-latin"
    assert "Apple" in r.romanized and "iPhone" in r.romanized
    assert r.romanized.startswith("Kompaniya ")
    edges = r.edges()
    apple = next(e for e in edges if text[e[0]:e[1]].startswith("Apple"))
    assert r.romanized[apple[2]:apple[3]] == text[apple[0]:apple[1]]
    assert rom.romanize("ÉCOLE née", "fra", keep_latin=True).romanized == "ÉCOLE née"


def _raw(rows):
    from xlcorpus.translit.romanize import RAW_SCHEMA

    return pa.RecordBatch.from_pylist([{"source": "t.txt", "position": i + 1, "lang": lang, "text": text}
                                       for i, (lang, text) in enumerate(rows)], schema=RAW_SCHEMA)


def test_stage_builds_contract_rows_and_rejects(uroman):
    stage = RomanizeStage()
    stage.rom = ExactRomanizer(uroman=uroman)
    out = stage(_raw([("uk", "Привіт, світе!"), ("xx-bogus", "abc"), ("el", "Καλημέρα  κόσμε"), ("en", "")]))
    batch = out.batch
    assert batch.num_rows == 3 and len(out.rejects) == 1
    assert out.rejects[0].position == 2 and "xx-bogus" in out.rejects[0].reason
    rows = batch.to_pylist()
    assert rows[0]["lcode"] == "ukr" and rows[0]["romanized"] == "Pryvit, svite!"
    for r in rows:
        for e in r["offsets"]:
            assert r["romanized"][e["rom_start"]:e["rom_end"]] is not None
        assert "".join(r["romanized"][e["rom_start"]:e["rom_end"]] for e in r["offsets"]) == r["romanized"]
        assert "".join(r["text"][e["start"]:e["end"]] for e in r["offsets"]) == r["text"]
        for t in r["tokens"]:
            assert r["text"][t["start"]:t["end"]] == r["text"].split()[r["tokens"].index(t)]
    assert [t["script"] for t in rows[1]["tokens"]] == ["Greek", "Greek"]
    assert rows[2]["tokens"] == [] and rows[2]["offsets"] == []


def test_stage_pickles_without_its_romanizer(uroman):
    stage = RomanizeStage(keep_latin=True)
    stage.rom = ExactRomanizer(uroman=uroman)
    clone = pickle.loads(pickle.dumps(stage))
    assert clone.rom is None and clone.keep_latin


def test_pipeline_on_sample(store):
    from xlcorpus import pipeline as pl

    spec = pl.load(REPO / "pipelines" / "romanize.yaml")
    report = pl.run(spec.pipeline, store)
    assert report.steps[0].rows["romanized"] == 15 and report.steps[0].rejects == 1
    rows = {r["lang"]: r for r in store.to_arrow("romanized").to_pylist()}
    assert rows["uk"]["romanized"] == "Ya lyublyu chytaty knyzhky vvecheri."
    assert rows["ka"]["method"] == "whole" and rows["ru"]["method"] == "segments"
    assert [t["script"] for t in rows["ja"]["tokens"]] == ["Hiragana"]  # more kana than kanji
    assert [t["script"] for t in rows["zh"]["tokens"]] == ["CJK"]
    again = pl.run(spec.pipeline, store, force=True)  # merge on id: no duplicates
    assert again.steps[0].staged["romanized"] == 15 and store.count("romanized") == 15
    assert again.steps[0].rows["romanized"] == 0  # rows inserted: every id was there


def test_cli_romanize(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("Доброе утро\nЁлка\n", encoding="utf-8")
    out, edges = tmp_path / "out.txt", tmp_path / "edges.jsonl"
    assert entry(["-q", "romanize", "--lang", "ru", "--input", str(src), "--output", str(out),
                  "--offsets", str(edges)]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == ["Dobroye utro", "Yolka"]
    first = json.loads(edges.read_text().splitlines()[0])
    assert first[0] == [0, 1, 0, 1] and first[-1][1] == len("Доброе утро")
    assert entry(["romanize", "--lang", "xx-bogus", "--input", str(src), "--output", str(out)]) == 1


def test_fastregex_is_equivalent():
    import regex

    shim = fastregex.CachedRegex()
    for pattern, text in [(r"(.*?)([.,; ]*[ 。་][.,; ]*)(.*)$", "a, b。c"), (r"\pL+", "ab1"), (r"x", "y")]:
        a, b = shim.match(pattern, text), regex.match(pattern, text)
        assert (a and a.groups()) == (b and b.groups())
        assert shim.sub(pattern, "-", text) == regex.sub(pattern, "-", text)
        assert shim.split(r"[,;]\s*", "a, b;c") == regex.split(r"[,;]\s*", "a, b;c")
    assert shim.IGNORECASE == regex.IGNORECASE


def _ntrex_sample(step: int):
    files = sorted(NTREX.glob("newstest2019-*.txt"))
    for f in files:
        code = f.name.split(".")[1]
        lines = f.read_text(encoding="utf-8").split("\n")
        yield code, lines[::step]


@pytest.mark.skipif(not NTREX.is_dir(), reason="../shared/data is absent")
def test_ntrex_sample_identical(rom, uroman):
    """Every 40th sentence of the 16 NTREX-128 files (~800); the benchmark checks all."""
    checked = 0
    for code, lines in _ntrex_sample(40):
        lcode = uroman_lcode(code)
        for s in lines:
            assert rom.romanize(s, lcode).romanized == whole(uroman, s, lcode), (code, s)
            checked += 1
    assert checked > 700


TATOEBA = SHARED / "parallel" / "tatoeba"


@pytest.mark.skipif(not TATOEBA.is_dir(), reason="../shared/data is absent")
def test_tatoeba_sample_identical(rom, uroman):
    """Every 20th sentence of each Tatoeba test file (25 languages and English sides)."""
    checked, languages = 0, set()
    for f in sorted(TATOEBA.glob("tatoeba.*-eng.*")):
        code = f.name.rsplit(".", 1)[1]
        lcode = uroman_lcode(code)
        for s in f.read_text(encoding="utf-8").split("\n")[::20]:
            assert rom.romanize(s, lcode).romanized == whole(uroman, s, lcode), (code, s)
            checked += 1
        languages.add(code)
    assert checked > 2000 and len(languages) > 20


# ------------------------------------------------ fast path == plain public uroman
def _sample_sentences() -> list[tuple[str, str | None]]:
    """The bundled sample (``lang<TAB>text``, 11 scripts) and the tricky strings."""
    out = list(TRICKY)
    for line in (REPO / "data" / "sample" / "translit" / "sentences.tsv").read_text(encoding="utf-8").splitlines():
        lang, sep, text = line.partition("\t")
        if sep:
            out.append((text, uroman_lcode(lang)))
    return out


def test_installed_uroman_is_the_pinned_validated_version(uroman):
    """An upgraded uroman must fail here (and be validated again) instead of silently
    switching romanization to the slow path."""
    pin = next(line for line in (REPO / "pyproject.toml").read_text().splitlines() if '"uroman==' in line)
    assert f'"uroman=={uroman_compat.VALIDATED_UROMAN}"' in pin
    assert uroman_compat.installed_version() == uroman_compat.VALIDATED_UROMAN, \
        "uroman is not the validated version: run the identity tests, then update VALIDATED_UROMAN and the pin"
    assert uroman_compat.validated() and ExactRomanizer(uroman=uroman, cache_size=10).fast


def test_plain_path_uses_only_public_uroman(uroman, monkeypatch):
    """fast=False: one ``romanize_string`` per sentence; no regex swap, no lattice subclass."""
    from xlcorpus.translit import romanize as module

    was = fastregex.installed()
    fastregex.uninstall()

    def forbidden(*_a, **_k):
        raise AssertionError("the plain path touched uroman internals")

    monkeypatch.setattr(module, "_observed_lattice", forbidden)
    monkeypatch.setattr(fastregex, "install", forbidden)
    try:
        plain = ExactRomanizer(uroman=uroman, fast=False)
        assert not plain.fast and not plain.char_table
        for text, lcode in _sample_sentences():
            out = plain.romanize(text, lcode)
            assert out.romanized == uroman.romanize_string(text, lcode=lcode) and out.method == "whole"
            assert sum(out.src_lens) == len(text)
        assert not fastregex.installed()
    finally:
        monkeypatch.undo()
        if was:
            fastregex.install()


def _fast_equals_plain(uroman, sentences) -> int:
    fast, plain = ExactRomanizer(uroman=uroman), ExactRomanizer(uroman=uroman, fast=False)
    assert fast.fast and not plain.fast
    n = 0
    for text, lcode in sentences:
        assert fast.romanize(text, lcode).romanized == plain.romanize(text, lcode).romanized, (lcode, text)
        n += 1
    return n


def test_fast_path_equals_plain_uroman_on_the_sample(uroman):
    assert _fast_equals_plain(uroman, _sample_sentences()) > len(TRICKY)


@pytest.mark.skipif(not NTREX.is_dir(), reason="../shared/data is absent")
def test_fast_path_equals_plain_uroman_on_ntrex(uroman):
    """Every 25th sentence of the 16 NTREX-128 files (the benchmark checks all)."""
    sentences = [(s, uroman_lcode(code)) for code, lines in _ntrex_sample(25) for s in lines]
    assert _fast_equals_plain(uroman, sentences) > 1200


def test_version_and_log_say_which_path_runs(capsys, monkeypatch, caplog, uroman):
    assert entry(["--version"]) == 0
    assert "uroman 1.3.1.1: fast path" in capsys.readouterr().out
    monkeypatch.setenv(uroman_compat.ENV_FAST, "0")
    assert entry(["--version"]) == 0
    assert "plain uroman" in capsys.readouterr().out
    with caplog.at_level("INFO", logger="xlcorpus.translit.romanize"):
        assert not ExactRomanizer(uroman=uroman).fast
    assert "plain uroman" in caplog.text
