// The console's entry point: session, layout, and the live stream.

import { Api, loadSession, saveSession } from "./api.js";
import * as canned from "./canned.js";
import * as chats from "./chats.js";
import * as contacts from "./contacts.js";
import * as kb from "./kb.js";
import * as copilot from "./copilot.js";
import * as notifications from "./notifications.js";
import * as reports from "./reports.js";
import { h } from "./dom.js";
import { language, setLanguage, t } from "./i18n.js";
import { mountShortcuts } from "./shortcuts.js";
import { emit, on, resetState, state, visible } from "./state.js";
import { mountCanned } from "./views/canned.js";
import { mountChat } from "./views/chat.js";
import { mountContactsPage } from "./views/contactspage.js";
import { mountKb } from "./views/kb.js";
import { closeHistory, openHistory } from "./views/history.js";
import { mountList } from "./views/list.js";
import { mountLogin } from "./views/login.js";
import { mountPanel } from "./views/panel.js";
import { mountProfile } from "./views/profile.js";
import { mountReports } from "./views/reports.js";
import { mountFlash, mountHeader } from "./views/shell.js";
import { mountIntegrations } from "./views/integrations.js";
import { mountUsers } from "./views/users.js";
import { mountLabels } from "./views/labels.js";
import * as tags from "./tags.js";
import { LiveStream } from "./ws.js";

const root = document.getElementById("app");
const api = new Api({ onUnauthorized: () => expire() });
const wide = window.matchMedia("(min-width: 1200px)");
let live = null;
let expiryTimer = null;
let unmount = [];
let panelOpen = wide.matches;
let renewing = null; // a password change in flight: its new token replaces this session's

function cleanup() {
  unmount.forEach((stop) => stop && stop());
  unmount = [];
}

function showLogin() {
  cleanup();
  document.title = t("app.title");
  mountLogin(root, { notice: state.notice, onLogin: login, onLanguage: switchLanguage });
}

async function login(identifier, password) {
  const answer = await api.login(identifier, password);
  const session = {
    token: answer.access_token,
    user: answer.user,
    expiresAt: Date.now() + answer.expires_in * 1000,
  };
  saveSession(session);
  state.notice = "";
  enter(session);
}

function enter(session) {
  api.token = session.token;
  state.user = session.user;
  // A language the user chose (on any device) wins over this browser's; English, every
  // account's default, may mean they never chose: then the browser's (or the login screen's)
  // stays.
  const stored = session.user.language;
  if (stored && stored !== "en" && stored !== language()) setLanguage(stored);
  state.tab = session.user.role === "admin" ? "all" : "mine";
  clearTimeout(expiryTimer);
  expiryTimer = setTimeout(expire, Math.min(session.expiresAt - Date.now(), 2 ** 31 - 1));
  live = new LiveStream(session.token, {
    onFrame: (frame, how) => {
      notifications.handleFrame(frame);
      chats.handleFrame(frame, how);
      contacts.handleFrame(frame);
      if (frame.type === "hello" && !how.resumed) notifications.load();
    },
    onStatus: (status) => {
      state.connection = status;
      emit("connection");
    },
    onExpired: expire,
    onDrop: () => {
      // A refused upgrade looks like any drop: ask the API whether the token still holds.
      api.get("/auth/me").catch(() => {});
      if (!state.list.loaded && !state.list.loading) chats.loadList();
    },
  });
  chats.connect(api, live);
  canned.connect(api);
  copilot.connect(api);
  contacts.connect(api);
  tags.connect(api);
  notifications.connect(api);
  reports.connect(api);
  kb.connect(api);
  renderApp();
  live.start();
}

function expire() {
  // Changing one's password ends every session, this one's socket too: wait for the new token.
  if (renewing) return;
  logout(t("login.expired"));
}

