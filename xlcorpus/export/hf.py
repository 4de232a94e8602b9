"""Export a table version as a Hugging Face Hub dataset folder, and push it.

The folder::

    DIR/
      README.md                                  dataset card (huggingface_hub DatasetCard): license
                                                  from the sources, citations, statistics, lineage
      data/<config>/train-00000-of-00002.parquet  one config per language (pair): the table's
                                                  partition values; shards of <= max_shard_mb;
                                                  the default config ``all`` reads them all

Partition columns stay inside the Parquet files (``datasets`` ignores hive folders) and
nested columns (spans, entity lists, alignments) keep their Arrow types.
``datasets.load_dataset(DIR, CONFIG)`` loads a config offline; ``--push`` uploads the
folder with ``huggingface_hub`` (token from ``HF_TOKEN`` or the HF login).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from .. import __version__
from ..errors import XlcorpusError
from ..schema import TableContract
from ..store import Store
from .provenance import METHODS, Provenance, provenance

MAX_SHARD_MB = 500
MARKER = ".xlcorpus-export"  # written into every exported folder; only such folders are replaced
SPLIT = "train"
ALL_CONFIG = "all"  # every row; the config ``load_dataset(DIR)`` loads
DEFAULT_CONFIG = ALL_CONFIG  # the only config of a table without partition columns
SPLIT_COLUMN = "split"  # a table with this column is exported with one split per value
# Hub task categories by table (a table not listed gets "other"; --task overrides).
TASKS: dict[str, list[str]] = {
    "bitext": ["translation"],
    "bitext_aligned": ["translation", "token-classification"],
    "align_codeswitched": ["translation", "token-classification"],
    "lexical_table": ["translation"],
    "projected": ["token-classification"],
    "entitycs": ["fill-mask", "token-classification"],
    "entitycs_masked": ["fill-mask"],
    "wiki_sentences": ["text-generation", "fill-mask"],
    "romanized": ["text2text-generation"],
    "igt": ["text2text-generation", "token-classification"],
}
SIZES = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
         (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
         (10_000_000_000, "1B<n<10B")]


class ExportError(XlcorpusError):
    """An export or push failed; the message says what to do."""


@dataclass
class Config:
    """One Hub config: the rows of one partition (language or language pair)."""

    name: str
    values: dict[str, Any]
    rows: int = 0
    files: list[str] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)  # rows per split


@dataclass
class Export:
    """What was written: the folder, the table version and its configs."""

    folder: Path
    table: str
    version: int
    configs: list[Config]

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.configs)


# ------------------------------------------------------------------ export
def resolve_version(store: Store, table: str, version: int | None, release: str | None) -> int:
    """The table version to export: ``version``, the release's version, or the latest."""
    store.read(table, version, release)  # clear errors for a bad table, version or release
    if release is not None:
        return store.releases()[release][table]
    return store.version(table) if version is None else version


