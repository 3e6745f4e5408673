"""deploy/lava-state.yaml's policies resolved for given parameters, and a small IAM
evaluator of the subset they use (Allow statements; action and resource
wildcards; StringEquals/StringLike/ArnEquals/ArnLike, their ForAllValues: and
ForAnyValue: forms, and Null). An unknown operator raises: the evaluator never
guesses.

Also the recorder: botocore hooks on a session, turning every call its clients
make into the IAM requests (action, resource, condition keys) AWS would check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from lava_state_local.lambda_event import LOCAL_ACCOUNT as ACCOUNT
from lava_state_local.server import LOCAL_REGION as REGION
from lava_state_local.template import Resolved, load


def resolve_template(
    parameters: dict[str, str], attributes: dict[str, str] | None = None
) -> Resolved:
    """deploy/lava-state.yaml resolved for ``parameters`` in the local account and region."""
    return Resolved(load(), parameters, attributes, account=ACCOUNT, region=REGION)


def policy_statements(stack: Resolved, logical_id: str) -> list[dict[str, Any]]:
    """The statements of a managed policy, or of a role's inline policies."""
    properties = stack.template["Resources"][logical_id]["Properties"]
    documents = [properties["PolicyDocument"]] if "PolicyDocument" in properties else []
    documents += [p["PolicyDocument"] for p in properties.get("Policies", [])]
    found: list[dict[str, Any]] = []
    for document in documents:
        found += stack.resolve(document)["Statement"]
    return found


@dataclass(frozen=True)
class Request:
    """What IAM checks for one call: action, resource, condition keys (lower case)."""

    operation: str
    action: str
    resource: str
    context: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)


