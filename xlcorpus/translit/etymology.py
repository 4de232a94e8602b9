"""Token-level etymology (origin) classifier for Maltese: a linear-chain CRF.

Annotations are a TSV of tokens in sentence order, as in the MLRS etymology data
(Micallef et al., EACL 2024)::

    id<TAB>token<TAB>category<TAB>category_merged
    0<TAB>Illum<TAB>Arabic<TAB>Arabic

A header naming ``id`` and ``token`` is optional (without one the columns are id, token,
fine label, merged label; label columns may be absent for text to tag). Lines are split on
tabs only: the file has raw ``"`` tokens, so no quoting CSV reader. Consecutive rows with
the same ``id`` form a sentence.

Features per token: the lower-cased form, prefixes and suffixes (1-4), character 3-grams,
shape (capitalised, all caps, digits, punctuation, clitic hyphen, apostrophe), Maltese
letters (ħ, ġ, ċ, ż, għ, ie), and the same word-level features of the neighbours (+-1, +-2).
Training uses CRFsuite (``python-crfsuite``, L-BFGS with L1+L2); the model is CRFsuite's
own binary file plus a JSON sidecar, never a pickle, so loading an untrusted model cannot
run code; the sidecar holds the model file's SHA-256, checked before CRFsuite's native loader
sees the file (a cut or altered model is a clear error, not a crash).
"""

from __future__ import annotations

import hashlib
import json
import random
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Iterable

from .. import progress
from ..errors import InputError
from ..sources.inputs import text_lines

MODEL_FILE = "model.crfsuite"
META_FILE = "meta.json"
FORMAT = "xlcorpus-etymology-crf/1"
LABEL_COLUMNS = {"fine": "category", "merged": "category_merged"}
DEFAULT_PARAMS = {"c1": 0.05, "c2": 0.05, "max_iterations": 150, "feature.possible_transitions": True}
MALTESE_LETTERS = ("ħ", "ġ", "ċ", "ż", "għ", "ie")


@dataclass
class Sentence:
    """One annotated sentence: its id, tokens and label columns (name -> labels)."""

    sid: str
    tokens: list[str] = field(default_factory=list)
    labels: dict[str, list[str]] = field(default_factory=dict)
    line: int = 0  # 1-based line of its first token

    def text_and_spans(self) -> tuple[str, list[tuple[int, int]]]:
        """The tokens joined by single spaces, and each token's span in that text."""
        spans, pos = [], 0
        for t in self.tokens:
            spans.append((pos, pos + len(t)))
            pos += len(t) + 1
        return " ".join(self.tokens), spans


