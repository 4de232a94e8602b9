"""The chunked eflomal steps of the ``bitext-align`` pipeline.

- ``priors`` (when the language pair has more than one chunk, or ``priors`` names a set):
  priors trained once on a seeded sample of ``priors_sample`` pairs (:func:`in_sample` on
  the pair id, plus any extra bitext), or imported from a file or store table, committed to
  ``align_priors`` under a ``priors_id``: a versioned artefact named in the lineage
  (``params`` of every ``bitext_aligned`` row) that a later corpus can reuse
  (``priors: STORE/align_priors@V``).
- ``align``: :class:`ChunkedAlignSource`. When the step runs, the driver streams the
  language pair's rows of ``bitext`` (in batches, in table order) into chunk input files of
  ``chunk_pairs`` rows and writes the priors file; each chunk is then one part
  (:class:`ChunkPart`) that a worker (local process pool or Ray task) tokenizes batch by
  batch into eflomal's input files on disk, aligns, and turns into ``bitext_aligned`` rows,
  written by the worker to its own part files.

Resuming: the chunk folder lives in the store (``_align/<fingerprint of the step's input and
settings>/``) and survives a crash; a finished chunk leaves ``aligned-N.parquet`` there
(renamed into place when complete), so a rerun of the step reads it back instead of aligning
the chunk again, and the links of a chunk that is aligned again are the same (seeded per
chunk). The engine's step commit (with its app transaction) adds everything at once; the
``lexical`` step that follows removes the folder.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..engine.core import Source
from ..ids import params_fingerprint
from ..schema import contract
from .chunked import ChunkAligner, ChunkFiles, in_sample, sample_share
from .lexical import LexicalTable
from .priors_store import priors_rows, read_set

ALIGNED_BATCH = 2000
INPUT_COLUMNS = ["id", "src_lang", "tgt_lang", "src", "tgt", "source", "line"]
LINK_COLUMNS = ("alignment", "scores", "forward", "reverse")


@dataclass(frozen=True)
class ChunkPlan:
    """Everything a worker needs to align chunks (small and picklable)."""

    store: object                 # StoreRef
    src_lang: str
    tgt_lang: str
    pretokenized: bool
    folder: str                   # the durable chunk folder
    chunk_pairs: int
    aligner: ChunkAligner
    params: dict                  # recorded in every row (and its id)
    priors_id: str | None
    extra: tuple[list, list] | None = None  # extra pairs, trained with a single chunk

    def language_filter(self):
        return (pc.field("src_lang") == self.src_lang) & (pc.field("tgt_lang") == self.tgt_lang)

    def path(self, name: str) -> Path:
        return Path(self.folder) / name


def count_pairs(store, src_lang: str, tgt_lang: str) -> int:
    """Rows of ``bitext`` for a language pair (0 without the table)."""
    st = store.open() if hasattr(store, "open") else store
    if not st.exists("bitext"):
        return 0
    return st.read("bitext").count_rows(filter=(pc.field("src_lang") == src_lang) & (pc.field("tgt_lang") == tgt_lang))


def bitext_batches(store, src_lang: str, tgt_lang: str, size: int = ALIGNED_BATCH) -> Iterator[pa.RecordBatch]:
    st = store.open() if hasattr(store, "open") else store
    flt = (pc.field("src_lang") == src_lang) & (pc.field("tgt_lang") == tgt_lang)
    yield from st.read("bitext").to_batches(filter=flt, columns=INPUT_COLUMNS, batch_size=size)


def sample_batches(store, src_lang: str, tgt_lang: str, pretokenized: bool, sample: int, seed: int,
                   extra: tuple[list, list] | None, chunk_pairs: int) -> Iterator[tuple]:
    """The priors sample as token lists, batch by batch: pairs whose id :func:`in_sample`
    picks, with the chunk each falls in (rows are read in the order the ``align`` step
    cuts its chunks), then the extra pairs (in no chunk)."""
    from .pipeline import tokenize_batch

    share = sample_share(count_pairs(store, src_lang, tgt_lang), sample)
    position = 0
    for batch in bitext_batches(store, src_lang, tgt_lang):
        keep = [in_sample(seed, i, share) for i in batch.column("id").to_pylist()]
        groups = [(position + k) // chunk_pairs for k, ok in enumerate(keep) if ok]
        position += batch.num_rows
        picked = batch.filter(pa.array(keep, pa.bool_()))
        if picked.num_rows:
            src, tgt = tokenize_batch(picked, src_lang, tgt_lang, pretokenized)
            yield [s.tokens for s in src], [t.tokens for t in tgt], groups
    if extra is not None:
        yield extra


@dataclass(frozen=True)
class PriorsTraining:
    """The ``priors`` step's reader: ``train(store, plan, split_directions)`` read whole, as
    one part, so that with more than one engine worker eflomal's two directions run at once."""

    train: Callable[..., Iterator[pa.Table]]
    store: object
    plan: ChunkPlan

    def parts(self, workers: int = 1) -> list[Callable[[], Iterator[pa.Table]]]:
        return [functools.partial(self.train, self.store, self.plan, workers > 1)]

    def __iter__(self) -> Iterator[pa.Table]:
        return iter(self.train(self.store, self.plan, False))