def _pattern(glob: str, *, case: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", 0 if case else re.IGNORECASE)


def _listed(value: Any) -> list[str]:
    return [str(v) for v in (value if isinstance(value, list) else [value])]


def _condition_holds(
    operator: str, key: str, wanted: Any, context: dict[str, tuple[str, ...]]
) -> bool:
    quantifier, _, test = operator.rpartition(":")
    present = context.get(key.lower())
    if test == "Null":
        return (present is None) == (str(wanted).lower() == "true")
    if test in ("StringEquals", "ArnEquals"):

        def match(value: str) -> bool:
            return value in _listed(wanted)
    elif test in ("StringLike", "ArnLike"):
        patterns = [_pattern(w, case=True) for w in _listed(wanted)]

        def match(value: str) -> bool:
            return any(p.match(value) for p in patterns)
    else:
        raise NotImplementedError(f"condition operator {operator} (teach the evaluator)")
    if quantifier == "ForAllValues":
        return all(match(v) for v in present or ())
    if quantifier == "ForAnyValue":
        return any(match(v) for v in present or ())
    if quantifier:
        raise NotImplementedError(f"condition operator {operator}")
    return present is not None and len(present) == 1 and match(present[0])


def allowed_by(statements: list[dict[str, Any]], request: Request) -> list[str]:
    """The Sids of the statements allowing ``request`` (empty: denied)."""
    sids = []
    for n, statement in enumerate(statements):
        if statement["Effect"] != "Allow":
            raise NotImplementedError("Deny statements")
        if not any(
            _pattern(a, case=False).match(request.action) for a in _listed(statement["Action"])
        ):
            continue
        if not any(
            _pattern(r, case=True).match(request.resource) for r in _listed(statement["Resource"])
        ):
            continue
        conditions = statement.get("Condition", {})
        if all(
            _condition_holds(operator, key, wanted, request.context)
            for operator, keys in conditions.items()
            for key, wanted in keys.items()
        ):
            sids.append(statement.get("Sid", str(n)))
    return sids


# --- Recording ---------------------------------------------------------------

#: Operations authorised by another action than their own name.
_ACTIONS = {
    "sns:PublishBatch": "sns:Publish",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "sqs:SendMessageBatch": "sqs:SendMessage",
}
#: Calls that need no permission.
_FREE = {"sts:GetCallerIdentity"}


class Recorder:
    """Records the IAM requests of every call made by clients of the sessions it
    is attached to (botocore's before-parameter-build hook)."""

    def __init__(self, *, key_aliases: dict[str, str]) -> None:
        self.requests: list[Request] = []
        self._key_aliases = key_aliases  # key ARN -> alias
        self._stream_of_iterator: str | None = None

    def attach(self, session: Any) -> Any:
        session.events.register("before-parameter-build", self._record)
        return session

    def _record(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        prefix = model.service_model.signing_name
        operation = f"{prefix}:{model.name}"
        if operation in _FREE:
            return
        action = _ACTIONS.get(operation, operation)
        for resource, context in self._resources(prefix, model.name, params):
            self.requests.append(Request(operation, action, resource, context))

    def _resources(
        self, prefix: str, name: str, params: dict[str, Any]
    ) -> list[tuple[str, dict[str, tuple[str, ...]]]]:
        if prefix == "dynamodb":
            return self._dynamodb(name, params)
        if prefix == "kms":
            key = params.get("KeyId", "")
            arns = [
                a for a, alias in self._key_aliases.items() if key in (a, alias, a.split("/")[-1])
            ]
            arn = arns[0] if arns else next(iter(self._key_aliases))  # Decrypt names no key
            return [(arn, {"kms:resourcealiases": (self._key_aliases[arn],)})]
        if prefix == "sns":
            if "TopicArn" in params:
                return [(params["TopicArn"], {})]
            if "SubscriptionArn" in params:
                return [(params["SubscriptionArn"].rsplit(":", 1)[0], {})]
            return [(f"arn:aws:sns:{REGION}:{ACCOUNT}:{params['Name']}", {})]
        if prefix == "sqs":
            name = params.get("QueueName") or urlparse(params["QueueUrl"]).path.rsplit("/", 1)[-1]
            return [(f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}", {})]
        raise NotImplementedError(f"{prefix}:{name}")

    def _dynamodb(
        self, name: str, params: dict[str, Any]
    ) -> list[tuple[str, dict[str, tuple[str, ...]]]]:
        def table(table_name: str) -> str:
            return f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table_name}"

        def leading(keys: list[dict[str, Any]]) -> dict[str, tuple[str, ...]]:
            hashes = tuple(sorted({next(iter(k.values())) for k in keys if k} - {None}))
            return {"dynamodb:leadingkeys": hashes} if hashes else {}

        if name == "ListStreams":
            return [("*", {})]
        if "StreamArn" in params:
            self._stream_of_iterator = params["StreamArn"]
            return [(params["StreamArn"], {})]
        if name == "GetRecords":  # names only an iterator: of the last stream described
            assert self._stream_of_iterator is not None
            return [(self._stream_of_iterator, {})]
        if "RequestItems" in params:
            found = []
            for table_name, entries in params["RequestItems"].items():
                if isinstance(entries, dict):  # BatchGetItem
                    keys = [k.get("state_id") for k in entries["Keys"]]
                else:  # BatchWriteItem
                    keys = [
                        (e.get("PutRequest", {}).get("Item") or e["DeleteRequest"]["Key"]).get(
                            "state_id"
                        )
                        for e in entries
                    ]
                found.append((table(table_name), leading([{"k": _key(k)} for k in keys])))
            return found
        key = params.get("Key") or params.get("Item") or {}
        hash_key = next((v for k, v in key.items() if k in ("state_id", "realm")), None)
        return [(table(params["TableName"]), leading([{"k": _key(hash_key)}] if hash_key else []))]


def _key(value: Any) -> Any:
    """A key attribute's text: ``{"S": "x"}`` (wire) or ``"x"`` (resource form)."""
    return value.get("S") if isinstance(value, dict) else value
