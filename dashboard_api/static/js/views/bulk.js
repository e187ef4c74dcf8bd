// The chat list's selection mode: a bar with select all, Assign / Label / Priority / Snooze /
// Close on the selected chats (POST /chats/bulk), and what came of it (failures listed).

import { fill, h } from "../dom.js";
import { t } from "../i18n.js";
import { state } from "../state.js";
import * as tags from "../tags.js";

const ACTIONS = ["assign", "label", "priority", "snooze", "close"];

/** `visibleIds()`: the ids of the rows shown now (for "select all"). */
export function bulkBar(visibleIds) {
  const root = h("div", { class: "bulk-bar", id: "bulk-bar", role: "region", "aria-label": t("bulk.region"), hidden: true });
  let chosen = null; // the action whose fields are open
  let busy = false;
  let error = "";
  const fields = {}; // the open form's values, kept across redraws

  function render() {
    root.hidden = !tags.selecting();
    if (root.hidden) {
      chosen = null;
      error = "";
      return;
    }
    const ids = visibleIds();
    const count = state.selection.size;
    const all = ids.length > 0 && ids.every((id) => state.selection.has(id));
    const selectAll = h("label", { class: "bulk-all" },
      h("input", { type: "checkbox", id: "bulk-all", checked: all, onchange: () => tags.selectAll(ids) }),
      h("span", {}, t("bulk.selectAll")));
    const buttons = h("div", { class: "bulk-actions", role: "group", "aria-label": t("bulk.actions") },
      ACTIONS.map((action) => h("button", { type: "button", class: `bulk-action${chosen === action ? " active" : ""}`,
        "data-bulk": action, "aria-expanded": String(chosen === action), disabled: !count || busy,
        onclick: () => { chosen = chosen === action ? null : action; error = ""; render(); } },
      t(`bulk.${action}`))));
    fill(root,
      h("div", { class: "bulk-top" }, selectAll,
        h("span", { class: "bulk-count", role: "status" }, t("bulk.count", { count }))),
      buttons,
      chosen && count > 0 && form(chosen, count),
      error && h("p", { class: "error", role: "alert" }, error),
      result());
  }

  function form(action, count) {
    const apply = h("button", { type: "submit", class: "primary", disabled: busy, "data-apply": action },
      t("bulk.apply", { count }));
    const controls = [];
    if (action === "assign") {
      const agents = state.agents;
      controls.push(field("bulk-agent", t("bulk.agent"), h("select", { id: "bulk-agent",
        onchange: (event) => { fields.agent = event.target.value; } },
      h("option", { value: "" }, t("action.chooseAgent")),
      agents.map((agent) => h("option", { value: String(agent.id), selected: fields.agent === String(agent.id) },
        agent.display_name)))));
    } else if (action === "label") {
      controls.push(field("bulk-label", t("bulk.labelName"), h("select", { id: "bulk-label",
        onchange: (event) => { fields.label = event.target.value; } },
      h("option", { value: "" }, t("labels.choose")),
      state.labels.map((label) => h("option", { value: label.name, selected: fields.label === label.name }, label.name)))));
      controls.push(h("label", { class: "bulk-check" }, h("input", { type: "checkbox", id: "bulk-remove",
        checked: Boolean(fields.remove), onchange: (event) => { fields.remove = event.target.checked; } }),
      h("span", {}, t("bulk.remove"))));
    } else if (action === "priority") {
      fields.priority = fields.priority || "high";
      controls.push(field("bulk-priority", t("priority.heading"), h("select", { id: "bulk-priority",
        onchange: (event) => { fields.priority = event.target.value; } },
      tags.PRIORITIES.map((level) => h("option", { value: level, selected: fields.priority === level },
        t(`priority.${level}`))))));
    } else if (action === "snooze") {
      controls.push(field("bulk-until", t("bulk.until"), h("input", { type: "datetime-local", id: "bulk-until",
        value: fields.until || "", onchange: (event) => { fields.until = event.target.value; } })));
      controls.push(h("label", { class: "bulk-check" }, h("input", { type: "checkbox", id: "bulk-reply",
        checked: Boolean(fields.reply), onchange: (event) => { fields.reply = event.target.checked; } }),
      h("span", {}, t("bulk.untilReply"))));
    } else {
      controls.push(h("p", { class: "bulk-note" }, t("bulk.closeNote", { count })));
    }
    return h("form", { class: "bulk-form", onsubmit: (event) => { event.preventDefault(); run(action); } },
      controls, h("div", { class: "bulk-buttons" }, apply,
        h("button", { type: "button", onclick: () => { chosen = null; render(); } }, t("action.cancel"))));
  }

  async function run(action) {
    const body = {};
    if (action === "assign") {
      if (!fields.agent) return fail(t("bulk.needAgent"));
      body.agent_id = Number(fields.agent);
    } else if (action === "label") {
      if (!fields.label) return fail(t("bulk.needLabel"));
      body.label = fields.label;
      if (fields.remove) body.remove = true;
    } else if (action === "priority") {
      body.priority = fields.priority || "high";
    } else if (action === "snooze") {
      if (fields.reply) body.until_customer_replies = true;
      else if (fields.until) body.until = new Date(fields.until).toISOString();
      else return fail(t("bulk.needUntil"));
    }
    busy = true;
    error = "";
    render();
    try {
      await tags.bulk(action, body);
      chosen = null;
    } catch (failure) {
      error = t("bulk.failed", { error: failure.message });
    } finally {
      busy = false;
      render();
    }
    return undefined;
  }

  function fail(text) {
    error = text;
    render();
  }

  function result() {
    const answer = state.bulk;
    if (!answer) return null;
    const name = (id) => state.chats.get(id)?.name || `#${id}`;
    return h("div", { class: "bulk-result", role: "status" },
      h("p", {}, t("bulk.result", { action: t(`bulk.${answer.action}`), done: answer.done.length,
        failed: answer.failed.length })),
      answer.failed.length > 0 && h("ul", { class: "bulk-failures" }, answer.failed.map((failure) =>
        h("li", { "data-chat-id": String(failure.chat_id) },
          h("strong", {}, name(failure.chat_id)), ": ", failure.message))));
  }

  return { root, render };
}

function field(id, label, control) {
  return h("div", { class: "bulk-field" }, h("label", { for: id }, label), control);
}
