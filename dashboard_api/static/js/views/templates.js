// WhatsApp's template picker: the approved templates (GET /channels/whatsapp/templates), a
// field per parameter of each part (header, body, buttons), a live preview of the text the
// customer will read, and the send ({"template": {name, language, parameters: {header, body,
// buttons}}}).

import * as chats from "../chats.js";
import { h, icon } from "../dom.js";
import { t } from "../i18n.js";

// The parts whose parameters the agent types (as GET /channels/whatsapp/templates counts them).
const PARTS = ["header", "body", "buttons"];
const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_]{1,64})\s*\}\}/g;
const MEDIA_HEADERS = new Set(["IMAGE", "VIDEO", "DOCUMENT"]);

function component(template, type) {
  return (template.components || []).find((c) => String(c.type || "").toLowerCase() === type) || null;
}

/** A template's part ("header", "body", "footer") as {text, format} from its components. */
export function part(template, type) {
  const found = component(template, type);
  if (!found) return null;
  return { text: typeof found.text === "string" ? found.text : "", format: String(found.format || "TEXT").toUpperCase() };
}

/** The distinct placeholders of a text: positional ones by number, else by first appearance. */
export function placeholders(text) {
  const names = [];
  for (const match of (text || "").matchAll(PLACEHOLDER)) if (!names.includes(match[1])) names.push(match[1]);
  if (names.length && names.every((name) => /^\d+$/.test(name))) names.sort((a, b) => Number(a) - Number(b));
  return names;
}

/**
 * The values a template takes, by part, as the server reads it (handoff/domain/templates.py):
 * [{part, name, label, kind}]. A text header and the body: one per placeholder; an image,
 * video or document header: its https link; buttons: the variable end of a URL button's
 * link, a copy-code or one-time-password button's code. As many as the API counts
 * (parameters: {body: 2}) when that is more.
 */
export function slots(template) {
  const found = [];
  const header = part(template, "header");
  const headerFormat = String(template.header_format || header?.format || "").toUpperCase();
  if (header && headerFormat === "TEXT") {
    for (const name of placeholders(header.text)) found.push({ part: "header", name, label: t("template.parameter", { name }) });
  } else if (MEDIA_HEADERS.has(headerFormat)) {
    found.push({ part: "header", name: "link", kind: "url",
      label: t("template.mediaLink", { format: t(`template.format.${headerFormat.toLowerCase()}`) }) });
  }
  for (const name of placeholders(part(template, "body")?.text)) {
    found.push({ part: "body", name, label: t("template.parameter", { name }) });
  }
  const buttons = component(template, "buttons")?.buttons;
  (Array.isArray(buttons) ? buttons : []).forEach((button) => {
    const type = String(button?.type || "").toUpperCase();
    const text = button?.text || "";
    if (type === "URL" && placeholders(button.url).length) {
      found.push({ part: "buttons", name: text, label: t("template.buttonUrl", { text, url: button.url }) });
    } else if (type === "COPY_CODE" || type === "OTP") {
      found.push({ part: "buttons", name: text, label: t("template.buttonCode", { text }) });
    }
  });
  const counts = template.parameters || {};
  for (const type of PARTS) {
    let have = found.filter((slot) => slot.part === type).length;
    for (; have < Number(counts[type] || 0); have += 1) {
      found.push({ part: type, name: String(have + 1), label: t("template.parameter", { name: have + 1 }) });
    }
  }
  return found;
}

/** A part's text with the values filled in ({{1}} left as it is while its field is empty). */
export function render(text, names, values) {
  return (text || "").replace(PLACEHOLDER, (whole, name) => {
    const value = values[names.indexOf(name)];
    return value ? value : whole;
  });
}

