// The Reports page (docs/api.md "Reports"): a date range (presets or two dates), compared with
// the period before it; the desk's numbers with their change; charts (volume per day, opened
// by hour, how long first responses and resolutions took, the bot's containment per day, the
// CSAT trend); tables per agent and per label; each as CSV. Admins see the whole desk and may
// narrow it to one person; an agent sees their own numbers (the API answers only those).

import { drawChart, loadCharts } from "../charts.js";
import { fill, h, icon } from "../dom.js";
import { fullTime, language, shortTime, t } from "../i18n.js";
import * as reports from "../reports.js";
import { isAdmin, on, state } from "../state.js";
import * as tags from "../tags.js";

const COLOURS = { opened: "#2457c5", handed_off: "#c2410c", resolved: "#16803c", previous: "#8b93a3",
  bot: "#0f766e", csat: "#7c3aed", first: "#2457c5", resolution: "#16803c" };
const { choice } = reports;
let people = null; // admins: the users the page can be narrowed to

function locale() {
  return language() === "id" ? "id-ID" : "en-GB";
}

function number(value, digits = 0) {
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value);
}

function percent(value, digits = 0) {
  return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: digits }).format(value);
}

/** A duration in seconds, short: "45s", "1m 30s", "12m", "1h 20m", "2d 3h"; "–" for none. */
export function seconds(value) {
  if (value === null || value === undefined) return "–";
  const unit = (amount, name) => new Intl.NumberFormat(locale(), { style: "unit", unit: name, unitDisplay: "narrow" })
    .format(amount);
  const s = Math.round(value);
  if (s < 60) return unit(s, "second");
  if (s < 600) return s % 60 ? `${unit(Math.floor(s / 60), "minute")} ${unit(s % 60, "second")}` : unit(s / 60, "minute");
  const minutes = Math.round(s / 60);
  if (minutes < 60) return unit(minutes, "minute");
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${unit(hours, "hour")} ${unit(minutes % 60, "minute")}` : unit(hours, "hour");
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${unit(days, "day")} ${unit(hours % 24, "hour")}` : unit(days, "day");
}

/** A day (YYYY-MM-DD) as seconds since 1970 at its midnight UTC: the day charts' x. */
function dayX(date) {
  return Date.parse(`${date}T00:00:00Z`) / 1000;
}

function dayText(x, options = { day: "numeric", month: "short" }) {
  return new Intl.DateTimeFormat(locale(), { ...options, timeZone: "UTC" }).format(new Date(x * 1000));
}

/** "1–7 Dec 2026" */
function rangeText({ from, to }) {
  const format = new Intl.DateTimeFormat(locale(), { day: "numeric", month: "short", year: "numeric", timeZone: "UTC" });
  const [a, b] = [new Date(dayX(from) * 1000), new Date(dayX(to) * 1000)];
  return from === to ? format.format(a) : format.formatRange(a, b);
}

