"""Maps, transducer, actions, presets and the ``maltese`` pipeline (sample and real data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.errors import InputError, PipelineError
from xlcorpus.translit.transliterate import (PRESETS, CharTransducer, Transliterator, join_outputs,
                                             policy, read_dictionary, read_map)
from xlcorpus.text.tokenize import tokenize

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "translit"
MALTESE = Path(__file__).resolve().parents[2] / "shared" / "data" / "maltese"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_read_map_headers_and_errors(tmp_path):
    assert read_map(write(tmp_path / "a.map", "#char-map_first\ngħ\tع\nie\tا")) == (
        "char-map_first", [("għ", "ع"), ("ie", "ا")])
    assert read_map(write(tmp_path / "s.map", "#special\t\n \t \n<BOS>\t\n"))[1] == [(" ", " "), ("<BOS>", "")]
    with pytest.raises(InputError, match="unknown map header"):
        read_map(write(tmp_path / "b.map", "#chars\na\tb\n"))
    with pytest.raises(InputError, match=r"c\.map:3"):
        read_map(write(tmp_path / "c.map", "#char-map\na\tb\nno tab here\n"))
    with pytest.raises(InputError, match="no header"):
        read_map(write(tmp_path / "d.map", "a\tb\n"))
    assert read_map(write(tmp_path / "t.map", "il-\tال+\n"), token_map=True) == ("token-map", [("il-", "ال+")])


def test_transducer_longest_match_and_passes(tmp_path):
    first = write(tmp_path / "first.map", "#char-map_first\ngħ\tع\nie\tA\n")
    chars = write(tmp_path / "chars.map", "#char-map\ng\tج\nħ\tح\ni\tي\ne\tE\nA\tX\nab\tY\na\tZ\nb\tB\n")
    t = CharTransducer.from_files([chars, first])  # pass order comes from the headers, not the list
    assert t.apply("għ") == "ع"          # pass 1 wins over the single characters
    assert t.apply("ie") == "A"          # ... and its output is not rewritten again ("A" -> "X")
    assert t.apply("gie") == "جA"
    assert t.apply("abab") == "YY"       # longest match first within a pass
    assert t.apply("ba?") == "BZ?"       # unmapped characters are copied
    special = write(tmp_path / "sp.map", "#special\n<BOS>\t[\n<EOS>\t]\n")
    assert CharTransducer.from_files([chars, special]).apply("ab") == "[Y]"


def test_transliterator_actions(tmp_path):
    maps = [SAMPLE / "digraphs.map", SAMPLE / "shadda.map", SAMPLE / "letters.map"]
    tr = Transliterator.from_files(maps, [SAMPLE / "closed_class.map"], SAMPLE / "lexicon.mt-en.tsv")
    assert tr.apply("Il-", "transliterate") == ("ال+", "transliterate")   # token map, case-insensitive
    assert tr.apply("għajn", "transliterate") == ("عاين", "transliterate")
    assert tr.apply("belt", "translate") == ("city", "translate")
    assert tr.apply("Illum", "translate") == ("Today", "translate")
    assert tr.apply("xemx", "translate") == ("xemx", "keep")              # not in the lexicon
    assert tr.apply("Malta", "keep") == ("Malta", "keep")
    with pytest.raises(InputError):
        tr.apply("x", "delete")
    with pytest.raises(InputError, match="token map"):
        Transliterator.from_files([SAMPLE / "letters.map"], [SAMPLE / "digraphs.map"], None)


def test_dictionary_first_translation_wins(tmp_path):
    d = read_dictionary(write(tmp_path / "d.tsv", "kelb\tdog\nkelb\thound\n.\t.\n"))
    assert d == {"kelb": "dog", ".": "."}
    with pytest.raises(InputError, match=r"e\.tsv:1"):
        read_dictionary(write(tmp_path / "e.tsv", "no tab\n"))


def test_join_outputs_attaches_transliterated_proclitics():
    text, spans = join_outputs([("ال+", "transliterate"), ("بيت", "transliterate"), ("ال+", "transliterate"),
                                ("Malta", "keep"), (".", "keep")])
    assert text == "البيت ال Malta ."
    assert [text[a:b] for a, b in spans] == ["ال", "بيت", "ال", "Malta", "."]


def test_policy_presets():
    arabic = frozenset({"Arabic"})
    table = {p: (policy(p, "Arabic", arabic), policy(p, "Non-Arabic", arabic)) for p in PRESETS}
    assert table == {"transliterate_all": ("transliterate", "transliterate"),
                     "translate_all": ("translate", "translate"),
                     "transliterate_arabic": ("transliterate", "keep"),
                     "transliterate_arabic_translate": ("transliterate", "translate")}
    with pytest.raises(InputError, match="unknown preset"):
        policy("everything", "Arabic", arabic)


def test_tokenize_like_the_annotations():
    text = "Il-Prim Ministru qal: \"ta' Malta\" hu sabiħ, 2024."
    got = [text[a:b] for a, b in tokenize(text, "mt", scheme="maltese").spans]
    assert got == ["Il-", "Prim", "Ministru", "qal", ":", '"', "ta'", "Malta", '"', "hu", "sabiħ", ",", "2024", "."]


def check_rows(rows: list[dict]) -> None:
    """Per-token provenance is consistent with the text, the output and the preset."""
    for r in rows:
        assert r["tokens"]
        for t in r["tokens"]:
            assert r["text"][t["start"]:t["end"]] == t["surface"]
            assert r["output"][t["out_start"]:t["out_end"]] == t["output"]
            assert 0.0 < t["confidence"] <= 1.0 and t["origin"]
            want = policy(r["preset"], t["origin"], frozenset({"Arabic", "Name (Arabic)"}))
            assert t["action"] == want or (want == "translate" and t["action"] == "keep"
                                           and t["output"] == t["surface"])


def test_pipeline_on_sample(store):
    spec = pl.load(REPO / "pipelines" / "maltese.yaml")
    report = pl.run(spec.pipeline, store)
    assert report.steps[0].rows["transliterated"] == 9 * 4
    rows = store.to_arrow("transliterated").to_pylist()
    check_rows(rows)
    assert {r["preset"] for r in rows} == set(PRESETS)
    keep = next(r for r in rows if r["preset"] == "transliterate_arabic" and r["sentence"] == "2")
    by = {t["surface"]: t for t in keep["tokens"]}
    assert by["kumpanija"]["action"] == "keep" and by["kumpanija"]["output"] == "kumpanija"
    assert by["ħabbret"]["action"] == "transliterate" and by["ħabbret"]["output"] == "حابّريت"
    assert by["ħabbret"]["gold"] == "Arabic"
    both = next(r for r in rows if r["preset"] == "transliterate_arabic_translate" and r["sentence"] == "2")
    assert {t["surface"]: t["output"] for t in both["tokens"]}["proġett"] == "project"


def test_pipeline_checks_params(tmp_path):
    with pytest.raises(PipelineError, match="dictionary"):
        pl.load(REPO / "pipelines" / "maltese.yaml", ["dictionary=", "presets=translate_all"])
    with pytest.raises(PipelineError, match="unknown or no preset"):
        pl.load(REPO / "pipelines" / "maltese.yaml", ["presets=everything"])


def test_pipeline_on_text_with_a_trained_model(store, tmp_path):
    from xlcorpus.translit.etymology import read_annotations, train

    model = train(read_annotations(SAMPLE / "etymology.tsv"), tmp_path / "model")
    text = write(tmp_path / "in.txt", "Il-Prim Ministru żar il-belt.\n\nIt-tfal marru l-iskola.\n")
    spec = pl.load(REPO / "pipelines" / "maltese.yaml",
                   {"input": str(text), "model": str(model), "presets": "transliterate_arabic"})
    pl.run(spec.pipeline, store)
    rows = sorted(store.to_arrow("transliterated").to_pylist(), key=lambda r: r["line"])
    assert [r["line"] for r in rows] == [1, 3] and rows[0]["sentence"] == "1"
    assert rows[0]["text"] == "Il-Prim Ministru żar il-belt."
    check_rows(rows)


@pytest.mark.skipif(not MALTESE.is_dir(), reason="../shared/data is absent")
def test_four_presets_on_real_annotations(store):
    m = MALTESE
    chars = m / "character_deterministic_mappings"
    spec = pl.load(REPO / "pipelines" / "maltese.yaml", {
        "input": str(m / "etymology-annotations.dev.tsv"),
        "maps": ",".join(str(chars / f) for f in ("malti2arabi_2char.map", "shadda.map",
                                                   "malti2arabi_1char_vowels_long.map", "special_deterministic.map")),
        "token_maps": f"{m / 'token_mappings' / 'small_closed_class.map'},"
                      f"{m / 'token_mappings' / 'additional_closed_class.map'}",
        "dictionary": str(m / "translations" / "mt-en.tsv"),
    })
    report = pl.run(spec.pipeline, store)
    assert report.steps[0].rows["transliterated"] == 350 * 4
    rows = store.to_arrow("transliterated").to_pylist()
    check_rows(rows)
    arabic_script = lambda s: any("\u0600" <= ch <= "\u06ff" for ch in s)  # noqa: E731
    for r in rows:
        for t in r["tokens"]:
            if t["action"] == "transliterate" and any(ch.isalpha() for ch in t["surface"]):
                assert arabic_script(t["output"]), t
    by_preset = {p: [t for r in rows if r["preset"] == p for t in r["tokens"]] for p in PRESETS}
    assert all(t["action"] == "transliterate" for t in by_preset["transliterate_all"])
    kept = [t for t in by_preset["transliterate_arabic"] if t["action"] == "keep"]
    assert kept and all(t["origin"] not in ("Arabic", "Name (Arabic)") for t in kept)
    translated = [t for t in by_preset["translate_all"] if t["action"] == "translate"]
    assert len(translated) > 0.5 * len(by_preset["translate_all"])
