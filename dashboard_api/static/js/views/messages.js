// One message as the chat window shows it: sender style, text, attachments, delivery tick.

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
  ].filter(Boolean).join(" ");
  li.dataset.messageId = String(message.id);
  li.dataset.sender = message.sender;
  li.dataset.status = message.status;
  li.replaceChildren(
    h("div", { class: "bubble" },
      h("span", { class: "who" }, who(message)),
      message.text && h("p", { class: "text" }, message.text),
      attachments(message.attachments || []),
      h("span", { class: "meta" },
        h("time", { datetime: message.created_at, title: fullTime(message.created_at) },
          clock(message.created_at) || message.time),
        outbound && tick(message))),
  );
  return li;
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

function attachments(items) {
  if (!items.length) return null;
  return h("ul", { class: "attachments" }, items.map((item) => h("li", {}, attachment(item))));
}

function attachment(item) {
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
  return chip(kind === "image" ? "image" : "clip", `${name}${size}`, item.url);
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
