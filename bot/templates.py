"""Message templates: ``"Hi {name}!"``, checked when settings load and rendered safely.

Placeholders are plain names in braces; ``{{`` and ``}}`` are literal braces.
Every template may use the customer's ``{name}``, the ``{channel}``, the opening
hours ``{hours}`` / ``{hours_id}`` (English / Indonesian day names) and the
operator's own ``[bot.variables]``; the out-of-hours message also has
``{next_open}`` / ``{next_open_id}``. Settings reject unknown placeholders, and
rendering never raises: anything it cannot fill stays as written.
"""

from __future__ import annotations

import string
from collections.abc import Collection, Mapping

COMMON_PLACEHOLDERS = ("name", "channel", "hours", "hours_id")
OUT_OF_HOURS_PLACEHOLDERS = ("next_open", "next_open_id")

_FORMATTER = string.Formatter()


def placeholders(template: str) -> list[str]:
    """The placeholder names used in ``template``.

    Raises:
        ValueError: for unbalanced braces or a placeholder that is not a plain name
            (``{}``, ``{0}``, ``{name.attr}``, ``{name!r}``, ``{name:>9}``).
    """
    names: list[str] = []
    for _, field, spec, conversion in _FORMATTER.parse(template):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise ValueError(
                f"{{{field}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}"
                " is not a plain placeholder such as {name} (write {{ and }} for braces)"
            )
        names.append(field)
    return names


def check(template: str, allowed: Collection[str], key: str) -> None:
    """Raise ``ValueError`` naming ``key`` when ``template`` is malformed or uses unknown names."""
    try:
        used = placeholders(template)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from exc
    unknown = sorted(set(used) - set(allowed))
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in sorted(allowed))
        raise ValueError(
            f"{key}: unknown placeholder {{{unknown[0]}}} (known: {known}; "
            "add your own under [bot.variables], write {{ and }} for braces)"
        )


def render(template: str, values: Mapping[str, str]) -> str:
    """Fill ``template`` from ``values``; never raises (unknown placeholders stay as written)."""
    try:
        parts = list(_FORMATTER.parse(template))
    except ValueError:
        return template
    out: list[str] = []
    for literal, field, spec, conversion in parts:
        out.append(literal)
        if field is None:
            continue
        if field in values and not spec and not conversion:
            out.append(values[field])
        else:
            suffix = (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")
            out.append(f"{{{field}{suffix}}}")
    return "".join(out)


class Templates:
    """Renders the bot's templates with the values every template may use."""

    def __init__(
        self, variables: Mapping[str, str], default_name: str, hours: Mapping[str, str]
    ) -> None:
        self._base = {
            **variables,
            **{f"hours{_suffix(lang)}": text for lang, text in hours.items()},
        }
        self._default_name = default_name

    def values(self, customer_name: str, channel: str) -> dict[str, str]:
        """The placeholder values for one customer."""
        name = " ".join(customer_name.split()) or self._default_name
        return {**self._base, "name": name, "channel": channel}

    def render(self, template: str, *, customer_name: str, channel: str, **extra: str) -> str:
        """Render ``template`` for one customer; ``extra`` adds values (``next_open``)."""
        return render(template, {**self.values(customer_name, channel), **extra})


def _suffix(language: str) -> str:
    return "" if language == "en" else f"_{language}"
