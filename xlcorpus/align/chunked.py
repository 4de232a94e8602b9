"""eflomal at scale: priors trained once on a seeded sample, chunks aligned with them.

A corpus is cut into chunks of ``chunk_pairs`` pairs (in its reading order); each chunk is
one independent eflomal job (one or more runs, voted as in
:func:`~xlcorpus.align.statistical.align_pairs`) whose memory grows with the chunk, not the
corpus. Every chunk reads the same priors (Dirichlet counts, see :mod:`.priors`):

- trained once, :func:`train_priors`: eflomal aligns a sample of ``priors_sample`` pairs,
  chosen from a hash of (seed, pair key) (:func:`in_sample` for a table's ids,
  :func:`lines_in_sample` for a file's line numbers), so the sample does not depend on
  the order, the batching or the chunking; :meth:`Priors.from_alignments` turns
  its *symmetrized* links (those the aligner outputs) into counts, for both directions,
  with fertility 0 counted for words that have no link. Each chunk then reads the priors
  *less the counts of its own pairs* that were in the sample (:func:`write_own`,
  :meth:`Priors.write_leaving_out`): a pair is counted once, as in an unchunked run, not
  once in the priors and again in its chunk. Development figures (first half of the en-fr
  gold inside 8,000 Multi30k pairs, chunks of 2,000; unchunked 8.44 AER). Own pairs
  counted twice: symmetrized links 9.36, with fertility 0 9.25. Own pairs left out:
  symmetrized 8.78, with fertility 0 **8.60** (the chosen way), with fertility 0 and NULL
  links counted 8.82, directional links (as eflomal's ``makepriors``) 9.42, directional
  with fertility 0 9.16. ``benchmarks/align_scale.py`` reports the whole corpus and the
  held-out half;
- or given (a file in eflomal's format, or the ``align_priors`` table of a store): applied
  whole (they come from another corpus).

Each chunk adds its own similarity priors (identical tokens, cognates) on top, as the
unchunked aligner does, and is seeded by ``seed_for(seed, "chunk", index, run)``: a chunk's
links depend only on its pairs, the priors, the options and the seed, so a resumed run
recomputes a missing chunk exactly as an uninterrupted run would.

:class:`ChunkAligner` is the small picklable object the workers receive;
:func:`align_lines_file` aligns a ``src ||| tgt`` file with it (``xlcorpus align``): one
pass finds where each chunk starts and checks every line, then each worker reads its
chunks in place (a compressed file's chunks are copied out as plain files first). With
more than one worker, the workers start at once and share the priors' own Python work
(the sample's similarity priors, the voting and counting of its links).
"""

from __future__ import annotations

import contextlib
import itertools
from collections import Counter
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import progress
from ..ids import seed_for
from .priors import Priors, similarity_priors, symmetrized_counts
from .statistical import (AUTO_RUNS, AUTO_RUNS_MAX_PAIRS, EflomalOptions, Links, _clean, align_files, phases,
                          vote_lines)

CHUNK_PAIRS = 50_000
PRIORS_SAMPLE = 100_000
SAMPLE_BLOCK = 1 << 16  # lines whose sample membership is computed at once
BATCH = 2000  # pairs read, voted and counted at once


def in_sample(seed: int, key: object, share: float) -> bool:
    """Whether the pair ``key`` belongs to the priors sample (``share`` of all pairs)."""
    return share >= 1 or seed_for(seed, "priors-sample", key) < share * 2.0 ** 64


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: a bijection of 64-bit integers in which every input bit moves
    about half of the output bits."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def lines_in_sample(seed: int, first: int, count: int, share: float) -> np.ndarray:
    """Whether each of the lines ``first`` .. ``first + count - 1`` belongs to the priors
    sample (``share`` of all lines): :func:`in_sample` for line numbers, vectorized (a
    mixed hash of the seed's key plus the line number)."""
    if share >= 1:
        return np.ones(count, dtype=bool)
    base = np.uint64(seed_for(seed, "priors-sample-lines"))
    numbers = np.arange(first, first + count, dtype=np.uint64)
    return _mix64(numbers + base) < np.uint64(min(share * 2.0 ** 64, 2.0 ** 64 - 4096))