export function mountReports(root) {
  const admin = isAdmin();
  if (!admin) choice.agentId = ""; // an agent's numbers are their own
  if (!choice.from || choice.preset !== "custom") {
    Object.assign(choice, reports.presetRange(choice.preset === "custom" ? "7d" : choice.preset, reports.today(choice.timezone)));
  }
  const stops = [];
  let charts = [];
  let uPlotLib = null;
  let request = 0;

  // -- the controls --------------------------------------------------------------------------
  const preset = h("select", { id: "reports-preset", onchange: () => choosePreset() },
    reports.PRESETS.map((key) => h("option", { value: key, selected: key === choice.preset }, t(`reports.preset.${key}`))));
  const from = h("input", { type: "date", id: "reports-from", value: choice.from, required: true,
    onchange: () => chooseDates() });
  const to = h("input", { type: "date", id: "reports-to", value: choice.to, required: true,
    onchange: () => chooseDates() });
  const compare = h("input", { type: "checkbox", id: "reports-compare", checked: choice.compare,
    onchange: () => { choice.compare = compare.checked; load(); } });
  const business = h("input", { type: "checkbox", id: "reports-business", checked: choice.businessHours,
    onchange: () => { choice.businessHours = business.checked; load(); } });
  const agent = admin && h("select", { id: "reports-agent", onchange: () => { choice.agentId = agent.value; load(); } },
    h("option", { value: "" }, t("reports.wholeDesk")));
  const controls = h("form", { class: "reports-controls", "aria-label": t("reports.controls"),
    onsubmit: (event) => { event.preventDefault(); load(); } },
  h("div", { class: "field" }, h("label", { for: "reports-preset" }, t("reports.period")), preset),
  h("div", { class: "field" }, h("label", { for: "reports-from" }, t("reports.from")), from),
  h("div", { class: "field" }, h("label", { for: "reports-to" }, t("reports.to")), to),
  agent && h("div", { class: "field" }, h("label", { for: "reports-agent" }, t("reports.agent")), agent),
  h("div", { class: "reports-checks" },
    h("label", { class: "check" }, compare, t("reports.compare")),
    h("label", { class: "check", title: t("reports.businessHoursHelp") }, business, t("reports.businessHours"))));

  // -- what is shown -------------------------------------------------------------------------
  const status = h("p", { class: "status-line", role: "status" });
  const scope = h("p", { class: "reports-scope", id: "reports-scope" }, admin ? t("reports.scopeDesk") : t("reports.scopeMine"));
  const period = h("p", { class: "reports-period" });
  const kpis = h("div", { class: "kpis", id: "reports-kpis", "aria-label": t("reports.totals") });
  const cards = {};
  const card = (key, { csv, wide = false } = {}) => {
    const box = h("div", { class: "report-chart", id: `chart-${key}` });
    const note = h("p", { class: "chart-note" });
    const title = h("h3", { id: `report-${key}-title` }, t(`reports.chart.${key}`));
    const head = h("div", { class: "report-head" }, title,
      csv && csvButton(key, csv));
    const element = h("section", { class: `report-card${wide ? " wide" : ""}`, "data-report": key,
      "aria-labelledby": `report-${key}-title` }, head, h("p", { class: "report-help" }, t(`reports.help.${key}`)), box, note);
    cards[key] = { element, box, note, title };
    return element;
  };
  const agentsTable = h("table", { class: "users report-table", id: "reports-agents" });
  const botBody = h("div", { class: "bot-body" });
  const botCard = h("section", { class: "report-card report-tables", "data-report": "bot", hidden: true,
    "aria-labelledby": "report-bot-title" },
  h("div", { class: "report-head" }, h("h3", { id: "report-bot-title" }, t("reports.table.bot")),
    admin && csvButton("bot", { path: "/reports/bot", extra: {}, name: "bot" })),
  h("p", { class: "report-help" }, t("reports.help.bot")), botBody);
  const labelsTable = h("table", { class: "users report-table", id: "reports-labels" });
  const page = h("div", { class: "reports-page", "aria-busy": "true" },
    h("div", { class: "reports-top" },
      h("h2", {}, t("reports.heading")),
      scope),
    controls, status, period, kpis,
    h("div", { class: "reports-grid" },
      card("volume", { csv: { path: "/reports/summary", extra: { group_by: "day" }, name: "summary-day" }, wide: true }),
      card("hours", { csv: { path: "/reports/summary", extra: { group_by: "hour" }, name: "summary-hour" } }),
      card("containment", { csv: { path: "/reports/summary", extra: { group_by: "day" }, name: "summary-day" } }),
      card("first"),
      card("resolution"),
      card("csat", { csv: { path: "/reports/csat", extra: {}, name: "csat" } }),
      card("ratings", { csv: { path: "/reports/csat", extra: {}, name: "csat" } })),
    tableCard("agents", agentsTable, { path: "/reports/agents", extra: {}, name: "agents" }),
    tableCard("labels", labelsTable, { path: "/reports/summary", extra: { group_by: "label" }, name: "summary-label" }),
    botCard);
  fill(root, page);

  function tableCard(key, table, csv) {
    return h("section", { class: "report-card report-tables", "data-report": key, "aria-labelledby": `report-${key}-title` },
      h("div", { class: "report-head" }, h("h3", { id: `report-${key}-title` }, t(`reports.table.${key}`)), csvButton(key, csv)),
      h("div", { class: "table-wrap" }, table));
  }

  function csvButton(key, { path, extra, name }) {
    const label = t("reports.csvOf", { name: t(`reports.csvName.${key}`) });
    return h("button", { type: "button", class: "csv-button", "data-csv": key, title: label, "aria-label": label,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await reports.exportCsv(path, range(), extra, `report-${name}-${choice.from}-${choice.to}.csv`);
        } catch (error) {
          status.textContent = t("reports.csvFailed", { error: error.message });
        } finally {
          button.disabled = false;
        }
      } }, icon("download"), h("span", {}, "CSV"));
  }

  function range() {
    return { from: choice.from, to: choice.to };
  }

  function choosePreset() {
    choice.preset = preset.value;
    if (choice.preset !== "custom") {
      Object.assign(choice, reports.presetRange(choice.preset, reports.today(choice.timezone)));
      from.value = choice.from;
      to.value = choice.to;
      load();
    } else from.focus();
  }

  function chooseDates() {
    choice.preset = "custom";
    preset.value = "custom";
    choice.from = from.value;
    choice.to = to.value;
    load();
  }

  async function loadPeople() {
    if (!admin) return;
    try {
      people = await reports.people(); // asked again each time: someone may have joined
    } catch {
      people = people || [];
    }
    const shown = people.filter((p) => p.active !== false || String(p.id) === choice.agentId)
      .sort((a, b) => (a.display_name || a.username).localeCompare(b.display_name || b.username));
    fill(agent, h("option", { value: "" }, t("reports.wholeDesk")),
      shown.map((p) => h("option", { value: String(p.id), selected: String(p.id) === choice.agentId },
        p.display_name || p.username)));
    agent.value = choice.agentId;
  }

  async function load() {
    const current = range();
    const problem = reports.rangeProblem(current);
    from.setAttribute("aria-invalid", String(Boolean(problem)));
    to.setAttribute("aria-invalid", String(Boolean(problem)));
    if (problem) {
      request += 1; // what is on its way is for another range
      status.textContent = t(problem, { days: reports.MAX_DAYS });
      page.setAttribute("aria-busy", "false");
      return;
    }
    const mine = ++request;
    page.setAttribute("aria-busy", "true");
    status.textContent = t("reports.loading");
    const previous = choice.compare ? reports.previousRange(current) : null;
    let answers;
    try {
      answers = await Promise.all([
        reports.summary(current, "day"),
        reports.summary(current, "hour"),
        reports.summary(current, "label"),
        reports.agents(current),
        reports.csat(current),
        previous ? reports.summary(previous, "day") : null,
        previous ? reports.csat(previous) : null,
        // the bot is the desk's; without it the rest still shows
        admin && !choice.agentId ? reports.bot(current).catch(() => null) : null,
      ]);
    } catch (error) {
      if (mine !== request) return;
      status.textContent = t("reports.failed", { error: error.message });
      page.setAttribute("aria-busy", "false");
      return;
    }
    const uPlot = await loadCharts().catch(() => null);
    if (mine !== request) return;
    const [days, hours, labels, agentRows, csat, before, csatBefore, bot] = answers;
    if (days.timezone && days.timezone !== choice.timezone) {
      choice.timezone = days.timezone;
      const fresh = choice.preset === "custom" ? null : reports.presetRange(choice.preset, reports.today(choice.timezone));
      if (fresh && (fresh.from !== choice.from || fresh.to !== choice.to)) {
        // "Today" is the account's today, not the browser's: ask again for those dates.
        Object.assign(choice, fresh);
        from.value = choice.from;
        to.value = choice.to;
        load();
        return;
      }
    }
    status.textContent = uPlot ? "" : t("reports.noCharts");
    const picked = admin && choice.agentId && (people || []).find((p) => String(p.id) === choice.agentId);
    scope.textContent = !admin ? t("reports.scopeMine")
      : picked ? t("reports.scopeAgent", { name: picked.display_name || picked.username }) : t("reports.scopeDesk");
    period.textContent = previous
      ? t("reports.periodCompared", { range: rangeText(current), previous: rangeText(previous), zone: days.timezone })
      : t("reports.periodAlone", { range: rangeText(current), zone: days.timezone });
    // One person's numbers: the bot's containment is not theirs (the bot closes alone); their
    // replies stand in its place, and the hour chart takes the whole row.
    const person = !admin || Boolean(choice.agentId);
    cards.containment.element.hidden = person;
    cards.hours.element.classList.toggle("wide", person);
    renderKpis(days.totals, before?.totals || null, csat, csatBefore, person);
    drawCharts(uPlot, { days, hours, csat, before, person });
    renderAgents(agentRows.agents || []);
    renderLabels(labels.groups || []);
    renderBot(bot);
    page.setAttribute("aria-busy", "false");
  }

  // -- the totals ----------------------------------------------------------------------------
  function renderKpis(totals, before, csat, csatBefore, person) {
    const median = (row, key) => row?.[key]?.median ?? null;
    const items = [
      { key: "opened", value: totals.opened, text: number(totals.opened), was: before?.opened,
        sub: t("reports.reopenedCount", { count: number(totals.reopened) }) },
      { key: "handed_off", value: totals.handed_off, text: number(totals.handed_off), was: before?.handed_off,
        sub: totals.opened ? t("reports.ofOpened", { share: percent(totals.handed_off / totals.opened) }) : "" },
      { key: "resolved", value: totals.resolved, text: number(totals.resolved), was: before?.resolved,
        sub: person ? "" : t("reports.byBot", { count: number(totals.bot_resolved) }) },
      person
        ? { key: "replies", value: replies(totals), was: before ? replies(before) : undefined,
          text: number(replies(totals)), sub: averageReply(totals) }
        : { key: "containment", value: reports.containment(totals), was: before ? reports.containment(before) : undefined,
          text: reports.containment(totals) === null ? "–" : percent(reports.containment(totals)), absolute: true,
          better: "up", sub: t("reports.containmentSub") },
      { key: "first_response", value: median(totals, "first_response_seconds"),
        was: before ? median(before, "first_response_seconds") : undefined,
        text: seconds(median(totals, "first_response_seconds")), better: "down",
        sub: p90(totals.first_response_seconds), more: person ? "" : averageReply(totals) },
      { key: "resolution", value: median(totals, "resolution_seconds"),
        was: before ? median(before, "resolution_seconds") : undefined,
        text: seconds(median(totals, "resolution_seconds")), better: "down",
        sub: p90(totals.resolution_seconds) },
      { key: "queue", value: median(totals, "queue_seconds"), was: before ? median(before, "queue_seconds") : undefined,
        text: seconds(median(totals, "queue_seconds")), better: "down", sub: p90(totals.queue_seconds) },
      { key: "csat", value: csat.average, was: csatBefore ? csatBefore.average : undefined, absolute: true, better: "up",
        text: csat.average === null || csat.average === undefined ? "–" : `${number(csat.average, 1)} / 5`,
        sub: csat.response_rate === null || csat.response_rate === undefined ? ratingsText(csat.responses || 0)
          : t("reports.csatSub", { ratings: ratingsText(csat.responses || 0), rate: percent(csat.response_rate) }) },
    ];
    fill(kpis, items.map((item) => h("div", { class: "kpi", "data-kpi": item.key },
      h("span", { class: "kpi-label" }, t(`reports.kpi.${item.key}`)),
      h("span", { class: "kpi-value" }, item.text),
      item.sub && h("span", { class: "kpi-sub" }, item.sub),
      item.more && h("span", { class: "kpi-sub" }, item.more),
      item.was !== undefined && deltaBadge(item))));
  }

  function replies(totals) {
    return totals.reply_seconds?.count ?? 0;
  }

  function averageReply(totals) {
    const average = totals.reply_seconds?.average;
    return average === null || average === undefined ? "" : t("reports.averageReply", { value: seconds(average) });
  }

  function p90(duration) {
    return duration?.p90 == null ? "" : t("reports.p90", { value: seconds(duration.p90) });
  }

  function deltaBadge(item) {
    const difference = reports.change(item.value, item.was, { absolute: item.absolute });
    if (difference === null) return h("span", { class: "kpi-delta", "data-trend": "none" }, t("reports.deltaNone"));
    let amount;
    if (item.key === "containment") amount = t("reports.points", { value: number(Math.abs(difference) * 100, 1) });
    else if (item.absolute) amount = number(Math.abs(difference), 1);
    else amount = percent(Math.abs(difference));
    const sign = difference > 0 ? "+" : difference < 0 ? "−" : "±";
    const direction = difference > 0 ? "up" : difference < 0 ? "down" : "same";
    let trend = "neutral";
    if (item.better && direction !== "same") trend = direction === item.better ? "better" : "worse";
    return h("span", { class: "kpi-delta", "data-trend": trend, "data-direction": direction },
      t("reports.delta", { change: `${sign}${amount}` }));
  }

  // -- the charts ----------------------------------------------------------------------------
  function drawCharts(uPlot, { days, hours, csat, before, person }) {
    charts.forEach((chart) => chart.destroy());
    charts = [];
    for (const { box, note } of Object.values(cards)) {
      fill(box);
      note.textContent = "";
    }
    if (!uPlot) return;
    uPlotLib = uPlot;
    const groups = days.groups || [];
    const x = groups.map((g) => dayX(g.key));
    const count = (v) => number(v);
    const volume = [
      { label: t("reports.series.opened"), values: groups.map((g) => g.opened), color: COLOURS.opened },
      { label: t("reports.series.handed_off"), values: groups.map((g) => g.handed_off), color: COLOURS.handed_off },
      { label: t("reports.series.resolved"), values: groups.map((g) => g.resolved), color: COLOURS.resolved },
    ];
    if (before) {
      const earlier = before.groups || [];
      volume.push({ label: t("reports.series.openedBefore"), values: groups.map((g, i) => earlier[i]?.opened ?? null),
        color: COLOURS.previous, dash: [5, 4] });
    }
    draw("volume", { kind: "days", x, series: volume, counts: true, xText: (v) => dayText(v), yText: count }, groups.some((g) => g.opened || g.handed_off || g.resolved));

    const hourly = hours.groups || [];
    draw("hours", { kind: "bars", x: hourly.map((g) => Number(g.key)), labelWidth: 22,
      series: [{ label: t("reports.series.opened"), values: hourly.map((g) => g.opened), color: COLOURS.opened }],
      counts: true, xText: (v) => String(v).padStart(2, "0"),
      legendX: (v) => `${String(v).padStart(2, "0")}:00`, yText: count },
    hourly.some((g) => g.opened));

    const contained = groups.map((g) => {
      const share = reports.containment(g);
      return share === null ? null : Math.round(share * 1000) / 10;
    });
    if (!person) draw("containment", { kind: "days", x, counts: false, range: [0, 100], ySize: 48,
      series: [{ label: t("reports.series.containment"), values: contained, color: COLOURS.bot }],
      xText: (v) => dayText(v), yText: (v) => `${number(v)}%` },
    contained.some((v) => v !== null));

    for (const [key, field, colour] of [["first", "first_response_seconds", COLOURS.first],
      ["resolution", "resolution_seconds", COLOURS.resolution]]) {
      const buckets = days.distributions?.[field] || [];
      const labels = reports.BUCKETS.map((bound) => bucketText(bound, true));
      draw(key, { kind: "bars", x: reports.BUCKETS.map((_, i) => i), labelWidth: 30,
        series: [{ label: t("reports.series.count"), values: reports.BUCKETS.map((bound) =>
          buckets.find((b) => (b.le ?? null) === bound)?.count ?? 0), color: colour }],
        counts: true, xText: (i) => labels[i] ?? "", legendX: (i) => bucketText(reports.BUCKETS[i], false),
        yText: count }, buckets.some((b) => b.count));
    }

    const ratings = csat.by_day || [];
    draw("csat", { kind: "days", x: ratings.map((d) => dayX(d.date)), range: [1, 5], counts: false,
      series: [{ label: t("reports.series.csat"), values: ratings.map((d) => d.average ?? null), color: COLOURS.csat,
        spanGaps: true }],
      xText: (v) => dayText(v), yText: (v) => number(v, 1) },
    ratings.some((d) => d.responses));

    const given = [1, 2, 3, 4, 5].map((n) => csat.ratings?.[String(n)] ?? 0);
    draw("ratings", { kind: "bars", x: [0, 1, 2, 3, 4], labelWidth: 16,
      series: [{ label: t("reports.series.ratings"), values: given, color: COLOURS.csat }],
      counts: true, xText: (i) => String(i + 1), legendX: (i) => t("reports.stars", { count: i + 1 }), yText: count },
    given.some(Boolean));
  }

  function draw(key, spec, anything) {
    const { box, note } = cards[key];
    charts.push(drawChart(uPlotLib, box, spec));
    box.dataset.empty = String(!anything);
    note.textContent = anything ? "" : t("reports.nothing");
  }

  // -- the tables ----------------------------------------------------------------------------
  function renderAgents(rows) {
    const shown = rows.filter((row) => !choice.agentId || String(row.agent_id) === choice.agentId);
    const columns = ["agent", "handled", "replies", "resolved", "firstResponse", "resolution", "reply", "csat"];
    fill(agentsTable,
      h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col" }, t(`reports.column.${key}`))))),
      h("tbody", {}, shown.length ? shown.map((row) => h("tr", { "data-agent": String(row.agent_id) },
        h("th", { scope: "row" }, row.name),
        cells(columns, [number(row.handled), number(row.replies), number(row.resolved),
          seconds(row.first_response_seconds?.median ?? null), seconds(row.resolution_seconds?.median ?? null),
          seconds(row.reply_seconds?.average ?? null),
          row.csat?.responses
            ? t("reports.csatCell", { average: number(row.csat.average, 1), count: number(row.csat.responses) }) : "–"])))
        : h("tr", {}, h("td", { colspan: String(columns.length), class: "empty" }, t("reports.noAgents")))));
  }

  let labelGroups = [];
  function renderLabels(groups) {
    labelGroups = groups;
    const columns = ["label", "opened", "handedOff", "resolved", "botResolved", "firstResponse", "resolution"];
    const rows = groups.filter((g) => g.opened || g.handed_off || g.resolved); // labels used in the period
    fill(labelsTable,
      h("thead", {}, h("tr", {}, columns.map((key) => h("th", { scope: "col" }, t(`reports.column.${key}`))))),
      h("tbody", {}, rows.length ? rows.map((g) => h("tr", { "data-label-key": g.key === null ? "none" : String(g.key) },
        h("th", { scope: "row" }, g.key === null ? h("span", { class: "muted" }, t("reports.noLabel")) : tags.chip(g.label)),
        cells(columns, [number(g.opened), number(g.handed_off), number(g.resolved), number(g.bot_resolved),
          seconds(g.first_response_seconds?.median ?? null), seconds(g.resolution_seconds?.median ?? null)])))
        : h("tr", {}, h("td", { colspan: String(columns.length), class: "empty" }, t("reports.noLabels")))));
  }

  // -- admins: the bot ------------------------------------------------------------------------
  function renderBot(report) {
    botCard.hidden = !report;
    if (!report) return fill(botBody);
    const rate = (value) => (value === null || value === undefined ? "–" : percent(value));
    const reason = (code) => {
      const text = t(`reason.${code}`);
      return text === `reason.${code}` ? code : text;
    };
    const ranked = (key, rows) => h("div", { class: "bot-list", "data-list": key },
      h("h4", {}, t(`reports.bot.${key}`)),
      rows.length ? h("ol", {}, rows.map(([name, count]) => h("li", {}, h("span", {}, name),
        h("span", { class: "count" }, number(count))))) : h("p", { class: "empty" }, t("reports.bot.none")));
    return fill(botBody,
      h("dl", { class: "bot-facts" },
        [["answers", number(report.answers)], ["fallbacks", number(report.fallbacks)],
          ["fallbackRate", rate(report.fallback_rate)], ["handoffRate", rate(report.handoff_rate)]]
          .map(([key, value]) => h("div", { "data-fact": key }, h("dt", {}, t(`reports.bot.${key}`)), h("dd", {}, value)))),
      h("div", { class: "bot-lists" },
        ranked("reasons", report.handoff_reasons.map((r) => [reason(r.reason), r.count])),
        ranked("intents", report.intents.map((i) => [i.intent ?? t("reports.bot.greeting"), i.count])),
        h("div", { class: "bot-list bot-unmatched", "data-list": "unmatched" },
          h("h4", {}, t("reports.bot.unmatched")),
          report.unmatched.length
            ? h("table", { class: "users unmatched-table" },
              h("thead", {}, h("tr", {}, ["question", "times", "last"].map((key) =>
                h("th", { scope: "col" }, t(`reports.bot.${key}`))))),
              h("tbody", {}, report.unmatched.map((u) => h("tr", {},
                h("td", { class: "question" }, u.text),
                h("td", { class: "num" }, number(u.count)),
                h("td", { class: "num" }, h("time", { datetime: u.last_at, title: fullTime(u.last_at) }, shortTime(u.last_at)))))))
            : h("p", { class: "empty" }, t("reports.bot.none")))));
  }

  stops.push(on("labels", () => renderLabels(labelGroups))); // the chips' colours
  stops.push(() => charts.forEach((chart) => chart.destroy()));
  if (!state.labels.length) tags.loadLabels().catch(() => {});
  loadPeople();
  load();
  return () => {
    request += 1;
    stops.forEach((stop) => stop());
  };
}

/**
 * A row's cells after its heading: each names its column (`data-column`, shown before the
 * value on a phone, where the rows stack).
 */
function cells(columns, values) {
  return values.map((value, i) => h("td", { class: "num", "data-column": t(`reports.column.${columns[i + 1]}`) }, value));
}

/** "1 rating", "3 ratings" */
function ratingsText(count) {
  return t(count === 1 ? "reports.ratingsOne" : "reports.ratingsMany", { count: number(count) });
}

/** A distribution's bucket: "≤5 min" (short: "5m") or "> 24 h". */
function bucketText(bound, short) {
  const index = reports.BUCKETS.indexOf(bound);
  return t(`reports.bucket${short ? "Short" : ""}.${index}`);
}
