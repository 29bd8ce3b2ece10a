// What both portal pages share: the session, JSON calls, the live notices and a tone.
// Every piece of user text goes into the page as text (textContent), never as HTML.

const KEY = "fieldrelay.portal.session";

export function session() {
  try {
    const s = JSON.parse(sessionStorage.getItem(KEY) || "null");
    if (s && s.token && s.expires_at * 1000 > Date.now()) return s;
  } catch {
    /* a damaged entry is no session */
  }
  return null;
}

export function saveSession(body) {
  sessionStorage.setItem(KEY, JSON.stringify(body));
}

export function signOut() {
  sessionStorage.removeItem(KEY);
  location.reload();
}

/** A JSON call to the portal; throws an Error carrying the portal's `detail`. */
export async function api(method, path, body) {
  const s = session();
  const headers = { "Content-Type": "application/json" };
  if (s) headers.Authorization = `Bearer ${s.token}`;
  const resp = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  const data = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    const err = new Error((data && data.detail) || `HTTP ${resp.status}`);
    err.status = resp.status;
    throw err;
  }
  return data;
}

/** Call `onChange(notice)` whenever the portal says something of ours changed; reconnects. */
export function listen(onChange) {
  let delay = 500;
  const open = () => {
    const s = session();
    if (!s) return;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
    ws.onopen = () => {
      delay = 500;
      ws.send(JSON.stringify({ type: "auth", token: s.token }));
    };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "changed") onChange(msg);
      if (msg.type === "hello") onChange(msg); // read what may have changed while away
    };
    ws.onclose = () => {
      setTimeout(open, delay);
      delay = Math.min(delay * 2, 10000);
    };
  };
  open();
}

let audio = null;

/** A short tone (after the first tap on the page, as browsers require). */
export function beep() {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  audio = audio || new Ctx();
  if (audio.state !== "running") return;
  const osc = audio.createOscillator();
  const gain = audio.createGain();
  osc.frequency.value = 880;
  gain.gain.value = 0.2;
  osc.connect(gain).connect(audio.destination);
  osc.start();
  osc.stop(audio.currentTime + 0.25);
}

document.addEventListener("pointerdown", () => {
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return;
  audio = audio || new Ctx();
  audio.resume();
}, { once: true });

/** An element with text (never HTML) and an optional class. */
export function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

/** The device's position, or null when it is refused or unavailable. */
export function here() {
  return new Promise((resolve) => {
    if (!navigator.geolocation) return resolve(null);
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude }),
      () => resolve(null),
      { timeout: 8000, maximumAge: 30000 },
    );
  });
}

/** Sign in with the form's name and password; `then()` runs once signed in. */
export function wireLogin(then) {
  const form = document.getElementById("login-form");
  const error = document.getElementById("signin-error");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    try {
      saveSession(await api("POST", "/api/login", {
        username: document.getElementById("login-name").value.trim(),
        password: document.getElementById("login-password").value,
      }));
      then();
    } catch (e) {
      error.textContent = e.message;
    }
  });
  document.getElementById("signout").addEventListener("click", signOut);
}
