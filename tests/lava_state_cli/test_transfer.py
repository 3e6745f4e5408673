"""``lava-state export`` and ``import``: files, per-line errors, exit codes, the progress bar."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from pathlib import Path

from consumer_sdk import StateClient
from publisher import StatePublisher

Cli = Callable[..., tuple[int, str, str]]


def test_export_then_import_restores_the_realm(
    cli: Cli, publisher: StatePublisher, client: StateClient, tmp_path: Path
) -> None:
    publisher.put_many({"a": {"x": 1}, "b": [1, 2]})
    publisher.put("pw", "secret", type="secure")
    before = client.get_many(["a", "b", "pw"])
    path = tmp_path / "backup.jsonl"

    code, out, err = cli("export", "-o", str(path))
    assert (code, out) == (0, "")
    assert f"exported 3 items of realm {client.realm!r} to {path}" in err
    assert path.stat().st_mode & 0o777 == 0o600
    assert not Path(f"{path}.partial").exists()
    lines = path.read_text().splitlines()
    assert json.loads(lines[0])["format"] == "lava-state.export/1"
    assert "secret" not in path.read_text()
    for state_id in ("a", "b", "pw"):
        publisher.delete(state_id)

    code, _, err = cli("import", str(path))
    assert code == 0
    assert "3 written, 0 skipped, 0 failed" in err
    assert client.get_many(["a", "b", "pw"]) == before


def test_export_to_stdout_with_a_prefix_and_decrypted_secure_values_warns(
    cli: Cli, publisher: StatePublisher
) -> None:
    publisher.put("job.pw", "s3cret", type="secure")
    publisher.put("other", 1)
    code, out, err = cli("export", "--prefix", "job.", "--decrypt-secure", "--segments", "2")
    assert code == 0
    header, record = (json.loads(line) for line in out.splitlines())
    assert (header["prefix"], header["decrypted"]) == ("job.", True)
    assert (record["state_id"], record["value"]) == ("job.pw", "s3cret")
    assert "warning: --decrypt-secure writes secure values in plaintext to stdout" in err


def test_bad_lines_are_reported_with_their_numbers_and_exit_1_then_a_rerun_writes_nothing(
    cli: Cli, publisher: StatePublisher, client: StateClient, tmp_path: Path
) -> None:
    publisher.put_many({"a": 1, "b": 2})
    path = tmp_path / "in.jsonl"
    code, _, _ = cli("export", "-o", str(path), "-q")
    assert code == 0
    lines = path.read_text().splitlines()
    lava_line = lines[1].replace(f'"{json.loads(lines[1])["state_id"]}"', '"lava.x"')
    path.write_text("\n".join([*lines, "nope", lines[1], lava_line]) + "\n")
    for state_id in ("a", "b"):
        publisher.delete(state_id)

    code, _, err = cli("import", str(path))
    assert code == 1
    assert f"{path}: line 4: not valid JSON" in err
    assert "line 5 (" in err
    assert "already appears on line 2" in err
    assert "line 6 (lava.x):" in err
    assert "reserved" in err
    assert "2 written, 0 skipped, 3 failed" in err
    assert set(client.get_many(["a", "b"])) == {"a", "b"}

    code, _, err = cli("import", str(path))
    assert code == 1
    assert "0 written, 2 skipped, 3 failed" in err


def test_dry_run_writes_nothing_and_a_wrong_header_writes_nothing(
    cli: Cli, publisher: StatePublisher, client: StateClient, tmp_path: Path
) -> None:
    publisher.put("a", 1)
    path = tmp_path / "in.jsonl"
    cli("export", "-o", str(path), "-q")
    publisher.delete("a")
    code, _, err = cli("import", "--dry-run", "--mode", "overwrite", str(path))
    assert code == 0
    assert "1 would be written (dry run)" in err
    assert client.get("a") is None

    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[1:]) + "\n")  # no header
    code, _, err = cli("import", str(path))
    assert code == 1
    assert "line 1 is not a header" in err
    assert client.get("a") is None

    code, _, err = cli("import", str(tmp_path / "missing.jsonl"))
    assert code == 1
    assert "cannot read" in err


def _run_on_a_terminal(env: dict[str, str], *args: str) -> str:
    """Run the CLI with its stderr on a pseudo-terminal; return what it showed there."""
    leader, follower = pty.openpty()
    # A terminal has a size (a new pseudo-terminal's is 0 x 0): 24 rows of 100 columns.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "lava_state_cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=follower,
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=60)
    os.close(leader)
    assert process.returncode == 0
    return shown.decode(errors="replace")


def test_a_progress_bar_on_a_terminal_unless_quiet(
    cli_env: dict[str, str], publisher: StatePublisher, tmp_path: Path
) -> None:
    publisher.put_many({f"k{n}": n for n in range(20)})
    path = tmp_path / "out.jsonl"
    shown = _run_on_a_terminal(cli_env, "export", "-o", str(path))
    assert "20item" in shown.replace(" ", "")
    assert "item/s" in shown
    shown = _run_on_a_terminal(cli_env, "import", "--mode", "overwrite", str(path))
    assert "20/20" in shown
    quiet = _run_on_a_terminal(cli_env, "import", "-q", str(path))
    assert "item/s" not in quiet
    assert "0 written, 20 skipped, 0 failed" in quiet
