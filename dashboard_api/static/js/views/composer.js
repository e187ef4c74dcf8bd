// The composer: the reply, files to send with it (attach button, drag and drop, paste) with
// previews and upload progress, and WhatsApp's template picker when the 24-hour window is
// closed. The Note toggle switches it to a private note (never sent to the customer), where
// typing @ suggests the people to mention. The copilot's bar (when a model is set): Suggest
// reply fills the box with a draft and shows the articles it rests on, Translate draft puts
// the box's text in the customer's language, Summarize adds a private note.

import * as chats from "../chats.js";
import * as copilot from "../copilot.js";
import { h, icon } from "../dom.js";
import { ago, t } from "../i18n.js";
import { canWrite } from "../modes.js";
import { state, watching } from "../state.js";
import { mountMentions } from "./mentions.js";
import { formatSize, typeName } from "./messages.js";
import { mountCannedPicker } from "./cannedpicker.js";
import { mountTemplatePicker } from "./templates.js";

const MAX_FILES = 10; // one message; the API checks each file's size and type

/** The composer; `dropZone` (the conversation) takes files dragged onto it. */
export function mountComposer(dropZone) {
  const error = h("p", { class: "error send-error", role: "alert" });
  const note = h("p", { class: "composer-note" });
  const windowButton = h("button", { type: "button", class: "primary open-templates",
    onclick: () => picker.open() }, icon("template"), h("span", {}, t("window.choose")));
  const windowText = h("p", { class: "window-text" });
  const windowNote = h("div", { class: "window-note", role: "status", hidden: true }, windowText, windowButton);
  const picker = mountTemplatePicker({
    onSent: () => composer.onSent(),
    onOpen: () => update(),
    onClose: () => { update(); input.focus(); },
  });
  const tray = h("ul", { class: "attach-tray", "aria-label": t("upload.tray") });
  const bar = h("progress", { class: "upload-bar", max: "100", value: "0", "aria-label": t("upload.progressLabel") });
  const barText = h("span", { class: "upload-text" });
  const cancel = h("button", { type: "button", class: "link upload-cancel", onclick: () => uploading?.abort() },
    t("upload.cancel"));
  const progress = h("div", { class: "upload-progress", hidden: true }, bar, barText, cancel);
  const picked = h("input", { type: "file", multiple: true, class: "file-input", hidden: true, tabindex: "-1",
    "aria-hidden": "true", onchange: () => { addFiles([...picked.files]); picked.value = ""; } });
  const attach = h("button", { type: "button", class: "icon-button attach", "aria-label": t("upload.attach"),
    title: t("upload.attach"), onclick: () => picked.click() }, icon("clip"));
  const templates = h("button", { type: "button", class: "icon-button templates-button", hidden: true,
    "aria-label": t("window.templates"), title: t("window.templates"), onclick: () => picker.open() },
  icon("template"));
  const input = h("textarea", {
    id: "composer-input", rows: "2", placeholder: t("composer.placeholder"), "aria-label": t("composer.label"),
    onkeydown: (event) => {
      if (canned.handleKey(event)) return; // the "/" picker's keys
      if (mentions.onKey(event)) return; // the suggestions took the key
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        form.requestSubmit();
      }
    },
    oninput: () => {
      if (noteMode) mentions.update();
      else chats.typing(); // a note is not news to the customer
    },
    onpaste: (event) => {
      const pasted = [...(event.clipboardData?.files || [])];
      if (!pasted.length) return; // text pastes as usual
      event.preventDefault();
      addFiles(pasted.map((file, n) => named(file, n)));
    },
  });
  const canned = mountCannedPicker(input, { chatId: () => chat?.id ?? null, onInsert: () => chats.typing() });
  const sendLabel = h("span", {}, t("composer.send"));
  const button = h("button", { type: "submit", class: "primary send", "aria-label": t("composer.send") },
    icon("send"), sendLabel);
  const noteToggle = h("button", { type: "button", id: "note-toggle", class: "note-toggle", "aria-pressed": "false",
    title: t("notes.toggleTitle"), onclick: () => setNoteMode(!noteMode) }, icon("note"), h("span", {}, t("notes.toggle")));
  const mentions = mountMentions(input);
  const assist = mountCopilotBar();
  const form = h("form", { class: "composer", onsubmit: submit }, error, note, windowNote, picker.root, tray,
    progress, canned.root, mentions.root, assist.root,
    h("div", { class: "composer-row" }, noteToggle, attach, templates, picked, input, button));
  const dropHint = h("div", { class: "drop-hint", "aria-hidden": "true" }, icon("clip"), h("p", {}, t("upload.drop")));
  const composer = { form, onSent: () => {} };

  let files = []; // [{file, preview (object URL of an image) or null}]
  let uploading = null; // {abort} while files go up
  let chat = null; // the chat row shown
  let writable = false;
  let closed = false; // WhatsApp's window
  let refusedName = ""; // the file the API refused, marked in the tray
  let noteMode = false; // writing a private note
  let noteable = false; // the user may add notes here (who may act on it, and watchers)

  /**
   * The copilot's buttons and what they said: a status line (working, done, why it failed)
   * and the sources of the last draft. Hidden when the copilot is unavailable.
   */
  function mountCopilotBar() {
    const status = h("p", { class: "copilot-status", role: "status", "aria-live": "polite" });
    const sources = h("p", { class: "copilot-sources", hidden: true });
    const button = (name, iconName, run) => h("button", { type: "button", class: `copilot-button copilot-${name}`,
      "data-copilot": name, title: t(`copilot.${name}Title`), onclick: () => ask(run) },
    icon(iconName), h("span", {}, t(`copilot.${name}`)));
    const suggest = button("suggest", "spark", async (chatId) => {
      const draft = await copilot.suggest(chatId);
      fillBox(draft.text);
      showSources(draft.sources || []);
      return t("copilot.suggested");
    });
    const translate = button("translateDraft", "globe", async (chatId) => {
      const text = input.value.trim();
      if (!text) return t("copilot.writeFirst");
      const done = await copilot.translateDraft(chatId, text);
      fillBox(done.text);
      return t("copilot.translated", { language: copilot.languageName(done.to) });
    });
    const summarize = button("summarize", "note", async (chatId) => {
      await copilot.summarize(chatId);
      composer.onSent();
      return t("copilot.summarized");
    });
    const buttons = [suggest, translate, summarize];
    const root = h("div", { class: "copilot-bar", role: "group", "aria-label": t("copilot.bar"), hidden: true },
      h("div", { class: "copilot-buttons" }, buttons), status, sources);
    let busy = false;

    /** The box holds the copilot's text, tall enough to read it (a third of the screen). */
    function fillBox(text) {
      input.value = text;
      input.style.height = "auto";
      input.style.height = `${Math.min(input.scrollHeight + 4, Math.round(window.innerHeight / 3))}px`;
      input.focus();
      input.setSelectionRange(text.length, text.length);
    }

    function showSources(list) {
      sources.replaceChildren(list.length ? t("copilot.sources") : t("copilot.noSources"),
        ...list.map((source) => h("span", { class: "copilot-source", "data-article": String(source.id) },
          source.title)));
      sources.hidden = false;
    }

    async function ask(run) {
      if (busy || !chat) return;
      busy = true;
      const chatId = chat.id;
      status.textContent = t("copilot.working");
      status.classList.remove("failed");
      sources.hidden = true;
      update();
      try {
        const said = await run(chatId);
        if (chat?.id === chatId) status.textContent = said;
      } catch (failure) {
        if (chat?.id === chatId) {
          status.textContent = copilot.problem(failure);
          status.classList.add("failed");
        }
      } finally {
        busy = false;
        update();
      }
    }

    return {
      root,
      update(writable, noteable) {
        root.hidden = !copilot.available() || !noteable;
        suggest.hidden = translate.hidden = !writable || noteMode;
        for (const b of buttons) b.disabled = busy;
      },
      reset() {
        status.textContent = "";
        status.classList.remove("failed");
        sources.hidden = true;
      },
    };
  }

  function setNoteMode(on) {
    noteMode = Boolean(on) && noteable;
    if (!noteMode) mentions.close();
    update();
    if (!input.disabled) input.focus();
  }

  /** A pasted screenshot has a generic name ("image.png"): give it a distinct one. */
  function named(file, n) {
    if (file.name && file.name !== "image.png") return file;
    const stamp = new Date().toISOString().replace(/[:T]/g, "-").slice(0, 19);
    const extension = (file.type.split("/")[1] || "bin").replace("jpeg", "jpg");
    return new File([file], `pasted-${stamp}${n ? `-${n}` : ""}.${extension}`, { type: file.type });
  }

  function addFiles(list) {
    if (!list.length || !writable || closed || uploading || noteMode) return;
    error.textContent = "";
    for (const file of list) {
      if (files.length >= MAX_FILES) {
        error.textContent = t("upload.tooMany", { count: MAX_FILES });
        break;
      }
      const preview = file.type.startsWith("image/") ? URL.createObjectURL(file) : null;
      files.push({ file, preview });
    }
    refusedName = "";
    renderTray();
    input.focus();
  }

  function removeFile(entry) {
    if (uploading) return;
    if (entry.preview) URL.revokeObjectURL(entry.preview);
    const at = files.indexOf(entry);
    files = files.filter((f) => f !== entry);
    renderTray();
    (tray.querySelectorAll(".tray-remove")[Math.min(at, files.length - 1)] || input).focus();
  }

  function clearFiles() {
    for (const entry of files) if (entry.preview) URL.revokeObjectURL(entry.preview);
    files = [];
    refusedName = "";
    renderTray();
  }

  function renderTray() {
    tray.replaceChildren(...files.map((entry) => {
      const { file } = entry;
      const facts = [typeName(file.type), formatSize(file.size)].filter(Boolean).join(" · ");
      const look = entry.preview
        ? h("img", { class: "tray-thumb", src: entry.preview, alt: "" })
        : h("span", { class: "tray-icon" }, icon("file"));
      return h("li", { class: `tray-item${file.name === refusedName ? " refused" : ""}`, "data-name": file.name },
        look,
        h("span", { class: "tray-text" }, h("span", { class: "tray-name", title: file.name }, file.name),
          h("span", { class: "tray-facts" }, facts)),
        h("button", { type: "button", class: "icon-button tray-remove", disabled: Boolean(uploading),
          "aria-label": t("upload.remove", { name: file.name }), title: t("upload.remove", { name: file.name }),
          onclick: () => removeFile(entry) }, icon("close")));
    }));
    tray.hidden = !files.length;
    placeholder();
  }

  function placeholder() {
    input.placeholder = noteMode ? t("notes.placeholder") : closed ? t("window.placeholder")
      : files.length ? t("upload.caption") : t("composer.placeholder");
  }

  function showProgress(sent, total) {
    const percent = total ? Math.min(100, Math.round((sent / total) * 100)) : 0;
    bar.value = percent;
    barText.textContent = percent >= 100 ? t("upload.processing") : t("upload.progress", { percent });
  }

  async function submit(event) {
    event.preventDefault();
    const text = input.value.trim();
    if ((!text && !files.length) || button.disabled || uploading) return;
    button.disabled = true;
    error.textContent = "";
    error.title = "";
    try {
      if (noteMode) {
        if (files.length) throw new Error(t("notes.noFiles"));
        mentions.close();
        await chats.sendNote(text);
      } else if (files.length) {
        showProgress(0, 1);
        progress.hidden = false;
        uploading = chats.sendFiles(text, files.map((f) => f.file), showProgress);
        renderTray();
        await uploading.promise;
        clearFiles();
      } else {
        await chats.send(text);
      }
      input.value = "";
      input.style.height = ""; // back from a tall draft
      composer.onSent();
    } catch (failure) {
      error.textContent = refusal(failure);
    } finally {
      uploading = null;
      progress.hidden = true;
      renderTray();
      update();
      if (!closed) input.focus();
    }
  }

  /** What went wrong, in words an agent can act on; the files stay for another try. */
  function refusal(failure) {
    const details = failure.details || {};
    refusedName = details.file || details.filename || "";
    error.title = failure.message; // the API's own words, in full, on hover
    if (failure.code === "aborted") return t("upload.cancelled");
    if (!failure.status && failure.message) return failure.message;
    const name = details.file || "";
    const type = typeName(details.content_type);
    if (failure.status === 413 && name && (details.max_bytes || details.max_total_bytes)) {
      return details.max_bytes
        ? t("upload.tooLargeFile", { name, limit: formatSize(details.max_bytes) })
        : t("upload.tooLargeTotal", { limit: formatSize(details.max_total_bytes) });
    }
    if (failure.status === 413) return t("upload.tooLarge", { error: failure.message });
    if (failure.code === "unsupported_file_type" && name && Array.isArray(details.accepted)) {
      const accepted = [...new Set(details.accepted.map(typeName))].join(", ");
      return t("upload.unsupportedFile", { name, type: type || details.content_type || "?", accepted });
    }
    if (failure.code === "unsupported_file_type") return t("upload.unsupported", { error: failure.message });
    if (failure.status === 409 && chat?.channel === "WhatsApp") return t("window.refused");
    return t("composer.refused", { error: failure.message });
  }

  function update() {
    if (!chat) return;
    writable = canWrite(chat, state.user);
    noteable = writable || watching(chat);
    if (!writable && noteable) noteMode = true; // a watcher writes notes only
    if (!noteable) noteMode = false;
    const window = chats.replyWindow(chat);
    closed = writable && window.closed && !noteMode; // notes need no open window
    const locked = noteMode ? !noteable : !writable || closed;
    input.disabled = locked;
    attach.disabled = locked || noteMode || Boolean(uploading);
    attach.hidden = noteMode;
    button.disabled = locked || Boolean(uploading);
    sendLabel.textContent = noteMode ? t("notes.add") : t("composer.send");
    button.setAttribute("aria-label", sendLabel.textContent);
    noteToggle.hidden = !noteable;
    noteToggle.disabled = !writable; // a watcher may not reply: notes only
    noteToggle.setAttribute("aria-pressed", String(noteMode));
    form.classList.toggle("note-mode", noteMode);
    templates.hidden = noteMode || !(writable && window.applies);
    note.textContent = writable ? "" : noteable ? t("notes.watcher")
      : t(chat.queued ? "composer.claimFirst" : "composer.notYours");
    note.hidden = writable;
    windowNote.hidden = !closed || picker.isOpen();
    windowText.textContent = !closed ? "" : window.lastAt
      ? t("window.closedSince", { time: ago(window.lastAt) })
      : t("window.neverWrote");
    if (!writable) picker.close({ quiet: true });
    assist.update(writable, noteable);
    placeholder();
  }

  composer.update = (row) => {
    chat = row;
    picker.chat = row;
    update();
  };
  composer.tick = () => update();
  composer.pickTemplate = () => {
    if (chat && writable && chats.replyWindow(chat).applies) picker.open();
  };
  composer.disable = () => {
    input.disabled = true;
    button.disabled = true;
    attach.disabled = true;
  };
  composer.toggleNote = () => setNoteMode(!noteMode);
  composer.reset = () => {
    uploading?.abort();
    noteMode = false;
    mentions.close();
    input.value = "";
    input.style.height = "";
    error.textContent = "";
    chat = null;
    clearFiles();
    picker.close({ quiet: true });
    canned.close();
    assist.reset();
  };

  // Files dragged over the conversation: a hint while over it, attached on drop.
  let depth = 0;
  const carriesFiles = (event) => [...(event.dataTransfer?.types || [])].includes("Files");
  dropZone.addEventListener("dragenter", (event) => {
    if (!carriesFiles(event) || !writable || closed) return;
    event.preventDefault();
    depth += 1;
    dropZone.classList.add("dragging");
  });
  dropZone.addEventListener("dragover", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault(); // else the browser opens the file
    event.dataTransfer.dropEffect = writable && !closed ? "copy" : "none";
  });
  dropZone.addEventListener("dragleave", () => {
    depth = Math.max(0, depth - 1);
    if (!depth) dropZone.classList.remove("dragging");
  });
  dropZone.addEventListener("drop", (event) => {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    depth = 0;
    dropZone.classList.remove("dragging");
    addFiles([...event.dataTransfer.files]);
  });
  dropZone.append(dropHint);
  renderTray();
  return composer;
}
