// The live event stream (GET /ws): token as the subprotocol pair ["bearer", token], frames
// {type, seq, chat_id, data}; after a drop it reconnects with ?after_seq=<last seen seq> so
// the server replays what was missed (or sends "resync" when it no longer can).

// The token no longer holds: it expired, or the user's session ended (deactivated, role or
// password changed). Log in again; reconnecting with this token would be refused.
const CLOSE_TOKEN_EXPIRED = 4001;
const MAX_BACKOFF_MS = 8000;

export class LiveStream {
  /**
   * onFrame(frame, {resumed}) gets every frame; onStatus("connecting"|"live"|"reconnecting");
   * onExpired() when the server closes because the token expired or the session ended
   * (close code 4001: no reconnection follows); onDrop() after a failed
   * or lost connection (a chance to check whether the token is still good).
   */
  constructor(token, { onFrame, onStatus, onExpired, onDrop }) {
    this.token = token;
    this.handlers = { onFrame, onStatus, onExpired, onDrop };
    this.lastSeq = null;
    this.socket = null;
    this.failures = 0;
    this.stopped = false;
    this.timer = null;
  }

  start() {
    this.stopped = false;
    this.connect();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.socket) this.socket.close(1000, "logout");
    this.socket = null;
  }

  get live() {
    return Boolean(this.socket && this.socket.readyState === WebSocket.OPEN);
  }

  /** Send a client frame (typing); false when the socket is not up. */
  send(frame) {
    if (!this.live) return false;
    this.socket.send(JSON.stringify(frame));
    return true;
  }

  url() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const url = new URL(`${scheme}://${location.host}/ws`);
    if (this.lastSeq !== null) url.searchParams.set("after_seq", String(this.lastSeq));
    return url.toString();
  }

  connect() {
    const resumed = this.lastSeq !== null;
    this.handlers.onStatus(resumed || this.failures ? "reconnecting" : "connecting");
    const socket = new WebSocket(this.url(), ["bearer", this.token]);
    this.socket = socket;
    socket.addEventListener("message", (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame.type === "hello") {
        this.failures = 0;
        if (this.lastSeq === null) this.lastSeq = frame.seq;
        this.handlers.onStatus("live");
      } else if (Number.isInteger(frame.seq) && frame.type !== "resync") {
        this.lastSeq = Math.max(this.lastSeq ?? 0, frame.seq);
      } else if (frame.type === "resync") {
        this.lastSeq = frame.seq;
      }
      this.handlers.onFrame(frame, { resumed });
    });
    socket.addEventListener("close", (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stopped) return;
      if (event.code === CLOSE_TOKEN_EXPIRED) {
        this.handlers.onExpired();
        return;
      }
      this.failures += 1;
      this.handlers.onStatus("reconnecting");
      this.handlers.onDrop();
      const backoff = Math.min(250 * 2 ** this.failures, MAX_BACKOFF_MS);
      this.timer = setTimeout(() => this.connect(), backoff * (0.75 + Math.random() / 2));
    });
  }
}
