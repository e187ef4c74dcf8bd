"""The Email channel end to end: real SMTP on 127.0.0.1 in, the mock relay out, the dashboard API.

Customers' mail is sent with aiosmtplib (or the mock's control API) to the
service's own SMTP server; agent replies leave through the outbox to the mock
SMTP sink, which records them.
"""

from __future__ import annotations

import base64
import io
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiohttp
import aiosmtplib
import pytest

from connectors.base import OutboundFile, OutboundMessage
from connectors.email import EmailConnector
from connectors.mock.smtp import MockSmtp, SentMail, compose_customer_mail
from handoff.usecases.delivery import RetryPolicy
from msgcenter.settings import Settings
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, eventually, make_settings

ADDRESS = "support@support.example.com"
CUSTOMER = "john@customer.example"
MAX_BYTES = 64 * 1024


def email_section(relay_port: int, **extra: Any) -> dict[str, Any]:
    return {
        "enabled": True,
        "port": 0,
        "hostname": "mx.test",
        "domains": ["support.example.com"],
        "addresses": ["help@partner.example"],
        "address": ADDRESS,
        "display_name": "Acme Support",
        "relay_host": "127.0.0.1",
        "relay_port": relay_port,
        "relay_timeout_seconds": 5,
        "max_message_bytes": MAX_BYTES,
        **extra,
    }


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: MockSmtp) -> Settings:
    return make_settings(
        db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": email_section(relay.smtp_port)}
    )


@pytest.fixture
def mx(admin: Api, relay: MockSmtp) -> EmailConnector:
    """The service's Email connector; the mock customer writes to it, retries are quick."""
    connector = admin.service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    relay.msgcenter_smtp_port = connector.port
    admin.service.core.outbox.retry = RetryPolicy(
        max_attempts=200, base_seconds=0.01, max_seconds=0.03
    )
    return connector


async def deliver(
    port: int, mail: EmailMessage | bytes, sender: str = CUSTOMER, to: str = ADDRESS
) -> None:
    await aiosmtplib.send(
        mail, hostname="127.0.0.1", port=port, sender=sender, recipients=[to], start_tls=False
    )


async def chat_of(admin: Api, email: str) -> dict[str, Any] | None:
    status, chats = await admin.get("/chats/?channel=Email")
    assert status == 200
    return next((chat for chat in chats if chat["email"] == email), None)


async def messages(admin: Api, chat_id: int) -> list[dict[str, Any]]:
    status, detail = await admin.get(f"/chats/{chat_id}")
    assert status == 200
    return list(detail["messages"])


async def email_rows() -> int:
    return await Message.filter(chat__channel="Email").count()


def blob_files(settings: Settings) -> list[Path]:
    """The files in the blob store, and any temporary file a spool left (there must be none)."""
    root = settings.storage.data_dir / "blobs"
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def spool_leftovers(settings: Settings) -> list[Path]:
    return [path for path in blob_files(settings) if path.parent.name == "tmp"]


async def download(admin: Api, attachment: dict[str, Any]) -> bytes:
    async with admin.client.get(attachment["url"], headers=admin.headers()) as response:
        assert response.status == 200, await response.text()
        return await response.read()


async def sent_mail(relay: MockSmtp, count: int = 1) -> list[SentMail]:
    async def enough() -> list[SentMail]:
        return relay.sent if len(relay.sent) >= count else []

    return await eventually(enough)


async def message_status(admin: Api, chat_id: int, message_id: int, status: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        found = next(m for m in await messages(admin, chat_id) if m["id"] == message_id)
        return found if found["status"] == status else None

    result = await eventually(reached)
    assert result is not None
    return result


async def start_conversation(admin: Api, relay: MockSmtp) -> tuple[int, str, str, int]:
    """A customer writes, an agent answers: (chat id, customer's Message-ID, ours, our row id)."""
    customer_id = await relay.customer("John Customer", CUSTOMER, "Where is order 42?", "Order 42")
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat["id"], "text": "It ships today.", "sender": "agent"}
    )
    assert status == 201, reply
    (mail,) = await sent_mail(relay)
    return chat["id"], customer_id, mail.message_id, reply["id"]


