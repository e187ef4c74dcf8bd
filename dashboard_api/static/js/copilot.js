// The copilot (docs/api.md "Copilot"): a draft reply, a summary note, translations, from the
// model of [bot.llm]. Offered only when the API says it answers (`copilot` of GET /auth/me);
// nothing it writes reaches a customer until the agent sends it.

import { t } from "./i18n.js";
import { state } from "./state.js";

let api = null;
// Translations of messages shown under them: message id -> {status: "loading" | "done" |
// "failed", text, to, error}.
const translations = new Map();

export function connect(client) {
  api = client;
  translations.clear();
}

/** Whether the copilot's buttons are shown. */
export function available() {
  return Boolean(state.user?.copilot);
}

/** A draft reply for the chat: {text, sources: [{id, title}]}. */
export function suggest(chatId) {
  return api.post(`/chats/${chatId}/copilot/suggest`, {});
}

/** A private note summarizing the chat: {note} (it also arrives as message.created). */
export function summarize(chatId) {
  return api.post(`/chats/${chatId}/copilot/summarize`, {});
}

/** The agent's draft in the customer's language: {text, to}. */
export function translateDraft(chatId, text) {
  return api.post(`/chats/${chatId}/copilot/translate`, { text });
}

export function translationOf(messageId) {
  return translations.get(messageId) || null;
}

/** Translate a message of the chat into the agent's language; `redraw()` after each step. */
export async function translateMessage(message, redraw) {
  translations.set(message.id, { status: "loading" });
  redraw();
  try {
    const done = await api.post(`/chats/${message.chat_id}/copilot/translate`, { message_id: message.id });
    translations.set(message.id, { status: "done", text: done.text, to: done.to });
  } catch (failure) {
    translations.set(message.id, { status: "failed", error: problem(failure) });
  }
  redraw();
}

/** What went wrong, in the agent's language. */
export function problem(failure) {
  if (failure.code === "copilot_unavailable") return t("copilot.unavailable");
  if (failure.code === "budget_spent") return t("copilot.budget");
  if (failure.code === "model_timeout") return t("copilot.timeout");
  if (failure.code === "model_error") {
    return t("copilot.modelError", { error: failure.details?.reason || failure.message });
  }
  return t("copilot.failed", { error: failure.message });
}

/** A language code as words when the console knows it ("id" -> "Indonesian"). */
export function languageName(code) {
  const key = `copilot.language.${code}`;
  const name = t(key);
  return name === key ? code : name;
}
