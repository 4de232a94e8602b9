"""Commands ``xlcorpus romanize`` and ``xlcorpus etymology train|eval|cv``."""

from __future__ import annotations

import json

import click

from ..cli import main
from ..cli_types import INPUT_FILE


@main.command()
@click.option("--lang", required=True, help="Language of the input (BCP-47 or ISO 639; mapped to ISO 639-3).")
@click.option("--input", "input_", required=True, type=INPUT_FILE,
              help="Text file, one sentence per line (plain, .gz, .bz2, .xz).")
@click.option("--output", required=True, type=click.Path(dir_okay=False), help="Romanized text, line by line.")
@click.option("--offsets", type=click.Path(dir_okay=False),
              help="Also write JSON lines of [start, end, rom_start, rom_end] edges per sentence.")
@click.option("--keep-latin", is_flag=True, help="Leave Latin-script tokens unchanged.")
@click.pass_obj
def romanize(obj, lang: str, input_: str, output: str, offsets: str | None, keep_latin: bool) -> None:
    """Romanize a text file with uroman (identical to whole-sentence uroman, much faster)."""
    from ..sources.inputs import iter_lines
    from .romanize import ExactRomanizer, uroman_lcode

    lcode = uroman_lcode(lang)
    rom = ExactRomanizer()
    n = 0
    with open(output, "w", encoding="utf-8") as out, \
            (open(offsets, "w", encoding="utf-8") if offsets else _Null()) as edges, \
            _progress(not obj.quiet, "romanize") as bar:
        for line_no, raw in iter_lines(input_):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise click.ClickException(f"{input_}:{line_no}: invalid UTF-8 at byte {exc.start}") from exc
            r = rom.romanize(text, lcode, keep_latin)
            out.write(r.romanized + "\n")
            edges.write(json.dumps(r.edges()) + "\n")
            n += 1
            bar(1)
    obj.echo(f"romanized {n:,} lines ({lang} -> uroman lcode {lcode}) into {output}")


@main.group()
def etymology() -> None:
    """Token-level etymology classifier (CRF) for the Maltese method."""


@etymology.command("train")
@click.option("--annotations", required=True, type=INPUT_FILE,
              help="TSV: id, token, category[, category_merged].")
@click.option("--model", "model_dir", required=True, type=click.Path(file_okay=False),
              help="Output folder (model.crfsuite + meta.json).")
@click.option("--labels", type=click.Choice(["fine", "merged"]), default="fine", show_default=True)
@click.pass_obj
def etymology_train(obj, annotations: str, model_dir: str, labels: str) -> None:
    """Train the classifier on an annotations TSV."""
    from .etymology import read_annotations, train

    sentences = read_annotations(annotations)
    out = train(sentences, model_dir, labels)
    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    obj.echo(f"trained on {meta['tokens']:,} tokens ({meta['sentences']} sentences, "
             f"{len(meta['labels'])} labels from {meta['label_column']!r}) -> {out}")


@etymology.command("eval")
@click.option("--model", "model_dir", required=True, type=click.Path(exists=True, file_okay=False))
@click.option("--annotations", required=True, type=INPUT_FILE)
def etymology_eval(model_dir: str, annotations: str) -> None:
    """Print JSON: accuracy, macro-F1 and per-class F1 of a model on annotations."""
    from .etymology import EtymologyTagger, evaluate, read_annotations

    result = evaluate(EtymologyTagger(model_dir), read_annotations(annotations))
    click.echo(json.dumps(result, indent=2, ensure_ascii=False))


@etymology.command("cv")
@click.option("--annotations", required=True, type=INPUT_FILE)
@click.option("--labels", type=click.Choice(["fine", "merged"]), default="fine", show_default=True)
@click.option("--folds", type=click.IntRange(min=2), default=10, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def etymology_cv(annotations: str, labels: str, folds: int, seed: int) -> None:
    """Print JSON: cross-validation grouped by sentence, CRF vs majority and lookup baselines."""
    from .etymology import cross_validate, read_annotations

    click.echo(json.dumps(cross_validate(read_annotations(annotations), labels, folds, seed),
                          indent=2, ensure_ascii=False))


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def write(self, _text: str) -> None:
        pass


class _progress:
    """A transient rich line counter (silent when disabled)."""

    def __init__(self, enabled: bool, label: str):
        self.enabled, self.label = enabled, label

    def __enter__(self):
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._p = Progress(SpinnerColumn(), TextColumn(f"[bold]{self.label}"),
                           TextColumn("{task.completed:,} lines"), TimeElapsedColumn(), transient=True)
        self._p.__enter__()
        task = self._p.add_task(self.label, total=None)
        return lambda n: self._p.update(task, advance=n)

    def __exit__(self, *exc):
        if self.enabled:
            self._p.__exit__(*exc)
        return False

