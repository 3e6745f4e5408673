"""Scenario C at test size (bench/bench_reliability.py runs it larger): the processor under
SNS faults and crashes, the dead-letter queue counted and redriven, every subscriber converging."""

from __future__ import annotations

from lava_state_local import LocalAws
from tests.scenario_c import scenario_c


def test_scenario_c_subscribers_converge_after_faults_crashes_and_a_redrive(
    local_aws: LocalAws, realm: str
) -> None:
    report = scenario_c(local_aws, realm, ids=4, writes=30, rate=0.2, seed=5, subscribers=2)

    assert sum(report.faults.values()) > 0, report.line()  # the faults did happen
    assert report.errors["dead-lettered records"] >= 1, report.line()  # the poison record
    assert report.errors["redriven records"] >= 1, report.line()
    assert report.errors["left on the dead-letter queue"] == 0, report.line()
    assert report.lost == 0, report.line()
    assert report.misreported == 0, report.line()
    assert "subscribers converged 2/2" in report.notes[0]
