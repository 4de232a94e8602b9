"""Fit a scoring model on gold projections, and measure how well scores are calibrated.

Training data: for one direction (source sentences with gold spans, target sentences with
gold spans, same labels), every candidate of every source span is one row of
:data:`~xlcorpus.project.scorers.FEATURES`, labelled 1 when it is the gold target span of that
source span. A source span is matched to the gold target spans of its label among its
candidates, one to one, highest ``core`` first (a sentence may hold several spans of one
label). Two models (``pip install 'xlcorpus[fit]'`` for scikit-learn and SciPy):

- ``logistic``: a logistic regression over single candidates (scikit-learn): the score is
  ``P(this candidate is the gold span)`` seen alone;
- ``softmax``: a conditional logit over the candidates of one source span plus "no
  projection" (weight 0): ``P(c) = exp(z_c) / (1 + sum_c' exp(z_c'))`` with
  ``z = bias + w . x``, fitted by L-BFGS (SciPy) on the L2-penalised log-likelihood. The
  score of a candidate accounts for its competitors, so it estimates the probability that
  the projected span is right.

:func:`fit_model` picks the regularisation by grouped cross-validation (5 folds that never
split a sentence; out-of-fold log-loss), fits on all rows and picks ``min_score`` as the
threshold of best out-of-fold F1.
"""

from __future__ import annotations

from collections.abc import Sequence

from .evaluate import evaluate_spans
from .scorers import FEATURES, ScoringModel
from .select import select_spans
from .spans import Sentence, Span

Features = Sequence[Sequence[tuple[Sequence[tuple[int, int]], Sequence[Sequence[float]]]]]
THRESHOLDS = tuple(round(0.05 * k, 2) for k in range(1, 19))


def gold_labels(src: Sequence[Sentence], gold: Sequence[Sentence], feats: Features) -> list[list[list[int]]]:
    """Per pair, per source span, per candidate: 1 for the candidate matched to a gold span."""
    core = FEATURES.index("core")
    out = []
    for s, g, pair in zip(src, gold, feats):
        gold_spans = {(sp.start, sp.end, sp.label) for sp in g.spans}
        hits = sorted(((rows[r][core], k, r) for k, (cands, rows) in enumerate(pair)
                       for r, (a, b) in enumerate(cands) if (a, b, s.spans[k].label) in gold_spans), reverse=True)
        labels = [[0] * len(cands) for cands, _ in pair]
        used_spans, used_ranges = set(), set()
        for _, k, r in hits:
            rng = pair[k][0][r]
            if k not in used_spans and rng not in used_ranges:
                labels[k][r] = 1
                used_spans.add(k)
                used_ranges.add(rng)
        out.append(labels)
    return out


def training_rows(feats: Features, labels: Sequence[Sequence[Sequence[int]]]
                  ) -> tuple[list[list[float]], list[int], list[int], list[int]]:
    """Feature rows, labels, pair index and source-span index (running) of every candidate."""
    x, y, groups, spans = [], [], [], []
    n_spans = 0
    for i, (pair, lab) in enumerate(zip(feats, labels)):
        for (_, rows), ls in zip(pair, lab):
            x.extend(list(r) for r in rows)
            y.extend(ls)
            groups.extend([i] * len(ls))
            spans.extend([n_spans] * len(ls))
            n_spans += 1
    return x, y, groups, spans


def select_all(src: Sequence[Sentence], feats: Features, scores: Sequence[float], threshold: float,
               top_k: int = 10) -> list[list[Span]]:
    """Projected spans of every pair given flat per-candidate ``scores`` (in row order)."""
    it = iter(scores)
    out = []
    for s, pair in zip(src, feats):
        options = [sorted(zip(cands, [next(it) for _ in cands]), key=lambda x: -x[1])[:top_k] for cands, _ in pair]
        out.append([Span(p.start, p.end, p.label) for p in
                    select_spans([sp.label for sp in s.spans], options, threshold)])
    return out


def _softmax_fit(x, y, span_ids, l2: float):
    """Weights and bias of the conditional logit (candidates of one span, plus null)."""
    import numpy as np
    from scipy.optimize import minimize

    n_spans = int(span_ids.max()) + 1
    xb = np.hstack([x, np.ones((len(x), 1))])

    def loss(theta):
        z = np.clip(xb @ theta, -30, 30)
        e = np.exp(z)
        total = np.bincount(span_ids, weights=e, minlength=n_spans)
        p = e / (1.0 + total[span_ids])
        value = -(z * y).sum() + np.log1p(total).sum() + 0.5 * l2 * (theta[:-1] ** 2).sum()
        grad = -xb.T @ (y - p)
        grad[:-1] += l2 * theta[:-1]
        return value, grad

    return minimize(loss, np.zeros(xb.shape[1]), jac=True, method="L-BFGS-B").x


