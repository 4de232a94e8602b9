"""Quality filters: each filter's scores and decisions on hand-made bitext rows, the
near-duplicate search (exact Jaccard, deterministic whatever the row order), alignment-based
scores from a real `bitext_aligned` table, language id on the shared corpora, and the JSON
Schema of pipeline files."""

from __future__ import annotations

import random
import tomllib
from pathlib import Path

import pyarrow as pa
import pytest
import yaml

from xlcorpus.align.priors import lcs_len
from xlcorpus.filters.base import FILTERS
from xlcorpus.filters.builtin import Length, LengthRatio, Numbers, Punctuation, Script, Unaligned, Urls, lengths
from xlcorpus.filters.langid import LanguageId
from xlcorpus.filters.neardup import NearDuplicate, near_duplicate_scores, normalise
from xlcorpus.ids import stable_id
from xlcorpus.schema import contract

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data" / "parallel"


def bitext(pairs: list[tuple[str, str]], src_lang: str = "en", tgt_lang: str = "fr") -> pa.RecordBatch:
    return contract("bitext").batch([{"id": stable_id(src_lang, tgt_lang, s, t), "src_lang": src_lang,
                                      "tgt_lang": tgt_lang, "src": s, "tgt": t, "source": "x", "line": i + 1}
                                     for i, (s, t) in enumerate(pairs)])


def run(f, batch):
    scores = f.score(batch)
    assert set(scores) == set(f.columns())
    return scores, f.accept(scores).to_pylist()


def test_lengths_count_words_and_no_space_scripts():
    arr = pa.array(["Paris is the capital.", "巴黎是法国的首都。", "東京は日本の首都です", "สวัสดีครับ", ""])
    assert lengths(arr, "word").to_pylist() == [4, 9, 10, 10, 0]
    assert lengths(arr, "char").to_pylist() == [21, 9, 10, 10, 0]


def test_length_and_length_ratio():
    b = bitext([("Thank you.", "Merci beaucoup pour tout ce que vous avez fait pour nous."),
                ("Paris is the capital of France.", "Paris est la capitale de la France."),
                ("Paris is the capital of France.", "巴黎是法国的首都。")], "en", "fr")
    scores, why = run(LengthRatio(max=3.0), b)
    assert scores["length_ratio"].to_pylist()[:2] == [5.5, 7 / 6]
    assert scores["length_ratio"].to_pylist()[2] == pytest.approx(9 / 6)  # Han characters count as words
    assert why == ["above_max", None, None]
    scores, why = run(Length(min=3, max=40), b)
    assert scores["length_src"].to_pylist()[0] == 10
    assert why == ["too_long", None, None]  # 57 > 40; 31 and 35; 31 and 9
    assert run(Length(min=10, max=100, unit="word"), b)[1] == ["too_short", "too_short", "too_short"]


def test_script_agreement_uses_the_language_script():
    b = bitext([("The library is closed.", "Η βιβλιοθήκη είναι κλειστή."),
                ("The library is closed.", "La bibliothèque est fermée."),
                ("12 345", "12 345")], "en", "fr")
    scores, why = run(Script(min_share=0.8), b)
    assert scores["script_tgt"].to_pylist() == [0.0, 1.0, None]  # no letter: no score, kept
    assert why == ["tgt", None, None]
    ru = bitext([("Moscow is big.", "Москва большая, Moscow.")], "en", "ru")
    assert run(Script(), ru)[0]["script_tgt"].to_pylist()[0] == pytest.approx(13 / 19)


def test_language_id_scores_the_expected_language():
    b = bitext([("She bought three apples at the market.", "Elle a acheté trois pommes au marché."),
                ("This sentence was not translated at all.", "This sentence was not translated at all.")])
    f = LanguageId(expect=["src_lang", "tgt_lang"], min_score=0.5)
    scores, why = run(f, b)
    assert scores["language_id_src_top"].to_pylist() == ["en", "en"]
    assert scores["language_id_tgt_top"].to_pylist() == ["fr", "en"]
    assert scores["language_id_tgt"].to_pylist()[0] > 0.9 > 0.01 > scores["language_id_tgt"].to_pylist()[1]
    assert why == [None, "tgt"]
    literal = LanguageId(expect=["en", "de"], min_score=0.5)  # codes instead of columns
    assert run(literal, b)[1] == ["tgt", "tgt"]


