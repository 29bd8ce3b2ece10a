// The login form, used by `/` and inline by pages opened without a session.

import { ApiError, login } from "./api.js";

const TEMPLATE = `
  <form class="login-card" id="login-form" autocomplete="on" novalidate>
    <div class="brand brand-lg"><span class="brand-mark" aria-hidden="true"></span>FieldRelay</div>
    <p class="login-sub"></p>
    <label for="username">Username</label>
    <input id="username" name="username" autocomplete="username" autocapitalize="none"
           spellcheck="false" required>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password" required>
    <p id="login-error" class="form-error" role="alert" hidden></p>
    <button id="login-submit" class="btn btn-primary btn-block" type="submit">Sign in</button>
  </form>`;

/**
 * Render the login form into `root` and call `onLoggedIn(session)` after a successful login.
 * `subtitle` says what the user is signing in to.
 */
export function renderLogin(root, { subtitle = "Sign in to continue", onLoggedIn }) {
  root.innerHTML = TEMPLATE;
  root.hidden = false;
  const form = root.querySelector("#login-form");
  const user = root.querySelector("#username");
  const pass = root.querySelector("#password");
  const error = root.querySelector("#login-error");
  const submit = root.querySelector("#login-submit");
  root.querySelector(".login-sub").textContent = subtitle;

  const showError = (text) => {
    error.textContent = text;
    error.hidden = !text;
  };

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = user.value.trim();
    if (!username || !pass.value) {
      showError("Enter your username and password.");
      (username ? pass : user).focus();
      return;
    }
    showError("");
    submit.disabled = true;
    submit.textContent = "Signing in…";
    try {
      const session = await login(username, pass.value);
      pass.value = "";
      onLoggedIn(session);
    } catch (err) {
      const text =
        err instanceof ApiError && err.status === 401
          ? "Wrong username or password."
          : err.message || "Sign-in failed.";
      showError(text);
      pass.select();
    } finally {
      submit.disabled = false;
      submit.textContent = "Sign in";
    }
  });
  user.focus();
}
