"""Table contracts: load ``schemas/*.yaml``, build Arrow schemas, validate batches.

A contract file describes one table::

    table: bitext
    description: one line
    partition_by: [src_lang, tgt_lang]
    fields:
      - {name: id, type: string, nullable: false, doc: stable id}
      - {name: spans, type: "list<struct<start:int32, end:int32, label:string>>", doc: ...}

Types use a small grammar close to Arrow's own names: ``string``, ``int8..int64``,
``uint8..uint64``, ``float32``, ``float64``, ``bool``, ``binary``, ``date32``,
``timestamp[us]``, ``timestamp[us, UTC]``, ``list<T>``, ``struct<name:T, ...>``,
``map<K, V>``. Nested children are nullable.

Every table named ``<base>_rejects`` uses the shared ``_rejects`` contract.

User tables: :func:`load_schemas_dir` registers the contracts of a user folder (same format),
:func:`register` one contract (e.g. derived from a stage's declared output with
:func:`derive`); :func:`contract` then finds them like the built-in ones. A store keeps the
contract of each user table it holds (``STORE/_contracts/``, see
:meth:`~xlcorpus.store.Store.contract`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pyarrow as pa
import yaml

from .errors import SchemaError

_SIMPLE: dict[str, pa.DataType] = {
    "string": pa.string(),
    "large_string": pa.large_string(),
    "binary": pa.binary(),
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "date32": pa.date32(),
}

_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|<|>|,|:|\[|\])")
TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
REJECTS_SUFFIX = "_rejects"


def parse_type(text: str) -> pa.DataType:
    """Parse a contract type string (``list<struct<s:int32,t:int32>>``) into an Arrow type."""
    tokens = _tokenize(text)
    dtype, pos = _parse(tokens, 0, text)
    if pos != len(tokens):
        raise SchemaError(f"type {text!r}: unexpected {tokens[pos]!r} after a complete type")
    return dtype


def _tokenize(text: str) -> list[str]:
    out, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise SchemaError(f"type {text!r}: cannot read from {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def _expect(tokens: list[str], pos: int, want: str, text: str) -> int:
    if pos >= len(tokens) or tokens[pos] != want:
        got = tokens[pos] if pos < len(tokens) else "end of text"
        raise SchemaError(f"type {text!r}: expected {want!r}, found {got!r}")
    return pos + 1


def _parse(tokens: list[str], pos: int, text: str) -> tuple[pa.DataType, int]:
    if pos >= len(tokens):
        raise SchemaError(f"type {text!r}: ends early")
    name = tokens[pos]
    pos += 1
    if name in _SIMPLE:
        return _SIMPLE[name], pos
    if name == "list":
        pos = _expect(tokens, pos, "<", text)
        item, pos = _parse(tokens, pos, text)
        return pa.list_(item), _expect(tokens, pos, ">", text)
    if name == "map":
        pos = _expect(tokens, pos, "<", text)
        key, pos = _parse(tokens, pos, text)
        pos = _expect(tokens, pos, ",", text)
        value, pos = _parse(tokens, pos, text)
        return pa.map_(key, value), _expect(tokens, pos, ">", text)
    if name == "struct":
        pos = _expect(tokens, pos, "<", text)
        fields = []
        while True:
            fname = tokens[pos]
            pos = _expect(tokens, pos + 1, ":", text)
            ftype, pos = _parse(tokens, pos, text)
            fields.append(pa.field(fname, ftype))
            if tokens[pos] == ",":
                pos += 1
                continue
            pos = _expect(tokens, pos, ">", text)
            return pa.struct(fields), pos
    if name == "timestamp":
        pos = _expect(tokens, pos, "[", text)
        unit = tokens[pos]
        pos += 1
        tz = None
        if tokens[pos] == ",":
            tz = tokens[pos + 1]
            pos += 2
        return pa.timestamp(unit, tz=tz), _expect(tokens, pos, "]", text)
    raise SchemaError(f"type {text!r}: unknown type name {name!r}")


def format_type(dtype: pa.DataType) -> str:
    """The contract spelling of an Arrow type (inverse of :func:`parse_type`)."""
    for name, simple in _SIMPLE.items():
        if dtype == simple:
            return name
    if pa.types.is_list(dtype):
        return f"list<{format_type(dtype.value_type)}>"
    if pa.types.is_map(dtype):
        return f"map<{format_type(dtype.key_type)}, {format_type(dtype.item_type)}>"
    if pa.types.is_struct(dtype):
        inner = ", ".join(f"{f.name}:{format_type(f.type)}" for f in dtype)
        return f"struct<{inner}>"
    if pa.types.is_timestamp(dtype):
        return f"timestamp[{dtype.unit}{', ' + dtype.tz if dtype.tz else ''}]"
    return str(dtype)


@dataclass(frozen=True)
class Field:
    name: str
    type: pa.DataType
    nullable: bool
    doc: str

    @property
    def type_text(self) -> str:
        return format_type(self.type)


@dataclass(frozen=True)
class TableContract:
    """One table's contract: fields, partition columns and meaning."""

    name: str
    description: str
    fields: tuple[Field, ...]
    partition_by: tuple[str, ...]
    source: str

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.type, nullable=f.nullable) for f in self.fields])

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise SchemaError(f"table {self.name!r} has no field {name!r}")

    def validate(self, batch: pa.RecordBatch | pa.Table) -> pa.RecordBatch | pa.Table:
        """Check ``batch`` against the contract; return it with columns in contract order.

        Raises :class:`SchemaError` naming the table, the field, what was expected and what
        was found, for a missing or unknown column, a wrong type or a null in a non-null field.
        """
        present = set(batch.schema.names)
        for f in self.fields:
            if f.name not in present:
                raise SchemaError(
                    f"table {self.name!r}: field {f.name!r} is missing "
                    f"(expected {f.type_text}; found columns {sorted(present)})"
                )
        extra = present - set(self.names)
        if extra:
            raise SchemaError(
                f"table {self.name!r}: unexpected field(s) {sorted(extra)} "
                f"(expected only {self.names})"
            )
        for f in self.fields:
            found = batch.schema.field(f.name).type
            if not found.equals(f.type):
                raise SchemaError(
                    f"table {self.name!r}: field {f.name!r} has the wrong type: "
                    f"expected {f.type_text}, found {format_type(found)}"
                )
            if not f.nullable:
                nulls = batch.column(f.name).null_count
                if nulls:
                    raise SchemaError(
                        f"table {self.name!r}: field {f.name!r} is not nullable: "
                        f"expected no nulls, found {nulls} null(s)"
                    )
        columns = [batch.column(n) for n in self.names]
        if isinstance(batch, pa.Table):
            return pa.Table.from_arrays(columns, schema=self.arrow_schema)
        return pa.RecordBatch.from_arrays(columns, schema=self.arrow_schema)

    def batch(self, rows: dict[str, Iterable[Any]] | list[dict[str, Any]]) -> pa.RecordBatch:
        """Build a validated batch from columns (dict of lists) or rows (list of dicts)."""
        if isinstance(rows, list):
            cols: dict[str, list[Any]] = {n: [r.get(n) for r in rows] for n in self.names}
        else:
            cols = {n: list(rows.get(n, ())) for n in self.names}
            lengths = {len(v) for v in cols.values()}
            if len(lengths) > 1:
                raise SchemaError(f"table {self.name!r}: columns have different lengths {lengths}")
        arrays = []
        for f in self.fields:
            try:
                arrays.append(pa.array(cols[f.name], type=f.type))
            except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, OverflowError) as exc:
                raise SchemaError(
                    f"table {self.name!r}: field {f.name!r}: cannot build {f.type_text}: {exc}"
                ) from exc
        out = pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)
        return self.validate(out)

    def empty(self) -> pa.RecordBatch:
        return pa.RecordBatch.from_pylist([], schema=self.arrow_schema)


