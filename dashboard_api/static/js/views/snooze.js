// Snooze in the console (issue 19): the chat header's Snooze menu, the "Snoozed until ..."
// banner with "Wake now", the wake time in the Snoozed list, and the snooze notes.

import * as chats from "../chats.js";
import { fill, h, icon } from "../dom.js";
import { fullTime, language, t } from "../i18n.js";
import { state } from "../state.js";

/** Whether `user` may snooze `chat`: one someone holds (agent or paused), theirs or an admin's. */
export function canSnooze(chat, user) {
  const holder = chat.assigned_agent_id ?? null;
  if (!(chat.mode === "agent" || chat.mode === "paused") || holder === null) return false;
  return user.role === "admin" || holder === user.id;
}

/** The menu's times, in the agent's local time: in an hour, tomorrow 9:00, next Monday 9:00. */
export function snoozeTimes(now = new Date()) {
  const day = (offset) => new Date(now.getFullYear(), now.getMonth(), now.getDate() + offset, 9, 0);
  const toMonday = (8 - now.getDay()) % 7 || 7; // the Monday after today
  return { hour: new Date(now.getTime() + 3600 * 1000), tomorrow: day(1), monday: day(toMonday) };
}

/** "Mon 09:00" (this week), "7 Dec, 09:00" later: when a snoozed chat wakes. */
export function wakeTime(iso) {
  const when = new Date(iso);
  const locale = language() === "id" ? "id-ID" : "en-GB";
  const days = (when.getTime() - Date.now()) / 86400000;
  const options = days < 6
    ? { weekday: "short", hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(locale, options).format(when);
}

/** The list row's stamp of a snoozed chat: when it wakes (or "until reply"). */
export function wakeStamp(chat) {
  if (!chat.snoozed_until) {
    return h("span", { class: "wakes" }, icon("clock"), h("span", {}, t("snooze.untilReplyShort")));
  }
  return h("time", { class: "wakes", datetime: chat.snoozed_until, title: fullTime(chat.snoozed_until) },
    icon("clock"), h("span", {}, wakeTime(chat.snoozed_until)));
}

const NOTES = new Set(["snoozed", "snooze_ended"]);

/** A snooze note in the reader's language (null: not a snooze note). */
export function snoozeNote(note) {
  if (!note || !NOTES.has(note.action)) return null;
  const by = note.by || t(`note.by.${note.by_kind}`);
  if (note.action === "snoozed") {
    return note.until
      ? t("snooze.note.snoozed", { by, time: fullTime(note.until) })
      : t("snooze.note.snoozedReply", { by });
  }
  const key = { time: "time", customer_replied: "customer", by_hand: "byHand" }[note.reason];
  return t(key ? `snooze.note.${key}` : "snooze.note.ended", { by });
}

/** The input's value for a datetime-local: the local time, to the minute. */
function localValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

/**
 * The header's Snooze menu and the banner; `update(chat)` on every redraw of the header.
 * `onError(text)` shows a failure where the actions show theirs.
 */
export function mountSnooze({ onError }) {
  let open = false;
  let picking = false;
  let shown = null;
  const toggle = h("button", { type: "button", class: "snooze-toggle", "aria-expanded": "false",
    "aria-controls": "snooze-menu", title: t("snooze.button"), onclick: () => setOpen(!open) },
  icon("clock"), h("span", { class: "snooze-label" }, t("snooze.button")));
  const menu = h("div", { class: "snooze-menu", id: "snooze-menu", hidden: true,
    role: "group", "aria-label": t("snooze.menu") });
  const control = h("div", { class: "snooze-wrap" }, toggle, menu);
  const bannerText = h("span", { class: "snooze-text" });
  const banner = h("div", { class: "snooze-banner", role: "status", hidden: true },
    icon("clock"), bannerText,
    h("button", { type: "button", class: "wake-now", onclick: () => run(() => chats.wake()) },
      t("snooze.wake")));

  function choice(name, when) {
    const hint = when && h("span", { class: "menu-help" }, fullTime(when.toISOString()));
    return h("button", { type: "button", class: "menu-item", "data-snooze": name,
      onclick: () => run(() => chats.snooze(when)) },
    h("span", { class: "menu-label" }, t(`snooze.${name}`)), hint);
  }

  function renderMenu() {
    const { hour, tomorrow, monday } = snoozeTimes();
    const input = h("input", { type: "datetime-local", id: "snooze-at", required: true,
      min: localValue(new Date()), value: localValue(tomorrow) });
    const form = h("form", { class: "snooze-pick", onsubmit: (event) => {
      event.preventDefault();
      const when = new Date(input.value); // the agent's local time
      if (Number.isNaN(when.getTime())) return;
      run(() => chats.snooze(when));
    } },
    h("label", { for: "snooze-at" }, t("snooze.pickLabel")), input,
    h("button", { type: "submit", class: "primary" }, t("snooze.button")));
    fill(menu,
      choice("hour", hour),
      choice("tomorrow", tomorrow),
      choice("monday", monday),
      h("button", { type: "button", class: "menu-item", "data-snooze": "pick", "aria-expanded": String(picking),
        onclick: () => { picking = !picking; renderMenu(); if (picking) input.focus(); } },
      h("span", { class: "menu-label" }, t("snooze.pick"))),
      picking && form,
      choice("reply", null));
  }

  function setOpen(value) {
    open = value;
    if (!open) picking = false;
    menu.hidden = !open;
    toggle.setAttribute("aria-expanded", String(open));
    if (open) {
      renderMenu();
      menu.querySelector("[data-snooze]")?.focus();
    }
  }

  async function run(action) {
    setOpen(false);
    onError("");
    try {
      await action();
    } catch (error) {
      onError(t("snooze.failed", { error: error.message }));
    }
  }

  function closeOnOutside(event) {
    if (!open) return;
    if (event.type === "keydown" && event.key !== "Escape") return;
    if (event.type === "pointerdown" && event.target.closest?.(".snooze-wrap")) return;
    setOpen(false);
    if (event.type === "keydown") toggle.focus();
  }
  document.addEventListener("pointerdown", closeOnOutside);
  document.addEventListener("keydown", closeOnOutside);

  function update(chat) {
    if (!chat) {
      banner.hidden = true;
      control.hidden = true;
      return;
    }
    if (shown !== chat.id) setOpen(false); // another chat: the menu closes
    shown = chat.id;
    control.hidden = !canSnooze(chat, state.user);
    banner.hidden = !chat.snoozed;
    toggle.classList.toggle("is-snoozed", Boolean(chat.snoozed));
    bannerText.textContent = chat.snoozed_until
      ? t("snooze.until", { time: fullTime(chat.snoozed_until) })
      : t("snooze.untilReply");
    banner.querySelector(".wake-now").hidden = !canSnooze(chat, state.user);
  }

  function stop() {
    document.removeEventListener("pointerdown", closeOnOutside);
    document.removeEventListener("keydown", closeOnOutside);
  }

  return { control, banner, update, stop };
}
