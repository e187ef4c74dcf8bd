// The "/" picker of the composer: typing "/" at the start of the reply or after a space lists
// the canned responses (the shared ones and the agent's own), filtered by short code and
// title as the agent types on; Up and Down move, Enter or Tab (or a click) puts the chosen
// one's text, filled for the open chat, in place of "/query"; Escape closes the list.

import * as canned from "../canned.js";
import { fill, h } from "../dom.js";
import { t } from "../i18n.js";

const MAX_SHOWN = 50;

/** The picker for `input` (the composer's textarea); `chatId()` names the open chat. */
export function mountCannedPicker(input, { chatId, onInsert = () => {} }) {
  const list = h("ul", { id: "canned-options", class: "canned-options", role: "listbox",
    "aria-label": t("canned.pickerLabel") });
  const status = h("p", { class: "canned-status", role: "status" });
  const root = h("div", { class: "canned-picker", hidden: true },
    h("p", { class: "canned-hint" }, t("canned.pickerHint")), list, status);
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", "canned-options");
  input.setAttribute("aria-expanded", "false");

  let rows = null; // loaded when the picker opens (null: not yet)
  let shown = [];
  let active = 0;
  let slash = null; // {query, start} of the "/query" being typed
  let request = 0;
  let loading = false;
  let pending = false; // Enter or Tab came while the list was loading: insert the first

  const picker = { root };
  picker.isOpen = () => !root.hidden;

  function sync() {
    const caret = input.selectionStart;
    const found = caret === input.selectionEnd ? canned.slashQuery(input.value, caret) : null;
    if (!found) return picker.close();
    const query = slash?.query;
    slash = found;
    if (!picker.isOpen()) open();
    else if (query !== found.query) {
      active = 0;
      render();
    }
  }

  async function open() {
    root.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = 0;
    const mine = ++request;
    rows = null;
    shown = [];
    fill(list);
    status.textContent = t("canned.loading");
    loading = true;
    try {
      const loaded = await canned.forChat(chatId());
      if (mine !== request) return;
      rows = loaded;
    } catch (failure) {
      if (mine !== request) return;
      status.textContent = t("canned.loadFailed", { error: failure.message });
      pending = false;
      return;
    } finally {
      if (mine === request) loading = false;
    }
    render();
    if (pending && shown.length) insert(shown[0]);
    pending = false;
  }

  picker.close = () => {
    request += 1;
    slash = null;
    rows = null;
    shown = [];
    pending = false;
    loading = false;
    if (root.hidden) return;
    root.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    fill(list);
  };

  function render() {
    if (!rows || !slash) return;
    shown = canned.filter(rows, slash.query).slice(0, MAX_SHOWN);
    active = Math.min(active, Math.max(shown.length - 1, 0));
    fill(list, shown.map((row, index) => h("li", {
      id: `canned-option-${row.id}`, class: "canned-option", role: "option",
      "aria-selected": String(index === active), "data-code": row.short_code,
      onmousedown: (event) => event.preventDefault(), // the composer keeps the focus
      onclick: () => insert(row),
    },
    h("span", { class: "canned-option-head" },
      h("span", { class: "canned-code" }, `/${row.short_code}`),
      h("span", { class: "canned-title" }, row.title),
      h("span", { class: `badge canned-scope scope-${row.scope}` }, t(`canned.scope.${row.scope}`))),
    h("span", { class: "canned-preview" }, canned.textFor(row)))));
    status.textContent = shown.length ? ""
      : rows.length ? t("canned.noMatch", { query: slash.query }) : t("canned.noneYet");
    const current = shown[active];
    if (current) {
      input.setAttribute("aria-activedescendant", `canned-option-${current.id}`);
      list.children[active]?.scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  }

  function insert(row) {
    if (!slash) return;
    const text = canned.textFor(row);
    const before = input.value.slice(0, slash.start);
    const after = input.value.slice(input.selectionEnd);
    input.value = before + text + after;
    const caret = before.length + text.length;
    picker.close();
    input.focus();
    input.setSelectionRange(caret, caret);
    onInsert(row);
  }

  /** A key pressed in the composer: true when the picker used it (the composer ignores it). */
  picker.handleKey = (event) => {
    if (!picker.isOpen() || event.isComposing) return false;
    const move = { ArrowDown: 1, ArrowUp: -1 }[event.key];
    if (move && !event.altKey && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      if (shown.length) {
        active = (active + move + shown.length) % shown.length;
        render();
      }
      return true;
    }
    if ((event.key === "Enter" || event.key === "Tab") && !event.shiftKey) {
      if (loading) {
        event.preventDefault(); // still loading: the first match goes in when it arrives
        pending = true;
        return true;
      }
      if (shown[active]) {
        event.preventDefault();
        insert(shown[active]);
        return true;
      }
    }
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation(); // the first Escape closes the list, the next leaves the composer
      picker.close();
      return true;
    }
    return false;
  };

  input.addEventListener("input", sync);
  input.addEventListener("click", sync);
  input.addEventListener("keyup", (event) => {
    if (["ArrowLeft", "ArrowRight", "Home", "End"].includes(event.key)) sync();
  });
  input.addEventListener("blur", () => picker.close());
  return picker;
}