function logout(notice = t("login.loggedOut")) {
  closeHistory();
  if (live) live.stop();
  live = null;
  chats.forgetFiles();
  clearTimeout(expiryTimer);
  saveSession(null);
  api.token = null;
  resetState();
  reports.resetChoice();
  state.notice = notice;
  showLogin();
}

function renderApp() {
  cleanup();
  document.title = t("app.title");
  const header = h("header", { class: "topbar" });
  const layouts = { users: usersLayout, profile: profileLayout, canned: cannedLayout, labels: labelsLayout,
    contacts: contactsLayout, reports: reportsLayout, kb: kbLayout, integrations: integrationsLayout };
  const main = (layouts[state.view] || chatsLayout)();
  const flash = h("div", { class: "flash", role: "status", "aria-live": "polite" });
  root.replaceChildren(header, main, flash);
  unmount.push(mountHeader(header, { onLogout: () => logout(), onLanguage: switchLanguage, onView: switchView,
    onAvailability: setAvailability,
    onOpenChat: (id) => {
      switchView("chats");
      chats.openChat(id);
    } }));
  unmount.push(mountFlash(flash, () => chats.flash("")));
  unmount.push(mountShortcuts(root));
}

function chatsLayout() {
  const sidebar = h("section", { class: "sidebar", "aria-label": t("list.label") });
  const conversation = h("section", { class: "conversation", "aria-label": t("chat.messages") });
  const panel = h("aside", { class: "customer", id: "customer-panel", "aria-label": t("chat.panel") });
  const workspace = h("main", { class: "workspace" }, sidebar, conversation, panel);
  const layout = () => {
    workspace.dataset.screen = state.open ? state.screen : "list";
    workspace.dataset.panel = state.open && panelOpen ? "open" : "closed";
    const toggle = workspace.querySelector(".panel-toggle");
    if (toggle) toggle.setAttribute("aria-expanded", String(panelOpen));
  };
  const setPanel = (wanted, { focusToggle = false } = {}) => {
    if (panelOpen === wanted) return;
    panelOpen = wanted;
    layout();
    if (wanted) panel.querySelector(".panel-close")?.focus();
    else if (focusToggle) workspace.querySelector(".panel-toggle")?.focus();
  };
  // Below 1200 px the panel floats over the chat: Escape, a tap outside it, its close button
  // and opening another chat close it. Wider, it is a column of its own and stays.
  const floating = () => !wide.matches;
  const onKey = (event) => {
    if (event.key === "Escape" && panelOpen && floating() && state.open) setPanel(false, { focusToggle: true });
  };
  const onPointer = (event) => {
    if (!panelOpen || !floating() || !state.open) return;
    // A dialog over it (a read-only conversation, an image) is not outside the panel.
    if (panel.contains(event.target) || event.target.closest?.(".panel-toggle, dialog")) return;
    setPanel(false);
  };
  let shown = null;
  const onOpen = () => {
    const id = state.open?.id ?? null;
    if (id !== shown && id !== null && floating()) panelOpen = false;
    shown = id;
    layout();
  };
  document.addEventListener("keydown", onKey);
  document.addEventListener("pointerdown", onPointer);
  unmount.push(
    mountList(sidebar),
    mountChat(conversation, { onTogglePanel: () => setPanel(!panelOpen), panelOpen: () => panelOpen }),
    mountPanel(panel, { onClose: () => setPanel(false, { focusToggle: true }), onOpenChat: openContactChat }),
    () => {
      document.removeEventListener("keydown", onKey);
      document.removeEventListener("pointerdown", onPointer);
    },
  );
  unmount.push(on("open", onOpen));
  onOpen();
  return workspace;
}

function reportsLayout() {
  const main = h("main", { class: "users-main reports-main" });
  unmount.push(mountReports(main));
  return main;
}

function kbLayout() {
  const main = h("main", { class: "users-main kb-main" });
  unmount.push(mountKb(main));
  return main;
}

function contactsLayout() {
  const main = h("main", { class: "users-main contacts-main" });
  unmount.push(mountContactsPage(main, { onOpenChat: openContactChat }));
  return main;
}

