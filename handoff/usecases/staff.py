"""The people who work the desk: accounts, argon2 passwords, names for display.

Password hashing is CPU-heavy by design; it runs in a worker thread so the
event loop keeps serving while someone logs in.
"""

from __future__ import annotations

import asyncio
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count

from handoff.domain.availability import LANGUAGES, PREFERENCES, effective_status, preferences
from handoff.domain.errors import Conflict, Invalid, NotFound
from handoff.domain.events import SESSIONS_ENDED, Audience, Event
from handoff.domain.rights import OPEN_MODES
from handoff.domain.sanitize import clean
from handoff.read.names import AgentNames, LabelNames
from handoff.read.views import NO_NAMES, Presenter
from storage.models import Chat, Role, User

USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")
# The domain's first label cannot hold a dot, so the split is found once (linear); with
# [^@\s]+ on both sides of the dot a long run of dots backtracked quadratically.
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+\.[^@\s]+$")


class Passwords:
    """argon2id hashing with the configured cost."""

    def __init__(self, *, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self._dummy = self._hasher.hash("not a real password")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check a password; an unknown user is checked against a dummy hash (same timing)."""
        return await asyncio.to_thread(self._verify, password_hash or self._dummy, password)

    def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return bool(self._hasher.verify(password_hash, password))
        except (VerificationError, InvalidHashError):
            return False


@dataclass(frozen=True, slots=True)
class NewUser:
    username: str
    password: str
    role: Role = Role.AGENT
    email: str | None = None
    display_name: str | None = None
    capacity: int | None = None


def user_view(user: User, load: int | None = None, *, connected: bool = False) -> dict[str, Any]:
    """A user as the API shows them; ``connected``: a console of theirs is connected now
    (``Presence.online``), which with their ``availability`` makes their ``status``."""
    view: dict[str, Any] = {
        "id": user.id,
        "username": user.username,
        "email": user.email,
        "role": str(user.role),
        "display_name": user.display_name or user.username,
        "capacity": user.capacity,
        "active": user.active,
        "signature": user.signature,
        "availability": str(user.availability),
        "status": effective_status(user.availability, connected),
        "language": user.language,
        "preferences": preferences(user.preferences),
        "created_at": user.created_at.isoformat(),
    }
    if load is not None:
        view["open_chats"] = load
    return view


class Staff:
    """Creates, finds and changes users (and tells ``names`` of new and renamed ones)."""

    def __init__(
        self,
        passwords: Passwords,
        *,
        names: AgentNames | None = None,
        labels: LabelNames | None = None,
        default_capacity: int = 5,
    ) -> None:
        self.passwords = passwords
        self.agent_names = names if names is not None else AgentNames()
        self.label_names = labels if labels is not None else LabelNames()
        self.default_capacity = default_capacity

    async def create(self, new: NewUser, *, common_password_ok: bool = False) -> User:
        """A new account. Its password is refused when it is one of the most common ones,
        unless ``common_password_ok`` (only the demo's published logins)."""
        _check_identity(new.username, new.email)
        _check_password(new.password, common_ok=common_password_ok)
        if new.capacity is not None and new.capacity < 0:
            raise Invalid("capacity cannot be negative", field="capacity")
        if await User.filter(username=new.username).exists():
            raise Conflict(f"username {new.username!r} is taken", code="username_taken")
        if new.email and await User.filter(email=new.email).exists():
            raise Conflict(f"email {new.email!r} is taken", code="email_taken")
        try:
            user = await User.create(
                username=new.username,
                email=new.email,
                password_hash=await self.passwords.hash(new.password),
                role=new.role,
                display_name=new.display_name or new.username,
                capacity=self.default_capacity if new.capacity is None else new.capacity,
            )
        except IntegrityError as exc:  # a concurrent create took the name first
            raise Conflict("username or email is taken", code="username_taken") from exc
        self.agent_names.remember(user)
        return user

    async def authenticate(self, identifier: str, password: str) -> User | None:
        """The active user with this username or email and password, else None."""
        if len(identifier) > 254 or ("@" not in identifier and len(identifier) > 64):
            user = None  # longer than any address or username: nobody (the ORM would raise)
        elif "@" in identifier:
            user = await User.get_or_none(email=identifier)
        else:
            user = await User.get_or_none(username=identifier)
        ok = await self.passwords.verify(user.password_hash if user else None, password)
        if user is None or not ok or not user.active:
            return None
        return user

    async def get(self, user_id: int) -> User:
        user = await User.get_or_none(id=user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def update(self, user_id: int, changes: dict[str, Any]) -> User:
        """Apply ``changes`` (display_name, email, role, capacity, active, password,
        signature: "" or None removes it; language; preferences: the keys given replace
        those stored).

        Deactivating, changing the role or the password increments the user's
        ``token_version``: their tokens stop working (``session_ended`` says so to the
        processes' open WebSockets)."""
        user = await self.get(user_id)
        if "email" in changes and changes["email"] != user.email:
            _check_identity(user.username, changes["email"])
            if changes["email"] and await User.filter(email=changes["email"]).exists():
                raise Conflict(f"email {changes['email']!r} is taken", code="email_taken")
        if changes.get("capacity") is not None and changes["capacity"] < 0:
            raise Invalid("capacity cannot be negative", field="capacity")
        # Tokens (and open WebSockets) carry the rights they were issued with: a change of
        # rights (deactivation, a new role, a new password) ends them.
        revoke = changes.get("role") is not None and Role(changes["role"]) != user.role
        for key in ("display_name", "email", "role", "capacity", "active"):
            if key in changes and changes[key] is not None:
                setattr(user, key, changes[key])
        if changes.get("email", "") is None:
            user.email = None
        if "signature" in changes:
            signature: str | None = clean(changes["signature"] or "").strip() or None
            # The field is nullable; the ORM's stubs type a TextField as str either way.
            user.signature = signature  # type: ignore[assignment]
        if changes.get("language") is not None:
            if changes["language"] not in LANGUAGES:
                raise Invalid(f"language must be one of {', '.join(LANGUAGES)}", field="language")
            user.language = changes["language"]
        if changes.get("preferences") is not None:
            given = {k: v for k, v in changes["preferences"].items() if v is not None}
            unknown = sorted(set(given) - set(PREFERENCES))
            if unknown or not all(isinstance(v, bool) for v in given.values()):
                raise Invalid(
                    f"preferences are {', '.join(PREFERENCES)} (true or false)",
                    field="preferences",
                )
            user.preferences = {**preferences(user.preferences), **given}
        if changes.get("active") is False:
            revoke = True
        if changes.get("password"):
            _check_password(changes["password"])
            user.password_hash = await self.passwords.hash(changes["password"])
            revoke = True
        await user.save()
        if revoke:  # existing tokens stop working
            await User.filter(id=user.id).update(token_version=F("token_version") + 1)
            await user.refresh_from_db(fields=["token_version"])
        self.agent_names.remember(user)
        return user

    @staticmethod
    def session_ended(user: User) -> Event:
        """The bus event that closes ``user``'s WebSockets opened with an older token version
        (in every process): publish it after an update that ended their sessions."""
        data = {"user_id": user.id, "version": user.token_version}
        return Event(SESSIONS_ENDED, None, data, Audience())

    async def change_password(self, user_id: int, current: str, new: str) -> User:
        """A person changes their own password: ``current`` must be right (422
        ``wrong_password``); the new one follows the password rules. Their other sessions
        end (``token_version``)."""
        user = await self.get(user_id)
        if not await self.passwords.verify(user.password_hash, current):
            raise Invalid(
                "the current password is wrong", code="wrong_password", field="current_password"
            )
        if new == current:
            raise Invalid("the new password is the current one", field="new_password")
        try:
            return await self.update(user_id, {"password": new})
        except Invalid as exc:
            if exc.details.get("field") == "password":
                exc.details["field"] = "new_password"
            raise

    async def set_password(self, username: str, password: str) -> User:
        user = await User.get_or_none(username=username)
        if user is None:
            raise NotFound(f"user {username!r} not found")
        return await self.update(user.id, {"password": password})

    async def list(self) -> list[User]:
        return await User.all().order_by("id")

    async def loads(self) -> dict[int, int]:
        """Open chats (agent or paused mode) per assigned agent."""
        rows = (
            await Chat.filter(mode__in=OPEN_MODES, assigned_agent_id__not_isnull=True)
            .annotate(open_chats=Count("id"))
            .group_by("assigned_agent_id")
            .values_list("assigned_agent_id", "open_chats")
        )
        return {int(agent_id): int(count) for agent_id, count in rows}

    async def names(self, ids: set[int] | None = None) -> dict[int, str]:
        """Display names by user id (``handoff.read.names``)."""
        return await self.agent_names.names(ids)

    async def chat_row(self, presenter: Presenter, row: dict[str, Any]) -> dict[str, Any]:
        """A chat row (``chat_values`` or a row read back) as the API shows it, with its
        agent's and labels' names."""
        agent = row["assigned_agent_id"]
        names = await self.agent_names.names({agent}) if agent is not None else {}
        labels = row.get("label_ids")
        label_names = await self.label_names.names(labels) if labels else NO_NAMES
        return presenter.chat_row(row, names, label_names)


def _check_identity(username: str, email: str | None) -> None:
    if not USERNAME.match(username):
        raise Invalid(
            "username must be 2-64 letters, digits, dots, dashes or underscores", field="username"
        )
    if email and not EMAIL.match(email):
        raise Invalid("email is not a valid address", field="email")


def _check_password(password: str, *, common_ok: bool = False) -> None:
    if len(password) < 8:
        raise Invalid("password must be at least 8 characters", field="password")
    if len(password) > 1024:
        raise Invalid("password is too long", field="password")
    if not common_ok and is_common_password(password):
        raise Invalid(
            "password is one of the most common passwords and easily guessed; choose another",
            code="common_password",
            field="password",
        )


COMMON_PASSWORDS = Path(__file__).with_name("common_passwords.txt")  # its source: its header


@functools.cache
def _common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS.read_text("utf-8").splitlines()
    return frozenset(line.lower() for line in lines if line and not line.startswith("#"))


def is_common_password(password: str) -> bool:
    """Whether ``password`` (in any case) is on the shipped list of common passwords."""
    return password.lower() in _common_passwords()
