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
seeds itself from ``/dev/urandom``; :mod:`xlcorpus.align.seeding` runs each call of its binary
with its own seed derived from ``seed`` (and the run number), so the same input, options and
seed give the same links; calls run in parallel. :func:`align_files` is the file-level run
that chunked alignment (:mod:`xlcorpus.align.chunked`) uses.
"""

from __future__ import annotations

import functools
import math
import os
import re
import tempfile
import threading
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np

from .. import progress
from ..ids import seed_for
from .priors import Priors, romanize_types, similarity_priors
from .seeding import run_eflomal
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
    workers: int = 1              # eflomal runs in parallel (threads, each runs the binary)
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


_NOT_SPACE_WS = re.compile(r"[^\S ]")  # whitespace other than the plain space


def _clean(tokens: Sequence[str]) -> str:
    """One eflomal input line: tokens joined by spaces (inner whitespace becomes ``_``, an
    empty token ``_``). Tokens without whitespace, the usual case, are joined as they are."""
    line = " ".join(tokens)
    if all(tokens) and line.count(" ") == len(tokens) - 1 and not _NOT_SPACE_WS.search(line):
        return line
    return " ".join("_".join(t.split()) or "_" for t in tokens)


def parse_links(line: str) -> list[Link]:
    """0-indexed ``i-j`` links of one line of eflomal's output."""
    try:
        v = list(map(int, line.replace("-", " ").split()))
    except ValueError:
        v = [-1]
    if len(v) % 2:
        raise ValueError(f"not a line of i-j links: {line.strip()[:200]!r}")
    return list(zip(v[::2], v[1::2]))


