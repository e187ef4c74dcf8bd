"""Contacts (``/contacts``, ``/contact-attributes``, docs/api.md "Contacts"): the list and
search, one contact with its identities, attributes and conversations, changes, custom
attribute definitions, CSV export and import, and the history agents see.

Who may see which contact: ``handoff.read.contacts``.
"""

from __future__ import annotations

from handoff.infra.writer import Writer
from handoff.read.views import Presenter
from handoff.usecases.staff import Staff


class Contacts:
    def __init__(
        self, writer: Writer, staff: Staff, presenter: Presenter, *, history_for_agents: bool
    ) -> None:
        self.writer = writer
        self.staff = staff
        self.presenter = presenter
        # An agent working a chat sees the contact's other conversations, read-only.
        self.history_for_agents = history_for_agents
