"""Commands: ``xlcorpus project`` (label projection) and ``xlcorpus eval spans``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from ..cli import eval_group, main
from ..errors import InputError
from ..cli_types import INPUT_FILE


@main.command()
@click.option("--source", "source", required=True, type=INPUT_FILE,
              help="Source CoNLL file with tags (IOB1/IOB2/BIOES); with --source-model its tags are ignored.")
@click.option("--target", "target", required=True, type=INPUT_FILE,
              help="Target CoNLL file: its tokens (tags, if any, are ignored); sentence i translates source sentence i.")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False),
              help="Projected target: CoNLL (IOB2), or JSON lines with character spans if it ends in .jsonl.")
@click.option("--method", type=click.Choice(["features", "nmt", "minmax"]), default="features", show_default=True,
              help="features: CPU scorer, no model; nmt: translation-probability scorer (--nmt-model); "
                   "minmax: alignment baseline.")
@click.option("--extra-bitext", "extra", nargs=2, multiple=True, type=INPUT_FILE,
              metavar="SRC_FILE TGT_FILE", help="More line-parallel text for the aligner (repeatable).")
@click.option("--src-lang", default="en", show_default=True)
@click.option("--tgt-lang", default="es", show_default=True)
@click.option("--runs", type=click.IntRange(min=1), default=3, show_default=True, help="eflomal runs (link votes).")
@click.option("--similarity-priors/--no-similarity-priors", default=True, show_default=True,
              help="eflomal priors for identical and cognate tokens (names, numbers).")
@click.option("--min-score", "--threshold", "min_score", type=click.FloatRange(min=0.0),
              help="Minimum score of a projected span; features: a calibrated probability that the span is "
                   "right (default: the scoring model's, chosen by cross-validation).")
@click.option("--scoring", help="features: scoring model, a name in xlcorpus/project/models or a JSON file "
                                "(default: softmax-en-es).")
@click.option("--nmt-model", type=click.Path(exists=True, file_okay=False), help="Local seq2seq translation model.")
@click.option("--generator-model", type=click.Path(exists=True, file_okay=False),
              help="Local mT5-style candidate generator (T-Projection format).")
@click.option("--source-model", help="Tag the source on the fly with this spaCy pipeline (name or folder), "
                                     "OntoNotes types mapped to PER/ORG/LOC/MISC.")
@click.option("--device", help="torch device for the models (default: cuda if available).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Parallel eflomal runs.")
@click.option("--seed", type=int, default=0, show_default=True, help="eflomal seed (same seed: same output).")
@click.pass_obj
def project(obj, source: str, target: str, output: str, method: str, extra: tuple[tuple[str, str], ...],
            src_lang: str, tgt_lang: str, runs: int, similarity_priors: bool, min_score: float | None, scoring: str | None,
            nmt_model: str | None, generator_model: str | None, source_model: str | None, device: str | None,
            workers: int, seed: int) -> None:
    """Project the spans of SOURCE onto the tokens of TARGET (label projection)."""
    from ..sources.inputs import read_token_pairs
    from ..text.tokenize import words
    from .project import ProjectionOptions, project_corpus
    from .spans import Sentence, Span, read_conll, write_conll, write_jsonl

    if method == "nmt" and not nmt_model:
        raise click.UsageError("--method nmt needs --nmt-model")
    if scoring:
        from .scorers import ScoringModel

        try:
            ScoringModel.load(scoring)
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
    opts = ProjectionOptions(method=method, runs=runs, similarity_priors=similarity_priors, min_score=min_score,
                             nmt_model=nmt_model, generator_model=generator_model, device=device, workers=workers,
                             seed=seed, **({"scoring": scoring} if scoring else {}))
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
