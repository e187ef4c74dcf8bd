// A conversation of the contact that the user may read but not act on (history for agents):
// its messages in a modal dialog, read-only, older pages on request. Built like the image
// viewer: a native <dialog>, Escape and the close button end it, focus goes back.

import * as contacts from "../contacts.js";
import { fill, h, icon, showModal } from "../dom.js";
import { fullTime, t } from "../i18n.js";
import { channelIcon } from "./common.js";
import { renderMessage } from "./messages.js";

let current = null;

/** Show chat `row` (a chat row of the contact's conversations) read-only; `trigger` gets focus back. */
export function openHistory(row, trigger = document.activeElement) {
  closeHistory();
  const list = h("ol", { class: "message-list history-list" });
  const older = h("button", { type: "button", class: "older link", hidden: true }, t("chat.older"));
  const state = h("p", { class: "history-state", role: "status" }, t("chat.loading"));
  const log = h("div", { class: "messages history-messages", role: "log", tabindex: "0", "aria-busy": "true",
    "aria-label": t("chat.messages") }, older, state, list);
  const close = h("button", { type: "button", class: "icon-button history-close", "aria-label": t("history.close"),
    title: t("history.close"), onclick: () => closeHistory() }, icon("close"));
  const title = h("h2", { class: "history-title", id: "history-title" }, row.subject || row.name || `#${row.id}`);
  const dialog = h("dialog", { class: "history", "aria-labelledby": "history-title", "data-chat": String(row.id) },
    h("div", { class: "history-bar" },
      channelIcon(row.channel),
      h("div", { class: "history-heading" }, title,
        h("p", { class: "history-sub" }, h("span", { class: "badge readonly" }, t("history.readOnly")),
          row.created_at && h("span", {}, t("history.started", { time: fullTime(row.created_at) })))),
      close),
    log);
  current = { dialog };
  showModal(dialog, { trigger, focus: close, onBackdrop: closeHistory, onClosed: () => {
    if (current?.dialog === dialog) current = null;
  } });

  let before = null;
  const messages = new Map();
  async function load() {
    older.disabled = true;
    try {
      const detail = await contacts.readChat(row.id, before);
      for (const message of detail.messages || []) messages.set(message.id, message);
      before = detail.next_before ?? null;
      older.hidden = !detail.has_more;
      const sorted = [...messages.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at) || a.id - b.id);
      fill(list, sorted.map((message) => renderMessage(h("li"), message)));
      state.textContent = sorted.length ? "" : t("chat.empty");
      if (!before || !detail.has_more) log.scrollTop = log.scrollHeight;
    } catch (error) {
      state.textContent = t("history.failed", { error: error.message });
    } finally {
      older.disabled = false;
      log.setAttribute("aria-busy", "false");
    }
  }
  older.addEventListener("click", load);
  load().then(() => { log.scrollTop = log.scrollHeight; });
  return dialog;
}

export function closeHistory() {
  if (current?.dialog?.open) current.dialog.close();
}
