"""Composable pipeline files: the issue's example with a user filter and a user stage in
temporary .py files and a user table from a temporary schemas folder; user tables through
tables / sql / history / export; the Python API."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

import xlcorpus
from xlcorpus import schema
from xlcorpus.cli import entry
from xlcorpus.engine import LocalEngine
from xlcorpus.errors import PipelineError, SchemaError
from xlcorpus.store import Store

EN = ["The committee approved the report on Tuesday.", "Paris is the capital of France.",
      "She bought three apples at the market.", "The committee approved the report on Tuesday!",
      "Thank you.", "Read the full statement of the committee at https://example.org/a.", "The library is closed on Sundays.",
      "This sentence was not translated at all.", "My brother lives in Marseille with his wife."]
FR = ["Le comité a approuvé le rapport mardi.", "Paris est la capitale de la France.",
      "Elle a acheté trois pommes au marché.", "Le comité a approuvé le rapport, mardi.",
      "Merci beaucoup pour tout ce que vous avez fait pour nous pendant ces longues années.",
      "Lisez la déclaration complète du comité sur https://example.org/a.", "La bibliothèque est fermée le dimanche.",
      "This sentence was not translated at all.", "Mon frère habite à Marseille avec sa femme."]

USER_FILTER = '''
from dataclasses import dataclass
from typing import ClassVar
import pyarrow as pa
import pyarrow.compute as pc
from xlcorpus.filters import Filter, reason_where

@dataclass
class NoUrls(Filter):
    name: ClassVar[str] = "no_urls"

    def columns(self):
        return {self.key: pa.int64()}

    def score(self, batch):
        n = pc.add(pc.count_substring_regex(batch.column("src"), "https?://"),
                   pc.count_substring_regex(batch.column("tgt"), "https?://"))
        return {self.key: n.cast(pa.int64())}

    def accept(self, scores):
        return reason_where(pc.greater(scores[self.key], 0), "has_url")
'''

USER_STAGE = '''
from dataclasses import dataclass
import pyarrow as pa
import pyarrow.compute as pc
from xlcorpus.engine.core import Stage

@dataclass
class SrcLength(Stage):
    """bitext_clean rows -> (id, src, n_chars) rows of the user table src_lengths."""
    name = "src_length"
    minimum: int = 0

    def __call__(self, batch):
        n = pc.utf8_length(batch.column("src")).cast(pa.int32())
        keep = pc.greater_equal(n, self.minimum)
        return pa.RecordBatch.from_arrays([batch.column("id"), batch.column("src"), n],
                                          names=["id", "src", "n_chars"]).filter(keep)
'''

USER_SCHEMA = '''
table: src_lengths
description: Source sentence lengths (a user table).
fields:
  - {name: id, type: string, nullable: false, doc: pair id}
  - {name: src, type: string, nullable: false, doc: source sentence}
  - {name: n_chars, type: int32, nullable: false, doc: code points}
'''

PIPELINE = '''
schemas: ./schemas
steps:
  - kind: bitext-import
    params: {src: corpus.en, tgt: corpus.fr, src_lang: en, tgt_lang: fr}
  - kind: filter
    input: bitext
    output: bitext_clean
    filters:
      - {name: length_ratio, max: 3.0}
      - {name: language_id, expect: [src_lang, tgt_lang], min_score: 0.5}
      - {name: near_duplicate, threshold: 0.9}
      - {stage: "%(module)s.filters:NoUrls", params: {}}
  - stage: "%(module)s_stages:SrcLength"
    input: bitext_clean
    output: src_lengths
    params: {minimum: 20}
'''


@pytest.fixture(autouse=True)
def clean_registry():
    """User contracts and user modules are per process: forget them after each test."""
    yield
    schema._USER.clear()
    for name in [m for m in sys.modules if m.startswith("upkg")]:
        del sys.modules[name]


def make_project(root: Path, module: str) -> Path:
    """A pipeline folder: corpus, a user filter package, a user stage module, a schemas folder."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "corpus.en").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (root / "corpus.fr").write_text("\n".join(FR) + "\n", encoding="utf-8")
    (root / module).mkdir()
    (root / module / "filters.py").write_text(USER_FILTER, encoding="utf-8")
    (root / f"{module}_stages.py").write_text(USER_STAGE, encoding="utf-8")
    (root / "schemas").mkdir()
    (root / "schemas" / "src_lengths.yaml").write_text(USER_SCHEMA, encoding="utf-8")
    path = root / "pipeline.yaml"
    path.write_text(PIPELINE % {"module": module}, encoding="utf-8")
    return path


