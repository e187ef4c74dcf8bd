"""Contacts as CSV (docs/api.md "CSV export and import"): the cells written, and a file read
back and checked row by row. Pure: the use case reads the database and runs
:func:`read` in a thread (a big file is CPU work that must not hold the event loop).

A cell that a spreadsheet would run as a formula (it starts with ``=``, ``+``, ``-``, ``@``,
a tab or a carriage return) is written with a ``'`` before it; reading takes that quote off
again, so an exported file imports as it was (``+6281...`` is a phone number, not a sum).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from handoff.domain import contact_attributes as attrs
from handoff.domain.contact_attributes import Definition
from handoff.domain.errors import Invalid
from storage.identities import e164, email

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 10_000
MAX_POINTS = 20  # phone numbers or addresses in one cell
MAX_NAME = 255
MAX_NOTES = 10_000
MAX_REPORTED = 200  # problems listed in a refusal
FIXED = ("id", "name", "phones", "emails", "identities", "notes", "first_seen_at", "last_seen_at")
IGNORED = ("identities", "first_seen_at", "last_seen_at")  # exported, not imported
ATTRIBUTE = "attribute."
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as a CSV cell, safe to open in a spreadsheet."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


def header(definitions: Sequence[Definition]) -> list[str]:
    return [*FIXED, *(ATTRIBUTE + d.key for d in definitions)]


def line(values: Iterable[Any]) -> str:
    """One CSV record (``\\r\\n`` ended), every cell made safe."""
    out = io.StringIO()
    csv.writer(out).writerow([cell(value) for value in values])
    return out.getvalue()


def export_row(row: Mapping[str, Any], definitions: Sequence[Definition]) -> list[str]:
    """A contact row (the API's shape) as the export's cells."""
    values = row.get("attributes") or {}
    return [
        str(row["id"]),
        row["name"],
        ";".join(p["value"] for p in row["phones"]),
        ";".join(e["value"] for e in row["emails"]),
        ";".join(f"{i['channel']}:{i['external_id']}" for i in row["identities"]),
        row["notes"] or "",
        row["first_seen_at"] or "",
        row["last_seen_at"] or "",
        *(attrs.as_text(values.get(d.key)) for d in definitions),
    ]


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One checked row. ``contact_id`` None: a new contact. A field None was not in the file
    (left as it is); ``attributes`` holds the columns given (None: remove the value)."""

    line: int  # the row's number in the file (the header is 1)
    contact_id: int | None
    name: str
    notes: str | None
    notes_given: bool
    phones: tuple[str, ...] | None
    emails: tuple[str, ...] | None
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Report:
    rows: list[ImportRow] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)

    def refuse(self, line: int, column: str | None, message: str) -> None:
        self.problems.append({"row": line, "field": column, "message": message})


def refused(problems: list[dict[str, Any]]) -> Invalid:
    shown = problems[:MAX_REPORTED]
    return Invalid(
        f"nothing was imported: {len(problems)} problem(s), the first in row {problems[0]['row']}",
        code="import_refused",
        rows=shown,
        problems=len(problems),
    )


def _plain(text: str) -> str:
    """A cell as read: the quote :func:`cell` put before a formula character taken off."""
    if text.startswith("'") and text[1:].startswith(_FORMULA):
        return text[1:]
    return text


