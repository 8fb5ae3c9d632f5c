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
