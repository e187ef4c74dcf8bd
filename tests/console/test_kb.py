"""The Knowledge base page in the browser: the demo's articles (imported when the demo
starts), searched and read with their markdown rendered as elements (never as HTML);
"Try a question" showing what the AI assistant would read, with scores; an admin adding,
editing and deleting an article; an agent reading only; the page on a 390 px phone in
Indonesian."""

from __future__ import annotations

from typing import Any

from tests.console.support import NARROW, Console, Demo, expect, screenshot


def open_kb(page: Any) -> None:
    page.click("button.view-button[data-view=kb]")
    expect(page.locator(".kb-view h2")).to_be_visible()
    expect(page.locator(".kb-item").first).to_be_visible()


def titles(page: Any) -> list[str]:
    return [text.strip() for text in page.locator(".kb-item-title").all_text_contents()]


def test_an_admin_searches_reads_tries_and_writes_articles(console: Console, demo: Demo) -> None:
    page = console.login("admin", "admin123")
    open_kb(page)
    assert len(titles(page)) == 24  # the demo's twelve articles in each language
    token = demo.login("admin", "admin123")
    _, english = demo.call("GET", "/kb/articles?q=refund&language=en", token=token)
    wanted = [item["title"] for item in english["items"]]
    assert "Refunds" in wanted and len(wanted) < 12
    page.fill("#kb-search", "refund")
    page.locator("#kb-language").select_option("en")
    expect(page.locator(".kb-item")).to_have_count(len(wanted))
    assert titles(page) == wanted
    page.locator(".kb-item", has_text="Refunds").click()
    article = page.locator(".kb-article")
    expect(article.locator("#kb-article-title")).to_have_text("Refunds")
    # Markdown shown as elements: headings, a list, bold; no markup characters left.
    section = article.locator(".kb-body h4", has_text="How long each payment method takes")
    expect(section).to_be_visible()
    expect(article.locator(".kb-body h3")).to_have_count(0)  # the title is not repeated
    expect(article.locator(".kb-body li").first).to_contain_text("E-wallets")
    expect(article.locator(".kb-body strong").first).to_have_text(
        "your original payment method within 3-5 working days after we receive the returned item"
    )
    assert "**" not in article.inner_text() and "## " not in article.inner_text()
    expect(article.locator(".kb-source")).to_have_text("from en/refunds.md")

    page.fill("#kb-question", "How long does a refund take?")
    page.click(".kb-try-form button[type=submit]")
    first = page.locator(".kb-passage").first
    expect(first.locator(".kb-passage-title")).to_have_text("Refunds")
    expect(first.locator(".kb-score")).to_have_text("score 1.00")
    expect(page.locator(".kb-try-note")).to_contain_text("Passages found:")
    screenshot(page, "kb-1280")  # docs/screenshots/kb.png

    # A new article: its markdown is text, a script stays text, an unsafe link is no link.
    page.fill("#kb-search", "")
    page.click("button.kb-new")
    page.fill("#kb-title", "Corporate orders")
    page.fill("#kb-tags", "orders, b2b")
    page.fill(
        "#kb-body",
        "# Corporate orders\n\nOrders of **50 bags** or more get 10% off.\n\n"
        "- write to [sales](mailto:sales@tokosenja.example)\n- or [click](javascript:alert(1))\n\n"
        "<script>alert('x')</script> <img src=x onerror=alert(1)>",
    )
    page.click(".kb-form button[type=submit]")
    expect(page.locator(".status-line")).to_contain_text("“Corporate orders” saved")
    body = page.locator(".kb-article .kb-body")
    expect(body.locator("strong")).to_have_text("50 bags")
    link = body.locator("a")
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", "mailto:sales@tokosenja.example")
    expect(link).to_have_attribute("rel", "noopener noreferrer")
    expect(body).to_contain_text("[click](javascript:alert(1))")
    expect(body).to_contain_text("<script>alert('x')</script>")
    assert body.locator("script, img").count() == 0
    expect(page.locator(".kb-item-title").first).to_have_text("Corporate orders")

    page.fill("#kb-question", "discount for corporate orders of 50 bags")
    page.click(".kb-try-form button[type=submit]")
    expect(page.locator(".kb-passage").first.locator(".kb-passage-title")).to_have_text(
        "Corporate orders"
    )

    # Edit it; a title too long is refused on its field; then delete it.
    page.click(".kb-article .kb-edit")
    page.fill("#kb-title", "x" * 201)
    page.evaluate("document.getElementById('kb-title').removeAttribute('maxlength')")
    page.fill("#kb-title", "x" * 201)
    page.click(".kb-form button[type=submit]")
    expect(page.locator("#kb-title-error")).not_to_be_empty()
    page.fill("#kb-title", "Corporate and wholesale orders")
    page.click(".kb-form button[type=submit]")
    expect(page.locator("#kb-article-title")).to_have_text("Corporate and wholesale orders")
    page.click(".kb-article .kb-delete")
    page.click(".kb-actions [data-confirm-delete]")
    expect(page.locator(".status-line")).to_contain_text("deleted")
    expect(page.locator(".kb-item", has_text="Corporate")).to_have_count(0)
    status, found = demo.call("GET", "/kb/articles?q=corporate", token=token)
    assert (status, found["items"]) == (200, [])


def test_an_agent_reads_and_tries_but_does_not_write(console: Console, demo: Demo) -> None:
    page = console.login("agent", "agent123")
    open_kb(page)
    expect(page.locator("button.kb-new")).to_have_count(0)
    page.locator(".kb-item", has_text="Warranty").first.click()
    expect(page.locator("#kb-article-title")).to_have_text("Warranty")
    expect(page.locator(".kb-article .kb-edit")).to_have_count(0)
    page.locator("#kb-question-language").select_option("id")
    page.fill("#kb-question", "garansi grinder berapa lama?")
    page.click(".kb-try-form button[type=submit]")
    expect(page.locator(".kb-passage").first.locator(".kb-passage-title")).to_have_text("Garansi")
    page.fill("#kb-question", "quantum chromodynamics")
    page.click(".kb-try-form button[type=submit]")
    expect(page.locator(".kb-try-note")).to_contain_text("Nothing relevant")
    expect(page.locator(".kb-passage")).to_have_count(0)


def test_the_knowledge_base_on_a_phone_in_indonesian(console: Console) -> None:
    phone = console.login("admin", "admin123", NARROW)
    phone.locator("#lang-switch").select_option("id")
    open_kb(phone)
    expect(phone.locator(".kb-view h2")).to_have_text("Basis pengetahuan")
    phone.fill("#kb-question", "paket belum sampai")
    phone.click(".kb-try-form button[type=submit]")
    expect(phone.locator(".kb-passage").first.locator(".kb-passage-title")).to_have_text(
        "Melacak pesanan"
    )
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the page scrolls sideways ({width}px)"
    screenshot(phone, "kb-390")  # docs/screenshots/kb-mobile.png
    phone.locator(".kb-item", has_text="Toko kami dan jam buka").click()
    expect(phone.locator("#kb-article-title")).to_have_text("Toko kami dan jam buka")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= NARROW["width"], f"the article scrolls sideways ({width}px)"
    screenshot(phone, "kb-article-390")
    phone.click("button.kb-new")
    expect(phone.locator("#kb-body")).to_be_visible()
    box = phone.locator("#kb-body").bounding_box()
    assert box and box["x"] + box["width"] <= NARROW["width"], box
    screenshot(phone, "kb-editor-id-390")
