"""A table's journal: replayed over its snapshot, a line cut short by a kill skipped,
any other bad line refused by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lava_state_local.journal import TableFiles


def item(state_id: str, value: str) -> dict[str, object]:
    return {"state_id": {"S": state_id}, "value": {"S": value}}


def files_with(tmp_path: Path, *lines: str) -> TableFiles:
    files = TableFiles(tmp_path, "lava.dev.state", format_version=1)
    files.journal.write_text("".join(lines))
    return files


def test_changes_replay_over_the_snapshot(tmp_path: Path) -> None:
    files = files_with(
        tmp_path,
        json.dumps({"put": item("a", "2")}) + "\n",
        json.dumps({"put": item("c", "1")}) + "\n",
        json.dumps({"delete": "b"}) + "\n",
    )
    replayed = files.replay([item("a", "1"), item("b", "1")])
    assert sorted(replayed, key=lambda i: str(i["state_id"])) == [item("a", "2"), item("c", "1")]


def test_a_last_line_cut_short_by_a_kill_is_skipped(tmp_path: Path) -> None:
    files = files_with(
        tmp_path, json.dumps({"put": item("a", "2")}) + "\n", '{"put": {"state_id": {"S'
    )
    assert files.replay([item("a", "1")]) == [item("a", "2")]


def test_any_other_bad_line_is_named(tmp_path: Path) -> None:
    files = files_with(tmp_path, "not json\n", json.dumps({"delete": "a"}) + "\n")
    with pytest.raises(
        ValueError, match=r"table\.lava\.dev\.state\.journal: line 1 is not a change"
    ):
        files.replay([])


def test_no_journal_is_the_snapshot_alone(tmp_path: Path) -> None:
    files = TableFiles(tmp_path, "lava.dev.state", format_version=1)
    assert files.replay([item("a", "1")]) == [item("a", "1")]
