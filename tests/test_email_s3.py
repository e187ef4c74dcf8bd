"""Email with the files in an S3-compatible bucket (moto's server at the wire): the SMTP
server keeps a customer's attachment in the service's own store, the one opened with it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from connectors.email import EmailConnector
from connectors.mock.smtp import MockSmtp, compose_customer_mail
from msgcenter.settings import Settings
from storage.s3 import S3Blobs
from tests.fakes import QUIET_BOT
from tests.support import Api, make_settings
from tests.test_blob_stores import KEYS, _boto, bucket, moto_url  # noqa: F401 (fixtures)
from tests.test_email import ADDRESS, CUSTOMER, chat_of, deliver, download, email_section, messages


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path, relay: MockSmtp
) -> Settings:
    url, name = request.getfixturevalue("moto_url"), request.getfixturevalue("bucket")
    s3 = {"endpoint_url": url, "bucket": name, "region": "us-east-1",
          "addressing_style": "path", **KEYS}  # fmt: skip
    return make_settings(
        db_url, tmp_path / "data", bot=QUIET_BOT, storage={"blobs": "s3", "s3": s3},
        channels={"email": email_section(relay.smtp_port)},
    )  # fmt: skip


async def test_an_emailed_file_goes_into_the_services_bucket(admin: Api) -> None:
    connector = admin.service.core.connectors["Email"]
    assert isinstance(connector, EmailConnector)
    blobs = admin.service.core.blobs
    assert isinstance(blobs, S3Blobs)
    pdf = b"%PDF-1.4 " + b"invoice " * 4_000
    mail = compose_customer_mail("John Customer", CUSTOMER, "Invoice attached", to=ADDRESS)
    mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="invoice.pdf")
    await deliver(connector.port, mail)

    chat = await chat_of(admin, CUSTOMER)
    assert chat is not None
    (message,) = await messages(admin, chat["id"])
    (attachment,) = message["attachments"]
    assert (attachment["status"], attachment["size"]) == ("stored", len(pdf))
    assert await download(admin, attachment) == pdf
    s3 = admin.service.settings.storage.s3
    key = f"blobs/{hashlib.sha256(pdf).hexdigest()}"
    assert s3.endpoint_url
    assert _boto(s3.endpoint_url).get_object(Bucket=s3.bucket, Key=key)["Body"].read() == pdf
    assert list(blobs.spool_dir.iterdir()) == []  # no spool left