def sample_share(total: int, sample: int) -> float:
    """The share of ``total`` pairs to draw for about ``sample`` pairs (1: all)."""
    return 1.0 if total <= sample else sample / total


def auto_runs(runs: int | None, total: int) -> int:
    """Runs per chunk: as given, else decided on the corpus size (as the unchunked aligner)."""
    return runs or (AUTO_RUNS if total <= AUTO_RUNS_MAX_PAIRS else 1)


def train_priors(batches: Iterable[tuple], seed: int = 0, runs: int | None = None, symmetrize: str = "vote",
                 own: dict[int, Priors] | None = None, split_directions: bool = False, pool=None,
                 **options) -> Priors:
    """Priors (counts) from the ``symmetrize``d links of eflomal on a sample given as batches
    of token lists, ``(src, tgt)`` or ``(src, tgt, groups)`` (options as :func:`align_pairs`).
    ``groups`` gives each pair's chunk (None: in none); ``own``, if given, receives each
    chunk's share of the counts (see :meth:`Priors.write_leaving_out`). The sample goes to
    disk as it comes; memory holds the counts, not the sample. ``split_directions``: the
    two directions of each eflomal run in two processes at once (same links); ``pool``
    (an :class:`~xlcorpus.engine.pool.Pool`): the similarity priors of the sample's
    batches are found in its workers while the sample is read, and the links are voted
    and counted there, a part of the sample each (the same counts either way)."""
    with tempfile.TemporaryDirectory(prefix="xlc-priors-") as tmp:
        opt = EflomalOptions.from_kwargs(options)
        groups: list[int | None] = []
        apart = pool is not None and opt.similarity_priors  # similarity in the workers, as the sample is read
        with ChunkFiles(tmp, opt.similarity_weight, similarity=not apart) as files:
            def written() -> Iterator[tuple]:
                for batch in batches:
                    files.add(batch[0], batch[1])
                    groups.extend(batch[2] if len(batch) > 2 else [None] * len(batch[0]))
                    yield batch[0], batch[1], opt.similarity_weight

            for lex in pool.map(_similarity_lex, written()) if apart else written():
                if apart:
                    files.similarity.lex.update(lex)  # in batch order: the same sums
        n = len(files.src_lens)
        if n == 0:
            return Priors()
        aligner = ChunkAligner(chunk_options(runs, n, **options), None, symmetrize, seed_for(seed, "priors"),
                               split_directions=split_directions)
        sample = SampleLinks(aligner, aligner.run(tmp, files, 0), files.src_path, files.tgt_path,
                             files.src_lens, files.tgt_lens, groups)
        parts = _parts(n, pool.size if pool is not None else 1, BATCH)
        tasks = [(sample, first, last) for first, last in parts]
        priors = Priors()
        for counts, mine in (pool.map(_sample_counts, tasks) if len(tasks) > 1
                             else itertools.starmap(_sample_counts, tasks)):
            priors += counts
            for group, part in mine.items() if own is not None else ():
                into = own.setdefault(group, Priors())
                into += part
    return priors




def _parts(n: int, k: int, unit: int) -> list[tuple[int, int]]:
    """``n`` items cut into at most ``k`` ranges of whole ``unit``s (the last may be short)."""
    units = math.ceil(n / unit)
    bounds = [min(n, round(units * i / k) * unit) for i in range(k + 1)]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


@dataclass(frozen=True)
class SampleLinks:
    """The priors sample on disk: its token files, eflomal's link files, each pair's
    lengths and chunk (what a worker needs to count a part of it)."""

    aligner: "ChunkAligner"
    runs: list[tuple[str, str]]
    src_path: str
    tgt_path: str
    src_lens: list[int]
    tgt_lens: list[int]
    groups: list[int | None]


