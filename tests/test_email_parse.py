"""Reading customers' mail and writing our replies, without sockets."""

from __future__ import annotations

from email import policy
from email.parser import BytesParser

import pytest

from connectors.base import DeliveryError, OutboundMessage
from connectors.email import compose_reply, header_text, reply_subject
from connectors.email_parse import (
    FULL_BODY_NAME,
    MailRejected,
    decode_bytes,
    html_to_text,
    parse_mail,
    safe_filename,
    trim_quoted,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\report.pdf", "report.pdf"),
        ("..", "attachment-2.pdf"),
        ("", "attachment-2.pdf"),
        (".bashrc", "bashrc"),
        ("in\x00voice\r\n.pdf", "invoice.pdf"),
        ("\u202efdp.exe", "fdp.exe"),
        ('a<b>:"c"|?*.txt', "a_b___c____.txt"),
        ("Zoë résumé.pdf", "Zoë résumé.pdf"),
    ],
)
def test_attachment_names_are_made_safe(name: str, expected: str) -> None:
    assert safe_filename(name, "application/pdf", 2) == expected


def test_long_attachment_names_are_cut_keeping_the_extension() -> None:
    name = safe_filename("é" * 500 + ".tar.gz")
    assert name.endswith(".gz")
    assert len(name.encode()) <= 120


@pytest.mark.parametrize(
    ("data", "charset", "expected"),
    [
        ("café".encode("latin-1"), "iso-8859-1", "café"),
        ("café".encode(), "us-ascii", "café"),  # a wrong declaration: UTF-8 wins
        ("café".encode(), "x-no-such-charset", "café"),
        (b"caf\xe9", "x-no-such-charset", "caf\ufffd"),
        (b"caf\xe9", "base64", "caf\ufffd"),  # a codec, but not a text encoding
        (b"xn--caf-dma", "idna", "xn--caf-dma"),
    ],
)
def test_any_charset_decodes_without_raising(data: bytes, charset: str, expected: str) -> None:
    assert decode_bytes(data, charset) == expected


def test_html_becomes_readable_text() -> None:
    html = (
        "<html><head><title>x</title><style>p{}</style></head><body>"
        "<h1>Order&nbsp;42</h1><p>Items:</p><ul><li>one</li><li>two</li></ul>"
        "<p>Mail <a href='mailto:a@b.example'>a@b.example</a> or "
        "<a href='https://x.example/help'>our help</a>.</p>"
        "<div class='gmail_quote'>On Mon, Support wrote:<br><blockquote>old<br>text</blockquote>"
        "</div></body></html>"
    )
    assert html_to_text(html) == (
        "Order 42\n\nItems:\n\n- one\n- two\n\n"
        "Mail a@b.example or our help (https://x.example/help).\n\n"
        "On Mon, Support wrote:\n\n> old\n> text"
    )
    assert trim_quoted(html_to_text(html)).endswith("(https://x.example/help).")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Yes.\n\nOn Tue, 4 Nov 2026, Support <s@x.example> wrote:\n> Is it ok?\n", "Yes."),
        ("Yes.\n\nAm 4. Nov. 2026 schrieb Support\n<s@x.example>:\n> Geht das?", "Yes."),
        ("Yes.\n\n-----Original Message-----\nFrom: Support\nSent: today\n\nold", "Yes."),
        ("> I said\nand I reply inline\n> more\n", "> I said\nand I reply inline"),
        ("> only a quote\n> nothing else", "> only a quote\n> nothing else"),
        ("On my way!", "On my way!"),
    ],
)
def test_quoted_replies_are_trimmed(text: str, expected: str) -> None:
    assert trim_quoted(text) == expected


def test_a_trimmed_mail_keeps_its_full_body_as_a_part() -> None:
    raw = (
        b"From: John <john@customer.example>\r\nMessage-ID: <m1@customer.example>\r\n"
        b"In-Reply-To: <ours@support.example.com>\r\n"
        b"References: <first@customer.example> <ours@support.example.com>\r\n"
        b"Subject: =?utf-8?q?Re=3A_Caf=C3=A9?=\r\n\r\nThanks\r\n\r\nOn Mon, S wrote:\r\n> hi\r\n"
    )
    mail = parse_mail(raw)
    assert (mail.sender, mail.name, mail.subject, mail.text) == (
        "john@customer.example",
        "John",
        "Re: Café",
        "Thanks",
    )
    assert mail.thread_refs == ("<first@customer.example>", "<ours@support.example.com>")
    assert mail.in_reply_to == "<ours@support.example.com>"
    (full,) = mail.parts
    assert (full.name, full.meta) == (FULL_BODY_NAME, {"role": "full_body"})
    assert full.data.decode() == "Thanks\n\nOn Mon, S wrote:\n> hi\n"


