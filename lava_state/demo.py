"""``lava-state demo``: the seed's scenario on an ephemeral embedded AWS."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from lava_state.constants import ENV_JOB_ID, ENV_REALM
from lava_state.local import local_aws

if TYPE_CHECKING:
    from collections.abc import Callable

REALM = "demo"
LINES = 45


def _shell(payload: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", "-c", payload], env=env, capture_output=True, text=True, check=False
    )


def run_demo(say: Callable[[str], None] = print) -> int:
    """Run the scenario, printing each step; returns 0 when every step behaved."""
    from consumer_sdk import StateClient, expand_job_spec
    from publisher import StatePublisher

    with local_aws(REALM) as aws, tempfile.TemporaryDirectory() as tmp:
        say(f"== embedded AWS at {aws.endpoint_url}, realm {REALM!r} (table lava.{REALM}.state)")
        # The payloads run `lava-state` from this installation, as a worker's shell would.
        scripts = sysconfig.get_path("scripts")
        env = {
            **os.environ,
            **aws.env(),
            ENV_REALM: REALM,
            "PATH": f"{scripts}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        session, endpoint = aws.session(), aws.endpoint_url
        client = StateClient(REALM, session=session, endpoint_url=endpoint)
        publisher = StatePublisher(REALM, session=session, endpoint_url=endpoint, publisher="demo")

        data = Path(tmp, "data.csv")
        data.write_text("".join(f"row {i}\n" for i in range(LINES)))
        payload = f"lava-state put sid -p lines=$(wc -l < {shlex.quote(str(data))})"
        say("\n== job demo/line-counter")
        say(f"$ {payload}")
        result = _shell(payload, {**env, ENV_JOB_ID: "demo/line-counter"})
        if result.returncode != 0:
            say(f"line-counter failed: {result.stderr.strip()}")
            return 1
        stored = client.get("sid")
        say(f"stored: {stored}")

        spec = {
            "job_id": "demo/line-reporter",
            "state": {"sid": "-- default --"},
            "payload": "echo The file contained {{state.sid.lines}} lines",
        }
        say("\n== job demo/line-reporter")
        say(f"declares state {spec['state']} and payload {spec['payload']!r}")
        expanded = expand_job_spec(spec, client=client)
        say(f"$ {expanded['payload']}")
        result = _shell(expanded["payload"], env)
        say(result.stdout.rstrip())
        ok = result.stdout.strip() == f"The file contained {LINES} lines"

        say("\n== a secure item round-trips through KMS")
        item = publisher.put("demo/token", {"token": "s3cr3t-value"}, type="secure")
        say(f"put: {item}")
        raw = aws.client("dynamodb").get_item(
            TableName=f"lava.{REALM}.state", Key={"state_id": {"S": "demo/token"}}
        )["Item"]["value"]
        say(f"stored as {len(raw['B'])} bytes of KMS ciphertext (binary)")
        read = client.get("demo/token")
        ok &= read is not None and read.value == {"token": "s3cr3t-value"}
        say(f"read back and decrypted: {read is not None and read.value == item.value}")

        say("\n== an expired item reads as absent")
        publisher.put("demo/short-lived", "soon gone", ttl="1s")
        time.sleep(2.1)
        still_there = "Item" in aws.client("dynamodb").get_item(
            TableName=f"lava.{REALM}.state", Key={"state_id": {"S": "demo/short-lived"}}
        )
        expired = client.get("demo/short-lived")
        say(f"still in the table (DynamoDB deletes lazily): {still_there}; read: {expired}")
        ok &= expired is None

        say("\n== a reserved id is refused")
        payload = "lava-state put lava-internal -v 1"
        say(f"$ {payload}")
        result = _shell(payload, env)
        say(f"{result.stderr.strip()} (exit {result.returncode})")
        ok &= result.returncode == 1

        say("\n== demo " + ("passed" if ok else "FAILED"))
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(run_demo())