def read(raw: bytes, definitions: Sequence[Definition]) -> Report:
    """Read and check a CSV file (UTF-8, a header row first). Every problem is reported
    with its row and column; the caller imports nothing when there is one."""
    report = Report()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        report.refuse(1, None, "the file is not UTF-8 text")
        return report
    if "\x00" in text:
        report.refuse(1, None, "the file holds NUL characters: not a CSV file")
        return report
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        names = [n.strip().lower() for n in next(reader, [])]
    except csv.Error as exc:
        report.refuse(1, None, f"not CSV: {exc}")
        return report
    known = {d.key: d for d in definitions}
    if not _check_header(names, known, report):
        return report
    seen_ids: set[int] = set()
    count = 0
    try:
        for record in reader:
            if not any(value.strip() for value in record):
                continue  # an empty line
            count += 1
            line = count + 1  # the header is row 1
            if count > MAX_ROWS:
                report.refuse(line, None, f"at most {MAX_ROWS} rows in one file")
                break
            if len(record) != len(names):
                report.refuse(line, None, f"{len(record)} cells, the header has {len(names)}")
                continue
            _row(line, dict(zip(names, map(_plain, record), strict=True)), known, seen_ids,
                 report)  # fmt: skip
    except csv.Error as exc:
        report.refuse(count + 2, None, f"not CSV: {exc}")
    return report


def _check_header(names: list[str], known: Mapping[str, Definition], report: Report) -> bool:
    if "name" not in names:
        report.refuse(1, "name", "the header has no name column")
    if len(set(names)) != len(names):
        report.refuse(1, None, "a column is named twice")
    for name in names:
        if name.startswith(ATTRIBUTE):
            if name[len(ATTRIBUTE) :] not in known:
                report.refuse(1, name, "no such attribute (define it first)")
        elif name not in FIXED:
            report.refuse(1, name, "unknown column")
    return not report.problems


def _row(
    line: int,
    cells: dict[str, str],
    known: Mapping[str, Definition],
    seen_ids: set[int],
    report: Report,
) -> None:
    before = len(report.problems)
    contact_id = None
    raw_id = cells.get("id", "").strip()
    if raw_id:
        if not raw_id.isdigit() or len(raw_id) > 16 or int(raw_id) < 1:
            report.refuse(line, "id", "an id is a contact's number (or empty: a new contact)")
        elif int(raw_id) in seen_ids:
            report.refuse(line, "id", "this contact is in the file twice")
        else:
            contact_id = int(raw_id)
            seen_ids.add(contact_id)
    name = " ".join(cells["name"].split())
    if not 1 <= len(name) <= MAX_NAME:
        report.refuse(line, "name", f"a name has 1 to {MAX_NAME} characters")
    notes = cells.get("notes")
    if notes is not None and len(notes) > MAX_NOTES:
        report.refuse(line, "notes", f"notes have at most {MAX_NOTES} characters")
    phones = _points(line, "phones", cells.get("phones"), report)
    emails = _points(line, "emails", cells.get("emails"), report)
    values: dict[str, Any] = {}
    for column, text in cells.items():
        if not column.startswith(ATTRIBUTE):
            continue
        definition = known[column[len(ATTRIBUTE) :]]
        if not text.strip():
            values[definition.key] = None
            continue
        try:
            values[definition.key] = attrs.parse_text(definition, text.strip(), column)
        except Invalid as exc:
            report.refuse(line, column, exc.message.removeprefix(f"{column}: "))
    if len(report.problems) == before:
        report.rows.append(
            ImportRow(
                line=line,
                contact_id=contact_id,
                name=name,
                notes=(notes or None),
                notes_given=notes is not None,
                phones=phones,
                emails=emails,
                attributes=values,
            )
        )


def _points(line: int, column: str, text: str | None, report: Report) -> tuple[str, ...] | None:
    """The numbers (E.164, "+" or "00" first) or addresses of a cell, ";"-separated."""
    if text is None:
        return None
    found: list[str] = []
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        value = e164(part, international=False) if column == "phones" else email(part)
        if value is None:
            what = "a phone number with its country code (+62...)" if column == "phones" else (
                "an e-mail address"
            )  # fmt: skip
            report.refuse(line, column, f"{part[:64]!r} is not {what}")
            return None
        if value not in found:
            found.append(value)
    if len(found) > MAX_POINTS:
        report.refuse(line, column, f"at most {MAX_POINTS} in one cell")
        return None
    return tuple(found)
