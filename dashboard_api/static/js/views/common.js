// Small pieces several views share: channel icons, mode badges, sender names.

import { h, icon } from "../dom.js";
import { t } from "../i18n.js";
import { state } from "../state.js";

// "API": a system of the desk's own posting through the API; "Widget": the website live chat.
export const CHANNELS = ["WhatsApp", "Telegram", "Email", "API", "Widget"];
export const MODES = ["bot", "agent", "paused", "closed"];

const CHANNEL_ICONS = { WhatsApp: "whatsapp", Telegram: "telegram", Email: "email", API: "api", Widget: "widget" };

/** A channel's name in the reader's language ("Website chat" for "Widget"). */
export function channelLabel(channel) {
  return CHANNEL_ICONS[channel] ? t(`channel.${channel}`) : channel;
}

export function channelIcon(channel) {
  const name = CHANNEL_ICONS[channel] || "chats";
  return h("span", { class: `channel channel-${name}`, "data-channel": channel }, icon(name, channelLabel(channel)));
}

export function modeBadge(chat) {
  const queued = chat.queued;
  const key = queued ? "queued" : chat.mode;
  return h("span", { class: `badge mode mode-${key}`, "data-mode": key }, t(`mode.${key}`));
}

export function agentName(id) {
  if (id === null || id === undefined) return "";
  if (id === state.user?.id) return state.user.display_name || state.user.username;
  const agent = state.agents.find((a) => a.id === id);
  return agent ? agent.display_name : `#${id}`;
}

/** "Budi: ..." / "You: ..." prefixes for the list preview. */
export function previewPrefix(last) {
  if (!last || last.sender === "customer") return "";
  return `${t(`sender.${last.sender}`)}: `;
}
