"""Every store feature on a local folder and on ``s3://`` (a local ``moto_server`` endpoint):
pipeline runs with rejects, skips and merges on rerun, releases by concurrent taggers,
``check``, export; part files added where the workers wrote them; an endpoint without
conditional writes is refused; credentials never show."""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from xlcorpus import pipeline as pl
from xlcorpus.check import check_store
from xlcorpus.engine import LocalEngine
from xlcorpus.errors import StoreError
from xlcorpus.schema import contract
from xlcorpus.store import Store

REPO = Path(__file__).resolve().parents[1]
EXE = [sys.executable, "-m", "xlcorpus"]
IMPORT = REPO / "pipelines" / "import_bitext.yaml"


def files_under(store: Store, prefix: str) -> list[str]:
    infos = store.filesystem().get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    return sorted(i.path for i in infos if i.is_file)


def test_runs_rejects_reruns_releases_check_and_export(any_store, tmp_path):
    store = any_store
    spec = pl.load(IMPORT).pipeline
    first = pl.run(spec, store, LocalEngine(progress=False)).steps[0]
    assert first.rows["bitext"] == 6 and first.rejects == 1
    assert store.count("bitext_rejects") == 1
    assert pl.run(spec, store, LocalEngine(progress=False)).steps[0].skipped
    forced = pl.run(spec, store, LocalEngine(progress=False), force=True).steps[0]
    assert forced.rows["bitext"] == 0 and store.count("bitext") == 6  # merged on id: no duplicate
    assert [h["operation"] for h in store.history("bitext")][-1] == "CREATE TABLE"
    assert store.history("bitext")[-1]["pipeline"] == "bitext-import"
    store.tag("v1")
    assert store.releases()["v1"] == {"bitext": store.version("bitext"), "bitext_rejects": store.version("bitext_rejects")}
    results, problems = check_store(store)
    assert problems == [] and all(not r.problems for r in results) and len(results) == 2
    from xlcorpus.export import export_hf

    exp = export_hf(store, "bitext", tmp_path / "hf", release="v1", license="cc-by-4.0")
    assert exp.rows == 6 and (tmp_path / "hf" / "README.md").is_file()
    if not store.is_local:  # the first commit added the staged files where they were written
        paths = store._delta("bitext", 0).get_add_actions(flatten=True).column("path").to_pylist()
        assert paths and all(p.startswith("_staging/") for p in paths)
        assert set(files_under(store, "bitext/_staging")) == {f"bitext/{p}" for p in paths}  # no leftovers


def test_check_names_a_cut_commit_and_a_missing_file(any_store):
    store = any_store
    rows = [dict(id=f"r{i}", src_lang="en", tgt_lang="fr", src="a", tgt="b", source="s", line=i) for i in range(3)]
    store.write("bitext", contract("bitext").batch(rows))
    store.write("bitext", contract("bitext").batch(rows), mode="overwrite")
    fs = store.filesystem()
    data = files_under(store, "bitext")
    live = store._delta("bitext").get_add_actions(flatten=True).column("path").to_pylist()
    fs.delete_file(f"bitext/{live[0]}")
    assert check_store(store)[0][0].problems == [
        f"{store.root}/bitext/{live[0]}: data file of table 'bitext' v1 is missing"]
    log = "bitext/_delta_log/00000000000000000001.json"
    raw, base = pafs.FileSystem.from_uri(store.root)  # arrow's own S3 client (or the local disk)
    with raw.open_input_stream(f"{base}/{log}") as fh:
        text = fh.read()
    with raw.open_output_stream(f"{base}/{log}") as fh:
        fh.write(text[:50])
    (result,), _ = check_store(store)
    assert result.problems == [f"{store.root}/{log}:1: not a JSON action (a cut or damaged commit)"]
    assert len(data) >= 2


TAGGER = """
import sys, time, pathlib
from xlcorpus.store import Store
root, name, barrier = sys.argv[1:4]
while not pathlib.Path(barrier).exists():
    time.sleep(0.005)
try:
    print("OK", Store(root).tag(name), flush=True)
except Exception as exc:
    print("ERR", type(exc).__name__, exc, flush=True)
"""


