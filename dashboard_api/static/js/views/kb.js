// The knowledge base page: the articles (search, a language filter), one article rendered,
// and for admins adding, editing and deleting; "Try a question" shows what the AI assistant
// would read for a customer's question, with each passage's score. Mounted like the reports
// view (main.js).

import { fill, h, icon } from "../dom.js";
import { language as consoleLanguage, t } from "../i18n.js";
import * as kb from "../kb.js";
import { renderMarkdown } from "../markdown.js";
import { isAdmin } from "../state.js";

const SEARCH_PAUSE_MS = 250;

export function mountKb(root) {
  const status = h("p", { class: "status-line", role: "status", "aria-live": "polite" });
  const items = h("ul", { class: "kb-items", "aria-label": t("kb.articles") });
  const more = h("button", { type: "button", class: "kb-more", hidden: true, onclick: () => load({ append: true }) },
    t("kb.more"));
  const detail = h("section", { class: "kb-detail", "aria-live": "polite", "aria-label": t("kb.article") });
  const search = h("input", { id: "kb-search", type: "search", placeholder: t("kb.searchPlaceholder"),
    "aria-label": t("kb.search"), maxlength: "200", autocomplete: "off" });
  const language = h("select", { id: "kb-language", "aria-label": t("kb.language") },
    h("option", { value: "" }, t("kb.allLanguages")),
    h("option", { value: "en" }, t("kb.lang.en")),
    h("option", { value: "id" }, t("kb.lang.id")));
  const add = isAdmin() && h("button", { type: "button", class: "primary kb-new", onclick: () => showEditor(null) },
    icon("note"), h("span", {}, t("kb.new")));
  let rows = [];
  let cursor = null;
  let selected = null; // the article shown (with its body)
  let timer = null;
  let asked = 0; // answers to older list requests are dropped

  fill(root, h("div", { class: "kb-view" },
    h("div", { class: "kb-head" },
      h("div", {}, h("h2", {}, t("kb.heading")), h("p", { class: "kb-intro" }, t("kb.intro"))), add),
    status,
    h("div", { class: "kb-layout" },
      h("section", { class: "kb-list", "aria-label": t("kb.articles") },
        h("div", { class: "kb-filters" }, search, language),
        items, more),
      h("div", { class: "kb-side" }, tryBox(), detail))));

  search.addEventListener("input", () => {
    status.textContent = "";
    clearTimeout(timer);
    timer = setTimeout(() => load(), SEARCH_PAUSE_MS);
  });
  language.addEventListener("change", () => load());

  async function load({ append = false } = {}) {
    const mine = ++asked;
    try {
      const page = await kb.list({ q: search.value.trim(), language: language.value, cursor: append ? cursor : null });
      if (mine !== asked) return;
      rows = append ? [...rows, ...page.items] : page.items;
      cursor = page.next_cursor;
      render();
    } catch (error) {
      if (mine !== asked) return;
      status.textContent = error.code === "invalid_query" ? t("kb.badSearch", { error: error.message })
        : t("kb.error", { error: error.message });
    }
  }

  function render() {
    more.hidden = !cursor;
    if (!rows.length) {
      fill(items, h("li", { class: "kb-empty" }, search.value.trim() || language.value ? t("kb.noMatch") : t("kb.noneYet")));
      return;
    }
    fill(items, rows.map((row) => h("li", {},
      h("button", { type: "button", class: "kb-item", "data-article": String(row.id),
        "aria-current": selected?.id === row.id ? "true" : null, onclick: () => open(row.id) },
      h("span", { class: "kb-item-head" },
        h("span", { class: "kb-item-title" }, row.title),
        h("span", { class: "badge kb-lang", lang: row.language }, row.language.toUpperCase())),
      h("span", { class: "kb-excerpt" }, row.excerpt),
      h("span", { class: "kb-meta" },
        row.tags.map((tag) => h("span", { class: "badge kb-tag" }, tag)),
        h("span", { class: "kb-passages" }, t("kb.passages", { count: row.passages })))))));
  }

  async function open(id) {
    try {
      selected = await kb.get(id);
      render();
      showArticle();
      if (window.matchMedia("(max-width: 899px)").matches) detail.scrollIntoView({ block: "start" });
    } catch (error) {
      status.textContent = t("kb.error", { error: error.message });
    }
  }

  function showArticle() {
    if (!selected) {
      fill(detail, h("p", { class: "kb-placeholder" }, t("kb.pick")));
      return;
    }
    const article = selected;
    const buttons = isAdmin() && h("div", { class: "row-buttons kb-actions" },
      h("button", { type: "button", class: "kb-edit", onclick: () => showEditor(article) }, t("kb.edit")),
      h("button", { type: "button", class: "danger kb-delete", onclick: () => confirmDelete(article) }, t("kb.delete")));
    fill(detail, h("article", { class: "kb-article", lang: article.language },
      h("header", { class: "kb-article-head" },
        h("h3", { id: "kb-article-title" }, article.title),
        h("p", { class: "kb-meta" },
          h("span", { class: "badge kb-lang" }, article.language.toUpperCase()),
          article.tags.map((tag) => h("span", { class: "badge kb-tag" }, tag)),
          h("span", { class: "kb-passages" }, t("kb.passages", { count: article.passages })),
          article.source && h("span", { class: "kb-source" }, t("kb.source", { source: article.source }))),
        buttons),
      h("div", { class: "kb-body" }, renderMarkdown(withoutTitle(article), { headingBase: 3 }))));
  }

  function confirmDelete(article) {
    const actions = detail.querySelector(".kb-actions");
    fill(actions, h("span", { class: "kb-confirm" }, t("kb.confirmDelete", { title: article.title })),
      h("button", { type: "button", class: "danger", "data-confirm-delete": String(article.id),
        onclick: () => remove(article) }, t("kb.delete")),
      h("button", { type: "button", onclick: showArticle }, t("action.cancel")));
    actions.querySelector("[data-confirm-delete]").focus();
  }

  async function remove(article) {
    try {
      await kb.remove(article.id);
      selected = null;
      status.textContent = t("kb.deleted", { title: article.title });
      showArticle();
      await load();
    } catch (error) {
      status.textContent = t("kb.error", { error: error.message });
    }
  }

  function showEditor(article) {
    fill(detail, editor(article, {
      saved: async (row, message) => {
        selected = row;
        status.textContent = message;
        showArticle();
        await load();
      },
      cancel: showArticle,
      status,
    }));
    detail.querySelector("#kb-title")?.focus();
  }

  showArticle();
  load();
  return () => clearTimeout(timer);
}

