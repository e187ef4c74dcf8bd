// What the console does with chats: load lists and pages, open a chat, send, act, mark read,
// and apply the live frames. Views call these and re-render on the topics emitted.

import { canWrite, ENDPOINTS } from "./modes.js";
import { emit, inCurrentList, isAdmin, state, upsertChat, visible } from "./state.js";
import { throttle } from "./dom.js";
import { t } from "./i18n.js";

const PAGE = 50;
const MESSAGES = 50;
let api = null;
let live = null;
let listRequest = 0;

export function connect(client, stream) {
  api = client;
  live = stream;
}

function listSource() {
  const { mode, channel, q, label } = state.filters;
  if (state.tab === "queue") return { path: "/chats/queue", query: { limit: PAGE, label } };
  const query = { limit: PAGE, mode, channel, q, label };
  const own = state.tab === "mine" || state.tab === "snoozed";
  if (own && isAdmin()) query.assigned = "me";
  if (own) query.snoozed = state.tab === "snoozed"; // Mine: the awake ones
  return { path: "/chats/", query };
}

function takeRows(rows, request) {
  if (request !== listRequest) return false;
  for (const row of rows) {
    upsertChat(row);
    // The queue endpoint has no filters: those apply here. Other lists come filtered.
    if (state.tab !== "queue" || inCurrentList(row)) state.list.ids.add(row.id);
  }
  return true;
}

/** (Re)load the first page of the current tab with the current filters. */
export async function loadList() {
  const request = ++listRequest;
  state.list = { ids: new Set(), next: null, loading: true, loaded: false, error: "" };
  emit("list");
  const { path, query } = listSource();
  try {
    const { rows, next } = await api.page(path, query);
    if (!takeRows(rows, request)) return;
    Object.assign(state.list, { next, loading: false, loaded: true });
  } catch (error) {
    if (request !== listRequest) return;
    Object.assign(state.list, { loading: false, error: error.message });
  }
  emit("list");
}

/** The next page (the Link header's URL), as the list is scrolled down. */
export async function loadMore() {
  const { next, loading } = state.list;
  if (!next || loading) return;
  const request = listRequest;
  state.list.loading = true;
  emit("list");
  try {
    const page = await api.page(next);
    if (!takeRows(page.rows, request)) return;
    state.list.next = page.next;
  } catch (error) {
    state.list.error = error.message;
  }
  state.list.loading = false;
  emit("list");
}

/** The agents (with capacity and open chats) and who is online, for the pickers. */
export async function loadAgents() {
  const [agents, presence] = await Promise.all([
    api.get("/agents").catch(() => []),
    api.get("/presence").catch(() => null),
  ]);
  state.agents = agents;
  if (presence) state.online = new Set(presence.online || []);
  emit("agents");
}

let flashTimer = null;

/** A one-line message over the console for a while (e.g. why the open chat closed). */
export function flash(text) {
  state.flash = text;
  emit("flash");
  clearTimeout(flashTimer);
  if (text) flashTimer = setTimeout(() => flash(""), 12000);
}

/**
 * The open chat is no longer this user's to see (returned to the bot, transferred, gone):
 * close it and say why, instead of leaving a chat window that cannot load or send.
 */
function chatTaken(row, { known = true } = {}) {
  const name = row?.assigned_agent_name || (row?.assigned_agent_id ? `#${row.assigned_agent_id}` : "");
  let key = "gone.other";
  if (known && row?.mode === "bot") key = "gone.bot";
  else if (known && row?.assigned_agent_id) key = "gone.agent";
  flash(t(key, { name: row?.name || "", agent: name }));
  closeChat();
}

function takeDetail(detail) {
  const { profile, messages, has_more: hasMore, next_before: nextBefore, ...row } = detail;
  upsertChat(row);
  return { profile, messages, hasMore, nextBefore };
}

/** Open a chat: its latest messages, then mark them read. */
export async function openChat(id) {
  state.open = { id, profile: null, messages: new Map(), hasMore: false, loading: true };
  state.screen = "chat";
  emit("open");
  try {
    const { profile, messages, hasMore, nextBefore } = takeDetail(await api.get(`/chats/${id}`));
    if (state.open?.id !== id) return;
    Object.assign(state.open, { profile, hasMore, nextBefore, loading: false });
    state.open.lastCustomerAt = profile?.last_active_at ?? null;
    for (const message of messages) {
      state.open.messages.set(message.id, message);
      if (message.sender === "customer") state.open.lastCustomerAt = later(state.open.lastCustomerAt, message.created_at);
    }
  } catch (error) {
    if (state.open?.id !== id) return;
    Object.assign(state.open, { loading: false, error: error.message });
  }
  emit("open");
  emit("list");
  markRead();
}

export function closeChat() {
  state.open = null;
  state.screen = "list";
  emit("open");
  emit("list");
}

