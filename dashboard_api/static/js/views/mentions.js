// @mentions in a note: typing @ (at the start or after a space) lists the people to mention
// (GET /agents: active users), filtered as you type; arrows move, Enter or Tab picks, Escape
// closes. The choice is written as @username.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { state } from "../state.js";

const SHOWN = 6;
const TYPING = /(^|\s)@([\w.-]*)$/;

export function mountMentions(input) {
  const list = h("ul", { id: "mention-list", class: "mention-list", role: "listbox", "aria-label": t("notes.mentionList"),
    hidden: true });
  let matches = [];
  let active = 0;
  let start = -1; // where the @ is

  function people(query) {
    const needle = query.toLowerCase();
    return state.agents
      .filter((person) => person.username && person.id !== state.user?.id)
      .filter((person) => !needle || person.username.toLowerCase().startsWith(needle)
        || (person.display_name || "").toLowerCase().split(/\s+/).some((word) => word.startsWith(needle)))
      .slice(0, SHOWN);
  }

  function update() {
    const before = input.value.slice(0, input.selectionStart ?? input.value.length);
    const typed = TYPING.exec(before);
    if (!typed) return close();
    start = before.length - typed[2].length - 1;
    matches = people(typed[2]);
    if (!matches.length) return close();
    active = Math.min(active, matches.length - 1);
    render();
    return undefined;
  }

  function render() {
    list.hidden = false;
    input.setAttribute("aria-controls", "mention-list");
    input.setAttribute("aria-expanded", "true");
    list.replaceChildren(...matches.map((person, index) => h("li", {
      role: "option", id: `mention-${person.id}`, class: "mention-option", "aria-selected": String(index === active),
      "data-username": person.username,
      onmousedown: (event) => {
        event.preventDefault(); // keep the focus in the textarea
        pick(person);
      },
    }, h("span", { class: "mention-name" }, person.display_name || person.username),
    h("span", { class: "mention-user" }, `@${person.username}`))));
    input.setAttribute("aria-activedescendant", `mention-${matches[active].id}`);
  }

  function pick(person) {
    const caret = input.selectionStart ?? input.value.length;
    const text = `@${person.username} `;
    input.value = input.value.slice(0, start) + text + input.value.slice(caret);
    const at = start + text.length;
    input.setSelectionRange(at, at);
    close();
    input.focus();
  }

  function close() {
    list.hidden = true;
    matches = [];
    active = 0;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  /** A key in the textarea: true when the suggestions used it. */
  function onKey(event) {
    if (list.hidden || !matches.length) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const step = event.key === "ArrowDown" ? 1 : -1;
      active = (active + step + matches.length) % matches.length;
      render();
    } else if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      pick(matches[active]);
    } else if (event.key === "Escape") {
      close();
    } else {
      return false;
    }
    event.preventDefault();
    event.stopPropagation();
    return true;
  }

  return { root: list, update, close, onKey };
}