def _sample_counts(sample: SampleLinks, first: int, last: int) -> tuple[Priors, dict[int, Priors]]:
    """The counts of the sample's pairs ``first`` .. ``last - 1``, in all and per chunk
    (``first`` is a multiple of :data:`BATCH`: batches are those of one pass)."""
    priors = Priors()
    own: dict[int, Priors] = {}
    starts = range(first, last, BATCH)
    lens = [(sample.src_lens[i:min(i + BATCH, last)], sample.tgt_lens[i:min(i + BATCH, last)])
            for i in starts]
    voted = sample.aligner.combine(sample.runs, lens, skip=first, directions=False)
    with open(sample.src_path, encoding="utf-8") as fs, open(sample.tgt_path, encoding="utf-8") as ft:
        for _ in range(first):
            fs.readline()
            ft.readline()
        for start, (src_lens, _), (links, _, _, _) in zip(starts, lens, voted):
            src = [fs.readline().split() for _ in src_lens]
            tgt = [ft.readline().split() for _ in src_lens]
            k = 0
            for group, run in itertools.groupby(sample.groups[start:start + len(src)]):
                m = k + len(list(run))
                counts = symmetrized_counts(src[k:m], tgt[k:m], links[k:m])
                priors += counts
                if group is not None:
                    into = own.setdefault(group, Priors())
                    into += counts
                k = m
    voted.close()
    return priors, own


@dataclass(frozen=True)
class ChunkResult:
    """One chunk's links (as :class:`~xlcorpus.align.statistical.AlignResult`) and cost."""

    links: Links
    forward: Links
    reverse: Links
    scores: list[list[float]]
    seconds: float


