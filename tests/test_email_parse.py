"""Reading customers' mail and writing our replies, without sockets."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from html.parser import HTMLParser
from pathlib import Path

import pytest

from connectors.base import DeliveryError, OutboundFile, OutboundMessage
from connectors.email_parse import (
    FULL_BODY_NAME,
    MailRejected,
    decode_bytes,
    html_to_text,
    parse_mail,
    safe_filename,
    trim_quoted,
)
from connectors.email_reply import compose_reply, header_text, reply_subject


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
    assert parsed.get_content_type() == "multipart/alternative"
    plain, page = parsed.iter_parts()
    assert (plain.get_content_type(), plain.get_content_charset()) == ("text/plain", "utf-8")
    assert (page.get_content_type(), page.get_content_charset()) == ("text/html", "utf-8")
    assert plain.get_content().strip() == "Hello"
    assert "<p>Hello</p>" in page.get_content()
    assert mail["From"] == "A <help@support.example.com>"  # the bot's: the channel's name


def _bodies(mail: EmailMessage) -> tuple[str, str]:
    parsed = BytesParser(policy=policy.default).parsebytes(mail.as_bytes())
    plain = parsed.get_body(preferencelist=("plain",))
    page = parsed.get_body(preferencelist=("html",))
    assert isinstance(plain, EmailMessage) and isinstance(page, EmailMessage)
    return plain.get_content(), page.get_content()


class _Page(HTMLParser):
    """What a mail client makes of the HTML part: text, links, and any markup it carries."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[dict[str, str | None]] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        self.text += data


def test_the_html_alternative_is_the_text_escaped_with_paragraphs_and_safe_links() -> None:
    text = (
        "Dear <b>John</b> & co,\nline two\n\n"
        'See https://shop.example/track?id=1&x="2"><script>alert(1)</script>.\n\n'
        "Not a link: javascript:alert(1) nor <a href=x>this</a>."
    )
    mail, _ = compose_reply(reply(text=text), address="s@support.example.com", display_name="S")
    plain, page = _bodies(mail)
    assert plain.rstrip("\n") == text
    parsed = _Page()
    parsed.feed(page)
    assert [t for t in parsed.tags if t not in ("html", "head", "meta", "body")] == [
        "p", "br", "p", "a", "p",
    ]  # fmt: skip
    assert parsed.links == [
        {"href": "https://shop.example/track?id=1&x=", "rel": "noopener noreferrer"}
    ]
    assert "Dear <b>John</b> & co," in parsed.text
    assert '"2"><script>alert(1)</script>.' in parsed.text
    assert "javascript:alert(1) nor <a href=x>this</a>." in parsed.text


def test_an_agents_reply_names_them_and_carries_their_signature() -> None:
    mail, _ = compose_reply(
        reply(
            text="It ships today.",
            agent_name="Ann\r\nBcc: x@y.example",
            signature="Ann\nAcme — <support>",
        ),
        address="support@support.example.com",
        display_name="Acme Support",
    )
    parsed = BytesParser(policy=policy.default).parsebytes(mail.as_bytes())
    assert parsed["From"] == '"Ann Bcc: x@y.example (Acme Support)" <support@support.example.com>'
    assert parsed.get_all("Bcc") is None
    plain, page = _bodies(mail)
    assert plain.rstrip("\n") == "It ships today.\n\n-- \nAnn\nAcme — <support>"
    assert '<p class="signature">-- <br>\nAnn<br>\nAcme — &lt;support&gt;</p>' in page


