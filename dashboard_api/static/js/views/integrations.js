// Admins: the Integrations page (docs/api.md, "Integrations"): outgoing webhooks with their
// delivery log and redeliver, API keys (shown once when made, revoked), API channels and
// website widgets (the snippet to paste). Each section is a list and a form to add one.

import { fill, h } from "../dom.js";
import { t } from "../i18n.js";

export const EVENT_TYPES = ["message.created", "chat.created", "chat.mode_changed", "chat.assigned",
  "chat.closed", "csat.created", "contact.updated"];
export const SCOPES = ["chats:read", "messages:write", "contacts:write", "reports:read", "webhooks:write"];

export function mountIntegrations(root, api) {
  const status = h("p", { class: "status-line", role: "status", "aria-live": "polite" });
  const say = (text) => { status.textContent = text; };
  const failed = (error) => say(t("integrations.error", { error: error.message }));
  /** Run `work`; say `message` (text, or a function of its result) when it went well, the
   * error when not. The result, or null. */
  const act = async (work, message) => {
    try {
      const result = await work();
      if (message) say(typeof message === "function" ? message(result) : message);
      return result ?? true;
    } catch (error) {
      failed(error);
      return null;
    }
  };
  const context = { api, say, failed, act };
  const sections = [webhooks(context), apiKeys(context), apiChannels(context), widgets(context)];
  fill(root, h("div", { class: "users-view integrations-view" },
    h("h2", {}, t("integrations.heading")), h("p", { class: "hint" }, t("integrations.intro")), status,
    sections.map((section) => section.element)));
  sections.forEach((section) => section.load());
  return () => {};
}

/** A section: heading, an explanation, the table of what GET `path` lists (a row each by
 * `row`), and a form whose fields are `fields`. */
function section(key, { api, act }, { path, headers, fields, submit, extra, row }) {
  const table = h("table", { class: "users integrations-table", "data-section": key });
  const found = h("div", { class: "integrations-found", hidden: true });
  const form = h("form", { class: "add-user integrations-form", "data-section": key, onsubmit: async (event) => {
    event.preventDefault();
    if (await act(async () => {
      await submit(form);
      await load();
    })) form.reset();
  } },
    fields,
    h("button", { type: "submit", class: "primary" }, t(`integrations.${key}.add`)));
  const element = h("section", { class: "integrations-section", id: `integrations-${key}`,
    "aria-labelledby": `integrations-${key}-heading` },
  h("h3", { id: `integrations-${key}-heading` }, t(`integrations.${key}.heading`)),
  h("p", { class: "hint" }, t(`integrations.${key}.help`)),
  found,
  h("div", { class: "table-wrap" }, table),
  extra || null,
  h("h4", {}, t(`integrations.${key}.new`)), form);
  const render = (rows, row) => {
    fill(table,
      h("thead", {}, h("tr", {}, headers.map((name) => h("th", { scope: "col" }, t(`integrations.${key}.${name}`))),
        h("td"))),
      h("tbody", {}, rows.length ? rows.map(row)
        : h("tr", {}, h("td", { colspan: String(headers.length + 1), class: "empty" }, t("integrations.none")))));
  };
  /** Something shown once (a new key, a snippet): a box to copy it from. */
  const reveal = (label, value, note) => {
    const box = h("textarea", { readonly: true, rows: value.includes("\n") || value.length > 80 ? "4" : "1",
      class: "integrations-secret", "aria-label": label }, value);
    fill(found, h("p", {}, h("strong", {}, label)), note ? h("p", { class: "hint" }, note) : null, box,
      h("div", { class: "row-buttons" },
        h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(value) }, t("integrations.copy")),
        h("button", { type: "button", onclick: () => { found.hidden = true; } }, t("integrations.hide"))));
    found.hidden = false;
    box.focus();
    box.select();
  };
  const load = () => act(async () => render((await api.get(path)).items, row));
  return { element, load, reveal };
}

