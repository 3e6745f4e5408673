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

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lava_state.codec import nested_deeper_than
from lava_state.errors import InvalidAction
from lava_state.model import StateType
from lava_state.naming import validate_posted_state_id
from lava_state.templating import Location, Renderer
from publisher.publisher import StatePublisher

if TYPE_CHECKING:
    from lava_state.model import StateItem

ACTION_NAME = "state"
REQUIRED_KEYS = ("action", "state_id", "value")
OPTIONAL_KEYS = ("type", "ttl", "publisher", "kms_key")
#: How deep an action, its job spec and its result may nest.
MAX_NESTING = 100
#: Names bound in action templates, as lava binds them.
CONTEXT_NAMES = frozenset(
    {"job", "globals", "state", "realm", "start", "ustart", "result", "utils"}
)


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
    and ``ustart`` (the job's start, local and UTC; default now), ``result``
    (``job_result``, default ``{}``) and ``utils`` (lava's helpers, see
    :mod:`lava_state.template_utils`). ``extra_context`` adds names.

    ``publisher`` defaults to the job's ``job_id``, used as it is (never
    rendered); ``type`` to json; ``ttl`` to the realm default. ``type``,
    ``ttl`` and ``kms_key`` are not rendered. Everything is validated and
    rendered before the write: a rejected action writes nothing.

    When ``job_spec`` is an :class:`~consumer_sdk.ExpandedJobSpec`, its secure
    paths are known: a ``value`` rendered from secure material must have
    ``type`` secure, and ``state_id`` and ``publisher`` (stored in clear)
    must not use it at all. Templates work on copies of the spec, its state
    and the result: they cannot modify the caller's data.

    Raises:
        InvalidAction: not a ``state`` action, a required key is missing, or an
            unknown key is present (named, with the keys allowed); secure
            material would be stored in clear; the action, spec or result
            nests over 100 levels.
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
    for name, data in (("action", action), ("job spec", job_spec), ("job result", job_result)):
        # Copying and rendering walk them recursively: refuse rather than a RecursionError.
        if nested_deeper_than(data, MAX_NESTING):
            raise InvalidAction(
                f"the {name} nests maps and lists more than {MAX_NESTING} levels deep: flatten it"
            )
    if publisher is None:
        publisher = StatePublisher(realm)
    elif realm is not None and realm != publisher.realm:
        raise InvalidAction(
            f"realm {realm!r} contradicts the publisher's realm {publisher.realm!r}: pass one"
        )

    started = (start or datetime.now(UTC)).astimezone()
    secure_locations = _secure_locations(job_spec)
    # Templates work on a copy: nothing they do reaches the caller's job spec.
    job = copy.deepcopy(dict(job_spec))
    state = job.get("state") or {}
    extra = {name: _copied(value) for name, value in (extra_context or {}).items()}
    clash = sorted(CONTEXT_NAMES & extra.keys())
    if clash:
        raise InvalidAction(
            f"extra_context cannot redefine {', '.join(map(repr, clash))}: the action binds them"
        )
    context = {
        **extra,
        "job": job,
        "globals": job.get("globals") or {},
        "state": state,
        "realm": publisher.realm,
        "start": started,
        "ustart": started.astimezone(UTC),
        "result": _copied(job_result) if job_result is not None else {},
    }
    # Secure material by data flow: where the expanded spec holds it, seen from
    # each name bound to the spec or a part of it (job.globals is globals).
    renderer = Renderer(
        context,
        strict=strict,
        state=state if isinstance(state, Mapping) else None,
        secure={
            "job": secure_locations,
            "globals": [loc[1:] for loc in secure_locations if loc[0] == "globals"],
            "state": [loc[1:] for loc in secure_locations if loc[0] == "state"],
        },
    )
    state_id = renderer.render(action["state_id"], ("state_id",), root="action")
    # The job's own id is a label, not a template: it is used as it is.
    label = job_spec.get("job_id") or None
    if action.get("publisher"):
        label = renderer.render(action["publisher"], ("publisher",), root="action")
    if renderer.secure_locations:
        raise InvalidAction(
            "the action's state_id or publisher uses secure material, which would be stored "
            "in clear: use only non-secure values there"
        )
    state_id = validate_posted_state_id(state_id)
    if label is not None and not isinstance(label, str):
        raise InvalidAction(f"the action's publisher must be a string, not {type(label).__name__}")
    value = renderer.render(action["value"], ("value",), root="action")
    if renderer.secure_locations and state_type is not StateType.SECURE:
        raise InvalidAction(
            f"the action's value uses secure material but its type is {state_type.value!r}: "
            'use "type": "secure" so that it is stored encrypted'
        )
    return publisher.put(
        state_id,
        value,
        type=state_type,
        ttl=action.get("ttl"),
        kms_key=action.get("kms_key"),
        publisher=label,
    )


def _secure_locations(job_spec: Mapping[str, Any]) -> tuple[Location, ...]:
    """Where an expanded job spec holds secure material (nothing for a plain map).

    Duck-typed on :attr:`consumer_sdk.ExpandedJobSpec.secure_locations`: the
    publisher does not import the consumer SDK.
    """
    locations = getattr(job_spec, "secure_locations", ())
    return tuple(tuple(loc) for loc in locations if isinstance(loc, tuple) and loc)


def _copied(value: Any) -> Any:
    """A deep copy, or the value itself when it cannot be copied (a module, a client)."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value


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
