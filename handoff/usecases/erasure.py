"""Privacy on request (docs/api.md "Contacts"): a contact's data exported as JSON, and a
contact erased with their conversations, messages and files everywhere, leaving an audit
record without personal data.
"""

from __future__ import annotations

from handoff.infra.writer import Writer
from handoff.usecases.contacts import Contacts
from storage.blobs import Blobs


class Erasure:
    def __init__(self, writer: Writer, contacts: Contacts, blobs: Blobs | None) -> None:
        self.writer = writer
        self.contacts = contacts
        self.blobs = blobs
