// One message as the chat window shows it: sender style, text, attachments, delivery tick.

import { attachmentUrl } from "../chats.js";
import * as copilot from "../copilot.js";
import { h, icon } from "../dom.js";
import { clock, fullTime, t } from "../i18n.js";
import { state } from "../state.js";
import { agentName } from "./common.js";
import { snoozeNote } from "./snooze.js";
import { openViewer } from "./viewer.js";

const TICKS = { queued: "clock", sent: "check", delivered: "checks", read: "checks", failed: "alert" };

export function renderMessage(li, message) {
  const outbound = message.sender !== "customer" && !message.internal;
  li.className = [
    "msg",
    `msg-${message.sender}`,
    message.internal ? "msg-internal" : "",
    isNote(message) ? "msg-note" : "",
    outbound ? "msg-out" : "msg-in",
    message.status === "failed" ? "msg-failed" : "",
    message.sender_unverified ? "msg-unverified" : "",
  ].filter(Boolean).join(" ");
  li.dataset.messageId = String(message.id);
  li.dataset.sender = message.sender;
  li.dataset.status = message.status;
  li.replaceChildren(
    h("div", { class: "bubble" },
      isNote(message)
        ? h("span", { class: "who" }, h("span", { class: "note-tag" }, icon("note"), t("notes.tag")),
          h("span", { class: "note-author" }, message.agent_id ? agentName(message.agent_id) : t("copilot.author")))
        : h("span", { class: "who" }, who(message)),
      message.sender_unverified && unverifiedMark(message.sender_auth),
      (message.note || message.text) && h("p", { class: "text" }, textWithImages(message)),
      attachmentsOf(li, message),
      sourcesOf(message),
      translation(li, message),
      h("span", { class: "meta" },
        translateButton(li, message),
        h("time", { datetime: message.created_at, title: fullTime(message.created_at) },
          clock(message.created_at) || message.time),
        outbound && tick(message))),
  );
  return li;
}

const NOTES = new Set(["handoff", "take_over", "assign", "claim", "transfer", "unassign", "pause",
  "resume", "return_to_bot", "close", "reopen", "reopen_to_bot", "customer_wrote"]);
const REASONS = new Set(["automatic", "over_capacity", "customer_asked", "intent_handoff",
  "not_understood", "bot_unavailable", "external_bot", "agent_offline", "agent_deactivated",
  "model_handoff", "topic", "no_answer", "budget"]);

/**
 * A system note in the reader's language, from its data (message.note: action, by, by_kind,
 * to, from, reason, reason_text); null when there is none or it is of an unknown kind (then
 * the message's English text is shown).
 */
export function noteText(message) {
  const note = message.note;
  if (note && typeof note === "object" && snoozeNote(note)) return snoozeNote(note);
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

/**
 * The knowledge-base articles an answer of the AI assistant used ("Sources: Refund policy"),
 * for agents only; nothing for other messages.
 */
function sourcesOf(message) {
  const sources = Array.isArray(message.sources) ? message.sources : [];
  if (!sources.length) return null;
  const titles = sources.map((source) => String(source.title || `#${source.id}`)).join(", ");
  return h("p", { class: "sources", "data-sources": sources.map((s) => s.id).join(",") },
    icon("file"), h("span", {}, t("msg.sources", { titles })));
}

/** Whether the copilot offers to translate `message`: a customer's, with text. */
function translatable(message) {
  return message.sender === "customer" && Boolean(message.text) && copilot.available();
}

/** Redraw the message (its translation came), and bring what was added into view. */
function redrawer(li, message) {
  return () => {
    renderMessage(li, state.open?.messages.get(message.id) || message);
    li.querySelector(".translation")?.scrollIntoView({ block: "nearest" });
  };
}

/** The copilot's Translate of a customer's message, beside its time, until it was asked. */
function translateButton(li, message) {
  if (!translatable(message) || copilot.translationOf(message.id)) return null;
  return h("button", { type: "button", class: "link translate-message", "data-translate": String(message.id),
    title: t("copilot.translateTitle"), onclick: () => copilot.translateMessage(message, redrawer(li, message)) },
  icon("globe"), t("copilot.translate"));
}

/** The translation of a customer's message under its text (in the agent's language). */
function translation(li, message) {
  const shown = translatable(message) && copilot.translationOf(message.id);
  if (!shown) return null;
  if (shown.status === "loading") return h("p", { class: "translation", role: "status" }, t("copilot.translating"));
  if (shown.status === "failed") {
    return h("p", { class: "translation failed", role: "alert" }, shown.error, " ",
      h("button", { type: "button", class: "link",
        onclick: () => copilot.translateMessage(message, redrawer(li, message)) }, t("copilot.retry")));
  }
  return h("p", { class: "translation", lang: shown.to },
    h("span", { class: "translation-label" }, t("copilot.translation", { language: copilot.languageName(shown.to) })),
    h("span", { class: "translation-text" }, shown.text));
}

/** A private note a person wrote (not a system note about a change). */
export function isNote(message) {
  return Boolean(message.internal) && message.sender === "agent";
}

function who(message) {
  if (message.internal) return t("chat.internal");
  if (message.sender === "agent" && message.agent_id) return agentName(message.agent_id);
  if (message.sender === "agent" && message.author) return t("sender.integration", { name: message.author });
  return t(`sender.${message.sender}`);
}

function tick(message) {
  const status = message.status;
  const label = t(`status.${status}`);
  const title = status === "failed" && message.error ? `${label}: ${message.error}` : label;
  return h("span", { class: `tick tick-${status}`, title, "data-status": status },
    icon(TICKS[status] || "clock", title));
}

const MARKER = /\[image: ([^[\]\n]+)\]/g;

/**
 * A mail's inline images (meta.inline, stored) whose "[image: name]" marker is in the text:
 * name -> index. They are shown in place, not with the other attachments.
 */
function placedImages(message) {
  const placed = new Map();
  if (message.note || !message.text) return placed;
  const names = new Set([...message.text.matchAll(MARKER)].map((match) => match[1]));
  (message.attachments || []).forEach((item, index) => {
    if (item.meta?.inline && item.filename && names.has(item.filename) && !placed.has(item.filename)) {
      placed.set(item.filename, index);
    }
  });
  return placed;
}

/** The message's text, with each "[image: name]" of a mail replaced by that image. */
function textWithImages(message) {
  const text = noteText(message) ?? message.text;
  const placed = placedImages(message);
  if (!placed.size) return text;
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(MARKER)) {
    const index = placed.get(match[1]);
    if (index === undefined) continue;
    // The image is a block of its own: the line breaks around its marker would only add space.
    parts.push(text.slice(last, match.index).replace(/\n+$/, ""));
    parts.push(h("span", { class: "inline-image" }, attachment(message.attachments[index])));
    last = match.index + match[0].length;
    while (text[last] === "\n") last += 1;
  }
  parts.push(text.slice(last));
  return parts;
}