def schemas_dir() -> Path:
    """Where the contracts live: inside the wheel, or ``schemas/`` of a source checkout."""
    from .resources import shipped_dir

    return shipped_dir("schemas")


def read_yaml_mapping(path: Path, allowed: set[str], error: type[Exception] = SchemaError) -> dict:
    """A YAML file whose top level is a mapping with only ``allowed`` keys; errors name the file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: invalid YAML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise error(f"{path}: not UTF-8 text (invalid byte at offset {exc.start})") from None
    if not isinstance(doc, dict):
        raise error(f"{path}: expected a mapping with keys {sorted(allowed)}")
    unknown = set(doc) - allowed
    if unknown:
        raise error(f"{path}: unknown key(s) {sorted(unknown)} (allowed: {sorted(allowed)})")
    return doc


CONTRACT_KEYS = {"table", "description", "partition_by", "fields"}


def _load_file(path: Path) -> TableContract:
    return _parse_contract(read_yaml_mapping(path, CONTRACT_KEYS), path, path.name)


def _parse_contract(doc: dict, path: Any, source: str) -> TableContract:
    name = doc.get("table")
    if not isinstance(name, str) or not (TABLE_NAME.match(name) or name == "_rejects"):
        raise SchemaError(f"{path}: 'table' must be a valid table name, found {name!r}")
    fields = []
    for i, raw in enumerate(doc.get("fields") or []):
        if not isinstance(raw, dict) or "name" not in raw or "type" not in raw:
            raise SchemaError(f"{path}: fields[{i}] needs 'name' and 'type'")
        bad = set(raw) - {"name", "type", "nullable", "doc"}
        if bad:
            raise SchemaError(f"{path}: fields[{i}] ({raw['name']}): unknown key(s) {sorted(bad)}")
        try:
            dtype = parse_type(str(raw["type"]))
        except SchemaError as exc:
            raise SchemaError(f"{path}: field {raw['name']!r}: {exc}") from exc
        fields.append(Field(raw["name"], dtype, bool(raw.get("nullable", True)), raw.get("doc", "")))
    names = [f.name for f in fields]
    if "id" not in names or next(f for f in fields if f.name == "id").nullable:
        raise SchemaError(f"{path}: every table needs a non-null 'id' field")
    if len(set(names)) != len(names):
        raise SchemaError(f"{path}: duplicate field names")
    partition_by = tuple(doc.get("partition_by") or ())
    for p in partition_by:
        if p not in names:
            raise SchemaError(f"{path}: partition column {p!r} is not a field")
    return TableContract(name, doc.get("description", ""), tuple(fields), partition_by, source)


@functools.lru_cache(maxsize=1)
def contracts() -> dict[str, TableContract]:
    """All contracts by table name (``_rejects`` is the template of ``*_rejects`` tables)."""
    out = {}
    for path in sorted(schemas_dir().glob("*.yaml")):
        c = _load_file(path)
        if c.name in out:
            raise SchemaError(f"{path}: table {c.name!r} is defined twice")
        out[c.name] = c
    return out


_USER: dict[str, TableContract] = {}


def register(c: TableContract) -> TableContract:
    """Make a user table's contract known to :func:`contract` in this process.

    Registering the same contract twice is a no-op; a different contract for a built-in or
    already registered table name is a :class:`SchemaError`.
    """
    check_name(c.name)
    known = contracts().get(c.name) or _USER.get(c.name)
    if known is not None and not same_contract(known, c):
        where = "a built-in table" if c.name in contracts() else f"already defined by {known.source}"
        raise SchemaError(f"{c.source}: table {c.name!r} is {where} with other fields or partitions")
    if c.name not in contracts():
        _USER[c.name] = c
    return contracts().get(c.name) or c


def same_contract(a: TableContract, b: TableContract) -> bool:
    """Same fields (names, types, nullability) and partition columns; docs may differ."""
    return ([(f.name, f.type, f.nullable) for f in a.fields] == [(f.name, f.type, f.nullable) for f in b.fields]
            and a.partition_by == b.partition_by)


def user_contracts() -> dict[str, TableContract]:
    """The user contracts registered in this process, by table name."""
    return dict(_USER)


def load_file(path: Path) -> TableContract:
    """One contract file (``schemas/*.yaml`` format)."""
    return _load_file(path)


def load_schemas_dir(folder: str | Path) -> list[TableContract]:
    """Register every ``*.yaml`` contract of a user folder; return them."""
    root = Path(folder)
    if not root.is_dir():
        raise SchemaError(f"{root}: no such schemas folder")
    return [register(_parse_contract(read_yaml_mapping(p, CONTRACT_KEYS), p, str(p))) for p in sorted(root.glob("*.yaml"))]


def derive(name: str, base: TableContract, extra: Iterable[Field] = (), description: str | None = None,
           source: str = "derived") -> TableContract:
    """A contract named ``name`` with ``base``'s fields (and partitions) plus ``extra`` ones."""
    fields = (*base.fields, *extra)
    names = [f.name for f in fields]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SchemaError(f"table {name!r}: field(s) {dupes} defined twice (derived from {base.name!r})")
    return TableContract(check_name(name), description if description is not None else base.description,
                         fields, base.partition_by, source)


def check_name(name: str) -> str:
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        raise SchemaError(f"invalid table name {name!r}: 1-63 lowercase letters, digits and '_', "
                          "starting with a letter")
    return name


def to_yaml(c: TableContract) -> str:
    """The contract in the ``schemas/*.yaml`` format (read back by :func:`load_file`)."""
    doc = {"table": c.name, "description": c.description, "partition_by": list(c.partition_by),
           "fields": [{"name": f.name, "type": f.type_text, "nullable": f.nullable, "doc": f.doc}
                      for f in c.fields]}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def from_yaml_text(text: str, source: str) -> TableContract:
    """A contract from YAML text (a store's saved copy); errors name ``source``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SchemaError(f"{source}: invalid YAML: {exc}") from None
    if not isinstance(doc, dict) or set(doc) - CONTRACT_KEYS:
        raise SchemaError(f"{source}: expected a mapping with keys {sorted(CONTRACT_KEYS)}")
    return _parse_contract(doc, source, source)


def contract(table: str) -> TableContract:
    """The contract of ``table`` (built-in or registered); ``X_rejects`` gets the shared
    rejects contract."""
    all_ = {**_USER, **contracts()}
    if table in all_:
        return all_[table]
    if table.endswith(REJECTS_SUFFIX) and table[: -len(REJECTS_SUFFIX)] in all_:
        base = contracts()["_rejects"]
        return TableContract(table, f"Records rejected while building {table[:-8]!r}.",
                             base.fields, base.partition_by, base.source)
    raise SchemaError(f"no contract for table {table!r} (known: {sorted(n for n in all_ if n[0] != '_')})")


def markdown_table() -> str:
    """The schema documentation table embedded in data/README.md."""
    lines = ["| table | field | type | null | partition | meaning |",
             "|---|---|---|---|---|---|"]
    for name, c in contracts().items():
        shown = "`<table>_rejects`" if name == "_rejects" else f"`{name}`"
        for i, f in enumerate(c.fields):
            lines.append(
                f"| {shown if i == 0 else ''} | `{f.name}` | `{f.type_text}` | "
                f"{'yes' if f.nullable else 'no'} | {'yes' if f.name in c.partition_by else ''} | "
                f"{(c.description + ' ' if i == 0 else '')}{f.doc}".rstrip() + " |"
            )
    return "\n".join(line.replace("|||", "\\|\\|\\|") for line in lines)