def _link_values(lines: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Links per line and the flat ``(links, 2)`` positions of consecutive output lines."""
    counts = np.fromiter((line.count("-") for line in lines), dtype=np.int64, count=len(lines))
    text = "".join(lines).replace("-", " ")
    try:
        with warnings.catch_warnings():  # older numpy warns where it stops at a bad value, newer raises
            warnings.simplefilter("ignore", DeprecationWarning)
            values = np.fromstring(text, dtype=np.int64, sep=" ") if text.strip() else np.zeros(0, np.int64)
    except ValueError:
        values = np.zeros(1, np.int64)  # not a count of links: the bad line is found below
    if values.size != 2 * counts.sum() or (values.size and values.min() < 0):
        for line in lines:
            parse_links(line)  # names the bad line
        raise ValueError("not lines of i-j links")
    return counts, values.reshape(-1, 2)


def _links_of_keys(keys: np.ndarray, n: int, width: int) -> Links:
    """Per line, the links of sorted keys ``(line * width + i) * width + j``."""
    line, rest = np.divmod(keys, width * width)
    i, j = np.divmod(rest, width)
    flat = list(zip(i.tolist(), j.tolist()))
    out, start = [], 0
    for end in np.cumsum(np.bincount(line, minlength=n)).tolist():
        out.append(flat[start:end])
        start = end
    return out


def vote_one_run(fwd_lines: Sequence[str], rev_lines: Sequence[str], src_lens: Sequence[int],
                 tgt_lens: Sequence[int], threshold: float,
                 directions: bool = True) -> tuple[Links, Links, Links, list[list[float]]]:
    """:func:`combine_runs` of one run voted by direction (``vote``, ``0.5 <= threshold``),
    vectorized: eflomal's output lines in, the links of both directions (within the
    sentences) out, with forward and reverse links sorted (empty unless ``directions``)."""
    n = len(src_lens)
    if len(fwd_lines) != n or len(rev_lines) != n:
        raise RuntimeError("eflomal wrote fewer alignment lines than there are sentence pairs")
    (fc, fv), (rc, rv) = _link_values(fwd_lines), _link_values(rev_lines)
    width = 1 + max(max(src_lens, default=0), max(tgt_lens, default=0),
                    int(fv.max(initial=0)), int(rv.max(initial=0)))
    if n * width * width >= 2 ** 62:
        raise ValueError(f"sentences too long to vote on at once ({width - 1} tokens)")
    row = np.arange(n, dtype=np.int64)
    fk = np.sort((np.repeat(row, fc) * width + fv[:, 0]) * width + fv[:, 1])
    rk = np.sort((np.repeat(row, rc) * width + rv[:, 0]) * width + rv[:, 1])
    both = fk[rk[np.minimum(np.searchsorted(rk, fk), len(rk) - 1)] == fk] if threshold < 1 and len(rk) else fk[:0]
    both = both[np.r_[True, both[1:] != both[:-1]]] if len(both) else both  # each link once
    line, rest = np.divmod(both, width * width)
    keep = (rest // width < np.asarray(src_lens, dtype=np.int64)[line]) & \
        (rest % width < np.asarray(tgt_lens, dtype=np.int64)[line])
    links = _links_of_keys(both[keep], n, width)
    scores = [[1.0] * len(l) for l in links]
    if not directions:
        return links, [], [], scores
    return links, _links_of_keys(fk, n, width), _links_of_keys(rk, n, width), scores


def _read_lines(path: str, n: int) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        out = fh.readlines()
    if len(out) != n:
        raise RuntimeError(f"eflomal wrote {len(out)} alignment lines for {n} sentence pairs")
    return out


def vote_lines(runs: Sequence[tuple[Sequence[str], Sequence[str]]], src_lens: Sequence[int],
               tgt_lens: Sequence[int], symmetrize: str, threshold: float,
               directions: bool = True) -> tuple[Links, Links, Links, list[list[float]]]:
    """:func:`combine_runs` of the first ``len(src_lens)`` of eflomal's output lines, given
    per run as (forward lines, reverse lines): one run voted by direction goes through
    :func:`vote_one_run` (vectorized; forward and reverse links only with ``directions``)."""
    n = len(src_lens)
    if any(len(f) < n or len(r) < n for f, r in runs):
        raise RuntimeError("eflomal wrote fewer alignment lines than there are sentence pairs")
    if len(runs) == 1 and symmetrize == "vote" and threshold >= 0.5:
        return vote_one_run(runs[0][0][:n], runs[0][1][:n], src_lens, tgt_lens, threshold, directions)
    parsed = [([parse_links(x) for x in f[:n]], [parse_links(x) for x in r[:n]]) for f, r in runs]
    return combine_runs(parsed, src_lens, tgt_lens, symmetrize, threshold)


def _iterations(opt: EflomalOptions, n_sentences: int) -> tuple[int, int, int]:
    """eflomal's own rule: iterations per model from the corpus size and ``rel_iterations``."""
    iters = max(2, int(round(opt.rel_iterations * 5000 / math.sqrt(max(n_sentences, 1)))))
    iters4 = max(1, iters // 4)
    return {1: (iters, 0, 0), 2: (max(2, iters4), iters, 0)}.get(opt.model, (max(2, iters4), iters4, iters))


# eflomal's stderr, per direction: "Aligning with model M (K iterations)" as each model's
# sampling starts, "Final argmax iteration" once the last one is done (no per-iteration lines).
PHASE = re.compile(r"Aligning with model \d|Final argmax iteration")


def phases(model: int) -> int:
    """Phase lines of one eflomal run: per direction, one per model and the final one."""
    return 2 * (model + 1)


PriorsParts = str | Path | Sequence[str | Path] | None


def _eflomal_priors(path: str) -> tuple:
    import eflomal

    with open(path, encoding="utf-8") as fh:
        return eflomal.read_priors(fh)


@functools.lru_cache(maxsize=2)
def _shared_priors(path: str, size: int, mtime_ns: int) -> tuple:
    return _eflomal_priors(path)


def read_priors_parts(parts: Sequence[str | Path]) -> tuple:
    """What eflomal's ``read_priors`` reads from the parts' concatenation (lexical and
    fertility lines listed, then summed by eflomal; the last line of a jump kept). The
    first part, the shared priors every chunk reads, is parsed once per process."""
    lex, hmmf, hmmr, ferf, ferr = [], {}, {}, [], []
    for k, part in enumerate(parts):
        if k == 0:
            st = os.stat(part)
            got = _shared_priors(str(part), st.st_size, st.st_mtime_ns)
        else:
            got = _eflomal_priors(str(part))
        lex.extend(got[0])
        hmmf.update(got[1])
        hmmr.update(got[2])
        ferf.extend(got[3])
        ferr.extend(got[4])
    return lex, hmmf, hmmr, ferf, ferr


def _prepare(src_path: str | Path, tgt_path: str | Path, priors: PriorsParts, prefix_len: int, suffix_len: int,
             work: Path) -> int:
    """eflomal's ``prepare_files``: numeric sentence files and priors (from ``priors``'s parts)
    under ``work``; returns the number of sentences."""
    import eflomal

    parts = [priors] if isinstance(priors, (str, Path)) else list(priors or [])
    with open(src_path, encoding="utf-8") as s_in, open(work / "src.num", "wb") as s_out:
        src_index, n, _ = eflomal.to_eflomal_text_file(s_in, s_out, prefix_len, suffix_len)
    with open(tgt_path, encoding="utf-8") as t_in, open(work / "tgt.num", "wb") as t_out:
        tgt_index, n_tgt, _ = eflomal.to_eflomal_text_file(t_in, t_out, prefix_len, suffix_len)
    if n != n_tgt:
        raise ValueError(f"{src_path} has {n} sentences, {tgt_path} {n_tgt}")
    with open(work / "priors.num", "w", encoding="utf-8") as p_out:
        if parts:
            eflomal.to_eflomal_priors_file(read_priors_parts(parts), src_index, tgt_index, p_out)
    return n


def align_files(src_path: str | Path, tgt_path: str | Path, priors_path: PriorsParts,
                opt: EflomalOptions, prefix_len: int, seed: int, workdir: str | Path,
                n_sentences: int | None = None, on_phase: Callable[[], None] | None = None,
                split_directions: bool = False) -> tuple[str, str]:
    """One eflomal run on line-parallel token files (one sentence per line, space separated)
    with the priors in ``priors_path`` (a file, or parts read as their concatenation, see
    :func:`read_priors_parts`); returns the paths of the forward and reverse links it wrote
    under ``workdir``.

    The files are converted to eflomal's numeric format here (holding one file's
    vocabulary and sentence arrays: memory grows with the file, so callers chunk), then
    the binary runs seeded (see :mod:`xlcorpus.align.seeding`; unseeded when
    ``opt.deterministic`` is off). ``n_sentences`` sets the iteration counts (default: the
    file's own size, eflomal's rule). ``on_phase`` is called as each phase line comes
    (:func:`phases` in all). ``split_directions``: the forward and the reverse model run
    as two processes at once (each direction seeds itself from the same seed, so the links
    are the same as from one process doing both in turn).
    """
    work = Path(workdir)
    src_num, tgt_num, pri_num = work / "src.num", work / "tgt.num", work / "priors.num"
    n = _prepare(src_path, tgt_path, priors_path, prefix_len, opt.suffix_len, work)
    it = _iterations(opt, n_sentences or n)
    fwd, rev = str(work / "fwd"), str(work / "rev")
    args = ["-m", str(opt.model), "-s", str(src_num), "-t", str(tgt_num), "-n", str(opt.n_samplers),
            "-N", str(opt.null_prior), "-1", str(it[0])]
    if opt.model >= 2:
        args += ["-2", str(it[1])]
    if opt.model >= 3:
        args += ["-3", str(it[2])]
    if priors_path:
        args += ["-p", str(pri_num)]
    lock = threading.Lock()

    def on_line(line: str) -> None:
        if on_phase is not None and PHASE.match(line):
            with lock:
                on_phase()

    run_seed = seed if opt.deterministic else None
    if not split_directions:
        run_eflomal(args + ["-f", fwd, "-r", rev], run_seed, work, on_line=on_line)
        return fwd, rev
    jobs = [(args + [flag, out], work / name) for flag, out, name in (("-f", fwd, "fwd.d"), ("-r", rev, "rev.d"))]
    for _, folder in jobs:
        folder.mkdir(exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        for got in [pool.submit(run_eflomal, a, run_seed, folder, on_line) for a, folder in jobs]:
            got.result()
    return fwd, rev


def _run_eflomal(src_lines: list[str], tgt_lines: list[str], priors_path: str | None,
                 opt: EflomalOptions, prefix_len: int, seed: int,
                 on_phase: Callable[[], None] | None = None) -> tuple[list[str], list[str]]:
    with tempfile.TemporaryDirectory(prefix="xlc-eflomal-") as tmp:
        src_path, tgt_path = os.path.join(tmp, "src.txt"), os.path.join(tmp, "tgt.txt")
        for path, lines in ((src_path, src_lines), (tgt_path, tgt_lines)):
            with open(path, "w", encoding="utf-8") as fh:
                fh.writelines(line + "\n" for line in lines)
        fwd, rev = align_files(src_path, tgt_path, priors_path, opt, prefix_len, seed, tmp, on_phase=on_phase)
        return _read_lines(fwd, len(src_lines)), _read_lines(rev, len(src_lines))


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


def combine_runs(results: list[tuple[Links, Links]], src_lens: list[int], tgt_lens: list[int],
                 symmetrize: str, threshold: float) -> tuple[Links, Links, Links, list[list[float]]]:
    """Symmetrized links, majority forward/reverse links and link scores of the first
    ``len(src_lens)`` pairs from the (forward, reverse) links of each run."""
    n, n_runs = len(src_lens), len(results)
    fwd_votes = _votes([r[0][:n] for r in results], n)
    rev_votes = _votes([r[1][:n] for r in results], n)
    fwd = _majority(fwd_votes, n_runs, threshold if n_runs > 1 else 0.0)
    rev = _majority(rev_votes, n_runs, threshold if n_runs > 1 else 0.0)
    links, scores = [], []
    for i in range(n):
        if symmetrize == "vote":
            share = {l: (fwd_votes[i][l] + rev_votes[i][l]) / (2 * n_runs)
                     for l in set(fwd_votes[i]) | set(rev_votes[i])}
            sym = sorted(l for l, v in share.items() if v > threshold
                         and l[0] < src_lens[i] and l[1] < tgt_lens[i])
        else:
            sym = _symmetrize(fwd[i], rev[i], symmetrize, src_lens[i], tgt_lens[i])
        links.append(sym)
        scores.append([round((fwd_votes[i][l] + rev_votes[i][l]) / (2 * n_runs), 4) for l in sym])
    return links, fwd, rev, scores


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
        with ThreadPoolExecutor(max_workers=max(1, opt.workers)) as pool, \
                progress.task(f"eflomal: {n_runs} run(s) on {len(train_src):,} pairs, "
                              f"{phases(opt.model)} phases each", n_runs * phases(opt.model)) as advance:
            jobs = [(train_src, train_tgt, priors_path, opt, prefixes[r % len(prefixes)],
                     seed_for(seed, "eflomal", r), advance) for r in range(n_runs)]
            results = list(pool.map(lambda a: _run_eflomal(*a), jobs))
    links, fwd, rev, scores = vote_lines(results, [len(x) for x in src], [len(x) for x in tgt],
                                         symmetrize, opt.threshold)
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
