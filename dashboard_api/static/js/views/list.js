// The chat list: tabs, filters, search, live rows sorted by activity, paging as it scrolls.

import * as chats from "../chats.js";
import { debounce, fill, h, icon } from "../dom.js";
import { duration, fullTime, shortTime, t } from "../i18n.js";
import { emit, isAdmin, listRows, on, state } from "../state.js";
import * as tags from "../tags.js";
import { CHANNELS, channelIcon, channelLabel, MODES, modeBadge, previewPrefix } from "./common.js";
import { bulkBar } from "./bulk.js";
import { wakeStamp } from "./snooze.js";

export function mountList(root) {
  const tabs = ["mine", "queue", "snoozed", ...(isAdmin() ? ["all"] : [])];
  const tabButtons = tabs.map((tab) =>
    h("button", {
      type: "button", role: "tab", id: `tab-${tab}`, class: "tab", "data-tab": tab,
      "aria-controls": "chat-list-panel", onclick: () => selectTab(tab), onkeydown: tabKeys,
    }, t(`tabs.${tab}`)),
  );
  const modeSelect = select("filter-mode", t("filter.mode"), MODES.map((m) => [m, t(`mode.${m}`)]),
    (value) => setFilter("mode", value));
  const channelSelect = select("filter-channel", t("filter.channel"), CHANNELS.map((c) => [c, channelLabel(c)]),
    (value) => setFilter("channel", value));
  const search = h("input", {
    type: "search", id: "chat-search", class: "search", value: state.filters.q,
    placeholder: t("filter.searchPlaceholder"), "aria-label": t("filter.search"),
    oninput: debounce((event) => setFilter("q", event.target.value.trim()), 300),
  });
  const labelSelect = h("select", { id: "filter-label", onchange: (event) => setFilter("label", event.target.value) });
  const labelFilter = h("label", { class: "filter" }, h("span", {}, t("labels.filter")), labelSelect);
  const selectToggle = h("button", { type: "button", id: "select-toggle", class: "select-toggle",
    "aria-pressed": "false", onclick: () => tags.setSelecting(!tags.selecting()) }, t("bulk.select"));
  const bar = bulkBar(() => listRows().map((chat) => chat.id));
  const list = h("ul", { id: "chat-list", class: "chat-list", "aria-label": t("list.label") });
  const more = h("button", { type: "button", class: "more", onclick: () => chats.loadMore() }, t("list.more"));
  const status = h("div", { class: "list-status" });
  const starter = startForm();
  fill(
    root,
    h("div", { class: "list-head" },
      h("div", { class: "tabs", role: "tablist", "aria-label": t("tabs.label") }, tabButtons),
      h("div", { class: "filters" }, modeSelect.label, channelSelect.label, labelFilter, search),
      h("div", { class: "list-tools" }, starter.toggle, selectToggle),
      starter.form, bar.root),
    // One scrolling box: the "load more" button at its end comes into view only at the bottom.
    h("div", { class: "list-scroll", id: "chat-list-panel", role: "tabpanel" },
      list, status, h("div", { class: "list-foot" }, more)),
  );

  // Paging as the list grows: the "load more" button loads itself when it scrolls into view.
  const observer = new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) chats.loadMore();
  });
  observer.observe(more);

  const rows = new Map(); // chat id -> <li>
  function render() {
    for (const button of tabButtons) {
      const selected = button.dataset.tab === state.tab;
      button.setAttribute("aria-selected", String(selected));
      button.tabIndex = selected ? 0 : -1;
    }
    root.querySelector("#chat-list-panel").setAttribute("aria-labelledby", `tab-${state.tab}`);
    modeSelect.control.disabled = state.tab === "queue";
    renderLabelFilter(labelSelect);
    selectToggle.setAttribute("aria-pressed", String(tags.selecting()));
    selectToggle.textContent = tags.selecting() ? t("bulk.done") : t("bulk.select");
    list.classList.toggle("selecting", tags.selecting());
    bar.render();
    const { loading, loaded, next, error } = state.list;
    const current = listRows();
    list.setAttribute("aria-busy", String(loading && !loaded));
    if (loading && !loaded) {
      rows.clear();
      fill(list, Array.from({ length: 6 }, () => skeletonRow()));
    } else {
      if (list.querySelector(".skeleton")) list.replaceChildren();
      renderRows(list, rows, current);
    }
    const filtered = state.filters.mode || state.filters.channel || state.filters.q || state.filters.label;
    const empty = loaded && !current.length;
    fill(status,
      empty && h("p", { class: "empty" }, t(filtered ? "list.empty.filtered" : `list.empty.${state.tab}`)),
      error && h("p", { class: "error", role: "alert" }, t("list.error", { error }), " ",
        h("button", { type: "button", class: "link", onclick: () => chats.loadList() }, t("list.retry"))),
    );
    more.hidden = !next;
    more.disabled = loading;
  }
  const stops = [on("list", render), on("open", render), on("agents", render), on("clock", render),
    on("labels", render), on("selection", render)];
  tags.loadLabels().catch(() => {});
  render();
  return () => {
    observer.disconnect();
    stops.forEach((stop) => stop());
  };
}

