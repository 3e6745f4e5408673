"""The layers of docs/architecture.md, read from the code's own imports.

core (lava_state) <- components (publisher, consumer_sdk, stream_processor)
<- edges (lava_state_local, lava_state_ui <- lava_state_cli): an import only ever points
down. Imports under ``if TYPE_CHECKING:`` are left out: they are erased at
run time and exist for annotations only.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYER = {
    "lava_state": 0,
    "publisher": 1,
    "consumer_sdk": 1,
    "stream_processor": 1,
    "lava_state_local": 2,
    "lava_state_ui": 2,
    "lava_state_cli": 3,
}
PACKAGES = sorted(LAYER)


def _runtime_imports(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """(module, line) of every import outside ``if TYPE_CHECKING:`` blocks."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (item for child in node.orelse for item in _runtime_imports(child))
            continue
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            yield from ((f"{node.module}.{alias.name}", node.lineno) for alias in node.names)
        else:
            yield from _runtime_imports(node)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _graph() -> dict[str, dict[str, int]]:
    """module -> {imported first-party module: line}."""
    modules = {
        _module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges: dict[str, int] = {}
        for target, line in _runtime_imports(ast.parse(path.read_text())):
            if target in modules and target != name:
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def test_every_import_points_down_a_layer() -> None:
    wrong = [
        f"{module}:{line} imports {target}"
        for module, edges in _graph().items()
        for target, line in edges.items()
        if (source := module.split(".")[0]) != (dest := target.split(".")[0])
        and LAYER[dest] >= LAYER[source]
    ]
    assert wrong == []


def test_no_import_circle() -> None:
    graph = _graph()
    # A package's __init__ re-exports its modules; only circles between modules count.
    graph = {
        module: {t: line for t, line in edges.items() if not module.startswith(f"{t}.")}
        for module, edges in graph.items()
    }
    circles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in graph.get(module, {}):
            if state.get(target) == 1:
                circles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert circles == []


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_ships_py_typed_and_all(package: str) -> None:
    import importlib

    module = importlib.import_module(package)
    assert (ROOT / package / "py.typed").exists()
    assert isinstance(module.__all__, list)
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.{name}"


def test_the_console_script_and_python_m_agree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lava_state_cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0
    assert "usage: lava-state" in result.stdout


def test_the_pure_core_does_not_import_boto3() -> None:
    pure = [
        "lava_state",
        "lava_state.naming",
        "lava_state.ttl",
        "lava_state.model",
        "lava_state.codec",
        "lava_state.events",
        "lava_state.settings",
        "lava_state.errors",
        "lava_state.constants",
        "lava_state.retry",
        "lava_state.templating",
    ]
    code = f"import sys; [__import__(m) for m in {pure!r}]; print(sorted(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    loaded = set(ast.literal_eval(result.stdout))
    assert not {"boto3", "botocore", "jinja2", "tenacity"} & loaded