async def test_customer_mail_lands_in_the_chat_list_and_the_reply_goes_out_threaded(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    base = f"http://127.0.0.1:{relay.http_port}/_mock"
    async with aiohttp.ClientSession() as http:
        body = {
            "name": "John Customer",
            "email": "John@Customer.example",
            "text": "Where is my order 42?",
            "subject": "Order 42",
        }
        async with http.post(f"{base}/customer", json=body) as response:
            assert response.status == 201
            customer_id = (await response.json())["message_id"]

        chat = await chat_of(admin, CUSTOMER)
        assert chat is not None
        assert (chat["name"], chat["channel"], chat["unread"], chat["subject"]) == (
            "John Customer",
            "Email",
            1,
            "Order 42",
        )
        assert [m["text"] for m in await messages(admin, chat["id"])] == ["Where is my order 42?"]

        status, reply = await admin.post(
            "/chats/messages",
            {"chat_id": chat["id"], "text": "It ships today 🚚", "sender": "agent"},
        )
        assert status == 201
        (mail,) = await sent_mail(relay)
        assert mail.subject == "Re: Order 42"
        assert mail.in_reply_to == customer_id
        assert customer_id in mail.references.split()
        assert mail.from_ == f'"Admin (Acme Support)" <{ADDRESS}>'  # who wrote it, and where
        assert (mail.mail_from, mail.rcpt_tos) == (ADDRESS, (CUSTOMER,))
        assert mail.to == f"John Customer <{CUSTOMER}>"
        assert mail.text.strip() == "It ships today 🚚"
        assert mail.message_id.endswith("@support.example.com>")
        await message_status(admin, chat["id"], reply["id"], "sent")

        async with http.get(f"{base}/sent") as response:
            listed = await response.json()
        assert [item["message_id"] for item in listed] == [mail.message_id]


async def test_the_customers_answer_to_our_reply_joins_the_same_chat(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    chat_id, _, ours, _ = await start_conversation(admin, relay)

    # From another address of theirs: only the In-Reply-To header ties it to the chat.
    await relay.customer("John at work", "john@work.example", "Thanks!", "Re: Order 42", ours)
    assert [m["text"] for m in await messages(admin, chat_id)][-1] == "Thanks!"
    assert await chat_of(admin, "john@work.example") is None
    _, detail = await admin.get(f"/chats/{chat_id}")
    assert detail["name"] == "John Customer"  # the chat keeps its customer's name

    await relay.customer("John at work", "john@work.example", "A new question", "Returns")
    new_chat = await chat_of(admin, "john@work.example")
    assert new_chat is not None
    assert new_chat["id"] != chat_id


async def test_the_same_mail_delivered_twice_is_stored_once(
    admin: Api, relay: MockSmtp, mx: EmailConnector, settings: Settings
) -> None:
    mail = compose_customer_mail("John Customer", CUSTOMER, "Invoice attached", to=ADDRESS)
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="a.pdf")
    await deliver(mx.port, mail)
    await deliver(mx.port, mail)  # the sending MTA did not see our 250 and tries again

    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    assert chat["unread"] == 1
    (message,) = await messages(admin, chat["id"])
    (pdf,) = message["attachments"]
    assert (pdf["filename"], pdf["content_type"], pdf["status"]) == (
        "a.pdf",
        "application/pdf",
        "stored",
    )
    assert await download(admin, pdf) == b"%PDF-1.4 fake"
    assert len(blob_files(settings)) == 1  # kept once, by content; no spool left behind

    # The same file in another mail is the same blob.
    again = compose_customer_mail("John Customer", CUSTOMER, "Again", to=ADDRESS)
    again.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="b.pdf")
    await deliver(mx.port, again)
    assert len(await messages(admin, chat["id"])) == 2
    assert len(blob_files(settings)) == 1


