"""The public page of the email survey's links: ``/csat/{token}`` (docs/api.md, "Customer
satisfaction").

No login: the signed token in the path is the key (``handoff.domain.csat``: survey, rating and
an HMAC with a key derived from the service's secret). A GET only shows the rating and a
button (mail scanners fetch every link of a mail: a GET changes nothing); the POST stores the
rating as the customer's message (through the inbox, like a WhatsApp or Telegram choice), then
offers a comment form that posts to ``/csat/{token}/comment``. One rating per survey: another
link of it, or the same one again, says it was rated. A wrong or forged token is a 404 page
that changes nothing. Every value shown is escaped; the page loads nothing and runs nothing.
"""

from __future__ import annotations

import base64
import hashlib
import html

from aiohttp import web

from dashboard_api.typedefs import CONTEXT
from handoff.domain import csat
from handoff.usecases.csat import COMMENTED, RATED, SENT, LinkTarget

FORM_LIMIT = 16 * 1024  # bytes of a posted form (a comment of 2,000 characters fits)

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;"
    "line-height:1.5;color:#1f2933}h1{font-size:1.4rem}textarea{width:100%;min-height:8rem;"
    "box-sizing:border-box;font:inherit}button{font:inherit;padding:.5rem 1.2rem;"
    "border:0;border-radius:.3rem;background:#1f6feb;color:#fff;cursor:pointer}"
    ".rating{font-size:1.2rem;font-weight:600}"
)
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
POLICY = (
    f"default-src 'none'; style-src 'sha256-{_STYLE_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def setup_csat_page(app: web.Application) -> None:
    app.router.add_get("/csat/{token}", show)
    app.router.add_post("/csat/{token}", rate)
    app.router.add_post("/csat/{token}/comment", comment)


async def show(request: web.Request) -> web.Response:
    """The rating the link names and a button that confirms it (changes nothing)."""
    surveys = request.app[CONTEXT].core.surveys
    token = request.match_info["token"]
    target = await surveys.by_token(token)
    if target is None:
        return _invalid()
    if target.survey.status != SENT or target.expired:
        return _settled(target, token, surveys.options.words)
    title = surveys.options.words.title(target.rating)
    body = (
        "<h1>Rate our conversation</h1>"
        f'<p>Your rating: <span class="rating">{_e(title)}</span></p>'
        f'<form method="post" action="/csat/{_e(token)}">'
        '<button type="submit">Send my rating</button></form>'
    )
    return _page(200, "Rate our conversation", body)


async def rate(request: web.Request) -> web.Response:
    """The rating confirmed: stored as the customer's message, then the comment form."""
    context = request.app[CONTEXT]
    surveys = context.core.surveys
    token = request.match_info["token"]
    target = await surveys.by_token(token)
    if target is None:
        return _invalid()
    if target.survey.status == SENT and not target.expired:
        await context.core.inbox.receive(surveys.page_message(target))
        target = await surveys.by_token(token)
        if target is None:
            return _invalid()
    return _settled(target, token, surveys.options.words)


async def comment(request: web.Request) -> web.Response:
    """The comment after a rating, stored as the customer's message (once)."""
    context = request.app[CONTEXT]
    surveys = context.core.surveys
    token = request.match_info["token"]
    target = await surveys.by_token(token)
    if target is None:
        return _invalid()
    if request.content_length is not None and request.content_length > FORM_LIMIT:
        return _page(413, "Too long", "<h1>Too long</h1><p>Please write a shorter comment.</p>")
    form = await request.post()
    text = form.get("comment")
    words = text.strip() if isinstance(text, str) else ""
    if target.survey.status == RATED and not target.expired:
        if not words:
            note = '<p role="alert">Please write a comment first.</p>'
            return _page(422, "Your comment", _comment_form(token, note))
        await context.core.inbox.receive(surveys.page_message(target, words))
        target = await surveys.by_token(token) or target
    if target.survey.status == COMMENTED:
        body = "<h1>Thank you</h1><p>We have your comment. Thank you for helping us improve.</p>"
        return _page(200, "Thank you", body)
    return _settled(target, token, surveys.options.words)


def _settled(target: LinkTarget, token: str, words: csat.Words) -> web.Response:
    """The survey as it is: rated (the comment form while one may be added), or closed."""
    survey = target.survey
    if survey.status in (RATED, COMMENTED) and survey.rating is not None:
        rating = words.title(survey.rating)
        body = f'<h1>Thank you</h1><p>Your rating: <span class="rating">{_e(rating)}</span></p>'
        if survey.status == RATED and not target.expired:
            body += _comment_form(token)
        return _page(200, "Thank you", body)
    body = "<h1>This survey has closed</h1><p>Ratings are taken for 7 days after we ask.</p>"
    return _page(410, "This survey has closed", body)


def _comment_form(token: str, note: str = "") -> str:
    return (
        "<p>Would you like to tell us more? (optional)</p>"
        f'{note}<form method="post" action="/csat/{_e(token)}/comment">'
        f'<p><textarea name="comment" maxlength="{csat.COMMENT_LIMIT}" '
        'aria-label="Your comment" required></textarea></p>'
        '<button type="submit">Send my comment</button></form>'
    )


def _invalid() -> web.Response:
    body = (
        "<h1>This link is not valid</h1><p>Please open the link exactly as it is in our mail. "
        "Nothing was recorded.</p>"
    )
    return _page(404, "This link is not valid", body)


def _page(status: int, title: str, body: str) -> web.Response:
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>\n"
    )
    headers = {
        "Content-Security-Policy": POLICY,
        "X-Frame-Options": "DENY",
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }
    return web.Response(status=status, text=page, content_type="text/html", headers=headers)


def _e(value: str) -> str:
    return html.escape(value, quote=True)