@dataclass(frozen=True)
class ChunkAligner:
    """Aligns one chunk of token lists with the shared priors (picklable: ships to workers).

    ``options`` are :class:`EflomalOptions` fields (``priors`` excluded: ``priors_path``);
    ``runs`` must be resolved (see :func:`auto_runs`). Iterations follow eflomal's rule for
    ``corpus_pairs`` (the whole corpus), so a chunk costs per pair what an unchunked run
    costs (eflomal's rule on a small chunk would sample far longer per pair).
    """

    options: dict
    priors_path: str | None
    symmetrize: str = "vote"
    seed: int = 0
    corpus_pairs: int | None = None
    own_dir: str | None = None       # holds own-NNNNN: the priors' counts from chunk N's pairs
    split_directions: bool = False   # each run's two directions in two processes at once

    def align(self, src: list[list[str]], tgt: list[list[str]], index: int, directions: bool = True) -> ChunkResult:
        """Align one chunk given as token lists (``directions``: with the forward and reverse
        links, else those are empty)."""
        t0 = time.perf_counter()
        out: tuple[Links, Links, Links, list[list[float]]] = ([], [], [], [])
        for part in self._voted([(src, tgt)], index, directions):
            for into, got in zip(out, part):
                into.extend(got)
        return ChunkResult(*out, time.perf_counter() - t0)

    def align_to_files(self, batches: Iterable[tuple[list[list[str]], list[list[str]]]], index: int,
                       out: str) -> tuple[int, float]:
        """Align one chunk given as batches of token lists, writing one line of links and
        of scores per pair to ``out`` + ``.links`` / ``.scores`` as each batch is voted
        (Python holds a batch, never the chunk); returns (pairs, seconds)."""
        t0 = time.perf_counter()
        n = 0
        with open(out + ".links", "w", encoding="utf-8") as fh, open(out + ".scores", "w", encoding="utf-8") as sc:
            for links, _, _, scores in self._voted(batches, index, directions=False):
                n += len(links)
                fh.writelines(" ".join(f"{s}-{t}" for s, t in l) + "\n" for l in links)
                sc.writelines(" ".join(f"{x:g}" for x in xs) + "\n" for xs in scores)
        return n, time.perf_counter() - t0

    def _voted(self, batches: Iterable[tuple[list[list[str]], list[list[str]]]], index: int,
               directions: bool) -> Iterator[tuple[Links, Links, Links, list[list[float]]]]:
        """The voted links of one chunk given as batches of token lists, per :data:`BATCH`
        pairs (:meth:`combine`); nothing for an empty chunk."""
        with tempfile.TemporaryDirectory(prefix=f"xlc-chunk{index}-") as tmp:
            with ChunkFiles(tmp, self.options.get("similarity_weight", 1.0)) as files:
                for src, tgt in batches:
                    files.add(src, tgt)
            n = len(files.src_lens)
            if n:
                lens = [(files.src_lens[i:i + BATCH], files.tgt_lens[i:i + BATCH]) for i in range(0, n, BATCH)]
                yield from self.combine(self.run(tmp, files, index), lens, directions=directions)

    def run(self, workdir: str, files: "ChunkFiles", index: int) -> list[tuple[str, str]]:
        """The eflomal runs of one chunk written by ``files``: (forward, reverse) link files."""
        opt = EflomalOptions.from_kwargs(self.options)
        prefixes = opt.prefix_len if isinstance(opt.prefix_len, list) else [opt.prefix_len]
        priors = self._chunk_priors(files.similarity if opt.similarity_priors else None, workdir, index)
        out = []
        n_runs = opt.runs or 1
        with progress.task(f"eflomal, chunk {index + 1}: {n_runs} run(s) on {len(files.src_lens):,} pairs, "
                           f"{phases(opt.model)} phases each", n_runs * phases(opt.model)) as advance:
            for r in range(n_runs):
                run_dir = os.path.join(workdir, f"run{r}")
                os.makedirs(run_dir, exist_ok=True)
                out.append(align_files(files.src_path, files.tgt_path, priors, opt, prefixes[r % len(prefixes)],
                                       seed_for(self.seed, "chunk", index, r), run_dir,
                                       self.corpus_pairs or len(files.src_lens), on_phase=advance,
                                       split_directions=self.split_directions))
        return out

    def combine(self, runs: list[tuple[str, str]], batches: Iterable[tuple[list[int], list[int]]],
                skip: int = 0, directions: bool = True) -> Iterator[tuple[Links, Links, Links, list[list[float]]]]:
        """Voted links per batch of pairs (given as source and target lengths), read from the
        runs' link files (after ``skip`` pairs) as the batches come: memory grows with a
        batch, not the chunk. Without ``directions``, the forward and reverse links may be
        left empty (see :func:`vote_lines`)."""
        opt = EflomalOptions.from_kwargs(self.options)
        handles = [(open(f, encoding="utf-8"), open(r, encoding="utf-8")) for f, r in runs]
        try:
            for f, r in handles:
                for _ in range(skip):
                    f.readline()
                    r.readline()
            for src_lens, tgt_lens in batches:
                k = len(src_lens)
                lines = [(list(itertools.islice(f, k)), list(itertools.islice(r, k))) for f, r in handles]
                yield vote_lines(lines, src_lens, tgt_lens, self.symmetrize, opt.threshold, directions)
        finally:
            for f, r in handles:
                f.close()
                r.close()

    def _chunk_priors(self, similarity: Priors | None, tmp: str, index: int = 0) -> list[str] | None:
        """The parts of this chunk's priors: the shared priors, less the counts that came
        from this chunk's own pairs (if any were in the sample: counted once, not twice),
        plus this chunk's similarity priors (eflomal sums LEX lines)."""
        parts = [self.priors_path] if self.priors_path else []
        own = os.path.join(self.own_dir, own_name(index)) if self.own_dir else None
        if own and os.path.exists(own):  # a chunk without sampled pairs has none
            parts.append(own)
        if similarity is not None:
            parts.append(os.path.join(tmp, "similarity"))
            similarity.write(parts[-1])
        return parts or None


def own_name(index: int) -> str:
    """The file of chunk ``index``'s leave-out lines (see :meth:`Priors.write_leaving_out`)."""
    return f"own-{index:05d}.priors"


def write_own(shared: Priors, own: dict[int, Priors], folder: str | Path) -> None:
    """One leave-out file per chunk that had pairs in the priors sample."""
    for index, part in own.items():
        tmp = Path(folder) / (own_name(index) + ".tmp")
        shared.write_leaving_out(part, tmp)
        os.replace(tmp, Path(folder) / own_name(index))


