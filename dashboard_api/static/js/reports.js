// Reports (docs/api.md "Reports"): the date ranges the Reports page offers and the period
// before one (to compare with), the report routes' JSON, and their CSV files, fetched with
// the token and saved. The page's choices live here so they outlast a re-render (a change
// of language) within the session.

import { saveAs } from "./views/messages.js";

let api = null;

export function connect(client) {
  api = client;
}

export const PRESETS = ["today", "7d", "30d", "90d", "thisMonth", "lastMonth", "custom"];
export const MAX_DAYS = 366;
// The bounds of docs/api.md's `distributions` (seconds; null: longer than the last).
export const BUCKETS = [60, 300, 900, 1800, 3600, 14400, 86400, null];

/** What the page shows: kept while the session lasts. */
export const choice = {
  preset: "7d",
  from: "",
  to: "",
  compare: true,
  businessHours: false,
  agentId: "", // admins: "" is the whole desk
  timezone: "", // the account's (reports.timezone), learned from the first answer
};

const DEFAULT = { ...choice };

/** Back to the defaults (a sign out: the next person starts afresh). */
export function resetChoice() {
  Object.assign(choice, DEFAULT);
}

const DAY = 86400000;

function parse(date) {
  const [year, month, day] = date.split("-").map(Number);
  return Date.UTC(year, month - 1, day);
}

function format(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The date `days` after `date` (both YYYY-MM-DD). */
export function addDays(date, days) {
  return format(parse(date) + days * DAY);
}

/** How many days `from`..`to` holds, both included. */
export function dayCount(from, to) {
  return Math.round((parse(to) - parse(from)) / DAY) + 1;
}

/** Whether `value` is a real YYYY-MM-DD date. */
export function isDate(value) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value || "")) return false;
  return format(parse(value)) === value;
}

/** Today (YYYY-MM-DD) in `timezone` (the account's), or the browser's when it is unknown. */
export function today(timezone = "", now = new Date()) {
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-US", { timeZone: timezone || undefined, year: "numeric",
      month: "2-digit", day: "2-digit" }).formatToParts(now);
  } catch {
    parts = new Intl.DateTimeFormat("en-US", { year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(now);
  }
  const part = (type) => parts.find((p) => p.type === type).value;
  return `${part("year")}-${part("month")}-${part("day")}`;
}

/** The dates of a preset ending `todayDate`: {from, to}. */
export function presetRange(preset, todayDate) {
  const lengths = { today: 1, "7d": 7, "30d": 30, "90d": 90 };
  if (lengths[preset]) return { from: addDays(todayDate, 1 - lengths[preset]), to: todayDate };
  const first = `${todayDate.slice(0, 8)}01`;
  if (preset === "thisMonth") return { from: first, to: todayDate };
  if (preset === "lastMonth") {
    const to = addDays(first, -1);
    return { from: `${to.slice(0, 8)}01`, to };
  }
  return null;
}

/** The period to compare with: as many days, just before `from`. */
export function previousRange({ from, to }) {
  const before = addDays(from, -1);
  return { from: addDays(before, 1 - dayCount(from, to)), to: before };
}

/** Why `from`..`to` cannot be asked for (an i18n key), or "" when it can. */
export function rangeProblem({ from, to }) {
  if (!isDate(from) || !isDate(to)) return "reports.badDate";
  if (from > to) return "reports.fromAfterTo";
  if (dayCount(from, to) > MAX_DAYS) return "reports.tooLong";
  return "";
}

/** The query every report route takes, for `range` and the page's other choices. */
export function query(range, extra = {}) {
  const q = { from: range.from, to: range.to, ...extra };
  if (choice.agentId) q.agent_id = choice.agentId;
  if (choice.businessHours) q.business_hours = "true";
  return q;
}

export function summary(range, groupBy) {
  return api.get("/reports/summary", query(range, { group_by: groupBy }));
}

export function agents(range) {
  return api.get("/reports/agents", query(range));
}

/** Admins: the bot's report (the whole desk). */
export function bot(range) {
  return api.get("/reports/bot", query(range));
}

export function csat(range) {
  return api.get("/reports/csat", query(range));
}

/** Admins: the people the page can be narrowed to (GET /users). */
export function people() {
  return api.get("/users");
}

/**
 * A report as CSV (`?format=csv`), fetched with the token and saved as `name`.
 * `path` is "/reports/summary" and the like; `extra` adds group_by.
 */
export async function exportCsv(path, range, extra, name) {
  const params = new URLSearchParams({ ...query(range, extra), format: "csv" });
  const blob = await api.blob(`${path}?${params}`);
  const url = URL.createObjectURL(blob);
  saveAs(url, name);
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * How `current` compares with `previous`: {change, text-free numbers} where `change` is the
 * relative change (0.12 for +12%), or the difference when `absolute` (rates, averages); null
 * when there is nothing to compare (no previous value, or a relative change from zero).
 */
export function change(current, previous, { absolute = false } = {}) {
  if (current === null || current === undefined || previous === null || previous === undefined) return null;
  if (absolute) return current - previous;
  if (previous === 0) return current === 0 ? 0 : null;
  return (current - previous) / previous;
}

/** The share of conversations the bot closed alone (0..1), or null when none closed. */
export function containment(row) {
  return row && row.resolved ? row.bot_resolved / row.resolved : null;
}
