/* msgcenter website widget: one file, no build step, nothing loaded from elsewhere.
 * Embed: the snippet POST /channels/widget answers (one script tag with data-widget="<id>")
 * A signed-in user (optional, before the script): window.msgcenterWidget = {user_id, user_hash, name, email}
 * Protocol: docs/api.md, "Website widget". Rendered in a Shadow DOM: the page's CSS cannot reach it. */
(function () {
  "use strict";
  var script = document.currentScript || document.querySelector("script[data-widget]");
  if (!script || window.__msgcenterWidgetLoaded) return;
  window.__msgcenterWidgetLoaded = true;
  var widgetId = script.getAttribute("data-widget");
  var base = script.src.replace(/\/widget\.js(\?.*)?$/, "");
  var who = window.msgcenterWidget || {};
  var storeKey = "msgcenter-widget:" + base + ":" + widgetId + (who.user_id ? ":u" : "");

  var STRINGS = {
    en: {
      open: "Chat with us", close: "Close chat", online: "We're online", offline: "No one is online right now", leave: "Leave your email and we'll answer there too.",
      placeholder: "Write a message…", send: "Send", attach: "Send a file", name: "Your name", email: "Your email",
      start: "Start chat", save: "Save", typing: "{name} is typing…", seen: "Seen", sending: "Sending…",
      emailSaved: "Thanks! We'll also reply to {email}.", failed: "Not sent: {why}", reconnecting: "Reconnecting…",
      you: "You", bot: "Bot", team: "Team", prechat: "Tell us who you are, then write your question."
    },
    id: {
      open: "Chat dengan kami", close: "Tutup chat", online: "Kami sedang online", offline: "Tidak ada yang online saat ini", leave: "Tinggalkan email Anda dan kami juga akan membalas ke sana.",
      placeholder: "Tulis pesan…", send: "Kirim", attach: "Kirim file", name: "Nama Anda", email: "Email Anda",
      start: "Mulai chat", save: "Simpan", typing: "{name} sedang mengetik…", seen: "Dilihat", sending: "Mengirim…",
      emailSaved: "Terima kasih! Kami juga akan membalas ke {email}.", failed: "Tidak terkirim: {why}", reconnecting: "Menghubungkan ulang…",
      you: "Anda", bot: "Bot", team: "Tim", prechat: "Beri tahu kami siapa Anda, lalu tulis pertanyaan Anda."
    }
  };
  var t = function (key, vars) {
    var lang = (state.widget && STRINGS[state.widget.language]) || STRINGS.en;
    return (lang[key] || STRINGS.en[key]).replace(/\{(\w+)\}/g, function (_, k) { return vars && vars[k] != null ? vars[k] : ""; });
  };

  var state = {
    token: null, widget: null, open: false, socket: null, retry: 1000, messages: {}, pending: {},
    lastId: 0, agentsOnline: true, email: null, name: "", identified: false, typingUntil: 0, typingName: "",
    unread: 0, readUpto: 0, error: "", limits: { max_message_chars: 4000 }, connected: false, started: false
  };
  try { state.token = (JSON.parse(localStorage.getItem(storeKey) || "{}")).token || null; } catch (e) { state.token = null; }

  var host = document.createElement("div");
  host.setAttribute("data-msgcenter-widget", widgetId);
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  var CSS = [
    ":host{all:initial}",
    "*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}",
    ".launch{position:fixed;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;cursor:pointer;color:#fff;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483000;display:flex;align-items:center;justify-content:center}",
    ".launch svg{width:28px;height:28px;fill:currentColor}",
    ".badge{position:absolute;top:-2px;right:-2px;background:#dc2626;color:#fff;border-radius:10px;font-size:12px;padding:1px 6px;font-weight:600}",
    ".panel{position:fixed;bottom:88px;width:370px;height:min(600px,calc(100vh - 110px));background:#fff;border-radius:14px;box-shadow:0 8px 30px rgba(0,0,0,.25);display:flex;flex-direction:column;overflow:hidden;z-index:2147483000;color:#111827;font-size:14px}",
    ".head{color:#fff;padding:14px 16px;display:flex;align-items:flex-start;gap:8px}",
    ".head h2{margin:0;font-size:16px;font-weight:600}.head p{margin:2px 0 0;font-size:12px;opacity:.9;line-height:1.35}",
    ".head .x{margin-left:auto;background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;line-height:1}",
    ".dot{display:inline-block;width:8px;height:8px;border-radius:50%;margin-right:5px;background:#4ade80}.dot.off{background:#d1d5db}",
    ".list{flex:1;overflow-y:auto;padding:12px;background:#f9fafb;display:flex;flex-direction:column;gap:6px}",
    ".msg{max-width:80%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word;line-height:1.4}",
    ".msg.visitor{align-self:flex-end;color:#fff;border-bottom-right-radius:4px}",
    ".msg.agent,.msg.bot,.msg.system{align-self:flex-start;background:#fff;border:1px solid #e5e7eb;border-bottom-left-radius:4px}",
    ".msg.system{background:#fef3c7;border-color:#fde68a}",
    ".who{font-size:11px;color:#6b7280;margin-bottom:2px}.meta{font-size:11px;opacity:.75;margin-top:3px;text-align:right}",
    ".msg img{max-width:100%;border-radius:8px;display:block;margin-top:4px}.msg a{color:inherit}",
    ".greet{align-self:flex-start;background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:8px 11px;max-width:85%}",
    ".note{font-size:12px;color:#6b7280;padding:2px 4px}.err{font-size:12px;color:#b91c1c;padding:4px 12px}",
    "form.box{background:#fff;border:1px solid #e5e7eb;border-radius:12px;padding:10px;display:flex;flex-direction:column;gap:6px}",
    "input,textarea{font-size:14px;border:1px solid #d1d5db;border-radius:8px;padding:8px;width:100%;color:#111827;background:#fff}",
    ".bar{display:flex;gap:6px;padding:10px;border-top:1px solid #e5e7eb;align-items:flex-end;background:#fff}",
    ".bar textarea{resize:none;height:40px;max-height:120px}",
    "button.btn{border:0;color:#fff;border-radius:8px;padding:9px 12px;cursor:pointer;font-weight:600;font-size:14px}",
    "button.clip{background:#f3f4f6;border:0;border-radius:8px;width:40px;height:40px;cursor:pointer;font-size:18px;color:#374151}",
    ".typing{font-size:12px;color:#6b7280;padding:0 14px 4px;min-height:16px;background:#f9fafb}",
    ".hidden{display:none!important}",
    "@media (max-width:480px){.panel{left:0!important;right:0!important;bottom:0;width:100%;height:100%;border-radius:0}.launch.open{display:none}}"
  ].join("\n");

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var k in attrs || {}) {
      if (k === "text") node.textContent = attrs[k];
      else if (k.slice(0, 2) === "on") node.addEventListener(k.slice(2), attrs[k]);
      else node.setAttribute(k, attrs[k]);
    }
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  var ICON = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg>';

  var style = el("style", { text: CSS });
  var launch = el("button", { class: "launch", type: "button", "aria-label": "Chat", onclick: function () { toggle(!state.open); } });
  launch.innerHTML = ICON;
  var badge = el("span", { class: "badge hidden" });
  launch.appendChild(badge);
  var title = el("h2", { text: "" });
  var status = el("p", { text: "" });
  var closeBtn = el("button", { class: "x", type: "button", text: "×", onclick: function () { toggle(false); } });
  var head = el("div", { class: "head" }, [el("div", {}, [title, status]), closeBtn]);
  var list = el("div", { class: "list", role: "log", "aria-live": "polite" });
  var typingLine = el("div", { class: "typing" });
  var errorLine = el("div", { class: "err hidden", role: "alert" });
  var input = el("textarea", { rows: "1" });
  var file = el("input", { type: "file", class: "hidden" });
  var clip = el("button", { class: "clip", type: "button", text: "+", onclick: function () { file.click(); } });
  var sendBtn = el("button", { class: "btn", type: "submit" });
  var bar = el("form", { class: "bar" }, [clip, file, input, sendBtn]);
  var panel = el("div", { class: "panel hidden", role: "dialog" }, [head, list, typingLine, errorLine, bar]);
  root.appendChild(style);
  root.appendChild(panel);
  root.appendChild(launch);

  function paint() {
    var w = state.widget || { color: "#2563eb", position: "right", name: "" };
    var side = w.position === "left" ? "left" : "right";
    [launch, panel].forEach(function (n) { n.style[side] = "20px"; n.style[side === "left" ? "right" : "left"] = "auto"; });
    launch.style.background = w.color;
    head.style.background = w.color;
    sendBtn.style.background = w.color;
    launch.setAttribute("aria-label", t(state.open ? "close" : "open"));
    title.textContent = w.name || t("open");
    status.textContent = "";
    status.appendChild(el("span", { class: "dot" + (state.agentsOnline ? "" : " off") }));
    status.appendChild(document.createTextNode(state.connected || !state.started ? t(state.agentsOnline ? "online" : "offline") : t("reconnecting")));
    input.setAttribute("placeholder", t("placeholder"));
    input.setAttribute("maxlength", String(state.limits.max_message_chars));
    sendBtn.textContent = t("send");
    clip.setAttribute("aria-label", t("attach"));
    closeBtn.setAttribute("aria-label", t("close"));
    badge.textContent = String(state.unread);
    badge.classList.toggle("hidden", !state.unread || state.open);
    launch.classList.toggle("open", state.open);
  }

  function needsForm() {
    return state.widget && state.widget.pre_chat_form && !state.identified && !state.name && !Object.keys(state.messages).length;
  }

  function render() {
    paint();
    var atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    var typing = focused();
    list.textContent = "";
    if (state.widget && state.widget.greeting) list.appendChild(el("div", { class: "greet", text: state.widget.greeting }));
    if (needsForm()) list.appendChild(profileForm(true));
    bar.classList.toggle("hidden", !!needsForm());
    var ids = Object.keys(state.messages).map(Number).sort(function (a, b) { return a - b; });
    var lastVisitor = 0;
    ids.forEach(function (id) { if (state.messages[id].sender === "visitor") lastVisitor = id; });
    ids.forEach(function (id) { list.appendChild(bubble(state.messages[id], id === lastVisitor)); });
    Object.keys(state.pending).forEach(function (ref) {
      var p = state.pending[ref];
      if (p.id ? state.messages[p.id] : p.acked) { delete state.pending[ref]; return; }  // a repeat's ack has no id
      list.appendChild(bubble({ sender: "visitor", text: p.text, attachments: [], pending: p.error ? t("failed", { why: p.error }) : t("sending") }, false));
    });
    if (!needsForm() && !state.agentsOnline && !state.email && state.started) list.appendChild(profileForm(false));
    else if (state.emailNote) list.appendChild(el("div", { class: "note", text: state.emailNote }));
    typingLine.textContent = state.typingUntil > Date.now() ? t("typing", { name: state.typingName || t("team") }) : "";
    errorLine.textContent = state.error;
    errorLine.classList.toggle("hidden", !state.error);
    if (atBottom || state.stick) list.scrollTop = list.scrollHeight;
    state.stick = false;
    refocus(typing);
  }

  // The field the visitor is typing in, and where, so that a render (which moves a kept
  // form out of the list and back) leaves the cursor where it was.
  function activeNode() {
    return root.activeElement !== undefined ? root.activeElement : document.activeElement;
  }

  function focused() {
    var active = activeNode();
    if (!active || !list.contains(active)) return null;
    var at = null;
    try { at = [active.selectionStart, active.selectionEnd]; } catch (e) { at = null; }
    return { node: active, at: at };
  }

  function refocus(typing) {
    if (!typing || !typing.node.isConnected) return;
    if (activeNode() === typing.node) return;
    typing.node.focus();
    if (typing.at && typing.at[0] !== null) {
      try { typing.node.setSelectionRange(typing.at[0], typing.at[1]); } catch (e) { /* not a text field */ }
    }
  }

  function bubble(m, last) {
    var color = state.widget ? state.widget.color : "#2563eb";
    var node = el("div", { class: "msg " + m.sender, "data-id": m.id || "" });
    if (m.sender === "visitor") node.style.background = color;
    if (m.sender === "agent" || m.sender === "bot") node.appendChild(el("div", { class: "who", text: m.name || t(m.sender === "bot" ? "bot" : "team") }));
    if (m.text) node.appendChild(document.createTextNode(m.text));
    (m.attachments || []).forEach(function (a) {
      var link = el("a", { href: a.url, target: "_blank", rel: "noopener noreferrer" });
      if (a.kind === "image") link.appendChild(el("img", { src: a.url, alt: a.filename || "" }));
      else link.textContent = "📎 " + (a.filename || "file");
      node.appendChild(el("div", {}, [link]));
    });
    if (m.pending) node.appendChild(el("div", { class: "meta", text: m.pending }));
    else if (last && m.status === "read") node.appendChild(el("div", { class: "meta", text: t("seen") }));
    return node;
  }

  // The forms are made once and kept: every render rebuilds the list, and a new form would
  // lose what the visitor is typing in it (a frame arriving between two fields, say).
  var forms = {};

  function profileForm(prechat) {
    var kind = prechat ? "prechat" : "offline";
    if (!forms[kind]) forms[kind] = makeForm(prechat);
    return forms[kind];
  }

  function makeForm(prechat) {
    var name = el("input", { type: "text", placeholder: t("name"), maxlength: "100", autocomplete: "name" });
    var mail = el("input", { type: "email", placeholder: t("email"), maxlength: "254", autocomplete: "email" });
    var button = el("button", { class: "btn", type: "submit", text: t(prechat ? "start" : "save") });
    button.style.background = state.widget ? state.widget.color : "#2563eb";
    var kids = prechat ? [el("div", { class: "note", text: t("prechat") }), name, mail, button] : [el("div", { class: "note", text: t("leave") }), mail, button];
    if (prechat) name.required = true;
    if (!prechat) mail.required = true;
    return el("form", {
      class: "box " + (prechat ? "prechat" : "offline"),
      onsubmit: function (ev) {
        ev.preventDefault();
        var frame = { type: "profile", email: mail.value.trim() || null };
        if (prechat) frame.name = name.value.trim();
        if (prechat && !frame.name) return;
        if (!send(frame)) {  // sent at the next hello (flush); until then the form is done
          state.profile = frame;
          if (frame.email) state.email = frame.email;
        }
        if (prechat) state.name = frame.name;
        render();
        if (prechat) input.focus();
      }
    }, kids);
  }

  function merge(messages) {
    messages.forEach(function (m) {
      var had = state.messages[m.id];
      state.messages[m.id] = m;
      if (!had && m.sender !== "visitor" && (!state.open || document.hidden) && state.started) state.unread++;
      if (m.id > state.lastId) state.lastId = m.id;
    });
    render();
    markRead();
  }

  function markRead() {
    if (!state.open || document.hidden) return;
    var upto = 0;
    Object.keys(state.messages).forEach(function (id) {
      var m = state.messages[id];
      if (m.sender !== "visitor" && m.status !== "read" && m.id > upto) upto = m.id;
    });
    if (upto > state.readUpto && send({ type: "read", upto: upto })) state.readUpto = upto;
  }

  function save() {
    try { localStorage.setItem(storeKey, JSON.stringify({ token: state.token })); } catch (e) { /* storage off: a session per page */ }
  }

  function request(method, path, body, isForm) {
    var headers = isForm ? {} : { "Content-Type": "application/json" };
    return fetch(base + path, { method: method, headers: headers, body: isForm ? body : JSON.stringify(body), credentials: "omit" })
      .then(function (r) {
        return r.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
          if (!r.ok) throw new Error((data && data.error && data.error.message) || "HTTP " + r.status);
          return data;
        });
      });
  }

  function start() {
    if (state.starting) return state.starting;
    var body = { token: state.token };
    if (who.user_id) { body.user_id = String(who.user_id); body.user_hash = who.user_hash || ""; }
    if (who.name) body.name = String(who.name);
    if (who.email) body.email = String(who.email);
    state.starting = request("POST", "/widget/" + widgetId + "/session", body).then(function (s) {
      state.token = s.token; state.widget = s.widget; state.agentsOnline = s.agents_online;
      state.email = s.email || state.email; state.name = s.name || state.name; state.identified = s.identified; state.limits = s.limits;
      state.started = true; state.error = "";
      save(); connect(); render();
    }, function (err) {
      state.starting = null; state.error = err.message; render();
    });
    return state.starting;
  }

  function connect() {
    var url = base.replace(/^http/, "ws") + "/widget/ws?token=" + encodeURIComponent(state.token) + "&after=" + state.lastId;
    var ws = new WebSocket(url);
    state.socket = ws;
    ws.onopen = function () { state.retry = 1000; };
    ws.onmessage = function (ev) {
      var f;
      try { f = JSON.parse(ev.data); } catch (e) { return; }
      if (f.type === "hello") { state.connected = true; state.agentsOnline = f.agents_online; flush(); render(); }
      else if (f.type === "history") merge(f.messages);
      else if (f.type === "message") merge([f.message]);
      else if (f.type === "ack") { if (state.pending[f.ref]) { state.pending[f.ref].id = f.id; state.pending[f.ref].acked = true; } render(); }
      else if (f.type === "agents") { state.agentsOnline = f.online; render(); }
      else if (f.type === "typing") { state.typingName = f.name; state.typingUntil = Date.now() + 6000; render(); setTimeout(render, 6100); }
      else if (f.type === "seen") { Object.keys(state.messages).forEach(function (id) { var m = state.messages[id]; if (m.sender === "visitor") m.status = "read"; }); render(); }
      else if (f.type === "profile") { state.email = f.email; state.name = f.name || state.name; if (f.email) state.emailNote = t("emailSaved", { email: f.email }); render(); }
      else if (f.type === "error") {
        if (f.ref && state.pending[f.ref]) state.pending[f.ref].error = f.message;
        else state.error = f.message;
        render();
      }
    };
    ws.onclose = function (ev) {
      state.connected = false;
      if (state.socket !== ws) return;
      render();
      if (ev.code === 1008) return;
      setTimeout(function () { if (state.socket === ws) restart(); }, state.retry);
      state.retry = Math.min(state.retry * 2, 30000);
    };
  }

  function restart() { state.starting = null; start(); }

  function send(frame) {
    if (state.socket && state.socket.readyState === 1) { state.socket.send(JSON.stringify(frame)); return true; }
    return false;
  }

  // What the visitor wrote while the socket was not open yet (the page just opened, or the
  // connection dropped), or that was sent but not acknowledged before it dropped: sent on every
  // hello, in the order written. The server keeps a ref once, so a repeat is harmless. The
  // profile (pre-chat form, an address left) goes first: the messages may need its name.
  function flush() {
    if (state.profile && send(state.profile)) state.profile = null;
    Object.keys(state.pending).forEach(function (ref) {
      var p = state.pending[ref];
      if (!p.upload && !p.acked && !p.error) send({ type: "message", ref: ref, text: p.text });
    });
  }

  function newRef() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  bar.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var text = input.value.trim();
    if (!text) return;
    var ref = newRef();
    state.pending[ref] = { text: text };
    state.error = "";
    send({ type: "message", ref: ref, text: text });  // or at the next hello (flush)
    input.value = "";
    state.stick = true;
    render();
  });
  input.addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) { ev.preventDefault(); bar.requestSubmit ? bar.requestSubmit() : bar.dispatchEvent(new Event("submit")); }
  });
  var typedAt = 0;
  input.addEventListener("input", function () {
    var now = Date.now();
    if (now - typedAt > 2500 && input.value) { typedAt = now; send({ type: "typing" }); }
  });
  file.addEventListener("change", function () {
    var chosen = file.files && file.files[0];
    if (!chosen) return;
    var ref = newRef();
    var form = new FormData();
    form.append("ref", ref);
    form.append("text", input.value.trim());
    form.append("file", chosen, chosen.name);
    state.pending[ref] = { text: "📎 " + chosen.name, upload: true };
    input.value = "";
    file.value = "";
    state.stick = true;
    render();
    request("POST", "/widget/" + widgetId + "/uploads?token=" + encodeURIComponent(state.token), form, true).then(function (r) {
      if (state.pending[ref]) state.pending[ref].id = r.message_id;
      render();
    }, function (err) {
      if (state.pending[ref]) state.pending[ref].error = err.message;
      render();
    });
  });
  document.addEventListener("visibilitychange", markRead);

  function toggle(open) {
    state.open = open;
    panel.classList.toggle("hidden", !open);
    if (open) {
      state.unread = 0;
      start();
      setTimeout(function () { input.focus(); }, 0);
    }
    render();
    markRead();
  }

  function mount() {
    document.body.appendChild(host);
    render();
    if (state.token || who.user_id) start();
  }
  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount);
  window.msgcenterWidgetOpen = function () { toggle(true); };
})();
