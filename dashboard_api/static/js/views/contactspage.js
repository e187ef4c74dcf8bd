// The Contacts page: search (q) and a custom-attribute filter over GET /contacts, the paged
// list ("load more" follows the Link header), the contact view of the one opened; admins
// also export and import CSV and manage the custom attributes.

import * as contacts from "../contacts.js";
import { debounce, fill, h, icon } from "../dom.js";
import { fullTime, shortTime, t } from "../i18n.js";
import { isAdmin, on, state } from "../state.js";
import { channelIcon } from "./common.js";
import { contactView } from "./contact.js";

export const ATTRIBUTE_TYPES = ["text", "number", "date", "boolean", "list"];

/** `onOpenChat(row)` opens one of a contact's conversations. */
export function mountContactsPage(root, { onOpenChat }) {
  const status = h("p", { class: "status-line", role: "status" });
  const report = h("div", { class: "import-report" });
  const search = h("input", { type: "search", id: "contact-search", class: "search", autocomplete: "off",
    placeholder: t("contacts.searchPlaceholder"), "aria-label": t("contacts.search"),
    oninput: () => { busy(); searching(); } });
  const searching = debounce(() => reload(), 300);
  const attrSelect = h("select", { id: "contact-filter-attribute", "aria-label": t("contacts.filterAttribute"),
    onchange: () => { drawValueInput(); reload(); } });
  const valueSlot = h("span", { class: "filter-value" });
  let valueInput = h("input", { id: "contact-filter-value" });
  const list = h("ul", { class: "contact-list", id: "contact-list", "aria-label": t("contacts.heading") });
  const more = h("button", { type: "button", class: "more", id: "contacts-more", hidden: true,
    onclick: () => loadMore() }, t("contacts.more"));
  const listState = h("p", { class: "list-status contacts-list-status", role: "status" });
  const back = h("button", { type: "button", class: "icon-button back contacts-back", "aria-label": t("contacts.back"),
    title: t("contacts.back"), onclick: () => showList() }, icon("back"));
  const placeholder = h("div", { class: "chat-none contacts-none" }, icon("contact"), h("p", {}, t("contacts.pick")));
  const view = contactView({ mode: "page", onOpenChat, onErased: (contact) => {
    status.textContent = contact ? t("contacts.erased", { name: contact.name || `#${contact.id}` }) : t("contacts.gone");
    selected = null;
    showList();
    reload();
  } });
  const manager = h("div", { class: "attributes-manager", hidden: true });
  const detail = h("section", { class: "contacts-detail", "aria-label": t("contacts.detail") },
    h("div", { class: "contacts-detail-bar" }, back), placeholder, view.element, manager);
  const grid = h("div", { class: "contacts-grid", "data-screen": "list" },
    h("section", { class: "contacts-list-col", "aria-label": t("contacts.heading") },
      h("div", { class: "contacts-filters" }, search,
        h("div", { class: "attr-filter" }, attrSelect, valueSlot)),
      h("div", { class: "contacts-scroll" }, list, listState, h("div", { class: "list-foot" }, more))),
    detail);
  const fileInput = h("input", { type: "file", id: "contacts-import-file", accept: ".csv,text/csv", class: "visually-hidden",
    "aria-label": t("contacts.importCsv"),
    onchange: () => importFile() });
  const tools = isAdmin() && h("div", { class: "contacts-tools" },
    h("button", { type: "button", id: "contacts-export", title: t("contacts.exportCsv"), "aria-label": t("contacts.exportCsv"),
      onclick: () => exportAll() }, icon("download"),
      h("span", {}, t("contacts.exportCsv"))),
    h("label", { class: "button file-button", for: "contacts-import-file", title: t("contacts.importCsv") }, icon("file"),
      h("span", {}, t("contacts.importCsv"))), fileInput,
    h("button", { type: "button", id: "contacts-attributes", "aria-pressed": "false", title: t("contacts.manageAttributes"),
      "aria-label": t("contacts.manageAttributes"),
      onclick: () => toggleManager() }, icon("tag"), h("span", {}, t("contacts.manageAttributes"))));
  fill(root, h("div", { class: "contacts-page" },
    h("div", { class: "contacts-top" }, h("h2", {}, t("contacts.heading")), tools),
    status, report, grid));

  let selected = null;
  let next = null;
  let request = 0;
  let managing = false;

  function drawFilterOptions() {
    const chosen = attrSelect.value;
    fill(attrSelect, h("option", { value: "" }, t("contacts.anyAttribute")),
      state.contactAttributes.map((a) => h("option", { value: a.key, selected: a.key === chosen }, a.label || a.key)));
    drawValueInput();
  }

  function drawValueInput() {
    const attribute = state.contactAttributes.find((a) => a.key === attrSelect.value);
    const props = { id: "contact-filter-value", "aria-label": t("contacts.filterValue") };
    const changed = debounce(() => reload(), 300);
    if (!attribute) {
      valueInput = h("input", { ...props, disabled: true, placeholder: t("contacts.filterValue") });
    } else if (attribute.type === "boolean") {
      valueInput = h("select", { ...props, onchange: () => reload() }, h("option", { value: "" }, t("contacts.anyValue")),
        h("option", { value: "true" }, t("contacts.yes")), h("option", { value: "false" }, t("contacts.no")));
    } else if (attribute.type === "list") {
      valueInput = h("select", { ...props, onchange: () => reload() }, h("option", { value: "" }, t("contacts.anyValue")),
        (attribute.options || []).map((option) => h("option", { value: option }, option)));
    } else {
      const type = { number: "number", date: "date" }[attribute.type] || "text";
      valueInput = h("input", { ...props, type, placeholder: t("contacts.filterValue"),
        oninput: () => { busy(); changed(); }, onchange: changed });
    }
    fill(valueSlot, valueInput);
  }

  function query() {
    const q = { q: search.value.trim(), limit: 50 };
    if (attrSelect.value && valueInput.value) q[`attribute.${attrSelect.value}`] = valueInput.value;
    return q;
  }

  /** The list is about to change (a search is typed): say so at once, until it has. */
  function busy() {
    request += 1; // what is on its way answers the old search: it is dropped
    list.setAttribute("aria-busy", "true");
    more.disabled = true;
  }

  async function reload() {
    const mine = ++request;
    list.setAttribute("aria-busy", "true");
    listState.textContent = t("contacts.listLoading");
    try {
      const page = await contacts.page(query());
      if (mine !== request) return;
      fill(list, page.rows.map(rowItem));
      next = page.next;
      listState.textContent = page.rows.length ? "" : t("contacts.noneFound");
    } catch (error) {
      if (mine !== request) return;
      fill(list);
      next = null;
      listState.textContent = t("contacts.listFailed", { error: error.message });
    }
    more.hidden = !next;
    more.disabled = false;
    list.setAttribute("aria-busy", "false");
  }

  async function loadMore() {
    if (!next) return;
    const mine = request;
    more.disabled = true;
    try {
      const page = await contacts.nextPage(next);
      if (mine !== request) return;
      list.append(...page.rows.map(rowItem));
      next = page.next;
    } catch (error) {
      listState.textContent = t("contacts.listFailed", { error: error.message });
    } finally {
      more.disabled = false;
      more.hidden = !next;
    }
  }

  function rowItem(contact) {
    const channels = [...new Set((contact.identities || []).map((item) => item.channel))];
    const reach = [...(contact.phones || []), ...(contact.emails || [])].map((p) => p.value).slice(0, 2).join(" · ");
    const when = contact.last_seen_at || contact.updated_at;
    return h("li", { "data-contact": String(contact.id) },
      h("button", { type: "button", class: "contact-row", "aria-current": selected === contact.id ? "true" : null,
        onclick: () => open(contact.id) },
      h("span", { class: "contact-row-main" },
        h("span", { class: "contact-row-name" }, contact.name || t("contacts.unnamed")),
        h("span", { class: "contact-row-reach" }, reach)),
      h("span", { class: "contact-row-side" },
        h("span", { class: "contact-row-channels" }, channels.map((c) => channelIcon(c))),
        when && h("time", { datetime: when, title: fullTime(when) }, shortTime(when)))));
  }

  function open(id) {
    selected = id;
    managing = false;
    for (const button of list.querySelectorAll(".contact-row")) {
      if (button.closest("li").dataset.contact === String(id)) button.setAttribute("aria-current", "true");
      else button.removeAttribute("aria-current");
    }
    contacts.loadContact(id).catch(() => {});
    view.show(id);
    layout();
    grid.dataset.screen = "detail";
  }

  function showList() {
    grid.dataset.screen = "list";
    managing = false;
    layout();
    list.querySelector(`[data-contact="${selected}"] button`)?.focus();
  }

  function layout() {
    placeholder.hidden = managing || selected !== null;
    view.element.hidden = managing || selected === null;
    manager.hidden = !managing;
    tools && tools.querySelector("#contacts-attributes").setAttribute("aria-pressed", String(managing));
  }

  function toggleManager() {
    managing = !managing;
    if (managing) {
      renderManager();
      grid.dataset.screen = "detail";
    } else if (selected === null) grid.dataset.screen = "list";
    layout();
  }

  // -- admins: the custom attributes --------------------------------------------------------
  let confirming = null;
  function renderManager() {
    if (!managing) return;
    const rows = state.contactAttributes;
    const error = h("p", { class: "field-error", id: "new-attribute-error", role: "alert" });
    const key = h("input", { id: "new-attribute-key", required: true, maxlength: "64", autocomplete: "off",
      pattern: "[a-z][a-z0-9_]*" });
    const label = h("input", { id: "new-attribute-label", required: true, maxlength: "128", autocomplete: "off" });
    const options = h("input", { id: "new-attribute-options", autocomplete: "off", placeholder: t("contacts.optionsHint") });
    const optionsField = h("div", { class: "field", hidden: true },
      h("label", { for: "new-attribute-options" }, t("contacts.attrOptions")), options);
    const type = h("select", { id: "new-attribute-type", onchange: () => { optionsField.hidden = type.value !== "list"; } },
      ATTRIBUTE_TYPES.map((value) => h("option", { value }, t(`contacts.type.${value}`))));
    const form = h("form", { class: "add-user add-attribute", onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      const body = { key: key.value.trim(), label: label.value.trim(), type: type.value };
      if (type.value === "list") body.options = options.value.split(",").map((o) => o.trim()).filter(Boolean);
      try {
        await contacts.createAttribute(body);
        status.textContent = t("contacts.attrCreated", { name: body.label || body.key });
      } catch (failure) {
        error.textContent = t("contacts.error", { error: failure.message });
      }
    } },
    h("div", { class: "field" }, h("label", { for: "new-attribute-key" }, t("contacts.attrKey")), key),
    h("div", { class: "field" }, h("label", { for: "new-attribute-label" }, t("contacts.attrLabel")), label),
    h("div", { class: "field" }, h("label", { for: "new-attribute-type" }, t("contacts.attrType")), type),
    optionsField, error,
    h("button", { type: "submit", class: "primary" }, t("contacts.attrCreate")));
    fill(manager,
      h("h3", {}, t("contacts.manageAttributes")),
      h("p", { class: "labels-help" }, t("contacts.attributesHelp")),
      h("div", { class: "table-wrap" }, h("table", { class: "users attributes-table" },
        h("thead", {}, h("tr", {}, ["attrKey", "attrLabel", "attrType", "attrOptions"].map((k) =>
          h("th", { scope: "col" }, t(`contacts.${k}`))), h("td"))),
        h("tbody", {}, rows.length ? rows.map((a) => h("tr", { "data-attribute": a.key },
          h("th", { scope: "row" }, h("code", {}, a.key)),
          h("td", {}, a.label),
          h("td", {}, t(`contacts.type.${a.type}`)),
          h("td", { class: "attr-options" }, (a.options || []).join(", ")),
          h("td", { class: "row-buttons" }, confirming === a.key
            ? [h("span", { class: "confirm-text" }, t("contacts.attrDeleteConfirm", { name: a.label || a.key })),
              h("button", { type: "button", class: "danger", "data-confirm-delete": a.key, onclick: () => removeAttribute(a) },
                t("labels.delete")),
              h("button", { type: "button", onclick: () => { confirming = null; renderManager(); } }, t("action.cancel"))]
            : h("button", { type: "button", class: "danger", "data-delete": a.key,
              "aria-label": t("contacts.attrDeleteOf", { name: a.label || a.key }),
              onclick: () => { confirming = a.key; renderManager(); manager.querySelector("[data-confirm-delete]")?.focus(); } },
            t("labels.delete")))))
          : h("tr", {}, h("td", { colspan: "5", class: "empty" }, t("contacts.noAttributesDefined")))))),
      h("h4", {}, t("contacts.attrAdd")), form);
  }

  async function removeAttribute(attribute) {
    try {
      await contacts.deleteAttribute(attribute);
      status.textContent = t("contacts.attrDeleted", { name: attribute.label || attribute.key });
    } catch (error) {
      status.textContent = t("contacts.error", { error: error.message });
    }
    confirming = null;
    renderManager();
  }

  // -- admins: CSV -------------------------------------------------------------------------
  async function exportAll() {
    try {
      await contacts.exportCsv();
    } catch (error) {
      status.textContent = t("contacts.error", { error: error.message });
    }
  }

  async function importFile() {
    const file = fileInput.files[0];
    fileInput.value = "";
    if (!file) return;
    fill(report);
    status.textContent = t("contacts.importing", { name: file.name });
    try {
      const answer = await contacts.importCsv(file);
      showReport(answer, null);
      reload();
    } catch (error) {
      showReport(error.details || {}, error);
    }
  }

  function showReport(answer, error) {
    const refused = Array.isArray(answer?.rows) ? answer.rows : [];
    status.textContent = error
      ? (refused.length ? t("contacts.importRefusedRows", { count: refused.length })
        : t("contacts.importRefused", { error: error.message }))
      : t("contacts.imported", { created: answer?.created ?? 0, updated: answer?.updated ?? 0 });
    if (!refused.length) return fill(report);
    return fill(report, h("h3", {}, t("contacts.importReport")),
      h("div", { class: "table-wrap" }, h("table", { class: "users import-table" },
        h("thead", {}, h("tr", {}, ["importRow", "importField", "importReason"].map((key) =>
          h("th", { scope: "col" }, t(`contacts.${key}`))))),
        h("tbody", {}, refused.map((item) => h("tr", { "data-row": String(item.row ?? "") },
          h("td", {}, String(item.row ?? "")),
          h("td", {}, item.field ? h("code", {}, item.field) : ""),
          h("td", {}, item.message || "")))))));
  }

  const stops = [
    on("contactAttributes", () => { drawFilterOptions(); renderManager(); }),
    on("contactRow", (row) => {
      const item = list.querySelector(`[data-contact="${row.id}"]`);
      if (item) item.replaceWith(rowItem(row));
    }),
    view.destroy,
  ];
  drawFilterOptions();
  layout();
  contacts.loadAttributes().catch(() => {});
  reload();
  search.focus();
  return () => stops.forEach((stop) => stop());
}