def test_a_missing_message_id_is_derived_from_the_content_not_the_trace_headers() -> None:
    body = b"From: john@customer.example\r\nSubject: hi\r\n\r\nhello\r\n"
    first = parse_mail(b"Received: from a by b; Mon\r\n" + body).message_id
    again = parse_mail(b"Received: from a by c; Tue\r\n" + body).message_id
    other = parse_mail(body.replace(b"hello", b"bye")).message_id
    assert first == again != other
    assert first.startswith("<")
    assert first.endswith("@msgcenter.invalid>")


def test_the_envelope_sender_stands_in_for_a_missing_from_and_no_sender_is_refused() -> None:
    assert parse_mail(b"Subject: x\r\n\r\nhi", "Jane@Customer.example").sender == (
        "jane@customer.example"
    )
    with pytest.raises(MailRejected, match="no usable sender"):
        parse_mail(b"From: nobody\r\n\r\nhi", "")


def reply(**fields: object) -> OutboundMessage:
    values: dict[str, object] = {
        "message_id": 7,
        "chat_id": 3,
        "channel": "Email",
        "chat_external_id": "john@customer.example",
        "text": "Hello",
        "customer_name": "John",
        "customer_email": "john@customer.example",
        "subject": "Order 42",
        "reply_to_external_id": "<c2@customer.example>",
        "thread_external_ids": ("<c1@customer.example>", "<o1@support.example.com>", "junk"),
    }
    values.update(fields)
    return OutboundMessage(**values)  # type: ignore[arg-type]


def test_a_reply_carries_our_message_id_and_the_thread() -> None:
    mail, recipient = compose_reply(reply(), address="help@support.example.com", display_name="A")
    assert recipient == "john@customer.example"
    assert mail["Message-ID"].endswith("@support.example.com>")
    assert mail["In-Reply-To"] == "<c2@customer.example>"
    assert mail["References"] == (
        "<c1@customer.example> <o1@support.example.com> <c2@customer.example>"
    )
    parsed = BytesParser(policy=policy.default).parsebytes(mail.as_bytes())
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "utf-8"


def test_reply_headers_stay_one_line_each() -> None:
    evil = "x\r\nBcc: victim@elsewhere.example"
    mail, _ = compose_reply(
        reply(subject=evil, customer_name=evil), address="s@support.example.com", display_name=evil
    )
    parsed = BytesParser(policy=policy.default).parsebytes(mail.as_bytes())
    assert parsed.get_all("Bcc") is None
    assert parsed["Subject"] == "Re: x Bcc: victim@elsewhere.example"
    assert header_text("a\tb\x00c\u2028d") == "a b c d"


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("Order", "Re: Order"),
        ("Re: Order", "Re: Order"),
        ("AW: Order", "AW: Order"),
        ("RE[2]: x", "RE[2]: x"),
        (None, "Re: (no subject)"),
        ("Rebate", "Re: Rebate"),
    ],
)
def test_reply_subjects_get_one_re(subject: str | None, expected: str) -> None:
    assert reply_subject(subject) == expected


@pytest.mark.parametrize("address", ["", "not an address", "a@b.example\r\nBcc: c@d.example"])
def test_a_reply_to_no_usable_address_fails_for_good(address: str) -> None:
    with pytest.raises(DeliveryError) as failed:
        compose_reply(
            reply(customer_email=None, chat_external_id=address),
            address="s@x.example",
            display_name="S",
        )
    assert not failed.value.retryable


@pytest.mark.parametrize(
    ("raw", "envelope_from"),
    [
        (b"From: MAILER-DAEMON@relay.example\r\n\r\nfailed", "<>"),
        (b"From: a@b.example\r\nContent-Type: multipart/report; boundary=x\r\n\r\n--x--", None),
        (b"From: a@b.example\r\nAuto-Submitted: auto-replied (vacation)\r\n\r\naway", None),
    ],
)
def test_mail_no_person_wrote_is_marked_automatic(raw: bytes, envelope_from: str | None) -> None:
    assert parse_mail(raw, envelope_from).automatic


def test_mail_a_person_wrote_is_not_automatic() -> None:
    raw = b"From: a@b.example\r\nAuto-Submitted: no\r\n\r\nhello"
    assert parse_mail(raw, "a@b.example").automatic is None