function select(id, label, options, onchange) {
  const control = h("select", { id, onchange: (event) => onchange(event.target.value) },
    h("option", { value: "" }, t("filter.any")),
    options.map(([value, text]) => h("option", { value, selected: state.filters[id.slice(7)] === value }, text)),
  );
  return { control, label: h("label", { class: "filter" }, h("span", {}, label), control) };
}

function renderLabelFilter(control) {
  const wanted = [["", t("filter.any")], ...state.labels.map((label) => [label.name, label.name])];
  if (state.filters.label && !wanted.some(([value]) => value === state.filters.label)) {
    wanted.push([state.filters.label, state.filters.label]);
  }
  const key = JSON.stringify(wanted);
  if (control.dataset.options !== key) {
    control.dataset.options = key;
    fill(control, wanted.map(([value, text]) => h("option", { value }, text)));
  }
  control.value = state.filters.label;
}

function selectTab(tab) {
  if (state.tab === tab) return;
  state.tab = tab;
  chats.loadList();
}

function tabKeys(event) {
  const tabs = [...event.currentTarget.parentElement.querySelectorAll("[role=tab]")];
  const index = tabs.indexOf(event.currentTarget);
  const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
  if (!step) return;
  const target = tabs[(index + step + tabs.length) % tabs.length];
  target.focus();
  selectTab(target.dataset.tab);
}

function setFilter(name, value) {
  if (state.filters[name] === value) return;
  state.filters[name] = value;
  chats.loadList();
}

function skeletonRow() {
  return h("li", { class: "skeleton", "aria-hidden": "true" },
    h("span", { class: "sk-avatar" }), h("span", { class: "sk-lines" }, h("span"), h("span")));
}