export function mountTemplatePicker({ onSent, onOpen, onClose }) {
  const error = h("p", { class: "error template-error", role: "alert" });
  const select = h("select", { id: "template-select", onchange: () => choose(select.value) });
  const status = h("p", { class: "template-status", role: "status" });
  const fields = h("div", { class: "template-fields" });
  const preview = h("div", { class: "template-preview", "aria-live": "polite" });
  const send = h("button", { type: "button", class: "primary template-send", disabled: true, onclick: submit },
    icon("send"), h("span", {}, t("template.send")));
  const cancel = h("button", { type: "button", class: "template-cancel", onclick: () => picker.close() },
    t("action.cancel"));
  const root = h("section", { class: "template-picker", hidden: true, "aria-labelledby": "template-heading" },
    h("div", { class: "template-head" },
      h("h3", { id: "template-heading" }, t("template.heading")),
      h("button", { type: "button", class: "icon-button template-close", "aria-label": t("template.close"),
        title: t("template.close"), onclick: () => picker.close() }, icon("close"))),
    h("p", { class: "template-help" }, t("template.help")),
    status,
    h("div", { class: "template-choice" }, h("label", { for: "template-select" }, t("template.choose")), select),
    h("div", { class: "template-body" }, fields,
      h("div", { class: "template-preview-wrap" }, h("p", { class: "template-preview-label" }, t("template.preview")),
        preview)),
    error,
    h("div", { class: "template-buttons" }, send, cancel));

  let templates = [];
  let chosen = null;
  let values = {}; // part -> [values]
  let request = 0;
  const picker = { root, chat: null };

  picker.isOpen = () => !root.hidden;

  picker.open = async () => {
    root.hidden = false;
    error.textContent = "";
    onOpen();
    const mine = ++request;
    status.textContent = t("template.loading");
    select.disabled = true;
    try {
      const rows = await chats.loadTemplates();
      if (mine !== request) return;
      templates = (Array.isArray(rows) ? rows : rows?.templates || []).filter((row) => !row.status
        || String(row.status).toUpperCase() === "APPROVED")
        .sort((a, b) => `${a.name}\u0000${a.language}`.localeCompare(`${b.name}\u0000${b.language}`));
      status.textContent = templates.length ? "" : t("template.none");
    } catch (failure) {
      if (mine !== request) return;
      templates = [];
      status.textContent = t("template.loadFailed", { error: failure.message });
    }
    select.disabled = !templates.length;
    select.replaceChildren(h("option", { value: "" }, t("template.pick")),
      ...templates.map((row, index) => h("option", { value: String(index) },
        [row.name, row.language, categoryName(row.category)].filter(Boolean).join(" · "))));
    choose(templates.length === 1 ? "0" : "");
    (templates.length ? select : cancel).focus();
  };

  picker.close = ({ quiet = false } = {}) => {
    if (root.hidden) return;
    request += 1;
    root.hidden = true;
    chosen = null;
    values = {};
    fields.replaceChildren();
    preview.replaceChildren();
    error.textContent = "";
    if (!quiet) onClose();
  };

  function choose(value) {
    select.value = value;
    chosen = value === "" ? null : templates[Number(value)];
    values = {};
    fields.replaceChildren();
    error.textContent = "";
    if (chosen) {
      const all = slots(chosen);
      for (const type of PARTS) {
        const mine = all.filter((slot) => slot.part === type);
        if (!mine.length) continue;
        values[type] = mine.map(() => "");
        fields.append(h("fieldset", { class: `template-part part-${type}` },
          h("legend", {}, t(`template.part.${type}`)),
          mine.map((slot, index) => {
            const id = `template-${type}-${index}`;
            return h("div", { class: "field" },
              h("label", { for: id }, slot.label),
              h("input", { id, type: slot.kind === "url" ? "url" : "text", "data-part": type,
                "data-index": String(index), maxlength: "1024", autocomplete: "off",
                oninput: (event) => { values[type][index] = event.target.value; renderPreview(); } }));
          })));
      }
    }
    renderPreview();
  }

  function filled() {
    if (!chosen) return false;
    return Object.values(values).every((list) => list.every((value) => value.trim()));
  }

  function renderPreview() {
    send.disabled = !filled();
    if (!chosen) {
      preview.replaceChildren(h("p", { class: "template-empty" }, t("template.previewEmpty")));
      return;
    }
    const line = (type, cls) => {
      const section = part(chosen, type);
      if (!section || !section.text) return null;
      if (type === "header" && section.format !== "TEXT") {
        const link = (values.header || [])[0];
        const format = t(`template.format.${section.format.toLowerCase()}`);
        return h("p", { class: `${cls} preview-media` }, `[${format}${link ? `: ${link}` : ""}]`);
      }
      return h("p", { class: cls }, render(section.text, placeholders(section.text), values[type] || []));
    };
    const buttons = (chosen.components || []).find((c) => String(c.type).toLowerCase() === "buttons");
    preview.replaceChildren(h("div", { class: "bubble template-bubble" },
      line("header", "preview-header"), line("body", "preview-body"), line("footer", "preview-footer"),
      buttons && (buttons.buttons || []).length
        ? h("ul", { class: "preview-buttons" }, buttons.buttons.map((b) => h("li", {}, b.text || "")))
        : null));
  }

  async function submit() {
    if (!chosen || !filled() || send.disabled) return;
    send.disabled = true;
    error.textContent = "";
    const parameters = {};
    for (const [type, list] of Object.entries(values)) parameters[type] = list.map((value) => value.trim());
    try {
      await chats.sendTemplate({ name: chosen.name, language: chosen.language, parameters });
      picker.close({ quiet: true });
      onSent();
      onClose();
    } catch (failure) {
      error.textContent = t("template.refused", { error: failure.message });
      send.disabled = !filled();
    }
  }

  return picker;
}

function categoryName(category) {
  if (!category) return "";
  const key = `template.category.${String(category).toLowerCase()}`;
  const text = t(key);
  return text === key ? String(category).toLowerCase() : text;
}
