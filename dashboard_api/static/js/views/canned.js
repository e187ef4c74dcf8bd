// Canned responses: the list (the shared ones and the user's own), adding, editing and
// deleting. Admins choose shared or personal; agents keep personal ones (and see the
// shared ones, which they cannot change). Mounted like the users view (main.js).

import * as canned from "../canned.js";
import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { isAdmin } from "../state.js";

const VARIABLES = ["customer.name", "customer.first_name", "agent.name", "chat.id"];

export function mountCanned(root) {
  const status = h("p", { class: "status-line", role: "status" });
  const items = h("ul", { class: "canned-items", "aria-label": t("canned.heading") });
  const editor = h("section", { class: "canned-editor", "aria-labelledby": "canned-form-heading" });
  let rows = [];
  let editing = null; // the response being edited, or null: a new one
  let confirming = null; // the id whose deletion is being confirmed
  fill(root, h("div", { class: "canned-view" },
    h("h2", {}, t("canned.heading")),
    h("p", { class: "canned-intro" }, t("canned.intro")),
    status, h("div", { class: "canned-layout" }, editor, items)));

  async function load() {
    try {
      rows = await canned.load();
      render();
    } catch (error) {
      status.textContent = t("canned.error", { error: error.message });
    }
  }

  function render() {
    if (!rows.length) {
      fill(items, h("li", { class: "canned-empty" }, t("canned.noneYet")));
      return;
    }
    fill(items, rows.map((row) => item(row)));
  }

  function item(row) {
    const mayChange = row.scope === "personal" || isAdmin();
    const code = `/${row.short_code}`;
    let buttons;
    if (confirming === row.id) {
      buttons = h("div", { class: "row-buttons", role: "group", "aria-label": t("canned.confirmDelete", { code }) },
        h("span", { class: "canned-confirm" }, t("canned.confirmDelete", { code })),
        h("button", { type: "button", class: "danger", "data-confirm-delete": row.short_code,
          onclick: () => remove(row) }, t("canned.delete")),
        h("button", { type: "button", onclick: () => { confirming = null; render(); } }, t("action.cancel")));
    } else if (mayChange) {
      buttons = h("div", { class: "row-buttons" },
        h("button", { type: "button", class: "edit", "aria-label": t("canned.editOf", { code }),
          onclick: () => edit(row) }, t("canned.edit")),
        h("button", { type: "button", class: "danger delete", "aria-label": t("canned.deleteOf", { code }),
          onclick: () => {
            confirming = row.id;
            render();
            items.querySelector("[data-confirm-delete]")?.focus();
          } }, t("canned.delete")));
    }
    return h("li", { class: "canned-item", "data-code": row.short_code, "data-scope": row.scope },
      h("div", { class: "canned-item-head" },
        h("span", { class: "canned-code" }, code),
        h("span", { class: "canned-title" }, row.title),
        h("span", { class: `badge canned-scope scope-${row.scope}` }, t(`canned.scope.${row.scope}`))),
      h("p", { class: "canned-text" }, row.text),
      row.text_id && h("p", { class: "canned-text canned-text-id", lang: "id" }, row.text_id),
      buttons);
  }

  async function remove(row) {
    confirming = null;
    try {
      await canned.remove(row.id);
      status.textContent = t("canned.deleted", { code: `/${row.short_code}` });
      if (editing?.id === row.id) showForm(null);
    } catch (error) {
      status.textContent = t("canned.error", { error: error.message });
    }
    await load();
  }

  function edit(row) {
    showForm(row);
    editor.querySelector("#canned-title")?.focus();
  }

  function showForm(row) {
    editing = row;
    fill(editor, form(row, {
      saved: async (message) => {
        status.textContent = message;
        showForm(null);
        await load();
      },
      cancel: () => {
        const code = editing?.short_code;
        showForm(null);
        if (code) items.querySelector(`[data-code="${CSS.escape(code)}"] button.edit`)?.focus();
      },
      status,
    }));
  }

  showForm(null);
  load();
}