def read_annotations(path: str | Path) -> list[Sentence]:
    """Sentences from an annotations TSV (see the module docstring)."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: no such annotations file")
    sentences: list[Sentence] = []
    columns = ["id", "token", "category", "category_merged"]
    for n, line in text_lines(p):
        if not line.strip():
            continue
        parts = line.split("\t")
        if n == 1 and parts[:2] == ["id", "token"]:
            columns = parts
            continue
        if len(parts) < 2 or len(parts) > len(columns):
            raise InputError(f"{p}:{n}: expected {len(columns)} tab-separated columns "
                             f"({', '.join(columns)}), found {len(parts)}: {line[:80]!r}")
        sid, token = parts[0], parts[1]
        if not token:
            raise InputError(f"{p}:{n}: empty token")
        if not sentences or sentences[-1].sid != sid:
            sentences.append(Sentence(sid, line=n))
        s = sentences[-1]
        s.tokens.append(token)
        for name, value in zip(columns[2:], parts[2:]):
            s.labels.setdefault(name, []).append(value)
    for s in sentences:
        for name, values in s.labels.items():
            if len(values) != len(s.tokens):
                raise InputError(f"{p}: sentence {s.sid!r} (line {s.line}): column {name!r} is "
                                 f"missing on some rows")
    return sentences


def label_column(sentences: list[Sentence], labels: str) -> str:
    """The column for ``labels`` (``fine``, ``merged`` or a column name), checked."""
    col = LABEL_COLUMNS.get(labels, labels)
    if not sentences or any(col not in s.labels for s in sentences):
        raise InputError(f"annotations have no label column {col!r}")
    return col


# ----------------------------------------------------------------- features
def _word(tok: str) -> list[str]:
    low = tok.lower()
    f = [f"w={low}", f"suf3={low[-3:]}", f"pre3={low[:3]}"]
    if tok[:1].isupper():
        f.append("title")
    if any(ch.isdigit() for ch in tok):
        f.append("digit")
    if not any(ch.isalnum() for ch in tok):
        f.append("punct")
    if low.endswith("-"):
        f.append("clitic")
    return f


def token_features(tokens: list[str], i: int) -> list[str]:
    """CRFsuite attributes of token ``i`` (strings ``name=value``)."""
    tok = tokens[i]
    low = tok.lower()
    f = ["bias", *_word(tok), f"len={min(len(tok), 10)}"]
    f += [f"pre{k}={low[:k]}" for k in (1, 2, 4) if len(low) >= k]
    f += [f"suf{k}={low[-k:]}" for k in (1, 2, 4) if len(low) >= k]
    padded = f"<{low}>"
    f += [f"c3={padded[j:j + 3]}" for j in range(len(padded) - 2)]
    f += [f"mt={ch}" for ch in MALTESE_LETTERS if ch in low]
    if tok.isupper() and len(tok) > 1:
        f.append("upper")
    if "'" in tok:
        f.append("apostrophe")
    for off in (-2, -1, 1, 2):
        j = i + off
        if 0 <= j < len(tokens):
            f += [f"{off}:{x}" for x in _word(tokens[j])]
        else:
            f.append(f"{off}:{'BOS' if j < 0 else 'EOS'}")
    return f


def sentence_features(tokens: list[str]) -> list[list[str]]:
    return [token_features(tokens, i) for i in range(len(tokens))]


# -------------------------------------------------------------------- model
def train(sentences: list[Sentence], out_dir: str | Path, labels: str = "fine",
          params: dict | None = None) -> Path:
    """Train a CRF on ``sentences`` (label column ``labels``); write it to ``out_dir``."""
    import pycrfsuite

    col = label_column(sentences, labels)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    settings = {**DEFAULT_PARAMS, **(params or {})}
    with progress.task(f"training the etymology CRF on {len(sentences):,} sentences",
                       settings.get("max_iterations")) as advance:

        class Trainer(pycrfsuite.Trainer):
            def message(self, text: str) -> None:  # crfsuite's log: one "Iteration #N" line per pass
                if text.startswith("***** Iteration #"):
                    advance()

        trainer = Trainer(verbose=False)
        for s in sentences:
            trainer.append(sentence_features(s.tokens), s.labels[col])
        trainer.set_params(settings)
        trainer.train(str(out / MODEL_FILE))
    counts = Counter(label for s in sentences for label in s.labels[col])
    meta = {"format": FORMAT, "label_column": col, "labels": sorted(counts),
            "label_counts": dict(counts.most_common()), "sentences": len(sentences),
            "tokens": sum(counts.values()), "params": {**DEFAULT_PARAMS, **(params or {})},
            "python-crfsuite": metadata.version("python-crfsuite"), "sha256": _sha256(out / MODEL_FILE)}
    (out / META_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class EtymologyTagger:
    """A trained model: :meth:`tag` gives ``(label, confidence)`` per token, the
    confidence being the CRF marginal probability of the predicted label."""

    def __init__(self, model_dir: str | Path):
        import pycrfsuite

        d = Path(model_dir)
        meta_path, model_path = d / META_FILE, d / MODEL_FILE
        if not meta_path.is_file() or not model_path.is_file():
            raise InputError(f"{d}: not an etymology model (needs {MODEL_FILE} and {META_FILE}; "
                             "train one with `xlcorpus etymology train`)")
        try:
            self.meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{meta_path}: not a model description (invalid JSON: {exc})") from None
        if not isinstance(self.meta, dict) or self.meta.get("format") != FORMAT:
            found = self.meta.get("format") if isinstance(self.meta, dict) else self.meta
            raise InputError(f"{meta_path}: unknown model format {found!r} (expected {FORMAT})")
        if self.meta.get("sha256") != _sha256(model_path):
            raise InputError(f"{model_path}: damaged or altered model (its SHA-256 does not match {META_FILE}; "
                             "train it again with `xlcorpus etymology train`)")
        self._tagger = pycrfsuite.Tagger()
        self._tagger.open(str(model_path))

    @property
    def labels(self) -> list[str]:
        return list(self.meta["labels"])

    def tag(self, tokens: list[str]) -> list[tuple[str, float]]:
        if not tokens:
            return []
        self._tagger.set(sentence_features(tokens))
        labels = self._tagger.tag()
        return [(y, float(self._tagger.marginal(y, i))) for i, y in enumerate(labels)]


# --------------------------------------------------------------- evaluation
def scores(gold: list[str], pred: list[str]) -> dict:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support."""
    labels = sorted(set(gold) | set(pred))
    per = {}
    for y in labels:
        tp = sum(1 for g, p in zip(gold, pred) if g == y and p == y)
        n_pred, n_gold = pred.count(y), gold.count(y)
        prec = tp / n_pred if n_pred else 0.0
        rec = tp / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        per[y] = {"precision": round(prec, 4), "recall": round(rec, 4), "f1": round(f1, 4), "support": n_gold}
    gold_labels = [y for y in labels if per[y]["support"]]
    acc = sum(g == p for g, p in zip(gold, pred)) / len(gold) if gold else 0.0
    macro = sum(per[y]["f1"] for y in gold_labels) / len(gold_labels) if gold_labels else 0.0
    return {"accuracy": round(acc, 4), "macro_f1": round(macro, 4), "tokens": len(gold), "per_class": per}