async def test_mail_for_a_foreign_domain_is_refused_and_nothing_is_stored(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    before = await email_rows()
    mail = compose_customer_mail(
        "Spammer", "spam@bad.example", "relay me", to="x@elsewhere.example"
    )
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await deliver(mx.port, mail, to="victim@elsewhere.example")
    assert refused.value.recipients[0].code == 550
    assert await email_rows() == before

    # A single address configured beside the domains is ours.
    await deliver(
        mx.port,
        compose_customer_mail("Pat", "pat@partner.example", "hi"),
        to="help@partner.example",
    )
    assert await chat_of(admin, "pat@partner.example") is not None


async def test_bounces_and_auto_replies_are_acknowledged_but_not_stored(
    admin: Api, mx: EmailConnector
) -> None:
    before = await email_rows()
    bounce = b"From: MAILER-DAEMON@relay.example\r\nSubject: Undelivered\r\n\r\nbounced\r\n"
    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=mx.port, start_tls=False) as smtp:
        await smtp.mail("")  # MAIL FROM:<>, the null sender of bounces
        await smtp.rcpt(ADDRESS)
        response = await smtp.data(bounce)
    assert response.code == 250

    vacation = compose_customer_mail("John Customer", CUSTOMER, "I am away", to=ADDRESS)
    vacation["Auto-Submitted"] = "auto-replied"
    await deliver(mx.port, vacation)  # answering it could start a mail loop
    assert await email_rows() == before
    assert await chat_of(admin, CUSTOMER) is None


async def test_oversized_mail_is_refused_with_552_and_nothing_is_stored(
    admin: Api, mx: EmailConnector, settings: Settings
) -> None:
    before = await email_rows()
    mail = compose_customer_mail("Big", CUSTOMER, "x" * 10, to=ADDRESS)
    mail.add_attachment(
        b"\0" * MAX_BYTES, maintype="application", subtype="octet-stream", filename="big.bin"
    )
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as declared:  # SIZE=... at MAIL FROM
        await deliver(mx.port, mail)
    assert declared.value.code == 552

    async with aiosmtplib.SMTP(hostname="127.0.0.1", port=mx.port, start_tls=False) as smtp:
        await smtp.mail(CUSTOMER)  # no SIZE given: the server counts while reading DATA
        await smtp.rcpt(ADDRESS)
        with pytest.raises(aiosmtplib.SMTPDataError) as counted:
            await smtp.data(mail.as_bytes())
    assert counted.value.code == 552
    assert await email_rows() == before
    assert blob_files(settings) == []


BROKEN = {
    "multipart without its closing boundary": (
        b"From: Broken <broken@customer.example>\r\nMessage-ID: <b1@customer.example>\r\n"
        b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: text/plain\r\n"
        b"\r\nhi there\r\n--XX\r\nContent-Type: application/pdf; name=a.pdf\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n",
        "hi there",
    ),
    "multipart without a boundary": (
        b"From: broken@customer.example\r\nContent-Type: multipart/mixed\r\n\r\nhello anyway\r\n",
        "hello anyway",
    ),
    "invalid base64": (
        b"From: broken@customer.example\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not base64***\r\naGVsbG8\r\n",
        "",
    ),
    "unknown charsets": (
        b"From: =?x-nope?q?J=E9r=F4me?= <broken@customer.example>\r\n"
        b"Subject: =?x-unknown?B?w6k=?= caf\xe9\r\nContent-Type: text/plain; charset=x-unknown\r\n"
        b"\r\ncaf\xe9 ol\xc3\xa9\r\n",
        "caf",
    ),
    "binary garbage with NUL bytes": (b"\x00\x01garbage \xff\xfe\x00\r\n\r\n", "garbage"),
    "no sender anywhere": (b"Subject: who am I\r\n\r\nanonymous\r\n", None),
}


