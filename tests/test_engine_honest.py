"""The engine never lies: broken stages fail the step, parameters are checked before any
step runs, reruns are decided by the steps' own Delta transactions, steps do no work while
they are listed, and every commit carries per-stage statistics."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.engine import LocalEngine, Stage, Step
from xlcorpus.engine.core import call
from xlcorpus.errors import PipelineError, StepFailed
from xlcorpus.sources.bitext import ToBitext, read_pairs
from xlcorpus.store import Store

REPO = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "xlcorpus"]


class Broken(Stage):
    """A stage with a bug: it raises on every record."""

    name = "broken"

    def __call__(self, batch):
        raise KeyError("column 'srcx' (a typo)")


class FailsSetup(Stage):
    name = "fails_setup"

    def setup(self) -> None:
        raise FileNotFoundError("model folder /nowhere/model does not exist")

    def __call__(self, batch):
        return batch


def pairs(path: Path, n: int) -> Path:
    path.write_text("".join(f"s{i} ||| t{i}\n" for i in range(n)), encoding="utf-8")
    return path


def import_step(src: Path, stages: list, batch: int = 10) -> Step:
    return Step("import", call(read_pairs, src, "pipes", batch), [*stages, ToBitext("en", "fr")], ["bitext"],
                dedupe={"bitext": "id"})


@dataclass
class Toy(pl.Pipeline):
    """A one-step pipeline whose stages are chosen by a parameter (for these tests)."""

    kind: ClassVar[str] = "toy"
    src: Path
    broken: bool = False

    def steps(self, store) -> Iterator[Step]:
        yield import_step(self.src, [Broken()] if self.broken else [])


@pytest.mark.parametrize("workers", [1, 2])
def test_a_stage_that_fails_everywhere_fails_the_step(tmp_path, workers):
    store = Store(tmp_path / "s")
    src = pairs(tmp_path / "p.txt", 50)
    with pytest.raises(StepFailed, match=r"KeyError.*srcx.*first failing record: p.txt position 1"):
        pl.run(Toy(src, broken=True), store, LocalEngine(workers=workers, progress=False))
    assert store.tables() == []  # nothing committed, no fingerprint stamped
    report = pl.run(Toy(src), store, LocalEngine(progress=False))  # the bug fixed: it runs
    assert not report.steps[0].skipped and report.steps[0].rows["bitext"] == 50


def test_stage_errors_above_max_reject_share_fail_the_step(tmp_path):
    class Picky(Stage):
        name = "picky"

        def __call__(self, batch):
            if any(s.endswith("7") for s in batch.column("src").to_pylist()):
                raise ValueError("cannot handle a 7")
            return batch

    store = Store(tmp_path / "s")
    src = pairs(tmp_path / "p.txt", 100)  # 10 of 100 records end in 7: 10% is allowed
    report = LocalEngine(progress=False).run_step(import_step(src, [Picky()], batch=1), store, "r", {})
    assert report.rows["bitext"] == 90 and report.rejects == 10
    strict = dataclasses.replace(import_step(src, [Picky()], batch=1), max_reject_share=0.05)
    with pytest.raises(StepFailed, match=r"10 of 100 input records.*cannot handle a 7"):
        LocalEngine(progress=False).run_step(strict, Store(tmp_path / "t"), "r", {})
    assert Store(tmp_path / "t").tables() == []


def test_a_worker_setup_error_is_raised_as_itself(tmp_path):
    src = pairs(tmp_path / "p.txt", 40)
    with pytest.raises(FileNotFoundError, match="/nowhere/model"):
        LocalEngine(workers=2, progress=False).run_step(import_step(src, [FailsSetup()]), Store(tmp_path / "s"), "r", {})


def test_skip_holds_after_other_pipelines_wrote_the_table(tmp_path):
    store = Store(tmp_path / "s")
    fr = pl.load(REPO / "pipelines" / "import_bitext.yaml").pipeline
    de = pairs(tmp_path / "de.txt", 5)
    other = pl.build("bitext-import", {"pairs": str(de), "src_lang": "en", "tgt_lang": "de"}, "test", tmp_path)
    pl.run(fr, store)
    pl.run(other, store)
    again = pl.run(fr, store)
    assert again.steps[0].skipped
    forced = pl.run(fr, store, force=True)
    assert not forced.steps[0].skipped and forced.steps[0].rows["bitext"] == 0  # rows inserted, not staged
    assert forced.steps[0].staged["bitext"] > 0


def test_a_rerun_after_a_crash_between_commits_completes_only_the_missing_table(tmp_path, monkeypatch):
    store = Store(tmp_path / "s")
    spec = pl.load(REPO / "pipelines" / "import_bitext.yaml").pipeline
    real = Store.commit_files

    def crash_on_rejects(self, table, *a, **kw):
        if table == "bitext_rejects":
            raise KeyboardInterrupt  # as if killed right after the bitext commit
        return real(self, table, *a, **kw)

    monkeypatch.setattr(Store, "commit_files", crash_on_rejects)
    with pytest.raises(KeyboardInterrupt):
        pl.run(spec, store)
    monkeypatch.setattr(Store, "commit_files", real)
    assert store.tables() == ["bitext"] and store.version("bitext") == 0
    report = pl.run(spec, store)
    step = report.steps[0]
    assert not step.skipped and step.completed == ["bitext"]
    assert store.version("bitext") == 0 and store.count("bitext") == 6  # not written twice
    assert store.count("bitext_rejects") == 1
    assert pl.run(spec, store).steps[0].skipped


def test_listing_steps_reads_and_computes_nothing(tmp_path, monkeypatch):
    from xlcorpus.codeswitch import entitycs
    from xlcorpus.sources import wikipedia
    from xlcorpus.translit import pipeline as translit

    def forbidden(*a, **kw):
        raise AssertionError("work done while listing steps")

    monkeypatch.setattr(wikipedia, "scan_redirects", forbidden)
    monkeypatch.setattr(entitycs.LabelIndex, "__init__", forbidden)
    monkeypatch.setattr(translit, "train_model", forbidden)
    monkeypatch.setattr(Store, "read", forbidden)
    store = Store(tmp_path / "s")
    for name in ("entitycs", "bitext", "maltese", "romanize", "tprojection", "igt", "import_bitext"):
        spec = pl.load(REPO / "pipelines" / f"{name}.yaml")
        plan = pl.dry_run(spec.pipeline, store)
        assert plan["steps"] and all(not s["would_skip"] for s in plan["steps"])
    assert store.tables() == []


def test_the_label_index_is_memory_mapped_by_workers(tmp_path):
    import pyarrow as pa

    from xlcorpus.codeswitch.entitycs import LabelIndex

    labels = pa.table({"qid": ["Q1", "Q2", "Q2", "Q5"], "lang": ["de", "de", "fr", "fr"],
                       "label": ["Eins", "Zwei", "Deux", "Cinq"],
                       "aliases": [["1"], [], None, ["V", "cinq"]]})
    built = LabelIndex(labels, ("de", "fr"))
    loaded = LabelIndex.load(built.save(tmp_path / "idx"))
    for attr in ("qnum", "keys", "alias_start", "alias_count", "mask", "first", "bits_before"):
        assert (getattr(built, attr) == getattr(loaded, attr)).all(), attr
    assert loaded.label.to_pylist() == built.label.to_pylist()
    assert loaded.alias.to_pylist() == built.alias.to_pylist()
    assert not loaded.keys.flags.owndata  # a view of the mapped file, not a copy


def test_stage_statistics_and_drop_reasons_are_in_the_lineage(tmp_path):
    store = Store(tmp_path / "s")
    spec = pl.load(REPO / "pipelines" / "entitycs.yaml", ["min_chars=60"])
    pl.run(spec.pipeline, store)
    (last,) = [h for h in store.history("entitycs") if h.get("step") == "entitycs"]
    stats = last["stages"]["code_switch"]
    assert stats["rows_in"] == 13 and stats["rows_out"] == last["rows"]
    assert stats["dropped"]["min_chars"] > 0
    out = subprocess.run(EXE + ["history", "entitycs", "--store", str(store.root)], capture_output=True, text=True)
    assert "code_switch:13>" in out.stdout and "min_chars=" in out.stdout


@pytest.mark.parametrize("setting,message", [
    ("runs=-3", "params.runs|--set runs: must be >= 0, found -3"),
    ("codeswitch_ratio=5", "--set codeswitch_ratio: must be <= 1.0, found 5.0"),
    ("src_lang=english", "--set src_lang: 'english' is not a language code"),
    ("batch_size=0", "--set batch_size: must be > 0, found 0"),
    ("src=/nonexistent/x.en", "/nonexistent/x.en: does not exist (--set src)"),
])
def test_bad_parameters_fail_before_any_step(tmp_path, setting, message):
    store = tmp_path / "s"
    proc = subprocess.run(EXE + ["run", str(REPO / "pipelines" / "bitext.yaml"), "--store", str(store),
                                 "--set", setting], capture_output=True, text=True)
    assert proc.returncode == 1, proc.stderr
    assert any(m in proc.stderr for m in message.split("|")), proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (store / "bitext").exists()


def test_language_codes_are_normalised(tmp_path):
    p = pl.load(REPO / "pipelines" / "import_bitext.yaml", ["src_lang=EN", "tgt_lang=fr_FR"]).pipeline
    assert (p.src_lang, p.tgt_lang) == ("en", "fr-fr")
    p = pl.load(REPO / "pipelines" / "romanize.yaml", ["langs=ukr"]).pipeline
    assert p.langs == ["uk"]
    with pytest.raises(PipelineError, match="'x' is not a language code"):
        pl.load(REPO / "pipelines" / "romanize.yaml", ["langs=x"])


def test_dry_run_and_params_commands(tmp_path):
    store = tmp_path / "s"
    out = subprocess.run(EXE + ["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store),
                                "--dry-run", "--json"], capture_output=True, text=True)
    plan = json.loads(out.stdout)
    assert plan["params"]["src_lang"] == "en" and set(plan["inputs"]) == {"src", "tgt"}
    assert plan["steps"][0]["outputs"] == ["bitext"] and plan["steps"][0]["would_skip"] is False
    assert not store.exists()  # a dry run writes nothing
    subprocess.run(EXE + ["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store)], check=True,
                   capture_output=True)
    text = subprocess.run(EXE + ["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store),
                                 "--dry-run"], capture_output=True, text=True).stdout
    assert "import: xlcorpus.sources.bitext.read_moses -> to_bitext -> bitext [merge]" in text
    assert "skip (up to date)" in text
    params = subprocess.run(EXE + ["params", "bitext-align"], capture_output=True, text=True).stdout
    assert "runs: int = 0 [>= 0]  eflomal runs" in params
    assert "codeswitch_ratio: float = 0.0 [>= 0.0 and <= 1.0]" in params
    assert "src_lang: str = \"(required)\" [language code]" in params