function field(id, label, props = {}) {
  const input = h(props.multiline ? "textarea" : "input", { id, name: id, ...props, multiline: undefined });
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function checkboxes(name, values) {
  return h("fieldset", { class: "field integrations-choices" },
    h("legend", {}, t(`integrations.${name}`)),
    values.map((value) => h("label", { class: "check" },
      h("input", { type: "checkbox", name, value }), " ", h("code", {}, value))));
}

const chosen = (form, name) => [...form.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);
const value = (form, id) => form.querySelector(`#${id}`).value.trim();
/** A small square of the widget's colour (set through CSSOM: the console's CSP allows no style attribute). */
function swatch(color) {
  const square = h("span", { class: "swatch", "aria-hidden": "true" });
  square.style.backgroundColor = /^#[0-9a-f]{6}$/i.test(color || "") ? color : "#2563eb";
  return square;
}
const when = (iso) => (iso ? new Date(iso).toLocaleString() : "–");

/** A button that, once confirmed, runs `work` with `act` and reloads the section. */
function confirmed(label, question, work, { act, load, cls = "danger" }) {
  return h("button", { type: "button", class: cls, onclick: async () => {
    if (question && !confirm(question)) return;
    if (await act(work.run, work.said)) await load();
  } }, label);
}

function webhooks(context) {
  const { api, say, act } = context;
  const log = h("section", { class: "user-editor integrations-log", hidden: true });
  const view = section("webhooks", context, {
    path: "/integrations/webhooks",
    headers: ["url", "events", "state"],
    fields: [
      field("webhook-url", t("integrations.webhooks.url"), { type: "url", required: true }),
      field("webhook-secret", t("integrations.secret"), { required: true, minlength: "16", autocomplete: "off" }),
      field("webhook-description", t("integrations.description")),
      checkboxes("events", EVENT_TYPES),
    ],
    extra: log,
    submit: async (form) => {
      const body = { url: value(form, "webhook-url"), secret: form.querySelector("#webhook-secret").value,
        events: chosen(form, "events") };
      if (value(form, "webhook-description")) body.description = value(form, "webhook-description");
      await api.post("/integrations/webhooks", body);
      say(t("integrations.webhooks.created", { url: body.url }));
    },
    row,
  });
  const load = view.load;
  async function showLog(endpoint) {
    const page = await act(() => api.get(`/integrations/webhooks/${endpoint.id}/deliveries`, { limit: 20 }));
    if (!page) return;
    const redeliver = (item) => h("button", { type: "button", class: "redeliver", onclick: async () => {
      const path = `/integrations/webhooks/${endpoint.id}/deliveries/${item.id}/redeliver`;
      if (await act(() => api.post(path), t("integrations.webhooks.redelivering"))) await showLog(endpoint);
    } }, t("integrations.webhooks.redeliver"));
    fill(log, h("h4", {}, t("integrations.webhooks.log", { url: endpoint.url })),
      h("div", { class: "table-wrap" }, h("table", { class: "users integrations-deliveries" },
        h("thead", {}, h("tr", {}, ["event", "status", "response", "attempts", "time", "error"]
          .map((name) => h("th", { scope: "col" }, t(`integrations.delivery.${name}`))), h("td"))),
        h("tbody", {}, page.items.length ? page.items.map((item) => h("tr", { "data-status": item.status },
          h("td", {}, h("code", {}, item.event_type)),
          h("td", {}, h("span", { class: `badge delivery-${item.status}` }, t(`integrations.delivery.${item.status}`))),
          h("td", {}, item.response_status == null ? "–" : String(item.response_status)),
          h("td", {}, String(item.attempts)),
          h("td", {}, when(item.last_attempt_at || item.created_at)),
          h("td", { class: "integrations-error" }, item.error || ""),
          h("td", {}, item.status === "pending" ? null : redeliver(item))))
          : h("tr", {}, h("td", { colspan: "7", class: "empty" }, t("integrations.webhooks.noDeliveries")))))),
      h("button", { type: "button", onclick: () => { log.hidden = true; } }, t("integrations.hide")));
    log.hidden = false;
  }
  function row(endpoint) {
    const state = endpoint.active ? t("integrations.active")
      : t("integrations.disabled", { reason: endpoint.disabled_reason || "" });
    const path = `/integrations/webhooks/${endpoint.id}`;
    return h("tr", { "data-id": String(endpoint.id), class: endpoint.active ? "" : "inactive" },
      h("th", { scope: "row", class: "integrations-url" }, endpoint.url),
      h("td", {}, endpoint.events.map((type) => h("code", { class: "event-type" }, type))),
      h("td", { class: "integrations-state" }, state),
      h("td", { class: "row-buttons" },
        h("button", { type: "button", class: "deliveries", onclick: () => showLog(endpoint) },
          t("integrations.webhooks.deliveries")),
        pauseButton(path, endpoint.active, { act, api, load }),
        confirmed(t("integrations.delete"), t("integrations.confirmDelete", { name: endpoint.url }), {
          run: async () => {
            await api.request("DELETE", path);
            log.hidden = true;
          },
          said: t("integrations.deleted"),
        }, { act, load })));
  }
  return view;
}

/** Pause or enable (PATCH `path` {"active"}). */
function pauseButton(path, active, { act, api, load }) {
  return confirmed(active ? t("integrations.pause") : t("integrations.enable"), null, {
    run: () => api.patch(path, { active: !active }),
    said: active ? t("integrations.paused") : t("integrations.enabled"),
  }, { act, load, cls: "" });
}

function apiKeys(context) {
  const { api, say, act } = context;
  const view = section("keys", context, {
    path: "/api-keys",
    headers: ["name", "scopes", "lastUsed", "state"],
    fields: [
      field("key-name", t("integrations.keys.name"), { required: true, maxlength: "100" }),
      checkboxes("scopes", SCOPES),
    ],
    submit: async (form) => {
      const made = await api.post("/api-keys", { name: value(form, "key-name"), scopes: chosen(form, "scopes") });
      view.reveal(t("integrations.keys.madeLabel", { name: made.name }), made.key, t("integrations.keys.once"));
      say(t("integrations.keys.created", { name: made.name }));
    },
    row: (key) => h("tr", { "data-id": String(key.id), class: key.revoked_at ? "inactive" : "" },
      h("th", { scope: "row" }, key.name, " ", h("code", { class: "key-prefix" }, `${key.prefix}…`)),
      h("td", {}, key.scopes.map((scope) => h("code", { class: "event-type" }, scope))),
      h("td", {}, when(key.last_used_at)),
      h("td", {}, key.revoked_at ? t("integrations.keys.revoked", { when: when(key.revoked_at) })
        : t("integrations.active")),
      h("td", { class: "row-buttons" }, key.revoked_at ? null : confirmed(t("integrations.keys.revoke"),
        t("integrations.keys.confirmRevoke", { name: key.name }), {
          run: () => api.request("DELETE", `/api-keys/${key.id}`),
          said: t("integrations.keys.revokedNow", { name: key.name }),
        }, { act, load: () => view.load() }))),
  });
  return view;
}

function apiChannels(context) {
  const { api, say, act } = context;
  const view = section("channels", context, {
    path: "/channels/api",
    headers: ["name", "callback", "messages", "state"],
    fields: [
      field("channel-name", t("integrations.channels.name"), { required: true, maxlength: "100" }),
      field("channel-callback", t("integrations.channels.callback"), { type: "url", required: true }),
      field("channel-secret", t("integrations.secret"), { required: true, minlength: "16", autocomplete: "off" }),
    ],
    submit: async (form) => {
      const made = await api.post("/channels/api", { name: value(form, "channel-name"),
        callback_url: value(form, "channel-callback"), secret: form.querySelector("#channel-secret").value });
      view.reveal(t("integrations.channels.madeLabel", { name: made.name }), location.origin + made.messages_path);
      say(t("integrations.channels.created", { name: made.name }));
    },
    row: (channel) => h("tr", { "data-id": String(channel.id), class: channel.active ? "" : "inactive" },
      h("th", { scope: "row" }, channel.name),
      h("td", { class: "integrations-url" }, channel.callback_url),
      h("td", { class: "integrations-url" }, h("code", {}, channel.messages_path)),
      h("td", {}, channel.active ? t("integrations.active") : t("integrations.inactive")),
      h("td", { class: "row-buttons" },
        pauseButton(`/channels/api/${channel.id}`, channel.active, { act, api, load: () => view.load() }))),
  });
  return view;
}

function widgets(context) {
  const { api, say, act } = context;
  const show = (widget) => view.reveal(t("integrations.widgets.snippetOf", { name: widget.name }), widget.snippet,
    widget.identity_secret ? t("integrations.widgets.identity", { secret: widget.identity_secret }) : "");
  const select = (id, options) => h("div", { class: "field" },
    h("label", { for: id }, t(`integrations.widgets.${id.slice("widget-".length)}`)),
    h("select", { id }, options.map(([option, label]) => h("option", { value: option }, label))));
  const view = section("widgets", context, {
    path: "/channels/widget",
    headers: ["name", "origins", "look", "state"],
    fields: [
      field("widget-name", t("integrations.widgets.name"), { required: true, maxlength: "100" }),
      field("widget-origins", t("integrations.widgets.origins"), { required: true, multiline: true, rows: "2" }),
      field("widget-greeting", t("integrations.widgets.greeting"), { maxlength: "500" }),
      field("widget-color", t("integrations.widgets.color"), { type: "color", value: "#2563eb" }),
      select("widget-position", ["right", "left"].map((side) => [side, t(`integrations.widgets.${side}`)])),
      select("widget-language", [["en", "English"], ["id", "Bahasa Indonesia"]]),
      h("label", { class: "check field" }, h("input", { type: "checkbox", id: "widget-prechat" }), " ",
        t("integrations.widgets.preChat")),
    ],
    submit: async (form) => {
      const body = {
        name: value(form, "widget-name"),
        allowed_origins: value(form, "widget-origins").split(/[\s,]+/).filter(Boolean),
        color: form.querySelector("#widget-color").value,
        position: form.querySelector("#widget-position").value,
        language: form.querySelector("#widget-language").value,
        pre_chat_form: form.querySelector("#widget-prechat").checked,
      };
      if (value(form, "widget-greeting")) body.greeting = value(form, "widget-greeting");
      const made = await api.post("/channels/widget", body);
      show(made);
      say(t("integrations.widgets.created", { name: made.name }));
    },
    row: (widget) => h("tr", { "data-id": String(widget.id), class: widget.active === false ? "inactive" : "" },
      h("th", { scope: "row" }, widget.name),
      h("td", {}, (widget.allowed_origins || []).map((origin) => h("code", { class: "event-type" }, origin))),
      h("td", {}, swatch(widget.color),
        ` ${t(`integrations.widgets.${widget.position === "left" ? "left" : "right"}`)} · ${widget.language}`),
      h("td", {}, widget.active === false ? t("integrations.inactive") : t("integrations.active")),
      h("td", { class: "row-buttons" },
        widget.snippet && h("button", { type: "button", class: "snippet", onclick: () => show(widget) },
          t("integrations.widgets.snippet")),
        confirmed(t("integrations.delete"), t("integrations.confirmDelete", { name: widget.name }), {
          run: () => api.request("DELETE", `/channels/widget/${widget.id}`),
          said: t("integrations.deleted"),
        }, { act, load: () => view.load() }))),
  });
  return view;
}
