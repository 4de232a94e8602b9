"""The built wheel works on its own: its code, contracts, pipelines and demo sample.

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh venv
that sees this environment's installed packages (one ``.pth`` line) but not the checkout:
``xlcorpus demo`` then runs from an empty folder with the wheel's own copy of xlcorpus,
``pipelines/`` and ``data/sample/``. It proves the wheel carries every file xlcorpus needs;
whether the declared dependencies alone suffice is left to the clean-machine setup
(``scripts/setup.sh``), since installing them here would take minutes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    pytest.importorskip("hatchling", reason="building the wheel needs hatchling (the test extra)")
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(out)], check=True, capture_output=True, text=True)
    return next(out.glob("xlcorpus-*.whl"))


def test_wheel_carries_the_shipped_folders(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, packaged in [("schemas", "schemas"), ("pipelines", "pipelines"), ("data/sample", "data/sample")]:
        files = [p for p in (ROOT / folder).rglob("*") if p.is_file()]
        assert files, folder
        for p in files:
            assert f"xlcorpus/_data/{packaged}/{p.relative_to(ROOT / folder).as_posix()}" in names


@pytest.mark.slow
def test_demo_runs_from_the_installed_wheel(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    # The installed dependencies, after the venv's own site-packages (where the wheel goes).
    Path(site, "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheel)], check=True, capture_output=True, text=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run([str(python), "-c", "import xlcorpus.demo as d; print(d.default_pipelines_dir())"],
                           cwd=work, env=env, check=True, capture_output=True, text=True).stdout.strip()
    assert where.startswith(site) and where.endswith("xlcorpus/_data/pipelines")
    got = subprocess.run([str(env_dir / "bin" / "xlcorpus"), "demo", "--store", "demo-store"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert got.returncode == 0, got.stderr[-2000:]
    pipelines = sorted(p.name for p in (ROOT / "pipelines").glob("*.yaml"))
    assert [line[3:] for line in got.stdout.splitlines() if line.startswith("== ")] == pipelines
    assert re.search(r"│ bitext +│ 48 +│", got.stdout)  # the demo's closing DuckDB query over the store
    assert (work / "demo-store" / "entitycs" / "_delta_log").is_dir()


def test_extras_match_the_imports():
    """Every third-party module xlcorpus imports is declared (core or an extra)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = " ".join(project["dependencies"] + sum(project["optional-dependencies"].values(), [])).lower()
    # module -> distribution, where they differ
    dists = {"pycrfsuite": "python-crfsuite", "yaml": "pyyaml", "sklearn": "scikit-learn",
             "indexed_bzip2": "indexed_bzip2", "annotated_types": "annotated-types", "ray": "ray[data]"}
    import ast

    stdlib = set(sys.stdlib_module_names)
    imported = set()
    for path in (ROOT / "xlcorpus").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third = sorted(m for m in imported - stdlib - {"xlcorpus", "zstandard"} if not m.startswith("_"))
    missing = [m for m in third if dists.get(m, m).lower() not in declared]
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"
    assert "stanza" not in declared and "sklearn-crfsuite" not in declared
