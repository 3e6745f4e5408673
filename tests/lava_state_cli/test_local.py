"""lava_state_cli.local: ``local up`` serves the embedded AWS until interrupted.

(``demo`` is tested with the demo itself, in tests/lava_state_local/test_demo.py.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from .conftest import run


def test_local_up_serves_until_interrupted() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "LAVA_REALM"}
    with subprocess.Popen(
        [sys.executable, "-m", "lava_state_cli", "local", "up", "--port", "0", "--realm", "dev"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            exports = {}
            assert server.stdout is not None
            for line in server.stdout:
                if line.startswith("# embedded AWS"):
                    break
                key, _, value = line.removeprefix("export ").strip().partition("=")
                exports[key] = value
            assert exports["LAVA_REALM"] == "dev"
            assert exports["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
            shell_env = {**env, **exports}
            assert run(shell_env, "put", "sid", "-p", "lines=3").returncode == 0
            assert run(shell_env, "get", "sid", "{{ state.lines }}").stdout == "3\n"
        finally:
            server.send_signal(signal.SIGINT)
            try:
                code = server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                # Fail instead of hanging (a parent that ignores SIGINT, such as a
                # shell's background job, passes that on to the child).
                server.kill()
                raise
    assert code == 0
