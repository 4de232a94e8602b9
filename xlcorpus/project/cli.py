"""Commands: ``xlcorpus project`` (label projection) and ``xlcorpus eval spans``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..cli import eval_group, main
from ..errors import InputError
from ..cli_types import INPUT_FILE
from ..params import click_options
from .options import ProjectionInputs, ProjectionOptions


@main.command()
@click_options(ProjectionInputs, "source", "target")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Projected target: CoNLL (IOB2), or JSON lines with character spans if it ends in .jsonl.")
@click_options(ProjectionOptions, "method")
@click.option("--extra-bitext", "extra", nargs=2, multiple=True, type=INPUT_FILE,
              metavar="SRC_FILE TGT_FILE", help="More line-parallel text for the aligner (repeatable).")
@click_options(ProjectionInputs, "src_lang", "tgt_lang")
@click_options(ProjectionOptions, "runs", "similarity_priors", "min_score", "scoring", "nmt_model",
               "generator_model", aliases={"min_score": ("--threshold",)})
@click.option("--source-model", help="Tag the source on the fly with this spaCy pipeline (name or folder), "
                                     "OntoNotes types mapped to PER/ORG/LOC/MISC; the tags of SOURCE are ignored.")
@click_options(ProjectionOptions, "device", "workers", "seed")
@click.pass_obj
def project(obj, source: str, target: str, output: str, extra: tuple[tuple[str, str], ...], src_lang: str,
            tgt_lang: str, source_model: str | None, **settings) -> None:
    """Project the spans of SOURCE onto the tokens of TARGET (label projection)."""
    from ..sources.inputs import read_token_pairs
    from ..text.tokenize import words
    from .project import project_corpus
    from .spans import Sentence, Span, read_conll, write_conll, write_jsonl

    opts = ProjectionOptions(**settings)
    if opts.method == "nmt" and not opts.nmt_model:
        raise click.UsageError("--method nmt needs --nmt-model")
    from .scorers import ScoringModel

    try:
        ScoringModel.load(opts.scoring)
    except (ValueError, KeyError) as e:
        raise click.BadParameter(str(e), param_hint="--scoring") from None
    src = read_conll(source, with_tags=not source_model)
    if source_model:
        from ..tagging import Tagger, tag_pretokenized

        tagged = tag_pretokenized(Tagger(source_model), [s.tokens for s in src])
        src = [Sentence(s.tokens, t.spans, s.line, s.source) for s, t in zip(src, tagged)]
    tgt = read_conll(target, with_tags=False)
    if len(src) != len(tgt):
        raise InputError(f"{source} has {len(src)} sentences but {target} has {len(tgt)}: "
                         "sentence i of one must translate sentence i of the other")
    xs, xt = [], []
    for a, b in extra:
        s, t = read_token_pairs(a, b, words)
        xs += s
        xt += t
    start = time.perf_counter()
    projected = project_corpus(src, tgt, src_lang, tgt_lang, xs, xt, opts)
    seconds = time.perf_counter() - start
    out = [Sentence(t.tokens, [Span(p.start, p.end, p.label) for p in ps], t.line, t.source)
           for t, ps in zip(tgt, projected)]
    (write_jsonl if output.endswith(".jsonl") else write_conll)(Path(output), out)
    n_src = sum(len(s.spans) for s in src)
    n_out = sum(len(ps) for ps in projected)
    if obj is None or not obj.quiet:
        click.echo(f"projected {n_out:,} of {n_src:,} spans over {len(src):,} sentence pairs "
                   f"({len(xs):,} extra pairs for alignment) in {seconds:.1f} s "
                   f"({len(src) / max(seconds, 1e-9):,.1f} pairs/s) -> {output}", err=True)


@eval_group.command("spans")
@click.option("--gold", required=True, type=INPUT_FILE, help="Gold CoNLL or JSON lines.")
@click.option("--pred", required=True, type=INPUT_FILE, help="Predicted CoNLL or JSON lines.")
@click.option("--examples", type=click.IntRange(min=0), default=0, show_default=True,
              help="Add up to N examples of each error kind.")
def eval_spans(gold: str, pred: str, examples: int) -> None:
    """Exact-match span precision/recall/F1 (micro and per label) of PRED against GOLD, as JSON."""
    from .evaluate import evaluate_spans
    from .spans import read_spans

    g, p = read_spans(gold), read_spans(pred)
    if len(g) != len(p):
        raise InputError(f"{gold} has {len(g)} sentences but {pred} has {len(p)}")
    for k, (a, b) in enumerate(zip(g, p)):
        if len(a.tokens) != len(b.tokens):
            raise InputError(f"sentence {k + 1} (line {a.line} of {gold}, line {b.line} of {pred}) has "
                             f"{len(a.tokens)} gold tokens but {len(b.tokens)} predicted tokens")
    report = evaluate_spans([s.spans for s in g], [s.spans for s in p], max_examples=examples,
                            tokens=[s.tokens for s in g])
    click.echo(json.dumps(report.as_dict(examples=examples > 0), ensure_ascii=False, indent=2))
