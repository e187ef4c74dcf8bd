// Contacts: one customer across channels (docs/api.md "Contacts"). The contact detail the
// panel and the Contacts page show, its changes, merges and undo, the custom attributes,
// CSV export and import, and the live `contact.updated` frames. Views call these and
// re-render on the "contact" and "contactAttributes" topics.

import { emit, state } from "./state.js";
import { saveAs } from "./views/messages.js";

let api = null;
const loading = new Map(); // contact id -> the Promise of its detail in flight

export function connect(client) {
  api = client;
}

/** A contact's full detail (GET /contacts/{id}) and its merges, kept in state.contacts. */
export function loadContact(id) {
  if (!loading.has(id)) {
    const request = Promise.all([
      api.get(`/contacts/${id}`),
      api.get(`/contacts/${id}/merges`).catch(() => []),
    ]).then(([detail, merges]) => {
      const entry = { detail, merges: Array.isArray(merges) ? merges : [], error: "" };
      state.contacts.set(id, entry);
      emit("contact", { id });
      return entry;
    }, (error) => {
      state.contacts.set(id, { detail: null, merges: [], error: error.message, status: error.status });
      emit("contact", { id });
      throw error;
    }).finally(() => loading.delete(id));
    loading.set(id, request);
  }
  return loading.get(id);
}

/** The detail known for `id` ({detail, merges, error}), or null while none was loaded. */
export function known(id) {
  return state.contacts.get(id) || null;
}

/** PATCH /contacts/{id} with {name?, notes?, attributes?}; the new detail is loaded after. */
export async function update(id, changes) {
  await api.patch(`/contacts/${id}`, changes);
  return loadContact(id);
}

/** A page of GET /contacts (q, attribute.KEY filters): {rows, next}. */
export function page(query) {
  return api.page("/contacts", query);
}

/** The page after, by the Link header's URL. */
export function nextPage(url) {
  return api.page(url);
}

// -- custom attributes ---------------------------------------------------------------------

let attributesLoading = null;

/** The defined custom attributes ({key, label, type, options}), fetched again. */
export function loadAttributes() {
  if (!attributesLoading) {
    attributesLoading = api.get("/contact-attributes")
      .then((rows) => {
        state.contactAttributes = Array.isArray(rows) ? rows : [];
        emit("contactAttributes");
        return state.contactAttributes;
      })
      .finally(() => { attributesLoading = null; });
  }
  return attributesLoading;
}

export async function createAttribute(fields) {
  const made = await api.post("/contact-attributes", fields);
  await loadAttributes();
  return made;
}

export async function deleteAttribute(attribute) {
  await api.request("DELETE", `/contact-attributes/${encodeURIComponent(attribute.key)}`);
  await loadAttributes();
}

// -- merge and undo ------------------------------------------------------------------------

export function mergePreview(id, otherId) {
  return api.get(`/contacts/${id}/merge-preview`, { other_id: otherId });
}

/** POST /contacts/{id}/merge: {merge_id, contact}; both contacts are loaded again after. */
export async function merge(id, otherId) {
  const answer = await api.post(`/contacts/${id}/merge`, { other_id: otherId });
  state.contacts.delete(otherId);
  await loadContact(id);
  return answer;
}

/** POST /contacts/merges/{merge_id}/undo; the contact is loaded again after. */
export async function undo(id, mergeId) {
  const answer = await api.post(`/contacts/merges/${mergeId}/undo`);
  await loadContact(id);
  return answer;
}

/** The merge the panel offers to undo: the newest one not undone yet. */
export function undoable(entry) {
  const merges = [...(entry?.merges || [])].filter((m) => !m.undone_at);
  merges.sort((a, b) => Date.parse(b.created_at || 0) - Date.parse(a.created_at || 0) || b.id - a.id);
  return merges[0] || null;
}

// -- privacy and files ---------------------------------------------------------------------

/** DELETE /contacts/{id} (admins): the contact, their messages and files are erased. */
export async function erase(id) {
  const { data } = await api.request("DELETE", `/contacts/${id}`);
  state.contacts.delete(id);
  emit("contact", { id, erased: true });
  return data;
}

async function download(path, name) {
  const blob = await api.blob(path);
  const url = URL.createObjectURL(blob);
  saveAs(url, name);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** GET /contacts/{id}/export: all of the contact's data as a JSON file. */
export function exportContact(id) {
  return download(`/contacts/${id}/export`, `contact-${id}.json`);
}

/** GET /contacts/export: every contact as CSV. */
export function exportCsv() {
  return download("/contacts/export", "contacts.csv");
}

/**
 * POST /contacts/import with the CSV file as text/csv: {created, updated}. A refused file
 * throws ApiError 422 import_refused with details.rows [{row, field, message}].
 */
export function importCsv(file) {
  return api.sendFile("POST", "/contacts/import", file, "text/csv");
}

/** The read-only view of a chat the user may not act on (history for agents). */
export function readChat(id, before = null) {
  return api.get(`/chats/${id}`, before ? { before, limit: 50 } : undefined);
}

/**
 * A frame from the live stream: `contact.updated` refreshes that contact where it is shown;
 * `contact.removed` (merged into another, or erased) drops it.
 */
export function handleFrame(frame) {
  const data = frame.data || {};
  if (frame.type === "contact.updated") {
    const id = data.contact?.id;
    if (typeof id !== "number") return;
    emit("contactRow", data.contact);
    if (state.contacts.has(id)) loadContact(id).catch(() => {});
  } else if (frame.type === "contact.removed") {
    const id = data.contact_id;
    if (typeof id !== "number") return;
    state.contacts.delete(id);
    emit("contact", { id, removed: true, mergedInto: data.merged_into_id ?? null });
  }
}
