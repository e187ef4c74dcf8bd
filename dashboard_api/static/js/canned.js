// Canned responses: loading them (GET /canned-responses, filled for a chat with ?chat_id=),
// saving them, and the filter the composer's "/" picker applies as the agent types.

import { language } from "./i18n.js";

const KEPT_MS = 30_000; // the picker reuses a chat's list this long (changes here clear it)

let api = null;
let kept = null; // {chatId, at, rows}

export function connect(client) {
  api = client;
  kept = null;
}

/** The shared responses and the user's own; with a chat id, each with `rendered` filled. */
export async function load(chatId = null) {
  return api.get("/canned-responses", chatId ? { chat_id: chatId } : {});
}

/** load(chatId), or the same list fetched for that chat in the last 30 seconds. */
export async function forChat(chatId) {
  if (kept && kept.chatId === chatId && Date.now() - kept.at < KEPT_MS) return kept.rows;
  const rows = await load(chatId);
  kept = { chatId, at: Date.now(), rows };
  return rows;
}

async function changing(call) {
  kept = null;
  try {
    return await call();
  } finally {
    kept = null;
  }
}

export const create = (body) => changing(() => api.post("/canned-responses", body));
export const update = (id, changes) => changing(() => api.patch(`/canned-responses/${id}`, changes));
export const remove = (id) => changing(async () => (await api.request("DELETE", `/canned-responses/${id}`)).data);

/**
 * The responses that match what was typed after "/", best first: a short code starting with
 * it, then a title starting with it, then either holding it (the server's order otherwise).
 */
export function filter(rows, query) {
  const needle = query.trim().toLowerCase();
  if (!needle) return rows;
  const rank = (row) => {
    const code = row.short_code.toLowerCase();
    const title = row.title.toLowerCase();
    if (code.startsWith(needle)) return 0;
    if (title.startsWith(needle)) return 1;
    if (code.includes(needle) || title.includes(needle)) return 2;
    return null;
  };
  return rows
    .map((row, index) => ({ row, index, rank: rank(row) }))
    .filter((item) => item.rank !== null)
    .sort((a, b) => a.rank - b.rank || a.index - b.index)
    .map((item) => item.row);
}

/** The text to insert: the Indonesian one when the console speaks Indonesian and there is one. */
export function textFor(row) {
  if (language() === "id" && row.text_id) return row.rendered_id ?? row.text_id;
  return row.rendered ?? row.text;
}

/** The "/query" being typed before the caret (at the start, or after whitespace), or null. */
export function slashQuery(value, caret) {
  const match = /(^|\s)\/([^\s/]{0,64})$/.exec(value.slice(0, caret));
  if (!match) return null;
  return { query: match[2], start: caret - match[2].length - 1 };
}
