// The chat window: header with actions, the history (older pages on scroll), the composer.

import * as chats from "../chats.js";
import { fill, h, icon } from "../dom.js";
import { t } from "../i18n.js";
import { canWrite, CONFIRM, NEEDS_AGENT, offeredActions, splitActions } from "../modes.js";
import { isAdmin, on, state } from "../state.js";
import * as tags from "../tags.js";
import { agentName, channelIcon, channelLabel, modeBadge } from "./common.js";
import { mountComposer } from "./composer.js";
import { renderMessage } from "./messages.js";
import { mountSnooze } from "./snooze.js";
import { closeViewer } from "./viewer.js";

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
  const composer = mountComposer(root);
  const snooze = mountSnooze({ onError: (text) => { actionError.textContent = text; } });
  const placeholder = h("div", { class: "chat-none" }, icon("chats"), h("p", {}, t("chat.none")));
  const body = h("div", { class: "chat-body" }, head, actions, actionError, snooze.banner, scroller, typingLine, composer.form);
  fill(root, placeholder, body);

  const items = new Map(); // message id -> <li>
  const drawnMessages = new WeakMap(); // <li> -> the message object it shows
  let shownId = null;
  let picking = null; // "assign" | "transfer" while the agent picker is open
  let picked = ""; // the agent chosen in the picker (kept when it redraws)
  let confirming = null; // {action, agentId?, force?, text} while a confirmation is asked
  let menuOpen = false; // the "More" menu

  let drawn = ""; // what the header shows now: redrawn only when that changes
  function renderHead() {
    const open = state.open;
    const chat = open && state.chats.get(open.id);
    placeholder.hidden = Boolean(open);
    body.hidden = !open;
    if (!open) {
      drawn = "";
      snooze.update(null);
      return;
    }
    const shows = JSON.stringify([chat, open.error, picking, confirming, menuOpen, panelOpen(), state.labels, tagError,
      state.agents, [...state.online], open.loading, open.lastCustomerAt, open.windowRefused]);
    if (shows === drawn) return; // live frames for other chats leave focus and the picker alone
    drawn = shows;
    const focused = document.activeElement?.dataset?.action;
    if (!chat) {
      fill(head, backButton(), h("p", { class: "error", role: "alert" },
        open.error ? t("chat.notFound", { error: open.error }) : t("chat.loading")));
      fill(actions);
      snooze.update(null);
      composer.disable();
      return;
    }
    const assigned = chat.assigned_agent_id
      ? t("chat.assignedTo", { name: chat.assigned_agent_name || agentName(chat.assigned_agent_id) })
      : chat.mode === "agent" ? t("chat.unassigned") : t("chat.noAgent");
    fill(head,
      backButton(),
      h("div", { class: "chat-title" },
        h("h2", { id: "chat-name" }, chat.name),
        h("p", { class: "chat-sub" }, channelIcon(chat.channel), h("span", {}, channelLabel(chat.channel)),
          modeBadge(chat), h("span", { class: "assignee" }, assigned)),
        chatTags(chat)),
      snooze.control,
      h("button", { type: "button", class: "icon-button panel-toggle", "aria-controls": "customer-panel",
        "aria-expanded": String(panelOpen()),
        "aria-label": t("chat.panel"), title: t("chat.panel"), onclick: onTogglePanel }, icon("info")),
    );
    renderActions(chat);
    snooze.update(chat);
    composer.update(chat);
    if (focused) actions.querySelector(`[data-action="${focused}"]:not([hidden])`)?.focus();
  }

  // Labels and priority: chips (removable), a label picker and the priority selector.
  let tagError = "";
  function chatTags(chat) {
    const writable = canWrite(chat, state.user);
    const remove = (name) => () => tagged(() => tags.removeLabel(chat.id, name), "#label-picker");
    const chipsOf = (chat.labels || []).map((name) => tags.chip(name, { onRemove: writable ? remove(name) : null }));
    const level = chat.priority || "none";
    if (!writable) {
      return h("div", { class: "chat-tags" }, tags.priorityBadge(chat), chipsOf);
    }
    const missing = state.labels.filter((label) => !(chat.labels || []).some((n) => n.toLowerCase() === label.name.toLowerCase()));
    const picker = h("select", { id: "label-picker", class: "label-picker", "aria-label": t("labels.add"),
      onfocus: () => tags.loadLabels().catch(() => {}),
      onchange: (event) => {
        const name = event.target.value;
        if (name) tagged(() => tags.addLabel(chat.id, name), "#label-picker");
      } },
    h("option", { value: "" }, t("labels.add")),
    missing.map((label) => h("option", { value: label.name }, label.name)));
    const priority = h("select", { id: "priority-select", class: `priority-select priority-${level}`,
      "aria-label": t("priority.heading"), title: t("priority.heading"),
      onchange: (event) => tagged(() => tags.setPriority(chat.id, event.target.value), "#priority-select") },
    tags.PRIORITIES.map((value) => h("option", { value, selected: value === level },
      t("priority.label", { level: t(`priority.${value}`) }))));
    return h("div", { class: "chat-tags" }, priority, chipsOf, picker,
      tagError && h("span", { class: "error tag-error", role: "alert" }, tagError));
  }

  async function tagged(change, focus) {
    tagError = "";
    try {
      await change();
    } catch (failure) {
      tagError = t("labels.failed", { error: failure.message });
    }
    renderHead();
    head.querySelector(focus)?.focus();
  }

  function renderActions(chat) {
    if (confirming) return fill(actions, confirmation());
    if (picking) return fill(actions, picker(chat));
    const offered = offeredActions(chat, state.user);
    const { primary, more } = splitActions(chat, offered);
    const button = (action) => h("button", { type: "button", class: `action action-${action}`,
      "data-action": action, title: help(action, chat), onclick: () => choose(action) }, t(`action.${action}`));
    const menu = h("div", { class: "more-menu", id: "more-actions-menu", hidden: !menuOpen },
      more.map((action) => h("button", { type: "button", class: `menu-item action-${action}`,
        "data-action": action, onclick: () => choose(action) },
      h("span", { class: "menu-label" }, t(`action.${action}`)),
      h("span", { class: "menu-help" }, help(action, chat)))),
    // What the buttons beside the menu do, for screens without hover (phones).
    primary.length > 0 && h("dl", { class: "menu-notes" }, primary.map((action) => [
      h("dt", {}, t(`action.${action}`)), h("dd", {}, help(action, chat))])));
    const toggle = more.length > 0 && h("button", { type: "button", class: "more-actions",
      "aria-expanded": String(menuOpen), "aria-controls": "more-actions-menu",
      onclick: () => {
        menuOpen = !menuOpen;
        renderHead();
        if (menuOpen) actions.querySelector(".more-menu [data-action]")?.focus();
      } },
    t(primary.length ? "action.more" : "action.actions"), icon("more"));
    return fill(actions, primary.map(button), toggle && h("div", { class: "more-wrap" }, toggle, menu));
  }

  function choose(action) {
    menuOpen = false;
    actionError.textContent = "";
    const chat = state.chats.get(state.open.id);
    if (NEEDS_AGENT.has(action)) startPicking(action);
    else if (CONFIRM.has(action)) {
      confirming = { action, text: help(action, chat) };
      renderHead();
      actions.querySelector("[data-confirm]")?.focus();
    } else run(action);
  }

  function confirmation() {
    const { action, agentId, force, text } = confirming;
    const label = force ? t(`action.anyway.${action}`) : t(`action.${action}`);
    return h("div", { class: "confirm", role: "group", "aria-label": t(`action.${action}`) },
      h("p", { class: "confirm-text" }, text),
      h("div", { class: "confirm-buttons" },
        h("button", { type: "button", class: "primary", "data-confirm": action, onclick: () => {
          confirming = null;
          run(action, agentId, force);
        } }, label),
        h("button", { type: "button", class: "cancel", onclick: () => {
          confirming = null;
          renderHead();
        } }, t("action.cancel"))));
  }

  function picker(chat) {
    const choices = byStatus(state.agents.filter((a) => a.id !== chat.assigned_agent_id));
    if (!choices.some((a) => String(a.id) === picked)) picked = "";
    const submit = h("button", { type: "submit", class: "primary", disabled: !picked }, t(`action.${picking}`));
    const control = h("select", { id: "agent-picker", "aria-describedby": "picker-help", onchange: () => {
      picked = control.value;
      submit.disabled = !picked;
    } },
    h("option", { value: "", disabled: true, selected: !picked }, t("action.chooseAgent")),
    choices.map((a) => h("option", { value: String(a.id), selected: String(a.id) === picked,
      "data-online": String(state.online.has(a.id)), "data-status": statusOf(a) }, agentChoice(a))));
    // Everyone's status at a glance: a coloured dot, the word and the load, online first.
    const people = h("ul", { class: "picker-people", "aria-label": t("availability.people") },
      choices.map((a) => h("li", { "data-status": statusOf(a), "data-agent": String(a.id) },
        h("span", { class: "status-dot", "data-status": statusOf(a), "aria-hidden": "true" }),
        h("span", { class: "picker-name" }, a.display_name),
        h("span", { class: "picker-status" }, t(`availability.${statusOf(a)}`)),
        h("span", { class: "picker-load" }, `${a.open_chats}/${a.capacity}`))));
    const form = h("form", { class: "picker", onsubmit: (event) => {
      event.preventDefault();
      if (!picked) return;
      const action = picking;
      picking = null;
      run(action, Number(picked));
    } },
    h("p", { class: "picker-help", id: "picker-help" }, help(picking, chat)),
    h("div", { class: "picker-row" },
      h("label", { for: "agent-picker" }, t("action.pickAgent")), control, submit,
      h("button", { type: "button", class: "cancel", onclick: () => { picking = null; renderHead(); } },
        t("action.cancel"))),
    people);
    queueMicrotask(() => { if (!picked) control.focus(); });
    return form;
  }

  async function startPicking(action) {
    picking = action;
    picked = "";
    await chats.loadAgents(); // current loads and who is online, for the picker
    renderHead();
  }

  async function run(action, agentId, force = false) {
    actionError.textContent = "";
    try {
      await chats.act(action, agentId, { force });
    } catch (error) {
      const canForce = error.details?.can_force ?? isAdmin();
      if (error.code === "agent_at_capacity" && canForce && !force && state.open) {
        confirming = { action, agentId, force: true, text: overCapacity(error.details || {}, agentId) };
        renderHead();
        actions.querySelector("[data-confirm]")?.focus();
        return;
      }
      actionError.textContent = t("action.failed", { action: t(`action.${action}`), error: error.message });
      renderHead();
    }
  }

  function closeMenu(event) {
    if (!menuOpen) return;
    if (event.type === "keydown" && event.key !== "Escape") return;
    if (event.type === "pointerdown" && event.target.closest?.(".more-wrap")) return;
    menuOpen = false;
    renderHead();
    if (event.type === "keydown") actions.querySelector(".more-actions")?.focus();
  }
  document.addEventListener("pointerdown", closeMenu);
  document.addEventListener("keydown", closeMenu);

  function renderMessages(change = {}) {
    const open = state.open;
    if (shownId !== (open?.id ?? null) && shownId !== null) {
      chats.releaseFiles(); // the files of the chat left behind
      closeViewer();
    }
    if (!open) {
      shownId = null;
      items.clear();
      list.replaceChildren();
      composer.reset();
      return;
    }
    if (shownId !== open.id) {
      items.clear();
      list.replaceChildren();
      shownId = open.id;
      picking = null;
      confirming = null;
      menuOpen = false;
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
    on("labels", renderHead),
    on("messages", renderMessages),
    on("typing", renderTyping),
    on("clock", () => composer.tick()), // WhatsApp's window closes as time passes
    on("pickTemplate", () => composer.pickTemplate()), // a conversation just started
  ];
  renderHead();
  renderMessages({ first: true });
  return () => {
    stops.forEach((stop) => stop());
    snooze.stop();
    document.removeEventListener("pointerdown", closeMenu);
    document.removeEventListener("keydown", closeMenu);
  };
}

