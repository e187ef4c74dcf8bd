// Building DOM safely: every piece of data becomes a text node or an attribute value.
// Nothing in the console turns a string into markup (tests/test_console_static.py checks).

const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * h("button", {class: "x", onclick: fn, "aria-label": "..."}, "text", child, [more])
 * Props: class, text, on<event> (a function), hidden/disabled/checked/value (properties),
 * anything else as an attribute (skipped when null/undefined/false).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  applyProps(el, props);
  append(el, children);
  return el;
}

function applyProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (["hidden", "disabled", "checked", "value", "selected"].includes(key)) {
      el[key] = value;
    } else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace all of el's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

// 24x24 outline icons, drawn here so no request leaves the origin.
const PATHS = {
  telegram: ["M21 4 3 11.5l6 2.2L11 20l3.2-4 4.8 3.5z", "M9 13.7 18 7l-7 8"],
  whatsapp: [
    "M4 20l1.3-4A8 8 0 1 1 8.3 19z",
    "M9 8.5c0 3 2.5 6.5 6 6.8l1.2-1.5-2-1-.9.8c-1-.4-2-1.4-2.4-2.4l.8-.9-1-2z",
  ],
  email: ["M3 6h18v12H3z", "M3 6l9 7 9-7"],
  api: ["M8 7l-5 5 5 5", "M16 7l5 5-5 5", "M13.5 4l-3 16"],
  widget: ["M3 4h18v13H3z", "M3 8h18", "M14 13h4v3l-2-1h-2z", "M6 6h.01", "M8.5 6h.01"],
  check: ["M5 12.5l4 4L19 7"],
  checks: ["M2 12.5l4 4L15 7", "M10 15.5l1 1L21 7"],
  clock: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M12 7v5l3 2"],
  alert: ["M12 3 2 20h20z", "M12 10v4", "M12 17v.5"],
  clip: ["M20 11l-8 8a5 5 0 0 1-7-7l9-9a3.5 3.5 0 0 1 5 5l-9 9a2 2 0 0 1-3-3l8-8"],
  image: ["M3 5h18v14H3z", "M3 16l5-5 4 4 3-3 6 6", "M15.5 8.5h.01"],
  location: ["M12 21s-7-6.5-7-12a7 7 0 0 1 14 0c0 5.5-7 12-7 12z", "M12 7a2 2 0 1 0 0 4a2 2 0 1 0 0-4z"],
  contact: ["M12 4a4 4 0 1 0 0 8a4 4 0 1 0 0-8z", "M4 20c1.5-4 4.5-5 8-5s6.5 1 8 5"],
  back: ["M15 5l-7 7 7 7"],
  send: ["M4 12 20 4l-5 16-3-7z", "M12 13l8-9"],
  users: ["M9 5a3.5 3.5 0 1 0 0 7a3.5 3.5 0 1 0 0-7z", "M2 20c1-4 4-5 7-5s6 1 7 5", "M16 5.5a3 3 0 0 1 0 6", "M18 15c2 .5 3.5 2 4 5"],
  logout: ["M15 4h4v16h-4", "M10 8l-4 4 4 4", "M6 12h10"],
  info: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M12 11v6", "M12 7.5v.5"],
  chats: ["M4 5h16v10H9l-5 4z"],
  close: ["M6 6l12 12", "M18 6 6 18"],
  more: ["M5 12h.01", "M12 12h.01", "M19 12h.01"],
  download: ["M12 4v11", "M7 10l5 5 5-5", "M5 20h14"],
  template: ["M5 3h14v18H5z", "M8 8h8", "M8 12h8", "M8 16h5"],
  file: ["M6 3h8l4 4v14H6z", "M14 3v4h4"],
  search: ["M10.5 4a6.5 6.5 0 1 0 0 13a6.5 6.5 0 1 0 0-13z", "M15.5 15.5 21 21"],
  bolt: ["M13 3 5 13.5h6L10 21l8-10.5h-6z"],
  keyboard: ["M3 6h18v12H3z", "M7 10h.01", "M11 10h.01", "M15 10h.01", "M8 14h8"],
  tag: ["M3 12V3h9l9 9-9 9z", "M7.5 7.5h.01"],
  chart: ["M4 4v16h16", "M8 16v-5", "M12 16V7", "M16 16v-8", "M20 16v-3"],
  bell: ["M6 16V11a6 6 0 0 1 12 0v5l2 2H4z", "M10 20a2 2 0 0 0 4 0"],
  note: ["M5 4h14v11l-5 5H5z", "M14 20v-5h5", "M8 8h8", "M8 12h5"],
  spark: ["M12 3l1.8 5.2L19 10l-5.2 1.8L12 17l-1.8-5.2L5 10l5.2-1.8z", "M19 16l.8 2.2L22 19l-2.2.8L19 22l-.8-2.2L16 19l2.2-.8z"],
  globe: ["M12 3a9 9 0 1 0 0 18a9 9 0 1 0 0-18z", "M3 12h18", "M12 3c2.5 2.5 3.5 5.5 3.5 9s-1 6.5-3.5 9c-2.5-2.5-3.5-5.5-3.5-9s1-6.5 3.5-9z"],
  book: ["M6 3h12a1 1 0 0 1 1 1v16a1 1 0 0 1-1 1H6z", "M12 8.5a2 2 0 1 0 0 4a2 2 0 1 0 0-4z",
    "M8.5 16.5c.8-1.6 2-2.2 3.5-2.2s2.7.6 3.5 2.2", "M4 7h3", "M4 12h3", "M4 17h3"],
  plug: ["M9 3v5", "M15 3v5", "M6 8h12v3a6 6 0 0 1-12 0z", "M12 17v4"],
  library: ["M3 5.5c3-1.3 6-1.3 9 .8 3-2.1 6-2.1 9-.8v13.5c-3-1.3-6-1.3-9 .8-3-2.1-6-2.1-9-.8z", "M12 6.3v14.2"],
};

/** An inline SVG icon; decorative unless a label is given. */
export function icon(name, label = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon-${name}`);
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
    const title = document.createElementNS(SVG_NS, "title");
    title.textContent = label;
    svg.append(title);
  } else svg.setAttribute("aria-hidden", "true");
  for (const d of PATHS[name] || PATHS.info) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

/** Run fn at most once every `ms` milliseconds. */
/**
 * Show `dialog` (a native <dialog>) as a modal: the page under it is inert, Escape closes it and
 * nothing else (not the panel under it), a click on its backdrop calls `onBackdrop`, and closing
 * it removes it, calls `onClosed` and gives the focus back to `trigger`; `focus` gets it first.
 */
export function showModal(dialog, { trigger, focus, onBackdrop, onClosed }) {
  dialog.addEventListener("keydown", (event) => {
    if (event.key === "Escape") event.stopPropagation();
  });
  dialog.addEventListener("close", () => {
    dialog.remove();
    onClosed();
    if (trigger && trigger.isConnected) trigger.focus();
  });
  dialog.addEventListener("click", (event) => {
    if (event.target === dialog) onBackdrop();
  });
  document.body.append(dialog);
  dialog.showModal();
  focus.focus();
}

export function throttle(fn, ms) {
  let last = 0;
  return (...args) => {
    const now = Date.now();
    if (now - last < ms) return;
    last = now;
    fn(...args);
  };
}

/** Run fn `ms` milliseconds after the last call. */
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
