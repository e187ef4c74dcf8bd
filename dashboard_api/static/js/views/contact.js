// The contact view, shared by the chat's contact panel and the Contacts page: name (editable),
// identities, phones and e-mail addresses, custom attributes (edited by type), notes, the
// contact's conversations (each opens: normally when the user may act on it, else read-only),
// merge suggestions with a preview before the merge, the undo of the latest merge and, on
// the page, for admins, the contact's JSON export and erasure.

import * as contacts from "../contacts.js";
import { fill, h, icon } from "../dom.js";
import { fullTime, shortTime, t } from "../i18n.js";
import { isAdmin, on, state } from "../state.js";
import { channelIcon, channelLabel, modeBadge } from "./common.js";

/**
 * `mode`: "panel" | "page"; `currentChatId()`: the chat shown beside it (marked in the
 * conversations); `onOpenChat(row)`: open one of the contact's conversations; `onErased()`.
 * Returns {element, show(id), destroy()}.
 */
export function contactView({ mode, currentChatId = () => null, onOpenChat, onErased = () => {} }) {
  const prefix = mode === "panel" ? "panel-contact" : "page-contact";
  const status = h("p", { class: "status-line contact-status", role: "status" });
  const head = h("div", { class: "contact-head" });
  const reach = h("section", { class: "contact-section contact-reach" });
  const attributes = h("section", { class: "contact-section contact-attributes", "aria-labelledby": `${prefix}-attributes` });
  const notes = h("section", { class: "contact-section contact-notes", "aria-labelledby": `${prefix}-notes` });
  const conversations = h("section", { class: "contact-section contact-conversations",
    "aria-labelledby": `${prefix}-conversations` });
  const merging = h("section", { class: "contact-section contact-merging", "aria-labelledby": `${prefix}-merging` });
  const admin = h("section", { class: "contact-section contact-admin" });
  const element = h("div", { class: `contact-view contact-${mode}`, "data-contact": "" },
    head, status, reach, attributes, notes, conversations, merging, admin);
  let id = null;
  let editingName = false;
  let attributesDirty = false;
  let notesDirty = false;
  let preview = null; // {otherId, data | error, loading} while a merge is being looked at
  let erasing = false;

  const say = (text) => { status.textContent = text; };

  let drawnFor = undefined; // [contact id, current chat id] last drawn by show()
  function show(contactId) {
    // The panel calls this on every change of the chat; the contact redraws on its own topic.
    const key = `${contactId}:${currentChatId()}`;
    if (key === drawnFor && contactId !== null) return;
    drawnFor = key;
    if (contactId !== id) {
      id = contactId;
      editingName = false;
      attributesDirty = false;
      notesDirty = false;
      preview = null;
      erasing = false;
      say("");
    }
    element.dataset.contact = id === null ? "" : String(id);
    if (id !== null && !contacts.known(id)) contacts.loadContact(id).catch(() => {});
    render();
  }

  function render() {
    const entry = id === null ? null : contacts.known(id);
    element.hidden = id === null;
    if (!entry || (!entry.detail && !entry.error)) {
      fill(head, h("p", { class: "contact-loading" }, t("contacts.loading")));
      [reach, attributes, notes, conversations, merging, admin].forEach((part) => fill(part));
      element.setAttribute("aria-busy", "true");
      return;
    }
    element.setAttribute("aria-busy", "false");
    if (!entry.detail) {
      fill(head, h("p", { class: "error", role: "alert" }, t("contacts.loadFailed", { error: entry.error })));
      [reach, attributes, notes, conversations, merging, admin].forEach((part) => fill(part));
      return;
    }
    const contact = entry.detail;
    renderHead(contact);
    renderReach(contact);
    if (!attributesDirty) renderAttributes(contact);
    if (!notesDirty) renderNotes(contact);
    renderConversations(contact);
    renderMerging(contact, entry);
    renderAdmin(contact);
  }

  function renderHead(contact) {
    const seen = [
      contact.first_seen_at && t("contacts.firstSeen", { time: fullTime(contact.first_seen_at) }),
      contact.last_seen_at && t("contacts.lastSeen", { time: fullTime(contact.last_seen_at) }),
    ].filter(Boolean).join(" · ");
    if (editingName) {
      if (head.querySelector(".contact-name-form")) return; // being typed: left alone
      const input = h("input", { id: `${prefix}-name`, class: "contact-name-input", value: contact.name || "",
        maxlength: "255", "aria-label": t("contacts.name"), required: true });
      const form = h("form", { class: "contact-name-form", onsubmit: async (event) => {
        event.preventDefault();
        const name = input.value.trim();
        if (!name) return input.focus();
        try {
          if (name !== contact.name) await contacts.update(id, { name });
          editingName = false;
          say(t("contacts.saved"));
          render();
        } catch (error) {
          say(t("contacts.error", { error: error.message }));
        }
        return undefined;
      } }, input,
      h("button", { type: "submit", class: "primary" }, t("contacts.save")),
      h("button", { type: "button", onclick: () => { editingName = false; render(); } }, t("action.cancel")));
      fill(head, form, seen && h("p", { class: "contact-seen" }, seen));
      input.focus();
      return;
    }
    fill(head,
      h("div", { class: "contact-title" },
        h(mode === "panel" ? "h3" : "h2", { class: "contact-name", id: `${prefix}-title` }, contact.name || t("contacts.unnamed")),
        editable(contact) && h("button", { type: "button", class: "link contact-rename",
          "aria-label": t("contacts.renameOf", { name: contact.name || "" }),
          onclick: () => { editingName = true; render(); } }, t("contacts.rename"))),
      seen && h("p", { class: "contact-seen" }, seen));
  }

  function renderReach(contact) {
    const identities = contact.identities || [];
    const point = (kind) => (item) => h("li", { class: "contact-point", "data-kind": kind, "data-value": item.value },
      h("span", { class: "point-value" }, item.value),
      item.verified
        ? h("span", { class: "badge verified", title: t("contacts.verifiedHint") }, icon("check"), t("contacts.verified"))
        : h("span", { class: "badge unverified-point", title: t("contacts.unverifiedHint") }, t("contacts.unverified")));
    fill(reach,
      h("h4", { id: `${prefix}-identities` }, t("contacts.identities")),
      identities.length
        ? h("ul", { class: "contact-identities", "aria-labelledby": `${prefix}-identities` },
          identities.map((item) => h("li", { class: "identity", "data-channel": item.channel },
            channelIcon(item.channel), h("span", { class: "identity-id" }, item.external_id))))
        : h("p", { class: "empty" }, t("contacts.noIdentities")),
      (contact.phones || []).length > 0 && [h("h4", {}, t("contacts.phones")),
        h("ul", { class: "contact-points" }, contact.phones.map(point("phone")))],
      (contact.emails || []).length > 0 && [h("h4", {}, t("contacts.emails")),
        h("ul", { class: "contact-points" }, contact.emails.map(point("email")))]);
  }

  function renderAttributes(contact) {
    const defined = state.contactAttributes;
    const writable = editable(contact);
    const values = contact.attributes || {};
    const inputs = new Map();
    const fields = defined.map((attribute) => {
      const inputId = `${prefix}-attr-${attribute.key}`;
      const value = values[attribute.key];
      let input;
      if (attribute.type === "boolean") {
        input = h("input", { type: "checkbox", id: inputId, checked: value === true });
      } else if (attribute.type === "list") {
        input = h("select", { id: inputId },
          h("option", { value: "" }, t("contacts.attrNone")),
          (attribute.options || []).map((option) => h("option", { value: option, selected: value === option }, option)));
      } else {
        const type = { number: "number", date: "date" }[attribute.type] || "text";
        input = h("input", { type, id: inputId, value: value === null || value === undefined ? "" : String(value),
          step: type === "number" ? "any" : null, maxlength: type === "text" ? "1000" : null });
      }
      input.dataset.attribute = attribute.key;
      input.disabled = !writable;
      input.addEventListener("input", () => { attributesDirty = true; });
      input.addEventListener("change", () => { attributesDirty = true; });
      inputs.set(attribute.key, { attribute, input });
      return h("div", { class: `field attr-field attr-${attribute.type}` },
        attribute.type === "boolean"
          ? h("label", { class: "check", for: inputId }, input, h("span", {}, attribute.label || attribute.key))
          : [h("label", { for: inputId }, attribute.label || attribute.key), input]);
    });
    const extra = Object.entries(values).filter(([key]) => !defined.some((a) => a.key === key));
    const error = h("p", { class: "field-error", role: "alert" });
    const form = h("form", { class: "contact-attr-form", novalidate: true, onsubmit: async (event) => {
      event.preventDefault();
      error.textContent = "";
      const changes = {};
      for (const [key, { attribute, input }] of inputs) {
        const next = readValue(attribute, input);
        const before = values[key] ?? null;
        if (next !== before) changes[key] = next;
      }
      if (!Object.keys(changes).length) {
        attributesDirty = false;
        return render();
      }
      try {
        await contacts.update(id, { attributes: changes });
        attributesDirty = false;
        say(t("contacts.attributesSaved"));
        render();
      } catch (failure) {
        error.textContent = t("contacts.error", { error: failure.message });
      }
      return undefined;
    } },
    fields,
    extra.map(([key, value]) => h("div", { class: "field attr-field attr-undefined" },
      h("span", { class: "attr-key" }, key), h("span", {}, String(value)))),
    error,
    writable && defined.length > 0 && h("div", { class: "form-buttons" },
      h("button", { type: "submit", class: "primary", id: `${prefix}-attr-save` }, t("contacts.saveAttributes"))));
    fill(attributes, h("h4", { id: `${prefix}-attributes` }, t("contacts.attributes")),
      defined.length || extra.length ? form : h("p", { class: "empty" }, t("contacts.noAttributes")));
  }

  function renderNotes(contact) {
    if (!editable(contact)) {
      fill(notes, h("h4", { id: `${prefix}-notes` }, t("contacts.notes")),
        h("p", { class: contact.notes ? "contact-notes-text" : "empty" }, contact.notes || t("contacts.noNotes")));
      return;
    }
    const area = h("textarea", { id: `${prefix}-notes-text`, rows: "3", maxlength: "5000",
      "aria-labelledby": `${prefix}-notes`, oninput: () => { notesDirty = true; } }, contact.notes || "");
    const error = h("p", { class: "field-error", role: "alert" });
    fill(notes, h("h4", { id: `${prefix}-notes` }, t("contacts.notes")),
      h("form", { class: "contact-notes-form", onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = "";
        try {
          await contacts.update(id, { notes: area.value });
          notesDirty = false;
          say(t("contacts.notesSaved"));
          render();
        } catch (failure) {
          error.textContent = t("contacts.error", { error: failure.message });
        }
      } }, area, error, h("div", { class: "form-buttons" },
        h("button", { type: "submit" }, t("contacts.saveNotes")))));
  }

  function renderConversations(contact) {
    const rows = [...(contact.conversations || [])].sort((a, b) =>
      Date.parse(b.activity_at || b.last_message_at || b.created_at || 0) - Date.parse(a.activity_at || a.last_message_at || a.created_at || 0));
    const current = currentChatId();
    fill(conversations, h("h4", { id: `${prefix}-conversations` }, t("contacts.conversations")),
      rows.length
        ? h("ul", { class: "contact-chats" }, rows.map((row) => {
          const here = row.id === current;
          const when = row.activity_at || row.last_message_at || row.created_at;
          const body = [
            channelIcon(row.channel),
            h("span", { class: "contact-chat-main" },
              h("span", { class: "contact-chat-name" }, row.subject || row.name || `#${row.id}`),
              h("span", { class: "contact-chat-preview" }, row.last_message?.text || channelLabel(row.channel))),
            h("span", { class: "contact-chat-side" },
              here ? h("span", { class: "badge here" }, t("contacts.thisChat")) : modeBadge(row),
              when && h("time", { datetime: when, title: fullTime(when) }, shortTime(when))),
          ];
          return h("li", { "data-chat": String(row.id) }, here
            ? h("div", { class: "contact-chat current", "aria-current": "true" }, body)
            : h("button", { type: "button", class: "contact-chat", "aria-label": t("contacts.openChat",
              { name: row.subject || row.name || `#${row.id}`, channel: channelLabel(row.channel) }), onclick: () => onOpenChat(row) }, body));
        }))
        : h("p", { class: "empty" }, t("contacts.noConversations")));
  }

  function renderMerging(contact, entry) {
    const suggestions = contact.suggestions || [];
    const last = contacts.undoable(entry);
    fill(merging,
      h("h4", { id: `${prefix}-merging` }, t("contacts.suggestions")),
      last && h("div", { class: "merge-done", "data-merge": String(last.id) },
        h("span", {}, t("contacts.mergedWith", { name: mergedName(last), time: fullTime(last.created_at) })),
        h("button", { type: "button", class: "undo-merge", onclick: () => undoMerge(last) }, t("contacts.undo"))),
      suggestions.length
        ? h("ul", { class: "suggestions" }, suggestions.map((other) => suggestion(other)))
        : h("p", { class: "empty" }, t("contacts.noSuggestions")));
  }

  function suggestion(other) {
    const shared = (other.shared || []).map((item) => `${t(`contacts.kind.${item.kind}`)} ${item.value}`).join(", ");
    const open = preview && preview.otherId === other.id;
    return h("li", { class: "suggestion", "data-suggestion": String(other.id) },
      h("div", { class: "suggestion-row" },
        h("span", { class: "suggestion-who" }, h("strong", {}, other.name || `#${other.id}`),
          shared && h("span", { class: "hint" }, t("contacts.shares", { what: shared }))),
        !open && h("button", { type: "button", class: "merge-button", "aria-label": t("contacts.mergeWith", { name: other.name || "" }),
          onclick: () => loadPreview(other) }, t("contacts.merge"))),
      open && previewBox(other));
  }

  async function loadPreview(other) {
    preview = { otherId: other.id, loading: true };
    render();
    try {
      const data = await contacts.mergePreview(id, other.id);
      if (preview?.otherId === other.id) preview = { otherId: other.id, data };
    } catch (error) {
      if (preview?.otherId === other.id) preview = { otherId: other.id, error: error.message };
    }
    render();
    merging.querySelector(".merge-confirm")?.focus();
  }

  function previewBox(other) {
    const cancel = h("button", { type: "button", onclick: () => { preview = null; render(); } }, t("action.cancel"));
    if (preview.loading) return h("div", { class: "merge-preview" }, h("p", {}, t("contacts.previewLoading")));
    if (preview.error) {
      return h("div", { class: "merge-preview" }, h("p", { class: "error", role: "alert" },
        t("contacts.error", { error: preview.error })), cancel);
    }
    const { moves, conflicts, identities } = describePreview(preview.data);
    return h("div", { class: "merge-preview", role: "group", "aria-label": t("contacts.previewOf", { name: other.name || "" }) },
      h("p", { class: "merge-lead" }, t("contacts.previewLead", { name: other.name || `#${other.id}` })),
      moves.length ? h("ul", { class: "merge-moves" }, moves.map((line) => h("li", {}, line)))
        : h("p", { class: "hint" }, t("contacts.previewNothing")),
      identities.length > 0 && h("p", { class: "merge-after hint" }, t("contacts.previewAfter", { list: identities.join(", ") })),
      conflicts.length > 0 && [h("p", { class: "merge-conflicts-head" }, t("contacts.conflicts")),
        h("ul", { class: "merge-conflicts" }, conflicts.map((c) => h("li", { "data-key": c.key },
          t("contacts.conflict", { key: c.label, kept: valueText(c.kept), dropped: valueText(c.dropped) }))))],
      h("div", { class: "form-buttons" },
        h("button", { type: "button", class: "primary merge-confirm", onclick: () => doMerge(other) }, t("contacts.confirmMerge")),
        cancel));
  }

  async function doMerge(other) {
    try {
      await contacts.merge(id, other.id);
      preview = null;
      say(t("contacts.merged", { name: other.name || `#${other.id}` }));
    } catch (error) {
      preview = { otherId: other.id, error: error.message };
    }
    render();
  }

  async function undoMerge(last) {
    try {
      await contacts.undo(id, last.id);
      say(t("contacts.undone"));
    } catch (error) {
      say(t("contacts.error", { error: error.message }));
    }
    render();
  }

  function renderAdmin(contact) {
    if (mode !== "page" || !isAdmin()) return fill(admin);
    const count = (contact.conversations || []).length;
    return fill(admin, h("h4", {}, t("contacts.privacy")),
      h("div", { class: "form-buttons contact-admin-buttons" },
        h("button", { type: "button", class: "export-contact", onclick: async () => {
          try {
            await contacts.exportContact(id);
          } catch (error) {
            say(t("contacts.error", { error: error.message }));
          }
        } }, icon("download"), h("span", {}, t("contacts.exportJson"))),
        !erasing && h("button", { type: "button", class: "danger erase-contact",
          onclick: () => { erasing = true; render(); admin.querySelector(".erase-confirm")?.focus(); } }, t("contacts.erase"))),
      erasing && h("div", { class: "erase-box", role: "alertdialog", "aria-labelledby": `${prefix}-erase-text` },
        h("p", { id: `${prefix}-erase-text`, class: "confirm-text" },
          t("contacts.eraseConfirm", { name: contact.name || `#${contact.id}`, count })),
        h("div", { class: "form-buttons" },
          h("button", { type: "button", class: "danger erase-confirm", onclick: async () => {
            try {
              await contacts.erase(id);
              erasing = false;
              onErased(contact);
            } catch (error) {
              erasing = false;
              say(t("contacts.error", { error: error.message }));
              render();
            }
          } }, t("contacts.eraseButton", { name: contact.name || `#${contact.id}` })),
          h("button", { type: "button", onclick: () => { erasing = false; render(); } }, t("action.cancel")))));
  }

  const stops = [
    on("contact", (detail) => {
      if (detail?.id !== id || detail.erased) return;
      if (!detail.removed) render();
      else if (detail.mergedInto) show(detail.mergedInto); // merged into another: that one now
      else {
        show(null);
        onErased(null);
      }
    }),
    on("contactAttributes", () => { if (!attributesDirty) render(); }),
  ];
  if (!state.contactAttributes.length) contacts.loadAttributes().catch(() => {});
  return { element, show, render, destroy: () => stops.forEach((stop) => stop()) };
}

