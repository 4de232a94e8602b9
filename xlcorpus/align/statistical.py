"""Statistical word alignment with eflomal (CPU, no model), both directions, symmetrized.

API (stable; other modules such as label projection import it)::

    from xlcorpus.align.statistical import align_pairs
    result = align_pairs(src_tokens, tgt_tokens,            # list[list[str]], one per pair
                         extra_src=None, extra_tgt=None,    # more bitext, only for training
                         symmetrize="vote", seed=0, **options)
    result.links[i]     # symmetrized (src, tgt) 0-indexed links of pair i, sorted
    result.forward[i]   # forward links (each target word -> at most one source word),
    result.reverse[i]   # reverse links (each source word -> one target word at most);
                        # with several runs: the links proposed by a majority of the runs
    result.scores[i]    # one score in (0, 1] per link of links[i]: share of the
                        # 2 x runs directional alignments that proposed it
    result.priors()     # eflomal priors (counts) from these alignments, to reuse later

Only the target pairs' links are returned: ``extra_src``/``extra_tgt`` are appended to the
training corpus and help the model, nothing more. ``symmetrize`` is ``vote`` (default: keep
links proposed by more than ``threshold`` of all directional alignments of all runs) or one
of :data:`~xlcorpus.align.symmetrize.METHODS` applied to the majority forward/reverse links.

Defaults, chosen on the English-French Hansards gold (447 pairs, see
``benchmarks/align_quality.py``): ``runs`` = 4 independent eflomal runs (1 above 200k
training pairs), words truncated to their first 4 / 5 characters in alternate runs
(``prefix_len=[4, 5]``), similarity priors on (identical tokens, equal numbers and
punctuation, cognates by longest-common-subsequence ratio), ``vote`` at 0.5 (AER figures:
README and ``benchmarks/results/align_quality.json``). Other options (see :class:`EflomalOptions`): ``priors`` (a priors file or
:class:`Priors` to reuse), ``romanize`` (compare uroman romanizations for the similarity
priors), eflomal's own settings (``model``, ``n_samplers``, ``rel_iterations``,
``null_prior``, ``suffix_len``), ``workers`` (runs in parallel).

eflomal lowercases tokens itself and writes its links to files (read back here). Its sampler
seeds itself from ``/dev/urandom``; :mod:`xlcorpus.align.seeding` serves it a stream derived
from ``seed`` (and the run number), so the same input, options and seed give the same links.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from .. import progress
from ..ids import seed_for
from .priors import Priors, romanize_types, similarity_priors
from .seeding import seeded
from .symmetrize import METHODS, symmetrize as _symmetrize

Link = tuple[int, int]
Links = list[list[Link]]

SYMMETRIZATIONS = METHODS + ("vote",)
DEFAULT_SYMMETRIZE = "vote"
AUTO_RUNS, AUTO_RUNS_MAX_PAIRS = 4, 200_000


@dataclass
class EflomalOptions:
    """Settings of :func:`align_pairs` beyond the corpus (all have tuned defaults)."""

    runs: int | None = None       # independent eflomal runs whose link votes are averaged;
                                  # None: 4 up to AUTO_RUNS_MAX_PAIRS training pairs, else 1
    threshold: float = 0.5        # keep links voted by > threshold of runs (and directions for "vote")
    similarity_priors: bool = True
    similarity_weight: float = 1.0  # prior count per occurrence of a similar token pair
    romanize: bool = False        # compare uroman romanizations of non-Latin tokens
    priors: str | Path | Priors | None = None
    model: int = 3
    n_samplers: int = 2
    rel_iterations: float = 1.0
    null_prior: float = 0.2
    prefix_len: int | list[int] = field(default_factory=lambda: [4, 5])  # run i: prefix_len[i % len]
    suffix_len: int = 0
    workers: int = 1              # eflomal runs in parallel (serialised when seeding is active)
    deterministic: bool = True    # seed eflomal (samplers on one thread); False: faster, not repeatable

    @classmethod
    def from_kwargs(cls, options: dict) -> "EflomalOptions":
        known = {f.name for f in fields(cls)}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"align_pairs: unknown option(s) {sorted(unknown)} (known: {sorted(known)})")
        return cls(**options)


@dataclass
class AlignResult:
    """Links of the target pairs (see the module docstring)."""

    links: Links
    forward: Links
    reverse: Links
    scores: list[list[float]] | None = None
    method: str = DEFAULT_SYMMETRIZE
    options: dict = field(default_factory=dict)
    src: list[list[str]] = field(default_factory=list, repr=False)
    tgt: list[list[str]] = field(default_factory=list, repr=False)

    def priors(self) -> Priors:
        """eflomal priors (counts) from these alignments, for :func:`align_pairs(priors=...)`."""
        return Priors.from_alignments(self.src, self.tgt, self.forward, self.reverse)


def _clean(tokens: Sequence[str]) -> str:
    """One eflomal input line: tokens joined by spaces (inner whitespace becomes ``_``)."""
    return " ".join("_".join(t.split()) or "_" for t in tokens)


def _read_links(path: str, n: int) -> Links:
    out: Links = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            out.append([tuple(map(int, x.split("-"))) for x in line.split()])  # type: ignore[misc]
    if len(out) != n:
        raise RuntimeError(f"eflomal wrote {len(out)} alignment lines for {n} sentence pairs")
    return out


def _run_eflomal(src_lines: list[str], tgt_lines: list[str], priors_path: str | None,
                 opt: EflomalOptions, prefix_len: int, seed: int) -> tuple[Links, Links]:
    import eflomal

    aligner = eflomal.Aligner(model=opt.model, n_samplers=opt.n_samplers,
                              rel_iterations=opt.rel_iterations, null_prior=opt.null_prior,
                              source_prefix_len=prefix_len, source_suffix_len=opt.suffix_len,
                              target_prefix_len=prefix_len, target_suffix_len=opt.suffix_len)
    with tempfile.TemporaryDirectory(prefix="xlc-eflomal-") as tmp:
        fwd, rev = os.path.join(tmp, "fwd"), os.path.join(tmp, "rev")
        priors_fh = open(priors_path, encoding="utf-8") if priors_path else None
        try:
            with seeded(seed) if opt.deterministic else contextlib.nullcontext():
                aligner.align(src_lines, tgt_lines, links_filename_fwd=fwd, links_filename_rev=rev,
                              priors_input=priors_fh, quiet=True)
        finally:
            if priors_fh:
                priors_fh.close()
        return _read_links(fwd, len(src_lines)), _read_links(rev, len(src_lines))


def _votes(runs: list[Links], n: int) -> list[Counter]:
    """Per pair: how many runs proposed each link."""
    votes = [Counter() for _ in range(n)]
    for links in runs:
        for i in range(n):
            votes[i].update(set(links[i]))
    return votes


def _majority(votes: list[Counter], n_runs: int, threshold: float) -> Links:
    need = threshold * n_runs
    return [sorted(l for l, c in v.items() if c > need) for v in votes]


def align_pairs(src: list[list[str]], tgt: list[list[str]], *,
                extra_src: list[list[str]] | None = None, extra_tgt: list[list[str]] | None = None,
                symmetrize: str = DEFAULT_SYMMETRIZE, seed: int = 0, **options) -> AlignResult:
    """Align tokenized sentence pairs with eflomal; see the module docstring for the API."""
    if len(src) != len(tgt):
        raise ValueError(f"align_pairs: {len(src)} source sentences but {len(tgt)} target sentences")
    if (extra_src is None) != (extra_tgt is None) or len(extra_src or []) != len(extra_tgt or []):
        raise ValueError("align_pairs: extra_src and extra_tgt must both be given, of equal length")
    if symmetrize not in SYMMETRIZATIONS:
        raise ValueError(f"unknown symmetrization {symmetrize!r} (known: {', '.join(SYMMETRIZATIONS)})")
    opt = EflomalOptions.from_kwargs(options)
    n = len(src)
    if n == 0:
        return AlignResult([], [], [], [], symmetrize, asdict(opt))
    train_src = [_clean(s) for s in src] + [_clean(s) for s in (extra_src or [])]
    train_tgt = [_clean(t) for t in tgt] + [_clean(t) for t in (extra_tgt or [])]
    prefixes = opt.prefix_len if isinstance(opt.prefix_len, list) else [opt.prefix_len]
    n_runs = opt.runs or (AUTO_RUNS if len(train_src) <= AUTO_RUNS_MAX_PAIRS else 1)
    opt.runs = n_runs
    with tempfile.TemporaryDirectory(prefix="xlc-priors-") as tmp:
        priors_path = _priors_file(opt, src + list(extra_src or []), tgt + list(extra_tgt or []), tmp)
        jobs = [(train_src, train_tgt, priors_path, opt, prefixes[r % len(prefixes)], seed_for(seed, "eflomal", r))
                for r in range(n_runs)]
        with ThreadPoolExecutor(max_workers=max(1, opt.workers)) as pool, \
                progress.task(f"eflomal: {n_runs} run(s) on {len(train_src):,} pairs", n_runs) as advance:
            results = []
            for r in pool.map(lambda a: _run_eflomal(*a), jobs):
                results.append(r)
                advance()
    fwd_votes = _votes([r[0][:n] for r in results], n)
    rev_votes = _votes([r[1][:n] for r in results], n)
    fwd = _majority(fwd_votes, n_runs, opt.threshold if n_runs > 1 else 0.0)
    rev = _majority(rev_votes, n_runs, opt.threshold if n_runs > 1 else 0.0)
    links, scores = [], []
    for i in range(n):
        if symmetrize == "vote":
            share = {l: (fwd_votes[i][l] + rev_votes[i][l]) / (2 * n_runs)
                     for l in set(fwd_votes[i]) | set(rev_votes[i])}
            sym = sorted(l for l, v in share.items() if v > opt.threshold
                         and l[0] < len(src[i]) and l[1] < len(tgt[i]))
        else:
            sym = _symmetrize(fwd[i], rev[i], symmetrize, len(src[i]), len(tgt[i]))
        links.append(sym)
        scores.append([round((fwd_votes[i][l] + rev_votes[i][l]) / (2 * n_runs), 4) for l in sym])
    params = {k: (str(v) if isinstance(v, (Path, Priors)) else v) for k, v in asdict(opt).items()}
    params.update(seed=seed, extra_pairs=len(extra_src or []))
    return AlignResult(links, fwd, rev, scores, symmetrize, params, list(src), list(tgt))


def _priors_file(opt: EflomalOptions, src: list[list[str]], tgt: list[list[str]],
                 tmp: str) -> str | None:
    """Write the priors eflomal reads (given priors plus similarity priors) to ``tmp``."""
    priors = None
    if isinstance(opt.priors, Priors):
        priors = opt.priors
    elif opt.priors is not None:
        priors = Priors.read(opt.priors)
    if opt.similarity_priors:
        rom = romanize_types(src + tgt) if opt.romanize else None
        sim = similarity_priors(src, tgt, opt.similarity_weight, rom)
        priors = sim if priors is None else priors + sim
    if priors is None:
        return None
    path = os.path.join(tmp, "priors")
    priors.write(path)
    return path
