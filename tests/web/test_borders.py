"""Features use each other through a small face only (issue 10): an import from one
feature into another names `laurels.<feature>` (its `__init__`) or
`laurels.<feature>.service`, never a deeper module (a router, a table, a plan).

The one-way order of the packages (no cycles, no router of one feature in another,
the neutral plumbing below every feature) is import-linter's `layers` contract in
pyproject.toml, run by tests/test_import_contracts.py; this module keeps the face
rule, which import-linter cannot say for every module a feature will ever add."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[2] / "src" / "laurels"
# Packages that are not features: neutral plumbing below them, assembly above, the SDK.
NOT_FEATURES = {"web", "wire", "migrations", "sdk", "demo"}
FACES = ("", "service")


def _features() -> list[str]:
    return sorted(
        p.name
        for p in SOURCE.iterdir()
        if (p / "__init__.py").exists() and p.name not in NOT_FEATURES
    )


def _targets(node: ast.AST) -> list[str]:
    """The laurels modules one import statement reaches: `from laurels.x import y`
    reaches `laurels.x.y` when y is a module of x, else `laurels.x`."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
        return []
    package = SOURCE.parent.joinpath(*node.module.split("."))
    return [
        f"{node.module}.{alias.name}"
        if (package / f"{alias.name}.py").exists() or (package / alias.name).is_dir()
        else node.module
        for alias in node.names
    ]


def _past_the_face(feature: str, features: set[str]) -> list[str]:
    """`file: module` for each import of another feature's internals in `feature`."""
    found = []
    for path in sorted((SOURCE / feature).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            for name in _targets(node):
                parts = name.split(".")
                if parts[0] != "laurels" or len(parts) < 2 or parts[1] not in features:
                    continue
                if parts[1] != feature and ".".join(parts[2:]) not in FACES:
                    found.append(f"{path.relative_to(SOURCE)}: {name}")
    return found


@pytest.mark.parametrize("feature", _features())
def test_features_import_each_other_through_the_face_only(feature: str) -> None:
    assert _past_the_face(feature, set(_features())) == []


def test_the_face_rule_sees_a_deep_import(tmp_path: Path) -> None:
    """The check itself: `from laurels.titles import catalog` and
    `laurels.progress.views` are past the face; the faces are not."""
    code = (
        "from laurels.titles import catalog\n"
        "import laurels.progress.views\n"
        "from laurels.progress.service import read_stats\n"
        "from laurels.titles import Catalog\n"
        "from laurels import outbox\n"
    )
    reached = [name for node in ast.walk(ast.parse(code)) for name in _targets(node)]
    assert reached == [
        "laurels.titles.catalog",
        "laurels.progress.views",
        "laurels.progress.service",
        "laurels.titles",
        "laurels.outbox",
    ]
