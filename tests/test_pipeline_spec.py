from __future__ import annotations

from pathlib import Path

import pytest

from xlcorpus import pipeline as pl
from xlcorpus.errors import PipelineError

from .conftest import REPO


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    (tmp_path / "a.en").write_text("x\n")
    (tmp_path / "a.fr").write_text("y\n")
    return p


def test_paths_in_files_are_relative_to_the_file_and_set_overrides(tmp_path, monkeypatch):
    p = write(tmp_path, "pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, src_lang: en, tgt_lang: fr}\n")
    spec = pl.load(p)
    assert spec.pipeline.src == (tmp_path / "a.en").resolve()
    monkeypatch.chdir(tmp_path)
    spec = pl.load(p, ["tgt_lang=de", "batch_size=7"])
    assert spec.pipeline.tgt_lang == "de" and spec.pipeline.batch_size == 7


@pytest.mark.parametrize("text, message", [
    ("pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, src_lang: en, tgt_lang: fr, colour: red}\n",
     r"p.yaml: unknown key 'params.colour'"),
    ("pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, src_lang: en, tgt_lang: fr, batch_size: many}\n",
     r"p.yaml: params.batch_size: expected an integer, found 'many'"),
    ("pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, src_lang: 3, tgt_lang: fr}\n",
     r"p.yaml: params.src_lang: expected a string"),
    ("pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, tgt_lang: fr}\n",
     r"missing required parameter\(s\) \['src_lang'\]"),
    ("pipeline: bitext-import\nparms: {}\n", r"p.yaml: unknown key\(s\) \['parms'\]"),
    ("pipeline: nosuch\n", r"unknown pipeline kind 'nosuch'"),
    ("pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, src_lang: en, tgt_lang: fr, format: xml}\n",
     r"params.format: expected one of"),
    ("[1, 2", r"invalid YAML"),
])
def test_bad_pipeline_files_name_the_file_and_key(tmp_path, text, message):
    with pytest.raises(PipelineError, match=message):
        pl.load(write(tmp_path, text))


def test_bad_overrides(tmp_path):
    p = write(tmp_path, "pipeline: bitext-import\nparams: {src: a.en, tgt: a.fr, src_lang: en, tgt_lang: fr}\n")
    with pytest.raises(PipelineError, match="--set nosuch"):
        pl.load(p, ["nosuch=1"])
    with pytest.raises(PipelineError, match="key=value"):
        pl.load(p, ["novalue"])
    with pytest.raises(PipelineError, match="--set batch_size: expected an integer"):
        pl.load(p, ["batch_size=ten"])


def test_every_shipped_pipeline_file_is_valid():
    files = sorted((REPO / "pipelines").glob("*.yaml"))
    assert files
    for f in files:
        spec = pl.load(f)
        assert spec.kind in pl.kinds() or spec.kind == "steps"
