// Every string the console shows, in English and Indonesian, and dates in the agent's zone.

const STRINGS = {
  en: {
    "app.title": "msgcenter",
    "app.skip": "Skip to the chat list",
    "lang.label": "Language",
    "login.heading": "Sign in to the message center",
    "login.identifier": "Username or email",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.busy": "Signing in…",
    "login.expired": "Your session has expired. Please sign in again.",
    "login.loggedOut": "You have signed out.",
    "header.logout": "Sign out",
    "header.users": "Users",
    "header.chats": "Chats",
    "header.signedInAs": "Signed in as {name} ({role})",
    "role.admin": "admin",
    "role.agent": "agent",
    "conn.connecting": "Connecting…",
    "conn.live": "Live",
    "conn.reconnecting": "Reconnecting…",
    "tabs.label": "Chat lists",
    "tabs.mine": "Mine",
    "tabs.queue": "Queue",
    "tabs.all": "All",
    "filter.mode": "Mode",
    "filter.channel": "Channel",
    "filter.any": "All",
    "filter.search": "Search chats",
    "filter.searchPlaceholder": "Search name, phone, email, text",
    "mode.bot": "Bot",
    "mode.agent": "Agent",
    "mode.paused": "Paused",
    "mode.closed": "Closed",
    "mode.queued": "Queued",
    "list.label": "Chats",
    "list.empty.mine": "No chats assigned to you. Waiting chats are in the queue.",
    "list.empty.queue": "The queue is empty: nobody is waiting for an agent.",
    "list.empty.all": "No chats yet. They appear here when customers write.",
    "list.empty.filtered": "No chats match these filters.",
    "list.more": "Load more chats",
    "list.loading": "Loading chats…",
    "list.unread": "{count} unread",
    "list.you": "You",
    "list.error": "The chats could not be loaded: {error}",
    "list.retry": "Try again",
    "sender.customer": "Customer",
    "sender.agent": "Agent",
    "sender.bot": "Bot",
    "sender.system": "System",
    "chat.none": "Select a chat to read and reply.",
    "chat.back": "Back to chats",
    "chat.older": "Load older messages",
    "chat.loading": "Loading messages…",
    "chat.start": "Start of the conversation",
    "chat.empty": "No messages yet.",
    "chat.internal": "Internal note",
    "chat.typing": "{name} is typing…",
    "chat.assignedTo": "Assigned to {name}",
    "chat.unassigned": "Waiting in the queue",
    "chat.noAgent": "No agent",
    "chat.messages": "Messages",
    "chat.actions": "Chat actions",
    "chat.gone": "This chat is no longer in your lists.",
    "chat.panel": "Customer details",
    "chat.notFound": "This chat could not be opened: {error}",
    "status.queued": "Queued",
    "status.sent": "Sent",
    "status.delivered": "Delivered",
    "status.read": "Read",
    "status.failed": "Not delivered",
    "composer.label": "Reply",
    "composer.placeholder": "Write a reply… (Enter sends, Shift+Enter for a new line)",
    "composer.send": "Send",
    "composer.claimFirst": "Claim this chat from the queue to reply.",
    "composer.notYours": "Only the assigned agent can reply in this chat.",
    "composer.refused": "Not sent: {error}",
    "action.claim": "Claim",
    "action.take_over": "Take over",
    "action.assign": "Assign",
    "action.transfer": "Transfer",
    "action.unassign": "Back to queue",
    "action.pause": "Pause",
    "action.resume": "Resume",
    "action.return_to_bot": "Return to bot",
    "action.reopen": "Reopen",
    "action.close": "Close",
    "action.pickAgent": "Agent",
    "action.confirm": "Confirm",
    "action.cancel": "Cancel",
    "action.failed": "{action} failed: {error}",
    "action.load": "{open}/{capacity} open",
    "panel.name": "Name",
    "panel.channel": "Channel",
    "panel.phone": "Phone",
    "panel.email": "Email",
    "panel.address": "Address",
    "panel.username": "Username",
    "panel.subject": "Subject",
    "panel.presence": "Status",
    "panel.online": "Online",
    "panel.offline": "Offline",
    "panel.lastActive": "Last active",
    "panel.created": "Chat started",
    "panel.agent": "Agent",
    "panel.reason": "Handoff reason",
    "panel.none": "—",
    "attach.location": "Location",
    "attach.contact": "Contact",
    "attach.file": "File",
    "attach.download": "Download {name}",
    "attach.unavailable": "This file cannot be downloaded: {error}",
    "users.heading": "Users",
    "users.username": "Username",
    "users.name": "Name",
    "users.email": "Email",
    "users.role": "Role",
    "users.capacity": "Capacity",
    "users.open": "Open chats",
    "users.active": "Active",
    "users.yes": "Active",
    "users.no": "Inactive",
    "users.save": "Save",
    "users.saved": "Saved.",
    "users.deactivate": "Deactivate",
    "users.activate": "Activate",
    "users.add": "Add an agent",
    "users.password": "Password (8 characters or more)",
    "users.create": "Add user",
    "users.created": "{name} was added.",
    "users.capacityOf": "Capacity of {name}",
    "users.error": "Not saved: {error}",
    "time.yesterday": "Yesterday",
  },
  id: {
    "app.title": "msgcenter",
    "app.skip": "Lewati ke daftar chat",
    "lang.label": "Bahasa",
    "login.heading": "Masuk ke pusat pesan",
    "login.identifier": "Nama pengguna atau email",
    "login.password": "Kata sandi",
    "login.submit": "Masuk",
    "login.busy": "Sedang masuk…",
    "login.expired": "Sesi Anda telah berakhir. Silakan masuk lagi.",
    "login.loggedOut": "Anda telah keluar.",
    "header.logout": "Keluar",
    "header.users": "Pengguna",
    "header.chats": "Chat",
    "header.signedInAs": "Masuk sebagai {name} ({role})",
    "role.admin": "admin",
    "role.agent": "agen",
    "conn.connecting": "Menghubungkan…",
    "conn.live": "Langsung",
    "conn.reconnecting": "Menghubungkan ulang…",
    "tabs.label": "Daftar chat",
    "tabs.mine": "Milik saya",
    "tabs.queue": "Antrean",
    "tabs.all": "Semua",
    "filter.mode": "Mode",
    "filter.channel": "Kanal",
    "filter.any": "Semua",
    "filter.search": "Cari chat",
    "filter.searchPlaceholder": "Cari nama, telepon, email, teks",
    "mode.bot": "Bot",
    "mode.agent": "Agen",
    "mode.paused": "Dijeda",
    "mode.closed": "Ditutup",
    "mode.queued": "Antre",
    "list.label": "Chat",
    "list.empty.mine": "Belum ada chat untuk Anda. Chat yang menunggu ada di antrean.",
    "list.empty.queue": "Antrean kosong: tidak ada yang menunggu agen.",
    "list.empty.all": "Belum ada chat. Chat muncul di sini saat pelanggan menulis.",
    "list.empty.filtered": "Tidak ada chat yang cocok dengan filter ini.",
    "list.more": "Muat chat lainnya",
    "list.loading": "Memuat chat…",
    "list.unread": "{count} belum dibaca",
    "list.you": "Anda",
    "list.error": "Chat tidak dapat dimuat: {error}",
    "list.retry": "Coba lagi",
    "sender.customer": "Pelanggan",
    "sender.agent": "Agen",
    "sender.bot": "Bot",
    "sender.system": "Sistem",
    "chat.none": "Pilih chat untuk membaca dan membalas.",
    "chat.back": "Kembali ke daftar chat",
    "chat.older": "Muat pesan sebelumnya",
    "chat.loading": "Memuat pesan…",
    "chat.start": "Awal percakapan",
    "chat.empty": "Belum ada pesan.",
    "chat.internal": "Catatan internal",
    "chat.typing": "{name} sedang mengetik…",
    "chat.assignedTo": "Ditangani {name}",
    "chat.unassigned": "Menunggu di antrean",
    "chat.noAgent": "Tanpa agen",
    "chat.messages": "Pesan",
    "chat.actions": "Tindakan chat",
    "chat.gone": "Chat ini tidak lagi ada di daftar Anda.",
    "chat.panel": "Detail pelanggan",
    "chat.notFound": "Chat ini tidak dapat dibuka: {error}",
    "status.queued": "Dalam antrean kirim",
    "status.sent": "Terkirim",
    "status.delivered": "Diterima",
    "status.read": "Dibaca",
    "status.failed": "Gagal terkirim",
    "composer.label": "Balasan",
    "composer.placeholder": "Tulis balasan… (Enter mengirim, Shift+Enter baris baru)",
    "composer.send": "Kirim",
    "composer.claimFirst": "Ambil chat ini dari antrean untuk membalas.",
    "composer.notYours": "Hanya agen yang ditugaskan yang dapat membalas chat ini.",
    "composer.refused": "Tidak terkirim: {error}",
    "action.claim": "Ambil",
    "action.take_over": "Ambil alih",
    "action.assign": "Tugaskan",
    "action.transfer": "Alihkan",
    "action.unassign": "Kembali ke antrean",
    "action.pause": "Jeda",
    "action.resume": "Lanjutkan",
    "action.return_to_bot": "Kembalikan ke bot",
    "action.reopen": "Buka kembali",
    "action.close": "Tutup",
    "action.pickAgent": "Agen",
    "action.confirm": "Konfirmasi",
    "action.cancel": "Batal",
    "action.failed": "{action} gagal: {error}",
    "action.load": "{open}/{capacity} terbuka",
    "panel.name": "Nama",
    "panel.channel": "Kanal",
    "panel.phone": "Telepon",
    "panel.email": "Email",
    "panel.address": "Alamat",
    "panel.username": "Nama pengguna",
    "panel.subject": "Subjek",
    "panel.presence": "Status",
    "panel.online": "Daring",
    "panel.offline": "Luring",
    "panel.lastActive": "Terakhir aktif",
    "panel.created": "Chat dimulai",
    "panel.agent": "Agen",
    "panel.reason": "Alasan pengalihan",
    "panel.none": "—",
    "attach.location": "Lokasi",
    "attach.contact": "Kontak",
    "attach.file": "Berkas",
    "attach.download": "Unduh {name}",
    "attach.unavailable": "Berkas ini tidak dapat diunduh: {error}",
    "users.heading": "Pengguna",
    "users.username": "Nama pengguna",
    "users.name": "Nama",
    "users.email": "Email",
    "users.role": "Peran",
    "users.capacity": "Kapasitas",
    "users.open": "Chat terbuka",
    "users.active": "Aktif",
    "users.yes": "Aktif",
    "users.no": "Nonaktif",
    "users.save": "Simpan",
    "users.saved": "Tersimpan.",
    "users.deactivate": "Nonaktifkan",
    "users.activate": "Aktifkan",
    "users.add": "Tambah agen",
    "users.password": "Kata sandi (minimal 8 karakter)",
    "users.create": "Tambah pengguna",
    "users.created": "{name} telah ditambahkan.",
    "users.capacityOf": "Kapasitas {name}",
    "users.error": "Tidak tersimpan: {error}",
    "time.yesterday": "Kemarin",
  },
};

