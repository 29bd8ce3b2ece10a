// `/`: sign in, then go to the page for the user's role.

import { getSession, homeFor } from "./api.js";
import { renderLogin } from "./login.js";

const session = getSession();
if (session) {
  window.location.replace(homeFor(session.role));
} else {
  renderLogin(document.getElementById("login-view"), {
    subtitle: "Field video relay — sign in to continue",
    onLoggedIn: (s) => window.location.assign(homeFor(s.role)),
  });
}