def test_concurrent_taggers_never_lose_a_release(any_store, tmp_path):
    store = any_store
    rows = [dict(id="a", src_lang="en", tgt_lang="fr", src="a", tgt="b", source="s", line=1)]
    store.write("bitext", contract("bitext").batch(rows))
    barrier = tmp_path / "go"
    names = ["r1", "r2", "r3", "same", "same"]
    procs = [subprocess.Popen([sys.executable, "-c", TAGGER, store.root, n, str(barrier)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for n in names]
    time.sleep(1.5)
    barrier.touch()
    outs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(o.startswith("OK") for o in outs[:3]), outs
    same = sorted(o.split()[0] for o in outs[3:])
    assert same == ["ERR", "OK"], outs  # one tagger named it; the other was told it exists
    assert "release 'same' exists" in next(o for o in outs[3:] if o.startswith("ERR"))
    assert sorted(Store(store.root).releases()) == ["r1", "r2", "r3", "same"]
    if store.is_local:
        assert not list(Path(store.root).glob("*.lock"))  # no lock files


def test_a_store_made_before_keeps_its_releases_file(store):
    rows = [dict(id="a", src_lang="en", tgt_lang="fr", src="a", tgt="b", source="s", line=1)]
    store.write("bitext", contract("bitext").batch(rows))
    (Path(store.root) / "_releases.json").write_text(json.dumps({"old": {"bitext": 0}}))
    store.write("bitext", contract("bitext").batch(rows), mode="overwrite")
    store.tag("new")
    assert store.releases() == {"old": {"bitext": 0}, "new": {"bitext": 1}}
    assert store.tag("old", overwrite=True) == {"bitext": 1} and store.releases()["old"] == {"bitext": 1}


# ------------------------------------------------- an endpoint that ignores conditional writes
class _StripConditions(BaseHTTPRequestHandler):
    """Forwards every request to the real endpoint without its If-None-Match / If-Match
    headers: an S3-compatible store that ignores conditional writes."""

    target = ""
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in {"if-none-match", "if-match", "host"}}
        url = urlparse(self.target)
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        conn.request(self.command, self.path, body=body or None, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in {"transfer-encoding", "content-length", "connection"}:
                self.send_header(k, v)
        self.send_header("Content-Length", resp.getheader("Content-Length") if self.command == "HEAD" else str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _forward

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def unsafe_endpoint(s3_endpoint):
    handler = type("Handler", (_StripConditions,), {"target": s3_endpoint})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_an_endpoint_without_conditional_writes_is_refused(unsafe_endpoint, s3_endpoint, s3_root):
    from xlcorpus.conditional import _request, conditional_writes_hold

    opts = {"AWS_ENDPOINT_URL": unsafe_endpoint}
    # there, a second create of the same object succeeds (deltalake's commits rely on it failing)
    key = f"{s3_root.split('/', 3)[3]}/x"
    assert [_request("PUT", unsafe_endpoint, "xlcorpus-test", key, opts, {"If-None-Match": "*"})
            for _ in range(2)] == [200, 200]
    assert conditional_writes_hold(s3_root, opts) is False
    assert conditional_writes_hold(s3_root, {"AWS_ENDPOINT_URL": s3_endpoint}) is True
    # xlcorpus refuses to write there, and says why and what to do
    store = Store(s3_root, opts)
    rows = contract("bitext").batch([dict(id="a", src_lang="en", tgt_lang="fr", src="a", tgt="b", source="s", line=1)])
    with pytest.raises(StoreError, match=r"ignores conditional writes \(If-None-Match\).*refusing to write"):
        store.write("bitext", rows)
    direct = Store(s3_root)  # (deltalake's own requests are not sent through the stripping proxy)
    assert not direct.exists("bitext") and files_under(direct, "_xlcorpus_probe") == []
    with pytest.raises(StoreError, match="ignores conditional writes"):
        store.tag("v1")
    # one writer, on the user's word
    assert conditional_writes_hold(s3_root, {**opts, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"}) is True


# ----------------------------------------------------------------------------- credentials
SECRET = "sEcReT-9f3b1c77-never-shown"


def test_a_secret_never_appears_in_output_logs_or_commits(s3_root, tmp_path):
    opt = ["--storage-option", f"AWS_SECRET_ACCESS_KEY={SECRET}", "--storage-option", "AWS_REGION=us-east-1"]
    s = ["--store", s3_root, *opt]
    runs = [
        ["-vv", "run", str(IMPORT), *s],
        ["-vv", "history", "bitext", "--json", *s], ["-vv", "tag", "v1", *s],
        ["-vv", "sql", *s, "--release", "v1", "SELECT count(*) AS n FROM bitext"],
        ["-vv", "check", *s],
        ["-vv", "export", "hf", "bitext", "--to", str(tmp_path / "hf"), "--license", "cc-by-4.0", *s],
        ["-vv", "sql", *s, "SELECT * FROM nosuchtable"],  # an error
        ["tables", "--store", s3_root, "--storage-option", SECRET],  # malformed: not echoed
    ]
    seen = ""
    codes = []
    for args in runs:
        proc = subprocess.run(EXE + args, capture_output=True, text=True, timeout=300)
        codes.append(proc.returncode)
        seen += proc.stdout + proc.stderr
    assert codes == [0, 0, 0, 0, 0, 0, 1, 2], seen[-3000:]
    assert "v1\tbitext\tv0" in seen and "Traceback" not in seen
    assert SECRET not in seen
    store = Store(s3_root)
    fs = store.filesystem()
    for path in files_under(store, ""):
        with fs.open_input_stream(path) as fh:
            assert SECRET.encode() not in fh.read(), path
    for path in (tmp_path / "hf").rglob("*"):
        assert path.is_dir() or SECRET.encode() not in path.read_bytes(), path


def test_redact_covers_messages_and_log_records():
    import logging

    from xlcorpus.redact import RedactFilter, redact, remember

    remember({"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1"})
    assert redact(f"failed with key {SECRET} in us-east-1") == "failed with key *** in us-east-1"
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "options: %s", ({"k": SECRET},), None)
    RedactFilter().filter(record)
    assert SECRET not in record.getMessage() and "***" in record.getMessage()


@pytest.mark.parametrize("delay", [0.0, 0.7])
def test_identical_runs_at_once_into_s3_leave_each_row_once(s3_root, tmp_path, delay):
    pairs = tmp_path / "p.txt"
    pairs.write_text("".join(f"source {i} ||| cible {i}\n" for i in range(2000)), encoding="utf-8")
    args = EXE + ["run", str(IMPORT), "--store", s3_root, "--set", f"pairs={pairs}", "--set", "src=", "--set", "tgt="]
    a = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    b = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for p in (a, b):
        _, err = p.communicate(timeout=300)
        assert p.returncode == 0 or (p.returncode == 1 and "another writer" in err), err
        assert "Traceback" not in err
    store = Store(s3_root)
    ids = store.to_arrow("bitext", columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == 2000
    live = {f"bitext/{p}" for p in store._delta("bitext").get_add_actions(flatten=True).column("path").to_pylist()}
    assert set(files_under(store, "bitext/_staging")) <= live  # the loser's staged files are gone


def test_inputs_read_from_s3_uris(s3_root, tmp_path, capsys):
    """An input file given as an ``s3://`` URI is read through the same input layer as a
    local one (same result, compression sniffed), and a missing object is a clear error."""
    import gzip

    import pyarrow.fs as pafs

    from xlcorpus.cli import entry

    text = "Москва — столица России.\nΑθήνα\n"
    fs, prefix = pafs.FileSystem.from_uri(s3_root)
    with fs.open_output_stream(f"{prefix}/in.txt.gz", compression=None) as out:
        out.write(gzip.compress(text.encode()))
    local = tmp_path / "in.txt"
    local.write_text(text, encoding="utf-8")
    outs = []
    for i, src in enumerate([str(local), s3_root + "/in.txt.gz"]):
        rc = entry(["romanize", "--lang", "ru", "--input", src, "--output", str(tmp_path / f"o{i}")])
        assert rc == 0, capsys.readouterr()
        outs.append((tmp_path / f"o{i}").read_text(encoding="utf-8"))
    assert outs[0] == outs[1] and outs[0].startswith("Moskva")
    capsys.readouterr()
    rc = entry(["romanize", "--lang", "ru", "--input", s3_root + "/missing.txt", "--output", str(tmp_path / "o3")])
    assert rc == 1 and "missing.txt: does not exist" in capsys.readouterr().err


def test_pipeline_inputs_from_s3_uris(s3_root, tmp_path):
    """A pipeline parameter that names an input file may be an ``s3://`` URI: the
    bitext-import pipeline reads it and stores the same rows as from local files."""
    import shutil

    import pyarrow.fs as pafs

    from xlcorpus import pipeline as pl
    from xlcorpus.store import Store

    from .conftest import REPO

    sample = REPO / "data" / "sample" / "bitext"
    fs, prefix = pafs.FileSystem.from_uri(s3_root)
    for name in ("sample.en-fr.en", "sample.en-fr.fr"):
        with fs.open_output_stream(f"{prefix}/in/{name}", compression=None) as out:
            out.write((sample / name).read_bytes())
        shutil.copy(sample / name, tmp_path / name)
    spec = REPO / "pipelines" / "import_bitext.yaml"
    rows = []
    for i, base in enumerate([str(tmp_path), s3_root + "/in"]):
        p = pl.load(spec, [f"src={base}/sample.en-fr.en", f"tgt={base}/sample.en-fr.fr"])
        store = Store(tmp_path / f"s{i}")
        pl.run(p.pipeline, store)
        rows.append(sorted((r["src"], r["tgt"]) for r in store.to_arrow("bitext").to_pylist()))
    assert rows[0] == rows[1] and len(rows[0]) == 6
