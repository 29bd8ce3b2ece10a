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

function b64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

/**
 * Send a photo over tus 1.0.0 (`about`: {clue} or {task, reply?}), in pieces, resuming at the
 * portal's offset after a cut. Resolves once the portal holds every byte; the court's node
 * then takes it in and seals it with the case.
 */
export async function sendPhoto(file, about, onProgress) {
  const s = session();
  const auth = { Authorization: `Bearer ${s ? s.token : ""}`, "Tus-Resumable": "1.0.0" };
  const data = new Uint8Array(await file.arrayBuffer());
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const sha256 = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  const mime = (file.type || "image/jpeg").toLowerCase();
  const meta = { kind: mime.startsWith("image/") ? "photo" : "file", mime, sha256,
    filename: file.name || "photo.jpg", ...about };
  const created = await fetch("/api/uploads", {
    method: "POST",
    headers: { ...auth, "Upload-Length": String(data.length),
      "Upload-Metadata": Object.entries(meta).map(([k, v]) => `${k} ${b64(String(v))}`).join(",") },
  });
  if (created.status !== 201) throw new Error((await created.json()).detail || `HTTP ${created.status}`);
  const location = created.headers.get("Location");
  let offset = 0;
  for (let tries = 0; offset < data.length && tries < 20;) {
    try {
      const resp = await fetch(location, {
        method: "PATCH",
        headers: { ...auth, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" },
        body: data.subarray(offset, Math.min(data.length, offset + 1048576)),
      });
      if (resp.status === 460) throw new Error("the photo changed while it was sent");
      if (resp.status !== 204) throw new Error(`HTTP ${resp.status}`);
      offset = Number(resp.headers.get("Upload-Offset"));
      if (onProgress) onProgress(offset, data.length);
    } catch (err) {
      if (String(err.message).includes("changed")) throw err;
      tries += 1;
      await new Promise((r) => setTimeout(r, 1000 * tries));
      const head = await fetch(location, { method: "HEAD", headers: auth }).catch(() => null);
      if (head && head.ok) offset = Number(head.headers.get("Upload-Offset"));
    }
  }
  if (offset < data.length) throw new Error("the photo could not be sent; try again");
}
