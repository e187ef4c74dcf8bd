"""Full-text search of chats (docs/api.md, "Searching"): the index (SQLite FTS5, PostgreSQL
GIN) kept in step with every change of the messages, phrases and prefixes in English and
Indonesian, the match's snippet and highlights, who finds what, hostile search text."""

from __future__ import annotations

import logging
import os
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise.log import db_client_logger

from connectors.base import InboundEdit, InboundMessage
from handoff.read import queries
from storage import fts, search
from storage.models import Chat, Message, User
from storage.search import CHAT_SHIFT, INDEXED, PG_DOCUMENT
from storage.sql import fetch, is_postgres
from tests.support import Api

TEXTS = {
    "Dewi": "Mohon maaf atas keterlambatannya, paket sudah dikirim kemarin",
    "Raka": "The late delivery of my order INV-7731 is a problem",
    "Sofía": "Quiero un reembolso: la entrega llegó tarde",
    "Tono": "Delivery was late but fine. Refunded already, thanks",
}


async def customers(api: Api, texts: dict[str, str] | None = None) -> dict[str, int]:
    """One Telegram chat per customer, with their message; their chat ids by name."""
    texts = TEXTS if texts is None else texts
    messages = [
        InboundMessage(
            channel="Telegram",
            chat_external_id=f"77{i:03d}",
            message_external_id="1",
            text=text,
            customer_name=name,
        )
        for i, (name, text) in enumerate(texts.items())
    ]
    await api.service.core.inbox.receive_many(messages)
    await api.service.core.drain()  # the bot's greetings are in before the test searches
    return {c.customer_name: c.id for c in await Chat.filter(customer_name__in=list(texts))}


async def found(api: Api, q: str) -> list[str]:
    status, chats = await api.get(f"/chats/?q={quote(q)}")
    assert status == 200, chats
    return sorted(chat["name"] for chat in chats)


async def test_words_phrases_and_prefixes(admin: Api) -> None:
    await customers(admin)
    assert await found(admin, "late delivery") == ["Raka", "Tono"]  # both words, any order
    assert await found(admin, '"late delivery"') == ["Raka"]  # next to each other
    assert await found(admin, '"delivery late"') == []
    assert await found(admin, "refun*") == ["Tono"]
    assert await found(admin, "refun") == ["Tono"]  # the last word as typed: a prefix
    assert await found(admin, '"refun"') == []  # quoted: the whole word
    assert await found(admin, "refun* thanks") == ["Tono"]
    assert await found(admin, "INV-7731") == ["Raka"]  # a phrase of two words
    assert await found(admin, "inv 7731") == ["Raka"]
    assert await found(admin, "7731 inv ") == ["Raka"]


async def test_indonesian_words_and_accents(admin: Api) -> None:
    await customers(admin)
    assert await found(admin, "keterlambatannya") == ["Dewi"]
    assert await found(admin, "KETERLAMBATAN") == ["Dewi"]  # any case, typed as a prefix
    assert await found(admin, '"paket sudah dikirim"') == ["Dewi"]
    assert await found(admin, "dikirim kemarin") == ["Dewi"]
    assert await found(admin, "llegó") == ["Sofía"]
    if not is_postgres():  # FTS5 reads accents away; PostgreSQL's 'simple' keeps them
        assert await found(admin, "llego") == ["Sofía"]
    assert await found(admin, "sofía") == ["Sofía"]  # the name, as before


