"""The parameters of label projection, declared once (a light module: the CLI reads it at
start-up). ``xlcorpus project`` makes its options of these fields, the ``tprojection`` and
``translate-train`` kinds inherit them, :func:`~xlcorpus.project.project.project_corpus` reads
:class:`ProjectionOptions`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from ..params import Exists, Help, InputPath, LangCode, NonNegative, PositiveInt

DEFAULT_MODEL = "softmax-en-es"
Method = Literal["features", "nmt", "minmax"]


@dataclass(kw_only=True)
class ProjectionInputs:
    """What to project: the spans of ``source`` onto the tokens of ``target``."""

    source: Annotated[InputPath, Help("source CoNLL file with tags (IOB1/IOB2/BIOES)")]
    target: Annotated[InputPath, Help("target CoNLL or token file (tags, if any, are ignored); "
                                      "sentence i translates source sentence i")]
    src_lang: LangCode = "en"
    tgt_lang: LangCode = "es"


@dataclass(kw_only=True)
class ProjectionSettings:
    """How to project (the choices a user makes; defaults are the documented CPU configuration)."""

    method: Annotated[Method, Help("features: CPU scorer, no model; nmt: translation-probability scorer "
                                   "(nmt_model); minmax: alignment baseline")] = "features"
    runs: Annotated[PositiveInt, Help("eflomal runs (link votes)")] = 3
    seed: Annotated[int, Help("eflomal seed (same seed: same output)")] = 0
    similarity_priors: Annotated[bool, Help("eflomal priors for identical and cognate tokens (names, "
                                            "numbers)")] = True
    min_score: Annotated[NonNegative | None, Help(
        "least score of a projected span; features: a calibrated probability that the span is right "
        "(default: the scoring model's, chosen by cross-validation)")] = None
    # or a ScoringModel object (from Python)
    scoring: Annotated[str, Help("features: scoring model, a name in xlcorpus/project/models or a JSON "
                                 "file")] = DEFAULT_MODEL
    nmt_model: Annotated[str | None, Exists(folder=True), Help("local seq2seq translation model")] = None
    generator_model: Annotated[str | None, Exists(folder=True),
                               Help("local mT5-style candidate generator (T-Projection format)")] = None


@dataclass(kw_only=True)
class ProjectionOptions(ProjectionSettings):
    """Settings of :func:`~xlcorpus.project.project.project_corpus`: the user's choices plus
    the run's resources and tuning constants."""

    device: Annotated[str | None, Help("torch device for the models (default: cuda if available)")] = None
    workers: Annotated[PositiveInt, Help("parallel eflomal runs")] = 1
    symmetrize: str = "grow-diag-final-and"   # link set of ``minmax``
    max_extra: int = 4             # candidate n-grams up to len(source span) + max_extra tokens
    max_len: int = 12              # and never longer than this
    top_k: int = 10                # candidates per source span kept for selection
    frequent_words: int = 30       # the N most linked words of each side count as stop words too
    batch_size: int = 64
    extra_options: dict = field(default_factory=dict)
