from __future__ import annotations

import re

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
    # demo/line-watcher subscribed before the counter ran, and reacted to its put
    watcher = output.index("== job demo/line-watcher subscribes to 'sid' before the counter runs")
    assert watcher < output.index("== job demo/line-counter")
    assert (
        f"reacted to: put of 'sid' version 1 by 'demo/line-counter', value {{'lines': '{LINES}'}}"
        in output
    )
    latency = re.search(r"publish -> react latency: (\d+) ms", output)
    assert latency is not None and 0 <= int(latency[1]) < 5000
    assert "s3cr3t-value" not in output
    assert "read: None" in output
    assert "lava-state: state_id 'lava-internal' is reserved: ids starting with 'lava'" in output
    assert "(exit 1)" in output
    assert "| tr -d ' ')" in output
    assert output.endswith("demo passed")
