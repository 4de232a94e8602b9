"""Shared test fixtures."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.exists(), reason="../shared/data is absent")

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def store(tmp_path):
    from xlcorpus.store import Store

    return Store(tmp_path / "store")


def needs_model(package: str):
    """Skip unless the pinned trained-model package is installed (scripts/models.txt)."""
    import importlib.util

    return pytest.mark.skipif(importlib.util.find_spec(package) is None,
                              reason=f"model package {package} is absent: bash scripts/setup.sh installs it "
                                     "(pinned in scripts/models.txt)")


# ------------------------------------------------------------------ a local S3 endpoint
S3_BUCKET = "xlcorpus-test"
S3_ENV = {"AWS_ALLOW_HTTP": "true", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "moto-access-key-xlc",
          "AWS_SECRET_ACCESS_KEY": "moto-secret-key-xlc"}


def _moto_server() -> str | None:
    import shutil
    import sys

    here = Path(sys.executable).with_name("moto_server")
    return str(here) if here.exists() else shutil.which("moto_server")


@contextlib.contextmanager
def moto_endpoint(bucket: str = S3_BUCKET):
    """Run ``moto_server`` on 127.0.0.1 at a free port with ``bucket``, the environment
    pointing deltalake, DuckDB views and the CLI at it (AWS_ENDPOINT_URL, AWS_ALLOW_HTTP...);
    yields the endpoint URL (None when moto_server is not installed). Also used by
    benchmarks/s3_bench.py."""
    import socket
    import subprocess
    import time
    import urllib.request

    exe = _moto_server()
    if exe is None:
        yield None
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    saved = {k: os.environ.get(k) for k in [*S3_ENV, "AWS_ENDPOINT_URL"]}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(urllib.request.Request(f"{url}/{bucket}", method="PUT"), timeout=2)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        os.environ.update(S3_ENV, AWS_ENDPOINT_URL=url)
        yield url
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_endpoint():
    """A local S3 endpoint (:func:`moto_endpoint`) for the session; skips without moto."""
    with moto_endpoint() as url:
        if url is None:
            pytest.skip("moto_server is absent: pip install 'xlcorpus[test]' (moto[server])")
        yield url


@pytest.fixture
def s3_root(s3_endpoint):
    """A fresh store URI in the test bucket."""
    import uuid

    return f"s3://{S3_BUCKET}/{uuid.uuid4().hex[:12]}/store"


@pytest.fixture(params=["local", "s3"])
def any_store(request, tmp_path):
    """The same test on a local folder and on ``s3://`` (the local S3 endpoint)."""
    from xlcorpus.store import Store

    if request.param == "s3":
        return Store(request.getfixturevalue("s3_root"))
    return Store(tmp_path / "store")
