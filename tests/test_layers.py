"""The folder tree is the architecture (docs/architecture.md): each layer imports only the
layers below it, read from the source (no import is run)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# layer -> the packages of this project it must not import
FORBIDDEN = {
    "handoff/domain": ("handoff.usecases", "handoff.read", "handoff.infra", "handoff.core",
                       "dashboard_api", "msgcenter", "connectors"),
    "handoff/infra": ("handoff.usecases", "handoff.read", "handoff.core", "dashboard_api",
                      "msgcenter", "connectors"),
    "handoff/read": ("handoff.usecases", "handoff.core", "dashboard_api", "msgcenter",
                     "connectors"),
    "handoff/usecases": ("handoff.core", "dashboard_api", "msgcenter"),
    "storage": ("handoff", "connectors", "dashboard_api", "msgcenter", "bot"),
    "connectors": ("handoff", "dashboard_api", "msgcenter"),
    "bot": ("handoff", "dashboard_api", "msgcenter", "connectors", "storage"),
}  # fmt: skip


def imports(path: Path) -> set[str]:
    """Every module ``path`` imports (absolute names; relative imports are not used here)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_is_below_it(layer: str) -> None:
    modules = sorted((ROOT / layer).rglob("*.py"))
    assert modules, f"{layer} holds no module"
    wrong = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in modules
        for name in sorted(imports(path))
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer])
    ]
    assert not wrong, "\n".join(wrong)


def test_the_check_sees_an_import_across_layers(tmp_path: Path) -> None:
    source = tmp_path / "x.py"
    source.write_text("from handoff.usecases.desk import Desk\nimport msgcenter.cli\n")
    assert {"handoff.usecases.desk", "msgcenter.cli"} <= imports(source)