class ChunkedAlignSource(Source):
    """The ``align`` step's source: chunks of a language pair as parts (see the module doc)."""

    def __init__(self, plan: ChunkPlan):
        self.plan = plan

    def describe(self) -> str:
        return (f"bitext {self.plan.src_lang}-{self.plan.tgt_lang} in chunks of {self.plan.chunk_pairs:,} pairs "
                f"(priors {self.plan.priors_id or 'none'})")

    def parts(self, workers: int = 1) -> list["ChunkPart"]:
        n = self._prepare()
        return [ChunkPart(self.plan, i, n) for i in range(n)]

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        for part in self.parts():
            yield from part()

    def _prepare(self) -> int:
        """Split the bitext into chunk input files and write the priors file, once."""
        plan = self.plan
        marker = plan.path("chunks.json")
        if marker.exists():
            return json.loads(marker.read_text())["chunks"]
        folder = Path(plan.folder)
        folder.mkdir(parents=True, exist_ok=True)
        if plan.priors_id is not None:
            priors, _ = read_set(plan.store.open(), plan.priors_id)
            tmp = plan.path("priors.tmp")
            priors.write(tmp)
            os.replace(tmp, plan.path("priors"))
        n_chunks, total, writer = 0, 0, None
        schema = None
        for batch in bitext_batches(plan.store, plan.src_lang, plan.tgt_lang):
            schema = schema or batch.schema
            while batch.num_rows:
                if writer is None:
                    writer = pq.ParquetWriter(plan.path(f"input-{n_chunks:05d}.parquet"), batch.schema)
                    in_chunk = 0
                take = min(batch.num_rows, plan.chunk_pairs - in_chunk)
                writer.write_batch(batch.slice(0, take))
                in_chunk += take
                total += take
                batch = batch.slice(take)
                if in_chunk == plan.chunk_pairs:
                    writer.close()
                    writer, n_chunks = None, n_chunks + 1
        if writer is not None:
            writer.close()
            n_chunks += 1
        tmp = plan.path("chunks.json.tmp")
        tmp.write_text(json.dumps({"chunks": n_chunks, "pairs": total, "started": time.time()}))
        os.replace(tmp, marker)
        return n_chunks


