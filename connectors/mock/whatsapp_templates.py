"""The mock Graph API's message templates: the demo account's list (paged like Meta's
``GET /{version}/{WABA-ID}/message_templates``) and Meta's checks of a template send.

The checks are written apart from msgcenter's own (``handoff.domain.templates``), from
Meta's documentation, so that the tests compare two readings of the rules.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Sequence
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")

DEMO_TEMPLATES: tuple[dict[str, Any], ...] = (
    {
        "name": "order_update",
        "language": "en",
        "category": "UTILITY",
        "status": "APPROVED",
        "id": "1010000000000001",
        "components": [
            {
                "type": "BODY",
                "text": "Hi {{1}}, your order {{2}} has shipped. Reply here if you have any "
                "questions.",
                "example": {"body_text": [["Budi", "INV-42"]]},
            },
            {"type": "FOOTER", "text": "msgcenter demo shop"},
        ],
    },
    {
        "name": "order_update",
        "language": "id",
        "category": "UTILITY",
        "status": "APPROVED",
        "id": "1010000000000002",
        "components": [
            {
                "type": "BODY",
                "text": "Halo {{1}}, pesanan {{2}} Anda sudah dikirim. Balas pesan ini jika "
                "ada pertanyaan.",
                "example": {"body_text": [["Budi", "INV-42"]]},
            },
            {"type": "FOOTER", "text": "msgcenter demo shop"},
        ],
    },
    {
        "name": "welcome_back",
        "language": "en",
        "category": "UTILITY",
        "status": "APPROVED",
        "id": "1010000000000003",
        "components": [
            {
                "type": "HEADER",
                "format": "TEXT",
                "text": "Welcome back, {{1}}!",
                "example": {"header_text": ["Budi"]},
            },
            {
                "type": "BODY",
                "text": "We have an answer to your last question. Reply to this message to "
                "continue the conversation with our team.",
            },
            {
                "type": "BUTTONS",
                "buttons": [{"type": "QUICK_REPLY", "text": "Talk to an agent"}],
            },
        ],
    },
    {
        "name": "track_order",
        "language": "en",
        "category": "UTILITY",
        "status": "APPROVED",
        "id": "1010000000000004",
        "components": [
            {
                "type": "BODY",
                "text": "Your order {{1}} is on its way.",
                "example": {"body_text": [["INV-42"]]},
            },
            {
                "type": "BUTTONS",
                "buttons": [
                    {
                        "type": "URL",
                        "text": "Track it",
                        "url": "https://shop.example.com/track/{{1}}",
                        "example": ["https://shop.example.com/track/INV-42"],
                    },
                    {"type": "QUICK_REPLY", "text": "Thanks"},
                ],
            },
        ],
    },
    {
        "name": "spring_sale",
        "language": "en",
        "category": "MARKETING",
        "status": "PENDING",
        "id": "1010000000000005",
        "components": [{"type": "BODY", "text": "Spring sale: {{1}} off everything!"}],
    },
    {
        "name": "promo_blast",
        "language": "en",
        "category": "MARKETING",
        "status": "REJECTED",
        "id": "1010000000000006",
        "components": [{"type": "BODY", "text": "BUY NOW!!! {{1}}"}],
    },
)


def demo_templates() -> list[dict[str, Any]]:
    return copy.deepcopy(list(DEMO_TEMPLATES))


def cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def offset_of(value: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except ValueError:
        return None
    kind, _, number = text.partition(":")
    return int(number) if kind == "offset" and number.isdigit() else None


def page(
    templates: Sequence[dict[str, Any]],
    offset: int,
    limit: int,
    fields: Sequence[str],
    next_url: str,
) -> dict[str, Any]:
    """One page as Meta answers it: ``data`` with the asked fields, ``paging`` with the
    cursors and, unless it is the last page, ``next``."""
    chosen = templates[offset : offset + limit]
    data = [{k: v for k, v in t.items() if not fields or k in fields} for t in chosen]
    answer: dict[str, Any] = {"data": data}
    if chosen:
        paging: dict[str, Any] = {
            "cursors": {"before": cursor(offset), "after": cursor(offset + len(chosen))}
        }
        if offset + len(chosen) < len(templates):
            paging["next"] = next_url.replace("{after}", cursor(offset + len(chosen)))
        answer["paging"] = paging
    return answer


def send_problem(
    templates: Sequence[dict[str, Any]], body: dict[str, Any]
) -> tuple[int, str] | None:
    """Meta's error (code, details) for a template send, or None when it is right."""
    template = body.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("name"), str):
        return 100, "template.name is required"
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str):
        return 100, "template.language.code is required"
    name = template["name"]
    found = [
        t for t in templates if t["name"] == name and t["language"] == code
        and t["status"] == "APPROVED"
    ]  # fmt: skip
    if not found:
        return 132001, f"template name ({name}) does not exist in {code}"
    sent = template.get("components") or []
    if not isinstance(sent, list):
        return 100, "template.components must be a list"
    for part, expected in _expected(found[0]["components"]).items():
        given = _given(sent, part)
        if given != expected:
            return 132000, (
                f"{part}: number of localizable_params ({given}) does not match the expected "
                f"number of params ({expected})"
            )
    return None


def _expected(components: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts = {"header": 0, "body": 0}
    for component in components:
        kind = component.get("type")
        if kind == "HEADER":
            header_format = component.get("format", "TEXT")
            if header_format == "TEXT":
                counts["header"] = len(set(PLACEHOLDER.findall(component.get("text", ""))))
            elif header_format in ("IMAGE", "VIDEO", "DOCUMENT"):
                counts["header"] = 1
        elif kind == "BODY":
            counts["body"] = len(set(PLACEHOLDER.findall(component.get("text", ""))))
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons", [])):
                takes = button.get("type") in ("COPY_CODE", "OTP") or (
                    button.get("type") == "URL" and PLACEHOLDER.search(button.get("url", ""))
                )
                if takes:
                    counts[f"button {index}"] = 1
    return counts


def _given(sent: list[Any], part: str) -> int:
    total = 0
    for component in sent:
        if not isinstance(component, dict):
            continue
        kind = component.get("type")
        if part.startswith("button "):
            matches = kind == "button" and str(component.get("index")) == part.split()[1]
        else:
            matches = kind == part
        parameters = component.get("parameters")
        if matches and isinstance(parameters, list):
            total += len(parameters)
    return total
