// The header (connection state, views, availability, language, your profile, sign out) and
// the page layout.

import { fill, h, icon } from "../dom.js";
import { language, LANGUAGES, t } from "../i18n.js";
import { emit, isAdmin, on, state } from "../state.js";
import { mountBell } from "./bell.js";

export function languageSwitch(onChange) {
  const control = h("select", { id: "lang-switch", class: "lang", "aria-label": t("lang.label"),
    onchange: (event) => onChange(event.target.value) },
    Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code, selected: code === language() }, name)));
  return control;
}

export const AVAILABILITY = ["online", "away", "offline"];

/** Your availability: a coloured dot and online / away / offline (PUT /presence/me). */
export function availabilityToggle(onAvailability) {
  const current = () => state.user?.availability || "online";
  const dot = h("span", { class: "status-dot", "aria-hidden": "true" });
  const control = h("select", { id: "availability", class: "availability",
    "aria-label": t("availability.label"), title: t("availability.help"),
    onchange: () => onAvailability(control.value) },
  AVAILABILITY.map((value) => h("option", { value }, t(`availability.${value}`))));
  const wrap = h("span", { class: "availability-wrap" }, dot, control);
  const render = () => {
    control.value = current();
    dot.dataset.status = current();
    wrap.dataset.status = current();
  };
  render();
  return { element: wrap, render };
}

export function mountHeader(root, { onLogout, onLanguage, onView, onAvailability, onOpenChat }) {
  const bell = h("div", { class: "bell-slot" });
  const connection = h("span", { class: "conn", role: "status", "aria-live": "polite" });
  const user = state.user;
  const name = user.display_name || user.username;
  const nav = h("nav", { class: "views", "aria-label": t("header.views") },
    viewButton("chats", "chats", t("header.chats"), onView),
    viewButton("contacts", "book", t("header.contacts"), onView),
    viewButton("canned", "bolt", t("header.canned"), onView),
    viewButton("reports", "chart", t("header.reports"), onView),
    viewButton("kb", "library", t("header.kb"), onView),
    isAdmin() && viewButton("users", "users", t("header.users"), onView),
    isAdmin() && viewButton("labels", "tag", t("header.labels"), onView),
    isAdmin() && viewButton("integrations", "plug", t("header.integrations"), onView));
  const availability = availabilityToggle(onAvailability);
  fill(root,
    h("div", { class: "brand" }, h("img", { src: "/static/favicon.svg", alt: "", width: "24", height: "24" }),
      h("span", {}, t("app.title"))),
    connection,
    nav,
    h("div", { class: "header-end" },
      availability.element,
      bell,
      languageSwitch(onLanguage),
      h("button", { type: "button", class: "icon-button shortcuts-button", id: "shortcuts-button",
        "aria-label": t("shortcuts.heading"), title: `${t("shortcuts.heading")} (?)`, "aria-haspopup": "dialog",
        onclick: () => emit("shortcuts") }, icon("keyboard")),
      h("button", { type: "button", id: "profile-button", class: "me", "data-view": "profile",
        title: t("header.signedInAs", { name, role: t(`role.${user.role}`) }),
        "aria-label": t("profile.open", { name }), onclick: () => onView("profile") },
      icon("contact"), h("span", { class: "me-name" }, name),
      h("span", { class: "badge role" }, t(`role.${user.role}`))),
      h("button", { type: "button", class: "icon-button logout", "aria-label": t("header.logout"),
        title: t("header.logout"), onclick: onLogout }, icon("logout"))));

  function render() {
    connection.dataset.state = state.connection;
    connection.textContent = t(`conn.${state.connection}`);
    for (const button of root.querySelectorAll("[data-view]")) {
      button.setAttribute("aria-pressed", String(button.dataset.view === state.view));
    }
  }
  const stops = [on("connection", render), on("view", render), on("me", availability.render),
    mountBell(bell, { onOpen: onOpenChat })];
  render();
  return () => stops.forEach((stop) => stop());
}

function viewButton(view, iconName, label, onView) {
  // Named by its label also on a phone, where the label is hidden and the icon shows.
  return h("button", { type: "button", class: "view-button", "data-view": view, "aria-label": label, title: label,
    onclick: () => onView(view) },
    icon(iconName), h("span", {}, label));
}

/** The one-line message over the console (state.flash), with a button that dismisses it. */
export function mountFlash(root, onDismiss) {
  function render() {
    root.hidden = !state.flash;
    fill(root, h("p", { class: "flash-text" }, state.flash),
      h("button", { type: "button", class: "icon-button flash-close", "aria-label": t("flash.dismiss"),
        title: t("flash.dismiss"), onclick: onDismiss }, icon("close")));
  }
  const stop = on("flash", render);
  render();
  return stop;
}