def test_issue_example_with_user_stage_and_user_table(tmp_path):
    """Two spawned workers import the user modules by name (the pipeline folder is on sys.path)."""
    workers = 2
    module = f"upkg{workers}"
    path = make_project(tmp_path / "project", module)
    store = Store(tmp_path / "store")
    report = xlcorpus.Pipeline.from_yaml(path).run(store, engine=LocalEngine(workers=workers, progress=False))
    assert [s.step for s in report.steps] == ["bitext-import.import", "filter.filter", "SrcLength.src_length"]
    scores = {r["id"]: r for r in store.to_arrow("bitext_clean_scores").to_pylist()}
    bitext = {r["src"]: r for r in store.to_arrow("bitext").to_pylist()}
    assert len(scores) == len(bitext) == 9  # every input row is scored, kept or not

    def score(src):
        return scores[bitext[src]["id"]]

    assert "length_ratio.above_max" in score("Thank you.")["reasons"]
    assert score("Read the full statement of the committee at https://example.org/a.")["reasons"] == "no_urls.has_url"
    assert score("Read the full statement of the committee at https://example.org/a.")["no_urls"] == 2
    assert score("This sentence was not translated at all.")["reasons"] == "language_id.tgt"
    assert score("This sentence was not translated at all.")["language_id_tgt_top"] == "en"
    dup = [score(EN[0]), score(EN[3])]  # the same pair up to punctuation: the later id goes
    later = max(dup, key=lambda r: r["id"])
    assert later["near_duplicate"] == 1.0 and later["near_duplicate_of"] == min(r["id"] for r in dup)
    assert later["reasons"] == "near_duplicate.similar"
    kept = store.to_arrow("bitext_clean")
    assert sorted(kept["id"].to_pylist()) == sorted(i for i, r in scores.items() if r["keep"])
    assert kept.num_rows == 5
    # the user stage wrote the user table, with its contract from the schemas folder
    lengths = store.to_arrow("src_lengths").to_pylist()
    assert {r["src"] for r in lengths} == {s for s in kept["src"].to_pylist() if len(s) >= 20}
    assert all(r["n_chars"] == len(r["src"]) for r in lengths)
    # drops per filter and reason in the commit metadata
    stats = store.history("bitext_clean")[0]["stages"]["filter"]["dropped"]
    assert stats == {"language_id.tgt": 1, "length_ratio.above_max": 1, "near_duplicate.similar": 1,
                     "no_urls.has_url": 1}
    # a rerun is skipped
    again = xlcorpus.Pipeline.from_yaml(path).run(store, engine=LocalEngine(progress=False))
    assert all(s.skipped for s in again.steps)


