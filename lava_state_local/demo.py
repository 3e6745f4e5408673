"""``lava-state demo``: the seed's scenario on an ephemeral embedded AWS.

Three jobs: demo/line-counter posts ``sid`` from a shell payload,
demo/line-watcher (subscribed before it runs) reacts to the change, and
demo/line-reporter gets ``sid`` rendered into its payload.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from consumer_sdk._receive import ChangeQueue
from lava_state.constants import ENV_JOB_ID, ENV_REALM
from lava_state.naming import topic_name
from lava_state_local.server import LocalAws, local_aws

if TYPE_CHECKING:
    from collections.abc import Callable

    from consumer_sdk import StateClient
    from consumer_sdk.changes import StateChange
    from lava_state.events import ChangeEvent

REALM = "demo"
LINES = 45


def _shell(payload: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", payload], env=env, capture_output=True, text=True, check=False
    )


def _receive_change(queue: ChangeQueue) -> ChangeEvent | None:
    """The first complete change event on the queue (acknowledged), waiting up to 10 s."""
    for delivery in queue.receive(wait_seconds=10, max_messages=1):
        event = delivery.event()
        queue.ack(delivery)
        return event
    return None


class _LineWatcher:
    """Job demo/line-watcher: subscribes to 'sid' (before the counter runs) and, in a
    thread, reacts to the first change, noting when it was yielded."""

    def __init__(self, client: StateClient, say: Callable[[str], None]) -> None:
        self.say = say
        say("\n== job demo/line-watcher subscribes to 'sid' before the counter runs")
        say(">>> subscription = client.subscribe(['sid'])")
        # No settle or resync read: the demo ends long before either would come.
        self.subscription = client.subscribe(["sid"], resync=None, missing_topic_ttl=0)
        self.reacted: tuple[StateChange, float] | None = None
        self.thread = threading.Thread(target=self._watch, name="demo-line-watcher")
        self.thread.start()

    def _watch(self) -> None:
        with self.subscription:
            for change in self.subscription.events(timeout=15):
                self.reacted = (change, time.time())
                return

    def report(self) -> bool:
        self.thread.join()
        self.say("\n== job demo/line-watcher")
        if self.reacted is None:
            self.say("reacted to nothing within 15 s")
            return False
        change, at = self.reacted
        self.say(
            f"reacted to: {change.kind.value} of {change.state_id!r} version {change.version} "
            f"by {change.publisher!r}, value {change.value}"
        )
        if change.approximate_creation_time is not None:
            latency = (at - change.approximate_creation_time.timestamp()) * 1000
            self.say(
                f"publish -> react latency: {latency:.0f} ms (from the change's stream record "
                "to the subscription yielding it)"
            )
        return bool(change.value == {"lines": str(LINES)})


class _Demo:
    """The scenario's steps; each prints what happens and returns whether it behaved."""

    def __init__(self, aws: LocalAws, tmp: str, say: Callable[[str], None]) -> None:
        from consumer_sdk import StateClient
        from publisher import StatePublisher

        self.aws, self.tmp, self.say = aws, tmp, say
        # The payloads run `lava-state` from this installation, as a worker's shell would.
        scripts = sysconfig.get_path("scripts")
        self.env = {
            **os.environ,
            **aws.env(),
            ENV_REALM: REALM,
            "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        session, endpoint = aws.session(), aws.endpoint_url
        self.client = StateClient(REALM, session=session, endpoint_url=endpoint)
        self.publisher = StatePublisher(
            REALM, session=session, endpoint_url=endpoint, publisher="demo"
        )

    def _stored(self, state_id: str) -> dict[str, Any] | None:
        """The raw item, as DynamoDB holds it (expired or not)."""
        item = self.aws.client("dynamodb").get_item(
            TableName=f"lava.{REALM}.state", Key={"state_id": {"S": state_id}}
        )
        return item.get("Item")

    def line_counter(self) -> bool:
        self.say("\n== an external actor subscribes to changes of 'sid' (SNS topic -> SQS queue)")
        # Leaving the block unsubscribes and deletes the actor's queue.
        with ChangeQueue(
            REALM,
            queue_name="demo-watcher",
            session=self.aws.session(),
            endpoint_url=self.aws.endpoint_url,
        ) as queue:
            queue.subscribe(queue.state_topic("sid"))
            self.say(f"topic {topic_name(REALM, 'sid')}")
            watcher = _LineWatcher(self.client, self.say)
            counted = self._count_lines(queue)
            return watcher.report() and counted

    def _count_lines(self, queue: ChangeQueue) -> bool:
        data = Path(self.tmp, "data.csv")
        data.write_text("".join(f"row {i}\n" for i in range(LINES)))
        # BSD wc pads its count with spaces: strip them so the value is the number alone.
        payload = f"lava-state put sid -p lines=$(wc -l < {shlex.quote(str(data))} | tr -d ' ')"
        self.say("\n== job demo/line-counter")
        self.say(f"$ {payload}")
        result = _shell(payload, {**self.env, ENV_JOB_ID: "demo/line-counter"})
        if result.returncode != 0:
            self.say(f"line-counter failed: {result.stderr.strip()}")
            return False
        self.say(f"stored: {self.client.get('sid')}")
        event = _receive_change(queue)
        if event is None:
            self.say("notified: nothing arrived")
            return False
        self.say(
            f"notified: {event.kind.value} of {event.state_id!r} version {event.version} "
            f"by {event.publisher!r}, value {event.value}"
        )
        return bool(event.value == {"lines": str(LINES)})

    def line_reporter(self) -> bool:
        from consumer_sdk import expand_job_spec

        spec = {
            "job_id": "demo/line-reporter",
            "state": {"sid": "-- default --"},
            "payload": "echo The file contained {{state.sid.lines}} lines",
        }
        self.say("\n== job demo/line-reporter")
        self.say(f"declares state {spec['state']} and payload {spec['payload']!r}")
        expanded = expand_job_spec(spec, client=self.client)
        self.say(f"$ {expanded['payload']}")
        result = _shell(expanded["payload"], self.env)
        self.say(result.stdout.rstrip())
        return result.stdout.strip() == f"The file contained {LINES} lines"

    def secure(self) -> bool:
        self.say("\n== a secure item round-trips through KMS")
        item = self.publisher.put("demo/token", {"token": "s3cr3t-value"}, type="secure")
        self.say(f"put: {item}")
        stored = self._stored("demo/token") or {}
        self.say(f"stored as {len(stored['value']['B'])} bytes of KMS ciphertext (binary)")
        read = self.client.get("demo/token")
        ok = read is not None and read.value == {"token": "s3cr3t-value"}
        self.say(f"read back and decrypted: {ok}")
        return ok

    def expired(self) -> bool:
        self.say("\n== an expired item reads as absent")
        self.publisher.put("demo/short-lived", "soon gone", ttl="1s")
        time.sleep(2.1)
        still_there = self._stored("demo/short-lived") is not None
        expired = self.client.get("demo/short-lived")
        self.say(f"still in the table (DynamoDB deletes lazily): {still_there}; read: {expired}")
        return expired is None

    def reserved(self) -> bool:
        self.say("\n== a reserved id is refused")
        payload = "lava-state put lava-internal -v 1"
        self.say(f"$ {payload}")
        result = _shell(payload, self.env)
        self.say(f"{result.stderr.strip()} (exit {result.returncode})")
        return result.returncode == 1


def run_demo(say: Callable[[str], None] = print) -> int:
    """Run the scenario, printing each step; returns 0 when every step behaved."""
    with local_aws(REALM, stream_runner=True) as aws, tempfile.TemporaryDirectory() as tmp:
        # The in-process stream processor logs a JSON line per batch: useful under
        # `local up`, noise here.
        logging.getLogger("lava-state-stream-processor").setLevel(logging.WARNING)
        say(f"== embedded AWS at {aws.endpoint_url}, realm {REALM!r} (table lava.{REALM}.state)")
        say("   with the stream processor running on the table's stream")
        demo = _Demo(aws, tmp, say)
        # Every step runs, even after a failure, so the output shows them all.
        results = [
            step()
            for step in (
                demo.line_counter,
                demo.line_reporter,
                demo.secure,
                demo.expired,
                demo.reserved,
            )
        ]
        ok = all(results)
        say("\n== demo " + ("passed" if ok else "FAILED"))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_demo())