_SIMILARITY_CACHE: tuple[dict, dict] = ({}, {})
_SIMILARITY_CACHE_MAX = 2_000_000


def _similarity_cache() -> tuple[dict, dict]:
    """The word types (and type pairs) that :func:`similarity_priors` analysed in this
    process, kept across chunks (a worker aligns many chunks of one vocabulary); emptied
    when it holds more than ``_SIMILARITY_CACHE_MAX`` entries."""
    if sum(map(len, _SIMILARITY_CACHE)) > _SIMILARITY_CACHE_MAX:
        for part in _SIMILARITY_CACHE:
            part.clear()
    return _SIMILARITY_CACHE


def _similarity_lex(src: list[list[str]], tgt: list[list[str]], weight: float) -> dict:
    """The lexical similarity priors of one batch (a worker task)."""
    return similarity_priors(src, tgt, weight, cache=_similarity_cache()).lex


class ChunkFiles:
    """Writes a chunk's token lines for eflomal batch by batch, keeping only the sentence
    lengths and (unless ``similarity`` is off) the chunk's similarity priors (summed per
    batch: the same counts)."""

    def __init__(self, workdir: str, weight: float = 1.0, similarity: bool = True):
        self.weight, self._with_similarity = weight, similarity
        self.src_path, self.tgt_path = os.path.join(workdir, "src.txt"), os.path.join(workdir, "tgt.txt")
        self.src_lens: list[int] = []
        self.tgt_lens: list[int] = []
        self.similarity = Priors()
        self._cache = _similarity_cache()

    def __enter__(self) -> "ChunkFiles":
        self._src = open(self.src_path, "w", encoding="utf-8")
        self._tgt = open(self.tgt_path, "w", encoding="utf-8")
        return self

    def add(self, src: list[list[str]], tgt: list[list[str]]) -> None:
        self._src.writelines(_clean(s) + "\n" for s in src)
        self._tgt.writelines(_clean(t) + "\n" for t in tgt)
        self.src_lens.extend(map(len, src))
        self.tgt_lens.extend(map(len, tgt))
        if self._with_similarity:
            self.similarity.lex.update(similarity_priors(src, tgt, self.weight, cache=self._cache).lex)

    def __exit__(self, *exc) -> None:
        self._src.close()
        self._tgt.close()


def chunk_options(runs: int | None, total: int, **options) -> dict:
    """:class:`EflomalOptions` fields for :class:`ChunkAligner` with ``runs`` resolved."""
    opt = EflomalOptions.from_kwargs({**options, "runs": auto_runs(runs, total)})
    out = asdict(opt)
    out.pop("priors")
    return out


# ------------------------------------------------------------ a pairs file, streamed
@dataclass(frozen=True)
class Span:
    """``pairs`` lines of a ``src ||| tgt`` file from byte ``offset``, the first numbered
    ``first`` (a worker reads its chunk itself: nothing is copied)."""

    path: str
    offset: int
    first: int
    pairs: int


def plan_spans(path: str, chunk_pairs: int) -> tuple[int, Callable[[str], Iterator[Span]]]:
    """The number of pairs in ``path`` and a function giving its chunks' spans (given a
    scratch folder). A local uncompressed file is scanned once for where each chunk
    starts (:func:`~xlcorpus.sources.inputs.pair_line_offsets`); any other is counted,
    then copied chunk by chunk into the scratch folder as the chunks are asked for."""
    from ..sources.inputs import pair_line_offsets

    scan = pair_line_offsets(path, chunk_pairs)
    if scan is not None:
        total, offsets = scan
        return total, lambda _folder: (Span(path, off, 1 + k * chunk_pairs, min(chunk_pairs, total - k * chunk_pairs))
                                       for k, off in enumerate(offsets))
    return count_pairs(path), lambda folder: _split_file(path, chunk_pairs, folder)