def test_thresholds_retuned_in_sql_and_user_tables_in_commands(tmp_path, capsys):
    path = make_project(tmp_path / "project", "upkgsql")
    root = tmp_path / "store"
    assert entry(["-q", "run", str(path), "--store", str(root)]) == 0
    capsys.readouterr()
    schema._USER.clear()  # a new process would not know the user tables: the store does
    store = Store(root)
    loose = store.sql("SELECT count(*) AS n FROM bitext b JOIN bitext_clean_scores s USING (id) "
                      "WHERE s.length_ratio <= 10 AND s.language_id_tgt >= 0.5")
    strict = store.sql("SELECT count(*) AS n FROM bitext_clean_scores WHERE length_ratio <= 1.1")
    ratios = store.to_arrow("bitext_clean_scores")["length_ratio"].to_pylist()
    assert loose["n"][0].as_py() == 8  # all but "Thank you." (ratio 7) and the untranslated pair
    assert strict["n"][0].as_py() == sum(r <= 1.1 for r in ratios) < 8
    assert store.contract("src_lengths").field("n_chars").type_text == "int32"
    assert entry(["tables", "--store", str(root)]) == 0
    out = capsys.readouterr().out
    assert "bitext_clean\t5\tv0" in out and "bitext_clean_scores\t9\tv0" in out and "src_lengths\t" in out
    assert entry(["history", "bitext_clean", "--store", str(root)]) == 0
    assert "length_ratio.above_max=1" in capsys.readouterr().out
    assert entry(["sql", "--store", str(root), "--format", "json",
                  "SELECT count(*) AS n FROM src_lengths"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] >= 1
    pytest.importorskip("datasets")
    assert entry(["export", "hf", "src_lengths", "--store", str(root), "--to", str(tmp_path / "hub"),
                  "--license", "cc-by-4.0"]) == 0
    assert "n_chars" in (tmp_path / "hub" / "README.md").read_text(encoding="utf-8")


def test_store_write_user_table(tmp_path):
    store = Store(tmp_path / "store")
    with pytest.raises(SchemaError, match="no contract for table 'my_filtered_bitext'"):
        store.write("my_filtered_bitext", schema.contract("bitext").empty())
    c = schema.register(schema.derive("my_filtered_bitext", schema.contract("bitext")))
    store.write("my_filtered_bitext", c.batch([{"id": "a", "src_lang": "en", "tgt_lang": "fr", "src": "x",
                                                 "tgt": "y", "source": "f", "line": 1}]))
    schema._USER.clear()
    assert Store(store.root).contract("my_filtered_bitext").names == c.names
    with pytest.raises(SchemaError, match="built-in table"):
        schema.register(schema.derive("bitext", schema.contract("igt")))


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


@pytest.mark.parametrize("body, message", [
    ("steps:\n  - kind: filter\n    input: bitext\n    output: x\n    filters: [{name: nope}]\n",
     r"steps\[0\]: filters\[0\]: unknown name 'nope'"),
    ("steps:\n  - kind: filter\n    input: bitext\n    output: x\n    filters: [{name: length_ratio, max: 0.5}]\n",
     r"steps\[0\]: filters\[0\]: max: must be >= 1.0"),
    ("steps:\n  - kind: filter\n    input: bitext\n    output: x\n    filters: [{name: language_id, min_score: 2}]\n",
     r"min_score: must be <= 1.0"),
    ("steps:\n  - stage: 'nomod:Thing'\n    input: bitext\n    output: x\n",
     r"steps\[0\]: .*no module 'nomod'"),
    ("steps:\n  - kind: bitext-import\n    output: x\n    params: {pairs: p.txt, src_lang: en, tgt_lang: fr}\n",
     r"steps\[0\]: unknown key 'output' for step kind 'bitext-import'"),
    ("steps: []\n", "'steps' must be a non-empty list"),
    ("pipeline: bitext-import\nsteps: [{kind: filter}]\n", "either 'pipeline'"),
    ("schemas: ./missing\nsteps: [{kind: filter}]\n", "schemas: no such folder"),
])
def test_bad_steps_files_are_clear_errors(tmp_path, body, message):
    (tmp_path / "p.txt").write_text("a ||| b\n", encoding="utf-8")
    path = write(tmp_path / "pipe.yaml", body)
    with pytest.raises(PipelineError, match=message) as err:
        xlcorpus.Pipeline.from_yaml(path)
    assert str(path) in str(err.value)


def test_filter_over_missing_columns_is_an_error(tmp_path):
    path = write(tmp_path / "pipe.yaml", """
        steps:
          - kind: filter
            input: igt
            output: igt_clean
            filters: [{name: length_ratio}]
        """)
    pipe = xlcorpus.Pipeline.from_yaml(path)
    with pytest.raises(PipelineError, match=r"table 'igt' has no column\(s\) \['src', 'tgt'\]"):
        list(pipe.steps(Store(tmp_path / "store")))


def test_steps_built_in_code_match_the_file(tmp_path):
    from xlcorpus.filters import FilterStep
    from xlcorpus.filters.builtin import LengthRatio, Punctuation
    from xlcorpus.sources.bitext import BitextImport

    (tmp_path / "c.en").write_text("\n".join(EN) + "\n", encoding="utf-8")
    (tmp_path / "c.fr").write_text("\n".join(FR) + "\n", encoding="utf-8")
    pipe = xlcorpus.Pipeline.compose(
        BitextImport(src_lang="en", tgt_lang="fr", src=tmp_path / "c.en", tgt=tmp_path / "c.fr"),
        FilterStep(input="bitext", output="bitext_ok", filters=[LengthRatio(max=3.0), Punctuation(min_score=0.0)]))
    store = Store(tmp_path / "store")
    pipe.run(store, engine=LocalEngine(progress=False))
    assert store.count("bitext_ok") == 8  # only "Thank you." goes
    assert set(store.to_arrow("bitext_ok_scores").column_names) == {"id", "length_ratio", "punctuation", "keep",
                                                                    "reasons"}


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python API example for pipeline files, run as written."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- example: Pipeline.from_yaml -->")
    code = readme[start:].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["example"])
    namespace = {"__name__": "__main__"}
    exec(compile(code.replace("pipelines/", str(Path(__file__).resolve().parent.parent / "pipelines") + "/"),
                 "README example", "exec"), namespace)
    store = Store(tmp_path / "store")
    assert store.count("bitext_clean") >= 1
    assert store.count("bitext_clean_scores") == store.count("bitext")


