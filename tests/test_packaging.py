"""The distribution ships every module: a package left out of pyproject's list works in the editable
install the tests use and breaks a real ``pip install`` (this happened to ``aiops.api.routes``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_python_package_folder_is_listed_in_pyproject() -> None:
    setup = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = setup["package-dir"]
    listed = set(setup["packages"])
    found = set()
    for name, folder in package_dir.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    assert found, "no packages found: the package-dir mapping moved"
    assert found <= listed, f"not in [tool.setuptools] packages: {sorted(found - listed)}"


def test_messages_and_docs_point_to_files_the_repository_has() -> None:
    """The contracts live in docs/contracts.md; a pointer to a CONTRACTS.md the repository does not
    ship sends a newcomer nowhere (it was in --help, docstrings and a rejection reason)."""
    assert (ROOT / "docs" / "contracts.md").is_file()
    stale = [
        str(path.relative_to(ROOT))
        for folder in ("aiops", "api", "consumers", "detectors", "docs")
        for path in (ROOT / folder).rglob("*")
        if path.suffix in (".py", ".md") and "CONTRACTS.md" in path.read_text()
    ]
    readme = (ROOT / "README.md").read_text()
    assert not stale and "CONTRACTS.md" not in readme, stale


def test_pg_test_clean_removes_its_data_folder_and_nothing_else(tmp_path: Path) -> None:
    """scripts/test left ~350 MB of PostgreSQL data in /tmp; it now runs `pg-test clean`."""
    import os
    import subprocess

    script = ROOT / "deploy" / "postgres" / "pg-test"
    ours, theirs = tmp_path / "pg", tmp_path / "someone-elses"
    for folder, marker in ((ours, "PG_VERSION"), (theirs, "notes.txt")):
        folder.mkdir()
        (folder / marker).write_text("16\n")
        env = {**os.environ, "AIOPS_PG_DATA": str(folder)}
        subprocess.run([str(script), "clean"], env=env, check=True, capture_output=True, timeout=60)
    assert not ours.exists()
    assert (theirs / "notes.txt").is_file()
    assert "pg-test clean" in (ROOT / "scripts" / "test").read_text()


def test_pyproject_gives_setuptools_nothing_to_warn_about() -> None:
    """The first `scripts/demo` printed ~95 lines of setuptools warnings: a license table (deprecated;
    an SPDX string needs setuptools>=77) and aiops.store.migrations importable but not listed."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert isinstance(pyproject["project"]["license"], str)
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
    setup = pyproject["tool"]["setuptools"]
    data_folders = {
        ".".join([name, *folder.relative_to(ROOT / base).parts])
        for name, base in setup["package-dir"].items()
        for folder in (ROOT / base).rglob("*")
        if folder.is_dir() and "__pycache__" not in folder.parts and any(folder.glob("*.sql"))
    }
    assert data_folders == {"aiops.store.migrations"}
    assert data_folders <= set(setup["packages"])
    assert "Editable installation" in (ROOT / "scripts" / "setup").read_text()