def _softmax_predict(x, span_ids, theta):
    import numpy as np

    e = np.exp(np.clip(x @ theta[:-1] + theta[-1], -30, 30))
    return e / (1.0 + np.bincount(span_ids, weights=e, minlength=int(span_ids.max()) + 1)[span_ids])


def fit_model(name: str, kind: str, src: Sequence[Sentence], gold: Sequence[Sentence], feats: Features,
              folds: int = 5, strengths: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0), meta: dict | None = None
              ) -> tuple[ScoringModel, dict]:
    """A ``logistic`` or ``softmax`` :class:`ScoringModel` fitted on one direction, and its
    cross-validation report (``strengths``: inverse L2 penalties tried)."""
    try:
        import numpy as np
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold
    except ImportError as e:  # pragma: no cover - depends on the install
        raise ImportError("fitting a scoring model needs scikit-learn: pip install 'xlcorpus[fit]'") from e
    if kind not in ("logistic", "softmax"):
        raise ValueError(f"unknown model kind {kind!r} (logistic or softmax)")
    rows, labels, groups, spans = training_rows(feats, gold_labels(src, gold, feats))
    x, y, groups, spans = np.asarray(rows), np.asarray(labels, dtype=float), np.asarray(groups), np.asarray(spans)

    def fit(idx, c):
        if kind == "logistic":
            clf = LogisticRegression(C=c, max_iter=2000).fit(x[idx], y[idx])
            return np.append(clf.coef_[0], clf.intercept_[0])
        _, local = np.unique(spans[idx], return_inverse=True)
        return _softmax_fit(x[idx], y[idx], local, 1.0 / c)

    def predict(idx, theta):
        if kind == "logistic":
            return 1.0 / (1.0 + np.exp(-np.clip(x[idx] @ theta[:-1] + theta[-1], -30, 30)))
        _, local = np.unique(spans[idx], return_inverse=True)
        return _softmax_predict(x[idx], local, theta)

    splits = list(GroupKFold(n_splits=folds).split(x, y, groups))
    report: dict = {"kind": kind, "rows": int(len(y)), "positives": int(y.sum()), "folds": folds, "log_loss": {}}
    best = None
    for c in strengths:
        oof = np.zeros(len(y))
        for tr, te in splits:
            oof[te] = predict(te, fit(tr, c))
        p = np.clip(oof, 1e-9, 1 - 1e-9)
        loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        report["log_loss"][str(c)] = round(loss, 5)
        if best is None or loss < best[0]:
            best = (loss, c, oof)
    _, c, oof = best
    f1_by_threshold = {t: evaluate_spans([g.spans for g in gold], select_all(src, feats, oof, t)).f1
                       for t in THRESHOLDS}
    threshold = max(f1_by_threshold, key=lambda t: (f1_by_threshold[t], -t))
    report |= {"strength": c, "cv_f1_by_min_score": {str(t): round(100 * f, 2) for t, f in f1_by_threshold.items()},
               "min_score": threshold}
    theta = fit(np.arange(len(y)), c)
    model = ScoringModel(name, {f: round(float(w), 6) for f, w in zip(FEATURES, theta[:-1])},
                         round(float(theta[-1]), 6), kind, threshold,
                         (meta or {}) | {"strength": c, "folds": folds, "rows": int(len(y)), "positives": int(y.sum())})
    return model, report


def reliability(scores: Sequence[float], correct: Sequence[bool], bins: int = 10) -> tuple[float, list[dict]]:
    """Expected calibration error (bin-size weighted |accuracy - mean score|, equal-width bins
    over [0, 1]) and the reliability table."""
    table = []
    n = len(scores)
    ece = 0.0
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        idx = [k for k, s in enumerate(scores) if lo <= s < hi or (b == bins - 1 and s == 1.0)]
        if not idx:
            continue
        conf = sum(scores[k] for k in idx) / len(idx)
        acc = sum(bool(correct[k]) for k in idx) / len(idx)
        ece += len(idx) / n * abs(acc - conf)
        table.append({"bin": f"{lo:.1f}-{hi:.1f}", "spans": len(idx), "mean_score": round(conf, 3),
                      "precision": round(acc, 3)})
    return ece, table