function form(row, { saved, cancel, status }) {
  const errors = {};
  const field = (key, label, control, help) => {
    errors[key] = h("p", { class: "field-error", id: `canned-${key}-error`, "data-error-for": key });
    control.setAttribute("aria-describedby", [help && `canned-${key}-help`, `canned-${key}-error`]
      .filter(Boolean).join(" "));
    return h("div", { class: `field field-${key}` }, h("label", { for: control.id }, label), control,
      help && h("p", { class: "field-help", id: `canned-${key}-help` }, help), errors[key]);
  };
  const code = h("input", { id: "canned-short_code", value: row?.short_code || "", required: true,
    maxlength: "64", pattern: "[A-Za-z0-9_\\-]{1,64}", autocomplete: "off", spellcheck: "false" });
  const title = h("input", { id: "canned-title", value: row?.title || "", required: true, maxlength: "128",
    autocomplete: "off" });
  const text = h("textarea", { id: "canned-text", rows: "4", required: true, maxlength: "4096" });
  text.value = row?.text || "";
  const textId = h("textarea", { id: "canned-text_id", rows: "3", maxlength: "4096", lang: "id" });
  textId.value = row?.text_id || "";
  let target = text; // where a variable button puts its variable
  text.addEventListener("focus", () => { target = text; });
  textId.addEventListener("focus", () => { target = textId; });
  const variables = h("div", { class: "canned-variables", role: "group", "aria-label": t("canned.variables") },
    h("span", {}, t("canned.variables")),
    VARIABLES.map((name) => h("button", { type: "button", class: "variable", "data-variable": name,
      onclick: () => insertVariable(target, `{{${name}}}`) }, `{{${name}}}`)));
  const scope = h("select", { id: "canned-scope", disabled: Boolean(row) || !isAdmin() },
    ["personal", "shared"].map((value) => h("option", { value, selected: (row?.scope || "personal") === value },
      t(`canned.scope.${value}`))));
  const scopeHelp = row ? t("canned.scopeFixed") : isAdmin() ? t("canned.scopeHelpAdmin") : t("canned.scopeHelpAgent");

  const showErrors = (error) => {
    const byField = {};
    for (const item of error.details?.fields || []) {
      const name = String(item.field || "").split(".").pop();
      if (name) byField[name] = item.message;
    }
    if (typeof error.details?.field === "string") byField[error.details.field] = error.message;
    if (error.code === "short_code_taken") byField.short_code = t("canned.taken", { code: `/${error.details?.short_code}` });
    if (error.code === "unknown_variable") {
      byField[error.details?.field || "text"] = t("canned.unknownVariable",
        { variable: error.details?.variable ?? "", known: VARIABLES.map((v) => `{{${v}}}`).join(" ") });
    }
    for (const [key, el] of Object.entries(errors)) el.textContent = byField[key] || "";
    status.textContent = t("canned.error", { error: error.message });
    const first = Object.keys(errors).find((key) => byField[key]);
    if (first) document.getElementById(`canned-${first}`)?.focus();
  };

  const submit = async (event) => {
    event.preventDefault();
    Object.values(errors).forEach((el) => { el.textContent = ""; });
    status.textContent = "";
    const body = { short_code: code.value.trim(), title: title.value.trim(), text: text.value,
      text_id: textId.value.trim() ? textId.value : null };
    try {
      if (row) {
        const changes = {};
        for (const [key, value] of Object.entries(body)) if (value !== (row[key] ?? null)) changes[key] = value;
        if (!Object.keys(changes).length) {
          status.textContent = t("canned.nothingChanged");
          return;
        }
        await canned.update(row.id, changes);
      } else {
        if (!body.text_id) delete body.text_id;
        await canned.create({ ...body, scope: scope.value });
      }
      await saved(t("canned.saved", { code: `/${body.short_code}` }));
    } catch (error) {
      showErrors(error);
    }
  };

  return h("form", { class: "canned-form", novalidate: true, onsubmit: submit },
    h("h3", { id: "canned-form-heading" }, row ? t("canned.editing", { code: `/${row.short_code}` }) : t("canned.add")),
    h("div", { class: "canned-form-row" },
      field("short_code", t("canned.shortCode"), code, t("canned.shortCodeHelp")),
      field("title", t("canned.title"), title),
      field("scope", t("canned.scope"), scope, scopeHelp)),
    field("text", t("canned.text"), text),
    field("text_id", t("canned.textId"), textId, t("canned.textIdHelp")),
    variables,
    h("div", { class: "form-buttons" },
      h("button", { type: "submit", class: "primary" }, row ? t("canned.saveChanges") : t("canned.create")),
      row && h("button", { type: "button", class: "cancel", onclick: cancel }, t("action.cancel"))));
}

/** Put `variable` at the caret of `control` (a textarea) and give it the focus back. */
function insertVariable(control, variable) {
  const start = control.selectionStart ?? control.value.length;
  const end = control.selectionEnd ?? start;
  control.value = control.value.slice(0, start) + variable + control.value.slice(end);
  control.focus();
  control.setSelectionRange(start + variable.length, start + variable.length);
}