function renderRows(list, rows, current) {
  const wanted = new Set(current.map((chat) => chat.id));
  for (const [id, li] of rows) {
    if (!wanted.has(id)) {
      li.remove();
      rows.delete(id);
    }
  }
  const focused = document.activeElement;
  current.forEach((chat, index) => {
    let li = rows.get(chat.id);
    if (!li) {
      li = h("li", { class: "chat-item" });
      rows.set(chat.id, li);
    }
    renderRow(li, chat);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  if (focused && focused !== document.activeElement && focused.isConnected) focused.focus();
}

function renderRow(li, chat) {
  const open = state.open?.id === chat.id;
  const last = chat.last_message;
  const label = [chat.name, channelLabel(chat.channel), t(`mode.${chat.queued ? "queued" : chat.mode}`),
    ["high", "urgent"].includes(chat.priority) ? t(`priority.${chat.priority}`) : "",
    ...(chat.labels || []),
    chat.unread ? t("list.unread", { count: chat.unread }) : "",
    found(chat) ? t("list.found", { text: chat.match.snippet }) : ""].filter(Boolean).join(", ");
  let button = li.querySelector(".chat-row");
  if (!button) {
    button = h("button", { type: "button", class: "chat-row", onclick: () => openFromList(chat.id) });
    li.append(button);
  }
  let box = li.querySelector(".row-select");
  if (tags.selecting()) {
    if (!box) {
      box = h("input", { type: "checkbox", class: "row-select", onchange: () => tags.toggleSelected(chat.id) });
      li.prepend(box);
    }
    box.checked = state.selection.has(chat.id);
    box.setAttribute("aria-label", t("bulk.selectChat", { name: chat.name }));
  } else if (box) box.remove();
  li.classList.toggle("selected", Boolean(tags.selecting() && state.selection.has(chat.id)));
  button.dataset.chatId = String(chat.id);
  button.dataset.mode = chat.mode;
  button.setAttribute("aria-label", label);
  if (open) button.setAttribute("aria-current", "true");
  else button.removeAttribute("aria-current");
  const when = chat.last_message_at || chat.activity_at;
  // A chat waiting in the queue says for how long (redrawn every minute), not its last time.
  const waiting = chat.queued && chat.queued_at;
  const stamp = chat.snoozed && state.tab === "snoozed" ? wakeStamp(chat) : waiting
    ? h("time", { class: "waiting", datetime: chat.queued_at, title: fullTime(chat.queued_at) },
      t("list.waiting", { time: duration(Date.now() - Date.parse(chat.queued_at)) }))
    : h("time", { datetime: when, title: fullTime(when) }, shortTime(when));
  fill(button,
    h("span", { class: "avatar" }, channelIcon(chat.channel)),
    h("span", { class: "row-main" },
      h("span", { class: "row-top" },
        h("span", { class: "name" }, chat.name),
        tags.priorityBadge(chat),
        stamp),
      tags.chips(chat),
      h("span", { class: "row-bottom" },
        found(chat)
          ? h("span", { class: "preview match", "data-message-id": String(chat.match.message_id) },
            marked(chat.match))
          : h("span", { class: "preview" }, last ? previewPrefix(last) + last.text : ""),
        h("span", { class: "badges" }, modeBadge(chat),
          chat.unread > 0 && h("span", { class: "badge unread", "aria-hidden": "true" }, String(chat.unread)))))
  );
}

const LEAD = 16; // characters of a match's snippet kept before its first word found

/** The row shows where the search matched (GET /chats/?q=: docs/api.md, "Searching"). */
function found(chat) {
  return Boolean(state.filters.q && chat.match && typeof chat.match.snippet === "string");
}

/**
 * A match's snippet with its highlights in <mark>: plain text nodes only (a customer's text is
 * never markup). The offsets count code points, so the text is cut as an array of them.
 */
function marked(match) {
  let chars = Array.from(match.snippet);
  let spans = (match.highlights || []).filter((span) => Array.isArray(span) && span.length === 2);
  // Two lines of a narrow list hold about fifty characters: begin a few words before the
  // first word found, so that it shows.
  const first = spans.length ? spans[0][0] : 0;
  if (first > LEAD + 4) {
    let cut = first - LEAD;
    while (cut < first && chars[cut - 1] !== " ") cut += 1;
    chars = ["…", ...chars.slice(cut)];
    spans = spans.map(([start, end]) => [start - cut + 1, end - cut + 1]);
  }
  const parts = [];
  let at = 0;
  for (const [start, end] of spans) {
    if (!(start >= at && end > start && end <= chars.length)) continue;
    parts.push(chars.slice(at, start).join(""), h("mark", {}, chars.slice(start, end).join("")));
    at = end;
  }
  parts.push(chars.slice(at).join(""));
  return parts;
}

function openFromList(id) {
  if (state.open?.id === id && state.screen === "chat") return;
  state.view = "chats";
  emit("view");
  chats.openChat(id);
}

/**
 * "New WhatsApp chat": a phone number (and a name) starts a conversation (POST /chats/ with
 * {"channel": "WhatsApp", "phone"}); the chat opens with the template picker, since only a
 * template can reach a customer who has not written.
 */
function startForm() {
  const error = h("p", { class: "error start-error", role: "alert" });
  const phone = h("input", { id: "start-phone", type: "tel", required: true, autocomplete: "off",
    placeholder: "+62 812 3456 7890", "aria-describedby": "start-phone-help" });
  const name = h("input", { id: "start-name", type: "text", maxlength: "128", autocomplete: "off" });
  const submit = h("button", { type: "submit", class: "primary" }, t("start.submit"));
  const toggle = h("button", { type: "button", class: "start-toggle", "aria-expanded": "false",
    "aria-controls": "start-form", onclick: () => show(form.hidden) },
  icon("whatsapp"), h("span", {}, t("start.open")));
  const form = h("form", { class: "start-form", id: "start-form", hidden: true, onsubmit: start },
    h("label", { for: "start-phone" }, t("start.phone")), phone,
    h("p", { class: "start-help", id: "start-phone-help" }, t("start.phoneHelp")),
    h("label", { for: "start-name" }, t("start.name")), name,
    error,
    h("div", { class: "start-buttons" }, submit,
      h("button", { type: "button", onclick: () => { show(false); toggle.focus(); } }, t("action.cancel"))));

  function show(open) {
    form.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    error.textContent = "";
    if (open) phone.focus();
  }

  async function start(event) {
    event.preventDefault();
    if (submit.disabled) return;
    submit.disabled = true;
    error.textContent = "";
    try {
      await chats.startConversation(e164(phone.value), name.value.trim());
      phone.value = "";
      name.value = "";
      show(false);
    } catch (failure) {
      error.textContent = t("start.failed", { error: failure.message });
    } finally {
      submit.disabled = false;
    }
  }
  return { toggle, form };
}

/** "+62 812-3456-7890" or "0062 812..." as E.164 ("+628123456789"); the API checks the rest. */
export function e164(value) {
  let digits = value.replace(/[\s().-]/g, "");
  if (digits.startsWith("00")) digits = `+${digits.slice(2)}`;
  return digits.startsWith("+") ? digits : `+${digits}`;
}
