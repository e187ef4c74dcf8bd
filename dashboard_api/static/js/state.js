// The console's state and who is told when it changes. Views read it; controllers write it.

const listeners = new Map();

/** Call fn whenever `topic` is emitted; returns a function that stops it. */
export function on(topic, fn) {
  if (!listeners.has(topic)) listeners.set(topic, new Set());
  listeners.get(topic).add(fn);
  return () => listeners.get(topic).delete(fn);
}

export function emit(topic, detail) {
  for (const fn of listeners.get(topic) || []) fn(detail);
}

export const state = {
  user: null, // {id, username, display_name, role, ...}
  view: "chats", // "chats" | "contacts" | "reports" | "kb" | "users" | "labels" | "integrations" | "canned" | "profile"
  screen: "list", // on narrow screens: "list" | "chat"
  connection: "connecting", // "connecting" | "live" | "reconnecting"
  tab: "mine", // "mine" | "snoozed" | "queue" | "all"
  filters: { mode: "", channel: "", q: "", label: "" },
  chats: new Map(), // id -> chat row, every chat this user has seen
  labels: [], // every label: {id, name, colour, description} (GET /labels)
  selection: null, // the chat list's selection mode: a Set of chat ids, null when off
  bulk: null, // the last bulk action's answer: {action, done, failed}
  list: { ids: new Set(), next: null, loading: false, loaded: false, error: "" },
  open: null, // the open chat: {id, detail, messages: Map, hasMore, nextBefore, loading, ...}
  typing: new Map(), // chat id -> {name, until}
  agents: [],
  online: new Set(), // ids of the users online now (GET /presence, presence.updated)
  notice: "", // a one-line message on the login screen
  flash: "", // a one-line message over the console (e.g. why the open chat closed)
  notifications: { items: [], unread: 0, next: null, loaded: false }, // GET /notifications
  contacts: new Map(), // contact id -> {detail, merges, error} (GET /contacts/{id}, its merges)
  contactAttributes: [], // the custom attributes: {key, label, type, options} (GET /contact-attributes)
};

export function resetState() {
  Object.assign(state, {
    user: null,
    view: "chats",
    screen: "list",
    connection: "connecting",
    tab: "mine",
    filters: { mode: "", channel: "", q: "", label: "" },
    chats: new Map(),
    labels: [],
    selection: null,
    bulk: null,
    list: { ids: new Set(), next: null, loading: false, loaded: false, error: "" },
    open: null,
    typing: new Map(),
    agents: [],
    online: new Set(),
    flash: "",
    notifications: { items: [], unread: 0, next: null, loaded: false },
    contacts: new Map(),
    contactAttributes: [],
  });
}

export const isAdmin = () => state.user?.role === "admin";

/** Whether a note mentioned the user in `chat` (they read it and add notes until it closes). */
export function watching(chat) {
  return Boolean(state.user) && (chat.watchers || []).includes(state.user.id);
}

/** Whether the user may see `chat` at all (admins everything; agents theirs, the queue and the
 * chats they watch). */
export function visible(chat) {
  return isAdmin() || chat.assigned_agent_id === state.user?.id || Boolean(chat.queued) || watching(chat);
}

/** Whether `chat` belongs in the current tab and filters (for rows that arrive live). */
export function inCurrentList(chat, { strictSearch = true } = {}) {
  if (!visible(chat)) return false;
  if (state.tab === "mine" && chat.assigned_agent_id !== state.user.id && !watching(chat)) return false;
  if (state.tab === "mine" && chat.snoozed) return false; // snoozed: in its own tab
  if (state.tab === "snoozed" && (!chat.snoozed || chat.assigned_agent_id !== state.user.id)) return false;
  if (state.tab === "queue" && !chat.queued) return false;
  const { mode, channel, q, label } = state.filters;
  if (label && !(chat.labels || []).some((name) => name.toLowerCase() === label.toLowerCase())) return false;
  if (mode && state.tab !== "queue" && chat.mode !== mode) return false;
  if (channel && chat.channel !== channel) return false;
  if (q && strictSearch) {
    const needle = q.toLowerCase();
    const hay = [chat.name, chat.phone, chat.email, chat.last_message?.text]
      .filter(Boolean)
      .join(" ")
      .toLowerCase();
    // The server's search (docs/api.md, "Searching") as near as a row allows: the text as
    // typed, or each of its words ("phrases" and prefix* read as words).
    const words = needle.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    if (!hay.includes(needle) && !(words.length && words.every((word) => hay.includes(word)))) {
      return false;
    }
  }
  return true;
}

/** Newest activity first (the API's order). */
export function byActivity(a, b) {
  const at = (chat) => chat.activity_at || chat.last_message_at || chat.created_at || "";
  const diff = Date.parse(at(b) || 0) - Date.parse(at(a) || 0);
  return diff || b.id - a.id;
}

const RANK = { none: 0, low: 1, medium: 2, high: 3, urgent: 4 };

/** Highest priority first, then longest waiting (the queue's order: GET /chats/queue). */
export function byWaiting(a, b) {
  const at = (chat) => Date.parse(chat.queued_at || chat.activity_at || chat.created_at || 0);
  const rank = (chat) => RANK[chat.priority] || 0;
  return rank(b) - rank(a) || at(a) - at(b) || a.id - b.id;
}

/** The rows of the current list, sorted: the queue longest waiting first, others by activity. */
export function listRows() {
  return [...state.list.ids]
    .map((id) => state.chats.get(id))
    .filter(Boolean)
    .sort(state.tab === "queue" ? byWaiting : byActivity);
}

/**
 * Take a chat row from the API or an event. Older copies never overwrite newer ones. Returns
 * true when anything a view shows may have changed.
 */
export function upsertChat(row) {
  if (!row || typeof row.id !== "number") return false;
  const known = state.chats.get(row.id);
  if (known && known.updated_at && row.updated_at) {
    if (Date.parse(row.updated_at) < Date.parse(known.updated_at)) return false;
  }
  state.chats.set(row.id, { ...known, ...row });
  const listed = state.list.ids.has(row.id);
  // A row already listed stays while it fits the tab (the server matched the search on it).
  if (inCurrentList(row, { strictSearch: !listed })) state.list.ids.add(row.id);
  else state.list.ids.delete(row.id);
  if (!visible(row)) state.chats.delete(row.id);
  return true;
}
