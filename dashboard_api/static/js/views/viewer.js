// The image viewer: a modal dialog with the full image, a download link and a close button.
// A native <dialog> shown with showModal(): the rest of the page is inert while it is open,
// Escape closes it, and focus goes back to the thumbnail that opened it.

import { h, icon, showModal } from "../dom.js";
import { t } from "../i18n.js";

let current = null;

/** Show `url` (a blob: URL) named `name`; `trigger` gets the focus back on close. */
export function openViewer({ url, name, trigger }) {
  closeViewer();
  const close = h("button", { type: "button", class: "icon-button viewer-close", "aria-label": t("viewer.close"),
    title: t("viewer.close"), onclick: () => closeViewer() }, icon("close"));
  const save = h("a", { class: "button viewer-download", href: url, download: name }, icon("download"),
    h("span", {}, t("viewer.download")));
  const title = h("h2", { class: "viewer-title", id: "viewer-title" }, name);
  const image = h("img", { class: "viewer-image", src: url, alt: name });
  const dialog = h("dialog", { class: "viewer", "aria-labelledby": "viewer-title" },
    h("div", { class: "viewer-bar" }, title, save, close),
    h("div", { class: "viewer-stage", onclick: (event) => { if (event.target === event.currentTarget) closeViewer(); } },
      image));
  current = { dialog };
  showModal(dialog, { trigger, focus: close, onBackdrop: closeViewer, onClosed: () => {
    if (current?.dialog === dialog) current = null;
  } });
  return dialog;
}

export function closeViewer() {
  if (current?.dialog?.open) current.dialog.close();
}
