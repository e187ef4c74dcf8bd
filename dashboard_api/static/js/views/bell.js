// The bell in the header: the unread count, and a menu of the newest notifications (click
// one: its chat opens and it is marked read; "Mark all read"; a button that asks the browser
// for permission to show notifications, which needs the user's click).

import { h, icon } from "../dom.js";
import { ago, fullTime, t } from "../i18n.js";
import * as notifications from "../notifications.js";
import { on, state } from "../state.js";

const narrow = window.matchMedia("(max-width: 640px)");

export function mountBell(root, { onOpen }) {
  const count = h("span", { class: "bell-count", "aria-hidden": "true" });
  const button = h("button", { type: "button", id: "bell", class: "icon-button bell", "aria-haspopup": "true",
    "aria-expanded": "false", "aria-controls": "bell-menu", onclick: () => toggle() }, icon("bell"), count);
  const list = h("ul", { class: "bell-list" });
  const readAll = h("button", { type: "button", class: "link bell-read-all", onclick: () => notifications.markAllRead() },
    t("notify.readAll"));
  const allow = h("button", { type: "button", class: "link bell-allow", onclick: () => askPermission() },
    t("notify.allow"));
  const more = h("button", { type: "button", class: "link bell-more", onclick: () => notifications.loadMore() },
    t("notify.more"));
  const menu = h("div", { id: "bell-menu", class: "bell-menu", role: "region", "aria-label": t("notify.title"), hidden: true },
    h("div", { class: "bell-head" }, h("strong", {}, t("notify.title")), readAll),
    list, more, h("div", { class: "bell-foot" }, allow));
  root.replaceChildren(h("div", { class: "bell-wrap" }, button, menu));

  function toggle(open = menu.hidden) {
    menu.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
    // On a phone the menu spans the screen, just under the bell (the header may wrap).
    menu.style.top = open && narrow.matches ? `${Math.round(button.getBoundingClientRect().bottom + 6)}px` : "";
    if (open) render();
  }

  async function askPermission() {
    await notifications.askPermission();
    render();
  }

  function render() {
    const { items, unread } = state.notifications;
    count.textContent = unread > 99 ? "99+" : String(unread);
    count.hidden = unread === 0;
    const label = unread ? t("notify.unread", { count: unread }) : t("notify.title");
    button.setAttribute("aria-label", label);
    button.title = label;
    readAll.disabled = unread === 0;
    more.hidden = !state.notifications.next;
    const permission = notifications.permission();
    allow.hidden = permission !== "default";
    if (menu.hidden) return;
    if (!items.length) {
      list.replaceChildren(h("li", { class: "bell-empty" }, t("notify.none")));
      return;
    }
    list.replaceChildren(...items.map((item) => h("li", {},
      h("button", { type: "button", class: `bell-item${item.read ? "" : " unread"}`, "data-id": String(item.id),
        "data-kind": item.kind, onclick: () => open(item) },
        h("span", { class: "bell-text" }, notifications.describe(item)),
        item.data?.text && h("span", { class: "bell-preview" }, item.data.text),
        h("time", { datetime: item.created_at, title: fullTime(item.created_at) }, ago(item.created_at))))));
  }

  function open(item) {
    toggle(false);
    notifications.markRead(item).catch(() => {});
    if (item.chat_id) onOpen(item.chat_id);
  }

  const onKey = (event) => {
    if (event.key === "Escape" && !menu.hidden) {
      toggle(false);
      button.focus();
    }
  };
  const onPointer = (event) => {
    if (!menu.hidden && !root.contains(event.target)) toggle(false);
  };
  document.addEventListener("keydown", onKey);
  document.addEventListener("pointerdown", onPointer);
  const stops = [on("notifications", render), on("clock", render),
    on("notification.open", (item) => open(item))];
  render();
  notifications.title();
  return () => {
    stops.forEach((stop) => stop());
    document.removeEventListener("keydown", onKey);
    document.removeEventListener("pointerdown", onPointer);
  };
}
