"""Deploying the realm stack with boto3: the processor's package uploaded under a
content-addressed key, a CloudFormation change set, its execution and the wait.

No printing here: the caller gets what happened (changes, progress events,
outputs, the failed resources' events) and shows it. Clients are injected.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from lava_state_cli.errors import CommandFailed

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client

#: Where packages go in the code bucket; the rest of the key is the zip's SHA-256.
KEY_PREFIX = "lava-state/processor-"
#: The stack parameters the deploy sets itself.
CODE_PARAMETERS = ("ProcessorCodeBucket", "ProcessorCodeKey")
#: Stack statuses from which an update is possible, and those that end a deploy.
_FAILED_END = (
    "ROLLBACK_COMPLETE",
    "ROLLBACK_FAILED",
    "UPDATE_ROLLBACK_COMPLETE",
    "UPDATE_ROLLBACK_FAILED",
    "CREATE_FAILED",
    "UPDATE_FAILED",
)
_DONE = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE")
# CloudFormation's two ways of saying an update changes nothing.
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


class DeployFailed(CommandFailed):
    """The stack could not be created or updated; ``events`` are the failed resources'."""

    def __init__(self, message: str, *, events: list[StackEvent]) -> None:
        super().__init__(message)
        self.events = events


@dataclass(frozen=True, kw_only=True)
class Change:
    """One row of a change set: a resource, what happens to it, whether it is replaced."""

    logical_id: str
    resource_type: str
    action: str
    replacement: str


@dataclass(frozen=True, kw_only=True)
class StackEvent:
    """One stack event (a resource's status change)."""

    event_id: str
    logical_id: str
    resource_type: str
    status: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ChangeSet:
    """A change set; ``arn`` None: CloudFormation found nothing to change (``changes``
    may also be empty for a change set that changes only parameters or outputs)."""

    arn: str | None
    stack_name: str
    kind: str  # CREATE or UPDATE
    parameters: dict[str, str]
    changes: list[Change]


def package_key(package: bytes) -> str:
    """The code bucket's key of a package: its SHA-256, so an unchanged package is
    uploaded once and its stack parameter does not change."""
    return f"{KEY_PREFIX}{hashlib.sha256(package).hexdigest()}.zip"