def test_step_overrides_and_user_code_in_the_fingerprint(tmp_path):
    path = make_project(tmp_path / "project", "upkgfp")
    pipe = xlcorpus.Pipeline.from_yaml(path, ["filter.batch_size=2", "SrcLength.mode=merge"])
    assert pipe.params()["steps"][1]["params"]["batch_size"] == 2
    assert pipe.params()["steps"][2]["params"]["mode"] == "merge"
    with pytest.raises(PipelineError, match="no step named"):
        xlcorpus.Pipeline.from_yaml(path, ["nosuchstep.x=1"])
    from xlcorpus.pipeline import fingerprint

    inputs = pipe.inputs()
    assert inputs["filter.code.NoUrls"].endswith("filters.py") and inputs["SrcLength.code.SrcLength"]
    before = fingerprint(pipe)[0]
    user = tmp_path / "project" / "upkgfp" / "filters.py"
    user.write_text(user.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    assert fingerprint(xlcorpus.Pipeline.from_yaml(path, ["filter.batch_size=2", "SrcLength.mode=merge"]))[0] != before


DECLARING_STAGE = '''
import pyarrow as pa
from xlcorpus.engine.core import Stage
from xlcorpus.schema import Field, derive

class Upper(Stage):
    """Upper-cases src and adds its length: the output contract is declared here."""
    name = "upper"

    def output_contract(self, name, source):
        return derive(name, source, [Field("n", pa.int64(), False, "length of src")])

    def __call__(self, batch):
        import pyarrow.compute as pc
        out = batch.set_column(batch.schema.get_field_index("src"), "src", pc.utf8_upper(batch.column("src")))
        return out.append_column("n", pc.utf8_length(out.column("src")).cast(pa.int64()))
'''


def test_stage_declares_its_output_contract(tmp_path):
    (tmp_path / "c.en").write_text("One.\nTwo words.\n", encoding="utf-8")
    (tmp_path / "c.fr").write_text("Un.\nDeux mots.\n", encoding="utf-8")
    (tmp_path / "upkgdecl.py").write_text(DECLARING_STAGE, encoding="utf-8")
    path = write(tmp_path / "pipe.yaml", """
        steps:
          - kind: bitext-import
            params: {src: c.en, tgt: c.fr, src_lang: en, tgt_lang: fr}
          - stage: "upkgdecl:Upper"
            input: bitext
            output: bitext_upper
        """)
    store = Store(tmp_path / "store")
    xlcorpus.Pipeline.from_yaml(path).run(store, engine=LocalEngine(progress=False))
    rows = sorted(store.to_arrow("bitext_upper").to_pylist(), key=lambda r: r["line"])
    assert [(r["src"], r["n"]) for r in rows] == [("ONE.", 4), ("TWO WORDS.", 10)]
    assert store.contract("bitext_upper").partition_by == ("src_lang", "tgt_lang")