/** Older messages, as the history is scrolled up. */
export async function loadOlder() {
  const open = state.open;
  if (!open || !open.hasMore || open.loadingOlder) return;
  open.loadingOlder = true;
  emit("messages", { older: true });
  try {
    const detail = await api.get(`/chats/${open.id}`, { before: open.nextBefore, limit: MESSAGES });
    const { messages, hasMore, nextBefore } = takeDetail(detail);
    if (state.open !== open) return;
    open.messages = new Map([...messages.map((m) => [m.id, m]), ...open.messages]);
    Object.assign(open, { hasMore, nextBefore });
  } catch {
    /* the button stays: scrolling up or pressing it tries again */
  } finally {
    open.loadingOlder = false;
    emit("messages", { older: true });
  }
}

function later(a, b) {
  return Date.parse(b || "") > Date.parse(a || "") || !a ? b : a;
}

function addMessage(message) {
  const open = state.open;
  if (!open || open.id !== message.chat_id) return;
  if (message.sender === "customer" && !open.messages.has(message.id)) {
    open.lastCustomerAt = later(open.lastCustomerAt, message.created_at);
    open.windowRefused = false; // the customer wrote: the window is open again
    emit("chat");
  }
  const added = !open.messages.has(message.id);
  open.messages.set(message.id, { ...open.messages.get(message.id), ...message });
  emit("messages", { added, id: message.id });
}

/** Send the agent's reply; throws the API's error when the send is refused. */
export async function send(text) {
  return sent(state.open, api.post("/chats/messages", { chat_id: state.open.id, text }));
}

/** A private note in the open chat: stored for the team, never sent to the customer. */
export async function sendNote(text) {
  return sent(state.open, api.post("/chats/messages", { chat_id: state.open.id, text, internal: true }));
}

/**
 * Send files (and the text as their caption) as multipart/form-data with upload progress:
 * onProgress(sent, total). Returns {promise, abort}; the promise throws the API's error.
 */
export function sendFiles(text, files, onProgress) {
  const open = state.open;
  const form = new FormData();
  form.append("chat_id", String(open.id));
  if (text) form.append("text", text);
  for (const file of files) form.append("file", file, file.name);
  const upload = api.upload("/chats/messages", form, onProgress);
  return { promise: sent(open, upload.promise), abort: upload.abort };
}

/** Send an approved WhatsApp template: {name, language, parameters: {body: [...], header: [...]}}. */
export async function sendTemplate(template) {
  return sent(state.open, api.post("/chats/messages", { chat_id: state.open.id, template }));
}

async function sent(open, request) {
  let message;
  try {
    message = await request;
  } catch (error) {
    if (error.status === 404 && state.open === open) chatTaken(state.chats.get(open.id), { known: false });
    if (error.status === 409 && state.open === open && state.chats.get(open.id)?.channel === "WhatsApp") {
      open.windowRefused = true; // the 24 hours passed: only a template may be sent now
      emit("chat");
    }
    throw error;
  }
  // Files on WhatsApp and Telegram go one per message: the answer lists them all.
  const { messages, ...first } = message;
  for (const each of Array.isArray(messages) && messages.length ? messages : [first]) addMessage(each);
  return first;
}

export const WINDOW_MS = 24 * 3600 * 1000;

/**
 * WhatsApp's customer-service window of the open chat: {applies, closed, lastAt}. Free-form
 * messages (text, files) may be sent only within 24 hours of the customer's last message;
 * after that, or when the customer never wrote, only a template. A 409 from a send says so too.
 */
export function replyWindow(chat, open = state.open) {
  if (!chat || chat.channel !== "WhatsApp") return { applies: false, closed: false, lastAt: null };
  const lastAt = chat.last_customer_message_at ?? open?.lastCustomerAt ?? null;
  const at = Date.parse(lastAt || "");
  const closed = Boolean(open?.windowRefused) || !(at > Date.now() - WINDOW_MS);
  return { applies: true, closed: open?.loading ? false : closed, lastAt };
}

/**
 * Start a WhatsApp conversation with a phone number (E.164): the chat of that number becomes
 * the user's, opens, and its template picker too (only a template reaches a customer who has
 * not written, or not within 24 hours).
 */
export async function startConversation(phone, name) {
  const body = { channel: "WhatsApp", phone };
  if (name) body.customer_name = name;
  const detail = await api.post("/chats/", body);
  takeDetail(detail); // the row, in the list at once
  emit("list");
  await openChat(detail.id);
  emit("pickTemplate");
  return detail;
}

/** The approved WhatsApp templates (GET /channels/whatsapp/templates), fetched again each time. */
export async function loadTemplates() {
  return api.get("/channels/whatsapp/templates");
}

/**
 * One action of the mode table; `agentId` for assign and transfer, `force` (admins) to
 * assign past the agent's capacity.
 */
export async function act(action, agentId, { force = false } = {}) {
  const open = state.open;
  const path = `/chats/${open.id}/${ENDPOINTS[action]}`;
  let body;
  if (agentId) body = force ? { agent_id: agentId, force: true } : { agent_id: agentId };
  const row = await api.post(path, body);
  applyRow(row);
  markRead(); // a claimed or taken-over chat is the agent's to read now
}

/** Snooze the open chat until `until` (a Date), or until the customer replies (null). */
export async function snooze(until) {
  const body = until ? { until: until.toISOString() } : { until_customer_replies: true };
  applyRow(await api.post(`/chats/${state.open.id}/snooze`, body));
}