@pytest.mark.parametrize("case", list(BROKEN))
async def test_broken_mime_is_read_gracefully_or_refused_never_half_stored(
    admin: Api, mx: EmailConnector, settings: Settings, case: str
) -> None:
    raw, expected = BROKEN[case]
    before = await email_rows()
    sender = "nobody" if expected is None else "broken@customer.example"
    if expected is None:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await deliver(mx.port, raw, sender=sender)
        assert refused.value.code == 550
        assert await email_rows() == before
        assert blob_files(settings) == []
        return
    await deliver(mx.port, raw, sender=sender)
    assert await email_rows() == before + 1
    chat = await chat_of(admin, "broken@customer.example")
    assert chat is not None
    (message,) = await messages(admin, chat["id"])
    assert expected in message["text"]
    assert "\x00" not in message["text"]


async def test_html_only_mail_becomes_text_and_quoted_replies_are_trimmed(
    admin: Api, mx: EmailConnector, settings: Settings
) -> None:
    html_mail = EmailMessage()
    html_mail["From"] = f"John Customer <{CUSTOMER}>"
    html_mail["Subject"] = "Damaged parcel"
    html_mail.set_content(
        "<html><head><style>p {color: red}</style></head><body><p>Hello &amp; good day,</p>"
        "<p>the box was <b>crushed</b>.<br>See <a href='https://photos.example/1'>my photo</a>"
        "</p><script>alert(1)</script></body></html>",
        subtype="html",
    )
    await deliver(mx.port, html_mail)
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    (message,) = await messages(admin, chat["id"])
    assert message["text"] == (
        "Hello & good day,\n\nthe box was crushed.\nSee my photo (https://photos.example/1)"
    )

    reply = EmailMessage()
    reply["From"] = f"John Customer <{CUSTOMER}>"
    reply["Subject"] = "Re: Damaged parcel"
    reply.set_content(
        "Thanks, a new one arrived.\n\nOn Mon, 3 Nov 2026 at 10:00, Acme Support <\n"
        f"{ADDRESS}> wrote:\n> We are sorry.\n>\n> > Hello & good day,\n"
    )
    await deliver(mx.port, reply)
    trimmed = (await messages(admin, chat["id"]))[-1]
    assert trimmed["text"] == "Thanks, a new one arrived."
    (full,) = trimmed["attachments"]
    assert full["meta"] == {"role": "full_body"}
    assert (full["filename"], full["content_type"]) == ("full-message.txt", "text/plain")
    assert "> We are sorry." in (await download(admin, full)).decode("utf-8")


async def test_attachment_names_cannot_escape_the_data_dir(
    admin: Api, mx: EmailConnector, settings: Settings, tmp_path: Path
) -> None:
    mail = compose_customer_mail("Mallory", "mallory@customer.example", "see files", to=ADDRESS)
    mail.add_attachment("root:x:0:0\n", filename="../../etc/passwd")
    mail.add_attachment(
        b"MZ",
        maintype="application",
        subtype="octet-stream",
        filename="..\\..\\evil\x07\u202e" + "a" * 300 + ".exe",
    )
    await deliver(mx.port, mail, sender="mallory@customer.example")

    chat = await chat_of(admin, "mallory@customer.example")
    assert chat is not None
    (message,) = await messages(admin, chat["id"])
    passwd, evil = message["attachments"]
    assert (passwd["filename"], passwd["content_type"]) == ("passwd", "text/plain")
    assert evil["filename"].startswith("evil")
    assert evil["filename"].endswith(".exe")
    assert len(evil["filename"].encode()) <= 120
    assert "\x07" not in evil["filename"]
    saved = await download(admin, passwd)
    assert saved == b"root:x:0:0\r\n"  # text parts travel with CRLF; saved as received
    assert passwd["size"] == len(saved)
    # Files are named by their content's hash: no name a sender chose is a path of ours.
    root = (settings.storage.data_dir / "blobs").resolve()
    assert [path.name for path in blob_files(settings)] == sorted(
        path.name for path in root.glob("*/*/*")
    )
    assert all(len(path.name) == 64 for path in blob_files(settings))
    assert not (tmp_path / "etc").exists()


