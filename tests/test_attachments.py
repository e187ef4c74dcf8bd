"""Files customers sent, served to the dashboards: images inline, the rest as downloads."""

from __future__ import annotations

import re
import stat
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from connectors.email import EmailConnector
from connectors.mock.smtp import MockSmtp, compose_customer_mail
from connectors.mock.whatsapp_payloads import contact, message, webhook_body
from msgcenter import demo
from msgcenter.service import build_app
from msgcenter.settings import Settings
from storage.models import Message
from tests.fakes import QUIET_BOT
from tests.support import Api, ClientFactory, make_settings
from tests.whatsapp_support import WhatsApp

ADDRESS = "support@support.example.com"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


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


async def _download(api: Api, chat_id: int, message_id: int, index: int) -> tuple[int, bytes]:
    path = f"/chats/{chat_id}/messages/{message_id}/attachments/{index}"
    async with api.client.get(path, headers=api.headers()) as response:
        return response.status, await response.read()


def _plant_secrets(data_dir: Path) -> dict[str, bytes]:
    """Files a download must never yield: the signing key and the database, in the data dir."""
    planted = {"jwt_secret": b"SIGNING-KEY-" + b"k" * 40, "msgcenter.db": b"SQLite format 3\0"}
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, content in planted.items():
        (data_dir / name).write_bytes(content)
    return planted


HOSTILE_IDS = [
    "jwt_secret", "msgcenter.db", "../msgcenter.db", "./jwt_secret", "attachments/../jwt_secret",
    "../data/jwt_secret", "%2e%2e/jwt_secret", "..", ".", "", "attachments",
]  # fmt: skip


async def test_a_webhook_media_id_never_names_a_file_of_the_data_dir(
    wa: WhatsApp, tmp_path: Path
) -> None:
    data_dir = wa.service.settings.storage.data_dir
    planted = _plant_secrets(data_dir)
    ids = [*HOSTILE_IDS, str(data_dir / "jwt_secret"), str(data_dir.resolve() / "msgcenter.db")]
    phone = "6281100077"
    for n, media_id in enumerate(ids):
        image = {"id": media_id, "mime_type": "image/png", "caption": f"photo {n}"}
        payload = webhook_body(
            contacts=[contact("Mallory", phone)], messages=[message("image", image, phone=phone)]
        )
        assert (await wa.deliver(payload))[0] == 200
    chat_id = (await wa.chat_row("Mallory"))["id"]
    media = [m for m in await wa.messages(chat_id) if m["attachments"]]
    assert len(media) == len(ids)
    for item in media:
        status, body = await _download(wa.admin, chat_id, item["id"], 0)
        assert status == 404, item["attachments"]
        assert all(secret not in body for secret in planted.values())


async def test_stored_files_are_recorded_by_the_store_id_only(admin: Api) -> None:
    _, message_id = await _mail_with_files(admin)
    message = await Message.get(id=message_id)
    root = admin.service.settings.storage.data_dir / "attachments"
    for item, name in zip(message.attachments, ["parcel photo.png", "a.pdf"], strict=True):
        assert "ref" not in item and re.fullmatch(r"[0-9a-f]{32}", item["file"])
        path = root / item["file"] / name
        assert path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


async def test_only_ids_the_store_wrote_lead_to_files(admin: Api) -> None:
    chat_id, message_id = await _mail_with_files(admin)
    data_dir = admin.service.settings.storage.data_dir
    planted = _plant_secrets(data_dir)
    message = await Message.get(id=message_id)
    good = message.attachments[0]["file"]
    # Records of before the store had ids: the path of the file under the data dir.
    legacy = {"kind": "image", "mime_type": "image/png", "ref": f"attachments/{good}/x.png"}
    hostile: list[dict[str, Any]] = [{"kind": "file", "file": bad} for bad in HOSTILE_IDS]
    hostile += [{"kind": "file", "ref": bad} for bad in HOSTILE_IDS]
    hostile += [
        {"kind": "file", "file": f"{good}/../../jwt_secret"},
        {"kind": "file", "ref": f"attachments/{good}/../../jwt_secret"},
        {"kind": "file", "ref": str(data_dir / "jwt_secret")},
    ]
    await Message.filter(id=message_id).update(attachments=[legacy, *hostile])
    assert await _download(admin, chat_id, message_id, 0) == (200, PNG)
    for index in range(1, len(hostile) + 1):
        status, body = await _download(admin, chat_id, message_id, index)
        assert status == 404, hostile[index - 1]
        assert all(secret not in body for secret in planted.values())
    gone = {"kind": "file", "file": "0" * 32}
    await Message.filter(id=message_id).update(attachments=[gone])
    status, body = await admin.get(f"/chats/{chat_id}/messages/{message_id}/attachments/0")
    assert status == 404 and body["error"]["code"] == "file_missing"


async def test_an_absolute_attachments_dir_serves_its_files(
    db_url: str, aiohttp_client: ClientFactory, tmp_path: Path, relay: MockSmtp
) -> None:
    elsewhere = tmp_path / "elsewhere" / "files"
    email = {"enabled": True, "port": 0, "domains": ["support.example.com"], "address": ADDRESS,
             "relay_host": "127.0.0.1", "relay_port": relay.smtp_port,
             "attachments_dir": str(elsewhere)}  # fmt: skip
    settings = make_settings(db_url, tmp_path / "data", bot=QUIET_BOT, channels={"email": email})
    anon = Api(await aiohttp_client(build_app(settings)))
    await demo.seed_users(anon.service.core.staff)
    admin = await anon.login("admin", "admin123")
    chat_id, message_id = await _mail_with_files(admin)
    assert await _download(admin, chat_id, message_id, 0) == (200, PNG)
    assert len(list(elsewhere.iterdir())) == 2


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
