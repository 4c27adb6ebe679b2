"""The distribution: the wheel holds flask_activity (code, templates, py.typed) and nothing of the app, and its
metadata names the package's version and every library the extension imports.

The wheel is built offline from a copy of the repository (pip wheel --no-build-isolation with the setuptools of
requirements-dev.txt), so a build never leaves build/ or *.egg-info behind in the work tree.
"""
from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib.metadata import packages_distributions, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import flask_activity

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = REPO_ROOT / "flask_activity"
NOT_COPIED = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "instance", "build", "dist",
                                    "*.egg-info", ".*_cache", ".hypothesis", ".data", "artifacts")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel pip builds from a copy of the repository, offline."""
    setuptools = Version(version("setuptools"))
    assert setuptools >= Version("77"), f"setuptools {setuptools} is too old: pip install -r requirements-dev.txt"
    tmp = tmp_path_factory.mktemp("packaging")
    src, out = tmp / "src", tmp / "dist"
    shutil.copytree(REPO_ROOT, src, ignore=NOT_COPIED)
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "--quiet", "--wheel-dir", str(out), str(src)],
                          capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    wheels = list(out.glob("*.whl"))
    assert [w.name for w in wheels] == [f"flask_activity-{flask_activity.__version__}-py3-none-any.whl"]
    return wheels[0]


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def wheel_metadata(wheel: Path) -> dict[str, list[str]]:
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(f"flask_activity-{flask_activity.__version__}.dist-info/METADATA").decode()
    message = Parser().parsestr(text)
    return {key: message.get_all(key) or [] for key in set(message.keys())}


def imported_modules(eager: bool) -> set[str]:
    """Top-level names of the third-party modules flask_activity imports.

    ``eager``: only those imported when a module loads (statements at module level); otherwise every import,
    including those inside functions, ``try`` blocks and ``if TYPE_CHECKING``.
    """
    names: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in (tree.body if eager else ast.walk(tree)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "flask_activity"}


def distribution_of(module: str) -> str:
    """The distribution that provides ``module`` here (flask_admin -> flask-admin), canonicalized."""
    dists = packages_distributions().get(module)
    assert dists, f"{module} is imported by flask_activity but no installed distribution provides it"
    return canonicalize_name(dists[0])


def requirements(wheel: Path) -> list[Requirement]:
    return [Requirement(line) for line in wheel_metadata(wheel)["Requires-Dist"]]


def test_wheel_holds_the_extension_with_every_module_template_and_py_typed(wheel):
    files = wheel_files(wheel)
    expected = {p.relative_to(REPO_ROOT).as_posix() for p in PACKAGE.rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert any(f.startswith("flask_activity/templates/") for f in expected)
    assert "flask_activity/py.typed" in expected
    assert expected - files == set()


def test_wheel_holds_nothing_but_the_extension(wheel):
    tops = {name.split("/")[0] for name in wheel_files(wheel)}
    assert tops == {"flask_activity", f"flask_activity-{flask_activity.__version__}.dist-info"}


def test_metadata_names_the_distribution_and_the_package_version(wheel):
    meta = wheel_metadata(wheel)
    assert meta["Name"] == ["flask-activity"]
    assert meta["Version"] == [flask_activity.__version__]
    assert meta["Requires-Python"] == [">=3.11"]


def test_every_module_imported_at_load_time_is_a_required_dependency(wheel):
    required = {canonicalize_name(r.name) for r in requirements(wheel) if r.marker is None}
    missing = {m: distribution_of(m) for m in imported_modules(eager=True)
               if distribution_of(m) not in required}
    assert missing == {}


def test_every_module_imported_anywhere_is_a_dependency_or_an_extra(wheel):
    declared = {canonicalize_name(r.name) for r in requirements(wheel)}
    missing = {m: distribution_of(m) for m in imported_modules(eager=False)
               if distribution_of(m) not in declared}
    assert missing == {}


def test_requirements_txt_pins_satisfy_the_declared_versions(wheel):
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            req = Requirement(line)
            pins[canonicalize_name(req.name)] = next(iter(req.specifier)).version
    for req in requirements(wheel):
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is not None:
            assert req.specifier.contains(pinned, prereleases=True), (str(req), pinned)


def test_installed_wheel_imports_and_finds_its_templates_outside_the_repository(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--quiet",
                    "--target", str(target), str(wheel)], check=True, capture_output=True, timeout=120)
    probe = (
        "import importlib.resources as r, flask_activity, flask_activity.extension, flask_activity.cli, "
        "flask_activity.admin.activity_views, flask_activity.reporting.scheduler, flask_activity.metrics\n"
        "root = r.files('flask_activity')\n"
        "print(flask_activity.__file__, flask_activity.__version__, root.joinpath('py.typed').is_file(),\n"
        "      root.joinpath('templates/activity/feed.html').is_file())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target), "PYTHONSAFEPATH": "1"}
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    path, ver, typed, template = proc.stdout.split()
    assert Path(path).is_relative_to(target)
    assert (ver, typed, template) == (flask_activity.__version__, "True", "True")
