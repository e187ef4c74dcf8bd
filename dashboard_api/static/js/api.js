// The dashboard API client: bearer token, JSON in and out, errors as ApiError, Link paging.

export class ApiError extends Error {
  constructor(status, code, message, details = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

const SESSION_KEY = "msgcenter.session";

/** The login kept in sessionStorage: {token, user, expiresAt (ms)} or null. */
export function loadSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    if (session && session.token && session.user) return session;
  } catch {
    /* a damaged entry is the same as none */
  }
  return null;
}

export function saveSession(session) {
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

/** The URL of the next page from a `Link: <url>; rel="next"` header, or null. */
export function nextLink(header) {
  if (!header) return null;
  for (const part of header.split(",")) {
    const match = part.match(/<([^>]+)>\s*;\s*rel="?next"?/);
    if (match) return match[1];
  }
  return null;
}

export class Api {
  /** onUnauthorized(code) is called when a request with a token is refused with 401. */
  constructor({ onUnauthorized = () => {} } = {}) {
    this.token = null;
    this.onUnauthorized = onUnauthorized;
  }

  async request(method, path, { body, query } = {}) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== null && value !== undefined && value !== "") url.searchParams.set(key, value);
    }
    const headers = { Accept: "application/json" };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
      });
    } catch (error) {
      throw new ApiError(0, "network_error", String(error.message || error));
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (data && data.error) || {};
      const failure = new ApiError(
        response.status,
        error.code || "http_error",
        error.message || `${response.status} ${response.statusText}`,
        error.details || {},
      );
      if (response.status === 401 && this.token) this.onUnauthorized(failure.code);
      throw failure;
    }
    return { data, next: nextLink(response.headers.get("Link")) };
  }

  /** A file (an attachment) as a Blob; errors as ApiError like the JSON calls. */
  async blob(path) {
    const response = await fetch(new URL(path, location.origin), {
      headers: this.token ? { Authorization: `Bearer ${this.token}` } : {},
      credentials: "omit",
    });
    if (!response.ok) {
      const error = ((await response.json().catch(() => null)) || {}).error || {};
      if (response.status === 401 && this.token) this.onUnauthorized(error.code);
      throw new ApiError(response.status, error.code || "http_error", error.message || response.statusText);
    }
    return response.blob();
  }

  /**
   * POST a multipart form (files) with upload progress: onProgress(sent, total) as the body
   * goes out. Resolves to the JSON answer; rejects with ApiError (code "aborted" when
   * abort() of the returned handle was called). Returns {promise, abort}.
   */
  upload(path, form, onProgress = () => {}) {
    const xhr = new XMLHttpRequest();
    const promise = new Promise((resolve, reject) => {
      xhr.open("POST", new URL(path, location.origin));
      xhr.setRequestHeader("Accept", "application/json");
      if (this.token) xhr.setRequestHeader("Authorization", `Bearer ${this.token}`);
      xhr.responseType = "text";
      xhr.upload.onprogress = (event) => onProgress(event.loaded, event.lengthComputable ? event.total : 0);
      xhr.onerror = () => reject(new ApiError(0, "network_error", "the upload did not reach the server"));
      xhr.onabort = () => reject(new ApiError(0, "aborted", "the upload was cancelled"));
      xhr.onload = () => {
        let data = null;
        try {
          data = JSON.parse(xhr.responseText);
        } catch {
          /* not JSON: the status says what happened */
        }
        if (xhr.status >= 200 && xhr.status < 300) return resolve(data);
        const error = (data && data.error) || {};
        const failure = new ApiError(xhr.status, error.code || "http_error",
          error.message || `${xhr.status} ${xhr.statusText}`, error.details || {});
        if (xhr.status === 401 && this.token) this.onUnauthorized(failure.code);
        return reject(failure);
      };
      xhr.send(form);
    });
    return { promise, abort: () => xhr.abort() };
  }

  /** A file as the request body (e.g. text/csv), JSON answer; errors as ApiError. */
  async sendFile(method, path, file, contentType) {
    const headers = { Accept: "application/json", "Content-Type": contentType };
    if (this.token) headers.Authorization = `Bearer ${this.token}`;
    let response;
    try {
      response = await fetch(new URL(path, location.origin), { method, headers, body: file, credentials: "omit" });
    } catch (error) {
      throw new ApiError(0, "network_error", String(error.message || error));
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (data && data.error) || {};
      const failure = new ApiError(response.status, error.code || "http_error",
        error.message || `${response.status} ${response.statusText}`, error.details || {});
      if (response.status === 401 && this.token) this.onUnauthorized(failure.code);
      throw failure;
    }
    return data;
  }

  async get(path, query) {
    return (await this.request("GET", path, { query })).data;
  }

  async post(path, body) {
    return (await this.request("POST", path, { body })).data;
  }

  async patch(path, body) {
    return (await this.request("PATCH", path, { body })).data;
  }

  async put(path, body) {
    return (await this.request("PUT", path, { body })).data;
  }

  /** A page of a list: {rows, next} where next is the Link header's URL (or null). */
  async page(path, query) {
    const { data, next } = await this.request("GET", path, { query });
    return { rows: data, next };
  }

  login(identifier, password) {
    return this.post("/auth/login", { identifier, password });
  }
}