/** Wake the open chat now. */
export async function wake() {
  applyRow(await api.post(`/chats/${state.open.id}/unsnooze`));
}

export async function markRead() {
  const open = state.open;
  const chat = open && state.chats.get(open.id);
  if (!chat || !chat.unread || !canWrite(chat, state.user) || document.hidden) return;
  // Reading someone else's chat leaves its unread mark for the agent who holds it.
  const holder = chat.assigned_agent_id;
  if (holder != null && holder !== state.user?.id) return;
  try {
    const answer = await api.post(`/chats/${open.id}/read`);
    applyRow(answer.chat);
  } catch {
    /* read marks are best effort: the next open tries again */
  }
}

const sendTyping = throttle((chatId) => {
  if (!live.send({ type: "typing", chat_id: chatId })) {
    api.post(`/chats/${chatId}/typing`).catch(() => {});
  }
}, 3000);

// Files the API keeps, fetched with the token and shown through blob: URLs (an <img src>
// cannot send the Authorization header). Kept while their chat is open; released when it
// is left (releaseFiles) and at logout.
const files = new Map(); // attachment url -> Promise of an object URL
let fileGeneration = 0;

/** An attachment's url (from the message JSON) as a same-origin blob: URL, fetched once. */
export function attachmentUrl(path) {
  if (!files.has(path)) {
    const generation = fileGeneration;
    const url = api.blob(path).then((blob) => {
      const objectUrl = URL.createObjectURL(blob);
      // Released while it was on its way: let it go at once.
      if (generation !== fileGeneration) URL.revokeObjectURL(objectUrl);
      return objectUrl;
    });
    url.catch(() => files.delete(path));
    files.set(path, url);
  }
  return files.get(path);
}

/** Let go of the files fetched so far (the chat showing them was left, or the user logged out). */
export function releaseFiles() {
  fileGeneration += 1;
  for (const url of files.values()) url.then((u) => URL.revokeObjectURL(u)).catch(() => {});
  files.clear();
}

/** At logout: let go of the files fetched for this user. */
export const forgetFiles = releaseFiles;

/** The agent typed in the composer (sent at most every 3 s). */
export function typing() {
  const chat = state.open && state.chats.get(state.open.id);
  if (chat && canWrite(chat, state.user)) sendTyping(chat.id);
}

export function applyRow(row) {
  if (!upsertChat(row)) return;
  if (state.open?.id === row.id && !visible(row)) return chatTaken(row); // emits "list" too
  emit("list");
  if (state.open?.id === row.id) emit("chat");
  return undefined;
}

/** A frame from the live stream. */
export function handleFrame(frame, { resumed }) {
  const data = frame.data || {};
  switch (frame.type) {
    case "hello":
      if (!resumed) {
        loadList();
        loadAgents();
      }
      break;
    case "resync":
      resync().catch(() => loadList()); // could not catch up piecemeal: start the list afresh
      break;
    case "message.created":
      applyRow(data.chat);
      if (data.message) addMessage(data.message);
      if (data.message?.sender === "customer") markRead();
      break;
    case "message.updated":
      if (data.message) addMessage(data.message);
      break;
    case "presence.updated": {
      if (data.online) state.online.add(data.user_id);
      else state.online.delete(data.user_id);
      const known = state.agents.find((a) => a.id === data.user_id);
      if (known && data.status) Object.assign(known, { status: data.status, availability: data.availability });
      if (data.user_id === state.user.id && data.availability && data.availability !== state.user.availability) {
        state.user = { ...state.user, availability: data.availability }; // set in another tab
        emit("me");
      }
      emit("agents");
      break;
    }
    case "chat.typing":
      if (data.user_id !== state.user.id) {
        state.typing.set(frame.chat_id, { name: data.name, until: Date.now() + 6000 });
        emit("typing");
        setTimeout(() => emit("typing"), 6100);
      }
      break;
    case "chat.removed": {
      // Erased with its contact (privacy on request): it leaves the list, and the screen.
      const id = data.chat_id ?? frame.chat_id;
      state.chats.delete(id);
      state.list.ids.delete(id);
      if (state.open?.id === id) closeChat();
      else emit("list");
      break;
    }
    default:
      if (data.chat) applyRow(data.chat);
  }
}

/** The server no longer has the events we missed: fetch what changed since our newest row. */
export async function resync() {
  const times = [...state.chats.values()].map((c) => Date.parse(c.updated_at || 0));
  const since = times.length ? new Date(Math.max(...times) - 1000).toISOString() : null;
  if (!since) return loadList();
  let next = null;
  let page = await api.page("/chats/", { updated_since: since, limit: 200 });
  for (;;) {
    page.rows.forEach(applyRow);
    next = page.next;
    if (!next) break;
    page = await api.page(next);
  }
  if (state.tab === "queue" || !isAdmin()) {
    const queue = await api.page("/chats/queue", { limit: 200 });
    queue.rows.forEach(applyRow);
  }
  if (state.open) {
    const { messages } = takeDetail(await api.get(`/chats/${state.open.id}`));
    messages.forEach(addMessage);
  }
  return undefined;
}