def chunk_stem(folder: str, index: int) -> str:
    """Where chunk ``index``'s scratch files go: ``.txt`` (a copied chunk), ``.links``, ``.scores``."""
    return os.path.join(folder, f"chunk-{index:05d}")


def more_pairs_than(path: str, n: int) -> bool:
    """Whether ``path`` has more than ``n`` lines (reads at most ``n + 1``, checks none:
    the reader that follows does)."""
    from ..sources.inputs import iter_lines

    lines = iter_lines(path)
    try:
        return next(itertools.islice(lines, n, None), None) is not None
    finally:
        lines.close()


def _split_file(path: str, chunk_pairs: int, folder: str) -> Iterator[Span]:
    """Copy the pairs of ``path`` into chunk files under ``folder``, yielding each one's
    span as it is written (only one chunk's lines are held)."""
    from ..sources.inputs import read_pair_lines

    lines = read_pair_lines(path)
    for index in itertools.count():
        part = list(itertools.islice(lines, chunk_pairs))
        if not part:
            return
        out = chunk_stem(folder, index) + ".txt"
        with open(out, "w", encoding="utf-8", newline="\n") as fh:
            fh.writelines(f"{s} ||| {t}\n" for _, s, t in part)  # read back by split_pair
        yield Span(out, 0, part[0][0], len(part))


def _align_span(aligner: ChunkAligner, span: Span, index: int, out: str) -> tuple[int, float]:
    """Align one chunk (a worker task), read in batches; its links and scores go to
    ``out`` + ``.links`` / ``.scores``."""
    from ..sources.inputs import read_pair_lines

    lines = read_pair_lines(span.path, span.offset, span.first, span.pairs)

    def batches() -> Iterator[tuple[list[list[str]], list[list[str]]]]:
        while part := list(itertools.islice(lines, BATCH)):
            yield [s.split() for _, s, _ in part], [t.split() for _, _, t in part]

    return aligner.align_to_files(batches(), index, out)


def count_pairs(path: str) -> int:
    """The number of pairs in a ``src ||| tgt`` file, every line checked."""
    from ..sources.inputs import pair_line_offsets, read_pair_lines

    scan = pair_line_offsets(path, 1 << 62)
    return scan[0] if scan is not None else sum(1 for _ in read_pair_lines(path))


