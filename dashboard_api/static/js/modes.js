// Which actions the console offers on a chat: the mode table of handoff/modes.py, mirrored.
// tests/test_console_static.py checks TABLE against handoff.modes.TABLE, and the browser
// tests check offeredActions() against handoff.modes.plan(), so the two cannot drift apart.

// from mode -> to mode -> actions (keep this literal valid JSON: the Python test parses it)
export const TABLE = {
  "bot": {
    "agent": ["assign", "handoff", "take_over"],
    "paused": ["pause"],
    "closed": ["close"]
  },
  "agent": {
    "agent": ["assign", "claim", "transfer", "unassign"],
    "bot": ["return_to_bot"],
    "paused": ["pause"],
    "closed": ["close"]
  },
  "paused": {
    "bot": ["resume"],
    "agent": ["assign", "handoff", "take_over"],
    "closed": ["close"]
  },
  "closed": {
    "bot": ["customer_wrote", "reopen_to_bot"],
    "agent": ["assign", "reopen", "take_over"]
  }
};

// The actions with an endpoint (POST /chats/{id}/<path>), in the order the console shows them.
export const ENDPOINTS = {
  claim: "claim",
  take_over: "take-over",
  assign: "assign",
  transfer: "transfer",
  unassign: "unassign",
  pause: "pause",
  resume: "resume",
  return_to_bot: "return-to-bot",
  reopen: "reopen",
  close: "close",
};

// Actions that need an agent picked first.
export const NEEDS_AGENT = new Set(["assign", "transfer"]);

// Actions that hand the chat to the bot or the queue (it leaves the agent's hands): the
// console explains them and asks before doing them.
export const CONFIRM = new Set(["resume", "return_to_bot", "unassign"]);

// The actions shown as buttons; the others are in the "More" menu, each with a line saying
// what it does. A closed chat shows none as buttons: "Take over" and "Reopen" both reopen
// it, and the menu says how they differ.
export const PRIMARY = new Set(["claim", "take_over", "close"]);

/** The actions to show as buttons and those for the "More" menu. */
export function splitActions(chat, actions) {
  const primary = chat.mode === "closed" ? [] : actions.filter((a) => PRIMARY.has(a));
  return { primary, more: actions.filter((a) => !primary.includes(a)) };
}

/** The actions the table allows from `mode`. */
export function allowedFrom(mode) {
  return new Set(Object.values(TABLE[mode] || {}).flat());
}

/**
 * The actions to offer `user` ({id, role}) on `chat` (a chat row): allowed by the table, by
 * its guards (who is assigned), and by who may touch the chat (agents: their own chats, and
 * claiming from the queue). Admins assign; agents transfer.
 */
export function offeredActions(chat, user) {
  const allowed = allowedFrom(chat.mode);
  const admin = user.role === "admin";
  const assignee = chat.assigned_agent_id ?? null;
  const mine = assignee === user.id;
  const queued = chat.mode === "agent" && assignee === null;
  const guards = {
    claim: queued,
    take_over: !(chat.mode === "agent" && mine),
    assign: admin,
    transfer: !admin && assignee !== null,
    unassign: assignee !== null,
  };
  return Object.keys(ENDPOINTS).filter((action) => {
    if (!allowed.has(action) || guards[action] === false) return false;
    if (admin || action === "claim") return true;
    return mine; // agents act on their own chats only
  });
}

/** Whether `user` may write in `chat` (reply, mark read, type). */
export function canWrite(chat, user) {
  return user.role === "admin" || chat.assigned_agent_id === user.id;
}
