"""Bad input, property-based: random and mutated real payloads for the WhatsApp webhook, the
Telegram webhook and the MIME parser. Never a 5xx, never an exception other than the parser's
own refusal, never a partial row (a refused body leaves the database as it was; an accepted
one stores every message it carries)."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from connectors.mock.smtp import compose_customer_mail
from connectors.mock.telegram import MockTelegram
from connectors.mock.whatsapp import customer_payload, encode, sign, status_payload
from connectors.whatsapp_webhook import PayloadError, parse_webhook
from handoff.usecases.delivery import RetryPolicy
from msgcenter import demo
from msgcenter.service import SERVICE, build_app
from storage.models import Chat, Message
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.whatsapp_support import APP_SECRET, WhatsApp

# FUZZ_EXAMPLES=2000 for a longer hunt (bench/README.md); make test runs 60 of each.
FUZZ = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# Text as JSON can carry it: any code point, lone surrogates too ("\ud83d" is valid JSON;
# hypothesis leaves them out by default).
texts = st.text(max_size=20) | st.text(st.characters(categories=["Cs", "L", "Cc"]), max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=20,
)


def real_whatsapp_payloads() -> list[dict[str, Any]]:
    text = customer_payload("Budi", "Halo kak", phone="6281200000001", wamid="wamid.FUZZ1")
    media = customer_payload("Sari", "x", phone="6281200000002", wamid="wamid.FUZZ2")
    media["entry"][0]["changes"][0]["value"]["messages"][0] = {
        "from": "6281200000002", "id": "wamid.FUZZ2", "timestamp": "1700000000",
        "type": "image", "image": {"id": "123", "mime_type": "image/jpeg", "caption": "foto"},
    }  # fmt: skip
    status = status_payload("wamid.OURS", "delivered", "6281200000001")
    return [text, media, status]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside nested dicts and lists."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, originals: list[dict[str, Any]]) -> Any:
    """A real payload with a few values replaced by random JSON, or keys dropped."""
    payload = copy.deepcopy(draw(st.sampled_from(originals)))
    for _ in range(draw(st.integers(1, 4))):
        targets = paths(payload)
        path = draw(st.sampled_from(targets))
        if not path:
            payload = draw(json_values)
            continue
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = draw(json_values)
    return payload


# -- the WhatsApp parser, alone -----------------------------------------------------------


@FUZZ
@given(st.one_of(json_values, mutated(real_whatsapp_payloads())))
def test_the_whatsapp_parser_reads_or_refuses_any_json(data: Any) -> None:
    try:
        batch = parse_webhook(data)
    except PayloadError:
        return
    for message in batch.messages:
        assert message.message_external_id and message.chat_external_id


# -- the WhatsApp webhook, end to end -----------------------------------------------------


async def _counts() -> tuple[int, int]:
    return await Chat.all().count(), await Message.all().count()


@FUZZ
@given(body=st.one_of(mutated(real_whatsapp_payloads()), json_values))
async def test_the_whatsapp_webhook_never_fails_and_never_stores_half(
    wa: WhatsApp, body: Any
) -> None:
    raw = encode(body) if not isinstance(body, bytes) else body
    before = await _counts()
    status, answer = await wa.post(raw, sign(raw, APP_SECRET))
    assert status < 500, answer
    await wa.service.core.drain()
    after = await _counts()
    if status >= 400:
        assert after == before, f"{status} but rows changed: {before} -> {after}"
        return
    expected = len(parse_webhook(body).messages)
    assert after[1] - before[1] <= expected  # repeats are stored once; never extra rows
    if expected and after[1] == before[1]:
        return  # every message was a repeat of an earlier example
    assert await Message.filter(chat_id=None).count() == 0


@FUZZ
@given(flip=st.binary(min_size=1, max_size=8), where=st.integers(0, 10_000))
async def test_corrupted_or_unsigned_bytes_are_refused_whole(
    wa: WhatsApp, flip: bytes, where: int
) -> None:
    raw = bytearray(encode(real_whatsapp_payloads()[0]))
    at = where % len(raw)
    raw[at : at + len(flip)] = flip
    before = await _counts()
    signed_status, _ = await wa.post(bytes(raw), sign(bytes(raw), APP_SECRET))
    unsigned_status, _ = await wa.post(bytes(raw), "sha256=" + "0" * 64)
    assert signed_status < 500 and unsigned_status == 401
    if signed_status >= 400:
        assert await _counts() == before


# -- the Telegram webhook, end to end -------------------------------------------------------

SECRET = "fuzz-webhook-secret-0123456789"


def real_telegram_updates() -> list[dict[str, Any]]:
    user = {"id": 4242, "is_bot": False, "first_name": "Jane", "username": "jane"}
    chat = {"id": 4242, "type": "private", "first_name": "Jane"}
    text = {"update_id": 1, "message": {"message_id": 7, "date": 1700000000, "chat": chat,
                                         "from": user, "text": "hello there"}}  # fmt: skip
    photo = {
        "update_id": 2,
        "message": {
            "message_id": 8,
            "date": 1700000000,
            "chat": chat,
            "from": user,
            "caption": "look",
            "photo": [{"file_id": "AgAD", "file_unique_id": "u1", "width": 90, "height": 90}],
        },
    }
    edited = {
        "update_id": 3,
        "edited_message": {
            "message_id": 7,
            "date": 1700000000,
            "edit_date": 1700000100,
            "chat": chat,
            "from": user,
            "text": "hello again",
        },
    }
    return [text, photo, edited]  # fmt: skip


@pytest.fixture
async def telegram(
    aiohttp_client: ClientFactory, db_url: str, tmp_path: Path
) -> AsyncIterator[Api]:
    mock = MockTelegram("123456:fuzz-token-abcdefghijklmnopqrstu")
    await mock.start("127.0.0.1", 0)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    settings_ = make_settings(
        db_url, tmp_path / "data", bot=QUIET_BOT,
        server={"public_url": f"http://127.0.0.1:{port}"},
        channels={"telegram": {"enabled": True, "api_base": mock.url, "token": mock.token,
                               "mode": "webhook", "webhook_secret": SECRET}},
    )  # fmt: skip
    client = await aiohttp_client(build_app(settings_), server_kwargs={"port": port})
    service = client.app[SERVICE]
    service.core.outbox.retry = RetryPolicy(base_seconds=0.01, max_seconds=0.05)
    await demo.seed_users(service.core.staff)
    try:
        yield Api(client)
    finally:
        await mock.stop()


@FUZZ
@given(update=st.one_of(mutated(real_telegram_updates()), json_values))
@example(update={"update_id": 1})  # found by this test: an update of no known kind was a 500
async def test_the_telegram_webhook_never_fails_and_never_stores_half(
    telegram: Api, update: Any
) -> None:
    before = await _counts()
    status, answer = await telegram.call(
        "POST", "/webhooks/telegram", data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json",
                 "X-Telegram-Bot-Api-Secret-Token": SECRET},
    )  # fmt: skip
    assert status < 500, answer
    if status >= 400:
        assert await _counts() == before


# -- the MIME parser ------------------------------------------------------------------------


def real_mail() -> bytes:
    mail = compose_customer_mail("Rina Putri", "rina@example.org", "Halo,\n\npesanan saya?")
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf",
                        filename="invoice.pdf")  # fmt: skip
    return mail.as_bytes()


@FUZZ
@given(
    cuts=st.lists(st.tuples(st.integers(0, 5000), st.binary(max_size=12)), max_size=6),
    tail=st.integers(0, 5000),
)
def test_the_mime_parser_reads_or_refuses_mutated_mail(
    cuts: list[tuple[int, bytes]], tail: int
) -> None:
    from connectors.email_parse import MailRejected, parse_mail

    raw = bytearray(real_mail())
    for at, junk in cuts:
        at %= len(raw)
        raw[at : at + len(junk)] = junk
    data = bytes(raw[: max(1, len(raw) - tail % len(raw))])
    try:
        parsed = parse_mail(data, "rina@example.org")
    except MailRejected:
        return
    assert parsed.sender and parsed.message_id
    assert "\r" not in parsed.subject and "\n" not in parsed.subject


@FUZZ
@given(st.binary(max_size=2000))
def test_the_mime_parser_reads_or_refuses_random_bytes(data: bytes) -> None:
    from connectors.email_parse import MailRejected, parse_mail

    with contextlib.suppress(MailRejected):
        parse_mail(data, "someone@example.org")


# -- the MIME parser, for time: worst-case building blocks, repeated ---------------------

# Pieces the patterns and html.parser react to; repeated thousands of times they are what
# made the old code quadratic ("am schrieb schrieb ...", "<a<a<a...", "<!--<!--...").
HOSTILE_PIECES = [
    "am ", "schrieb ", "on ", "wrote", " wrote:", ":", " ", "\n", "> ", "\t", "<a", "<a b='",
    "<!--", "-->", "<![", "<![if ", "]>", "&#", "&", "<p>", "</p>", "<", ">", '"', "=", "Re:",
    "[1]", "-----Original Message-----\n", "From: x\n", "<script>", "</", "<!DOCTYPE", "<?",
]  # fmt: skip
TIMED = settings(FUZZ, max_examples=max(10, FUZZ.max_examples // 3))


@TIMED
@given(
    pieces=st.lists(
        st.tuples(st.sampled_from(HOSTILE_PIECES), st.integers(1, 40_000)), min_size=1, max_size=4
    ),
    subtype=st.sampled_from(["plain", "html"]),
)
def test_the_mime_parser_reads_hostile_repetitions_in_linear_time(
    pieces: list[tuple[str, int]], subtype: str
) -> None:
    import asyncio
    import base64

    from connectors.email_parse import MailLimits, MailRejected
    from connectors.parsing import ParsePool

    text = "".join(piece * count for piece, count in pieces)[:400_000]
    raw = (
        f"From: a@example.org\r\nSubject: {' '.join(text[:900].split())}\r\n"
        f"Content-Type: text/{subtype}; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n"
        "\r\n"
    ).encode() + base64.encodebytes(text.encode())

    async def parse() -> None:
        # Up to 400 KB: linear code reads it in well under a second; the old quadratic
        # paths took minutes. The budget is generous, the outcome is what is asserted.
        pool = ParsePool(workers=1, budget=20.0)
        try:
            await pool.parse(raw, "a@example.org", MailLimits())
        except MailRejected:
            pass
        finally:
            await pool.close()

    asyncio.run(parse())  # ParseTimeout fails the test