/**
 * One of a contact's conversations: opened in the chats view when the user may act on it,
 * else shown read-only (an agent reading the contact's history).
 */
function openContactChat(row) {
  const chat = state.chats.get(row.id) || row;
  if (!visible(chat)) {
    openHistory(row);
    return;
  }
  if (state.view !== "chats") {
    state.open = null;
    switchView("chats");
  }
  chats.openChat(row.id);
}

function integrationsLayout() {
  const main = h("main", { class: "users-main integrations-main" });
  unmount.push(mountIntegrations(main, api));
  return main;
}

function usersLayout() {
  const main = h("main", { class: "users-main" });
  mountUsers(main, api);
  return main;
}

function cannedLayout() {
  const main = h("main", { class: "canned-main" });
  mountCanned(main);
  return main;
}

function profileLayout() {
  const main = h("main", { class: "users-main" });
  mountProfile(main, api, { onLanguage: switchLanguage, changePassword });
  return main;
}

/** POST /auth/password; the answer's token carries this session on (the others end). */
async function changePassword(body) {
  const pending = api.post("/auth/password", body);
  renewing = pending;
  let answer;
  try {
    answer = await pending;
  } catch (error) {
    renewing = null;
    if (error.status === 401) logout(t("login.expired"));
    throw error;
  }
  const session = { token: answer.access_token, user: answer.user, expiresAt: Date.now() + answer.expires_in * 1000 };
  saveSession(session);
  if (live) live.stop();
  live = null;
  renewing = null;
  enter(session);
  chats.flash(t("profile.passwordChanged"));
}

async function setAvailability(value) {
  const before = state.user.availability;
  state.user = { ...state.user, availability: value };
  emit("me");
  try {
    const answer = await api.put("/presence/me", { status: value });
    state.user = { ...state.user, availability: answer.availability, status: answer.status };
    const session = loadSession();
    if (session) saveSession({ ...session, user: { ...session.user, availability: answer.availability } });
    emit("me");
    const returned = answer.returned?.length || 0;
    chats.flash(returned ? t("availability.returned", { count: returned }) : t(`availability.now.${answer.availability}`));
  } catch (error) {
    state.user = { ...state.user, availability: before };
    emit("me");
    chats.flash(t("availability.failed", { error: error.message }));
  }
}

function labelsLayout() {
  const main = h("main", { class: "users-main labels-main" });
  unmount.push(mountLabels(main));
  return main;
}

function switchView(view) {
  if (state.view === view) return;
  state.view = view;
  renderApp();
  emit("view");
  if (view === "chats" && state.open) chats.openChat(state.open.id);
}

/**
 * Speak `lang` now. The header's switch changes this browser only; the profile's language
 * (`stored`: saved with the user by PATCH /users/me) is the one every device starts in.
 */
function switchLanguage(lang, { stored = false } = {}) {
  setLanguage(lang);
  if (state.user && stored) {
    const session = loadSession();
    if (session) saveSession({ ...session, user: { ...session.user, language: lang } });
  }
  if (state.user) {
    renderApp();
    if (state.open) emit("open");
  } else showLogin();
  document.getElementById("lang-switch")?.focus();
}

document.addEventListener("visibilitychange", () => {
  if (!document.hidden && state.user) chats.markRead();
});
setInterval(() => emit("clock"), 60_000);

async function resume(session) {
  // Check the kept token before opening the socket: it may have been revoked meanwhile.
  api.token = session.token;
  try {
    const user = await api.get("/auth/me");
    enter({ ...session, user });
  } catch (error) {
    if (error.status === 0) enter(session); // the server is unreachable: the socket retries
  }
}

const session = loadSession();
if (session && session.expiresAt > Date.now()) resume(session);
else {
  if (session) state.notice = t("login.expired");
  saveSession(null);
  showLogin();
}
