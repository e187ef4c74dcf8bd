// The chat window: header with actions, the history (older pages on scroll), the composer.

import * as chats from "../chats.js";
import { fill, h, icon } from "../dom.js";
import { t } from "../i18n.js";
import { canWrite, NEEDS_AGENT, offeredActions } from "../modes.js";
import { on, state } from "../state.js";
import { agentName, channelIcon, modeBadge } from "./common.js";
import { renderMessage } from "./messages.js";

export function mountChat(root, { onTogglePanel, panelOpen }) {
  const head = h("div", { class: "chat-head" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": t("chat.actions") });
  const actionError = h("p", { class: "error action-error", role: "alert" });
  const older = h("button", { type: "button", class: "older link", onclick: () => chats.loadOlder() }, t("chat.older"));
  const start = h("p", { class: "history-start" }, t("chat.start"));
  const list = h("ol", { class: "message-list" });
  const scroller = h("div", {
    class: "messages", role: "log", "aria-label": t("chat.messages"), tabindex: "0",
    onscroll: () => { if (scroller.scrollTop < 60) chats.loadOlder(); },
  }, older, start, list);
  const typingLine = h("p", { class: "typing", "aria-live": "polite" });
  const composer = mountComposer();
  const placeholder = h("div", { class: "chat-none" }, icon("chats"), h("p", {}, t("chat.none")));
  const body = h("div", { class: "chat-body" }, head, actions, actionError, scroller, typingLine, composer.form);
  fill(root, placeholder, body);

  const items = new Map(); // message id -> <li>
  const drawnMessages = new WeakMap(); // <li> -> the message object it shows
  let shownId = null;
  let picking = null; // "assign" | "transfer" while the agent picker is open

  let drawn = ""; // what the header shows now: redrawn only when that changes
  function renderHead() {
    const open = state.open;
    const chat = open && state.chats.get(open.id);
    placeholder.hidden = Boolean(open);
    body.hidden = !open;
    if (!open) return;
    const shows = JSON.stringify([chat, open.gone, open.error, picking, panelOpen(), state.agents]);
    if (shows === drawn) return; // live frames for other chats leave focus and the picker alone
    drawn = shows;
    const focused = document.activeElement?.dataset?.action;
    if (!chat) {
      fill(head, backButton(), h("p", { class: "error", role: "alert" },
        open.error ? t("chat.notFound", { error: open.error }) : t("chat.loading")));
      fill(actions);
      return;
    }
    const assigned = chat.assigned_agent_id
      ? t("chat.assignedTo", { name: chat.assigned_agent_name || agentName(chat.assigned_agent_id) })
      : chat.mode === "agent" ? t("chat.unassigned") : t("chat.noAgent");
    fill(head,
      backButton(),
      h("div", { class: "chat-title" },
        h("h2", { id: "chat-name" }, chat.name),
        h("p", { class: "chat-sub" }, channelIcon(chat.channel), h("span", {}, chat.channel),
          modeBadge(chat), h("span", { class: "assignee" }, assigned))),
      h("button", { type: "button", class: "icon-button panel-toggle", "aria-controls": "customer-panel",
        "aria-expanded": String(panelOpen()),
        "aria-label": t("chat.panel"), title: t("chat.panel"), onclick: onTogglePanel }, icon("info")),
    );
    if (open.gone) actionError.textContent = t("chat.gone");
    renderActions(chat);
    composer.update(chat);
    if (focused) actions.querySelector(`[data-action="${focused}"]`)?.focus();
  }

  function renderActions(chat) {
    if (picking) return fill(actions, picker(chat));
    const offered = offeredActions(chat, state.user);
    return fill(actions, offered.map((action) =>
      h("button", { type: "button", class: `action action-${action}`, "data-action": action,
        onclick: () => (NEEDS_AGENT.has(action) ? startPicking(action) : run(action)) },
        t(`action.${action}`))));
  }

  function picker(chat) {
    const choices = state.agents.filter((a) => a.id !== chat.assigned_agent_id);
    const control = h("select", { id: "agent-picker" },
      choices.map((a) => h("option", { value: String(a.id) },
        `${a.display_name} (${t("action.load", { open: a.open_chats, capacity: a.capacity })})`)));
    const form = h("form", { class: "picker", onsubmit: (event) => {
      event.preventDefault();
      const action = picking;
      picking = null;
      run(action, Number(control.value));
    } },
      h("label", { for: "agent-picker" }, t("action.pickAgent")), control,
      h("button", { type: "submit", class: "primary" }, t("action.confirm")),
      h("button", { type: "button", onclick: () => { picking = null; renderHead(); } }, t("action.cancel")));
    queueMicrotask(() => control.focus());
    return form;
  }

  async function startPicking(action) {
    picking = action;
    await chats.loadAgents(); // current loads for the picker
    renderHead();
  }

  async function run(action, agentId) {
    actionError.textContent = "";
    try {
      await chats.act(action, agentId);
    } catch (error) {
      actionError.textContent = t("action.failed", { action: t(`action.${action}`), error: error.message });
      renderHead();
    }
  }

  function renderMessages(change = {}) {
    const open = state.open;
    if (!open) return;
    if (shownId !== open.id) {
      items.clear();
      list.replaceChildren();
      shownId = open.id;
      picking = null;
      actionError.textContent = "";
      composer.reset();
    }
    const nearBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
    const before = scroller.scrollHeight;
    const messages = [...open.messages.values()].sort((a, b) => a.id - b.id);
    messages.forEach((message, index) => {
      let li = items.get(message.id);
      if (!li) {
        li = h("li");
        items.set(message.id, li);
      }
      if (drawnMessages.get(li) !== message) renderMessage(li, message); // only what changed
      drawnMessages.set(li, message);
      if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
    });
    older.hidden = !open.hasMore;
    older.disabled = Boolean(open.loadingOlder);
    start.hidden = open.hasMore || open.loading;
    scroller.setAttribute("aria-busy", String(Boolean(open.loading || open.loadingOlder)));
    if (change.older) scroller.scrollTop += scroller.scrollHeight - before;
    else if (change.first || nearBottom || change.own) scroller.scrollTop = scroller.scrollHeight;
  }

  function renderTyping() {
    const typing = state.open && state.typing.get(state.open.id);
    typingLine.textContent = typing && typing.until > Date.now() ? t("chat.typing", { name: typing.name }) : "";
  }

  composer.onSent = () => renderMessages({ own: true });
  const stops = [
    on("open", () => { renderHead(); renderMessages({ first: true }); renderTyping(); }),
    on("chat", renderHead),
    on("list", renderHead),
    on("agents", renderHead),
    on("messages", renderMessages),
    on("typing", renderTyping),
  ];
  renderHead();
  renderMessages({ first: true });
  return () => stops.forEach((stop) => stop());
}

function backButton() {
  return h("button", { type: "button", class: "icon-button back", "aria-label": t("chat.back"),
    title: t("chat.back"), onclick: () => chats.closeChat() }, icon("back"));
}

function mountComposer() {
  const error = h("p", { class: "error send-error", role: "alert" });
  const note = h("p", { class: "composer-note" });
  const input = h("textarea", {
    id: "composer-input", rows: "2", placeholder: t("composer.placeholder"), "aria-label": t("composer.label"),
    onkeydown: (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    },
    oninput: () => chats.typing(),
  });
  const button = h("button", { type: "submit", class: "primary send", "aria-label": t("composer.send") },
    icon("send"), h("span", {}, t("composer.send")));
  const form = h("form", { class: "composer", onsubmit: submit }, error, note,
    h("div", { class: "composer-row" }, input, button));
  const composer = { form, onSent: () => {} };

  async function submit(event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || button.disabled) return;
    button.disabled = true;
    error.textContent = "";
    try {
      await chats.send(text);
      input.value = "";
      composer.onSent();
    } catch (failure) {
      error.textContent = t("composer.refused", { error: failure.message });
    } finally {
      button.disabled = false;
      input.focus();
    }
  }

  composer.update = (chat) => {
    const writable = canWrite(chat, state.user);
    input.disabled = !writable;
    button.disabled = !writable;
    note.textContent = writable ? "" : t(chat.queued ? "composer.claimFirst" : "composer.notYours");
    note.hidden = writable;
  };
  composer.reset = () => {
    input.value = "";
    error.textContent = "";
  };
  return composer;
}
