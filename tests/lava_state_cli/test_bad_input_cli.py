"""The CLI refuses bad input with one ``lava-state:`` line and exit 1 or 2, never an
internal error, and prints ids so that one id is always one line."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lava_state_cli.read import printable_id
from publisher import StatePublisher

BAD_COMMANDS = [
    ("--endpoint-url", "not a url", "get", "x"),
    ("--endpoint-url", "ftp://host", "ls"),
    ("--region", "bad region!", "get", "x"),
    ("--region", "bad region!", "put", "x", "-v", "1"),
    ("put", "x", "--type", "raw", "--json-value", "1e200"),
    ("put", "x", "--type", "raw", "--json-value", "1e-200"),
    ("put", "x", "--type", "raw", "--json-value", "10000000000000000000000000000000000000000"),
    ("put", "x", "--type", "raw", "--json-value", "[" * 40 + "]" * 40),
    ("put", "x", "--json-value", "[" * 100_000 + "]" * 100_000),
    ("put", "x", "--json-value", "Infinity"),
    ("put", "x", "-v", "1", "--kms-key", "alias/a b", "--type", "secure"),
    ("put", "x\udc80", "-v", "1"),
    ("-r", "a b", "get", "x"),
    ("-r", "a.b", "ls"),
    ("-r", "a/b", "put", "x", "-v", "1"),
]


@pytest.mark.parametrize("argv", BAD_COMMANDS, ids=lambda argv: " ".join(argv)[:60])
def test_bad_input_is_one_error_line(
    cli: Callable[..., tuple[int, str, str]], publisher: StatePublisher, argv: tuple[str, ...]
) -> None:
    code, out, err = cli(*argv)
    assert code in (1, 2), err
    assert out == ""
    # Exit 1: "lava-state: message"; exit 2 (usage): argparse's "lava-state CMD: error: ...".
    lines = [line for line in err.splitlines() if line.startswith("lava-state")]
    assert len(lines) == 1, err
    assert lines[0].startswith("lava-state:") or code == 2
    assert "internal error" not in err
    assert "Traceback" not in err
    if code == 1:
        assert err.count("\n") == 1, err


def test_ls_prints_one_line_per_id(
    cli: Callable[..., tuple[int, str, str]], publisher: StatePublisher
) -> None:
    ids = ["plain", "two\nlines", "tab\there", "esc\x1b[31mred", "back\\slash", "uni\u2028sep"]
    for state_id in ids:
        publisher.put(state_id, 1)
    code, out, _ = cli("ls")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == len(ids)
    assert sorted(lines) == sorted(printable_id(state_id) for state_id in ids)
    assert "two\\nlines" in lines
    assert "back\\\\slash" in lines
    assert not any("\x1b" in line for line in lines)
    # Escaping is reversible: a backslash never stands for itself.
    assert len({printable_id(state_id) for state_id in ids}) == len(ids)


def test_arguments_that_are_not_utf8_are_refused(
    cli: Callable[..., tuple[int, str, str]], publisher: StatePublisher
) -> None:
    # Python decodes argv bytes that are not UTF-8 to lone surrogates.
    for argv in (("get", "x\udcff"), ("ls", "x\udcff"), ("rm", "x\udcff")):
        code, out, err = cli(*argv)
        assert code == 1, err
        assert out == ""
        assert err.startswith("lava-state: state_id has a lone surrogate"), err
