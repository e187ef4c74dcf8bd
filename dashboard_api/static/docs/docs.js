// The interactive API docs at /docs: Swagger UI (vendored) on this service's /openapi.json.
//
// The description needs a bearer token. The page uses the console's login when this
// browser tab has one (sessionStorage "msgcenter.session", the console's own format),
// else it asks for a username and password (POST /auth/login) and keeps the login the
// same way, so the console in this tab is logged in too. Swagger UI's "Authorize" is
// preset with the token, so "Try it out" sends requests as that user.
"use strict";

(function () {
  const SESSION_KEY = "msgcenter.session";
  const $ = (id) => document.getElementById(id);

  function loadSession() {
    try {
      const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
      if (session && session.token && session.user && session.expiresAt > Date.now()) {
        return session;
      }
    } catch {
      /* a damaged entry is the same as none */
    }
    return null;
  }

  function saveSession(session) {
    if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(SESSION_KEY);
  }

  async function errorMessage(response) {
    try {
      const body = await response.json();
      if (body && body.error && body.error.message) return body.error.message;
    } catch {
      /* not JSON */
    }
    return `the server answered ${response.status}`;
  }

  function showLogin(notice) {
    $("docs-loading").hidden = true;
    $("docs-user").hidden = $("docs-logout").hidden = true;
    $("swagger-ui").replaceChildren();
    const form = $("docs-login");
    $("docs-notice").textContent = notice || "";
    $("docs-notice").hidden = !notice;
    form.hidden = false;
    $("docs-identifier").focus();
  }

  async function login(event) {
    event.preventDefault();
    const submit = $("docs-login").querySelector("button[type=submit]");
    const error = $("docs-error");
    submit.disabled = true;
    error.textContent = "";
    try {
      const response = await fetch("/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({
          identifier: $("docs-identifier").value.trim(),
          password: $("docs-password").value,
        }),
      });
      if (!response.ok) {
        error.textContent = await errorMessage(response);
        $("docs-password").select();
        return;
      }
      const answer = await response.json();
      const session = {
        token: answer.access_token,
        user: answer.user,
        expiresAt: Date.now() + answer.expires_in * 1000,
      };
      saveSession(session);
      $("docs-password").value = "";
      $("docs-login").hidden = true;
      await show(session);
    } catch (failure) {
      error.textContent = `could not reach the server (${failure.message})`;
    } finally {
      submit.disabled = false;
    }
  }

  async function show(session) {
    $("docs-loading").hidden = false;
    let response;
    try {
      response = await fetch("/openapi.json", {
        headers: { Authorization: `Bearer ${session.token}`, Accept: "application/json" },
      });
    } catch (failure) {
      $("docs-loading").textContent = `Could not load the API description: ${failure.message}`;
      return;
    }
    if (response.status === 401) {
      saveSession(null);
      showLogin("Your login has expired: log in again.");
      return;
    }
    if (!response.ok) {
      $("docs-loading").textContent = `Could not load the API description: ${await errorMessage(response)}`;
      return;
    }
    const spec = await response.json();
    $("docs-loading").hidden = true;
    const user = $("docs-user");
    user.textContent = `${session.user.display_name || session.user.username} (${session.user.role})`;
    user.hidden = $("docs-logout").hidden = false;
    const ui = window.SwaggerUIBundle({
      spec,
      domNode: $("swagger-ui"),
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      validatorUrl: null, // the default would send the description to validator.swagger.io
      deepLinking: false,
      persistAuthorization: false,
      displayRequestDuration: true,
      defaultModelsExpandDepth: 0,
      onComplete: () => ui.preauthorizeApiKey("bearer", session.token),
    });
  }

  function logout() {
    saveSession(null);
    showLogin("");
  }

  function start() {
    $("docs-login").addEventListener("submit", login);
    $("docs-logout").addEventListener("click", logout);
    if (typeof window.SwaggerUIBundle !== "function") {
      $("docs-loading").textContent = "Swagger UI did not load (/static/vendor/swagger-ui/).";
      return;
    }
    const session = loadSession();
    if (session) show(session);
    else showLogin("");
  }

  start();
})();