const drawnFiles = new WeakMap(); // <li> -> {key, node}: its attachments as last drawn

/**
 * The attachments of a message, redrawn only when they changed: a delivery tick or an edit
 * leaves a playing voice note, a loaded image and their blob: URLs alone.
 */
function attachmentsOf(li, message) {
  const placed = new Set(placedImages(message).values());
  const key = JSON.stringify([message.attachments || [], [...placed]]);
  const kept = drawnFiles.get(li);
  if (kept && kept.key === key) return kept.node;
  const node = attachments(message, placed);
  drawnFiles.set(li, { key, node });
  return node;
}

function attachments(message, placed = new Set()) {
  const items = (message.attachments || []).filter((_, index) => !placed.has(index));
  if (!items.length) return null;
  return h("ul", { class: "attachments" },
    items.map((item) => h("li", { "data-status": item.status || null, "data-kind": item.kind || null },
      attachment(item))));
}

/**
 * One attachment of the message JSON ({kind, filename, content_type, size, status, error,
 * url, inline, meta?}): places and contacts from meta; files by status: "pending" (being
 * fetched from the provider), "failed" (with its reason), "stored" (url set): images as
 * thumbnails opening a viewer, audio and video as players, anything else as a download chip.
 */
function attachment(item) {
  const meta = item.meta || {};
  const kind = item.kind || "file";
  if (kind === "location") {
    const where = [item.filename || item.name, meta.address].filter(Boolean).join(", ");
    const at = meta.latitude !== undefined ? `${meta.latitude}, ${meta.longitude}` : "";
    return chip("location", [t("attach.location"), where, at].filter(Boolean).join(" · "), meta.url);
  }
  if (kind === "contact") {
    const phones = (meta.phones || []).join(", ");
    return chip("contact", [t("attach.contact"), item.filename || item.name, phones].filter(Boolean).join(" · "));
  }
  const name = item.filename || kindName(kind);
  const facts = fileFacts(item);
  if (item.status === "pending") {
    return h("span", { class: "chip file-pending", role: "status" },
      h("span", { class: "spinner", "aria-hidden": "true" }),
      h("span", { class: "file-name" }, name),
      h("span", { class: "file-facts" }, t("attach.fetching")));
  }
  if (item.status === "failed" || (item.status === "stored" && !item.url)) {
    return h("span", { class: "chip file-failed" }, icon("alert"),
      h("span", { class: "file-name" }, name),
      h("span", { class: "file-facts" }, t("attach.failed", { error: item.error || t("attach.noReason") })));
  }
  if (!item.url) return chip(kind === "image" ? "image" : "clip", [name, facts].filter(Boolean).join(" · "));
  const type = item.content_type || "";
  if (item.inline && type.startsWith("image/")) return thumbnail(item, name);
  if (item.inline && (type.startsWith("audio/") || type.startsWith("video/"))) {
    return player(item, name, type.startsWith("video/") ? "video" : "audio");
  }
  return fileChip(item, name, facts);
}

