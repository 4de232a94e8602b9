"""Language identification filter: ``py3langid`` (langid.py's model, shipped in the package).

Chosen by ``benchmarks/langid_choice.py`` on every NTREX-128 and Tatoeba side (see the
README): the most accurate of the candidates that ship their model and also among the
fastest. Scores are the identifier's normalised probability of the *expected* language of
each side (``language_id_src``, ``language_id_tgt``) and its best guess
(``language_id_src_top``, ``language_id_tgt_top``); a side whose expected language the
model does not know scores null and is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from ..params import Help, Ratio
from .base import Filter, reason_where


def model_code(code: str) -> str:
    """A language code as the identifier spells it (``zh-hans`` -> ``zh``, ``eng`` -> ``en``)."""
    import langcodes

    base = code.split("-")[0].split("_")[0].lower()
    try:
        return langcodes.standardize_tag(base).split("-")[0] if len(base) == 3 else base
    except (ValueError, langcodes.LanguageTagError):
        return base


_IDENT: dict[str, Any] = {}


def identifier() -> Any:
    """The process-wide identifier (normalised probabilities), loaded once."""
    if "ident" not in _IDENT:
        from py3langid.langid import MODEL_FILE, LanguageIdentifier

        _IDENT["ident"] = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    return _IDENT["ident"]


@dataclass
class LanguageId(Filter):
    """Probability that each side is in its expected language >= min_score."""

    name: ClassVar[str] = "language_id"
    expect: Annotated[list[str], Help("expected language of src and tgt: a column name or a language code each")] = \
        field(default_factory=lambda: ["src_lang", "tgt_lang"])
    min_score: Annotated[Ratio, Help("smallest probability of the expected language")] = 0.5

    def __post_init__(self) -> None:
        from ..errors import PipelineError

        if len(self.expect) != 2:
            raise PipelineError(f"language_id: 'expect' needs two entries (src, tgt), found {self.expect!r}")
        import importlib.util

        if importlib.util.find_spec("py3langid") is None:
            raise PipelineError("the language_id filter needs py3langid: pip install 'xlcorpus[filters]'")

    def columns(self):
        k = self.key
        return {f"{k}_src": pa.float64(), f"{k}_tgt": pa.float64(), f"{k}_src_top": pa.string(),
                f"{k}_tgt_top": pa.string()}

    def setup(self):
        self._ident = identifier()
        self._known = set(self._ident.nb_classes)

    def _expected(self, batch: pa.RecordBatch, i: int) -> list[str | None]:
        want = self.expect[i]
        codes = batch.column(want).to_pylist() if want in batch.schema.names else [want] * batch.num_rows
        cache: dict[str, str | None] = {}
        out = []
        for c in codes:
            if c not in cache:
                m = model_code(c) if c else None
                cache[c] = m if m in self._known else None
            out.append(cache[c])
        return out

    def score(self, batch):
        if not hasattr(self, "_ident"):
            self.setup()
        out = {}
        for i, side in enumerate(("src", "tgt")):
            probs, tops = [], []
            for text, lang in zip(batch.column(side).to_pylist(), self._expected(batch, i)):
                ranked = self._ident.rank(text)
                tops.append(ranked[0][0])
                probs.append(dict(ranked).get(lang) if lang else None)
            out[f"{self.key}_{side}"] = pa.array(probs, pa.float64())
            out[f"{self.key}_{side}_top"] = pa.array(tops, pa.string())
        return out

    def accept(self, scores):
        return pc.coalesce(reason_where(pc.less(scores[f"{self.key}_src"], self.min_score), "src"),
                           reason_where(pc.less(scores[f"{self.key}_tgt"], self.min_score), "tgt"))
