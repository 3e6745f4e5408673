"""The core's model modules import none of the components; only its edge modules may."""

from __future__ import annotations

import ast
from pathlib import Path

import lava_state

COMPONENTS = {"publisher", "consumer_sdk", "stream_processor"}
EDGE = {"cli", "local", "demo", "__main__"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_core_model_imports_no_component() -> None:
    core = Path(lava_state.__file__).parent
    offenders = {
        path.name: imported_roots(path) & COMPONENTS
        for path in core.glob("*.py")
        if path.stem not in EDGE and imported_roots(path) & COMPONENTS
    }
    assert offenders == {}


def test_every_package_ships_py_typed_and_all() -> None:
    import consumer_sdk
    import publisher
    import stream_processor

    for package in (lava_state, publisher, consumer_sdk, stream_processor):
        assert (Path(package.__file__).parent / "py.typed").exists()
        assert isinstance(package.__all__, list)
        for name in package.__all__:
            assert hasattr(package, name), f"{package.__name__}.{name}"
