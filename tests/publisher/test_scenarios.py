"""Reliability scenarios A, B and D at test size (bench/bench_reliability.py runs the full sizes).

Faults are injected into about a fifth of the DynamoDB requests (throttles,
500s, refused connections, commit-then-timeout); every call's reported
outcome is checked against the table's stream, which holds every applied write.
"""

from __future__ import annotations

from lava_state_local import LocalAws
from tests.scenarios import scenario_a, scenario_b, scenario_d


def test_scenario_a_concurrent_puts_under_faults_report_only_true_outcomes(
    local_aws: LocalAws, realm: str
) -> None:
    report = scenario_a(local_aws, realm, threads=4, puts=30, ids=10, rate=0.2, seed=11)

    assert sum(report.faults.values()) > 0, report.line()  # the faults did happen
    assert report.operations == 120
    assert report.misreported == 0, report.notes
    assert report.lost == 0, report.notes
    assert report.duplicate_versions == 0, report.notes
    # An unconditional put ends as a success unless every round failed.
    assert report.succeeded >= 110, report.line()


def test_scenario_b_concurrent_updates_under_faults_count_every_applied_increment(
    local_aws: LocalAws, realm: str
) -> None:
    report = scenario_b(local_aws, realm, threads=4, updates=15, rate=0.2, seed=12)

    assert sum(report.faults.values()) > 0, report.line()
    assert report.operations == 60
    assert report.misreported == 0, report.line()
    assert report.lost == 0, report.line()
    assert report.duplicate_versions == 0, report.line()


def test_scenario_d_kms_unavailable_refuses_secure_puts_and_still_reads_json(
    local_aws: LocalAws, realm: str
) -> None:
    report = scenario_d(local_aws, realm, puts=3)

    assert report.errors == {"AwsUnavailable": 3}, report.line()
    assert report.succeeded == 3  # the json items, read while KMS is down
    assert report.notes == []  # each error names the item and the encryption
    assert report.lost == 0  # nothing secure written
    assert report.misreported == 0
    assert report.faults == {"refused": 3 * 5}  # botocore's five attempts per put
