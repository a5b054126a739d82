"""Message templates: Jinja2 in its sandboxed environment, so a tenant's template can read the
event's details and nothing else (no attribute walks into Python internals).

Names are checked strictly when a template is saved; when it renders, a detail the event does
not carry (a bucket credit has no ``code``) or carries as null renders as empty, and so does
anything taken from it (``expiry[:10]``), never as ``None``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateError, TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment

from tessera.domain.errors import Invalid

_env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, auto_reload=False)
_render_env = SandboxedEnvironment(
    undefined=ChainableUndefined,
    autoescape=False,
    auto_reload=False,
    finalize=lambda value: "" if value is None else value,
)


def check_template(body: str, allowed: Iterable[str]) -> None:
    """Refuse a template that does not compile or names a detail the event does not carry.

    The error names the line and the reason.
    """
    try:
        tree = _env.parse(body)
    except TemplateSyntaxError as exc:
        raise Invalid(
            "body", f"line {exc.lineno}: {exc.message}", code="template_invalid", line=exc.lineno
        ) from None
    allowed = frozenset(allowed)
    assigned = {n.name for n in tree.find_all(nodes.Name) if n.ctx in ("store", "param")}
    for name in tree.find_all(nodes.Name):
        if name.ctx == "load" and name.name not in allowed and name.name not in assigned:
            known = ", ".join(sorted(allowed))
            raise Invalid(
                "body",
                f"line {name.lineno}: '{name.name}' is not a detail of this event "
                f"(it carries: {known})",
                code="template_invalid",
                line=name.lineno,
            )
    try:
        _env.from_string(tree)
    except TemplateError as exc:  # e.g. an unknown filter, found only when compiling
        line = getattr(exc, "lineno", None)
        raise Invalid(
            "body", f"line {line}: {exc.message}", code="template_invalid", line=line
        ) from None


def render(body: str, details: Mapping[str, Any]) -> str:
    """Render with the event's details (a missing or null one is empty); raises
    ``ValueError`` with the reason if it fails."""
    present = {name: value for name, value in details.items() if value is not None}
    try:
        return _render_env.from_string(body).render(**present)
    except TemplateError as exc:
        raise ValueError(f"{type(exc).__name__}: {exc}") from None
