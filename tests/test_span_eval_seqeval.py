"""``xlcorpus eval spans`` against seqeval (strict IOB2) on the shared Europarl NER files.

Predictions are the gold spans with seeded, realistic errors (relabelled, shifted, cut,
dropped and spurious spans); scores must be seqeval's, label by label. Our evaluator adds
what seqeval lacks: the error kinds (label, boundary, spurious, missed) and their examples.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from xlcorpus.cli import entry
from xlcorpus.project.spans import Sentence, Span, read_conll, spans_to_tags, write_conll

seqeval_metrics = pytest.importorskip("seqeval.metrics")
seqeval_scheme = pytest.importorskip("seqeval.scheme")

EUROPARL = Path(__file__).resolve().parents[2] / "shared" / "data" / "europarl-ner"
LABELS = ("PER", "LOC", "ORG", "MISC")


def perturb(sentences: list[Sentence], seed: int) -> list[Sentence]:
    """Gold spans with errors: keep, relabel, shift or cut a boundary, drop; add spurious spans."""
    rnd = random.Random(seed)
    out = []
    for s in sentences:
        n, spans = len(s.tokens), []
        for sp in s.spans:
            r = rnd.random()
            if r < 0.6:
                spans.append(sp)
            elif r < 0.7:
                spans.append(Span(sp.start, sp.end, rnd.choice([x for x in LABELS if x != sp.label])))
            elif r < 0.8:
                spans.append(Span(sp.start, min(n, sp.end + 1), sp.label))
            elif r < 0.9 and sp.end - sp.start > 1:
                spans.append(Span(sp.start + 1, sp.end, sp.label))
        if rnd.random() < 0.15 and n:
            i = rnd.randrange(n)
            spans.append(Span(i, i + 1, rnd.choice(LABELS)))
        kept, end = [], -1  # non-overlapping, in order
        for sp in sorted(spans):
            if sp.start >= end:
                kept.append(sp)
                end = sp.end
        out.append(Sentence(list(s.tokens), kept, s.line, s.source))
    return out


@pytest.mark.skipif(not EUROPARL.is_dir(), reason="../shared/data is absent")
@pytest.mark.parametrize("lang,seed", [("en", 0), ("es", 1)])
def test_eval_spans_agrees_with_seqeval_strict_iob2(tmp_path, capsys, lang, seed):
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    gold_path = EUROPARL / f"{lang}-europarl.test.conll02"
    gold = read_conll(gold_path)
    pred = perturb(gold, seed)
    pred_path = tmp_path / "pred.conll"
    write_conll(pred_path, pred)
    assert entry(["eval", "spans", "--gold", str(gold_path), "--pred", str(pred_path)]) == 0
    ours = json.loads(capsys.readouterr().out)

    y_true, y_pred = _tags(gold_path), _tags(pred_path)
    assert y_true == [spans_to_tags(s.spans, len(s.tokens)) for s in gold]  # the gold is valid IOB2
    kw = {"mode": "strict", "scheme": seqeval_scheme.IOB2}
    assert ours["precision"] == pytest.approx(precision_score(y_true, y_pred, **kw), abs=1e-12)
    assert ours["recall"] == pytest.approx(recall_score(y_true, y_pred, **kw), abs=1e-12)
    assert ours["f1"] == pytest.approx(f1_score(y_true, y_pred, **kw), abs=1e-12)
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0, **kw)
    for label in LABELS:
        assert ours["per_label"][label]["support"] == report[label]["support"]
        for k in ("precision", "recall", "f1"):
            key = "f1-score" if k == "f1" else k
            assert ours["per_label"][label][k] == pytest.approx(report[label][key], abs=1e-12), (label, k)
    # what seqeval does not give: every wrong span classified
    assert 0.4 < ours["f1"] < 0.9
    errors = ours["errors"]
    assert all(errors[kind] > 0 for kind in ("label", "boundary", "spurious", "missed"))
    wrong = sum(v["predicted"] - v["correct"] for v in ours["per_label"].values())
    assert errors["label"] + errors["boundary"] + errors["spurious"] == wrong


def _tags(path: Path) -> list[list[str]]:
    """Tag column per sentence, read directly (tab-separated, blank line between sentences)."""
    out, cur = [], []
    for line in path.read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            if cur:
                out.append(cur)
                cur = []
            continue
        cur.append(line.split("\t")[-1])
    if cur:
        out.append(cur)
    return out