/** What an action does to this chat, in one line (menu, confirmation, hover). */
function help(action, chat) {
  const specific = `help.${action}.${chat.mode}`;
  const text = t(specific);
  return text === specific ? t(`help.${action}`) : text;
}

/** What others see of `agent`: online, away or offline (presence.updated keeps it fresh). */
function statusOf(agent) {
  if (!state.online.has(agent.id)) return "offline";
  return agent.status === "away" || agent.availability === "away" ? "away"
    : agent.availability === "offline" ? "offline" : "online";
}

const RANK = { online: 0, away: 1, offline: 2 };

/** Online first, then away, then offline; the least loaded first within each. */
function byStatus(agents) {
  return [...agents].sort((a, b) => RANK[statusOf(a)] - RANK[statusOf(b)]
    || a.open_chats / Math.max(a.capacity, 1) - b.open_chats / Math.max(b.capacity, 1)
    || a.display_name.localeCompare(b.display_name));
}

/** "Ann · online · 3/8" for the agent picker. */
function agentChoice(agent) {
  const presence = t(`agent.${statusOf(agent)}`);
  return [agent.display_name, presence, t("action.load", { open: agent.open_chats, capacity: agent.capacity })]
    .join(" · ");
}

function overCapacity(details, agentId) {
  const agent = state.agents.find((a) => a.id === agentId) || {};
  return t("action.overCapacity", {
    name: details.name || details.agent_name || agent.display_name || `#${agentId}`,
    open: details.open_chats ?? details.open ?? details.load ?? agent.open_chats ?? "?",
    capacity: details.capacity ?? agent.capacity ?? "?",
  });
}

function backButton() {
  return h("button", { type: "button", class: "icon-button back", "aria-label": t("chat.back"),
    title: t("chat.back"), onclick: () => chats.closeChat() }, icon("back"));
}
