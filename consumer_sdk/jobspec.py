"""Job-spec expansion: resolve declared state and render the spec with Jinja.

A job spec declares the state it reads as ``"state": {state_id: default}``;
each default is replaced by the stored value when one exists and is
unexpired, and every string of the spec is rendered with ``state`` (and
``job.state``) bound to the resolved map.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from consumer_sdk.client import StateClient
from lava_state.errors import InvalidInput
from lava_state.naming import validate_state_id


class TemplateError(InvalidInput):
    """A template in the job spec failed to render."""


def expand_job_spec(
    job_spec: Mapping[str, Any],
    *,
    client: StateClient | None = None,
    realm: str | None = None,
    render: bool = True,
    strict: bool = True,
    extra_context: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Return a copy of ``job_spec`` with its declared state resolved and its strings rendered.

    Raises:
        InvalidInput: the spec's ``state`` is not a map of valid ids to defaults.
        TemplateError: a template failed (strict: an undefined name), with its path.
        (and what :meth:`StateClient.get` raises)
    """
    declared = job_spec.get("state", {})
    if not isinstance(declared, Mapping):
        raise InvalidInput(
            f"the job spec's 'state' must be a map of state_id to default, not "
            f"{type(declared).__name__}"
        )
    for state_id in declared:
        validate_state_id(state_id)
    client = client or StateClient(realm)
    resolved = {}
    for state_id, default in declared.items():
        item = client.get(state_id)
        resolved[state_id] = default if item is None else item.value
    spec = copy.deepcopy(dict(job_spec))
    spec["state"] = resolved
    if not render:
        return spec
    from jinja2 import StrictUndefined, Undefined
    from jinja2 import TemplateError as JinjaError
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(undefined=StrictUndefined if strict else Undefined)
    context = {**(extra_context or {}), "job": spec, "state": resolved}

    def walk(node: Any, path: str) -> Any:
        if isinstance(node, str):
            try:
                return env.from_string(node).render(context)
            except JinjaError as exc:
                raise TemplateError(f"cannot render the template at {path}: {exc}") from None
        if isinstance(node, dict):
            return {k: walk(v, f"{path}.{k}") for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v, f"{path}[{i}]") for i, v in enumerate(node)]
        return node

    return {k: (v if k == "state" else walk(v, f"$.{k}")) for k, v in spec.items()}
