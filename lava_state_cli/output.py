"""What the CLI prints: JSON text of values and items, secure values masked, and
``get``'s Jinja template."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lava_state.codec import display_default
from lava_state.model import SECRET_MASK, StateItem, StateType

if TYPE_CHECKING:
    from consumer_sdk.listing import StateSummary


def to_json(value: Any, **kwargs: Any) -> str:
    """JSON text of a value as read (Decimal numbers, sets and binary made printable).

    Binary values (raw items of DynamoDB type B) are printed as base64 text.
    """
    return json.dumps(value, default=display_default, **kwargs)


def metadata_as_json(item: StateItem | StateSummary) -> dict[str, Any]:
    """An item's metadata (never its value), as printed by ``ls --json`` and ``get --json``."""
    timestamp = item.timestamp
    return {
        "state_id": item.state_id,
        "type": str(item.type),
        "version": item.version,
        "timestamp": timestamp.isoformat() if isinstance(timestamp, datetime) else timestamp,
        "ttl": item.ttl,
        "expires_at": item.expires_at.isoformat() if item.expires_at else None,
        "publisher": item.publisher,
    }


def item_as_json(item: StateItem, *, reveal: bool) -> dict[str, Any]:
    """An item for printing; a secure value is masked unless ``reveal``."""
    shown = metadata_as_json(item)
    value = item.value if reveal or item.type is not StateType.SECURE else SECRET_MASK
    # The value after the type, as before: the order people read.
    return {**dict(list(shown.items())[:2]), "value": value, **dict(list(shown.items())[2:])}


def render_template(template: str, value: Any, *, secure: bool = False) -> str:
    """Render a Jinja template (sandboxed, strict) with ``state`` bound to ``value``.

    With ``secure`` (a secure item's decrypted value), the renderer knows that
    ``state`` is secure: its error messages never quote it (details withheld,
    known texts masked). The rendered text itself is what was asked for.

    Raises:
        TemplateError, TemplateSecurityError, TemplateLimitExceeded: as the
            job-spec renderer does.
    """
    from lava_state.templating import Renderer

    renderer = Renderer({"state": value}, secure={"state": [()]} if secure else None)
    return renderer.render_string(template, root="TEMPLATE")
