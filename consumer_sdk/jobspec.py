"""Job-spec expansion: resolve declared state in one batched read, render the spec with Jinja.

A job spec declares the state it reads as ``"state": {state_id: default}``.
Each default is replaced by the stored value when one exists and is
unexpired, and every string of the spec (keys aside) is rendered in Jinja's
sandbox with ``state`` and ``job.state`` bound to the resolved map, ``job``
to the augmented spec and ``utils`` to lava's helpers
(:mod:`lava_state.template_utils`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from consumer_sdk.client import StateClient, StateItems
from lava_state.codec import nested_deeper_than
from lava_state.errors import InvalidInput, InvalidJobSpec, InvalidStateId, LavaStateError
from lava_state.model import SECRET_MASK, StateType
from lava_state.naming import validate_state_id
from lava_state.templating import Location, Renderer, json_path

if TYPE_CHECKING:
    from collections.abc import Iterable

LOG = logging.getLogger(__name__)

#: How deep a job spec's maps and lists may nest (deeper ones are refused, not a RecursionError).
MAX_SPEC_NESTING = 100
#: Context names the expansion binds itself; ``extra_context`` cannot replace them.
RESERVED_CONTEXT = frozenset({"job", "state", "utils"})


class ExpandedJobSpec(dict[str, Any]):
    """An expanded job spec: a plain ``dict`` (JSON-serialisable, values revealed) that
    knows where secure material is.

    ``secure_paths`` lists the JSON paths holding secure material: each secure
    entry of ``state`` and every rendered string that used a secure value.
    ``repr()`` and ``str()`` (hence logging) show :meth:`masked`. ``errors``
    maps each declared id whose stored value could not be decoded or
    decrypted to its error (only with ``partial=True``; its default was kept).
    """

    def __init__(
        self,
        spec: Mapping[str, Any],
        *,
        secure: Iterable[Location] = (),
        errors: Mapping[str, LavaStateError] | None = None,
    ) -> None:
        super().__init__(spec)
        self._secure: tuple[Location, ...] = tuple(dict.fromkeys(secure))
        self.errors: dict[str, LavaStateError] = dict(errors or {})

    @property
    def secure_paths(self) -> tuple[str, ...]:
        """JSON paths (e.g. ``$.state.token``, ``$.payload``) that contain secure material."""
        return tuple(json_path(location) for location in self._secure)

    @property
    def secure_locations(self) -> tuple[Location, ...]:
        """The same places as :attr:`secure_paths`, as key/index tuples."""
        return self._secure

    def masked(self) -> dict[str, Any]:
        """A deep copy with every secure path replaced by ``********``: safe to log or print."""
        masked = copy.deepcopy(dict(self))
        for location in self._secure:
            node: Any = masked
            try:
                for key in location[:-1]:
                    node = node[key]
                node[location[-1]] = SECRET_MASK
            except (LookupError, TypeError):
                continue  # the caller removed or reshaped that part of the spec since
        return masked

    def __repr__(self) -> str:
        return repr(self.masked())

    __str__ = __repr__


def expand_job_spec(
    job_spec: Mapping[str, Any],
    *,
    client: StateClient | None = None,
    realm: str | None = None,
    render: bool = True,
    strict: bool = True,
    extra_context: Mapping[str, Any] | None = None,
    partial: bool = False,
) -> ExpandedJobSpec:
    """Return a copy of ``job_spec`` with its declared state resolved and its strings rendered.

    All declared ids are read with one :meth:`StateClient.get_many` (one
    BatchGetItem per 100 ids). A stored, unexpired value replaces the
    declared default; otherwise the default stays. ``job_spec`` is not mutated.

    With ``render``, every string of the spec except the ``state`` map is
    rendered with Jinja (sandboxed) where ``state`` and ``job.state`` are the
    resolved map, ``job`` is the augmented spec, ``utils`` lava's helpers
    (:mod:`lava_state.template_utils`), and ``extra_context`` adds names such
    as ``globals``. With ``strict`` (default), an undeclared state
    id or an undefined name is an error; ``strict=False`` renders them as
    empty strings, as lava does.

    Secure values are decrypted (the job needs them); the result's
    ``secure_paths`` says where they are and its ``repr()`` masks them.
    Templates cannot modify the spec, its state or ``extra_context`` (the
    sandbox is immutable and works on copies).

    With ``partial``, a stored value that cannot be decoded or decrypted
    leaves its default in place and its error is in the result's ``errors``;
    by default it is raised.

    Raises:
        InvalidJobSpec: the spec is not a map, or its ``state`` is not a map of
            state ids to defaults (nothing is read).
        InvalidStateId: a declared id is not valid; the message names it.
        InvalidInput: ``extra_context`` tries to replace ``job``, ``state`` or ``utils``,
            or ``realm`` contradicts ``client``.
        TemplateError: a template failed (syntax error, undefined name, undeclared
            state id); names its JSON path and line.
        TemplateSecurityError: a template reached for Python internals, tried to
            modify data, or exceeded a size limit.
        CorruptStateItem, EncryptionError: a stored value cannot be decoded or
            decrypted (unless ``partial``).
        (and what :meth:`StateClient.get_many` raises)
    """
    declared = _declared_state(job_spec)
    extra = {name: _copied(value) for name, value in (extra_context or {}).items()}
    clash = sorted(RESERVED_CONTEXT & extra.keys())
    if clash:
        raise InvalidInput(
            f"extra_context cannot define {', '.join(map(repr, clash))}: the expansion binds "
            "them to the job spec and its resolved state; use another name"
        )
    if client is None:
        client = StateClient(realm)
    elif realm is not None and realm != client.realm:
        raise InvalidInput(
            f"realm {realm!r} contradicts the client's realm {client.realm!r}: pass one of them"
        )

    items = client.get_many(declared, partial=partial) if declared else StateItems()
    resolved: dict[str, Any] = {}
    secure_ids: list[str] = []
    for state_id, default in declared.items():
        item = items.get(state_id)
        if item is None:
            resolved[state_id] = copy.deepcopy(default)
            continue
        resolved[state_id] = item.value
        if item.type is StateType.SECURE:
            secure_ids.append(state_id)

    spec = {k: resolved if k == "state" else copy.deepcopy(v) for k, v in job_spec.items()}
    spec.setdefault("state", resolved)
    secure: list[Location] = [("state", state_id) for state_id in secure_ids]
    if render:
        renderer = Renderer(
            {**extra, "job": spec, "state": resolved},
            strict=strict,
            state=resolved,
            secure={
                "state": [(state_id,) for state_id in secure_ids],
                "job": [("state", state_id) for state_id in secure_ids],
            },
        )
        spec = {
            key: value if key == "state" else renderer.render(value, (key,))
            for key, value in spec.items()
        }
        secure.extend(renderer.secure_locations)
    result = ExpandedJobSpec(spec, secure=secure, errors=items.errors)
    LOG.debug("expanded job spec (%d state ids declared): %s", len(declared), result)
    return result


def _declared_state(job_spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's ``state`` map, checked.

    Raises:
        InvalidJobSpec, InvalidStateId: as :func:`expand_job_spec` says.
    """
    if not isinstance(job_spec, Mapping):
        raise InvalidJobSpec(
            f"a job spec must be a map (a JSON object), not {type(job_spec).__name__}"
        )
    if nested_deeper_than(job_spec, MAX_SPEC_NESTING):
        raise InvalidJobSpec(
            f"the job spec nests maps and lists more than {MAX_SPEC_NESTING} levels deep: "
            "flatten it"
        )
    declared = job_spec.get("state", {})
    if not isinstance(declared, Mapping):
        raise InvalidJobSpec(
            f"the job spec's 'state' must be a map of state_id to default, not "
            f'{type(declared).__name__}: write e.g. "state": {{"my/id": "default"}}'
        )
    for state_id in declared:
        if not isinstance(state_id, str):
            raise InvalidJobSpec(
                f"the job spec's 'state' declares {state_id!r} ({type(state_id).__name__}): "
                "state ids are strings"
            )
        try:
            validate_state_id(state_id)
        except InvalidStateId as exc:
            shown = state_id if len(state_id) <= 60 else f"{state_id[:60]}..."
            raise InvalidStateId(f"the job spec's 'state' declares {shown!r}: {exc}") from None
    return dict(declared)


def _copied(value: Any) -> Any:
    """A deep copy of a context value, or the value itself when it cannot be copied
    (a module, a client): the immutable sandbox still refuses to modify it."""
    try:
        return copy.deepcopy(value)
    except Exception:
        return value
