"""Merging two contacts, with a preview first and an undo after (``/contacts/{id}/merge``,
docs/api.md "Contacts"), and the merge suggestions (contacts that share a phone number or
an e-mail address, ``contact_points``).
"""

from __future__ import annotations

from handoff.infra.writer import Writer
from handoff.usecases.contacts import Contacts


class ContactMerges:
    def __init__(self, writer: Writer, contacts: Contacts) -> None:
        self.writer = writer
        self.contacts = contacts
