from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from xlcorpus.cli import entry, main

from .conftest import REPO

EXE = [sys.executable, "-m", "xlcorpus"]


def cli(capsys, *args):
    rc = entry(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def all_commands(group, prefix=()):
    import click

    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from all_commands(cmd, prefix + (name,))


def test_help_everywhere(capsys):
    entry([])  # loads the task command modules
    capsys.readouterr()
    commands = list(all_commands(main))
    assert {("run",), ("sql",), ("tables",), ("history",), ("demo",)} <= set(commands)
    for path in [()] + commands:
        rc, out, _ = cli(capsys, *path, "--help")
        assert rc == 0 and "Usage:" in out, path


@pytest.fixture
def loaded(tmp_path, capsys):
    store = tmp_path / "st"
    rc, out, err = cli(capsys, "-q", "run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store))
    assert rc == 0, err
    return store


def test_tables_history_and_sql_formats(loaded, tmp_path, capsys):
    rc, out, _ = cli(capsys, "tables", "--store", str(loaded))
    assert rc == 0 and out.splitlines() == ["bitext\t6\tv0", "bitext_rejects\t1\tv0"]
    rc, out, _ = cli(capsys, "history", "bitext", "--store", str(loaded))
    assert out.startswith("v0\tCREATE TABLE\tbitext-import/import\trows=6")  # created with its rows
    assert "stages=to_bitext:8>7" in out  # 8 pairs in, 7 bitext rows out (one rejected)
    rc, out, _ = cli(capsys, "history", "bitext", "--store", str(loaded), "--json")
    assert json.loads(out)["params"]["src_lang"] == "en"
    rc, out, _ = cli(capsys, "sql", "--store", str(loaded), "select count(*) as n from bitext")
    assert rc == 0 and "│ 6 " in out
    rc, out, _ = cli(capsys, "sql", "--store", str(loaded), "--format", "csv",
                     "select tgt_lang, count(*) as n from bitext group by all")
    assert out.splitlines() == ['"tgt_lang","n"', '"fr",6']
    rc, out, _ = cli(capsys, "sql", "--store", str(loaded), "--format", "json", "select line from bitext order by line limit 2")
    assert [json.loads(x) for x in out.splitlines()] == [{"line": 1}, {"line": 2}]
    target = tmp_path / "o.parquet"
    rc, out, _ = cli(capsys, "sql", "--store", str(loaded), "--format", "parquet", "--output", str(target),
                     "select * from bitext")
    assert rc == 0 and pq.read_table(target).num_rows == 6
    rc, out, _ = cli(capsys, "tag", "r1", "--store", str(loaded))
    assert out.splitlines() == ["r1\tbitext\tv0", "r1\tbitext_rejects\tv0"]
    rc, out, _ = cli(capsys, "sql", "--store", str(loaded), "--release", "r1", "--format", "csv", "select count(*) n from bitext")
    assert out.splitlines()[1] == "6"


def test_errors_exit_non_zero_with_a_message(loaded, tmp_path, capsys):
    rc, _, err = cli(capsys, "sql", "--store", str(loaded), "select nope from bitext")
    assert rc == 1 and "query failed" in err and "nope" in err
    rc, _, err = cli(capsys, "history", "nosuch", "--store", str(loaded))
    assert rc == 1 and "no table 'nosuch'" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("pipeline: bitext-import\nparams: {srcc: x}\n")
    rc, _, err = cli(capsys, "run", str(bad), "--store", str(loaded))
    assert rc == 1 and "bad.yaml: unknown key 'params.srcc'" in err
    rc, _, err = cli(capsys, "tables", "--store", str(tmp_path / "none"))
    assert rc == 1 and "does not exist" in err
    rc, _, err = cli(capsys, "run", "--workers", "0", str(bad))
    assert rc == 2


def test_ctrl_c_exits_130_and_commits_nothing(tmp_path):
    pairs = tmp_path / "big.txt"
    with pairs.open("w") as fh:
        for i in range(600_000):
            fh.write(f"source sentence {i} ||| phrase cible {i}\n")
    store = tmp_path / "st"
    proc = subprocess.Popen(EXE + ["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store),
                                   "--set", f"pairs={pairs}", "--set", "src=", "--set", "tgt=", "--workers", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    staging = store / "_staging"
    deadline = time.monotonic() + 60
    while not staging.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (proc.returncode, err[-2000:])
    assert "interrupted" in err, err[-2000:]
    assert not (store / "bitext" / "_delta_log").exists(), (out, err[-2000:])
    assert not staging.exists(), list(staging.rglob("*"))


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    store = tmp_path / "demo"
    done = subprocess.run(EXE + ["demo", "--store", str(store)], capture_output=True, text=True, env=env,
                          timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "DuckDB>" in done.stdout and "bitext" in done.stdout
    count = subprocess.run(EXE + ["sql", "--store", str(store), "--format", "csv", "select count(*) as n from bitext"],
                           capture_output=True, text=True, env=env, cwd=tmp_path)
    assert count.returncode == 0 and int(count.stdout.splitlines()[1]) >= 6
    for yaml_file in sorted((REPO / "pipelines").glob("*.yaml")):
        assert yaml_file.name.split(".")[0] in done.stdout
    Path(store).exists()