def test_language_id_workers_load_the_model_prepared_once_with_the_same_scores(tmp_path, monkeypatch):
    import xlcorpus.filters.langid as langid

    b = bitext([("She bought three apples at the market.", "Elle a acheté trois pommes au marché."),
                ("HELLO AGAIN", "Ceci n'est pas traduit, oder doch?")])
    plain = run(LanguageId(), b)
    monkeypatch.setattr(langid, "_IDENT", {})  # a fresh worker
    monkeypatch.setenv("XLCORPUS_CACHE_DIR", str(tmp_path / "cache"))
    f = LanguageId()
    f.prepare(str(tmp_path / "work"), None)
    from py3langid.langid import MODEL_DIR, MODEL_FILE

    (cached,) = (tmp_path / "cache").glob("py3langid-*.npz")  # kept for the next steps
    assert f._model == str(cached)
    assert cached.stat().st_size > (Path(MODEL_DIR) / MODEL_FILE).stat().st_size
    monkeypatch.setattr(langid, "_IDENT", {})
    f.setup()
    assert run(f, b) == plain
    for damaged in (b"", b"PK\x03\x04cut", cached.read_bytes()[:1000]):  # the packaged model is used instead
        cached.write_bytes(damaged)
        monkeypatch.setattr(langid, "_IDENT", {})
        f.setup()
        assert run(f, b) == plain