async def test_the_match_is_plain_text_with_highlight_offsets(admin: Api) -> None:
    ids = await customers(admin)
    status, chats = await admin.get(f"/chats/?q={quote('late delivery')}")
    assert status == 200
    by_name = {chat["name"]: chat["match"] for chat in chats}
    raka = by_name["Raka"]
    message = await Message.get(chat_id=ids["Raka"], sender="customer")
    assert raka["message_id"] == message.id
    assert raka["snippet"] == TEXTS["Raka"]
    marked = [raka["snippet"][a:b] for a, b in raka["highlights"]]
    assert marked == ["late", "delivery"]
    tono = by_name["Tono"]
    assert [tono["snippet"][a:b] for a, b in tono["highlights"]] == ["Delivery", "late"]
    # The bot's greeting names her: "sof", typed, is a prefix of "Sofía".
    status, chats = await admin.get("/chats/?q=Sof")
    [sofia] = chats
    assert sofia["name"] == "Sofía" and sofia["match"]["snippet"].startswith("Hi Sofía!")
    assert sofia["match"]["highlights"] == [[3, 8]]
    # Without q the rows carry no match.
    _, chats = await admin.get("/chats/")
    assert all("match" not in chat for chat in chats)


async def test_a_long_message_is_cut_around_its_match_and_customer_html_stays_text(
    admin: Api,
) -> None:
    long = "<b>x</b> " + "lorem ipsum " * 40 + "the parcel <i>arrived</i> broken " + "dolor " * 40
    await customers(admin, {"Lia": long})
    _, chats = await admin.get("/chats/?q=parcel")
    [match] = [chat["match"] for chat in chats]
    snippet = match["snippet"]
    assert snippet.startswith("…") and snippet.endswith("…") and len(snippet) <= 162
    assert [snippet[a:b] for a, b in match["highlights"]] == ["parcel"]
    assert "<i>arrived</i>" in snippet  # plain text: the console shows it as text


