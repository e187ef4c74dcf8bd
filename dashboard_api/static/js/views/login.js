// The sign-in form: username or email, password; shows why the agent is here again.

import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { languageSwitch } from "./shell.js";

export function mountLogin(root, { notice, onLogin, onLanguage }) {
  const identifier = h("input", { id: "login-identifier", name: "username", autocomplete: "username",
    required: true });
  const password = h("input", { id: "login-password", name: "password", type: "password",
    autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary" }, t("login.submit"));
  const form = h("form", { class: "login-card", onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    submit.textContent = t("login.busy");
    error.textContent = "";
    try {
      await onLogin(identifier.value.trim(), password.value);
    } catch (failure) {
      error.textContent = failure.message;
      submit.disabled = false;
      submit.textContent = t("login.submit");
      password.select();
    }
  } },
    h("div", { class: "login-brand" }, h("img", { src: "/static/favicon.svg", alt: "", width: "40", height: "40" }),
      h("h1", {}, t("login.heading"))),
    notice && h("p", { class: "notice", role: "status" }, notice),
    h("label", { for: "login-identifier" }, t("login.identifier")), identifier,
    h("label", { for: "login-password" }, t("login.password")), password,
    error, submit);
  fill(root, h("main", { class: "login" }, h("div", { class: "login-lang" }, languageSwitch(onLanguage)), form));
  identifier.focus();
}
