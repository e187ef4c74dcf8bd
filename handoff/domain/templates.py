"""WhatsApp message templates: what parameters a template takes, checking an agent's values
against it, and the text the thread shows. No I/O: the template's components are the
plain JSON the Graph API lists (``[{"type": "BODY", "text": "Hi {{1}}"}, ...]``).

A template's parts that take parameters (Meta's rules):

- the ``HEADER``: a text header takes one value per placeholder (``{{1}}``); an image,
  video or document header takes one value, the https link of the file;
- the ``BODY``: one value per placeholder;
- ``BUTTONS``: one value per URL button whose ``url`` holds a placeholder (the URL's
  variable end) and per ``COPY_CODE`` button (the code); other buttons take none.

Placeholders are positional (``{{1}}``, ``{{2}}``, given in that order) or, for templates
with named parameters, names (``{{customer}}``, given in the order they first appear).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from handoff.domain.errors import Invalid

APPROVED = "APPROVED"
PARTS = ("header", "body", "buttons")
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z0-9_]{1,64})\s*\}\}")
MEDIA_HEADERS = frozenset({"IMAGE", "VIDEO", "DOCUMENT"})
# The parts msgcenter can fill in; a template with others (a carousel, a limited-time offer, a
# location header) is listed but not sent.
SUPPORTED = frozenset({"HEADER", "BODY", "FOOTER", "BUTTONS"})
# Meta's limits on a parameter's text (error 132018 otherwise): no new lines or tabs, no
# more than four spaces in a row; we also bound its length.
MAX_PARAMETER_CHARS = 1024
_BAD_SPACING = re.compile(r"[\n\r\t]| {5,}")


@dataclass(frozen=True, slots=True)
class ButtonSlot:
    """A button that takes a value: its position among the template's buttons (Meta's
    ``index``) and its kind (Meta's ``sub_type``: ``url`` or ``copy_code``)."""

    index: int
    sub_type: str


@dataclass(frozen=True, slots=True)
class Shape:
    """What a template takes: the placeholders of its header and body, in the order their
    values are given, and the buttons that take a value."""

    header_format: str | None  # TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION; None: no header
    header: tuple[str, ...]
    body: tuple[str, ...]
    buttons: tuple[ButtonSlot, ...]
    unsupported: str | None = None  # a part msgcenter cannot fill in, e.g. "CAROUSEL"

    def counts(self) -> dict[str, int]:
        return {"header": len(self.header), "body": len(self.body), "buttons": len(self.buttons)}


def placeholders(text: str) -> tuple[str, ...]:
    """The distinct placeholders of ``text``: positional ones by number, else by first
    appearance."""
    names = list(dict.fromkeys(PLACEHOLDER.findall(text)))
    if names and all(name.isdigit() for name in names):
        names.sort(key=int)
    return tuple(names)


def shape(components: Sequence[Mapping[str, Any]]) -> Shape:
    """The parameters a template with these components takes."""
    header_format: str | None = None
    header: tuple[str, ...] = ()
    body: tuple[str, ...] = ()
    buttons: list[ButtonSlot] = []
    unsupported: str | None = None
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind not in SUPPORTED:
            unsupported = unsupported or kind or "a part without a type"
        if kind == "HEADER":
            header_format = str(component.get("format") or "TEXT").upper()
            if header_format == "TEXT":
                header = placeholders(_text(component.get("text")))
            elif header_format in MEDIA_HEADERS:
                header = ("link",)
            else:
                unsupported = unsupported or f"a {header_format} header"
        elif kind == "BODY":
            body = placeholders(_text(component.get("text")))
        elif kind == "BUTTONS":
            items = component.get("buttons")
            for index, button in enumerate(items if isinstance(items, list) else []):
                if not isinstance(button, Mapping):
                    continue
                button_type = str(button.get("type", "")).upper()
                # An OTP (code) button is listed as a URL one once created; sent as one.
                variable_url = placeholders(_text(button.get("url")))
                if (button_type == "URL" and variable_url) or button_type == "OTP":
                    buttons.append(ButtonSlot(index, "url"))
                elif button_type == "COPY_CODE":
                    buttons.append(ButtonSlot(index, "copy_code"))
    return Shape(header_format, header, body, tuple(buttons), unsupported)


def check(name: str, shape_: Shape, parameters: Mapping[str, Sequence[str]]) -> None:
    """Invalid (422) unless ``parameters`` gives each part of the template exactly the
    values it takes, each an acceptable text."""
    if shape_.unsupported:
        raise Invalid(
            f"template {name} has {shape_.unsupported}, which msgcenter cannot fill in yet",
            code="template_unsupported",
            field="template.name",
        )
    unknown = sorted(set(parameters) - set(PARTS))
    if unknown:
        raise Invalid(
            f"unknown template part {', '.join(unknown)}: parameters are given for "
            "header, body and buttons",
            field="template.parameters",
        )
    wanted = shape_.counts()
    wrong = {
        part: (len(parameters.get(part, ())), count)
        for part, count in wanted.items()
        if len(parameters.get(part, ())) != count
    }
    if wrong:
        said = "; ".join(
            f"{part} takes {count} (got {given})" for part, (given, count) in wrong.items()
        )
        raise Invalid(
            f"template {name} takes {wanted['header']} header, {wanted['body']} body and "
            f"{wanted['buttons']} button parameters: {said}",
            code="template_parameters",
            field="template.parameters",
            expected=wanted,
            given={part: len(parameters.get(part, ())) for part in PARTS},
        )
    for part in PARTS:
        for position, value in enumerate(parameters.get(part, ()), start=1):
            problem = _value_problem(value)
            if part == "header" and shape_.header_format in MEDIA_HEADERS:
                problem = problem or _link_problem(value)
            if problem:
                raise Invalid(
                    f"template parameter {part} {position}: {problem}",
                    code="template_parameters",
                    field=f"template.parameters.{part}",
                )


def render(components: Sequence[Mapping[str, Any]], parameters: Mapping[str, Sequence[str]]) -> str:
    """The template as the customer reads it, for the thread: header, body and footer with
    the values filled in, then the buttons' labels."""
    shape_ = shape(components)
    lines: list[str] = []
    for component in components:
        kind = str(component.get("type", "")).upper()
        if kind == "HEADER":
            if shape_.header_format == "TEXT":
                lines.append(
                    _fill(_text(component.get("text")), shape_.header, parameters, "header")
                )
            elif shape_.header_format in MEDIA_HEADERS:
                given = list(parameters.get("header", ()))
                link = f": {given[0]}" if given else ""
                lines.append(f"[{(shape_.header_format or '').lower()}{link}]")
        elif kind == "BODY":
            lines.append(_fill(_text(component.get("text")), shape_.body, parameters, "body"))
        elif kind == "FOOTER":
            lines.append(_text(component.get("text")))
        elif kind == "BUTTONS":
            items = component.get("buttons")
            labels = [
                f"[{_text(button.get('text'))}]"
                for button in (items if isinstance(items, list) else [])
                if isinstance(button, Mapping) and _text(button.get("text"))
            ]
            if labels:
                lines.append(" ".join(labels))
    return "\n\n".join(line for line in lines if line.strip())


def spec(
    name: str, language: str, shape_: Shape, parameters: Mapping[str, Sequence[str]]
) -> dict[str, Any]:
    """What a template message keeps (``Message.template``) and its connector sends: the
    template, the values by part, and what the sender needs of the template's shape."""
    return {
        "name": name,
        "language": language,
        "parameters": {part: list(parameters.get(part, ())) for part in PARTS},
        "header_format": shape_.header_format,
        "header_names": list(shape_.header),
        "body_names": list(shape_.body),
        "buttons": [{"index": b.index, "sub_type": b.sub_type} for b in shape_.buttons],
    }


def _fill(
    text: str, names: Sequence[str], parameters: Mapping[str, Sequence[str]], part: str
) -> str:
    values = dict(zip(names, parameters.get(part, ()), strict=False))

    def value(match: re.Match[str]) -> str:
        return values.get(match.group(1), match.group(0))

    return PLACEHOLDER.sub(value, text)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _value_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return "must be a text that is not empty"
    if len(value) > MAX_PARAMETER_CHARS:
        return f"longer than {MAX_PARAMETER_CHARS} characters"
    if _BAD_SPACING.search(value):
        return "WhatsApp refuses new lines, tabs and more than four spaces in a row here"
    return None


def _link_problem(value: str) -> str | None:
    if not value.startswith("https://") or any(ch.isspace() for ch in value):
        return "the header takes the https link of its file"
    return None