class StackDeployer:
    """Creates or updates one stack from a template body, through a change set."""

    def __init__(
        self,
        *,
        cloudformation: CloudFormationClient,
        s3: S3Client,
        stack_name: str,
        poll_seconds: float = 2.0,
        timeout_seconds: float = 3600.0,
    ) -> None:
        self._cfn = cloudformation
        self._s3 = s3
        self.stack_name = stack_name
        self._poll = poll_seconds
        self._timeout = timeout_seconds

    def upload_package(self, package: bytes, *, bucket: str) -> tuple[str, bool]:
        """Put ``package`` in ``bucket`` under its content key unless it is there:
        (key, whether it was uploaded).

        Raises:
            CommandFailed: the bucket cannot be read or written.
        """
        key = package_key(package)
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
            return key, False
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                raise _failed(f"cannot read s3://{bucket}/{key}", exc) from exc
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=package)
        except ClientError as exc:
            raise _failed(f"cannot upload the package to s3://{bucket}/{key}", exc) from exc
        return key, True

    def ensure_bucket(self, bucket: str, *, region: str) -> None:
        """Create ``bucket`` (private, in ``region``) unless this account has it.

        Raises:
            CommandFailed: it belongs to another account or cannot be created.
        """
        try:
            self._s3.head_bucket(Bucket=bucket)
            return
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchBucket"):
                raise _failed(
                    f"cannot use the code bucket {bucket} (pass --code-bucket)", exc
                ) from exc
        options: dict[str, Any] = {}
        if region != "us-east-1":  # us-east-1 refuses its own name as a constraint
            options["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._s3.create_bucket(Bucket=bucket, **options)
        except ClientError as exc:
            raise _failed(
                f"cannot create the code bucket {bucket} (pass --code-bucket)", exc
            ) from exc

    def template_defaults(self, template_body: str) -> dict[str, str | None]:
        """The template's parameters and their defaults (None: required).

        Raises:
            CommandFailed: CloudFormation rejects the template.
        """
        try:
            summary = self._cfn.get_template_summary(TemplateBody=template_body)
        except ClientError as exc:
            raise _failed("the template is not valid", exc) from exc
        return {p["ParameterKey"]: p.get("DefaultValue") for p in summary.get("Parameters", [])}

    def current_parameters(self) -> tuple[str | None, dict[str, str]]:
        """The stack's status (None: no such stack) and its parameter values."""
        try:
            stack = self._cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        except ClientError as exc:
            if "does not exist" in str(exc):
                return None, {}
            raise _failed(f"cannot describe the stack {self.stack_name}", exc) from exc
        values = {
            p["ParameterKey"]: p.get("ParameterValue", "") for p in stack.get("Parameters", [])
        }
        return stack["StackStatus"], values

    def create_change_set(self, template_body: str, *, parameters: Mapping[str, str]) -> ChangeSet:
        """A change set bringing the stack to ``template_body`` with ``parameters``
        (merged over the stack's current values; those equal to the template's
        default are left out, so an unchanged deploy asks for no change).

        Raises:
            CommandFailed: the template or a parameter is refused, or the stack is in
                a state that cannot be updated (ROLLBACK_COMPLETE: delete it first).
        """
        defaults = self.template_defaults(template_body)
        unknown = sorted(set(parameters) - set(defaults))
        if unknown:
            raise CommandFailed(
                f"unknown stack parameter(s) {', '.join(unknown)}: "
                f"the template has {', '.join(sorted(defaults))}"
            )
        status, current = self.current_parameters()
        if status == "ROLLBACK_COMPLETE":
            raise CommandFailed(
                f"the stack {self.stack_name} failed to create and cannot be updated: "
                "delete it (aws cloudformation delete-stack) and deploy again"
            )
        kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
        merged = {k: v for k, v in current.items() if k in defaults} | dict(parameters)
        # Explicit values, not UsePreviousValue: the change set then says all it
        # asks for. (The template has no NoEcho parameter, whose value would hide.)
        explicit = {k: v for k, v in merged.items() if v != defaults.get(k)}
        missing = sorted(k for k, v in defaults.items() if v is None and k not in explicit)
        if missing:
            raise CommandFailed(f"missing stack parameter(s): {', '.join(missing)} (--parameter)")
        name = f"lava-state-{uuid.uuid4().hex[:12]}"
        try:
            created = self._cfn.create_change_set(
                StackName=self.stack_name,
                ChangeSetName=name,
                ChangeSetType=kind,  # type: ignore[arg-type]
                TemplateBody=template_body,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in explicit.items()],
                # The template creates a role and policies without names.
                Capabilities=["CAPABILITY_IAM"],
                Description="lava-state deploy",
            )
        except ClientError as exc:
            if any(text in str(exc) for text in _NO_CHANGES):
                return ChangeSet(
                    arn=None, stack_name=self.stack_name, kind=kind, parameters=explicit, changes=[]
                )
            raise _failed("CloudFormation refused the change set", exc) from exc
        return self._described(created["Id"], kind=kind, parameters=explicit)

    def _described(self, arn: str, *, kind: str, parameters: dict[str, str]) -> ChangeSet:
        """The change set once CloudFormation has computed it."""
        deadline = time.monotonic() + self._timeout
        changes: list[Change] = []
        while True:
            described = self._cfn.describe_change_set(ChangeSetName=arn)
            status = described["Status"]
            if status == "FAILED":
                reason = described.get("StatusReason", "")
                if any(text in reason for text in _NO_CHANGES):
                    self._cfn.delete_change_set(ChangeSetName=arn)
                    return ChangeSet(
                        arn=None,
                        stack_name=self.stack_name,
                        kind=kind,
                        parameters=parameters,
                        changes=[],
                    )
                raise CommandFailed(f"the change set failed: {reason}")
            if status == "CREATE_COMPLETE":
                break
            if time.monotonic() > deadline:
                raise CommandFailed(f"the change set {arn} is still {status}: giving up")
            time.sleep(self._poll)
        for change in described.get("Changes", []):
            resource = change.get("ResourceChange", {})
            changes.append(
                Change(
                    logical_id=resource.get("LogicalResourceId", ""),
                    resource_type=resource.get("ResourceType", ""),
                    action=resource.get("Action", ""),
                    replacement=resource.get("Replacement", "") or "-",
                )
            )
        return ChangeSet(
            arn=arn, stack_name=self.stack_name, kind=kind, parameters=parameters, changes=changes
        )

    def discard(self, change_set: ChangeSet) -> None:
        """Delete a change set that will not be executed (``--dry-run``)."""
        if change_set.arn is not None:
            self._cfn.delete_change_set(ChangeSetName=change_set.arn)

    def execute(
        self, change_set: ChangeSet, *, progress: Callable[[StackEvent], None] | None = None
    ) -> dict[str, str]:
        """Execute ``change_set``, wait until the stack settles, return its outputs.

        ``progress`` gets each new stack event as it is seen.

        Raises:
            DeployFailed: the stack rolled back or failed (with the failed events).
            CommandFailed: CloudFormation refused to execute, or the timeout passed.
        """
        if change_set.arn is None:
            return self.outputs()
        seen = {event.event_id for event in self.events()}
        try:
            self._cfn.execute_change_set(ChangeSetName=change_set.arn)
        except ClientError as exc:
            raise _failed("CloudFormation refused to execute the change set", exc) from exc
        deadline = time.monotonic() + self._timeout
        new: list[StackEvent] = []
        while True:
            status = self._cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0][
                "StackStatus"
            ]
            fresh = [event for event in self.events() if event.event_id not in seen]
            for event in reversed(fresh):  # oldest first
                seen.add(event.event_id)
                new.append(event)
                if progress is not None:
                    progress(event)
            if status in _DONE:
                return self.outputs()
            if status in _FAILED_END:
                failed = [e for e in new if e.status.endswith("_FAILED")]
                raise DeployFailed(f"the stack {self.stack_name} is {status}", events=failed)
            if time.monotonic() > deadline:
                raise CommandFailed(f"the stack {self.stack_name} is still {status}: giving up")
            time.sleep(self._poll)

    def events(self) -> list[StackEvent]:
        """The stack's events, newest first (the first page: the recent ones)."""
        try:
            page = self._cfn.describe_stack_events(StackName=self.stack_name)
        except ClientError as exc:
            if "does not exist" in str(exc):
                return []
            raise _failed(f"cannot read the events of {self.stack_name}", exc) from exc
        return [
            StackEvent(
                event_id=e["EventId"],
                logical_id=e.get("LogicalResourceId", ""),
                resource_type=e.get("ResourceType", ""),
                status=str(e.get("ResourceStatus", "")),
                reason=e.get("ResourceStatusReason", "") or "",
            )
            for e in page.get("StackEvents", [])
        ]

    def outputs(self) -> dict[str, str]:
        """The stack's outputs by key."""
        stack = self._cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        return {o["OutputKey"]: o.get("OutputValue", "") for o in stack.get("Outputs") or []}


def _failed(what: str, exc: ClientError) -> CommandFailed:
    error = exc.response.get("Error", {})
    return CommandFailed(f"{what}: {error.get('Code', '?')}: {error.get('Message', exc)}")