/** The body without a first "# heading" that repeats the title (shown above it). */
function withoutTitle(article) {
  const lines = article.body.split("\n");
  const first = lines.findIndex((line) => line.trim());
  const match = first >= 0 ? /^\s{0,3}#\s+(.*?)\s*#*\s*$/.exec(lines[first]) : null;
  if (match && match[1].trim().toLowerCase() === article.title.trim().toLowerCase()) {
    return lines.slice(first + 1).join("\n");
  }
  return article.body;
}

/** "Try a question": the passages /kb/search gives for it, with their scores. */
function tryBox() {
  const question = h("input", { id: "kb-question", type: "search", maxlength: "2000", autocomplete: "off",
    placeholder: t("kb.tryPlaceholder"), "aria-label": t("kb.tryLabel") });
  const language = h("select", { id: "kb-question-language", "aria-label": t("kb.customerLanguage") },
    ["en", "id"].map((code) => h("option", { value: code, selected: code === consoleLanguage() },
      t(`kb.lang.${code}`))));
  const results = h("ol", { class: "kb-passages-found", "aria-label": t("kb.found") });
  const note = h("p", { class: "kb-try-note", role: "status" });
  const ask = async (event) => {
    event.preventDefault();
    const text = question.value.trim();
    if (!text) return;
    note.textContent = "";
    try {
      const { passages } = await kb.search(text, language.value);
      note.textContent = passages.length ? t("kb.foundCount", { count: passages.length }) : t("kb.foundNone");
      fill(results, passages.map((passage) => h("li", { class: "kb-passage", lang: passage.language },
        h("div", { class: "kb-passage-head" },
          h("span", { class: "kb-passage-title" }, passage.title),
          passage.heading && h("span", { class: "kb-passage-heading" }, passage.heading),
          h("span", { class: `badge kb-score ${passage.score >= 0.5 ? "good" : passage.score >= 0.2 ? "fair" : "weak"}`,
            title: t("kb.scoreHelp") }, t("kb.score", { score: passage.score.toFixed(2) }))),
        h("div", { class: "kb-passage-text" }, renderMarkdown(passage.text, { headingBase: 5 })))));
    } catch (error) {
      fill(results);
      note.textContent = t("kb.error", { error: error.message });
    }
  };
  return h("section", { class: "kb-try", "aria-labelledby": "kb-try-heading" },
    h("h3", { id: "kb-try-heading" }, t("kb.tryHeading")),
    h("p", { class: "field-help" }, t("kb.tryHelp")),
    h("form", { class: "kb-try-form", onsubmit: ask }, question, language,
      h("button", { type: "submit", class: "primary" }, icon("search"), h("span", {}, t("kb.try")))),
    note, results);
}

