// The Reports page's charts, drawn by uPlot (vendored in static/vendor/uplot/, MIT; loaded
// the first time a chart is drawn). A chart fills its box's width and follows it as the box
// resizes (a phone turned, a window narrowed); its legend under it reads the values at the
// pointer.

import { h } from "./dom.js";

const VENDOR = "/static/vendor/uplot/";
let loading = null;

/** uPlot, its script and stylesheet added to the page once. */
export function loadCharts() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      document.head.append(h("link", { rel: "stylesheet", href: `${VENDOR}uPlot.min.css` }));
      const script = h("script", { src: `${VENDOR}uPlot.iife.min.js` });
      script.addEventListener("load", () => resolve(window.uPlot));
      script.addEventListener("error", () => {
        loading = null;
        script.remove();
        reject(new Error("the chart library could not be loaded"));
      });
      document.head.append(script);
    });
  }
  return loading;
}

const FONT = "12px system-ui, -apple-system, \"Segoe UI\", Roboto, \"Noto Sans\", sans-serif";
const AXIS = { stroke: "#5b6474", font: FONT, grid: { stroke: "#eef0f4", width: 1 },
  ticks: { stroke: "#dde2ea", width: 1, size: 4 } };
const COUNTS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 50000, 100000];
const DAYS = [1, 2, 3, 7, 14, 28, 56, 91, 182].map((n) => n * 86400);
const HEIGHT = 210;

/**
 * Draw a chart in `box` and keep it as wide as the box. `spec`:
 *   kind: "days" (x: a day's midnight UTC in seconds, lines) or "bars" (x: 0..n-1, bars);
 *   x: the x values; series: [{label, values, color, dash?, spanGaps?}] (spanGaps: a line
 *   goes across days without a value);
 *   xText(v): an x value as people read it (axis and legend; legendX(v) for the legend alone);
 *   labelWidth: bars only, the room an x label needs (px);
 *   yText(v): a y value as people read it; range: [min, max] or null (from 0 up);
 *   counts: whether y counts things (whole numbers on the axis).
 * Returns {destroy}.
 */
export function drawChart(uPlot, box, spec) {
  const bars = spec.kind === "bars";
  const x = spec.x;
  const xScale = bars
    ? { time: false, range: () => [-0.6, x.length - 0.4] }
    : { time: true, range: (u, min, max) => [min - 43200, max + 43200] };
  const yScale = { range: (u, min, max) => {
    if (spec.range) return spec.range;
    const top = Math.max(max || 0, spec.counts ? 4 : 1);
    return [0, top * 1.12];
  } };
  const xAxis = { ...AXIS, space: bars ? 24 : 56, gap: 4, size: 34, incrs: bars ? undefined : DAYS,
    values: (u, splits) => splits.map((v) => (v === null ? "" : spec.xText(v))) };
  if (bars) {
    // Every bar named when there is room; else every second, third... (hours on a phone).
    xAxis.splits = (u) => {
      const step = Math.max(1, Math.ceil((spec.labelWidth || 24) / (u.bbox.width / devicePixelRatio / x.length)));
      return x.filter((v, i) => i % step === 0);
    };
    xAxis.grid = { show: false };
  }
  const yAxis = { ...AXIS, size: spec.ySize || 44, gap: 4, space: 28,
    values: (u, splits) => splits.map((v) => spec.yText(v)) };
  if (spec.counts) yAxis.incrs = COUNTS;
  const series = [
    // The legend names the x value alone ("3 Dec: Opened 21 ..."), and only under the pointer.
    { label: "\u00a0", value: (u, v, si, idx) => (idx === null || v === null || v === undefined ? "" : (spec.legendX || spec.xText)(v)) },
    ...spec.series.map((s) => ({
      label: s.label,
      stroke: s.color,
      width: bars ? 1 : 2,
      dash: s.dash,
      fill: bars ? `${s.color}cc` : undefined,
      paths: bars ? uPlot.paths.bars({ size: [0.72, 56], align: 0 }) : undefined,
      points: bars ? { show: false } : { show: x.length <= 45, size: 5, fill: "#fff", stroke: s.color },
      spanGaps: Boolean(s.spanGaps),
      value: (u, v, si, idx) => {
        if (idx === null) return "";
        return v === null || v === undefined ? "–" : spec.yText(v);
      },
    })),
  ];
  const width = () => Math.max(220, Math.floor(box.clientWidth));
  const options = {
    width: width(),
    height: HEIGHT,
    padding: [10, 12, 0, 0],
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
    scales: { x: xScale, y: yScale },
    axes: [xAxis, yAxis],
    series,
    legend: { live: true },
    cursor: { drag: { x: false, y: false }, points: { size: 7 } },
  };
  const plot = new uPlot(options, [x, ...spec.series.map((s) => s.values)], box);
  const observer = new ResizeObserver(() => {
    const wanted = width();
    if (wanted !== plot.width) plot.setSize({ width: wanted, height: HEIGHT });
  });
  observer.observe(box);
  return {
    plot,
    destroy() {
      observer.disconnect();
      plot.destroy();
    },
  };
}
