"""Pipeline kinds ``romanize`` and ``maltese`` and their readers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pyarrow as pa

from ..engine.core import Reject, Step, call
from ..errors import PipelineError
from ..params import Ge, Help, InputPath, LangCode, PositiveInt
from ..pipeline import Pipeline
from ..sources.inputs import decode_line, display_name, iter_lines, text_lines
from .etymology import LABEL_COLUMNS, read_annotations
from .etymology import train as train_model
from .romanize import RAW_SCHEMA, RomanizeStage
from ..text.tokenize import tokenize
from .transliterate import PRESETS, SENTENCE_SCHEMA, MalteseStage, policy


def read_sentences(paths: list[Path], langs: list[str], batch_size: int = 1000
                   ) -> Iterator[pa.RecordBatch | Reject]:
    """Rows ``(source, position, lang, text)`` from text files, one sentence per line.

    ``langs``: one language per file (or one for all); empty: every line is
    ``lang<TAB>text``. Invalid UTF-8 and, for TSV input, a line without a tab are rejects.
    """
    rows: dict[str, list] = {k: [] for k in RAW_SCHEMA.names}
    for i, path in enumerate(paths):
        name = display_name(path)
        fixed = (langs[i] if len(langs) > 1 else langs[0]) if langs else None
        for n, raw in iter_lines(path):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield Reject(name, n, "read_sentences", f"invalid UTF-8 at byte {exc.start}",
                             raw.decode("utf-8", "replace"))
                continue
            lang, text = fixed, line
            if fixed is None:
                lang, sep, text = line.partition("\t")
                if not sep or not lang.strip():
                    yield Reject(name, n, "read_sentences", "expected 'lang<TAB>text'", line)
                    continue
            for key, value in zip(RAW_SCHEMA.names, (name, n, lang.strip(), text)):
                rows[key].append(value)
            if len(rows["text"]) >= batch_size:
                yield pa.RecordBatch.from_pydict(rows, schema=RAW_SCHEMA)
                rows = {k: [] for k in RAW_SCHEMA.names}
    if rows["text"]:
        yield pa.RecordBatch.from_pydict(rows, schema=RAW_SCHEMA)


@dataclass
class RomanizePipeline(Pipeline):
    """Romanize sentences with uroman into ``romanized`` (text, romanized text, offsets,
    script per token), identical to whole-string uroman unless ``keep_latin``.

    ``files``: text files, one sentence per line; ``langs``: their languages (one per
    file, or one for all), or empty when every line is ``lang<TAB>text``.
    ``keep_latin``: copy tokens written in Latin script (and script-less tokens) unchanged.
    ``cache_size``: segments cached per worker. ``fast_regex``: cache uroman's compiled
    regular expressions (same output, faster; see :mod:`.fastregex`).
    """

    kind: ClassVar[str] = "romanize"
    files: Annotated[list[InputPath], Help("text files, one sentence per line")]
    langs: Annotated[list[LangCode], Help("language of each file (one for all, or one per file)")] = \
        field(default_factory=list)
    keep_latin: Annotated[bool, Help("copy Latin-script tokens unchanged")] = False
    batch_size: PositiveInt = 1000
    cache_size: Annotated[int, Ge(0), Help("segments cached per worker")] = 500_000
    fast_regex: Annotated[bool, Help("compile uroman's regular expressions once")] = True

    def __post_init__(self) -> None:
        if not self.files:
            raise PipelineError("romanize: 'files' must name at least one file")
        for p in self.files:
            if not p.is_file():
                raise PipelineError(f"romanize: input {p} is not a file")
        if len(self.langs) not in (0, 1, len(self.files)):
            raise PipelineError(f"romanize: give one language per input ({len(self.files)}), one for all, "
                                f"or none (lang<TAB>text lines); got {len(self.langs)}")

    def steps(self, store) -> Iterator[Step]:
        yield Step("romanize", call(read_sentences, self.files, self.langs, self.batch_size),
                   [RomanizeStage(self.keep_latin, self.cache_size, fast_regex=self.fast_regex)], ["romanized"],
                   mode="merge", dedupe={"romanized": "id"})


def read_maltese(path: Path, fmt: str = "auto", batch_size: int = 500) -> Iterator[pa.RecordBatch | Reject]:
    """Sentences for :class:`MalteseStage`: from an annotations TSV (tokens given, the fine
    label kept as ``gold``) or a text file (one sentence per line, the ``maltese`` tokenizer of :mod:`xlcorpus.text.tokenize`)."""
    if fmt == "auto":
        first = next((line for _, line in text_lines(path)), "")
        fmt = "annotations" if first.split("\t")[:2] == ["id", "token"] else "text"
    rows: list[dict] = []
    if fmt == "annotations":
        for s in read_annotations(path):
            text, spans = s.text_and_spans()
            gold = s.labels.get(LABEL_COLUMNS["fine"])
            rows.append({"source": display_name(path), "position": s.line, "sentence": s.sid, "text": text,
                         "starts": [a for a, _ in spans], "ends": [b for _, b in spans], "gold": gold})
    else:
        for n, raw in iter_lines(path):
            text = decode_line(raw, display_name(path), n, "read_maltese")
            if isinstance(text, Reject):
                yield text
                continue
            spans = tokenize(text, "mt", scheme="maltese").spans
            if not spans:
                continue
            rows.append({"source": display_name(path), "position": n, "sentence": str(n), "text": text,
                         "starts": [a for a, _ in spans], "ends": [b for _, b in spans], "gold": None})
    for i in range(0, len(rows), batch_size):
        yield pa.RecordBatch.from_pylist(rows[i:i + batch_size], schema=SENTENCE_SCHEMA)


@dataclass
class MaltesePipeline(Pipeline):
    """Etymology-conditioned transliteration of Maltese into ``transliterated``.

    ``input``: an annotations TSV (``id token [category ...]``) or a text file.
    ``model``: a trained etymology model (``xlcorpus etymology train``); without one, a CRF
    is trained on ``train`` (default: ``input``, which then needs labels) for this run.
    ``maps``: character maps; ``token_maps``: closed-class token maps; ``dictionary``:
    ``token<TAB>translation`` for ``translate``. ``presets``: variants to produce (each
    sentence gets one row per preset). ``arabic_labels``: origins counted as Arabic.
    """

    kind: ClassVar[str] = "maltese"
    input: Annotated[InputPath, Help("annotations TSV or text file, one sentence per line")]
    maps: Annotated[list[InputPath], Help("character map files")]
    token_maps: list[InputPath] = field(default_factory=list)
    dictionary: Annotated[InputPath | None, Help("token<TAB>translation dictionary")] = None
    model: Annotated[InputPath | None, Help("trained etymology model (default: train on 'train')")] = None
    train: Annotated[InputPath | None, Help("annotations to train the model on (default: input)")] = None
    labels: Literal["fine", "merged"] = "fine"
    presets: list[str] = field(default_factory=lambda: list(PRESETS))
    arabic_labels: list[str] = field(default_factory=lambda: ["Arabic", "Name (Arabic)"])
    format: Literal["auto", "annotations", "text"] = "auto"
    batch_size: PositiveInt = 500

    def __post_init__(self) -> None:
        for name in ("input", "dictionary", "model", "train"):
            p = getattr(self, name)
            if p is not None and not p.exists():
                raise PipelineError(f"maltese: {name} {p} does not exist")
        for p in [*self.maps, *self.token_maps]:
            if not p.is_file():
                raise PipelineError(f"maltese: map file {p} does not exist")
        unknown = [p for p in self.presets if p not in PRESETS]
        if unknown or not self.presets:
            raise PipelineError(f"maltese: unknown or no preset(s) {unknown} (known: {list(PRESETS)})")
        if self.dictionary is None and any("translate" in policy_actions(p) for p in self.presets):
            raise PipelineError("maltese: presets that translate need a 'dictionary'")

    def steps(self, store) -> Iterator[Step]:
        args = (self.maps, self.token_maps, self.dictionary, self.presets, self.arabic_labels)
        stage = MalteseStage(self.model, *args) if self.model is not None else \
            TrainedMalteseStage(self.train or self.input, self.labels, *args)
        yield Step("maltese", call(read_maltese, self.input, self.format, self.batch_size), [stage],
                   ["transliterated"], mode="merge", dedupe={"transliterated": "id"})


class TrainedMalteseStage(MalteseStage):
    """:class:`MalteseStage` whose etymology model is trained when the step runs, once, in
    the driver (:meth:`prepare`), then loaded by every worker."""

    name = "maltese"

    def __init__(self, train: Path, labels: str, *args):
        super().__init__(None, *args)  # type: ignore[arg-type]
        self.train, self.labels = train, labels

    def prepare(self, workdir: str) -> None:
        self.model = train_model(read_annotations(self.train), Path(workdir), self.labels)


def policy_actions(preset: str) -> set[str]:
    return {policy(preset, origin, frozenset({"Arabic"})) for origin in ("Arabic", "Other")}
