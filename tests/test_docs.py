"""The README's and docs/*.md's examples, run against the embedded local AWS, so they cannot drift.

Every fenced block labelled ``sh``, ``shell``, ``bash``, ``console`` or
``python`` is an example and runs, as written, with the file's earlier blocks
run first: Python blocks in one namespace per file, shell blocks with bash
(``-e -o pipefail``, the virtual environment's ``bin`` first on PATH; in a
``console`` block, the ``$ `` lines), all in one scratch directory per file.
They run against realm ``dev`` (``LAVA_REALM=dev``), provisioned with the
stream processor as ``lava-state local up`` does, its table emptied before
each file. A block that cannot run here (it installs, deploys to AWS, or
blocks until Ctrl-C) has a marker on the line before its fence::

    <!-- no-run: the reason -->

and is reported as skipped with that reason; a marker anywhere else fails.
Blocks labelled otherwise (json, text, none) are not examples.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lava_state.naming import table_name
from lava_state_local import LocalAws

ROOT = Path(__file__).resolve().parent.parent
REALM = "dev"
SHELL = frozenset({"sh", "shell", "bash", "console"})
PYTHON = frozenset({"python", "py"})
_FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>```+|~~~+)\s*(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"^\s*<!--\s*no-run:\s*(?P<reason>.*?)\s*-->\s*$")
_BLOCK_TIMEOUT_S = 120


def doc_files() -> list[Path]:
    """The README and every docs/*.md (files added later are picked up)."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@dataclass(frozen=True)
class Block:
    """One fenced example: where it is, its language and code, and why it is not run."""

    path: Path
    name: str  # file:line of the opening fence, the test's id
    lang: str
    code: str
    skip: str | None


def parse(path: Path, root: Path = ROOT) -> tuple[list[Block], list[str]]:
    """The examples of a file, and the misplaced markers (as error messages)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    errors: list[str] = []
    where = path.relative_to(root)
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        marker = _MARKER.match(lines[index])
        if marker:
            following = _FENCE.match(lines[index + 1]) if index + 1 < len(lines) else None
            if following is None or following["lang"] not in SHELL | PYTHON:
                errors.append(
                    f"{where}:{index + 1}: a no-run marker must be the line before "
                    "a sh/shell/bash/console/python fence"
                )
        if not opening:
            index += 1
            continue
        indent, fence, lang = opening["indent"], opening["fence"], opening["lang"]
        body: list[str] = []
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(fence):
            text = lines[end]
            body.append(text[len(indent) :] if text.startswith(indent) else text.lstrip())
            end += 1
        if lang in SHELL | PYTHON:
            before = _MARKER.match(lines[index - 1]) if index > 0 else None
            code = "\n".join(body) + "\n"
            skip = before["reason"] if before else None
            blocks.append(Block(path, f"{where}:{index + 1}", lang, code, skip))
        index = end + 1
    return blocks, errors


def console_commands(code: str) -> str:
    """The commands of a console transcript: its ``$ `` lines and their continuations."""
    commands: list[str] = []
    continued = False
    for text in code.splitlines():
        if continued or text.startswith("$ "):
            commands.append(text if continued else text[2:])
            continued = text.rstrip().endswith("\\")
    return "\n".join(commands) + "\n"


ALL_BLOCKS = [block for path in doc_files() for block in parse(path)[0]]


@dataclass
class FileRun:
    """A file's examples run in order, once each, in one namespace and directory."""

    blocks: list[Block]
    workdir: Path
    namespace: dict[str, Any] = field(default_factory=lambda: {"__name__": "__main__"})
    done: int = 0
    errors: dict[int, BaseException] = field(default_factory=dict)

    def run_through(self, block: Block, monkeypatch: pytest.MonkeyPatch) -> None:
        """Run the blocks up to ``block`` not yet run; raise ``block``'s failure."""
        monkeypatch.chdir(self.workdir)
        target = self.blocks.index(block)
        while self.done <= target:
            current = self.blocks[self.done]
            self.done += 1
            if current.skip is not None:
                continue
            try:
                run(current, self.namespace)
            except Exception as exc:
                self.errors[self.done - 1] = exc
        if target in self.errors:
            raise self.errors[target]


def run(block: Block, namespace: dict[str, Any]) -> None:
    if block.lang in PYTHON:
        exec(compile(block.code, block.name, "exec"), namespace)
        return
    code = console_commands(block.code) if block.lang == "console" else block.code
    env = {
        **os.environ,
        "LAVA_REALM": REALM,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    result = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=_BLOCK_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, (
        f"{block.name} exited {result.returncode}\n--- stdout\n{result.stdout}"
        f"--- stderr\n{result.stderr}"
    )


@pytest.fixture(scope="session")
def docs_realm(local_aws: LocalAws) -> str:
    """Realm ``dev`` with the stream processor on its stream, as ``lava-state local up`` has."""
    local_aws.provision_realm(REALM)
    local_aws.start_stream_runner(REALM)
    return REALM


@pytest.fixture(scope="session")
def file_runs() -> dict[Path, FileRun]:
    return {}


def empty_table(local_aws: LocalAws) -> None:
    dynamodb = local_aws.client("dynamodb")
    table = table_name(REALM)
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        for item in page["Items"]:
            dynamodb.delete_item(TableName=table, Key={"state_id": item["state_id"]})


@pytest.mark.parametrize("block", ALL_BLOCKS, ids=[block.name for block in ALL_BLOCKS])
def test_example(
    block: Block,
    docs_realm: str,
    local_aws: LocalAws,
    file_runs: dict[Path, FileRun],
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if block.skip is not None:
        pytest.skip(f"{block.name}: no-run: {block.skip}")
    monkeypatch.setenv("LAVA_REALM", docs_realm)
    file_run = file_runs.get(block.path)
    if file_run is None:
        empty_table(local_aws)
        blocks = [b for b in ALL_BLOCKS if b.path == block.path]
        workdir = tmp_path_factory.mktemp(block.path.stem)
        file_run = file_runs[block.path] = FileRun(blocks, workdir)
    file_run.run_through(block, monkeypatch)


def test_every_no_run_marker_precedes_an_example() -> None:
    errors = [error for path in doc_files() for error in parse(path)[1]]
    assert errors == []


def test_the_parser_finds_examples_markers_and_console_commands(tmp_path: Path) -> None:
    """The runner itself: what counts as an example, what a marker skips, what fails."""
    doc = tmp_path / "doc.md"
    doc.write_text(
        "```sh\necho one\n```\n"
        "<!-- no-run: needs a terminal -->\n```bash\nsleep 1000\n```\n"
        "```json\n{}\n```\n"
        "- item\n\n  ```python\n  x = 1\n  ```\n"
        "```console\n$ echo a \\\n  b\na b\n$ true\n```\n"
        "<!-- no-run: stale -->\n\ntext\n",
        encoding="utf-8",
    )
    blocks, errors = parse(doc, root=tmp_path)

    assert [(b.name, b.lang, b.skip) for b in blocks] == [
        ("doc.md:1", "sh", None),
        ("doc.md:5", "bash", "needs a terminal"),
        ("doc.md:13", "python", None),
        ("doc.md:16", "console", None),
    ]
    assert blocks[2].code == "x = 1\n"
    assert console_commands(blocks[3].code) == "echo a \\\n  b\ntrue\n"
    assert errors == [
        "doc.md:22: a no-run marker must be the line before a sh/shell/bash/console/python fence"
    ]
