// Admins: the users list (with each person's status), adding an agent, capacity, deactivating
// (their open chats go back to the queue) and activating, editing a user (name, email, role,
// capacity) and setting a new password (their sessions end).

import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { state } from "../state.js";

export function mountUsers(root, api) {
  const status = h("p", { class: "status-line", role: "status" });
  const table = h("table", { class: "users" });
  const editor = h("section", { class: "user-editor", hidden: true });
  const form = addForm(api, status, load);
  let editing = null; // the id of the user being edited
  let users = [];
  fill(root, h("div", { class: "users-view" },
    h("h2", {}, t("users.heading")), status, h("div", { class: "table-wrap" }, table), editor,
    h("h3", {}, t("users.add")), form));

  async function load() {
    try {
      users = await api.get("/users");
      render(users);
    } catch (error) {
      status.textContent = t("users.error", { error: error.message });
    }
  }

  function edit(id) {
    editing = id;
    const chosen = users.find((u) => u.id === id);
    if (!chosen) {
      editor.hidden = true;
      return;
    }
    fill(editor, editForm(api, chosen, {
      status,
      done: async (message) => {
        status.textContent = message;
        await load();
        edit(editing);
      },
      close: () => {
        editing = null;
        editor.hidden = true;
        table.querySelector(`tr[data-username="${CSS.escape(chosen.username)}"] button.edit`)?.focus();
      },
    }));
    editor.hidden = false;
    editor.querySelector("input")?.focus();
  }

  function render(users) {
    fill(table,
      h("thead", {}, h("tr", {}, ["username", "name", "email", "role", "status", "capacity", "open", "active"]
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
        status.textContent = changes.active === false ? t("users.deactivated", { name }) : t("users.saved");
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
      h("td", {}, h("span", { class: "user-status", "data-status": user.status || "offline" },
        h("span", { class: "status-dot", "data-status": user.status || "offline", "aria-hidden": "true" }),
        t(`availability.${user.status || "offline"}`))),
      h("td", {}, h("form", { class: "inline", onsubmit: (event) => {
        event.preventDefault();
        save({ capacity: Number(capacity.value) });
      } }, capacity, h("button", { type: "submit" }, t("users.save")))),
      h("td", {}, String(user.open_chats ?? 0)),
      h("td", {}, user.active ? t("users.yes") : t("users.no")),
      h("td", { class: "row-buttons" },
        h("button", { type: "button", class: "edit", "aria-label": t("users.editOf", { name }),
          "aria-expanded": String(editing === user.id), onclick: () => edit(user.id) }, t("users.edit")),
        !self && h("button", { type: "button", class: user.active ? "danger" : "",
          "data-toggle": user.username, onclick: () => save({ active: !user.active }) },
        user.active ? t("users.deactivate") : t("users.activate"))));
  }

  load();
}

function addForm(api, status, reload) {
  const field = (name, label, props = {}) => {
    const error = h("p", { class: "field-error", id: `new-${name}-error`, "data-error-for": name });
    const input = h("input", { id: `new-${name}`, name, "aria-describedby": `new-${name}-error`, ...props });
    return { name, input, error, label: h("label", { for: `new-${name}` }, label) };
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
    fields.forEach((f) => { f.error.textContent = ""; });
    try {
      const user = await api.post("/users", body);
      status.textContent = t("users.created", { name: user.display_name || user.username });
      form.reset();
      await reload();
    } catch (error) {
      const byField = fieldErrors(error);
      if (error.code === "username_taken") byField.username = error.message;
      fields.forEach((f) => { f.error.textContent = byField[f.name] || ""; });
      status.textContent = t("users.error", { error: error.message });
    }
  } },
    fields.map((f) => h("div", { class: "field" }, f.label, f.input, f.error)),
    h("div", { class: "field" }, h("label", { for: "new-role" }, t("users.role")), role),
    h("button", { type: "submit", class: "primary" }, t("users.create")));
  return form;
}

