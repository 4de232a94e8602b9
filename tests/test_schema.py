from __future__ import annotations

import pyarrow as pa
import pytest

from xlcorpus import schema_doc
from xlcorpus.errors import SchemaError
from xlcorpus.schema import contract, contracts, format_type, parse_type

from .conftest import REPO

TYPES = [
    "string", "int32", "int64", "float32", "bool", "binary", "list<string>",
    "list<struct<s:int32, t:int32>>", "list<struct<start:int32, end:int32, label:string>>",
    "map<string, list<string>>", "struct<a:list<int64>, b:string>", "timestamp[us, UTC]",
]


@pytest.mark.parametrize("text", TYPES)
def test_parse_and_format_round_trip(text):
    dtype = parse_type(text)
    assert parse_type(format_type(dtype)).equals(dtype)


def test_parse_nested_struct_fields():
    t = parse_type("list<struct<start:int32, end:int32, qid:string>>")
    assert t == pa.list_(pa.struct([("start", pa.int32()), ("end", pa.int32()), ("qid", pa.string())]))


@pytest.mark.parametrize("bad", ["lst<int32>", "list<int32", "struct<a int32>", "int32 int32", ""])
def test_parse_rejects_bad_types(bad):
    with pytest.raises(SchemaError):
        parse_type(bad)


def test_every_contract_has_a_non_null_id_and_valid_partitions():
    for name, c in contracts().items():
        assert c.field("id").type == pa.string() and not c.field("id").nullable, name
        for p in c.partition_by:
            assert p in c.names


def _bitext_rows(n=2):
    return [dict(id=f"i{i}", src_lang="en", tgt_lang="fr", src="a", tgt="b", source="x", line=i)
            for i in range(n)]


def test_validate_names_table_field_expected_and_found():
    c = contract("bitext")
    good = c.batch(_bitext_rows())
    missing = good.drop_columns(["src"])
    with pytest.raises(SchemaError, match=r"table 'bitext': field 'src' is missing \(expected string"):
        c.validate(missing)
    wrong = good.set_column(good.schema.get_field_index("line"), "line", pa.array(["1", "2"]))
    with pytest.raises(SchemaError, match=r"field 'line' has the wrong type: expected int64, found string"):
        c.validate(wrong)
    nulls = good.set_column(good.schema.get_field_index("src"), "src", pa.array(["a", None]))
    with pytest.raises(SchemaError, match=r"field 'src' is not nullable: expected no nulls, found 1 null"):
        c.validate(nulls)
    extra = good.append_column("oops", pa.array([1, 2]))
    with pytest.raises(SchemaError, match="unexpected field"):
        c.validate(extra)


def test_validate_reorders_columns_to_contract_order():
    c = contract("bitext")
    good = c.batch(_bitext_rows())
    shuffled = good.select(list(reversed(good.schema.names)))
    assert c.validate(shuffled).schema.names == c.names


def test_rejects_contract_applies_to_any_known_table():
    assert contract("bitext_rejects").names[:2] == ["id", "run_id"]
    with pytest.raises(SchemaError, match="no contract"):
        contract("nosuch_rejects")


def test_data_readme_schema_table_is_current():
    readme = REPO / "data" / "README.md"
    text = readme.read_text(encoding="utf-8")
    assert schema_doc.render(text) == text, "run: python -m xlcorpus.schema_doc"
