"""Real processes: concurrent identical runs, Ctrl-C, kill -9 of the main process and kill -9
between two table commits. Races are repeated (10 iterations)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from xlcorpus.store import Store

REPO = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "xlcorpus"]
ITERATIONS = 10


def tagged_processes(tag: str) -> list[int]:
    """Pids of live processes whose environment carries ``XLCORPUS_TEST_TAG=tag``."""
    found = []
    needle = f"XLCORPUS_TEST_TAG={tag}".encode()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if needle in (d / "environ").read_bytes().split(b"\0"):
                state = (d / "stat").read_text().split(")")[-1].split()[0]
                if state != "Z":
                    found.append(int(d.name))
        except OSError:
            continue
    return found


def wait_gone(tag: str, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def big_pairs(path: Path, n: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(f"source sentence number {i} ||| phrase cible numéro {i}\n")
    return path


def run_cli(args: list[str], tag: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "XLCORPUS_TEST_TAG": tag}
    return subprocess.Popen(EXE + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, **kw)


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.0, 0.7])
def test_identical_runs_at_once_leave_each_row_once(tmp_path, delay):
    pairs = big_pairs(tmp_path / "p.txt", 2000)
    for i in range(ITERATIONS):
        store = tmp_path / f"s{i}"
        args = ["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store),
                "--set", f"pairs={pairs}", "--set", "src=", "--set", "tgt=", "--workers", "2"]
        a = run_cli(args, "a")
        time.sleep(delay)
        b = run_cli(args, "b")
        outs = [p.communicate(timeout=120) for p in (a, b)]
        for p, (_, err) in zip((a, b), outs):
            assert p.returncode == 0 or (p.returncode == 1 and "another writer" in err), err
            assert "Traceback" not in err
        st = Store(store)
        assert st.count("bitext") == 2000
        ids = st.sql("SELECT count(DISTINCT id) AS n FROM bitext").column("n")[0].as_py()
        assert ids == 2000
        listing = subprocess.run(EXE + ["tables", "--store", str(store)], capture_output=True, text=True)
        assert listing.returncode == 0 and "bitext\t2000" in listing.stdout
        assert not (store / "_staging").exists() or not any((store / "_staging").iterdir())


@pytest.mark.slow
def test_ctrl_c_returns_130_quickly_and_leaves_no_worker(tmp_path):
    pairs = big_pairs(tmp_path / "p.txt", 400_000)
    for i in range(ITERATIONS):
        tag = uuid.uuid4().hex
        store = tmp_path / f"s{i}"
        p = run_cli(["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store),
                     "--set", f"pairs={pairs}", "--set", "src=", "--set", "tgt=", "--workers", "2"], tag)
        deadline = time.monotonic() + 60
        while len(tagged_processes(tag)) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)  # main + 2 workers up
        time.sleep(0.3 + 0.1 * i)  # then workers busy, at a different point each time
        sent = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=30)
        took = time.monotonic() - sent
        assert p.returncode == 130, err
        assert took < 5, f"took {took:.1f} s to stop"
        assert "Traceback" not in err
        assert wait_gone(tag, 5) == []
        assert not (store / "bitext").exists()  # the interrupted step committed nothing


@pytest.mark.slow
def test_kill_9_of_the_main_process_takes_the_workers_with_it(tmp_path):
    pairs = big_pairs(tmp_path / "p.txt", 400_000)
    for i in range(3):
        tag = uuid.uuid4().hex
        p = run_cli(["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(tmp_path / f"s{i}"),
                     "--set", f"pairs={pairs}", "--set", "src=", "--set", "tgt=", "--workers", "2"], tag)
        deadline = time.monotonic() + 30
        while len(tagged_processes(tag)) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)  # main + 2 workers up
        assert len(tagged_processes(tag)) >= 3
        p.kill()
        p.wait()
        assert wait_gone(tag, 5) == []


KILLER = textwrap.dedent("""
    import os, signal, sys
    from xlcorpus import pipeline as pl
    from xlcorpus.store import Store
    real = Store.commit_files
    def commit_files(self, table, *a, **kw):
        if table == "bitext_rejects":
            os.kill(os.getpid(), signal.SIGKILL)  # after the bitext commit, before this one
        return real(self, table, *a, **kw)
    Store.commit_files = commit_files
    spec = pl.load(sys.argv[2], ["pairs=" + sys.argv[3], "src=", "tgt="])
    pl.run(spec.pipeline, Store(sys.argv[1]))
""")


@pytest.mark.slow
def test_kill_9_between_two_table_commits_then_rerun(tmp_path):
    pairs = tmp_path / "p.txt"
    pairs.write_text("a ||| b\nno separator here\nc ||| d\n", encoding="utf-8")
    store = tmp_path / "s"
    proc = subprocess.run([sys.executable, "-c", KILLER, str(store), str(REPO / "pipelines" / "import_bitext.yaml"),
                           str(pairs)], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    st = Store(store)
    assert st.tables() == ["bitext"] and st.count("bitext") == 2
    args = ["run", str(REPO / "pipelines" / "import_bitext.yaml"), "--store", str(store),
            "--set", f"pairs={pairs}", "--set", "src=", "--set", "tgt="]
    again = subprocess.run(EXE + args, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert "already committed before: bitext" in again.stdout and "1 rejected" in again.stdout
    assert st.version("bitext") == 0 and st.count("bitext") == 2 and st.count("bitext_rejects") == 1
    third = subprocess.run(EXE + args, capture_output=True, text=True)
    assert "up to date" in third.stdout
