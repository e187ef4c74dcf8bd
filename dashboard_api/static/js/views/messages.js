// One message as the chat window shows it: sender style, text, attachments, delivery tick.

import { attachmentUrl } from "../chats.js";
import { h, icon } from "../dom.js";
import { clock, fullTime, t } from "../i18n.js";
import { agentName } from "./common.js";

const TICKS = { queued: "clock", sent: "check", delivered: "checks", read: "checks", failed: "alert" };

export function renderMessage(li, message) {
  const outbound = message.sender !== "customer" && !message.internal;
  li.className = [
    "msg",
    `msg-${message.sender}`,
    message.internal ? "msg-internal" : "",
    outbound ? "msg-out" : "msg-in",
    message.status === "failed" ? "msg-failed" : "",
    message.sender_unverified ? "msg-unverified" : "",
  ].filter(Boolean).join(" ");
  li.dataset.messageId = String(message.id);
  li.dataset.sender = message.sender;
  li.dataset.status = message.status;
  li.replaceChildren(
    h("div", { class: "bubble" },
      h("span", { class: "who" }, who(message)),
      message.sender_unverified && unverifiedMark(message.sender_auth),
      (message.note || message.text) && h("p", { class: "text" }, noteText(message) ?? message.text),
      attachments(message),
      h("span", { class: "meta" },
        h("time", { datetime: message.created_at, title: fullTime(message.created_at) },
          clock(message.created_at) || message.time),
        outbound && tick(message))),
  );
  return li;
}

const NOTES = new Set(["handoff", "take_over", "assign", "claim", "transfer", "unassign", "pause",
  "resume", "return_to_bot", "close", "reopen", "reopen_to_bot", "customer_wrote"]);
const REASONS = new Set(["automatic", "over_capacity", "customer_asked", "intent_handoff",
  "not_understood", "bot_unavailable", "external_bot"]);

/**
 * A system note in the reader's language, from its data (message.note: action, by, by_kind,
 * to, from, reason, reason_text); null when there is none or it is of an unknown kind (then
 * the message's English text is shown).
 */
export function noteText(message) {
  const note = message.note;
  if (!note || typeof note !== "object" || !NOTES.has(note.action)) return null;
  const by = note.by || t(`note.by.${note.by_kind}`);
  const reason = reasonText(note);
  return t(`note.${note.action}`, {
    by: by.startsWith("note.by.") ? note.by_kind || t("note.nobody") : by,
    to: note.to || t("note.nobody"),
    from: note.from || t("note.nobody"),
    reason: reason ? t("note.reason", { reason }) : "",
  });
}

/** A reason code in the reader's language; an unknown one as the English text recorded. */
export function reasonText(note) {
  if (note.reason && REASONS.has(note.reason)) {
    const text = t(`reason.${note.reason}`);
    const away = /outside business hours/.test(note.reason_text || "");
    return away ? `${text}; ${t("reason.outOfHours")}` : text;
  }
  return note.reason_text || note.reason || "";
}

/**
 * "Unverified sender": the mail's From domain did not vouch for it (no aligned DKIM or SPF
 * pass, or DNS failed): it may not come from who the address says. The details on hover.
 */
export function unverifiedMark(auth) {
  const result = auth && auth.result === "temperror" ? "temperror" : "fail";
  const details = auth && auth.reason ? ` (${auth.reason})` : "";
  const title = `${t(`auth.${result}`)}${details}`;
  return h("span", { class: "unverified-mark", title, "data-auth": result },
    icon("alert"), h("span", {}, t("auth.unverified")));
}

function who(message) {
  if (message.internal) return t("chat.internal");
  if (message.sender === "agent" && message.agent_id) return agentName(message.agent_id);
  return t(`sender.${message.sender}`);
}

function tick(message) {
  const status = message.status;
  const label = t(`status.${status}`);
  const title = status === "failed" && message.error ? `${label}: ${message.error}` : label;
  return h("span", { class: `tick tick-${status}`, title, "data-status": status },
    icon(TICKS[status] || "clock", title));
}

function attachments(message) {
  const items = message.attachments || [];
  if (!items.length) return null;
  return h("ul", { class: "attachments" },
    items.map((item, index) => h("li", {}, attachment(message, item, index))));
}

function attachment(message, item, index) {
  const meta = item.meta || {};
  const kind = item.kind || "file";
  const size = item.size ? ` (${formatSize(item.size)})` : "";
  if (kind === "location") {
    const where = [item.name, meta.address].filter(Boolean).join(", ");
    const at = meta.latitude !== undefined ? `${meta.latitude}, ${meta.longitude}` : "";
    return chip("location", [t("attach.location"), where, at].filter(Boolean).join(" · "), meta.url);
  }
  if (kind === "contact") {
    const phones = (meta.phones || []).join(", ");
    return chip("contact", [t("attach.contact"), item.name, phones].filter(Boolean).join(" · "));
  }
  const name = item.name || `${kind}${item.mime_type ? ` · ${item.mime_type}` : ""}`;
  const label = chip(kind === "image" ? "image" : "clip", `${name}${size}`);
  if (!item.ref && !item.file) return label;
  if (kind === "image") return thumbnail(message, index, name, label);
  const button = h("button", { type: "button", class: "chip download", title: t("attach.download", { name }),
    onclick: () => download(message, index, name, button) }, icon("clip"), h("span", {}, `${name}${size}`));
  return button;
}

// An image msgcenter keeps: fetched with the token, shown as a thumbnail linking to itself.
function thumbnail(message, index, name, label) {
  const image = h("img", { alt: name });
  const link = h("a", { class: "thumb", target: "_blank", rel: "noopener", hidden: true }, image);
  attachmentUrl(message, index).then((url) => {
    image.src = url;
    link.href = url;
    link.hidden = false;
    label.hidden = true;
  }).catch((error) => {
    label.title = error.message; // e.g. the provider keeps this file
  });
  return [link, label];
}

async function download(message, index, name, button) {
  try {
    const save = h("a", { href: await attachmentUrl(message, index), download: name, hidden: true });
    document.body.append(save);
    save.click();
    save.remove();
  } catch (error) {
    button.title = t("attach.unavailable", { error: error.message });
    button.classList.add("unavailable");
  }
}

function chip(iconName, text, url) {
  const safe = typeof url === "string" && /^(https?:\/\/|\/(?!\/))/.test(url) ? url : null;
  const body = [icon(iconName), h("span", {}, text)];
  if (safe) {
    return h("a", { class: "chip", href: safe, target: "_blank", rel: "noopener noreferrer" }, body);
  }
  return h("span", { class: "chip" }, body);
}

function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