/** Whether the user may change the contact: admins, and agents holding one of its chats. */
function editable(contact) {
  if (isAdmin()) return true;
  return (contact.conversations || []).some((chat) => chat.assigned_agent_id === state.user?.id);
}

/** An input's value as its attribute's type wants it; empty is null (the value is removed). */
function readValue(attribute, input) {
  if (attribute.type === "boolean") return input.checked;
  const raw = input.value.trim();
  if (!raw) return null;
  if (attribute.type === "number") return Number.isFinite(Number(raw)) ? Number(raw) : raw;
  return raw;
}

function valueText(value) {
  if (value === null || value === undefined || value === "") return t("panel.none");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

function mergedName(merge) {
  return merge.other_name || `#${merge.other_id}`;
}

/**
 * The merge preview (GET /contacts/{id}/merge-preview) as lines a person reads: how many
 * identities, numbers and addresses and conversations move to this contact, and the
 * attributes both have with different values (this contact's value is kept).
 */
export function describePreview(data) {
  const moves = [];
  const counts = data?.moves || {};
  if (counts.identities) moves.push(t("contacts.moveIdentities", { count: counts.identities }));
  if (counts.points) moves.push(t("contacts.movePoints", { count: counts.points }));
  if (counts.conversations) moves.push(t("contacts.moveConversations", { count: counts.conversations }));
  const conflicts = (Array.isArray(data?.conflicts) ? data.conflicts : []).map((item) => {
    const key = item.attribute ?? item.key;
    const label = state.contactAttributes.find((a) => a.key === key)?.label || key;
    return { key, label, kept: item.kept, dropped: item.dropped };
  });
  const identities = (data?.contact?.identities || []).map((item) => `${item.channel} ${item.external_id}`);
  return { moves, conflicts, identities };
}
