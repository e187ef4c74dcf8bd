"""Files customers sent, served to the dashboards: images inline, the rest as downloads."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from connectors.email import EmailConnector
from connectors.mock.smtp import MockSmtp, compose_customer_mail
from msgcenter.settings import Settings
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, make_settings

ADDRESS = "support@support.example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


@pytest.fixture
async def relay() -> AsyncIterator[MockSmtp]:
    mock = MockSmtp()
    await mock.start()
    yield mock
    await mock.stop()


@pytest.fixture
def settings(db_url: str, tmp_path: Path, relay: MockSmtp) -> Settings:
    email = {"enabled": True, "port": 0, "domains": ["support.example.com"], "address": ADDRESS,
             "relay_host": "127.0.0.1", "relay_port": relay.smtp_port}  # fmt: skip
    return make_settings(db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": email})


async def _mail_with_files(admin: Api) -> tuple[int, int]:
    connector = admin.service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    mail = compose_customer_mail("Rina", "rina@customer.example", "Photos", to=ADDRESS)
    mail.add_attachment(PNG, maintype="image", subtype="png", filename="parcel photo.png")
    mail.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="a.pdf")
    await aiosmtplib.send(
        mail, hostname="127.0.0.1", port=connector.port, sender="rina@customer.example",
        recipients=[ADDRESS], start_tls=False,
    )  # fmt: skip
    _, chats = await admin.get("/chats/?channel=Email")
    chat = next(c for c in chats if c["email"] == "rina@customer.example")
    _, detail = await admin.get(f"/chats/{chat['id']}")
    (message,) = [m for m in detail["messages"] if m["attachments"]]
    assert [a["name"] for a in message["attachments"]] == ["parcel photo.png", "a.pdf"]
    return chat["id"], message["id"]


async def test_an_emailed_image_is_served_inline_and_a_pdf_as_a_download(admin: Api) -> None:
    chat_id, message_id = await _mail_with_files(admin)
    base = f"/chats/{chat_id}/messages/{message_id}/attachments"
    async with admin.client.get(f"{base}/0", headers=admin.headers()) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == PNG
        assert response.headers["Content-Disposition"].startswith("inline;")
        assert "parcel%20photo.png" in response.headers["Content-Disposition"]
        assert "sandbox" in response.headers["Content-Security-Policy"]
    async with admin.client.get(f"{base}/1", headers=admin.headers()) as response:
        assert response.status == 200
        assert response.content_type == "application/octet-stream"
        assert response.headers["Content-Disposition"].startswith("attachment;")
    assert (await admin.get(f"{base}/2"))[0] == 404
    assert (await admin.get(f"/chats/{chat_id}/messages/1/attachments/0"))[0] == 404


async def test_files_are_for_those_who_may_read_the_chat(admin: Api, agent: Api) -> None:
    chat_id, message_id = await _mail_with_files(admin)  # a bot chat: not the agent's
    path = f"/chats/{chat_id}/messages/{message_id}/attachments/0"
    assert (await agent.get(path))[0] == 404
    assert (await Api(admin.client).get(path))[0] == 401


async def test_files_the_provider_keeps_or_outside_the_data_dir_are_not_served(
    admin: Api,
) -> None:
    chat_id, message_id = await _mail_with_files(admin)
    await Message.filter(id=message_id).update(
        attachments=[{"kind": "image", "ref": "AgADBAADq6cxG"}, {"kind": "file", "ref": "../../x"}]
    )
    for index in (0, 1):
        status, body = await admin.get(
            f"/chats/{chat_id}/messages/{message_id}/attachments/{index}"
        )
        assert status == 404 and body["error"]["code"] == "not_stored"