export const LANGUAGES = { en: "English", id: "Bahasa Indonesia" };
const LANG_KEY = "msgcenter.lang";

let current = pickLanguage();

function pickLanguage() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved && STRINGS[saved]) return saved;
  const browser = (navigator.languages && navigator.languages[0]) || navigator.language || "en";
  return browser.toLowerCase().startsWith("id") ? "id" : "en";
}

export function language() {
  return current;
}

export function setLanguage(lang) {
  if (!STRINGS[lang]) return;
  current = lang;
  localStorage.setItem(LANG_KEY, lang);
  document.documentElement.lang = lang;
}

/** The text for `key` in the current language, with {name} placeholders filled in. */
export function t(key, params = {}) {
  const text = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function keys(lang) {
  return Object.keys(STRINGS[lang]);
}

// Intl uses the browser's time zone when none is given: the agent's own.
function formatter(options) {
  return new Intl.DateTimeFormat(current === "id" ? "id-ID" : "en-GB", options);
}

/** A short time for lists: the clock today, "Yesterday", the weekday this week, else a date. */
export function shortTime(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  const now = new Date();
  const day = (d) => new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime();
  const days = Math.round((day(now) - day(when)) / 86400000);
  if (days <= 0) return formatter({ hour: "2-digit", minute: "2-digit" }).format(when);
  if (days === 1) return t("time.yesterday");
  if (days < 7) return formatter({ weekday: "short" }).format(when);
  return formatter({ day: "numeric", month: "short", year: "2-digit" }).format(when);
}

/** The clock time of a message. */
export function clock(iso) {
  return iso ? formatter({ hour: "2-digit", minute: "2-digit" }).format(new Date(iso)) : "";
}

/** A full date and time, for tooltips and the customer panel. */
export function fullTime(iso) {
  return iso ? formatter({ dateStyle: "medium", timeStyle: "short" }).format(new Date(iso)) : "";
}

document.documentElement.lang = current;
