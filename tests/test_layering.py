"""The package's layers, read from its own import statements: no cycles, configuration
depends on nothing above it, pure modules stay pure, and validating a config stays cheap."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import triagebot
from triagebot.trackers import KINDS

PACKAGE = Path(triagebot.__file__).parent
ROOT = PACKAGE.parent

#: Modules that take values and return values: no configuration objects, no storage.
PURE = (
    "triagebot.clock",
    "triagebot.identity",
    "triagebot.backoff",
    "triagebot.stack",
    "triagebot.mail.parse",
    "triagebot.mail.mime",
    "triagebot.mail.bounce",
    "triagebot.mail.html",
    "triagebot.mail.classify",
    "triagebot.mail.reply",
    "triagebot.mail.report",
    "triagebot.rules",
    "triagebot.lifecycle",
    "triagebot.confirm.commands",
    "triagebot.confirm.tokens",
)
#: What a pure module must never import (directly or through other modules of the package).
IMPURE = ("triagebot.config", "triagebot.store", "sqlalchemy", "triagebot.services")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, *, top_level_only: bool) -> set[str]:
    """Modules ``path`` imports when it runs (``if TYPE_CHECKING:`` blocks are not run); with
    ``top_level_only``, only the statements that run at import, not those inside functions."""
    found: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text(encoding="utf-8"))]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and ast.unparse(node.test).endswith("TYPE_CHECKING"):
            todo.extend(node.orelse)
            continue
        if top_level_only and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        todo.extend(ast.iter_child_nodes(node))
    return found


def graph(*, top_level_only: bool) -> dict[str, set[str]]:
    """triagebot module → the triagebot modules it imports (names that are not modules,
    such as ``from triagebot.config import Config``, resolve to their module)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in imports(path, top_level_only=top_level_only):
            target = imported
            while target and target not in modules:
                target = target.rpartition(".")[0]
            # A package runs before its modules, so importing one's own package adds no edge.
            if target and not (name == target or name.startswith(target + ".")):
                targets.add(target)
        edges[name] = targets
    return edges


def reachable(edges: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each as the path that closes it (iterative DFS)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(edges):
        if root in state:
            continue
        stack: list[tuple[str, list[str]]] = [(root, sorted(edges[root]))]
        path = [root]
        state[root] = 1
        while stack:
            node, todo = stack[-1]
            if not todo:
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            nxt = todo.pop()
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, sorted(edges.get(nxt, ()))))
    return found


def test_no_import_cycles() -> None:
    """Module-level imports form no cycle (a cycle makes import order matter)."""
    assert cycles(graph(top_level_only=True)) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_configuration_depends_on_nothing_above_it() -> None:
    """``config`` may use the error tree only; everything else depends on it, not it on them."""
    assert reachable(graph(top_level_only=False), "triagebot.config") <= {"triagebot.errors"}


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_import_no_configuration_or_storage(module: str) -> None:
    edges = graph(top_level_only=False)
    inside = {m for m in edges if m == module or m.startswith(module + ".")}
    reached = set().union(*(reachable(edges, m) for m in inside)) | inside
    assert not {m for m in reached for bad in IMPURE if m == bad or m.startswith(bad + ".")}


def test_every_registered_tracker_module_exists() -> None:
    """The registry names modules by string (imported on use): each one is there."""
    for name, module in KINDS.items():
        path = ROOT / (module.replace(".", "/") + ".py")
        assert path.exists(), f"{name}: {path}"


def test_validating_a_config_imports_no_database_layer(tmp_path: Path) -> None:
    """``load_config`` on a config with a digest and an IMAP mailbox loads neither SQLAlchemy
    nor the store (``python -X importtime`` shows the same)."""
    config = tmp_path / "triagebot.toml"
    config.write_text(
        (ROOT / "config.example.toml").read_text(encoding="utf-8")
        + '\n[[digest]]\nname = "d"\nrecipients = ["dev@example.test"]\n',
        encoding="utf-8",
    )
    code = (
        "import sys; from triagebot.config import load_config; "
        f"load_config({str(config)!r}); "
        "print(sorted(m for m in sys.modules if m.startswith(('sqlalchemy', 'triagebot'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    loaded = done.stdout.strip()
    assert "sqlalchemy" not in loaded
    assert "triagebot.store" not in loaded
    assert "triagebot.config" in loaded
