from __future__ import annotations

from lava_state_local.demo import LINES, run_demo


def test_demo_runs_the_seed_scenario() -> None:
    lines: list[str] = []
    assert run_demo(lines.append) == 0
    output = "\n".join(lines)
    assert f"The file contained {LINES} lines" in output
    assert (
        f"notified: put of 'sid' version 1 by 'demo/line-counter', value {{'lines': '{LINES}'}}"
        in output
    )
    assert "s3cr3t-value" not in output
    assert "read: None" in output
    assert "lava-state: state_id 'lava-internal' is reserved: ids starting with 'lava'" in output
    assert "(exit 1)" in output
    assert "| tr -d ' ')" in output
    assert output.endswith("demo passed")