def evaluate(tagger: EtymologyTagger, sentences: list[Sentence]) -> dict:
    """Scores of ``tagger`` on annotated ``sentences`` (its own label column)."""
    col = label_column(sentences, tagger.meta["label_column"])
    gold = [y for s in sentences for y in s.labels[col]]
    pred = [y for s in sentences for y, _ in tagger.tag(s.tokens)]
    return {"label_column": col, **scores(gold, pred)}


class LookupBaseline:
    """Memorise each training token's most frequent label (exact form, then lower-cased);
    unseen tokens get the majority label."""

    def __init__(self, tokens: Iterable[str], labels: Iterable[str]):
        exact: dict[str, Counter] = defaultdict(Counter)
        lower: dict[str, Counter] = defaultdict(Counter)
        overall: Counter = Counter()
        for t, y in zip(tokens, labels):
            exact[t][y] += 1
            lower[t.lower()][y] += 1
            overall[y] += 1
        self.majority = overall.most_common(1)[0][0]
        self.exact = {t: c.most_common(1)[0][0] for t, c in exact.items()}
        self.lower = {t: c.most_common(1)[0][0] for t, c in lower.items()}

    def predict(self, token: str) -> str:
        return self.exact.get(token) or self.lower.get(token.lower()) or self.majority


def folds(sentences: list[Sentence], k: int = 10, seed: int = 0) -> list[list[int]]:
    """``k`` folds of sentence indices, grouped by sentence id, shuffled with ``seed``."""
    ids = sorted({s.sid for s in sentences}, key=lambda x: (len(x), x))
    random.Random(seed).shuffle(ids)
    fold_of = {sid: i % k for i, sid in enumerate(ids)}
    out: list[list[int]] = [[] for _ in range(k)]
    for i, s in enumerate(sentences):
        out[fold_of[s.sid]].append(i)
    return out


def cross_validate(sentences: list[Sentence], labels: str = "fine", k: int = 10, seed: int = 0,
                   params: dict | None = None) -> dict:
    """k-fold CV grouped by sentence: the CRF against majority-class and lookup baselines,
    all on the same folds; scores over the pooled held-out predictions, plus per-fold
    accuracy."""
    col = label_column(sentences, labels)
    gold: list[str] = []
    preds: dict[str, list[str]] = {"crf": [], "majority": [], "lookup": []}
    fold_acc: dict[str, list[float]] = {m: [] for m in preds}
    for test_idx in folds(sentences, k, seed):
        test = set(test_idx)
        train_s = [s for i, s in enumerate(sentences) if i not in test]
        test_s = [sentences[i] for i in test_idx]
        lookup = LookupBaseline((t for s in train_s for t in s.tokens), (y for s in train_s for y in s.labels[col]))
        with tempfile.TemporaryDirectory() as tmp:
            tagger = EtymologyTagger(train(train_s, tmp, col, params))
            fold_gold = [y for s in test_s for y in s.labels[col]]
            fold_pred = {"crf": [y for s in test_s for y, _ in tagger.tag(s.tokens)],
                         "majority": [lookup.majority] * len(fold_gold),
                         "lookup": [lookup.predict(t) for s in test_s for t in s.tokens]}
        gold += fold_gold
        for m, p in fold_pred.items():
            preds[m] += p
            fold_acc[m].append(sum(g == x for g, x in zip(fold_gold, p)) / max(len(fold_gold), 1))
    out = {"label_column": col, "folds": k, "seed": seed, "sentences": len(sentences), "tokens": len(gold)}
    for m, p in preds.items():
        accs = fold_acc[m]
        mean = sum(accs) / len(accs)
        std = (sum((a - mean) ** 2 for a in accs) / len(accs)) ** 0.5
        out[m] = {**scores(gold, p), "fold_accuracy_mean": round(mean, 4), "fold_accuracy_std": round(std, 4)}
    return out
