"""The package's shape: sub-packages in data-flow order, imports only downwards, no cycles, the
package's own imports at module top, argparse only in the CLI, and modules and functions small."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "captioning"
# Lowest first; a module may import its own sub-package and the ones listed before it.
LAYERS = ["core", "text", "images", "data", "features", "decoder", "metrics", "render", "training",
          "tools", "lab", "cli"]
# Longer than the guides (300 lines a module, 60 a function), because they read better whole.
LONG_FUNCTIONS: dict[str, str] = {}


def modules() -> dict[str, ast.Module]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - node.level + 1]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, tree: ast.Module) -> list[tuple[str, bool]]:
    """(imported captioning module, at module top?) for every import statement in a module."""
    is_package = (PACKAGE.parent / Path(*name.split(".")) / "__init__.py").is_file()
    top = {id(n) for n in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(name, is_package, node)
            names = [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for n in names:
            if n.split(".")[0] == "captioning":
                found.append((n, id(node) in top))
    return found


MODULES = modules()


def _known(target: str) -> str:
    """The module an imported name lives in (from x import name: name may be a function)."""
    while target not in MODULES and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def layer(module: str) -> int | None:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 and parts[1] in LAYERS else None


def test_every_sub_package_has_a_layer():
    subs = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file())
    assert subs == sorted(LAYERS)
    assert {m for m in MODULES if m.count(".") == 1} - {f"captioning.{s}" for s in subs} == {"captioning.__main__"}


def test_imports_only_point_down_the_layers():
    upward = []
    for name, tree in MODULES.items():
        mine = layer(name)
        for target, _ in imports(name, tree):
            theirs = layer(_known(target))
            if mine is not None and (theirs is None or theirs > mine):
                upward.append(f"{name} -> {target}")
    assert upward == []


def test_no_import_cycles():
    graph = {name: {_known(t) for t, _ in imports(name, tree)} - {name} for name, tree in MODULES.items()
             if name != "captioning"}  # the root only re-exports, lazily
    cycles, state = [], {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                cycles.append([*path[path.index(nxt):], nxt] if nxt in path else [node, nxt])
            elif nxt in graph and nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_the_package_imports_its_own_modules_at_module_top():
    local = [f"{name} -> {t}" for name, tree in MODULES.items() for t, top in imports(name, tree) if not top]
    assert local == []


def test_argparse_and_flags_only_in_the_cli():
    flag = re.compile(r"Namespace|--[a-z]")
    offenders = [f"{p.relative_to(PACKAGE)}:{i}" for p in PACKAGE.rglob("*.py") if p.parent.name != "cli"
                 for i, line in enumerate(p.read_text().splitlines(), 1) if flag.search(line)]
    assert offenders == []


def test_modules_and_functions_stay_small():
    long_modules = [p.name for p in PACKAGE.rglob("*.py") if len(p.read_text().splitlines()) > 300]
    long_functions = []
    for name, tree in MODULES.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                size = node.end_lineno - node.lineno + 1
                key = f"{name}.{node.name}"
                if size > 60 and key not in LONG_FUNCTIONS:
                    long_functions.append(f"{key} ({size} lines)")
    assert long_modules == [] and long_functions == []


@pytest.mark.parametrize("name", ["Captioner", "DecodeConfig", "DecoderConfig", "TrainConfig", "Checkpoint"])
def test_the_root_exports_the_public_api(name):
    import captioning

    assert getattr(captioning, name).__name__ == name
    assert name in dir(captioning)
