"""Files in messages, served to the dashboards: by content hash from the blob store (or an old
email attachment's file store id), inline only for images, audio and video, with ranges."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from multidict import CIMultiDict

from storage.blobs import Spool
from storage.files import FileStore
from storage.models import Chat, Message, Sender, Status
from tests.support import Api
from tests.whatsapp_support import WhatsApp

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PDF = b"%PDF-1.4\n" + b"x" * 300
HTML = b"<!doctype html><script>alert(document.cookie)</script>"
SVG = b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>'


async def _keep(api: Api, data: bytes) -> str:
    blobs = api.service.api.blobs
    assert blobs is not None
    async with Spool(blobs.spool_dir, 10**9) as spool:
        await spool.write(data)
        await blobs.keep(spool)
    return spool.sha256


def _file(
    name: str | None, mime: str, sha256: str, size: int, kind: str = "document"
) -> dict[str, Any]:
    record = {"kind": kind, "mime_type": mime, "size": size, "sha256": sha256, "status": "stored"}
    return record | ({"name": name} if name is not None else {})


async def _message(attachments: list[dict[str, Any]], channel: str = "WhatsApp") -> tuple[int, int]:
    """A customer message in a new bot-mode chat (only admins may read it), with ``attachments``."""
    chat = await Chat.create(
        channel=channel, external_id=f"files-{len(attachments)}-{id(attachments)}",
        customer_name="Rina", activity_at=datetime.now(UTC),
    )  # fmt: skip
    message = await Message.create(
        chat=chat, text="files", sender=Sender.CUSTOMER, status=Status.SENT,
        attachments=attachments,
    )  # fmt: skip
    return chat.id, message.id


async def _get(
    api: Api, path: str, headers: dict[str, str] | None = None
) -> tuple[int, CIMultiDict[str], bytes]:
    async with api.client.get(path, headers={**api.headers(), **(headers or {})}) as response:
        return response.status, CIMultiDict(response.headers), await response.read()


async def test_images_come_inline_and_active_types_as_downloads(admin: Api) -> None:
    files = {name: await _keep(admin, data) for name, data in
             {"png": PNG, "pdf": PDF, "html": HTML, "svg": SVG}.items()}  # fmt: skip
    chat_id, message_id = await _message([
        _file("parcel photo.png", "image/png", files["png"], len(PNG), "image"),
        _file("invoice.pdf", "application/pdf", files["pdf"], len(PDF)),
        _file("page.html", "text/html", files["html"], len(HTML)),
        _file("logo.svg", "image/svg+xml", files["svg"], len(SVG), "image"),
    ])  # fmt: skip
    base = f"/chats/{chat_id}/messages/{message_id}/attachments"
    status, headers, body = await _get(admin, f"{base}/0")
    assert (status, body) == (200, PNG)
    assert headers["Content-Type"] == "image/png"
    assert headers["Content-Disposition"].startswith('inline; filename="parcel photo.png"')
    assert "filename*=UTF-8''parcel%20photo.png" in headers["Content-Disposition"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in headers["Content-Security-Policy"]
    assert headers["ETag"] == f'"{files["png"]}"' and headers["Accept-Ranges"] == "bytes"
    for index, data in ((1, PDF), (2, HTML), (3, SVG)):
        status, headers, body = await _get(admin, f"{base}/{index}")
        assert (status, body) == (200, data)
        assert headers["Content-Type"] == "application/octet-stream"
        assert headers["Content-Disposition"].startswith("attachment;")
    _, detail = await admin.get(f"/chats/{chat_id}")
    (message,) = [m for m in detail["messages"] if m["id"] == message_id]
    assert message["attachments"][0] == {
        "kind": "image", "filename": "parcel photo.png", "content_type": "image/png",
        "size": len(PNG), "status": "stored", "error": None, "url": f"{base}/0", "inline": True,
    }  # fmt: skip
    assert [a["inline"] for a in message["attachments"]] == [True, False, False, False]


async def test_ranges_let_players_seek(admin: Api) -> None:
    sha = await _keep(admin, PNG)
    chat_id, message_id = await _message([_file("a.png", "image/png", sha, len(PNG), "image")])
    path = f"/chats/{chat_id}/messages/{message_id}/attachments/0"
    size = len(PNG)
    asks = [("bytes=0-9", 0, 10), ("bytes=100-", 100, size), ("bytes=-16", size - 16, size),
            (f"bytes=5-{size + 50}", 5, size)]  # fmt: skip
    for asked, start, end in asks:
        status, headers, body = await _get(admin, path, {"Range": asked})
        assert status == 206, asked
        assert body == PNG[start:end]
        assert headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
        assert headers["Content-Length"] == str(end - start)
    status, headers, body = await _get(admin, path, {"Range": f"bytes={size}-"})
    assert status == 416 and headers["Content-Range"] == f"bytes */{size}"
    assert b"range_not_satisfiable" in body
    # Several ranges, other units or a stale If-Range: the whole file.
    for extra in ({"Range": "bytes=0-1,5-6"}, {"Range": "items=0-1"},
                  {"Range": "bytes=0-1", "If-Range": '"' + "0" * 64 + '"'}):  # fmt: skip
        status, _, body = await _get(admin, path, extra)
        assert (status, body) == (200, PNG), extra
    status, _, body = await _get(admin, path, {"If-None-Match": f'"{sha}"'})
    assert (status, body) == (304, b"")


async def test_a_file_not_kept_says_why(admin: Api) -> None:
    chat_id, message_id = await _message([
        {"kind": "image", "ref": "wamid-media-1", "status": "pending"},
        {"kind": "video", "ref": "wamid-media-2", "status": "failed",
         "error": "the provider no longer has this file (expired)"},
        {"kind": "location", "meta": {"latitude": 1.0, "longitude": 2.0}},
        _file("gone.png", "image/png", "a" * 64, 10, "image"),
        {"kind": "image", "ref": "AgADBAADq6cxG"},  # received before msgcenter kept copies
    ])  # fmt: skip
    base = f"/chats/{chat_id}/messages/{message_id}/attachments"
    expected = [(409, "file_pending"), (404, "file_failed"), (404, "not_a_file"),
                (404, "file_missing"), (404, "not_stored"), (404, "not_found")]  # fmt: skip
    for index, (status, code) in enumerate(expected):
        got, body = await admin.get(f"{base}/{index}")
        assert (got, body["error"]["code"]) == (status, code), index
    assert "expired" in (await admin.get(f"{base}/1"))[1]["error"]["message"]
    _, detail = await admin.get(f"/chats/{chat_id}")
    views = next(m for m in detail["messages"] if m["id"] == message_id)["attachments"]
    assert [(v["status"], v["url"]) for v in views] == [
        ("pending", None), ("failed", None), (None, None), ("stored", f"{base}/3"),
        ("failed", None),
    ]  # fmt: skip
    assert views[1]["error"] == "the provider no longer has this file (expired)"
    assert views[2]["meta"] == {"latitude": 1.0, "longitude": 2.0}


async def test_files_are_for_those_who_may_read_the_chat(admin: Api, agent: Api) -> None:
    sha = await _keep(admin, PNG)
    chat_id, message_id = await _message([_file("a.png", "image/png", sha, len(PNG), "image")])
    path = f"/chats/{chat_id}/messages/{message_id}/attachments/0"
    assert (await agent.get(path))[0] == 404  # a bot chat: not the agent's
    assert (await Api(admin.client).get(path))[0] == 401
    assert (await admin.get(f"/chats/{chat_id}/messages/{message_id + 1}/attachments/0"))[0] == 404


@pytest.mark.parametrize(
    ("name", "disposition"),
    [
        ('a"; filename="evil.html', 'attachment; filename="a_; filename=_evil.html"'),
        ("../../etc/passwd", 'attachment; filename="_.._etc_passwd"'),
        ("line\r\nSet-Cookie: x=1", 'attachment; filename="line_Set-Cookie_ x=1"'),
        ("laporan keuangan Ω.txt", 'attachment; filename="laporan keuangan _.txt"'),
        (None, 'attachment; filename="document.txt"'),
    ],
)
async def test_file_names_are_safe_to_save(admin: Api, name: str | None, disposition: str) -> None:
    data = b"plain text\n"
    sha = await _keep(admin, data)
    chat_id, message_id = await _message([_file(name, "text/plain", sha, len(data))])
    status, headers, body = await _get(
        admin, f"/chats/{chat_id}/messages/{message_id}/attachments/0"
    )
    assert (status, body) == (200, data)
    assert headers["Content-Disposition"].startswith(disposition + "; filename*=UTF-8''")
    assert "\r" not in headers["Content-Disposition"] and "/" not in headers["Content-Disposition"]


def _plant_secrets(data_dir: Path) -> dict[str, bytes]:
    """Files a download must never yield: the signing key and the database, in the data dir."""
    planted = {"jwt_secret": b"SIGNING-KEY-" + b"k" * 40, "msgcenter.db": b"SQLite format 3\0"}
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, content in planted.items():
        (data_dir / name).write_bytes(content)
    return planted


HOSTILE_IDS = [
    "jwt_secret", "msgcenter.db", "../msgcenter.db", "./jwt_secret", "attachments/../jwt_secret",
    "../data/jwt_secret", "%2e%2e/jwt_secret", "..", ".", "", "attachments", "blobs/tmp",
]  # fmt: skip


async def test_only_hashes_and_ids_the_stores_wrote_lead_to_files(admin: Api) -> None:
    data_dir = admin.service.settings.storage.data_dir
    planted = _plant_secrets(data_dir)
    secret_hash = hashlib.sha256(planted["jwt_secret"]).hexdigest()
    old = FileStore(data_dir / "attachments")
    good = old.save("x.png", PNG)
    legacy = [
        {"kind": "image", "mime_type": "image/png", "file": good},
        # Records of before the store had ids: the path of the file under the data dir.
        {"kind": "image", "mime_type": "image/png", "ref": f"attachments/{good}/x.png"},
    ]
    hostile: list[dict[str, Any]] = [{"kind": "file", "file": bad} for bad in HOSTILE_IDS]
    hostile += [{"kind": "file", "ref": bad} for bad in HOSTILE_IDS]
    hostile += [{"kind": "file", "sha256": bad, "status": "stored"} for bad in HOSTILE_IDS]
    hostile += [
        {"kind": "file", "sha256": secret_hash, "status": "stored"},  # not a file of the store
        {"kind": "file", "sha256": "../" + "a" * 61, "status": "stored"},
        {"kind": "file", "file": f"{good}/../../jwt_secret"},
        {"kind": "file", "ref": f"attachments/{good}/../../jwt_secret"},
        {"kind": "file", "ref": str(data_dir / "jwt_secret")},
    ]
    chat_id, message_id = await _message([*legacy, *hostile], channel="Email")
    base = f"/chats/{chat_id}/messages/{message_id}/attachments"
    for index in (0, 1):
        status, headers, body = await _get(admin, f"{base}/{index}")
        assert (status, body) == (200, PNG)
        assert headers["Content-Type"] == "image/png"
    for index in range(2, len(hostile) + 2):
        status, _, body = await _get(admin, f"{base}/{index}")
        assert status == 404, hostile[index - 2]
        assert all(secret not in body for secret in planted.values())
    # A provider's ref shaped like an old path leads nowhere on a chat that is not email.
    chat_id, message_id = await _message(legacy[1:], channel="WhatsApp")
    status, body = await admin.get(f"/chats/{chat_id}/messages/{message_id}/attachments/0")
    assert (status, body["error"]["code"]) == (404, "not_stored")


async def test_an_old_email_attachment_is_typed_by_its_content(admin: Api) -> None:
    """Before the blob store an attachment's type was the sender's word: checked on serving."""
    old = FileStore(admin.service.settings.storage.data_dir / "attachments")
    good = old.save("photo.png", HTML)
    chat_id, message_id = await _message(
        [{"kind": "image", "mime_type": "image/png", "name": "photo.png", "file": good}],
        channel="Email",
    )
    status, headers, body = await _get(
        admin, f"/chats/{chat_id}/messages/{message_id}/attachments/0"
    )
    assert (status, body) == (200, HTML)
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith("attachment;")


async def test_a_webhook_media_id_never_names_a_file_of_the_data_dir(wa: WhatsApp) -> None:
    from connectors.mock.whatsapp_payloads import contact, message, webhook_body

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
        status, _, body = await _get(
            wa.admin, f"/chats/{chat_id}/messages/{item['id']}/attachments/0"
        )
        assert status in (404, 409), item["attachments"]
        assert all(secret not in body for secret in planted.values())
