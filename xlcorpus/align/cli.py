"""Commands: ``xlcorpus align``, ``xlcorpus eval align``, ``xlcorpus show``, ``xlcorpus igt convert``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..cli import eval_group, main, open_store, store_option
from ..cli_types import INPUT_FILE
from ..params import click_options
from .options import AlignSettings


def read_pairs_file(path: str) -> tuple[list[list[str]], list[list[str]]]:
    """Whitespace tokens of a ``src ||| tgt`` file (a bad line is an InputError with its line)."""
    from ..sources.inputs import read_pair_lines

    src, tgt = [], []
    for _, s, t in read_pair_lines(path):
        src.append(s.split())
        tgt.append(t.split())
    return src, tgt


@main.command()
@click.option("--input", "input_path", required=True, type=INPUT_FILE,
              help="Tokenized pairs, one 'src ||| tgt' per line.")
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False),
              help="Links, one line of 0-indexed 'i-j' per pair.")
@click_options(AlignSettings, "method", "model", "symmetrize")
@click.option("--extra-bitext", nargs=2, multiple=True, type=INPUT_FILE,
              metavar="SRC_FILE TGT_FILE", help="More tokenized line-parallel bitext for eflomal "
              "training only (repeatable).")
@click_options(AlignSettings, "runs", "similarity_priors", "seed", "neural_method", "layer", "device", "batch_size")
@click.option("--threads", type=click.IntRange(min=0), default=0, show_default=True,
              help="neural: torch CPU threads (0: torch's default).")
@click.option("--scores", "scores_path", type=click.Path(dir_okay=False),
              help="Also write one line of link scores per pair.")
@click_options(AlignSettings, "chunk_pairs", "priors_sample", "priors")
@click.option("--priors-out", type=click.Path(dir_okay=False), help="eflomal: also save the priors used.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="eflomal: chunks aligned in parallel.")
@click.pass_obj
def align(obj, input_path, output_path, method, model, symmetrize, extra_bitext, runs,
          similarity_priors, seed, neural_method, layer, device, batch_size, threads, scores_path,
          chunk_pairs, priors_sample, priors, priors_out, workers) -> None:
    """Word-align tokenized sentence pairs (eflomal on CPU by default, or a neural encoder)."""
    if method == "eflomal":
        from .chunked import align_lines_file, more_pairs_than

        if priors or priors_out or more_pairs_than(input_path, chunk_pairs):
            xs, xt = _extra_pairs(extra_bitext)
            n = align_lines_file(input_path, output_path, chunk_pairs=chunk_pairs, priors_sample=priors_sample,
                                 priors=priors, workers=workers, seed=seed, symmetrize=symmetrize,
                                 runs=runs or None, progress=not (obj and obj.quiet), out_scores=scores_path,
                                 priors_out=priors_out, extra=(xs, xt) if xs else None,
                                 similarity_priors=similarity_priors)
            if obj:
                obj.echo(f"aligned {n} pairs in chunks of {chunk_pairs:,} -> {output_path}")
            return
    src, tgt = read_pairs_file(input_path)
    if method == "neural":
        if not model:
            raise click.UsageError("--method neural needs --model PATH")
        from .neural import NeuralAligner

        aligner = NeuralAligner(model, layer=layer, device=device, batch_size=batch_size, threads=threads or None)
        links, scores = aligner.align_scored(src, tgt, (neural_method,))[neural_method]
    else:
        from .statistical import align_pairs

        xs, xt = _extra_pairs(extra_bitext)
        res = align_pairs(src, tgt, extra_src=xs or None, extra_tgt=xt or None,
                          symmetrize=symmetrize, runs=runs or None, seed=seed,
                          similarity_priors=similarity_priors)
        links, scores = res.links, res.scores
    Path(output_path).write_text("".join(" ".join(f"{s}-{t}" for s, t in l) + "\n" for l in links),
                                 encoding="utf-8")
    if scores_path:
        Path(scores_path).write_text("".join(" ".join(f"{x:g}" for x in sc) + "\n" for sc in scores),
                                     encoding="utf-8")
    obj.echo(f"aligned {len(links)} pairs ({sum(map(len, links))} links) -> {output_path}") \
        if obj else None


def _extra_pairs(files) -> tuple[list[list[str]], list[list[str]]]:
    from ..sources.inputs import read_token_pairs

    xs: list[list[str]] = []
    xt: list[list[str]] = []
    for s_file, t_file in files:
        a, b = read_token_pairs(s_file, t_file)
        xs += a
        xt += b
    return xs, xt


@eval_group.command("align")
@click.option("--gold", required=True, type=INPUT_FILE,
              help="Gold links: 'i-j' sure, 'ipj' possible, one line per pair.")
@click.option("--pred", required=True, type=INPUT_FILE,
              help="Predicted links, 0-indexed 'i-j'.")
@click.option("--gold-one-indexed", is_flag=True, help="Gold indices start at 1.")
@click.option("--pairs", type=INPUT_FILE,
              help="The 'src ||| tgt' file: a gold or predicted link outside its sentence is an error.")
@click.option("--lenient", is_flag=True, help="Skip links outside the sentences (or below the index base), "
              "counted in 'skipped' and listed on stderr, instead of failing.")
def eval_align(gold: str, pred: str, gold_one_indexed: bool, pairs: str | None, lenient: bool) -> None:
    """Print AER, precision, recall and F1 of PRED against GOLD as JSON.

    Without --pairs the sentence lengths are unknown: links outside the sentences cannot be
    found, and a warning says so."""
    from .evaluate import score_files

    if pairs is None:
        click.echo("warning: without --pairs, links outside the sentences are not checked", err=True)
    try:
        res = score_files(gold, pred, gold_one_indexed, pairs, lenient)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    for msg in res.skipped[:20]:
        click.echo(f"skipped: {msg}", err=True)
    if len(res.skipped) > 20:
        click.echo(f"skipped: ... {len(res.skipped) - 20} more", err=True)
    out = res.as_dict()
    out["skipped"] = len(res.skipped)
    click.echo(json.dumps(out))


@main.command()
@store_option
@click.option("--table", type=click.Choice(["bitext_aligned", "igt"]), default="bitext_aligned",
              show_default=True)
@click.option("--id", "ids", multiple=True, help="Show these row ids (repeatable).")
@click.option("--where", help="SQL condition on the table (DuckDB), e.g. \"src_lang = 'en'\".")
@click.option("--limit", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--width", type=click.IntRange(min=20), default=100, show_default=True)
def show(store: str, table: str, ids: tuple[str, ...], where: str | None, limit: int, width: int) -> None:
    """Interlinear view of aligned bitext (source words over their target words) or of IGT."""
    from .interlinear import render_row

    st = open_store(store)
    if not st.exists(table):
        raise click.ClickException(f"store {store!r} has no table {table!r}")
    conds = []
    if ids:
        conds.append("id IN (" + ", ".join("'" + i.replace("'", "''") + "'" for i in ids) + ")")
    if where:
        conds.append(f"({where})")
    order = "source, line" if table == "igt" else "src_lang, tgt_lang, pair_id"
    query = f"SELECT * FROM {table}" + (" WHERE " + " AND ".join(conds) if conds else "") \
        + f" ORDER BY {order} LIMIT {limit}"
    rows = st.sql(query).to_pylist()
    if not rows:
        raise click.ClickException(f"no rows in {table} match")
    click.echo("\n\n".join(render_row(table, r, width) for r in rows))


@main.group()
def igt() -> None:
    """Interlinear glossed text (Toolbox, CLDF)."""


@igt.command("convert")
@click.option("--input", "input_path", required=True, type=INPUT_FILE)
@click.option("--from", "src_fmt", required=True, type=click.Choice(["toolbox", "cldf"]))
@click.option("--to", "dst_fmt", required=True, type=click.Choice(["toolbox", "cldf"]))
@click.option("--output", "output_path", required=True, type=click.Path(dir_okay=False))
def igt_convert(input_path: str, src_fmt: str, dst_fmt: str, output_path: str) -> None:
    """Convert IGT between Toolbox blocks and a CLDF ExampleTable; bad blocks are reported
    (with their line numbers) and left out."""
    from ..sources.igt import convert

    n, rejects = convert(input_path, src_fmt, output_path, dst_fmt)  # type: ignore[arg-type]
    for r in rejects:
        click.echo(f"rejected: {r.source}:{r.position}: {r.reason}", err=True)
    click.echo(f"{n} examples -> {output_path}" + (f" ({len(rejects)} rejected)" if rejects else ""))
