// Admins: the users list, adding an agent, capacity, deactivating and activating.

import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { state } from "../state.js";

export function mountUsers(root, api) {
  const status = h("p", { class: "status-line", role: "status" });
  const table = h("table", { class: "users" });
  const form = addForm(api, status, load);
  fill(root, h("div", { class: "users-view" },
    h("h2", {}, t("users.heading")), status, h("div", { class: "table-wrap" }, table),
    h("h3", {}, t("users.add")), form));

  async function load() {
    try {
      render(await api.get("/users"));
    } catch (error) {
      status.textContent = t("users.error", { error: error.message });
    }
  }

  function render(users) {
    fill(table,
      h("thead", {}, h("tr", {}, ["username", "name", "email", "role", "capacity", "open", "active"]
        .map((key) => h("th", { scope: "col" }, t(`users.${key}`))), h("td"))),
      h("tbody", {}, users.map((user) => row(user))));
  }

  function row(user) {
    const name = user.display_name || user.username;
    const capacity = h("input", { type: "number", min: "0", max: "1000", value: String(user.capacity),
      class: "capacity", "aria-label": t("users.capacityOf", { name }) });
    const save = async (changes) => {
      status.textContent = "";
      try {
        await api.patch(`/users/${user.id}`, changes);
        status.textContent = t("users.saved");
        await load();
      } catch (error) {
        status.textContent = t("users.error", { error: error.message });
      }
    };
    const self = user.id === state.user.id;
    return h("tr", { "data-username": user.username, class: user.active ? "" : "inactive" },
      h("th", { scope: "row" }, user.username),
      h("td", {}, user.display_name),
      h("td", {}, user.email || ""),
      h("td", {}, t(`role.${user.role}`)),
      h("td", {}, h("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        save({ capacity: Number(capacity.value) });
      } }, capacity, h("button", { type: "submit" }, t("users.save")))),
      h("td", {}, String(user.open_chats ?? 0)),
      h("td", {}, user.active ? t("users.yes") : t("users.no")),
      h("td", {}, !self && h("button", { type: "button", class: user.active ? "danger" : "",
        "data-toggle": user.username, onclick: () => save({ active: !user.active }) },
        user.active ? t("users.deactivate") : t("users.activate"))));
  }

  load();
}

function addForm(api, status, reload) {
  const field = (name, label, props = {}) => {
    const input = h("input", { id: `new-${name}`, name, ...props });
    return { input, label: h("label", { for: `new-${name}` }, label) };
  };
  const username = field("username", t("users.username"), { required: true, minlength: "2", autocomplete: "off" });
  const display = field("display_name", t("users.name"));
  const email = field("email", t("users.email"), { type: "email" });
  const password = field("password", t("users.password"),
    { type: "password", required: true, minlength: "8", autocomplete: "new-password" });
  const capacity = field("capacity", t("users.capacity"), { type: "number", min: "0", max: "1000", value: "5" });
  const role = h("select", { id: "new-role" },
    h("option", { value: "agent" }, t("role.agent")), h("option", { value: "admin" }, t("role.admin")));
  const fields = [username, display, email, password, capacity];
  const form = h("form", { class: "add-user", onsubmit: async (event) => {
    event.preventDefault();
    const body = { username: username.input.value.trim(), password: password.input.value,
      role: role.value, capacity: Number(capacity.input.value) };
    if (display.input.value.trim()) body.display_name = display.input.value.trim();
    if (email.input.value.trim()) body.email = email.input.value.trim();
    try {
      const user = await api.post("/users", body);
      status.textContent = t("users.created", { name: user.display_name || user.username });
      form.reset();
      await reload();
    } catch (error) {
      status.textContent = t("users.error", { error: error.message });
    }
  } },
    fields.map((f) => h("div", { class: "field" }, f.label, f.input)),
    h("div", { class: "field" }, h("label", { for: "new-role" }, t("users.role")), role),
    h("button", { type: "submit", class: "primary" }, t("users.create")));
  return form;
}