function kindName(kind) {
  const key = `attach.kind.${kind}`;
  const text = t(key);
  return text === key ? t("attach.file") : text;
}

/** "PDF · 120 KB" for a chip: the type, short, and the size. */
function fileFacts(item) {
  return [typeName(item.content_type), item.size ? formatSize(item.size) : ""].filter(Boolean).join(" · ");
}

const TYPE_NAMES = {
  "application/pdf": "PDF",
  "application/zip": "ZIP",
  "application/msword": "Word",
  "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word",
  "application/vnd.ms-excel": "Excel",
  "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel",
  "application/vnd.ms-powerpoint": "PowerPoint",
  "application/vnd.openxmlformats-officedocument.presentationml.presentation": "PowerPoint",
  "text/plain": "Text",
  "audio/mpeg": "MP3",
  "audio/mp4": "M4A",
  "audio/ogg": "Ogg",
  "audio/wav": "WAV",
  "video/3gpp": "3GPP",
  "text/csv": "CSV",
};

export function typeName(type) {
  if (!type) return "";
  const bare = type.split(";")[0].trim().toLowerCase();
  if (TYPE_NAMES[bare]) return TYPE_NAMES[bare];
  const sub = bare.split("/")[1] || bare;
  return sub.length <= 5 ? sub.toUpperCase() : bare;
}

/** A file to download: its name, type and size; a click fetches it with the token and saves it. */
function fileChip(item, name, facts) {
  const status = h("span", { class: "file-facts" }, facts);
  const button = h("button", { type: "button", class: "chip download", title: t("attach.download", { name }),
    "aria-label": [t("attach.download", { name }), facts].filter(Boolean).join(", "),
    onclick: () => download(item, name, button, status) },
  icon("clip"), h("span", { class: "file-name" }, name), status);
  return button;
}

/**
 * Fetch media once it comes near the screen (the thread may hold many): within 400 px of
 * what the thread's scroller shows. Observed once drawn, against that scroller (the
 * viewport's margin would not reach past the scroller's edge).
 */
function whenNear(el, load) {
  if (!("IntersectionObserver" in window)) return load();
  requestAnimationFrame(() => {
    const watcher = new IntersectionObserver((entries) => {
      if (entries.some((entry) => entry.isIntersecting)) {
        watcher.disconnect();
        load();
      }
    }, { root: el.closest(".messages"), rootMargin: "400px 0px" });
    watcher.observe(el);
  });
  return undefined;
}

// An image msgcenter keeps: fetched with the token, a thumbnail that opens the viewer.
function thumbnail(item, name) {
  const image = h("img", { alt: name });
  const button = h("button", { type: "button", class: "thumb loading",
    "aria-label": t("attach.view", { name }), title: t("attach.view", { name }),
    onclick: () => attachmentUrl(item.url).then((url) => openViewer({ url, name, trigger: button })) },
  image);
  whenNear(button, () => attachmentUrl(item.url).then((url) => {
    image.src = url;
    button.classList.remove("loading");
  }).catch((error) => {
    button.replaceWith(h("span", { class: "chip file-failed" }, icon("alert"),
      h("span", { class: "file-name" }, name),
      h("span", { class: "file-facts" }, t("attach.unavailable", { error: error.message }))));
  }));
  return button;
}

// Audio and video: the browser's own player over the fetched file, with a download chip.
function player(item, name, tag) {
  const media = h(tag, { controls: true, preload: "metadata", class: `player player-${tag}`,
    "aria-label": name, title: name });
  whenNear(media, () => attachmentUrl(item.url).then((url) => {
    media.src = url;
  }).catch((error) => {
    media.replaceWith(h("span", { class: "chip file-failed" }, icon("alert"),
      h("span", { class: "file-name" }, name),
      h("span", { class: "file-facts" }, t("attach.unavailable", { error: error.message }))));
  }));
  return h("div", { class: `media media-${tag}` }, media, fileChip(item, name, fileFacts(item)));
}

async function download(item, name, button, status) {
  button.classList.add("busy");
  try {
    saveAs(await attachmentUrl(item.url), name);
    button.classList.remove("unavailable");
  } catch (error) {
    const reason = t("attach.unavailable", { error: error.message });
    button.title = reason;
    status.textContent = reason;
    button.classList.add("unavailable");
  } finally {
    button.classList.remove("busy");
  }
}

/** Save a blob: URL under `name` (a temporary <a download>). */
export function saveAs(url, name) {
  const save = h("a", { href: url, download: name, hidden: true });
  document.body.append(save);
  save.click();
  save.remove();
}

function chip(iconName, text, url) {
  const safe = typeof url === "string" && /^(https?:\/\/|\/(?!\/))/.test(url) ? url : null;
  const body = [icon(iconName), h("span", {}, text)];
  if (safe) {
    return h("a", { class: "chip", href: safe, target: "_blank", rel: "noopener noreferrer" }, body);
  }
  return h("span", { class: "chip" }, body);
}

/** 512 B, 120 KB, 4.2 MB */
export function formatSize(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}