def export_hf(store: Store, table: str, to: str | os.PathLike[str], version: int | None = None,
              release: str | None = None, license: str | None = None, tasks: list[str] | None = None,
              max_shard_mb: float = MAX_SHARD_MB, overwrite: bool = False,
              repo_id: str | None = None, split: str = SPLIT) -> Export:
    """Write ``table`` (at ``version`` / ``release`` / latest) as a Hub dataset folder ``to``.

    ``license`` defaults to the license of the table's sources (from its lineage, see
    :mod:`xlcorpus.export.provenance`); when that is unknown it must be given. Rows go to
    the split ``split``, or, when the table has a ``split`` column, to the split it names.

    The folder is built next to ``to`` and moved into place at the end: a failed export
    leaves no half-written folder. An existing non-empty ``to`` needs ``overwrite``, and is
    replaced only if an earlier export made it (see :func:`check_replaceable`).
    """
    dest = Path(to)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        if not overwrite:
            raise ExportError(f"{dest} exists and is not empty (pass --overwrite to replace it)")
        check_replaceable(dest, store)
    v = resolve_version(store, table, version, release)
    c = store.contract(table)
    data = store.read(table, v)
    lineage = [h for h in reversed(store.history(table)) if h["version"] <= v]
    prov = provenance(lineage)
    license = license or prov.license
    if not license:
        why = (f"its inputs {', '.join(prov.unknown_inputs)} are of no known source" if prov.unknown_inputs
               else "its sources' licenses do not combine into one" if prov.sources
               else "its lineage names no source")
        raise ExportError(f"{table} v{v}: the license is unknown ({why}): pass --license ID "
                          "(the license of the inputs, e.g. cc-by-4.0)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        configs = plan_configs(c, data)
        for cfg in configs:
            write_config(c, data, cfg, work, max_shard_mb, split)
        total = data.count_rows()
        if sum(cfg.rows for cfg in configs) != total:
            raise ExportError(f"{table} v{v}: exported {sum(cfg.rows for cfg in configs)} rows of {total}")
        result = Export(dest, table, v, configs)
        from ..stats.compute import render, table_stats

        stats = render(table_stats(store, table, v), "markdown")
        text = card(result, c, lineage, license, tasks, release, data, repo_id, prov, stats)
        (work / "README.md").write_text(text, encoding="utf-8")
        (work / MARKER).write_text(json.dumps({"table": table, "version": v}) + "\n", encoding="utf-8")
        if dest.exists():
            shutil.rmtree(dest)
        work.rename(dest)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def check_replaceable(dest: Path, store: Store) -> None:
    """Raise ExportError unless ``dest`` is a folder an export made (it holds the marker
    file) that is not, does not hold and is not inside the store, and is not the current,
    home or a filesystem root folder."""
    d = dest.resolve()
    guarded = [(Path.cwd().resolve(), "the current folder"), (Path.home().resolve(), "the home folder")]
    if store.is_local:
        guarded.append((Path(store.root).resolve(), f"the store {store.root}"))
    for folder, what in guarded:
        if d == folder or d in folder.parents or (what.startswith("the store") and folder in d.parents):
            raise ExportError(f"{dest}: refusing to replace it: it is, holds or lies in {what}")
    if d == Path(d.anchor) or os.path.ismount(d):
        raise ExportError(f"{dest}: refusing to replace a filesystem root")
    if not d.is_dir() or not (d / MARKER).is_file():
        raise ExportError(f"{dest}: refusing to replace it: it was not made by `xlcorpus export hf` "
                          f"(no {MARKER} file); remove it yourself or choose another --to")


def plan_configs(c: TableContract, data: pads.Dataset) -> list[Config]:
    """One config per distinct combination of the partition columns (only ``all`` if none)."""
    parts = list(c.partition_by)
    if not parts:
        return [Config(DEFAULT_CONFIG, {})]
    combos = data.to_table(columns=parts).group_by(parts).aggregate([]).sort_by([(p, "ascending") for p in parts])
    values = [dict(zip(parts, row)) for row in zip(*(combos.column(p).to_pylist() for p in parts))]
    names = ["-".join(str(x) for x in v.values()) for v in values]
    if len(set(names)) != len(names):  # e.g. ("a-b", "c") and ("a", "b-c")
        names = ["__".join(str(x) for x in v.values()) for v in values]
    return [Config(n, v) for n, v in zip(names, values)]


def _filter(values: dict[str, Any]):
    expr = None
    for col, val in values.items():
        term = pc.field(col) == val
        expr = term if expr is None else expr & term
    return expr


def write_config(c: TableContract, data: pads.Dataset, cfg: Config, root: Path, max_shard_mb: float,
                 split: str = SPLIT) -> None:
    """Write the config's rows as Parquet shards of at most ``max_shard_mb`` (Arrow size), per split."""
    folder = root / "data" / cfg.name
    folder.mkdir(parents=True)
    if SPLIT_COLUMN in c.names:
        col = data.to_table(columns=[SPLIT_COLUMN], filter=_filter(cfg.values)).column(SPLIT_COLUMN)
        splits = {str(v): pc.field(SPLIT_COLUMN) == v for v in sorted(pc.unique(col).to_pylist(), key=str)}
    else:
        splits = {split: None}
    for name, where in (splits or {split: None}).items():
        rows = cfg.rows
        _write_split(c, data, cfg, folder, root, max_shard_mb, name, where)
        cfg.splits[name] = cfg.rows - rows


def _write_split(c: TableContract, data: pads.Dataset, cfg: Config, folder: Path, root: Path,
                 max_shard_mb: float, split: str, where: Any) -> None:
    limit = max(1, int(max_shard_mb * 2**20))
    paths: list[Path] = []
    writer, size = None, 0
    try:
        for batch in _batches(c, data, cfg, where):
            per_row = max(1, batch.nbytes // batch.num_rows)
            done = 0
            while done < batch.num_rows:
                if writer is None or size >= limit:
                    if writer is not None:
                        writer.close()
                    paths.append(folder / f"{split}-{len(paths):05d}.parquet")
                    writer, size = pq.ParquetWriter(paths[-1], c.arrow_schema, compression="zstd"), 0
                take = min(batch.num_rows - done, max(1, (limit - size) // per_row))
                writer.write_batch(batch.slice(done, take))
                size += take * per_row
                done += take
            cfg.rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    if not paths:  # an empty table still gets a valid (empty) file
        paths.append(folder / f"{split}-00000.parquet")
        pq.write_table(c.arrow_schema.empty_table(), paths[0], compression="zstd")
    for i, p in enumerate(paths):
        final = p.with_name(f"{split}-{i:05d}-of-{len(paths):05d}.parquet")
        p.rename(final)
        cfg.files.append(final.relative_to(root).as_posix())


def _batches(c: TableContract, data: pads.Dataset, cfg: Config, where: Any = None) -> Iterator[pa.RecordBatch]:
    """The config's rows in contract order and types, in batches of at most 64k rows."""
    expr = _filter(cfg.values)
    expr = where if expr is None else expr if where is None else expr & where
    for batch in data.to_batches(filter=expr, batch_size=64 * 1024):
        if batch.num_rows:
            yield c.validate(_plain(batch, c))


def _plain(batch: pa.RecordBatch, c: TableContract) -> pa.RecordBatch:
    """Undo reader encodings (dictionary-encoded partition columns) to the contract types."""
    cols = []
    for name in batch.schema.names:
        col = batch.column(name)
        if pa.types.is_dictionary(col.type):
            col = col.cast(c.field(name).type) if name in c.names else col.dictionary_decode()
        cols.append(col)
    return pa.RecordBatch.from_arrays(cols, names=batch.schema.names)


# -------------------------------------------------------------------- card
def size_category(rows: int) -> str:
    for bound, name in SIZES:
        if rows < bound:
            return name
    return "n>1T"


def languages(c: TableContract, configs: list[Config], data: pads.Dataset) -> list[str]:
    """Language codes of the table: its ``*lang`` partition values, else its ``*lang`` columns."""
    import langcodes

    cols = [n for n in c.names if n == "lang" or n.endswith("_lang")]
    found: set[str] = set()
    for cfg in configs:
        found |= {str(v) for k, v in cfg.values.items() if k in cols}
    for col in cols:
        if col not in c.partition_by and c.field(col).type == pa.string():
            found |= {v for v in pc.unique(data.to_table(columns=[col]).column(col)).to_pylist() if v}
    return sorted(code for code in found if langcodes.tag_is_valid(code))


# Tables without a language column whose language is fixed by the pipeline.
TABLE_LANGUAGES: dict[str, list[str]] = {"transliterated": ["mt"]}
TRANSLATION_TABLES = {"bitext", "bitext_aligned", "lexical_table", "projected"}


def multilinguality(table: str, c: TableContract, langs: list[str]) -> str:
    if table in TRANSLATION_TABLES or {"src", "tgt", "src_lang", "tgt_lang"} <= set(c.names):
        return "translation"
    return "multilingual" if len(langs) > 1 else "monolingual"


def card_data(exp: Export, c: TableContract, license: str, tasks: list[str] | None, data: pads.Dataset,
              prov: Provenance) -> Any:
    """The card's metadata as ``huggingface_hub.DatasetCardData`` (validated field names)."""
    try:
        from huggingface_hub import DatasetCardData
    except ImportError as exc:
        raise ExportError("the dataset card needs huggingface_hub: pip install 'xlcorpus[hf]'") from exc
    langs = languages(c, exp.configs, data) or TABLE_LANGUAGES.get(exp.table, [])
    splits = sorted({s for cfg in exp.configs for s in cfg.splits})
    configs = [{"config_name": ALL_CONFIG, "default": True,
                "data_files": [{"split": sp, "path": f"data/*/{sp}-*.parquet"} for sp in splits]}]
    configs += [{"config_name": cfg.name,
                 "data_files": [{"split": sp, "path": f"data/{cfg.name}/{sp}-*.parquet"} for sp in cfg.splits]}
                for cfg in exp.configs if cfg.name != ALL_CONFIG]
    return DatasetCardData(
        license=license, language=langs or None, multilinguality=multilinguality(exp.table, c, langs),
        task_categories=tasks or TASKS.get(exp.table, ["other"]), size_categories=[size_category(exp.rows)],
        source_datasets=[s.dataset for s in prov.sources] or ["original"],
        pretty_name=f"xlcorpus {exp.table} v{exp.version}", tags=["xlcorpus", exp.table], configs=configs)


def card(exp: Export, c: TableContract, lineage: list[dict[str, Any]], license: str,
         tasks: list[str] | None, release: str | None, data: pads.Dataset,
         repo_id: str | None = None, prov: Provenance | None = None, stats: str = "") -> str:
    """The README.md dataset card: YAML metadata, then schema, counts, statistics, lineage, citations."""
    from huggingface_hub import DatasetCard

    prov = prov or provenance(lineage)
    meta = card_data(exp, c, license, tasks, data, prov)
    first = exp.configs[0].name
    where = f"release `{release}` (version {exp.version})" if release else f"version {exp.version}"
    lines = [
        f"# xlcorpus `{exp.table}` ({where})", "",
        c.description, "",
        f"Exported by xlcorpus {__version__} from the Delta table `{exp.table}` at {where}: "
        f"{exp.rows:,} rows in {len(exp.configs)} config(s).", "",
        "## Load it", "",
        "```python",
        "from datasets import load_dataset",
        "",
        f'ds = load_dataset("{repo_id or "<this folder or repo id>"}")  # config "{ALL_CONFIG}": every row',
        f'one = load_dataset("{repo_id or "<this folder or repo id>"}", "{first}")',
        "```", "",
        "## License and sources", "",
        f"License: `{license}`" + (f", from the sources: {', '.join(f'{s.name} ({s.license})' for s in prov.sources)}"
                                   if prov.sources else " (given at export)") + ".", "",
        "## Configs", "",
        f"`{ALL_CONFIG}` (the default) holds every row; one config per value of the partition columns:", "",
        "| config | " + " | ".join(c.partition_by or ["-"]) + " | rows | splits | files |",
        "|---|" + "---|" * max(1, len(c.partition_by)) + "---|---|---|",
    ]
    for cfg in exp.configs:
        vals = " | ".join(f"`{cfg.values[p]}`" for p in c.partition_by) or "-"
        per = ", ".join(f"{k} {n:,}" for k, n in cfg.splits.items())
        lines.append(f"| `{cfg.name}` | {vals} | {cfg.rows:,} | {per} | {len(cfg.files)} |")
    lines += ["", "## Schema", "",
              f"From the table contract `schemas/{c.source}` (partition columns are kept in the files).", "",
              "| field | type | nullable | meaning |", "|---|---|---|---|"]
    for f in c.fields:
        lines.append(f"| `{f.name}` | `{f.type_text}` | {'yes' if f.nullable else 'no'} | "
                     f"{f.doc.replace('|', chr(92) + '|')} |")
    if stats:
        lines += ["", "## Statistics", "", "Computed by `xlcorpus stats` over the exported version:", "",
                  stats.split("\n", 1)[1].replace("\n### ", "\n#### ").strip()]
    lines += ["", "## Lineage", "",
              f"The commits that built version {exp.version} (oldest first), from the table history "
              "(input paths shown by file name):", ""]
    for h in lineage:
        lines.append(f"### v{h['version']}: {h.get('operation', '-')} "
                     f"({_when(h.get('timestamp'))})")
        lines.append("")
        for key in ("pipeline", "step", "engine", "run_id", "rows", "library_version"):
            if h.get(key) is not None:
                lines.append(f"- {key}: `{h[key]}`")
        for key in ("params", "inputs"):
            if h.get(key):
                lines += [f"- {key}:", "", "```json", json.dumps(_no_paths(h[key]), indent=2, sort_keys=True,
                                                                 ensure_ascii=False, default=str), "```"]
        lines.append("")
    bib = [METHODS[m] for m in prov.methods] + [s.bibtex for s in prov.sources]
    if bib:
        lines += ["## Citation", "", "Please cite the methods and sources this table was built with:", "",
                  "```bibtex", "\n\n".join(bib), "```"]
    text = f"---\n{meta.to_yaml()}\n---\n\n" + "\n".join(lines).rstrip() + "\n"
    return str(DatasetCard(text))


def _no_paths(value: Any) -> Any:
    """Absolute local paths reduced to file names: a public card should not show local folders."""
    if isinstance(value, dict):
        return {k: _no_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_paths(v) for v in value]
    if isinstance(value, str) and value.startswith("/") and "://" not in value:
        return Path(value).name
    return value


def _when(ts: Any) -> str:
    if isinstance(ts, (int, float)):
        import datetime as dt

        return dt.datetime.fromtimestamp(ts / 1000, dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return str(ts or "-")


# -------------------------------------------------------------------- push
def push_hf(folder: str | os.PathLike[str], repo_id: str, private: bool = False,
            message: str | None = None) -> str:
    """Upload ``folder`` to the dataset repo ``repo_id``; return the commit URL.

    The token comes from ``HF_TOKEN`` or the stored HF login and never appears in messages.
    Offline or unreachable Hub: an :class:`ExportError` saying so; the folder is untouched.
    """
    token = os.environ.get("HF_TOKEN") or None
    try:
        from huggingface_hub import HfApi
    except ImportError as exc:
        raise ExportError("pushing needs huggingface_hub: pip install 'xlcorpus[hf]'") from exc
    try:
        api = HfApi(token=token)
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset",
                                 ignore_patterns=[MARKER],
                                 commit_message=message or "Upload with xlcorpus export hf")
    except Exception as exc:  # noqa: BLE001 - every failure becomes one clear message
        raise ExportError(f"could not push {folder} to the Hub dataset {repo_id!r}: {_reason(exc, token)}; "
                          f"the folder is complete and unchanged: push it again when online") from None
    return str(getattr(info, "commit_url", info))


def _reason(exc: BaseException, token: str | None) -> str:
    """What went wrong, from the exception's type (``huggingface_hub.errors``, httpx)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    name = type(exc).__name__
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, OfflineModeIsEnabled):
        text = "offline mode is on (HF_HUB_OFFLINE=1)"
    elif isinstance(exc, (*_transport_errors(), ConnectionError, TimeoutError)):
        text = f"the Hub cannot be reached ({name}: {exc})"
    elif isinstance(exc, LocalTokenNotFoundError) or (isinstance(exc, HfHubHTTPError) and status == 401):
        text = "not logged in or the token is not valid (set HF_TOKEN or run `hf auth login`)"
    else:
        text = f"{name}: {exc}"
    if token:
        text = text.replace(token, "***")
    return text.splitlines()[0] if text else name


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Network failures of the HTTP client huggingface_hub uses (``httpx``, or its fork
    ``httpx2`` in newer releases): whichever is installed."""
    import importlib

    out = []
    for name in ("httpx2", "httpx"):
        try:
            out.append(importlib.import_module(name).TransportError)
        except (ImportError, AttributeError):
            continue
    return tuple(out)

