"""The wheel carries deploy/lava-state.yaml, which the local stack deploys: a
`pip install 'lava-state[local]'` runs `lava-state local up` without a checkout."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_template_and_the_local_stack_reads_it_there(
    tmp_path: Path,
) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        pytest.skip(f"no wheel could be built here (offline?): {built.stderr[-500:]}")
    (wheel,) = tmp_path.glob("lava_state-*.whl")
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(unpacked)

    packaged = unpacked / "lava_state_local" / "lava-state.yaml"
    assert packaged.read_bytes() == (ROOT / "deploy" / "lava-state.yaml").read_bytes()
    # Installed (here: first on the path), the local stack reads the wheel's copy.
    found = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lava_state_local import template; "
            "print(template.TEMPLATE); print(len(template.load()['Resources']))",
        ],
        cwd=tmp_path,
        env={"PYTHONPATH": str(unpacked), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    path, resources = found.stdout.split()
    assert Path(path) == packaged
    assert int(resources) > 10
