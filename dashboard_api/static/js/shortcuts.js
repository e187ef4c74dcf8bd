// Keyboard shortcuts, and the overlay that lists them ("?"). They act only when the focus is
// not in a field (input, textarea, select, editable text), except Escape; none uses Ctrl or
// Cmd (the browser's), only Alt with the arrows.
//
//   j, Alt+Down    next chat in the list          k, Alt+Up   previous chat
//   r              reply: the composer            n           a private note (#note-toggle)
//   /              a canned response: the composer with "/" typed (the picker opens)
//   Shift+C        close the chat                 a           assign or transfer
//   ?              this list                      Escape      close a list or picker; leave the composer

import * as chats from "./chats.js";
import { h, icon } from "./dom.js";
import { t } from "./i18n.js";
import { listRows, on, state } from "./state.js";

// [keys shown, what it does], in the overlay's order.
export const SHORTCUTS = [
  [["j", "Alt+↓"], "shortcuts.next"],
  [["k", "Alt+↑"], "shortcuts.previous"],
  [["r"], "shortcuts.reply"],
  [["n"], "shortcuts.note"],
  [["/"], "shortcuts.canned"],
  [["Shift+C"], "shortcuts.close"],
  [["a"], "shortcuts.assign"],
  [["?"], "shortcuts.help"],
  [["Esc"], "shortcuts.escape"],
];

/** Whether the focus is where keys type text (shortcuts stay out of the way there). */
function typing(target) {
  if (!(target instanceof Element)) return false;
  return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable=true]"));
}

/** Listen for the shortcuts on the document and put the overlay in `root`; returns the stop. */
export function mountShortcuts(root) {
  const close = h("button", { type: "button", class: "icon-button shortcuts-close", "aria-label": t("shortcuts.closeList"),
    title: t("shortcuts.closeList"), onclick: () => hide() }, icon("close"));
  const dialog = h("div", { class: "shortcuts-dialog", role: "dialog", "aria-modal": "true",
    "aria-labelledby": "shortcuts-heading", id: "shortcuts" },
  h("div", { class: "shortcuts-head" }, h("h2", { id: "shortcuts-heading" }, t("shortcuts.heading")), close),
  h("p", { class: "shortcuts-intro" }, t("shortcuts.intro")),
  h("dl", { class: "shortcuts-list" }, SHORTCUTS.map(([keys, label]) => h("div", { class: "shortcut" },
    h("dt", {}, keys.map((key, index) => [index ? h("span", { class: "or" }, t("shortcuts.or")) : null,
      h("kbd", {}, key)])),
    h("dd", {}, t(label))))));
  const overlay = h("div", { class: "shortcuts-overlay", hidden: true,
    onclick: (event) => { if (event.target === overlay) hide(); } }, dialog);
  root.append(overlay);
  let returnTo = null;

  function show() {
    if (!overlay.hidden) return;
    returnTo = document.activeElement;
    overlay.hidden = false;
    close.focus();
  }

  function hide() {
    if (overlay.hidden) return;
    overlay.hidden = true;
    if (returnTo?.isConnected) returnTo.focus();
    returnTo = null;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.isComposing || event.ctrlKey || event.metaKey) return;
    if (event.key === "Escape") return escape(event);
    if (!overlay.hidden) {
      if (event.key === "?") {
        event.preventDefault();
        hide();
      } else if (event.key === "Tab") { // the dialog keeps the focus: its one button
        event.preventDefault();
        close.focus();
      }
      return;
    }
    if (typing(event.target)) return;
    const action = shortcutFor(event);
    if (!action) return;
    event.preventDefault();
    action();
  }

  function escape(event) {
    if (!overlay.hidden) {
      event.preventDefault();
      hide();
      return;
    }
    const composer = document.getElementById("composer-input");
    if (composer && document.activeElement === composer) {
      event.preventDefault();
      (document.querySelector(".messages") || document.body).focus();
    }
  }

  function shortcutFor(event) {
    const { key, altKey, shiftKey } = event;
    if (altKey) return { ArrowDown: () => step(1), ArrowUp: () => step(-1) }[key] || null;
    if (key === "?") return show;
    const onChats = state.view === "chats";
    if (!onChats) return null;
    if (key === "C" && shiftKey) return () => clickAction(["close"]);
    if (shiftKey && key !== "/") return null;
    return {
      j: () => step(1),
      k: () => step(-1),
      r: () => reply(),
      n: () => note(),
      "/": () => cannedResponse(),
      a: () => clickAction(["assign", "transfer"]),
    }[key] || null;
  }

  document.addEventListener("keydown", onKey);
  const stop = on("shortcuts", show); // the header's button
  return () => {
    document.removeEventListener("keydown", onKey);
    stop();
    overlay.remove();
  };
}

/** Open the next (1) or previous (-1) chat of the list shown. */
function step(by) {
  if (state.view !== "chats") return;
  const rows = listRows();
  if (!rows.length) return;
  const at = rows.findIndex((chat) => chat.id === state.open?.id);
  const next = at < 0 ? rows[by > 0 ? 0 : rows.length - 1] : rows[at + by];
  if (!next) return;
  chats.openChat(next.id);
  // The list row of that chat takes the focus (j and k keep working from there).
  queueMicrotask(() => document.querySelector(`.chat-row[data-chat-id="${next.id}"]`)?.focus());
}

/** The composer, if the open chat takes a reply from this user; else say why not. */
function composer() {
  const input = document.getElementById("composer-input");
  if (!state.open) {
    chats.flash(t("shortcuts.noChat"));
    return null;
  }
  if (!input || input.disabled) {
    chats.flash(t("shortcuts.cannotReply"));
    return null;
  }
  return input;
}

function reply() {
  composer()?.focus();
}

/** The composer in note mode: #note-toggle (the notes part's button) pressed, if it is there. */
function note() {
  if (!state.open) {
    chats.flash(t("shortcuts.noChat"));
    return;
  }
  const toggle = document.getElementById("note-toggle");
  if (toggle && !toggle.disabled && toggle.getAttribute("aria-pressed") !== "true") toggle.click();
  composer()?.focus();
}

/** The composer with "/" typed at the caret (after a space if needed): the picker opens. */
function cannedResponse() {
  const input = composer();
  if (!input) return;
  input.focus();
  const at = input.selectionStart ?? input.value.length;
  const before = input.value.slice(0, at);
  const slash = before && !/\s$/.test(before) ? " /" : "/";
  input.value = before + slash + input.value.slice(input.selectionEnd ?? at);
  input.setSelectionRange(at + slash.length, at + slash.length);
  input.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Click the first of `actions` the open chat offers (a button, or an item of "More"). */
function clickAction(actions) {
  if (!state.open) {
    chats.flash(t("shortcuts.noChat"));
    return;
  }
  for (const action of actions) {
    const button = document.querySelector(`.actions [data-action="${action}"]`);
    if (button && !button.disabled) {
      button.click();
      return;
    }
  }
  chats.flash(t("shortcuts.notOffered", { action: t(`action.${actions[0]}`) }));
}
