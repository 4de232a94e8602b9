"""Progress and logging of ``xlcorpus run``: on a terminal, a line with the input's size,
percentage and ETA on stderr; redirected, nothing but the summaries on stdout; ``-v`` says
what was read, committed and skipped."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "pipelines" / "import_bitext.yaml"
ANSI = re.compile(rb"\x1b\[[0-9;?]*[a-zA-Z]")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("corpus")
    src, tgt = d / "big.en", d / "big.fr"
    src.write_text("".join(f"sentence number {i} of the test corpus\n" for i in range(150_000)))
    tgt.write_text("".join(f"phrase numéro {i} du corpus de test\n" for i in range(150_000)))
    return src, tgt


def command(store: Path, corpus: tuple[Path, Path], *flags: str) -> list[str]:
    return [sys.executable, "-m", "xlcorpus", *flags, "run", str(PIPELINE), "--store", str(store),
            "--set", f"src={corpus[0]}", "--set", f"tgt={corpus[1]}"]


def env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "160"}


def test_progress_on_a_terminal_results_alone_on_stdout(tmp_path, corpus):
    """stderr is a terminal (a pty), stdout a pipe: the bar shows bytes of the input files,
    a percentage and an ETA on stderr; stdout gets the summary line and nothing else."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(command(tmp_path / "store", corpus), stdout=subprocess.PIPE, stderr=slave,
                            env=env(), cwd=tmp_path)
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        elif proc.poll() is not None:
            break
    out = proc.stdout.read().decode()
    assert proc.wait() == 0
    size = (corpus[0].stat().st_size + corpus[1].stat().st_size) / 2**20
    text = ANSI.sub(b"", err).decode(errors="replace")
    assert f"/{size:,.1f} MB" in text and "ETA" in text and "rows/s" in text
    percents = [int(p) for p in re.findall(r"(\d+)% ", text)]
    assert percents and max(percents) > 0
    assert out.splitlines() == [line for line in out.splitlines() if line.startswith("bitext-import/import: ")]
    assert len(out.splitlines()) == 1 and "150,000 rows inserted" in out and "\x1b" not in out


def test_redirected_and_verbose_logs(tmp_path, corpus):
    """No terminal: no progress at all; -v logs what is read and committed, then the skip."""
    store = tmp_path / "store"
    got = subprocess.run(command(store, corpus, "-v"), capture_output=True, text=True, env=env(), cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert got.stdout.count("\n") == 1 and got.stdout.startswith("bitext-import/import: bitext: 150,000 rows")
    assert "ETA" not in got.stderr and "\x1b" not in got.stderr
    assert "INFO xlcorpus.engine.local: step import: reading xlcorpus.sources.bitext." in got.stderr
    assert f"INFO xlcorpus.progress: import: input {corpus[0].stat().st_size + corpus[1].stat().st_size:,} bytes" \
        in got.stderr
    assert "bitext: committed v0 (merge, 150,000 rows staged" in got.stderr
    again = subprocess.run(command(store, corpus, "-v"), capture_output=True, text=True, env=env(), cwd=tmp_path)
    assert "up to date" in again.stdout
    assert re.search(r"bitext-import/import: skipped: every table it writes \(bitext, bitext_rejects\) carries "
                     r"its transaction xlcorpus-\w+", again.stderr)
    quiet = subprocess.run(command(tmp_path / "q", corpus), capture_output=True, text=True, env=env(), cwd=tmp_path)
    assert quiet.stderr == ""  # no log below WARNING, no progress when redirected


def test_sub_tasks_log_their_time(caplog):
    import logging

    from xlcorpus import progress

    with caplog.at_level(logging.INFO, logger="xlcorpus.progress"):
        with progress.task("training something", 3) as advance:
            for _ in range(3):
                advance()
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[0] == "training something ..." and re.fullmatch(r"training something: done in \d+\.\d s", msgs[1])


def test_input_files_and_bytes_read(tmp_path):
    from xlcorpus import progress
    from xlcorpus.engine.core import call
    from xlcorpus.sources.inputs import open_input

    a = tmp_path / "a.txt"
    a.write_bytes(b"x\n" * 100_000)
    total, unit, files = progress.source_total(call(print, str(a), [str(tmp_path / "missing")], {"k": a}))
    assert (total, unit, files) == (200_000, "bytes", {str(a)})
    with progress.StepProgress(False, "t"):
        with open_input(a) as fh:
            fh.read(50_000)
            assert progress.bytes_read(files) >= 50_000  # the file position (read-ahead included)
        assert progress.bytes_read(files) == 200_000  # closed: read to its end
    assert progress.bytes_read(files) == 0  # the step ended: nothing tracked
