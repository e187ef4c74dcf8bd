// Your profile: display name, email signature, language, notification preferences, password.

import { fill, h } from "../dom.js";
import { LANGUAGES, language, t } from "../i18n.js";
import { emit, state } from "../state.js";

/**
 * `onLanguage(lang, {stored})` switches the console's language at once; `changePassword(body)`
 * posts the change and carries this session on with the new token (the others end).
 */
export function mountProfile(root, api, { onLanguage, changePassword }) {
  const user = state.user;
  const status = h("p", { class: "status-line", role: "status", hidden: true });
  const say = (text) => {
    status.textContent = text;
    status.hidden = !text;
  };
  const errors = {};
  const field = (key, label, input, hint) => {
    errors[key] = h("p", { class: "field-error", id: `profile-${key}-error`, "data-error-for": key });
    input.setAttribute("aria-describedby", `profile-${key}-error`);
    return h("div", { class: "field" }, h("label", { for: input.id }, label), input,
      hint && h("p", { class: "field-hint" }, hint), errors[key]);
  };
  const clearErrors = () => Object.values(errors).forEach((el) => { el.textContent = ""; });
  const showErrors = (error) => {
    const byField = {};
    for (const item of error.details?.fields || []) {
      const name = String(item.field || "").split(".")[0];
      if (name && !byField[name]) byField[name] = item.message;
    }
    if (typeof error.details?.field === "string") byField[error.details.field] = error.message;
    for (const [key, el] of Object.entries(errors)) el.textContent = byField[key] || "";
    say(t("profile.error", { error: error.message }));
  };

  const prefs = { sound: true, browser: true, ...(user.preferences || {}) };
  const display = h("input", { id: "profile-display_name", value: user.display_name || "", maxlength: "128",
    required: true, autocomplete: "name" });
  const signature = h("textarea", { id: "profile-signature", rows: "3", maxlength: "2000" }, user.signature || "");
  const lang = h("select", { id: "profile-language" },
    Object.entries(LANGUAGES).map(([code, name]) => h("option", { value: code,
      selected: code === (user.language || language()) }, name)));
  const check = (key) => h("input", { type: "checkbox", id: `profile-${key}`, name: key, checked: prefs[key] });
  const sound = check("sound");
  const browser = check("browser");
  const profileForm = h("form", { class: "profile-form", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clearErrors();
    say("");
    const name = display.value.trim();
    if (!name) {
      errors.display_name.textContent = t("profile.nameRequired");
      display.focus();
      return;
    }
    const body = {
      display_name: name,
      signature: signature.value,
      language: lang.value,
      preferences: { sound: sound.checked, browser: browser.checked },
    };
    try {
      const before = state.user.language;
      const saved = await api.patch("/users/me", body);
      state.user = { ...state.user, ...saved };
      emit("me");
      // A new language is spoken at once (the header's switch alone changes this browser only).
      if (saved.language !== before && saved.language !== language()) onLanguage(saved.language, { stored: true });
      else say(t("profile.saved"));
    } catch (error) {
      showErrors(error);
    }
  } },
  field("display_name", t("profile.displayName"), display),
  field("signature", t("profile.signature"), signature, t("profile.signatureHint")),
  field("language", t("profile.language"), lang),
  h("fieldset", { class: "prefs" }, h("legend", {}, t("profile.notifications")),
    h("label", { class: "check" }, sound, h("span", {}, t("profile.sound"))),
    h("label", { class: "check" }, browser, h("span", {}, t("profile.browser"))),
    errors.preferences = h("p", { class: "field-error", "data-error-for": "preferences" })),
  h("div", { class: "form-buttons" }, h("button", { type: "submit", class: "primary" }, t("profile.save"))));

  const current = h("input", { id: "profile-current_password", type: "password", autocomplete: "current-password",
    required: true });
  const fresh = h("input", { id: "profile-new_password", type: "password", autocomplete: "new-password",
    minlength: "8", required: true });
  const again = h("input", { id: "profile-confirm", type: "password", autocomplete: "new-password", required: true });
  const passwordForm = h("form", { class: "password-form", novalidate: true, onsubmit: async (event) => {
    event.preventDefault();
    clearErrors();
    say("");
    if (!current.value) {
      errors.current_password.textContent = t("profile.currentRequired");
      current.focus();
      return;
    }
    if (fresh.value.length < 8) {
      errors.new_password.textContent = t("users.passwordShort");
      fresh.focus();
      return;
    }
    if (fresh.value !== again.value) {
      errors.confirm.textContent = t("profile.mismatch");
      again.focus();
      return;
    }
    try {
      await changePassword({ current_password: current.value, new_password: fresh.value });
    } catch (error) {
      showErrors(error);
    }
  } },
  field("current_password", t("profile.currentPassword"), current),
  field("new_password", t("profile.newPassword"), fresh),
  field("confirm", t("profile.confirmPassword"), again),
  h("div", { class: "form-buttons" }, h("button", { type: "submit" }, t("profile.changePassword"))));

  fill(root, h("div", { class: "users-view profile-view" },
    h("h2", {}, t("profile.heading")),
    h("p", { class: "profile-who" }, t("profile.who", { username: user.username, role: t(`role.${user.role}`) })),
    status,
    h("section", { "aria-labelledby": "profile-details" }, h("h3", { id: "profile-details" }, t("profile.details")),
      profileForm),
    h("section", { "aria-labelledby": "profile-password" }, h("h3", { id: "profile-password" }, t("profile.password")),
      passwordForm)));
  return { say };
}
