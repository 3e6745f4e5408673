"""The ``state`` job action: publish a state item when a job finishes, as lava does.

An action looks like::

    {"action": "state", "state_id": "{{ job.job_id }}/rows",
     "value": {"rows": "{{ result.rows }}"}, "ttl": "2d"}

``state_id``, ``publisher`` and every string inside ``value`` are rendered
with Jinja (sandboxed). Unlike lava, which rendered a JSON dump of the whole
action and parsed it back, each string is rendered on its own, so a rendered
value containing quotes or braces is stored as it is instead of breaking (or
restructuring) the action.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lava_state.errors import InvalidAction
from lava_state.item import StateType
from lava_state.naming import validate_posted_state_id
from lava_state.templating import Renderer
from publisher.publisher import StatePublisher

if TYPE_CHECKING:
    from lava_state.item import StateItem

ACTION_NAME = "state"
REQUIRED_KEYS = ("action", "state_id", "value")
OPTIONAL_KEYS = ("type", "ttl", "publisher", "kms_key")
#: Names bound in action templates, as lava binds them.
CONTEXT_NAMES = frozenset({"job", "globals", "state", "realm", "start", "ustart", "result"})


def run_state_action(
    action: Mapping[str, Any],
    job_spec: Mapping[str, Any],
    job_result: Mapping[str, Any] | None = None,
    *,
    publisher: StatePublisher | None = None,
    realm: str | None = None,
    start: datetime | None = None,
    strict: bool = True,
    extra_context: Mapping[str, Any] | None = None,
) -> StateItem:
    """Run a ``state`` action of a job and return the item as stored.

    Templates see ``job`` (the augmented job spec), ``globals`` (its
    ``globals``), ``state`` (its resolved ``state`` map), ``realm``, ``start``
    and ``ustart`` (the job's start, local and UTC; default now) and ``result``
    (``job_result``, default ``{}``). ``extra_context`` adds names (lava's
    ``utils`` has no equivalent here; pass your own helpers this way).

    ``publisher`` defaults to the job's ``job_id``; ``type`` to json; ``ttl``
    to the realm default. Everything is validated and rendered before the
    write: a rejected action writes nothing.

    Raises:
        InvalidAction: not a ``state`` action, a required key is missing, or an
            unknown key is present (named, with the keys allowed).
        TemplateError, TemplateSecurityError: a template failed; names its path
            (e.g. ``action.value.rows``) and line.
        InvalidStateId, ReservedStateId: the rendered state_id cannot be posted.
        UnknownStateType, InvalidStateValue, StateValueTooLarge, InvalidTTL: bad value/options.
        EncryptionError, AwsError: the write failed.
    """
    _check_action(action)
    state_type = StateType.parse(action.get("type") or StateType.JSON)
    if not isinstance(job_spec, Mapping):
        raise InvalidAction(f"the job spec must be a map, not {type(job_spec).__name__}")
    if publisher is None:
        publisher = StatePublisher(realm)
    elif realm is not None and realm != publisher.realm:
        raise InvalidAction(
            f"realm {realm!r} contradicts the publisher's realm {publisher.realm!r}: pass one"
        )

    started = (start or datetime.now(UTC)).astimezone()
    state = job_spec.get("state") or {}
    extra = dict(extra_context or {})
    clash = sorted(CONTEXT_NAMES & extra.keys())
    if clash:
        raise InvalidAction(
            f"extra_context cannot redefine {', '.join(map(repr, clash))}: the action binds them"
        )
    context = {
        **extra,
        "job": job_spec,
        "globals": job_spec.get("globals") or {},
        "state": state,
        "realm": publisher.realm,
        "start": started,
        "ustart": started.astimezone(UTC),
        "result": job_result if job_result is not None else {},
    }
    renderer = Renderer(context, strict=strict, state=state if isinstance(state, Mapping) else None)
    state_id = renderer.render(action["state_id"], ("state_id",), root="action")
    state_id = validate_posted_state_id(state_id)
    label = action.get("publisher") or job_spec.get("job_id") or None
    if label is not None:
        label = renderer.render(label, ("publisher",), root="action")
        if not isinstance(label, str):
            raise InvalidAction(
                f"the action's publisher must be a string, not {type(label).__name__}"
            )
    value = renderer.render(action["value"], ("value",), root="action")
    return publisher.put(
        state_id,
        value,
        type=state_type,
        ttl=action.get("ttl"),
        kms_key=action.get("kms_key"),
        publisher=label,
    )


def _check_action(action: Any) -> None:
    if not isinstance(action, Mapping):
        raise InvalidAction(f"a job action must be a map, not {type(action).__name__}")
    if action.get("action") != ACTION_NAME:
        raise InvalidAction(
            f"not a state action: 'action' is {action.get('action')!r}, expected {ACTION_NAME!r}"
        )
    missing = [key for key in REQUIRED_KEYS if key not in action]
    if missing:
        raise InvalidAction(
            f"the state action is missing {', '.join(map(repr, missing))} "
            f"(required: {', '.join(REQUIRED_KEYS)})"
        )
    unknown = sorted(str(key) for key in action if key not in REQUIRED_KEYS + OPTIONAL_KEYS)
    if unknown:
        raise InvalidAction(
            f"the state action has unknown key(s) {', '.join(map(repr, unknown))}: "
            f"allowed are {', '.join(REQUIRED_KEYS + OPTIONAL_KEYS)}"
        )
