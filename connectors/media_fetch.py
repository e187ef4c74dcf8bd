"""What the connectors share to fetch the files customers send (``FetchesMedia``): a
download streamed from an aiohttp response, with every transport failure turned into a
retryable :class:`MediaError`, and the wording of size limits.

The connectors call it from their ``fetch_media``; the fetching itself (when, how often,
where the bytes go) is ``handoff.usecases.media``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp

from connectors.base import MediaError

CHUNK = 256 * 1024  # bytes read from the provider at a time
MB = 1024 * 1024
# A download: connecting and each read bounded; the whole fetch is bounded by its caller.
DOWNLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=60)


def megabytes(size: int) -> str:
    """``size`` bytes in MB as people write it: ``25``, ``20.5``, ``0.1``."""
    value = size / MB
    return f"{value:.1f}".removesuffix(".0") if value >= 0.1 else f"{value:.2g}"


def too_large(size: int, limit: int) -> MediaError:
    """The file is larger than msgcenter keeps (``limit``): it never will be fetched."""
    return MediaError(
        f"the file is {megabytes(size)} MB, larger than the {megabytes(limit)} MB limit",
        permanent=True,
    )


def unreachable(provider: str, exc: BaseException, secret: str = "") -> MediaError:
    """A network failure or timeout talking to ``provider``: tried again later. ``secret``
    (a token in the URL) never shows in the reason."""
    detail = str(exc) or type(exc).__name__
    if secret:
        detail = detail.replace(secret, "<token>")
    return MediaError(f"{provider} unreachable: {detail}", permanent=False)


def declared_size(value: object) -> int | None:
    """A size as providers give it (a number, or digits in a string: Graph), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


async def chunks(
    response: aiohttp.ClientResponse, provider: str, secret: str = ""
) -> AsyncIterator[bytes]:
    """The body of ``response`` in chunks; a connection lost or a read that times out on the
    way is a retryable MediaError."""
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            yield chunk
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise unreachable(provider, exc, secret) from exc
