// Notifications (GET /notifications): the bell's list and unread count, kept live by the
// notification.created and notifications.read frames; the tab title "(3) msgcenter"; when the
// tab is hidden, a short sound (Web Audio, no file) and a browser notification, each as the
// user's preferences allow (state.user.preferences.sound / .browser, true when missing).

import { emit, state } from "./state.js";
import { t } from "./i18n.js";

const PAGE = 20;
let api = null;
let audio = null;

export function connect(client) {
  api = client;
}

/** The first page and the unread count. */
export async function load() {
  if (!api) return;
  try {
    const answer = await api.get("/notifications", { limit: PAGE });
    Object.assign(state.notifications, {
      items: answer.items, unread: answer.unread, next: answer.next_before, loaded: true,
    });
  } catch {
    state.notifications.loaded = true;
  }
  changed();
}

/** Older ones, below the list. */
export async function loadMore() {
  const { next } = state.notifications;
  if (!next) return;
  const answer = await api.get("/notifications", { limit: PAGE, before: next });
  state.notifications.items.push(...answer.items);
  state.notifications.next = answer.next_before;
  state.notifications.unread = answer.unread;
  changed();
}

export async function markRead(item) {
  if (item.read) return;
  item.read = true; // at once; the answer (and the frame) say the count
  changed();
  const answer = await api.post(`/notifications/${item.id}/read`);
  state.notifications.unread = answer.unread;
  changed();
}

export async function markAllRead() {
  for (const item of state.notifications.items) item.read = true;
  state.notifications.unread = 0;
  changed();
  await api.post("/notifications/read-all");
}

/** notification.created and notifications.read frames; other frames are not ours. */
export function handleFrame(frame) {
  const data = frame.data || {};
  if (frame.type === "notification.created" && data.notification) {
    const item = data.notification;
    const list = state.notifications.items;
    const at = list.findIndex((known) => known.id === item.id);
    const fresh = at === -1 || list[at].read; // a coalesced one that was read counts again
    if (at !== -1) list.splice(at, 1);
    list.unshift(item);
    if (fresh && !item.read) state.notifications.unread += 1;
    changed();
    alert(item);
  } else if (frame.type === "notifications.read") {
    const ids = new Set(data.ids || []);
    for (const item of state.notifications.items) if (data.all || ids.has(item.id)) item.read = true;
    if (typeof data.unread === "number") state.notifications.unread = data.unread;
    changed();
  }
}

function changed() {
  title();
  emit("notifications");
}

/** "(3) msgcenter" while there are unread notifications. */
export function title() {
  const unread = state.notifications.unread;
  document.title = unread > 0 ? `(${unread}) ${t("app.title")}` : t("app.title");
}

/** What a notification says, in the reader's language. */
export function describe(item) {
  const data = item.data || {};
  const customer = data.customer || (item.chat_id ? `#${item.chat_id}` : "");
  switch (item.kind) {
    case "mention":
      return t("notify.mention", { by: data.by || "?", customer });
    case "assigned":
      return data.by_kind === "system" || !data.by
        ? t("notify.assignedAuto", { customer })
        : t("notify.assigned", { by: data.by, customer });
    case "message":
      return (data.count || 1) > 1
        ? t("notify.messages", { customer, count: data.count })
        : t("notify.message", { customer });
    case "queue_waiting":
      return t("notify.queueWaiting", { customer, minutes: data.minutes || "?" });
    case "snooze_ended":
      return t("notify.snoozeEnded", { customer });
    case "webhook_disabled":
      return t("notify.webhookDisabled", { url: data.url || `#${data.endpoint_id || "?"}` });
    default:
      return item.kind;
  }
}

function allowed(name) {
  const preferences = state.user?.preferences || {};
  return preferences[name] !== false; // true when missing
}

/** A sound and a browser notification for a new one, only while the tab is hidden. */
function alert(item) {
  if (!document.hidden || item.read) return;
  if (allowed("sound")) chime();
  if (allowed("browser") && "Notification" in window && Notification.permission === "granted") {
    try {
      const shown = new Notification(t("app.title"), { body: describe(item), tag: `notification-${item.id}` });
      shown.onclick = () => {
        window.focus();
        emit("notification.open", item);
        shown.close();
      };
    } catch {
      // some browsers only show notifications from a service worker: the bell still counts
    }
  }
}

/** Two short tones, made with the Web Audio API (no file to load). */
export function chime() {
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return false;
    audio = audio || new Context();
    const now = audio.currentTime;
    for (const [offset, frequency] of [[0, 880], [0.16, 1320]]) {
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.type = "sine";
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, now + offset);
      gain.gain.exponentialRampToValueAtTime(0.2, now + offset + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + offset + 0.14);
      tone.connect(gain).connect(audio.destination);
      tone.start(now + offset);
      tone.stop(now + offset + 0.15);
    }
    window.__chimes = (window.__chimes || 0) + 1; // counted for the browser tests
    return true;
  } catch {
    return false;
  }
}

/** Ask for the browser's permission (call from a click: browsers require a gesture). */
export async function askPermission() {
  if (!("Notification" in window)) return "unsupported";
  if (Notification.permission !== "default") return Notification.permission;
  // The audio context may only start after a gesture too: this click is one.
  try {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (Context && !audio) audio = new Context();
  } catch {
    // no sound then
  }
  return Notification.requestPermission();
}

export function permission() {
  return "Notification" in window ? Notification.permission : "unsupported";
}