async def test_header_injection_in_subject_or_name_adds_no_header(
    relay: MockSmtp, mx: EmailConnector
) -> None:
    message_id = await mx.send(
        OutboundMessage(
            message_id=1,
            chat_id=1,
            channel="Email",
            chat_external_id="eve@customer.example",
            text="Hello",
            customer_name="Eve\r\nBcc: victim@elsewhere.example",
            customer_email="eve@customer.example",
            subject="Help\r\nBcc: victim@elsewhere.example\r\nX-Injected: yes",
        )
    )
    (mail,) = await sent_mail(relay)
    assert mail.message_id == message_id
    assert mail.from_ == f"Acme Support <{ADDRESS}>"  # no agent: the channel's own name
    assert mail.rcpt_tos == ("eve@customer.example",)
    assert mail.header("Bcc") == []
    assert mail.header("X-Injected") == []
    assert mail.subject == "Re: Help Bcc: victim@elsewhere.example X-Injected: yes"
    assert mail.to == '"Eve Bcc: victim@elsewhere.example" <eve@customer.example>'


async def test_a_relay_answering_451_is_retried_until_it_takes_the_reply(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    relay.fail(451, count=2)
    chat_id, _, _, reply_id = await start_conversation(admin, relay)
    await message_status(admin, chat_id, reply_id, "sent")
    assert relay.refused == 2
    assert len(relay.sent) == 1


async def test_a_relay_answering_550_fails_the_reply_with_its_reason(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    relay.fail(550, count=1)
    await relay.customer("John Customer", CUSTOMER, "Hello?", "Order 42")
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat["id"], "text": "Hi!", "sender": "agent"}
    )
    assert status == 201
    failed = await message_status(admin, chat["id"], reply["id"], "failed")
    assert "550" in failed["error"]
    assert "mailbox unavailable" in failed["error"]
    assert relay.sent == []


async def test_an_unreachable_relay_is_retried_and_the_reply_delivered_when_it_is_back(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    await relay.customer("John Customer", CUSTOMER, "Hello?", "Order 42")
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    port = relay.smtp_port
    await relay.stop_smtp()
    status, reply = await admin.post(
        "/chats/messages", {"chat_id": chat["id"], "text": "Hi!", "sender": "agent"}
    )
    assert status == 201
    waiting = await message_status(admin, chat["id"], reply["id"], "queued")

    async def retried() -> bool:
        found = [m for m in await messages(admin, chat["id"]) if m["id"] == reply["id"]]
        return bool(found[0]["error"]) and "unreachable" in found[0]["error"]

    await eventually(retried)
    assert waiting["status"] == "queued"
    await relay.start(smtp_port=port)
    await message_status(admin, chat["id"], reply["id"], "sent")
    assert len(relay.sent) == 1


PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))


