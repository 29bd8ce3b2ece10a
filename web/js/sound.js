// Alarm tones made with WebAudio oscillators: no sound files, nothing to download.
//
// Browsers start an AudioContext "suspended" until the user has interacted with the page.
// `unlockOnGesture()` resumes it at the first click/tap/key; `onChange` lets a page tell the
// user when sound is still blocked (a console that cannot beep must say so).

let ctx = null;
const listeners = new Set();

function context() {
  if (ctx) return ctx;
  const Ctx = window.AudioContext || window.webkitAudioContext;
  if (!Ctx) return null;
  ctx = new Ctx();
  ctx.addEventListener?.("statechange", notify);
  return ctx;
}

function notify() {
  for (const fn of listeners) fn(soundState());
}

/** "on" when tones can play now, "blocked" until a user gesture, "none" without WebAudio. */
export function soundState() {
  const c = context();
  if (!c) return "none";
  return c.state === "running" ? "on" : "blocked";
}

/** Call `fn(state)` whenever soundState() may have changed. */
export function onSoundChange(fn) {
  listeners.add(fn);
  fn(soundState());
  return () => listeners.delete(fn);
}

/** Resume the AudioContext now (inside a user gesture this always works). */
export async function enableSound() {
  const c = context();
  if (!c) return "none";
  try {
    await c.resume();
  } catch {
    /* still blocked */
  }
  notify();
  return soundState();
}

/** Resume audio at the first user gesture on the page. */
export function unlockOnGesture() {
  const EVENTS = ["pointerdown", "keydown", "touchend"];
  const unlock = () => {
    enableSound().then((st) => {
      if (st === "on") {
        for (const ev of EVENTS) window.removeEventListener(ev, unlock, true);
      }
    });
  };
  for (const ev of EVENTS) window.addEventListener(ev, unlock, true);
  // Some browsers (and kiosk policies) allow audio without a gesture: try once right away.
  enableSound();
}

/**
 * The tone patterns: [frequency Hz, start s, length s] per beep.
 *  alert     — a new call for help: three rising two-tone beeps
 *  escalated — nobody acknowledged: faster, higher, longer, louder
 *  dispatch  — an officer is sent to help a colleague
 */
const PATTERNS = {
  alert: { wave: "square", gain: 0.22, beeps: [[880, 0, 0.16], [1175, 0.2, 0.16], [880, 0.5, 0.16], [1175, 0.7, 0.16], [880, 1.0, 0.16], [1175, 1.2, 0.22]] },
  escalated: { wave: "sawtooth", gain: 0.32, beeps: Array.from({ length: 10 }, (_, i) => [i % 2 ? 1568 : 1175, i * 0.14, 0.12]) },
  dispatch: { wave: "square", gain: 0.25, beeps: [[988, 0, 0.25], [740, 0.3, 0.25], [988, 0.6, 0.25], [740, 0.9, 0.4]] },
  instruction: { wave: "sine", gain: 0.3, beeps: [[660, 0, 0.18], [880, 0.22, 0.18], [1320, 0.44, 0.3]] },
  golive: { wave: "triangle", gain: 0.3, beeps: [[784, 0, 0.2], [784, 0.3, 0.2], [1047, 0.6, 0.35]] },
};

/** Play one pattern. Returns false when sound is blocked or unavailable. */
export function playAlarm(kind = "alert") {
  const c = context();
  if (!c) return false;
  if (c.state !== "running") {
    c.resume().catch(() => {});
    if (c.state !== "running") return false;
  }
  const p = PATTERNS[kind] || PATTERNS.alert;
  const t0 = c.currentTime + 0.02;
  const master = c.createGain();
  master.gain.value = p.gain;
  master.connect(c.destination);
  let end = t0;
  for (const [freq, at, len] of p.beeps) {
    const osc = c.createOscillator();
    const env = c.createGain();
    osc.type = p.wave;
    osc.frequency.value = freq;
    // Short ramps avoid clicks at the start and end of each beep.
    env.gain.setValueAtTime(0, t0 + at);
    env.gain.linearRampToValueAtTime(1, t0 + at + 0.01);
    env.gain.setValueAtTime(1, t0 + at + len - 0.02);
    env.gain.linearRampToValueAtTime(0, t0 + at + len);
    osc.connect(env).connect(master);
    osc.start(t0 + at);
    osc.stop(t0 + at + len + 0.01);
    end = Math.max(end, t0 + at + len);
  }
  setTimeout(() => master.disconnect(), (end - c.currentTime + 0.2) * 1000);
  return true;
}

/** A short buzz on phones that can (Android); ignored elsewhere. */
export function vibrate(pattern) {
  try {
    navigator.vibrate?.(pattern);
  } catch {
    /* not allowed */
  }
}