/** A 422's messages by field ({fields: [{field, message}]}), and the rest as one line. */
function fieldErrors(error) {
  const byField = {};
  for (const item of error.details?.fields || []) {
    const name = String(item.field || "").split(".").pop();
    if (name) byField[name] = item.message;
  }
  if (typeof error.details?.field === "string") byField[error.details.field] = error.message;
  if (error.code === "email_taken") byField.email = error.message;
  return byField;
}

function editForm(api, user, { status, done, close }) {
  const name = user.display_name || user.username;
  const errors = {};
  const field = (key, label, input) => {
    errors[key] = h("p", { class: "field-error", id: `edit-${key}-error`, "data-error-for": key });
    input.setAttribute("aria-describedby", `edit-${key}-error`);
    return h("div", { class: "field" }, h("label", { for: input.id }, label), input, errors[key]);
  };
  const display = h("input", { id: "edit-display_name", value: user.display_name || "", maxlength: "100" });
  const email = h("input", { id: "edit-email", type: "text", inputmode: "email", value: user.email || "",
    autocomplete: "off" });
  const role = h("select", { id: "edit-role" },
    ["agent", "admin"].map((r) => h("option", { value: r, selected: user.role === r }, t(`role.${r}`))));
  const capacity = h("input", { id: "edit-capacity", type: "number", min: "0", max: "1000",
    value: String(user.capacity) });
  const showErrors = (error) => {
    const byField = fieldErrors(error);
    for (const [key, el] of Object.entries(errors)) el.textContent = byField[key] || "";
    status.textContent = t("users.error", { error: error.message });
  };
  const clear = () => {
    Object.values(errors).forEach((el) => { el.textContent = ""; });
    status.textContent = "";
  };
  const form = h("form", { class: "edit-user", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clear();
    const changes = {};
    const newName = display.value.trim();
    const newEmail = email.value.trim();
    if (newEmail && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(newEmail)) {
      errors.email.textContent = t("users.emailInvalid");
      email.focus();
      return;
    }
    if (newName && newName !== (user.display_name || "")) changes.display_name = newName;
    if (newEmail && newEmail !== (user.email || "")) changes.email = newEmail;
    if (role.value !== user.role) changes.role = role.value;
    if (Number(capacity.value) !== user.capacity) changes.capacity = Number(capacity.value);
    if (!Object.keys(changes).length) {
      status.textContent = t("users.nothingChanged");
      return;
    }
    try {
      await api.patch(`/users/${user.id}`, changes);
      await done(t("users.saved"));
    } catch (error) {
      showErrors(error);
    }
  } },
  field("display_name", t("users.name"), display),
  field("email", t("users.email"), email),
  field("role", t("users.role"), role),
  field("capacity", t("users.capacity"), capacity),
  h("div", { class: "form-buttons" },
    h("button", { type: "submit", class: "primary" }, t("users.saveChanges")),
    h("button", { type: "button", class: "cancel", onclick: close }, t("users.close"))));

  const password = h("input", { id: "reset-password", type: "password", autocomplete: "new-password",
    minlength: "8", "aria-describedby": "reset-password-error" });
  const passwordError = h("p", { class: "field-error", id: "reset-password-error", "data-error-for": "password" });
  const reset = h("form", { class: "reset-password", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clear();
    passwordError.textContent = "";
    if (password.value.length < 8) {
      passwordError.textContent = t("users.passwordShort");
      password.focus();
      return;
    }
    try {
      await api.patch(`/users/${user.id}`, { password: password.value });
      password.value = "";
      await done(t("users.passwordSet", { name }));
    } catch (error) {
      passwordError.textContent = fieldErrors(error).password || "";
      status.textContent = t("users.error", { error: error.message });
    }
  } },
  h("div", { class: "field" }, h("label", { for: "reset-password" }, t("users.newPassword")), password,
    passwordError),
  h("div", { class: "form-buttons" }, h("button", { type: "submit" }, t("users.setPassword"))));

  return h("div", { class: "edit-panel" },
    h("h3", {}, t("users.editing", { name })), form, reset);
}