async def test_inline_images_are_kept_and_marked_in_the_text_where_they_were(
    admin: Api, mx: EmailConnector, settings: Settings
) -> None:
    mail = EmailMessage()
    mail["From"] = f"John Customer <{CUSTOMER}>"
    mail["Subject"] = "Damaged parcel"
    mail.set_content("The box:\n\n[image: box.png]\n\nand the invoice attached.")
    mail.add_alternative(
        '<p>The box:</p><p><img src="cid:box@mail.example"></p><p>and the invoice attached.</p>'
        '<p><img src="cid:t@mail.example"></p>',
        subtype="html",
    )
    mail.get_payload()[1].add_related(
        PNG, "image", "png", cid="<box@mail.example>", filename="box.png"
    )
    mail.add_attachment(b"%PDF-1.4 inv", maintype="application", subtype="pdf", filename="i.pdf")
    # Declared a picture, but a web page: kept as what it is, never shown in place.
    mail.add_attachment(b"<html><script>x</script>", maintype="image", subtype="png",
                        filename="trick.png", cid="<t@mail.example>")  # fmt: skip
    await deliver(mx.port, mail)

    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    (message,) = await messages(admin, chat["id"])
    assert message["text"] == (
        "The box:\n\n[image: box.png]\n\nand the invoice attached.\n\n[image: trick.png]"
    )
    box, pdf, trick = message["attachments"]
    base = f"/chats/{chat['id']}/messages/{message['id']}/attachments"
    assert box == {
        "kind": "image", "filename": "box.png", "content_type": "image/png", "size": len(PNG),
        "status": "stored", "error": None, "url": f"{base}/0", "inline": True,
        "meta": {"content_id": "box@mail.example", "inline": True},
    }  # fmt: skip
    assert await download(admin, box) == PNG
    assert (pdf["filename"], pdf["content_type"], pdf["kind"]) == (
        "i.pdf",
        "application/pdf",
        "document",
    )
    assert "meta" not in pdf
    assert (trick["content_type"], trick["kind"], trick["inline"]) == (
        "text/html",
        "document",
        False,
    )
    assert trick["meta"] == {"content_id": "t@mail.example"}
    assert spool_leftovers(settings) == []


