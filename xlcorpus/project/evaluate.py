"""Exact-match span evaluation (seqeval / conlleval semantics) with an error report.

A predicted span counts only if a gold span of the same sentence has the same start, end and
label. Micro precision, recall and F1 are over all spans; per-label figures over the spans of
each label (a label absent from both sides is not reported). Errors, by kind:

- ``label``: a predicted span with the exact bounds of a gold span but another label;
- ``boundary``: a predicted span that overlaps a gold span without matching its bounds;
- ``spurious``: a predicted span that overlaps no gold span;
- ``missed``: a gold span that no predicted span overlaps.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from .spans import Span


def _prf(tp: int, n_pred: int, n_gold: int) -> dict[str, float | int]:
    p = tp / n_pred if n_pred else 0.0
    r = tp / n_gold if n_gold else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"precision": p, "recall": r, "f1": f, "support": n_gold, "predicted": n_pred, "correct": tp}


@dataclass
class SpanReport:
    """Micro and per-label scores, error counts and a few examples of each error kind."""

    precision: float
    recall: float
    f1: float
    per_label: dict[str, dict[str, float | int]]
    errors: dict[str, int]
    examples: dict[str, list[dict]] = field(default_factory=dict)
    sentences: int = 0

    def as_dict(self, examples: bool = False) -> dict:
        out = {"f1": self.f1, "precision": self.precision, "recall": self.recall,
               "sentences": self.sentences, "per_label": self.per_label, "errors": self.errors}
        if examples:
            out["examples"] = self.examples
        return out


def _overlaps(a: Span, b: Span) -> bool:
    return a.start < b.end and b.start < a.end


def evaluate_spans(gold: Sequence[Sequence[Span]], pred: Sequence[Sequence[Span]],
                   max_examples: int = 20, tokens: Sequence[Sequence[str]] | None = None) -> SpanReport:
    """Compare per-sentence span lists; ``tokens`` (optional) adds surfaces to the examples."""
    if len(gold) != len(pred):
        raise ValueError(f"gold has {len(gold)} sentences but predictions have {len(pred)}")
    tp, n_gold, n_pred = Counter(), Counter(), Counter()
    errors = Counter({"boundary": 0, "label": 0, "spurious": 0, "missed": 0})
    examples: dict[str, list[dict]] = {k: [] for k in errors}

    def note(kind: str, k: int, span: Span, other: Span | None) -> None:
        errors[kind] += 1
        if len(examples[kind]) < max_examples:
            ex = {"sentence": k, "span": span.as_dict(), "gold" if kind != "missed" else "pred": None}
            if other is not None:
                ex["gold" if kind != "missed" else "pred"] = other.as_dict()
            if tokens is not None:
                ex["text"] = " ".join(tokens[k][span.start:span.end])
                if other is not None:
                    ex["other_text"] = " ".join(tokens[k][other.start:other.end])
            examples[kind].append(ex)

    for k, (g, p) in enumerate(zip(gold, pred)):
        gs, ps = set(g), set(p)
        for s in gs:
            n_gold[s.label] += 1
        for s in ps:
            n_pred[s.label] += 1
        for s in gs & ps:
            tp[s.label] += 1
        for s in sorted(ps - gs):
            same = next((x for x in gs if (x.start, x.end) == (s.start, s.end)), None)
            over = same or next((x for x in sorted(gs) if _overlaps(x, s)), None)
            note("label" if same else "boundary" if over else "spurious", k, s, over)
        for s in sorted(gs - ps):
            if not any(_overlaps(s, x) for x in ps):
                note("missed", k, s, None)
    labels = sorted(set(n_gold) | set(n_pred))
    micro = _prf(sum(tp.values()), sum(n_pred.values()), sum(n_gold.values()))
    per = {lab: _prf(tp[lab], n_pred[lab], n_gold[lab]) for lab in labels}
    return SpanReport(micro["precision"], micro["recall"], micro["f1"], per, dict(errors),
                      examples, len(gold))