def sample_pairs(path: str, sample: int, seed: int, total: int, chunk_pairs: int = CHUNK_PAIRS,
                 size: int = 2000) -> Iterator[tuple[list[list[str]], list[list[str]], list[int]]]:
    """The seeded priors sample of a ``src ||| tgt`` file (:func:`lines_in_sample`), in
    batches of (source tokens, target tokens, chunk of each pair); only the sampled lines
    are decoded."""
    from ..sources.inputs import iter_lines, pair_of

    share = sample_share(total, sample)
    src: list[list[str]] = []
    tgt: list[list[str]] = []
    groups: list[int] = []
    picked: list[bool] = []
    for n, raw in iter_lines(path):
        if (n - 1) % SAMPLE_BLOCK == 0:
            picked = lines_in_sample(seed, n, SAMPLE_BLOCK, share).tolist()
        if picked[(n - 1) % SAMPLE_BLOCK]:
            s, t = pair_of(path, n, raw)
            src.append(s.split())
            tgt.append(t.split())
            groups.append((n - 1) // chunk_pairs)
            if len(src) == size:
                yield src, tgt, groups
                src, tgt, groups = [], [], []
    if src:
        yield src, tgt, groups


class Progress:
    """One stderr line per finished chunk: pairs done, pairs/s, ETA (silent if disabled)."""

    def __init__(self, total: int, chunks: int, enabled: bool):
        self.total, self.chunks, self.enabled = total, chunks, enabled
        self.done = self.n = 0
        self.start = time.perf_counter()

    def chunk(self, index: int, pairs: int, seconds: float) -> None:
        self.done += pairs
        self.n += 1
        if not self.enabled:
            return
        rate = self.done / max(time.perf_counter() - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate else math.inf
        print(f"chunk {index + 1}/{self.chunks}: {pairs:,} pairs in {seconds:.1f} s "
              f"({pairs / max(seconds, 1e-9):,.0f} pairs/s) | {self.done:,}/{self.total:,} pairs, "
              f"{rate:,.0f} pairs/s, ETA {eta:,.0f} s", file=sys.stderr, flush=True)


def align_lines_file(path: str, out_links: str, *, chunk_pairs: int = CHUNK_PAIRS,
                     priors_sample: int = PRIORS_SAMPLE, priors: str | None = None,
                     workers: int = 1, seed: int = 0, symmetrize: str = "vote", runs: int | None = None,
                     progress: bool = False, out_scores: str | None = None, priors_out: str | None = None,
                     extra: tuple[list, list] | None = None, **options) -> int:
    """Align a ``src ||| tgt`` file chunk by chunk (``workers`` processes, started at once
    so that they are ready when the priors are) and write one line of links per pair, in
    order (the output files appear, or are replaced, only when all is done: a failed or
    interrupted run leaves the previous ones as they were); return the number of pairs.
    ``priors``: a priors file or store table (see
    :func:`xlcorpus.align.priors_store.load_priors`); otherwise trained on a seeded sample
    of ``priors_sample`` pairs plus the ``extra`` pairs when there is more than one chunk
    (0: no shared priors)."""
    from ..engine.pool import Pool
    from .priors_store import load_priors

    total, spans = plan_spans(path, chunk_pairs)
    opts = chunk_options(runs, total, **options)
    with tempfile.TemporaryDirectory(prefix="xlc-align-") as tmp, \
            (Pool(workers, preload=(__name__,)) if workers > 1 else contextlib.nullcontext()) as pool:
        shared = None
        own: dict[int, Priors] = {}
        if priors:
            shared = load_priors(priors)
        elif priors_sample and total > chunk_pairs:
            t0 = time.perf_counter()
            seen = Counter()

            def batches():
                for b in itertools.chain(sample_pairs(path, priors_sample, seed, total, chunk_pairs),
                                         [extra] if extra else []):
                    seen["pairs"] += len(b[0])
                    yield b

            shared = train_priors(batches(), seed, opts["runs"], symmetrize, own=own,
                                  split_directions=workers > 1, pool=pool, **options)
            if progress:
                print(f"priors: trained on a sample of {seen['pairs']:,} pairs in "
                      f"{time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
        priors_path = None
        if shared is not None:
            priors_path = os.path.join(tmp, "priors")
            shared.write(priors_path)
            if priors_out:
                shared.write(priors_out)
            write_own(shared, own, tmp)
            own.clear()  # on disk now
        aligner = ChunkAligner(opts, priors_path, symmetrize, seed, total, own_dir=tmp)
        bar = Progress(total, max(1, math.ceil(total / chunk_pairs)), progress)
        tasks = ((aligner, span, index, chunk_stem(tmp, index)) for index, span in enumerate(spans(tmp)))
        results = pool.map(_align_span, tasks) if pool else itertools.starmap(_align_span, tasks)
        finals = [out_links] + ([out_scores] if out_scores else [])
        parts = [f"{f}.part-{os.getpid()}" for f in finals]  # beside the outputs: replaced when all is done
        try:
            with open(parts[0], "wb") as out, (open(parts[1], "wb") if out_scores else open(os.devnull, "wb")) as sc:
                for index, (n, seconds) in enumerate(results):
                    done = chunk_stem(tmp, index)
                    for dest, suffix in ((out, ".links"), (sc, ".scores")):
                        with open(done + suffix, "rb") as fh:
                            shutil.copyfileobj(fh, dest)
                        os.unlink(done + suffix)
                    if os.path.exists(done + ".txt"):  # a copied chunk (a compressed input)
                        os.unlink(done + ".txt")
                    bar.chunk(index, n, seconds)
            for part, final in zip(parts, finals):
                os.replace(part, final)
        finally:
            for part in parts:
                if os.path.exists(part):
                    os.unlink(part)
    return total