@pytest.mark.skipif(not (SHARED / "tatoeba").is_dir(), reason="needs ../shared/data")
def test_language_id_on_tatoeba_sides():
    """Real sentences: most Tatoeba sides are recognised with probability >= 0.5."""
    f = LanguageId(min_score=0.5)
    for code, lang in (("deu", "de"), ("rus", "ru"), ("jpn", "ja")):
        lines = (SHARED / "tatoeba" / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()[:100]
        eng = (SHARED / "tatoeba" / f"tatoeba.{code}-eng.eng").read_text(encoding="utf-8").splitlines()[:100]
        _, why = run(f, bitext(list(zip(lines, eng)), lang, "en"))
        assert sum(w is None for w in why) >= 75, (code, why)


def test_numbers_urls_punctuation():
    b = bitext([("The museum opens at 9 and closes at 18.", "Le musée ouvre à 9 heures et ferme à 18 heures."),
                ("The new law enters into force in 2027.", "La nouvelle loi entre en vigueur en 2026."),
                ("See https://example.org/a.", "Voir https://example.org/a."),
                ("See https://example.org/a.", "Voir notre site."),
                ("Arabic digits ٣ and 3.", "Chiffres 3 et 3!!!")])
    scores, why = run(Numbers(min_score=0.5), b)
    assert scores["numbers"].to_pylist() == [1.0, 0.0, 1.0, 1.0, 1.0]
    assert why == [None, "mismatch", None, None, None]
    scores, why = run(Urls(), b)
    assert scores["urls"].to_pylist() == [1.0, 1.0, 1.0, 0.0, 1.0]
    assert why == [None, None, None, "mismatch", None]
    scores, why = run(Punctuation(min_score=0.5), b)
    assert scores["punctuation"].to_pylist()[4] == pytest.approx(1 - 2 / 4)
    assert why == [None, None, None, "mismatch", None]  # the URL brings ":", "/" and "."


def _indel_similarity(a: str, b: str) -> float:
    """1 - (insertions + deletions) / (len a + len b), from the longest common subsequence."""
    return 2 * lcs_len(a, b) / (len(a) + len(b)) if a or b else 1.0


def test_near_duplicates_score_exact_edit_similarity_within_a_language_pair_and_order_does_not_matter():
    rng = random.Random(0)
    words = "the a committee report market apples city river train station museum law force year".split()
    texts = [" ".join(rng.choice(words) for _ in range(12)) + f" {i}" for i in range(300)]
    ids = [f"{rng.getrandbits(40):012x}" for _ in texts]
    groups = ["en-fr"] * len(texts)
    near = texts[5][:-3] + "zz" + texts[5][-1]  # two characters changed
    dropped = " ".join(texts[9].split()[:4] + texts[9].split()[5:])  # one word dropped
    texts += [near, dropped, texts[7] + " x"]
    ids += ["f" * 12, "f" * 11 + "e", "f" * 11 + "d"]  # last in id order: they are the near-duplicates
    groups += ["en-fr", "en-fr", "en-de"]  # the last one is in another language pair
    score, of = near_duplicate_scores(ids, texts, groups)
    assert score[-3] == pytest.approx(_indel_similarity(texts[5], near)) and score[-3] > 0.9
    assert of[-3] == ids[5]
    assert score[-2] == pytest.approx(_indel_similarity(texts[9], dropped)) and of[-2] == ids[9]
    assert of[-1] is None and score[-1] == 0.0  # nearly identical to texts[7], but not its language pair
    same_pair, _ = near_duplicate_scores(ids, texts)  # one group: now it is found
    assert same_pair[-1] == pytest.approx(_indel_similarity(texts[7], texts[-1]))
    order = list(range(len(ids)))
    rng.shuffle(order)
    score2, of2 = near_duplicate_scores([ids[i] for i in order], [texts[i] for i in order], [groups[i] for i in order])
    assert [score2[order.index(i)] for i in range(len(ids))] == score
    assert [of2[order.index(i)] for i in range(len(ids))] == of


def test_near_duplicate_filter_over_a_store_table(store, tmp_path):
    pairs = [("The committee approved the report on Tuesday.", "Le comité a approuvé le rapport mardi."),
             ("THE COMMITTEE APPROVED THE REPORT ON TUESDAY!", "Le comité a approuvé le rapport, mardi."),
             ("Paris is the capital of France.", "Paris est la capitale de la France.")]
    store.write("bitext", bitext(pairs))
    assert normalise(pa.array(["  THE  Report, on Tuesday!"])).to_pylist() == ["the report on tuesday"]
    from xlcorpus.engine.core import TableSource

    f = NearDuplicate(threshold=0.9)
    f.prepare(str(tmp_path), TableSource(store, "bitext"))
    f.setup()
    scores, why = run(f, bitext(pairs))
    first, second = sorted([0, 1], key=lambda i: bitext(pairs).column("id")[i].as_py())
    assert scores["near_duplicate"].to_pylist()[second] == 1.0
    assert why[second] == "similar" and why[first] is None and why[2] is None


def test_unaligned_share_from_bitext_aligned(store, tmp_path):
    from xlcorpus.engine.core import TableSource

    b = bitext([("a b c", "x y"), ("d e", "z w")])
    ids = b.column("id").to_pylist()
    rows = []
    for pid, toks, links in ((ids[0], (["a", "b", "c"], ["x", "y"]), [(0, 0), (1, 1)]),
                             (ids[1], (["d", "e"], ["z", "w"]), [(0, 0), (1, 1)])):
        off = [{"start": 2 * i, "end": 2 * i + 1} for i in range(3)]
        rows.append({"id": pid + "-al", "pair_id": pid, "src_lang": "en", "tgt_lang": "fr", "src": " ".join(toks[0]),
                     "tgt": " ".join(toks[1]), "src_tokens": toks[0], "tgt_tokens": toks[1],
                     "src_offsets": off[:len(toks[0])], "tgt_offsets": off[:len(toks[1])],
                     "alignment": [{"s": s, "t": t} for s, t in links], "scores": [1.0] * len(links),
                     "forward": None, "reverse": None, "method": "eflomal", "symmetrize": "vote", "params": "{}"})
    store.write("bitext_aligned", contract("bitext_aligned").batch(rows))
    f = Unaligned(max=0.1)
    f.prepare(str(tmp_path), TableSource(store, "bitext"))
    f.setup()
    scores, why = run(f, bitext([("a b c", "x y"), ("d e", "z w"), ("never", "aligned")]))
    assert scores["unaligned"].to_pylist() == [pytest.approx(1 / 5), 0.0, None]
    assert why == ["above_max", None, None]


def test_unaligned_without_alignments_is_a_clear_error(store, tmp_path):
    from xlcorpus.engine.core import TableSource
    from xlcorpus.errors import PipelineError

    with pytest.raises(PipelineError, match="no table 'bitext_aligned'"):
        Unaligned().prepare(str(tmp_path), TableSource(store, "bitext"))


def test_entry_points_declare_the_built_in_kinds_and_filters():
    from xlcorpus.pipeline import KINDS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["entry-points"]
    assert project["xlcorpus.kinds"] == KINDS
    assert project["xlcorpus.stages"] == FILTERS


def test_pipeline_files_validate_against_the_json_schema(capsys):
    jsonschema = pytest.importorskip("jsonschema")
    import json

    from xlcorpus.cli import entry

    assert entry(["schema", "pipeline"]) == 0
    schema = json.loads(capsys.readouterr().out)
    validator = jsonschema.Draft202012Validator(schema)
    for path in sorted((ROOT / "pipelines").glob("*.yaml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not list(validator.iter_errors(doc)), path
    bad = {"steps": [{"kind": "filter", "input": "bitext", "output": "x",
                      "filters": [{"name": "length_ratio", "max": 0.5}]}]}
    assert list(validator.iter_errors(bad))
    bad["steps"][0]["filters"] = [{"name": "length_ratio", "maximum": 3}]
    assert list(validator.iter_errors(bad))
    assert list(validator.iter_errors({"pipeline": "bitext-import", "params": {"batch_size": 0}}))
    assert not list(validator.iter_errors({"pipeline": "bitext-import", "params": {"batch_size": 5}}))


def test_batch_language_id_gives_py3langid_probabilities():
    """The batched model walk equals the library's own per-text ranking."""
    from xlcorpus.filters.langid import BatchIdentifier, identifier

    texts = ["She bought three apples at the market.", "Elle a acheté trois pommes au marché.",
             "Москва — столица России.", "東京は日本の首都です。", "", "!!!", "A", "ÉCOLE PRIMAIRE",
             "Η βιβλιοθήκη είναι κλειστή τις Κυριακές.", "नई दिल्ली भारत की राजधानी है।"]
    ident = identifier()
    batch = BatchIdentifier(ident)
    probs = batch.probabilities(texts)
    for text, row in zip(texts, probs):
        ranked = ident.rank(text)
        assert batch.classes[int(row.argmax())] == ranked[0][0], text
        for lang, p in ranked:
            assert row[batch.index[lang]] == pytest.approx(p, abs=1e-5), (text, lang)
