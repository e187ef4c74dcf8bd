// Labels and priority: the labels (GET /labels), a chat's labels and priority, bulk actions
// on the list's selection. Views call these; rows that come back go through chats.applyRow.

import { applyRow } from "./chats.js";
import { h } from "./dom.js";
import { t } from "./i18n.js";
import { emit, state } from "./state.js";

export const PRIORITIES = ["none", "low", "medium", "high", "urgent"];
// Shown as a badge in rows (lower ones only in the chat header's selector).
const MARKED = new Set(["high", "urgent"]);
let api = null;
let loading = null;

export function connect(client) {
  api = client;
}

/** Every label, fetched again (after a change, or when a picker opens). */
export function loadLabels() {
  if (!loading) {
    loading = api.get("/labels")
      .then((labels) => {
        state.labels = labels;
        emit("labels");
        return labels;
      })
      .finally(() => { loading = null; });
  }
  return loading;
}

export function labelNamed(name) {
  const key = String(name).toLowerCase();
  return state.labels.find((label) => label.name.toLowerCase() === key) || null;
}

/** Dark text on light colours, white on dark ones. */
function ink(colour) {
  const value = parseInt(String(colour || "#6b7280").slice(1), 16);
  const [r, g, b] = [(value >> 16) & 255, (value >> 8) & 255, value & 255];
  return 0.299 * r + 0.587 * g + 0.114 * b > 150 ? "#111827" : "#ffffff";
}

/** A label as a coloured chip; `onRemove` adds a remove button. */
export function chip(name, { onRemove } = {}) {
  const colour = labelNamed(name)?.colour || "#6b7280";
  const el = h("span", { class: "label-chip", "data-label": name },
    h("span", { class: "label-name" }, name),
    onRemove && h("button", { type: "button", class: "label-remove", "aria-label": t("labels.removeFrom", { name }),
      title: t("labels.removeFrom", { name }), onclick: onRemove }, "×"));
  return paint(el, colour);
}

/** Colours set through the CSSOM (the console's CSP refuses style attributes). */
export function paint(el, colour) {
  el.style.backgroundColor = colour;
  el.style.color = ink(colour);
  return el;
}

/** The chips of a chat's labels (none: nothing). */
export function chips(chat) {
  const names = chat.labels || [];
  return names.length ? h("span", { class: "label-chips" }, names.map((name) => chip(name))) : null;
}

/** A badge for high and urgent chats (rows); null for the others. */
export function priorityBadge(chat) {
  const level = chat.priority || "none";
  if (!MARKED.has(level)) return null;
  return h("span", { class: `badge priority priority-${level}`, "data-priority": level,
    title: t("priority.label", { level: t(`priority.${level}`) }) }, t(`priority.${level}`));
}

export async function addLabel(chatId, name) {
  applyRow(await api.post(`/chats/${chatId}/labels`, { label: name }));
}

export async function removeLabel(chatId, name) {
  const { data } = await api.request("DELETE", `/chats/${chatId}/labels/${encodeURIComponent(name)}`);
  applyRow(data);
}

export async function setPriority(chatId, level) {
  const detail = await api.patch(`/chats/${chatId}`, { priority: level });
  const { messages, profile, has_more: more, next_before: before, ...row } = detail;
  applyRow(row);
}

// -- admins: the labels ------------------------------------------------------------------

export async function createLabel(fields) {
  const label = await api.post("/labels", fields);
  await loadLabels();
  return label;
}

export async function updateLabel(id, fields) {
  const label = await api.patch(`/labels/${id}`, fields);
  await loadLabels();
  return label;
}

export async function deleteLabel(id) {
  const { data } = await api.request("DELETE", `/labels/${id}`);
  await loadLabels();
  return data;
}

// -- the list's selection and bulk actions -----------------------------------------------

export function selecting() {
  return state.selection !== null;
}

export function setSelecting(on) {
  state.selection = on ? new Set() : null;
  state.bulk = null;
  emit("selection");
}

export function toggleSelected(id) {
  if (!state.selection) return;
  if (state.selection.has(id)) state.selection.delete(id);
  else state.selection.add(id);
  emit("selection");
}

/** Select every visible row (or none, when all are selected already). */
export function selectAll(ids) {
  if (!state.selection) return;
  const all = ids.length > 0 && ids.every((id) => state.selection.has(id));
  state.selection = all ? new Set() : new Set(ids);
  emit("selection");
}

/** POST /chats/bulk with the selected chats; the answer kept in state.bulk. */
export async function bulk(action, fields = {}) {
  const ids = [...(state.selection || [])].slice(0, 100);
  if (!ids.length) return null;
  state.bulk = null; // the last answer goes: this one (or its error) replaces it
  const answer = await api.post("/chats/bulk", { chat_ids: ids, action, ...fields });
  state.bulk = { action, ...answer };
  // Changed rows come as chat.updated frames; the failed ones stay selected to try again.
  state.selection = new Set(answer.failed.map((failure) => failure.chat_id));
  emit("selection");
  return answer;
}
