// The customer panel: who the customer is and how to reach them.

import { fill, h } from "../dom.js";
import { fullTime, t } from "../i18n.js";
import { on, state } from "../state.js";
import { agentName, channelIcon } from "./common.js";

export function mountPanel(root) {
  function render() {
    const open = state.open;
    const chat = open && state.chats.get(open.id);
    if (!chat || !open.profile) return fill(root);
    const profile = open.profile;
    const none = t("panel.none");
    const presence = chat.online
      ? h("span", { class: "presence online" }, t("panel.online"))
      : h("span", { class: "presence" }, t("panel.offline"));
    const rows = [
      ["name", chat.name],
      ["channel", h("span", { class: "with-icon" }, channelIcon(chat.channel), chat.channel)],
      ["phone", profile.phone],
      ["email", profile.email],
      ["address", profile.address],
      ["username", profile.username],
      ["subject", chat.subject],
      ["presence", presence],
      ["lastActive", when(profile.last_active_at)],
      ["created", when(chat.created_at)],
      ["agent", chat.assigned_agent_id ? chat.assigned_agent_name || agentName(chat.assigned_agent_id) : null],
      ["reason", chat.handoff_reason],
    ].filter(([key, value]) => value || ["phone", "email", "address"].includes(key));
    return fill(root,
      h("h2", { class: "panel-title" }, t("chat.panel")),
      h("dl", { class: "facts" }, rows.map(([key, value]) => [
        h("dt", {}, t(`panel.${key}`)),
        h("dd", { "data-field": key }, value || none),
      ])));
  }
  const stops = [on("open", render), on("chat", render), on("list", render)];
  render();
  return () => stops.forEach((stop) => stop());
}

function when(iso) {
  return iso ? h("time", { datetime: iso }, fullTime(iso)) : null;
}