async def test_a_signature_is_set_by_its_owner_and_signs_their_replies(
    admin: Api, agent: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    status, me = await admin.get("/auth/me")
    assert (status, me["signature"]) == (200, None)
    status, error = await admin.patch("/users/me", {"signature": "x" * 2001})
    assert status == 422 and error["error"]["code"] == "validation_error", error
    status, error = await admin.patch("/users/me", {"role": "agent"})
    assert status == 422  # one's own profile only; admins change roles at /users/{id}
    status, me = await admin.patch("/users/me", {"signature": "  Ann Admin\nAcme <Support>\n"})
    assert status == 200 and me["signature"] == "Ann Admin\nAcme <Support>"
    assert (await admin.get("/auth/me"))[1]["signature"] == "Ann Admin\nAcme <Support>"

    # Agents sign for themselves; an admin may change anyone's.
    status, mine = await agent.patch("/users/me", {"signature": "Agent Smith"})
    assert (status, mine["signature"]) == (200, "Agent Smith")
    assert (await agent.patch(f"/users/{me['id']}", {"signature": "hijack"}))[0] == 403
    status, theirs = await admin.patch(f"/users/{mine['id']}", {"signature": ""})
    assert (status, theirs["signature"]) == (200, None)
    assert (await admin.get(f"/users/{mine['id']}"))[1]["signature"] is None

    await admin.patch(f"/users/{me['id']}", {"display_name": "Ann"})
    _, _, _, _ = await start_conversation(admin, relay)
    (mail,) = relay.sent
    assert mail.from_ == f'"Ann (Acme Support)" <{ADDRESS}>'
    assert mail.content_type == "multipart/alternative"
    assert mail.text.rstrip("\n") == "It ships today.\n\n-- \nAnn Admin\nAcme <Support>"
    assert "<p>It ships today.</p>" in mail.html
    assert "-- <br>\nAnn Admin<br>\nAcme &lt;Support&gt;" in mail.html
    assert [
        part for part in mail.raw.split(b"\r\n") if part.startswith(b"Content-Type: text/")
    ] == [
        b'Content-Type: text/plain; charset="utf-8"',
        b'Content-Type: text/html; charset="utf-8"',
    ]


async def test_files_go_out_as_attachments_of_one_mail(
    relay: MockSmtp, mx: EmailConnector, tmp_path: Path
) -> None:
    photo, invoice = tmp_path / "photo", tmp_path / "invoice"
    photo.write_bytes(PNG)
    invoice.write_bytes(b"%PDF-1.4 " + b"x" * 300_000)
    files = (
        OutboundFile(str(photo), "foto paket.png", "image/png", len(PNG), "image"),
        OutboundFile(str(invoice), "Faktur №42.pdf", "application/pdf", 300_009, "document"),
    )
    await mx.send(
        OutboundMessage(
            message_id=1, chat_id=1, channel="Email", chat_external_id=CUSTOMER,
            text="Here you are.", customer_name="John", customer_email=CUSTOMER, files=files,
        )
    )  # fmt: skip
    (mail,) = await sent_mail(relay)
    assert mail.content_type == "multipart/mixed"
    assert mail.text.strip() == "Here you are."
    assert "<p>Here you are.</p>" in mail.html
    assert [(f.filename, f.content_type, f.disposition) for f in mail.files] == [
        ("foto paket.png", "image/png", "attachment"),
        ("Faktur №42.pdf", "application/pdf", "attachment"),
    ]
    assert [f.data for f in mail.files] == [PNG, invoice.read_bytes()]
    assert b"filename*=utf-8''Faktur%20%E2%84%9642.pdf" in mail.raw


async def test_the_mock_customer_sends_files_and_pictures_in_the_text(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    base = f"http://127.0.0.1:{relay.http_port}/_mock/customer"
    photo = {"filename": "parcel.png", "content_type": "image/png", "inline": True,
             "base64": base64.b64encode(PNG).decode()}  # fmt: skip
    pdf = {"filename": "receipt.pdf", "content_type": "application/pdf",
           "base64": base64.b64encode(b"%PDF-1.4 r").decode()}  # fmt: skip
    body = {"name": "Rina", "email": CUSTOMER, "text": "It came broken:", "files": [photo, pdf]}
    before = await email_rows()
    async with aiohttp.ClientSession() as http:
        for bad in ([{"filename": "x"}], [{**pdf, "base64": "!!"}], [pdf] * 11, "x"):
            async with http.post(base, json={**body, "files": bad}) as response:
                assert response.status == 422
        assert await email_rows() == before
        async with http.post(base, json=body) as response:
            assert response.status == 201
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    (message,) = await messages(admin, chat["id"])
    assert message["text"] == "It came broken:\n\n[image: parcel.png]"
    shown, receipt = message["attachments"]
    assert (shown["filename"], shown["meta"]["inline"], shown["inline"]) == (
        "parcel.png",
        True,
        True,
    )
    assert await download(admin, shown) == PNG
    assert (receipt["filename"], receipt["content_type"]) == ("receipt.pdf", "application/pdf")


async def test_an_agents_files_go_out_in_their_signed_reply(
    admin: Api, relay: MockSmtp, mx: EmailConnector
) -> None:
    await relay.customer("John Customer", CUSTOMER, "Send me the invoice?", "Invoice")
    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    await admin.patch("/users/me", {"signature": "Admin\nAcme Support"})
    pdf = b"%PDF-1.4 " + bytes(range(256)) * 64
    form = aiohttp.FormData(default_to_multipart=True, quote_fields=False)  # as browsers send
    form.add_field("chat_id", str(chat["id"]))
    form.add_field("text", "Here it is, with the photo: https://acme.example/parcel?id=42&x=1")
    form.add_field(
        "file", io.BytesIO(pdf), filename="Faktur №42.pdf", content_type="application/pdf"
    )
    form.add_field("file", io.BytesIO(PNG), filename="parcel.png", content_type="image/png")
    status, reply = await admin.call("POST", "/chats/messages", data=form)
    assert status == 201, reply
    await message_status(admin, chat["id"], reply["id"], "sent")

    (mail,) = relay.sent  # one mail with every file
    assert mail.from_ == f'"Admin (Acme Support)" <{ADDRESS}>'
    assert mail.content_type == "multipart/mixed"
    assert mail.text.rstrip("\n") == (
        "Here it is, with the photo: https://acme.example/parcel?id=42&x=1"
        "\n\n-- \nAdmin\nAcme Support"
    )
    assert '<a href="https://acme.example/parcel?id=42&amp;x=1"' in mail.html
    assert [(f.filename, f.content_type, f.data) for f in mail.files] == [
        ("Faktur №42.pdf", "application/pdf", pdf),
        ("parcel.png", "image/png", PNG),
    ]
