// The contact panel: the contact of the open chat (views/contact.js: identities, attributes,
// notes, conversations, merge suggestions and undo) and the facts of this chat.

import * as contacts from "../contacts.js";
import { fill, h, icon } from "../dom.js";
import { ago, fullTime, t } from "../i18n.js";
import { on, state } from "../state.js";
import { agentName, channelIcon, channelLabel } from "./common.js";
import { contactView } from "./contact.js";
import { reasonText, unverifiedMark } from "./messages.js";

export function mountPanel(root, { onClose, onOpenChat }) {
  const facts = h("div", { class: "panel-facts" });
  const contact = contactView({ mode: "panel", currentChatId: () => state.open?.id ?? null, onOpenChat });
  const contactPart = h("div", { class: "panel-contact" }, contact.element);
  const head = h("div", { class: "panel-head" },
    h("h2", { class: "panel-title" }, t("contacts.panelTitle")),
    h("button", { type: "button", class: "icon-button panel-close", "aria-label": t("panel.close"),
      title: t("panel.close"), onclick: onClose }, icon("close")));
  fill(root, head, contactPart, facts);

  let shownChat = null;
  function render() {
    const open = state.open;
    const chat = open && state.chats.get(open.id);
    if (!chat || !open.profile) {
      fill(facts);
      contact.show(null);
      return;
    }
    const contactId = typeof chat.contact_id === "number" ? chat.contact_id : null;
    if (open.id !== shownChat) {
      // Another chat opened: its contact afresh (conversations and suggestions move on).
      shownChat = open.id;
      if (contactId !== null) contacts.loadContact(contactId).catch(() => {});
    }
    contact.show(contactId);
    const profile = open.profile;
    const none = t("panel.none");
    const rows = [
      ["verified", chat.sender_unverified && h("span", { class: "unverified-fact" },
        unverifiedMark(null), h("span", { class: "hint" }, t("panel.unverifiedHint")))],
      ["name", chat.name],
      ["channel", h("span", { class: "with-icon" }, channelIcon(chat.channel), channelLabel(chat.channel))],
      ["phone", profile.phone],
      ["email", profile.email && email(profile.email)],
      ["address", profile.address],
      ["username", profile.username],
      ["subject", chat.subject],
      ["presence", presence(chat, profile)],
      ["lastActive", chat.channel === "Email" && when(profile.last_active_at)],
      ["created", when(chat.created_at)],
      ["agent", chat.assigned_agent_id ? chat.assigned_agent_name || agentName(chat.assigned_agent_id) : null],
      ["reason", handoffReason(chat, open)],
    ].filter(([key, value]) => value || ["phone", "email", "address"].includes(key));
    fill(facts,
      h("h3", { class: "panel-sub", id: "panel-this-chat" }, t("contacts.thisChatFacts")),
      h("dl", { class: "facts", "aria-labelledby": "panel-this-chat" }, rows.map(([key, value]) => [
        h("dt", {}, t(`panel.${key}`)),
        h("dd", { "data-field": key }, value || none),
      ])));
  }
  const stops = [on("open", render), on("chat", render), on("list", render), on("clock", render),
    on("messages", render), contact.destroy];
  render();
  return () => stops.forEach((stop) => stop());
}

function when(iso) {
  return iso ? h("time", { datetime: iso }, fullTime(iso)) : null;
}

/**
 * Online now, or when the customer was last active ("last active 5 minutes ago"). Email has
 * no presence: nothing is shown (the panel's "Last active" row says when they last wrote).
 * profile.lastActive is "Online", an ISO time, or "Offline" (older data).
 */
function presence(chat, profile) {
  if (chat.channel === "Email") return null;
  const last = profile.lastActive;
  // online_until (when the server gives it) lets the panel go from "Online" to "last active
  // 5 minutes ago" while it is open.
  const online = chat.online_until ? Date.parse(chat.online_until) > Date.now()
    : last === "Online" || (last === undefined && chat.online);
  if (online) {
    return h("span", { class: "presence online" }, t("panel.online"));
  }
  const iso = last && last !== "Online" && last !== "Offline" && !Number.isNaN(Date.parse(last));
  const since = iso ? last : profile.last_active_at;
  if (since) {
    return h("span", { class: "presence" },
      h("time", { datetime: since, title: fullTime(since) }, t("panel.lastActiveAgo", { time: ago(since) })));
  }
  return h("span", { class: "presence" }, t("panel.offline"));
}

/**
 * An address that wraps after its "@" or a dot of its domain (inside a part only when one is
 * longer than the whole line), in full on hover.
 */
function email(address) {
  const at = address.lastIndexOf("@");
  if (at < 0) return h("span", { class: "email", title: address }, address);
  const domain = address.slice(at + 1).split(".");
  return h("span", { class: "email", title: address },
    address.slice(0, at + 1), domain.map((part, i) => [h("wbr"), i ? `.${part}` : part]));
}

/**
 * Why the chat went to a human, in the reader's language: by the row's handoff_reason_code,
 * or the note of that change when it is loaded, else the recorded English text.
 */
function handoffReason(chat, open) {
  const recorded = chat.handoff_reason;
  if (!recorded) return null;
  if (chat.handoff_reason_code) return reasonText({ reason: chat.handoff_reason_code, reason_text: recorded });
  const notes = [...open.messages.values()].filter((m) => m.note).sort((a, b) => b.id - a.id);
  const note = notes.find((m) => (m.note.reason_text || "").slice(0, 255) === recorded)?.note;
  if (note) return reasonText(note);
  const action = t(`reason.${recorded}`);
  return action === `reason.${recorded}` ? recorded : action;
}
