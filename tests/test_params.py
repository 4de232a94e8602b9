"""Each parameter is declared once: the command-line options of ``project`` and ``mask`` are
made of the same dataclass fields as the pipeline kinds, with the same defaults and checks."""

from __future__ import annotations

import dataclasses
import json
import typing
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from xlcorpus import pipeline as pl
from xlcorpus.cli import _load_command_modules, main
from xlcorpus.errors import PipelineError
from xlcorpus.params import describe

_load_command_modules()
PROJECT, MASK = main.commands["project"], main.commands["mask"]
TPROJECTION, ENTITYCS = pl.pipeline_class("tprojection"), pl.pipeline_class("entitycs")
SOURCE = "-DOCSTART- -X- O O\n\nJohn B-PER\nsleeps O\n.\tO\n\n"


def fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def default(f: dataclasses.Field):
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def same_declaration(option: click.Option, cls: type) -> None:
    """The option says what the field of ``cls`` says: default, required, choices, meaning."""
    f = fields(cls)[option.name]
    assert option.default == default(f), option.name
    assert option.required == (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
    hint = typing.get_type_hints(cls, include_extras=True)[f.name]
    base = typing.get_args(hint)[0] if typing.get_origin(hint) is typing.Annotated else hint
    if typing.get_origin(base) is typing.Literal:
        assert list(option.type.choices) == list(typing.get_args(base))
    meaning = next(r["help"] for r in describe(cls) if r["name"] == f.name)
    assert (option.help or "") == meaning


@pytest.mark.parametrize("command, kind, cli_only", [
    ("project", "tprojection", {"output", "extra", "source_model", "device", "workers"}),
    ("align", "bitext-align", {"input_path", "output_path", "extra_bitext", "threads", "scores_path", "priors_out",
                               "workers"}),
    ("mask", "entitycs", {"tokenizer", "store", "storage_options", "seed", "langs", "workers"}),
])
def test_command_options_are_the_fields_of_the_kind(command, kind, cli_only):
    cls = pl.pipeline_class(kind)
    params = main.commands[command].params
    assert {p.name for p in params} - cli_only <= set(fields(cls))
    for p in params:
        if p.name not in cli_only:
            same_declaration(p, cls)


def test_command_lines_keep_every_option_name_and_form():
    from xlcorpus.project.options import ProjectionOptions

    for p in PROJECT.params:
        if p.name in ("device", "workers"):  # the run's resources: ProjectionOptions only
            same_declaration(p, ProjectionOptions)
    names = {c: [o for p in main.commands[c].params for o in p.opts + p.secondary_opts] for c in ("project", "align")}
    assert names["project"] == [
        "--source", "--target", "--output", "--method", "--extra-bitext", "--src-lang", "--tgt-lang", "--runs",
        "--similarity-priors", "--no-similarity-priors", "--min-score", "--threshold", "--scoring",
        "--nmt-model", "--generator-model", "--source-model", "--device", "--workers", "--seed"]
    assert names["align"] == [
        "--input", "--output", "--method", "--model", "--symmetrize", "--extra-bitext", "--runs",
        "--similarity-priors", "--no-similarity-priors", "--seed", "--neural-method", "--layer", "--device",
        "--batch-size", "--threads", "--scores", "--chunk-pairs", "--priors-sample", "--priors", "--priors-out",
        "--workers"]


def test_mask_seed_is_the_sampling_seed_of_the_kind():
    assert fields(ENTITYCS)["seed"].default == next(p.default for p in MASK.params if p.name == "seed")


def test_entitycs_kind_is_the_codeswitch_config_plus_its_inputs():
    from xlcorpus.codeswitch.entitycs import CSConfig

    cs = fields(CSConfig)
    kind = fields(ENTITYCS)
    assert set(cs) <= set(kind)
    # one declaration: the kind's field objects are the config's (same default, same annotation)
    hints, kind_hints = typing.get_type_hints(CSConfig, include_extras=True), \
        typing.get_type_hints(ENTITYCS, include_extras=True)
    for name in cs:
        assert default(kind[name]) == default(cs[name]) and kind_hints[name] == hints[name], name
    pipe = ENTITYCS(src_lang="en", languages=["de", "fr", "mt"], k=2, seed=3)
    assert pipe.config() == CSConfig(src_lang="en", languages=["de", "fr", "mt"], k=2, seed=3)


def parse(command: click.Command, args: list[str]) -> dict:
    return command.make_context(command.name, args).params


def test_command_line_values_are_checked_and_normalised_by_the_declaration(tmp_path):
    src, tgt = tmp_path / "s.conll", tmp_path / "t.conll"
    src.write_text(SOURCE)
    tgt.write_text(SOURCE)
    base = ["--source", str(src), "--target", str(tgt), "--output", str(tmp_path / "o.conll")]
    got = parse(PROJECT, base + ["--src-lang", "EN", "--tgt-lang", "spa", "--threshold", "0.4",
                                 "--no-similarity-priors"])
    assert (got["src_lang"], got["tgt_lang"], got["min_score"], got["similarity_priors"]) == ("en", "es", 0.4, False)
    assert got["runs"] == 3 and got["scoring"] == "softmax-en-es" and got["method"] == "features"
    runner = CliRunner()
    for args, option, why in [(["--runs", "0"], "--runs", "0 is not in the range x>=1"),
                              (["--src-lang", "e!x"], "--src-lang", "'e!x' is not a language code"),
                              (["--min-score", "-0.1"], "--min-score", "not in the range x>=0.0"),
                              (["--nmt-model", str(src)], "--nmt-model", "is a file"),
                              (["--method", "beam"], "--method", "'beam' is not one of")]:
        res = runner.invoke(main, ["project", *base, *args])
        assert res.exit_code == 2, res.output
        assert f"Invalid value for '{option}" in res.output and why in res.output, res.output
    res = runner.invoke(main, ["mask", "--tokenizer", str(tmp_path), "--max-length", "7"])
    assert res.exit_code == 2 and "'--max-length': 7 is not in the range x>=8" in res.output


@pytest.mark.parametrize("kind, params, message", [
    ("tprojection", {"runs": 0}, "params.runs: must be > 0, found 0"),
    ("tprojection", {"src_lang": "e!x"}, "params.src_lang: 'e!x' is not a language code"),
    ("tprojection", {"min_score": -0.1}, "params.min_score: must be >= 0.0, found -0.1"),
    ("tprojection", {"nmt_model": "s.conll"}, "s.conll: is not a folder (p.yaml: params.nmt_model)"),
    ("entitycs", {"k": 0}, "params.k: must be > 0, found 0"),
    ("entitycs", {"languages": ["de", "e!x"]}, "params.languages[1]: 'e!x' is not a language code"),
    ("entitycs", {"max_length": 7}, "params.max_length: must be >= 8, found 7"),
    ("entitycs", {"strategy": "XYZ"}, "params.strategy: expected one of ['MLM'"),
])
def test_pipeline_file_values_are_checked_by_the_same_declaration(tmp_path, monkeypatch, kind, params, message):
    (tmp_path / "s.conll").write_text(SOURCE)
    if kind == "tprojection":
        params = {"source": "s.conll", "target": "s.conll", **params}
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "p.yaml"
    path.write_text(f"pipeline: {kind}\nparams: {json.dumps(params)}\n")
    with pytest.raises(PipelineError) as err:
        pl.load(path)
    assert message in str(err.value).replace(str(tmp_path) + "/", "")


def test_python_api_values_are_checked_by_the_same_declaration():
    from xlcorpus.codeswitch.entitycs import CSConfig

    with pytest.raises(PipelineError, match=r"switch_prob: must be <= 1.0, found 1.5"):
        CSConfig(switch_prob=1.5)
    with pytest.raises(PipelineError, match=r"markers: expected one of \['entity', 'lang'\], found 'x'"):
        CSConfig(markers="x")
    cfg = CSConfig(src_lang="EN", languages=("de", "en", "fr", "de"))
    assert cfg.src_lang == "en" and cfg.targets == ("de", "fr")
    with pytest.raises(PipelineError, match=r"tprojection: runs: must be > 0, found 0"):
        TPROJECTION(source=Path(__file__), target=Path(__file__), runs=0)


def test_the_projection_kinds_list_the_same_parameters_with_their_checks():
    rows = {r["name"]: r for r in describe(TPROJECTION)}
    assert list(rows) == ["source", "target", "src_lang", "tgt_lang", "method", "runs", "seed", "similarity_priors",
                          "min_score", "scoring", "nmt_model", "generator_model", "extra_src", "extra_tgt",
                          "output_conll"]
    assert rows["runs"]["rules"] == "> 0" and rows["min_score"]["rules"] == ">= 0.0"
    assert rows["src_lang"]["rules"] == "language code" and rows["nmt_model"]["rules"] == "folder must exist"
    sub = {r["name"] for r in describe(pl.pipeline_class("translate-train"))}
    assert set(rows) < sub
    assert isinstance(TPROJECTION(source=Path(__file__), target=Path(__file__)).options()["runs"], int)