async def test_a_message_is_indexed_up_to_its_first_100000_characters(admin: Api) -> None:
    # (PostgreSQL refuses a tsvector over 1 MB, and so the insert: the index reads a prefix.)
    words = " ".join(f"w{i}x" for i in range(INDEXED // 6))
    text = "earlyword " + words + " lateword"
    assert len(text) > INDEXED
    await customers(admin, {"Long": text})
    assert await found(admin, '"earlyword"') == ["Long"]
    assert await found(admin, '"w77x"') == ["Long"]
    assert await found(admin, '"lateword"') == []


async def test_the_newest_matching_message_is_shown(admin: Api) -> None:
    ids = await customers(admin, {"Eka": "where is my parcel"})
    more = [
        InboundMessage(
            channel="Telegram",
            chat_external_id="77000",
            message_external_id=str(n),
            text=text,
            customer_name="Eka",
        )
        for n, text in ((2, "parcel number two"), *((k, f"filler {k}") for k in range(3, 30)))
    ]
    await admin.service.core.inbox.receive_many(more)
    await admin.service.core.drain()
    second = await Message.get(chat_id=ids["Eka"], external_id="2")
    _, chats = await admin.get("/chats/?q=parcel")
    assert [chat["match"]["message_id"] for chat in chats] == [second.id]  # found by the index
    _, chats = await admin.get("/chats/?q=filler 29")
    assert chats[0]["match"]["snippet"] == "filler 29"  # among the newest


async def test_edits_erasure_and_deleted_chats_leave_the_index(admin: Api) -> None:
    ids = await customers(admin)
    inbox = admin.service.core.inbox
    edited = InboundEdit("Telegram", "77001", "1", "Sorry, it came after all")
    assert await inbox.edit(edited)
    assert await found(admin, '"late delivery"') == []
    assert await found(admin, "came after") == ["Raka"]
    # A contact erased: their messages are gone from the index, not only from the list.
    dewi = await Chat.get(id=ids["Dewi"])
    status, erased = await admin.call("DELETE", f"/contacts/{dewi.contact_id}")
    assert status == 200, erased
    assert await found(admin, "keterlambatannya") == []
    assert await indexed("keterlambatannya") == 0
    # A chat deleted (its messages go with it).
    await Chat.filter(id=ids["Tono"]).delete()
    assert await indexed("refunded") == 0
    assert await indexed("came") == 1


async def test_names_phones_and_emails_are_found_by_any_part_in_any_case(admin: Api) -> None:
    ids = await customers(admin)
    await Chat.filter(id=ids["Raka"]).update(customer_phone="+62 812-7731", customer_email=None)
    await Chat.filter(id=ids["Dewi"]).update(customer_email="dewi.lestari@Example.co.id")
    assert await found(admin, "aka") == ["Raka"]  # inside a name
    assert await found(admin, "SOFÍA") == ["Sofía"]  # any case, beyond ASCII too
    assert await found(admin, "812-77") == ["Raka"]  # a phone as written
    assert await found(admin, "lestari@example") == ["Dewi"]  # an email, any case
    assert await found(admin, 'ri@ex"') == []  # a double quote is text, not syntax
    assert await found(admin, "ía") == ["Sofía"]  # shorter than a trigram: row by row
    assert await found(admin, "kA") == ["Raka"]
    # A name changed: found by the new one only; a contact erased: not by the old one.
    await Chat.filter(id=ids["Tono"]).update(customer_name="Antonio Wibowo")
    assert await found(admin, "tono") == ["Antonio Wibowo"]  # (inside "Antonio")
    assert await found(admin, "wibowo") == ["Antonio Wibowo"]
    dewi = await Chat.get(id=ids["Dewi"])
    assert (await admin.call("DELETE", f"/contacts/{dewi.contact_id}"))[0] == 200
    assert await found(admin, "lestari") == []
    if not is_postgres():  # the trigram index itself, not only the list
        await Chat.filter(id=ids["Raka"]).delete()
        rows = await fetch(
            "SELECT rowid FROM chats_fts WHERE chats_fts MATCH ?", [search.substring("aka")]
        )
        assert rows == []


async def test_a_search_with_more_chats_than_listed_finds_the_same(
    admin: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = {f"Pelanggan {i:02d}": f"pesanan nomor {i}" for i in range(7)}
    ids = await customers(admin, names)
    searches = ("pelanggan", "pesanan", "nomor 3", "elangg", "Pe")
    pages = {q: await found(admin, q) for q in searches}
    assert pages["pelanggan"] == pages["pesanan"] == sorted(names)
    assert pages["nomor 3"] == ["Pelanggan 03"] and set(names) <= set(pages["Pe"])
    if not is_postgres():
        query = fts.parse("pesanan", last_prefix=True)
        assert sorted(await search.found_chats(query, "pesanan") or []) == sorted(ids.values())
        assert await search.found_chats(query, "pe") is None  # no trigram in it
        monkeypatch.setattr(search, "LISTED", 3)  # more than that: filtered row by row
        assert await search.found_chats(query, "pesanan") is None
    assert {q: await found(admin, q) for q in searches} == pages


async def indexed(word: str) -> int:
    """How many messages the index holds with ``word`` (the index itself, not the list)."""
    if is_postgres():
        rows = await fetch(
            f"SELECT count(*) AS n FROM messages WHERE {PG_DOCUMENT} @@ "  # noqa: S608
            "to_tsquery('simple'::regconfig, ?)",
            [word],
        )
    else:
        rows = await fetch(
            "SELECT count(*) AS n FROM messages_fts WHERE messages_fts MATCH ?", [f'"{word}"']
        )
    return int(rows[0]["n"])


async def test_a_message_moved_to_another_chat_moves_in_the_index(admin: Api) -> None:
    ids = await customers(admin)
    message = await Message.get(chat_id=ids["Raka"], sender="customer")
    await Message.filter(id=message.id).update(chat_id=ids["Sofía"], external_id="moved")
    assert await found(admin, '"late delivery"') == ["Sofía"]
    if not is_postgres():
        rows = await fetch(
            "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?", ['"inv 7731"']
        )
        assert [row["rowid"] for row in rows] == [ids["Sofía"] * CHAT_SHIFT + message.id]


async def test_agents_find_only_what_they_list_and_notes_where_they_read_them(
    admin: Api, agent: Api
) -> None:
    ids = await customers(admin)
    john = (await admin.chat_ids())["John Doe"]  # the agent's
    assert (await agent.post("/chats/messages", {"chat_id": john, "text": "vip kiwi",
                                                 "internal": True}))[0] == 201  # fmt: skip
    assert (await admin.post("/chats/messages", {"chat_id": ids["Raka"], "text": "kiwi too",
                                                 "internal": True}))[0] == 201  # fmt: skip
    assert await found(agent, "kiwi") == ["John Doe"]
    assert await found(agent, "late delivery") == []  # nobody's chats: the queue's, not theirs
    assert await found(admin, "kiwi") == ["John Doe", "Raka"]
    # Mentioned in a note of Raka's chat: the agent watches it, and now finds it.
    assert (await admin.post("/chats/messages", {"chat_id": ids["Raka"], "text": "@agent look",
                                                 "internal": True}))[0] == 201  # fmt: skip
    assert await found(agent, "kiwi") == ["John Doe", "Raka"]
    assert await found(agent, "Sofía") == []


async def test_search_keeps_the_other_filters_and_pages(admin: Api) -> None:
    await customers(admin, {f"Customer {i:02d}": f"pesanan nomor {i}" for i in range(7)})
    seen: list[str] = []
    url = f"/chats/?q={quote('pesanan')}&limit=3&channel=Telegram"
    while url:
        status, chats = await admin.get(url)
        assert status == 200, chats
        seen.extend(chat["name"] for chat in chats)
        assert all(chat["match"]["highlights"] for chat in chats)
        link = admin.last_headers.get("Link", "")
        url = link[1 : link.index(">")] if link else ""
    assert sorted(seen) == [f"Customer {i:02d}" for i in range(7)]
    assert await found(admin, "pesanan mode") == []
    assert (await admin.get("/chats/?q=pesanan&channel=WhatsApp"))[1] == []


async def test_unusable_search_text_is_a_clear_422(admin: Api) -> None:
    status, body = await admin.get(f"/chats/?q={quote('a b c d e f g h i')}")
    assert status == 422
    assert body["error"]["code"] == "invalid" and body["error"]["details"]["field"] == "q"
    assert "at most 8 words" in body["error"]["message"]
    status, body = await admin.get(f"/chats/?q={'x' * 201}")
    assert status == 422 and body["error"]["code"] == "validation_error"
    # No letter or digit: only the names, phones and emails are searched (as before).
    assert (await admin.get(f"/chats/?q={quote('%')}")) == (200, [])
    _, chats = await admin.get(f"/chats/?q={quote('@')}")
    assert sorted(chat["name"] for chat in chats) == ["John Doe", "Maria Lopez"]  # emails
    assert all(chat["match"] is None for chat in chats)


HOSTILE = st.text(max_size=fts.MAX_CHARS) | st.sampled_from(
    [
        '"', '""', '"*', "*", "a*b*", "NEAR(a b)", "a OR b", "a AND NOT b", "col:a", "^a",
        "a + b", "-a", "a:*", "a & b | !c", "a <-> b", "(a", "a)", "'", "\\", "\x00", "a\x00b",
        "\ud83d", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "ﬁ", "İstanbul", "ß*", "½", "١٢٣", "e\u0301", "🙂*",
    ]
)  # fmt: skip


@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "60")),  # as tests/test_fuzz.py
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(q=HOSTILE)
async def test_any_search_text_is_answered_never_a_500(admin: Api, q: str) -> None:
    status, body = await admin.get("/chats/", params={"q": q})
    assert status in (200, 422), (q, status, body)
    if status == 422:
        assert body["error"]["code"] in ("invalid", "validation_error")
        assert body["error"]["message"]
    else:
        assert isinstance(body, list)


async def test_the_index_matches_what_the_highlighter_marks(admin: Api) -> None:
    """Every chat the index finds by its messages shows a highlighted snippet."""
    await customers(admin)
    for q in ("late", '"late delivery"', "refun*", "dikirim", "inv 7731", "entrega"):
        _, chats = await admin.get(f"/chats/?q={quote(q)}")
        assert chats, q
        for chat in chats:
            match: dict[str, Any] = chat["match"]
            assert match["highlights"], (q, match)


async def test_a_page_of_200_gets_its_matches_in_the_same_statements(admin: Api) -> None:
    await customers(admin, {f"Buyer {i:03d}": f"ongkir ke kota {i}" for i in range(205)})
    status, chats = await admin.get(f"/chats/?q={quote('ongkir kota')}&limit=200")
    assert status == 200 and len(chats) == 200
    assert all(chat["match"]["snippet"].startswith("ongkir ke kota") for chat in chats)
    assert "cursor=" in admin.last_headers["Link"]


PLAN_TEXTS = {
    **{f"Pembeli {i:02d}": f"paket {i} sudah sampai, parcel arrived" for i in range(14)},
    "Rudi": "Parcél kedua, late delivery again",
    "Wati": "parcels and more parcelling",
    "Yono": "the delivery was late",
    "Zaki": "nothing to see",
}
PLAN_SEARCHES = (
    "parcel",  # typed: a prefix (parcel, parcels, parcelling, parcél)
    '"parcel"',
    "parc",
    "PARCELS",
    "sampai",
    "late delivery",
    '"late delivery"',
    "paket 3",
    "zzz",
)


async def _listed(where: str) -> list[int]:
    rows = await fetch(
        f'SELECT "id" FROM "chats" WHERE {where} = 1 ORDER BY "activity_at" DESC, "id" DESC'  # noqa: S608
    )
    return [int(row["id"]) for row in rows]


async def test_both_plans_list_the_same_chats(admin: Api) -> None:
    await customers(admin, PLAN_TEXTS)
    postgres = is_postgres()
    common_found = set()
    for text in PLAN_SEARCHES:
        query = fts.parse(text, last_prefix=True)
        if postgres:  # one plan: the matching chats listed once
            assert await search.plan(query, threshold=1) == search.Plan(fts.tsquery(query))
            continue
        listed = search.matching_sql(search.Plan(fts.fts5(query)), postgres)
        probed = search.matching_sql(search.Plan(fts.fts5(query), common=True), postgres)
        assert "IN (SELECT" in listed and "EXISTS" in probed
        expected = await _listed(listed)
        assert await _listed(probed) == expected, text
        chosen = await search.plan(query, threshold=1)  # anything found is "common"
        assert await _listed(search.matching_sql(chosen, postgres)) == expected, text
        if chosen.common:
            common_found.add(text)
        # The threshold is a count: above every match here, the list is kept.
        assert not (await search.plan(query, threshold=10_000)).common, text
    if not postgres:
        # One word or a typed prefix of one, in most chats: probed; words not: listed.
        assert common_found == {"parcel", '"parcel"', "parc", "PARCELS", "sampai"}
        # A prefix is written out as the index's words (accents read away, as FTS5 does).
        parc = await search.plan(fts.parse("parc", last_prefix=True), threshold=1)
        assert parc.expression == '("parcel" OR "parcelling" OR "parcels")'


async def test_a_window_of_the_list_gives_the_same_pages(
    admin: Api, agent: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A search looked for among the list's next chats first (any search found at all, here)
    pages through the same chats, with the same matches, as the whole list searched."""
    await customers(admin, PLAN_TEXTS)
    theirs = [*(f"Pembeli {i:02d}" for i in range(0, 14, 2)), "Rudi", "Wati"]
    agent_id = (await User.get(username="agent")).id
    await Chat.filter(customer_name__in=theirs).update(assigned_agent_id=agent_id)
    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)

    async def walk(api: Api, url: str) -> tuple[list[Any], bool]:
        seen: list[Any] = []
        caplog.clear()
        while url:
            status, page = await api.get(url)
            assert status == 200, page
            seen.extend((chat["id"], chat["match"]) for chat in page)
            link = api.last_headers.get("Link", "")
            url = link[1 : link.index(">")] if link else ""
        windowed = any(
            "AND rowid >= " in r.getMessage() or 'AND "chat_id" >= ' in r.getMessage()
            for r in caplog.records
        )
        return seen, windowed

    used = set()
    for text in (*PLAN_SEARCHES, "Pembeli", "paket sampai", '"sudah sampai" arrived'):
        for api, limit, extra in (
            (admin, 1, ""),
            (admin, 3, ""),
            (admin, 2, "&mode=bot"),
            (agent, 1, ""),
        ):
            url = f"/chats/?q={quote(text)}&limit={limit}{extra}"
            monkeypatch.setattr(queries, "WINDOW", 10**6)  # (more chats than there are)
            whole, windowed = await walk(api, url)
            assert not windowed
            monkeypatch.setattr(queries, "WINDOW", 4)
            monkeypatch.setattr(search, "WINDOW_MIN", 1)
            paged, windowed = await walk(api, url)
            assert paged == whole, (text, limit)
            if windowed:
                used.add((text, api is agent))
    for text in ("sampai", "parcel", '"parcel"', "paket sampai"):
        assert {(text, False), (text, True)} <= used, (text, used)


async def test_only_lists_walked_in_their_own_order_are_probed(
    admin: Api, agent: Api, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An agent's scope (theirs or watched) and the channel, label, updated_since and snoozed
    # filters make SQLite sort the chats it keeps, each probed first: those keep the list
    # and do not count the matches for the probe (SQLite's statements read; the window's
    # count stops earlier, at WINDOW_MIN). A search too rare for a window is not probed.
    await customers(admin, PLAN_TEXTS)
    caplog.set_level(logging.DEBUG, logger=db_client_logger.name)
    assert not await plans(admin, "/chats/?q=parcel", caplog)  # 16 messages < WINDOW_MIN
    monkeypatch.setattr(search, "WINDOW_MIN", 1)  # (a window of 204 chats: more than here)
    sqlite = not is_postgres()
    assert await plans(admin, "/chats/?q=parcel", caplog) == sqlite
    assert await plans(admin, "/chats/?q=parcel&mode=agent", caplog) == sqlite
    for path in (
        "/chats/?q=parcel&channel=Telegram",
        "/chats/?q=parcel&label=vip",
        "/chats/?q=parcel&snoozed=false",
        "/chats/?q=parcel&assigned=none",
    ):
        assert not await plans(admin, path, caplog), path
    assert not await plans(agent, "/chats/?q=parcel", caplog)


async def plans(api: Api, path: str, caplog: pytest.LogCaptureFixture) -> bool:
    """Whether listing ``path`` counted the matches for a probe (storage.search.plan)."""
    caplog.clear()
    status, _ = await api.get(path)
    assert status == 200
    return any(
        'count(*) AS "hits"' in r.getMessage() and r.getMessage().endswith(f", {search.COMMON}]")
        for r in caplog.records
    )


async def test_the_common_plan_stops_after_the_page(admin: Api) -> None:
    await customers(admin, PLAN_TEXTS)
    query = fts.parse("parcel", last_prefix=True)
    chosen = await search.plan(query, threshold=1)
    if is_postgres():
        assert not chosen.common
        return
    assert chosen.common
    where = search.matching_sql(chosen, False)
    plan_rows = await fetch(
        f'EXPLAIN QUERY PLAN SELECT "id" FROM "chats" WHERE {where} = 1 '  # noqa: S608
        'ORDER BY "activity_at" DESC LIMIT 3'
    )
    steps = " | ".join(str(row["detail"]) for row in plan_rows)
    assert "CORRELATED SCALAR SUBQUERY" in steps and "LIST SUBQUERY" not in steps, steps
    # The list's own query, through the API: the same chats whichever plan runs.
    status, chats = await admin.get(f"/chats/?q={quote('parcel')}&limit=200")
    assert status == 200
    assert [chat["id"] for chat in chats] == (await _listed(where))
