// Admins: the labels: the list with each colour, adding one, editing its name, colour and
// description, deleting it (it leaves every chat).

import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { on, state } from "../state.js";
import * as tags from "../tags.js";

export function mountLabels(root) {
  const status = h("p", { class: "status-line", role: "status" });
  const table = h("table", { class: "users labels-table" });
  let editing = null; // the id of the label being edited
  let confirming = null; // the id of the label whose deletion is asked
  fill(root, h("div", { class: "users-view labels-view" },
    h("h2", {}, t("labels.heading")), h("p", { class: "labels-help" }, t("labels.help")), status,
    h("div", { class: "table-wrap" }, table),
    h("h3", {}, t("labels.create")), addForm(status)));

  function render() {
    fill(table,
      h("thead", {}, h("tr", {}, ["name", "colour", "description"]
        .map((key) => h("th", { scope: "col" }, t(`labels.${key}`))), h("td"))),
      h("tbody", {}, state.labels.length
        ? state.labels.map((label) => (editing === label.id ? editRow(label) : row(label)))
        : h("tr", {}, h("td", { colspan: "4", class: "empty" }, t("labels.none")))));
  }

  function row(label) {
    const asking = confirming === label.id;
    return h("tr", { "data-label": label.name },
      h("th", { scope: "row" }, tags.chip(label.name)),
      h("td", {}, tags.paint(h("span", { class: "swatch" }), label.colour), " ", h("code", {}, label.colour)),
      h("td", {}, label.description),
      h("td", { class: "row-buttons" }, asking
        ? [h("span", { class: "confirm-text" }, t("labels.deleteConfirm", { name: label.name })),
          h("button", { type: "button", class: "danger", "data-confirm-delete": label.name, onclick: () => remove(label) },
            t("labels.delete")),
          h("button", { type: "button", onclick: () => { confirming = null; render(); } }, t("action.cancel"))]
        : [h("button", { type: "button", class: "edit", "aria-label": t("labels.editOf", { name: label.name }),
          onclick: () => { editing = label.id; confirming = null; render(); table.querySelector("#edit-label-name")?.focus(); } },
        t("users.edit")),
        h("button", { type: "button", class: "danger", "data-delete": label.name,
          "aria-label": t("labels.deleteOf", { name: label.name }),
          onclick: () => { confirming = label.id; render(); table.querySelector("[data-confirm-delete]")?.focus(); } },
        t("labels.delete"))]));
  }

  function editRow(label) {
    const name = h("input", { id: "edit-label-name", value: label.name, maxlength: "64", required: true,
      "aria-label": t("labels.name") });
    const colour = h("input", { id: "edit-label-colour", type: "color", value: label.colour, "aria-label": t("labels.colour") });
    const description = h("input", { id: "edit-label-description", value: label.description, maxlength: "255",
      "aria-label": t("labels.description") });
    const formId = `edit-label-${label.id}`;
    return h("tr", { "data-label": label.name, class: "editing" },
      h("th", { scope: "row" }, name),
      h("td", {}, colour),
      h("td", {}, description),
      h("td", { class: "row-buttons" },
        h("form", { id: formId, class: "inline", onsubmit: async (event) => {
          event.preventDefault();
          const changes = {};
          if (name.value.trim() !== label.name) changes.name = name.value.trim();
          if (colour.value.toLowerCase() !== label.colour) changes.colour = colour.value;
          if (description.value.trim() !== label.description) changes.description = description.value.trim();
          try {
            if (Object.keys(changes).length) await tags.updateLabel(label.id, changes);
            status.textContent = t("labels.saved", { name: changes.name || label.name });
            editing = null;
            render();
          } catch (error) {
            status.textContent = t("labels.error", { error: error.message });
          }
        } }, h("button", { type: "submit", class: "primary" }, t("users.save"))),
        h("button", { type: "button", onclick: () => { editing = null; render(); } }, t("action.cancel"))));
  }

  async function remove(label) {
    try {
      const answer = await tags.deleteLabel(label.id);
      status.textContent = t("labels.deleted", { name: label.name, count: answer.chats.length });
    } catch (error) {
      status.textContent = t("labels.error", { error: error.message });
    }
    confirming = null;
    render();
  }

  const stop = on("labels", render);
  render();
  tags.loadLabels().catch((error) => { status.textContent = t("labels.error", { error: error.message }); });
  return stop;
}

function addForm(status) {
  const name = h("input", { id: "new-label-name", required: true, maxlength: "64", autocomplete: "off" });
  const colour = h("input", { id: "new-label-colour", type: "color", value: "#2563eb" });
  const description = h("input", { id: "new-label-description", maxlength: "255", autocomplete: "off" });
  const error = h("p", { class: "field-error", id: "new-label-error", role: "alert" });
  const form = h("form", { class: "add-user add-label", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const label = await tags.createLabel({ name: name.value.trim(), colour: colour.value,
        description: description.value.trim() });
      status.textContent = t("labels.created", { name: label.name });
      form.reset();
      colour.value = "#2563eb";
    } catch (failure) {
      error.textContent = failure.code === "label_exists" ? t("labels.exists") : failure.message;
    }
  } },
  h("div", { class: "field" }, h("label", { for: "new-label-name" }, t("labels.name")), name),
  h("div", { class: "field" }, h("label", { for: "new-label-colour" }, t("labels.colour")), colour),
  h("div", { class: "field" }, h("label", { for: "new-label-description" }, t("labels.description")), description),
  error,
  h("button", { type: "submit", class: "primary" }, t("labels.createButton")));
  return form;
}