def test_files_go_as_mime_parts_with_their_type_and_a_safe_encoded_name(tmp_path: Path) -> None:
    pdf, odd = tmp_path / "a", tmp_path / "b"
    pdf.write_bytes(b"%PDF-1.4 invoice")
    odd.write_bytes(b"\x00\x01")
    files = (
        OutboundFile(str(pdf), "Rechnung März.pdf", "application/pdf", 16, "document"),
        OutboundFile(str(odd), '../x"\r\nX-Evil: 1.bin', "bad type\r\nX: y", 2, "document"),
    )
    mail, _ = compose_reply(reply(files=files), address="s@support.example.com", display_name="S")
    raw = mail.as_bytes()
    assert b"filename*=utf-8''Rechnung%20M%C3%A4rz.pdf" in raw
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert parsed.get_content_type() == "multipart/mixed"
    assert parsed.get_all("X-Evil") is None
    first, second = parsed.iter_attachments()
    assert (first.get_filename(), first.get_content_type()) == (
        "Rechnung März.pdf",
        "application/pdf",
    )
    assert first.get_payload(decode=True) == b"%PDF-1.4 invoice"
    assert second.get_content_type() == "application/octet-stream"
    assert second.get_filename() == "x_X-Evil_ 1.bin"
    assert second.get_payload(decode=True) == b"\x00\x01"
    assert all(part.get("X-Evil") is None for part in parsed.walk())


def _with_images(plain: str, page: str, *images: tuple[str, str, bytes, str]) -> bytes:
    """A mail as clients write one with pictures in the text: multipart/alternative whose HTML
    is multipart/related with the images (name, Content-ID, bytes, subtype)."""
    mail = EmailMessage()
    mail["From"] = "Rina <rina@customer.example>"
    mail["Subject"] = "Broken parcel"
    mail.set_content(plain)
    mail.add_alternative(page, subtype="html")
    html_part = mail.get_payload()[1]
    for name, cid, data, subtype in images:
        html_part.add_related(data, "image", subtype, cid=f"<{cid}>", filename=name)
    return mail.as_bytes()


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def test_images_shown_in_the_html_are_marked_in_place() -> None:
    raw = _with_images(
        "Look at the box\n\n[image: box.png]\n\nand the label",
        '<p>Look at the box</p><p><img src="cid:box%40mail.example" alt="box"></p>'
        '<p>and the label <img src="CID:label@mail.example"> and again '
        '<img src="cid:box@mail.example"></p>'
        '<p><img src="https://tracker.example/p.gif" alt="x"></p>',
        ("image.png", "box@mail.example", PNG, "png"),
        ("image].png", "label@mail.example", PNG + b"1", "png"),
        ("logo.png", "unused@mail.example", PNG + b"2", "png"),
    )
    mail = parse_mail(raw)
    assert mail.text == (
        "Look at the box\n\n[image: image.png]\n\n"
        "and the label [image: image).png] and again [image: image.png]\n\n[x]"
    )
    box, label, logo = mail.parts
    assert (box.name, box.meta) == ("image.png", {"content_id": "box@mail.example", "inline": True})
    assert (label.name, label.meta) == (
        "image).png", {"content_id": "label@mail.example", "inline": True},
    )  # fmt: skip
    assert (logo.name, logo.meta) == ("logo.png", {"content_id": "unused@mail.example"})


def test_inline_images_of_one_name_get_names_of_their_own() -> None:
    raw = _with_images(
        "",
        '<img src="cid:a@m"><img src="cid:b@m"><img src="cid:c@m">',
        ("image.png", "a@m", PNG, "png"),
        ("Image.png", "b@m", PNG, "png"),
        ("image.png", "c@m", PNG, "png"),
    )
    mail = parse_mail(raw)
    assert [part.name for part in mail.parts] == ["image.png", "Image-2.png", "image-3.png"]
    assert mail.text == "[image: image.png][image: Image-2.png][image: image-3.png]"


def test_without_an_image_in_place_the_plain_text_is_the_text() -> None:
    raw = _with_images(
        "Plain words",
        "<p>HTML words</p>",
        ("a.png", "a@mail.example", PNG, "png"),
    )
    mail = parse_mail(raw)
    assert mail.text == "Plain words"
    assert mail.parts[0].meta == {"content_id": "a@mail.example"}


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


def test_a_reply_of_files_alone_has_just_the_signature_as_text(tmp_path: Path) -> None:
    photo = tmp_path / "p"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n")
    files = (OutboundFile(str(photo), "p.png", "image/png", 8, "image"),)
    mail, _ = compose_reply(
        reply(text="", signature="Ann", agent_name="Ann", files=files),
        address="s@support.example.com",
        display_name="S",
    )
    plain, page = _bodies(mail)
    assert plain.rstrip("\n") == "-- \nAnn"
    assert "<p>" not in page.replace('<p class="signature">', "")
