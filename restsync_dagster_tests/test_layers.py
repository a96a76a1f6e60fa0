"""The package's folders are its layers: a module imports only its own layer and the ones below it."""

from __future__ import annotations

import ast
from pathlib import Path

from restsync_dagster_tests.support.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "restsync_dagster"
LAYERS = ["config", "http", "extract", "load", "orchestration", "cli"]  # lowest first
APART = {"simulator"}  # serves the APIs; imports nothing of the engine


def _imports(path: Path) -> set[str]:
    """Every restsync_dagster module a file imports, at any depth (also inside functions)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("restsync_dagster.") or name == "restsync_dagster"}


def _layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_every_module_sits_in_a_layer_folder() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "definitions.py"))
    assert loose == [], f"modules outside the layer folders: {loose}"
    folders = sorted(p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert folders == sorted([*LAYERS, *APART])


def test_no_import_runs_up_a_layer() -> None:
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        own = path.relative_to(PACKAGE).parts[0]
        if own not in LAYERS and own not in APART:
            continue  # definitions.py sits on top of every layer
        for module in _imports(path):
            target = _layer_of(module)
            if target not in LAYERS and target not in APART:
                continue
            if own in APART and target != own:
                upward.append(f"{path.relative_to(PACKAGE)} -> {module} (the simulator imports nothing of the engine)")
            elif own in LAYERS and target in LAYERS and LAYERS.index(target) > LAYERS.index(own):
                upward.append(f"{path.relative_to(PACKAGE)} ({own}) -> {module} ({target})")
    assert upward == [], "imports running up a layer:\n" + "\n".join(upward)


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    """The checker itself: an import of orchestration from config is found."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from restsync_dagster.orchestration.runner import run_api\n")
    assert "restsync_dagster.orchestration.runner" in _imports(module)
