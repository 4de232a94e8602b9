"""The projector: align a corpus, generate candidates, score them, select target spans.

Methods:

- ``features`` (default, CPU, no model of text): candidates from alignments and pruned
  n-grams, scored by :class:`~xlcorpus.project.scorers.FeatureScorer` with the scoring model
  named by ``scoring`` (default: ``softmax-en-es``, whose scores are calibrated probabilities);
- ``nmt``: the same candidates (plus the seq2seq generator's, if given) scored by
  :class:`~xlcorpus.project.scorers.NMTScorer` (T-Projection), needs ``nmt_model``;
- ``minmax``: the classic baseline, the min-max range of the target tokens linked to the
  source span by the ``symmetrize`` alignment.

The alignment is eflomal (``xlcorpus.align.statistical.align_pairs``, with similarity priors
for identical and cognate tokens) trained on the pairs to project plus any extra bitext (more
bitext gives better lexical translation probabilities).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .candidates import Seq2SeqCandidateGenerator, alignment_candidates, ngram_candidates, stopwords, trim
from ..align.lexical import LexicalTable
from .options import ProjectionOptions
from .scorers import FeatureScorer, NMTScorer, PairContext, ScoringModel
from .select import Projected, select_spans
from .spans import Sentence

log = logging.getLogger(__name__)


@dataclass
class Alignment:
    """Per-pair link weights of the corpus to project, and the lexical table."""

    weights: list[dict[tuple[int, int], float]]
    links: list[list[tuple[int, int]]]
    table: LexicalTable
    forward: list[list[tuple[int, int]]] = field(default_factory=list)
    reverse: list[list[tuple[int, int]]] = field(default_factory=list)

    def transposed(self) -> "Alignment":
        """The same alignment seen from the target side (links (t, s), forward and reverse swapped)."""
        def swap(links: Sequence[Sequence[tuple[int, int]]]) -> list[list[tuple[int, int]]]:
            return [[(t, s) for s, t in ls] for ls in links]

        return Alignment([{(t, s): w for (s, t), w in ws.items()} for ws in self.weights], swap(self.links),
                         self.table.transposed(), swap(self.reverse), swap(self.forward))


def align_corpus(src: Sequence[Sequence[str]], tgt: Sequence[Sequence[str]],
                 extra_src: Sequence[Sequence[str]] = (), extra_tgt: Sequence[Sequence[str]] = (),
                 opts: ProjectionOptions | None = None) -> Alignment:
    """eflomal both directions over ``src/tgt`` plus the extra bitext; link weights are the
    share of runs x directions proposing each link; the lexical table counts the forward and
    reverse links of every pair (extra bitext included)."""
    from ..align.statistical import align_pairs

    opts = opts or ProjectionOptions()
    all_src = [list(s) for s in src] + [list(s) for s in extra_src]
    all_tgt = [list(t) for t in tgt] + [list(t) for t in extra_tgt]
    result = align_pairs(all_src, all_tgt, symmetrize=opts.symmetrize, runs=opts.runs,
                         threshold=0.0, workers=opts.workers, seed=opts.seed,
                         similarity_priors=opts.similarity_priors, **opts.extra_options)
    n = len(src)
    table = LexicalTable.from_links(all_src, all_tgt, result.forward, result.reverse)
    weights = []
    for i in range(n):
        w = dict(zip(map(tuple, result.links[i]), result.scores[i])) if result.scores else {}
        # union links of the voted directional alignments, weighted by their votes
        for link in list(result.forward[i]) + list(result.reverse[i]):
            w.setdefault(tuple(link), 0.5 / max(1, opts.runs))
        weights.append(w)
    def pairs(links: Sequence) -> list[list[tuple[int, int]]]:
        return [[tuple(x) for x in ls] for ls in links[:n]]

    return Alignment(weights, pairs(result.links), table, pairs(result.forward), pairs(result.reverse))


def _candidates(src: Sentence, tgt: Sentence, k: int, ctx: PairContext, sym_links: Sequence[tuple[int, int]],
                scorer: FeatureScorer, opts: ProjectionOptions, stop: frozenset[str]) -> set[tuple[int, int]]:
    span = src.spans[k]
    links = list(ctx.weights)
    first, last = src.tokens[span.start], src.tokens[span.end - 1]
    keep = {t for t, s in ctx.best_src_of_tgt.items() if span.start <= s < span.end and ctx.src_weights[s] == 1.0}
    out = {r for r in (trim(c, tgt.tokens, stop, first, last, keep)
                       for c in alignment_candidates(span, [links, sym_links])) if r}
    anchors = {t for s, t in links if span.start <= s < span.end}
    for s in range(span.start, span.end):
        anchors.update(t for t, close in enumerate(scorer.affinities(ctx, s)[1]) if close)
    width = span.end - span.start
    max_len = min(opts.max_len, width + opts.max_extra)
    out |= ngram_candidates(tgt.tokens, anchors, max_len, stop, first, last, keep)
    return out


Options = list[list[tuple[tuple[int, int], float]]]


def candidate_features(src: Sequence[Sentence], tgt: Sequence[Sentence], src_lang: str, tgt_lang: str,
                       align: Alignment, opts: ProjectionOptions, scorer: FeatureScorer,
                       generated: Sequence[Sequence[set[tuple[int, int]]]] | None = None
                       ) -> list[list[tuple[list[tuple[int, int]], list[list[float]]]]]:
    """Per pair, per source span: its candidate target ranges (plus ``generated[i][k]``) and
    their feature rows. Stop words are spaCy's list of the language plus the
    ``opts.frequent_words`` most linked words of that side of the aligned corpus (function
    words of a language or script spaCy has no list for)."""
    n = opts.frequent_words
    src_stop = stopwords(src_lang) | frozenset(w for w, _ in align.table.src_total.most_common(n))
    tgt_stop = stopwords(tgt_lang) | frozenset(w for w, _ in align.table.tgt_total.most_common(n))
    out = []
    for i, (s, t) in enumerate(zip(src, tgt)):
        ctx = PairContext(s.tokens, t.tokens, align.weights[i], src_stop, tgt_stop)
        per_span = []
        for k, span in enumerate(s.spans):
            cands = sorted(_candidates(s, t, k, ctx, align.links[i], scorer, opts, tgt_stop)
                           | (generated[i][k] if generated else set()))
            per_span.append((cands, scorer.features(ctx, (span.start, span.end), cands) if cands else []))
        out.append(per_span)
    return out


def scored_options(features: Sequence[Sequence[tuple[Sequence[tuple[int, int]], Sequence[Sequence[float]]]]],
                   model: ScoringModel, top_k: int) -> list[Options]:
    """Per pair, per source span: the ``top_k`` candidates as ``(range, score)``, best first."""
    return [[sorted(zip(cands, model.score(rows)), key=lambda x: -x[1])[:top_k] for cands, rows in pair]
            for pair in features]


def project_corpus(src: Sequence[Sentence], tgt: Sequence[Sentence], src_lang: str, tgt_lang: str,
                   extra_src: Sequence[Sequence[str]] = (), extra_tgt: Sequence[Sequence[str]] = (),
                   opts: ProjectionOptions | None = None,
                   progress: Callable[[int], None] | None = None,
                   alignment: Alignment | None = None) -> list[list[Projected]]:
    """Project the spans of ``src[i]`` onto the tokens of ``tgt[i]`` for every i
    (``alignment``: reuse one computed by :func:`align_corpus` for these pairs)."""
    opts = opts or ProjectionOptions()
    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    if opts.method == "nmt" and not opts.nmt_model:
        raise ValueError("method 'nmt' needs nmt_model (a local seq2seq model folder)")
    scorer = FeatureScorer(None, opts.scoring)
    align = alignment or align_corpus([s.tokens for s in src], [t.tokens for t in tgt], extra_src, extra_tgt, opts)
    if opts.method == "minmax":
        return [minmax(s, align.links[i]) for i, s in enumerate(src)]
    scorer.table = align.table
    nmt = NMTScorer(opts.nmt_model, src_lang, tgt_lang, opts.device, opts.batch_size) \
        if opts.method == "nmt" else None
    min_score = opts.min_score if opts.min_score is not None else 0.0 if nmt else scorer.model.min_score
    generated: list[list[set[tuple[int, int]]]] = [[set() for _ in s.spans] for s in src]
    if opts.generator_model:
        gen = Seq2SeqCandidateGenerator(opts.generator_model, opts.device, batch_size=opts.batch_size)
        reqs = [(i, k) for i, s in enumerate(src) for k in range(len(s.spans))]
        found = gen.generate([(tgt[i].tokens, src[i].spans[k].label) for i, k in reqs])
        for (i, k), f in zip(reqs, found):
            generated[i][k] = f
    feats = candidate_features(src, tgt, src_lang, tgt_lang, align, opts, scorer, generated)
    options = scored_options(feats, scorer.model, opts.top_k)
    out = []
    for s, t, opt in zip(src, tgt, options):
        if nmt is not None:
            opt = _rescore_nmt(nmt, s, t, opt)
        out.append(select_spans([sp.label for sp in s.spans], opt, min_score))
        if progress:
            progress(1)
    return out


def _rescore_nmt(nmt: NMTScorer, s: Sentence, t: Sentence, options: Options) -> Options:
    flat = [(k, rng) for k, opts in enumerate(options) for rng, _ in opts]
    if not flat:
        return options
    scores = nmt.score_pairs([s.surface(s.spans[k]) for k, _ in flat],
                             [" ".join(t.tokens[a:b]) for _, (a, b) in flat])
    out: list[list[tuple[tuple[int, int], float]]] = [[] for _ in options]
    for (k, rng), sc in zip(flat, scores):
        out[k].append((rng, sc))
    return out


def minmax(src: Sentence, links: Sequence[tuple[int, int]]) -> list[Projected]:
    """The baseline: min-max range of the target tokens linked to each source span (a span
    overlapping one kept before it is dropped)."""
    options = []
    for sp in src.spans:
        targets = [t for s, t in links if sp.start <= s < sp.end]
        options.append([((min(targets), max(targets) + 1), 1.0)] if targets else [])
    return select_spans([sp.label for sp in src.spans], options)
