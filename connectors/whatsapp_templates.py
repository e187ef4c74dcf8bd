"""WhatsApp message templates on the Graph API: the account's list, and template sends.

The list is ``GET /{version}/{WABA-ID}/message_templates`` (bearer token), paged: each
page's ``paging.cursors.after`` asks for the next one, and the last page has no
``paging.next``. The next page is asked of our own configured URL with that cursor, never
of the URL the answer names (which would take our token wherever it pointed). Reading is
bounded: at most ``max_pages`` pages of at most ``MAX_PAGE_BYTES`` each, within
``timeout`` seconds in all; more pages than that is an error (a partial list would make
templates look deleted).

A template send is ``{"type": "template", "template": {"name", "language": {"code"},
"components": [...]}}`` built from the message's template spec
(``handoff.domain.templates.spec``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from typing import Any

import aiohttp

from connectors.base import MessageTemplate, TemplatesUnavailable

log = logging.getLogger(__name__)

FIELDS = "name,language,category,status,components,id"
PAGE_SIZE = 100
MAX_PAGE_BYTES = 4 * 1024 * 1024
MAX_COMPONENTS = 20
MEDIA_HEADERS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})


async def list_templates(
    session: aiohttp.ClientSession,
    url: str,
    access_token: str,
    *,
    max_pages: int = 100,
    seconds: float = 60.0,
    page_size: int = PAGE_SIZE,
) -> list[MessageTemplate]:
    """Every template at ``url`` (``.../{WABA-ID}/message_templates``); raises
    TemplatesUnavailable."""
    found: dict[tuple[str, str], MessageTemplate] = {}
    after: str | None = None
    try:
        async with asyncio.timeout(seconds):
            for _ in range(max_pages):
                params = {"fields": FIELDS, "limit": str(page_size)}
                if after:
                    params["after"] = after
                data = await _page(session, url, access_token, params)
                templates, after = parse_page(data)
                for template in templates:
                    found[(template.name, template.language)] = template
                if after is None:
                    return list(found.values())
    except TimeoutError as exc:
        raise TemplatesUnavailable(f"the template list took longer than {seconds:g} s") from exc
    except aiohttp.ClientError as exc:
        reason = str(exc) or type(exc).__name__
        raise TemplatesUnavailable(f"WhatsApp API unreachable: {reason}") from exc
    raise TemplatesUnavailable(
        f"the template list has more than {max_pages} pages of {page_size}: not synced"
    )


async def _page(
    session: aiohttp.ClientSession, url: str, access_token: str, params: dict[str, str]
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {access_token}"}
    async with session.get(url, params=params, headers=headers) as response:
        if (response.content_length or 0) > MAX_PAGE_BYTES:
            raise TemplatesUnavailable(f"a template page is larger than {MAX_PAGE_BYTES} bytes")
        raw = bytearray()
        async for chunk in response.content.iter_chunked(64 * 1024):
            raw += chunk
            if len(raw) > MAX_PAGE_BYTES:
                raise TemplatesUnavailable(f"a template page is larger than {MAX_PAGE_BYTES} bytes")
        status = response.status
    try:  # up to a few MB of the provider's JSON: parsed off the event loop
        data = await asyncio.to_thread(json.loads, bytes(raw))
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise TemplatesUnavailable(f"the template list answered HTTP {status} without JSON")
    if status != 200:
        error = _part(data, "error")
        code = error.get("code", status)
        message = error.get("message") if isinstance(error.get("message"), str) else ""
        raise TemplatesUnavailable(f"WhatsApp API error {code}: {message or f'HTTP {status}'}")
    return data


def parse_page(data: Mapping[str, Any]) -> tuple[list[MessageTemplate], str | None]:
    """A page's templates (malformed ones left out, logged) and the cursor of the next page
    (None on the last)."""
    items = data.get("data")
    if not isinstance(items, list):
        raise TemplatesUnavailable("the template list has no data array")
    templates = []
    for item in items:
        template = _template(item)
        if template is None:
            log.warning("WhatsApp template left out (malformed): %.200r", item)
        else:
            templates.append(template)
    paging = _part(data, "paging")
    cursors = _part(paging, "cursors")
    after = cursors.get("after")
    more = isinstance(paging.get("next"), str) and isinstance(after, str) and 0 < len(after) <= 4096
    return templates, after if more else None


def _template(item: Any) -> MessageTemplate | None:
    if not isinstance(item, dict):
        return None
    name, language = item.get("name"), item.get("language")
    status, category = item.get("status"), item.get("category", "")
    components, external_id = item.get("components", []), item.get("id")
    fits = (
        _short(name, 512)
        and _short(language, 16)
        and _short(status, 32)
        and (category == "" or _short(category, 32))
        and isinstance(components, list)
        and len(components) <= MAX_COMPONENTS
        and all(isinstance(c, dict) for c in components)
        and (external_id is None or _short(external_id, 64))
    )
    if not fits:
        return None
    return MessageTemplate(
        name=str(name),
        language=str(language),
        category=category,
        status=str(status).upper(),
        components=components,
        external_id=external_id,
    )


def _part(data: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _short(value: Any, longest: int) -> bool:
    return isinstance(value, str) and 0 < len(value) <= longest


def template_object(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The ``template`` object of a Graph API send, from a template message's spec."""
    parameters = spec.get("parameters") or {}
    components: list[dict[str, Any]] = []
    header = list(parameters.get("header") or [])
    header_format = str(spec.get("header_format") or "TEXT").upper()
    if header and header_format in MEDIA_HEADERS:
        kind = header_format.lower()
        components.append(
            {"type": "header", "parameters": [{"type": kind, kind: {"link": header[0]}}]}
        )
    elif header:
        names = list(spec.get("header_names") or [])
        components.append({"type": "header", "parameters": _texts(header, names)})
    body = list(parameters.get("body") or [])
    if body:
        names = list(spec.get("body_names") or [])
        components.append({"type": "body", "parameters": _texts(body, names)})
    for slot, value in zip(
        spec.get("buttons") or [], parameters.get("buttons") or [], strict=False
    ):
        sub_type = str(slot.get("sub_type"))
        parameter = (
            {"type": "coupon_code", "coupon_code": value}
            if sub_type == "copy_code"
            else {"type": "text", "text": value}
        )
        components.append(
            {
                "type": "button",
                "sub_type": sub_type,
                "index": str(slot.get("index")),
                "parameters": [parameter],
            }
        )
    template: dict[str, Any] = {
        "name": spec["name"],
        "language": {"code": spec["language"]},
    }
    if components:
        template["components"] = components
    return template


def _texts(values: list[str], names: list[str]) -> list[dict[str, Any]]:
    """Text parameters; a template with named placeholders gets each value's name."""
    named = bool(names) and not all(name.isdigit() for name in names)
    out: list[dict[str, Any]] = []
    for index, value in enumerate(values):
        parameter: dict[str, Any] = {"type": "text", "text": value}
        if named and index < len(names):
            parameter["parameter_name"] = names[index]
        out.append(parameter)
    return out