@dataclass(frozen=True)
class ChunkPart:
    """One chunk: read back if a finished file is there, else aligned and saved first."""

    plan: ChunkPlan
    index: int
    chunks: int

    @property
    def done_path(self) -> Path:
        return self.plan.path(f"aligned-{self.index:05d}.parquet")

    def __call__(self) -> Iterator[pa.RecordBatch]:
        if not self.done_path.exists():
            self._align()
        yield from pq.ParquetFile(self.done_path).iter_batches(batch_size=ALIGNED_BATCH)

    def _align(self) -> None:
        from .pipeline import aligned_rows, tokenize_batch

        plan, t0 = self.plan, time.perf_counter()
        aligner = plan.aligner
        if plan.priors_id is not None:
            aligner = ChunkAligner(aligner.options, str(plan.path("priors")), aligner.symmetrize, aligner.seed,
                                   aligner.corpus_pairs, own_dir=plan.folder)
        pending: list[tuple[pa.RecordBatch, tuple[list[int], list[int]]]] = []
        with tempfile.TemporaryDirectory(prefix=f"xlc-chunk{self.index}-") as tmp:
            with ChunkFiles(tmp, aligner.options.get("similarity_weight", 1.0)) as files:
                for batch in pq.ParquetFile(plan.path(f"input-{self.index:05d}.parquet")).iter_batches(ALIGNED_BATCH):
                    src, tgt = tokenize_batch(batch, plan.src_lang, plan.tgt_lang, plan.pretokenized)
                    st, tt = [s.tokens for s in src], [t.tokens for t in tgt]
                    files.add(st, tt)
                    empty = [[] for _ in st]
                    rows = aligned_rows(batch, src, tgt, empty, empty, "eflomal", aligner.symmetrize, plan.params,
                                        empty, empty)
                    pending.append((rows, ([len(s) for s in st], [len(t) for t in tt])))
                if plan.extra is not None:  # training only: lines after the chunk's, never read back
                    files.add(*plan.extra)
                    files.src_lens[len(files.src_lens) - len(plan.extra[0]):] = []
            runs = aligner.run(tmp, files, self.index)
            out = self.done_path.with_suffix(".tmp")
            writer = None
            counts: Counter = Counter()
            for (rows, _), links in zip(pending, aligner.combine(runs, [lens for _, lens in pending])):
                batch = with_links(rows, *links)
                count_links(batch, counts)
                writer = writer or pq.ParquetWriter(out, batch.schema)
                writer.write_batch(batch)
            keys = list(counts)
            pq.write_table(pa.table({"src": [k[0] for k in keys], "tgt": [k[1] for k in keys],
                                     "count": pa.array(list(counts.values()), pa.int64())}),
                           plan.path(f"counts-{self.index:05d}.parquet"))
            if writer is not None:
                writer.close()
                os.replace(out, self.done_path)
        pairs = sum(len(l[0]) for _, l in pending)
        self._report(pairs, time.perf_counter() - t0)

    def _report(self, pairs: int, seconds: float) -> None:
        """One progress line per chunk, with the whole run's pairs done, pairs/s and ETA."""
        info = json.loads(self.plan.path("chunks.json").read_text())
        done = len(list(Path(self.plan.folder).glob("aligned-*.parquet")))
        elapsed = max(time.time() - info["started"], 1e-9)
        pairs_done = min(info["pairs"], done * self.plan.chunk_pairs)
        rate = pairs_done / elapsed
        eta = (info["pairs"] - pairs_done) / rate if rate else 0.0
        line = (f"align chunk {self.index + 1}/{self.chunks}: {pairs:,} pairs in {seconds:.1f} s "
                f"({pairs / max(seconds, 1e-9):,.0f} pairs/s); {done}/{self.chunks} chunks, "
                f"~{pairs_done:,}/{info['pairs']:,} pairs, {rate:,.0f} pairs/s, ETA {eta:,.0f} s")
        with open(self.plan.path("progress.log"), "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"chunk": self.index, "pairs": pairs, "seconds": round(seconds, 3)}) + "\n")
        if os.environ.get("XLCORPUS_PROGRESS", "1" if sys.stderr.isatty() else "0") == "1":
            print(line, file=sys.stderr, flush=True)


def count_links(batch: pa.RecordBatch, counts: Counter) -> None:
    """Add the (lowercased) word pairs of the batch's links to ``counts``."""
    d = batch.select(["src_tokens", "tgt_tokens", "alignment"]).to_pydict()
    for s, t, al in zip(d["src_tokens"], d["tgt_tokens"], d["alignment"]):
        for x in al:
            counts[(s[x["s"]].lower(), t[x["t"]].lower())] += 1


def with_links(rows: pa.RecordBatch, links, forward, reverse, scores) -> pa.RecordBatch:
    """``rows`` with their link columns set."""
    t = pa.Table.from_batches([rows])
    values = {"alignment": links, "forward": forward, "reverse": reverse}
    for name in LINK_COLUMNS:
        i = t.schema.get_field_index(name)
        if name == "scores":
            arr = pa.array([[float(x) for x in sc] for sc in scores], t.schema.field(i).type)
        else:
            arr = pa.array([[{"s": s, "t": u} for s, u in ls] for ls in values[name]], t.schema.field(i).type)
        t = t.set_column(i, t.schema.field(i), arr)
    return contract("bitext_aligned").validate(t.combine_chunks().to_batches()[0])


def priors_table(priors, priors_id: str, src_lang: str, tgt_lang: str) -> pa.Table:
    return pa.Table.from_batches([priors_rows(priors, priors_id, src_lang, tgt_lang)])


def lexical_rows(store, plan: ChunkPlan, method: str, params: str, min_count: int) -> Iterator[pa.Table]:
    """``lexical_table`` rows merged from the per-chunk link counts the chunks left in
    their folder (removed then), or, when the folder is gone, counted from this run's
    ``bitext_aligned`` rows in batches (memory holds the counts, not the rows)."""
    marker = plan.path("chunks.json")
    counts = merged_counts(plan.folder, json.loads(marker.read_text())["chunks"]) if marker.exists() else None
    if counts is None:
        counts = Counter()
        flt = plan.language_filter() & (pc.field("method") == method) & (pc.field("params") == params)
        for batch in store.open().read("bitext_aligned").to_batches(
                filter=flt, columns=["src_tokens", "tgt_tokens", "alignment"], batch_size=ALIGNED_BATCH):
            count_links(batch, counts)
    shutil.rmtree(plan.folder, ignore_errors=True)
    if counts:
        yield pa.Table.from_batches([contract("lexical_table").batch(
            LexicalTable.from_counts(counts).rows(plan.src_lang, plan.tgt_lang, min_count))])

def priors_id_for(spec: dict) -> str:
    """The id of a priors set: a fingerprint of how it was made."""
    return "p" + params_fingerprint(spec)[:15]


def merged_counts(folder: str, chunks: int) -> Counter | None:
    """The link counts of every chunk, merged (None when a chunk's counts are missing)."""
    counts: Counter = Counter()
    for i in range(chunks):
        path = Path(folder) / f"counts-{i:05d}.parquet"
        if not path.exists():
            return None
        d = pq.read_table(path).to_pydict()
        counts.update(dict(zip(zip(d["src"], d["tgt"]), d["count"])))
    return counts