function editor(article, { saved, cancel, status }) {
  const errors = {};
  const field = (key, label, control, help) => {
    errors[key] = h("p", { class: "field-error", id: `kb-${key}-error` });
    control.setAttribute("aria-describedby", [help && `kb-${key}-help`, `kb-${key}-error`].filter(Boolean).join(" "));
    return h("div", { class: `field field-${key}` }, h("label", { for: control.id }, label), control,
      help && h("p", { class: "field-help", id: `kb-${key}-help` }, help), errors[key]);
  };
  const title = h("input", { id: "kb-title", value: article?.title || "", required: true, maxlength: "200",
    autocomplete: "off" });
  const language = h("select", { id: "kb-language-field" },
    ["en", "id"].map((code) => h("option", { value: code, selected: (article?.language || "en") === code },
      t(`kb.lang.${code}`))));
  const tags = h("input", { id: "kb-tags", value: (article?.tags || []).join(", "), autocomplete: "off" });
  const body = h("textarea", { id: "kb-body", rows: "16", required: true, spellcheck: "true" });
  body.value = article?.body || "";

  const submit = async (event) => {
    event.preventDefault();
    Object.values(errors).forEach((el) => { el.textContent = ""; });
    const given = {
      title: title.value.trim(),
      body: body.value,
      language: language.value,
      tags: tags.value.split(",").map((tag) => tag.trim()).filter(Boolean),
    };
    try {
      let row;
      if (article) {
        const changes = {};
        for (const [key, value] of Object.entries(given)) {
          if (JSON.stringify(value) !== JSON.stringify(article[key])) changes[key] = value;
        }
        if (!Object.keys(changes).length) {
          status.textContent = t("kb.nothingChanged");
          return;
        }
        row = await kb.update(article.id, changes);
      } else {
        row = await kb.create(given);
      }
      await saved(row, t("kb.saved", { title: row.title, count: row.passages }));
    } catch (error) {
      const byField = {};
      for (const item of error.details?.fields || []) {
        const name = String(item.field || "").split(".")[0];
        if (name) byField[name] = item.message;
      }
      if (typeof error.details?.field === "string") byField[error.details.field] = error.message;
      for (const [key, el] of Object.entries(errors)) el.textContent = byField[key] || "";
      status.textContent = t("kb.notSaved", { error: error.message });
      const first = Object.keys(errors).find((key) => byField[key]);
      if (first) document.getElementById(`kb-${first}`)?.focus();
    }
  };

  return h("form", { class: "kb-form", novalidate: true, onsubmit: submit },
    h("h3", {}, article ? t("kb.editing", { title: article.title }) : t("kb.new")),
    h("div", { class: "kb-form-row" },
      field("title", t("kb.title"), title),
      field("language", t("kb.language"), language)),
    field("tags", t("kb.tags"), tags, t("kb.tagsHelp")),
    field("body", t("kb.body"), body, t("kb.bodyHelp")),
    h("div", { class: "form-buttons" },
      h("button", { type: "submit", class: "primary" }, article ? t("kb.saveChanges") : t("kb.create")),
      h("button", { type: "button", class: "cancel", onclick: cancel }, t("action.cancel"))));
}
