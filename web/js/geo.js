// The phone's position: one quick fix for an alert, and a watch that reports every few seconds.

/** Metres → "400 m" / "2.1 km". */
export function formatDistance(m) {
  if (!Number.isFinite(m)) return "";
  if (m < 1000) return `${Math.round(m / 10) * 10 || Math.round(m)} m`;
  return `${(m / 1000).toFixed(m < 10000 ? 1 : 0)} km`;
}

/** "43.7930, 87.6177" (4 decimals ≈ 10 m). */
export function formatPosition(lat, lon) {
  return `${Number(lat).toFixed(4)}, ${Number(lon).toFixed(4)}`;
}

/** A map link for a position (opens the phone's or desktop's browser map). */
export function mapUrl(lat, lon) {
  const la = Number(lat).toFixed(5);
  const lo = Number(lon).toFixed(5);
  return `https://www.openstreetmap.org/?mlat=${la}&mlon=${lo}#map=17/${la}/${lo}`;
}

function toFix(pos) {
  return {
    lat: pos.coords.latitude,
    lon: pos.coords.longitude,
    accuracy: Number.isFinite(pos.coords.accuracy) ? pos.coords.accuracy : null,
    at: pos.timestamp || Date.now(),
  };
}

/** One position within `timeoutMs`, or null (no permission, no fix, no GPS). Never throws. */
export function currentPosition(timeoutMs = 2000, maxAgeMs = 15000) {
  if (!navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    // getCurrentPosition's own timeout does not cover the permission prompt: add ours.
    const timer = setTimeout(() => resolve(null), timeoutMs + 200);
    try {
      navigator.geolocation.getCurrentPosition(
        (pos) => {
          clearTimeout(timer);
          resolve(toFix(pos));
        },
        () => {
          clearTimeout(timer);
          resolve(null);
        },
        { enableHighAccuracy: true, timeout: timeoutMs, maximumAge: maxAgeMs },
      );
    } catch {
      clearTimeout(timer);
      resolve(null);
    }
  });
}

/**
 * Watches the position while running and calls `send(fix)` with the latest fix at once and then
 * every `everyMs` (a phone standing still reports no changes, but the node wants a heartbeat).
 */
export class PositionTracker {
  constructor({ send, everyMs = 5000 }) {
    this.send = send;
    this.everyMs = everyMs;
    this.fix = null;
    this.watchId = null;
    this.timer = 0;
    this.lastSentAt = 0;
  }

  get running() {
    return this.watchId !== null;
  }

  start() {
    if (this.running || !navigator.geolocation) return;
    try {
      this.watchId = navigator.geolocation.watchPosition(
        (pos) => this.update(toFix(pos)),
        () => {},
        { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 },
      );
    } catch {
      this.watchId = null;
      return;
    }
    this.timer = setInterval(() => this.flush(), this.everyMs);
  }

  stop() {
    if (this.watchId !== null) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = null;
    clearInterval(this.timer);
  }

  /** A fix from the watch or from a one-off request. */
  update(fix) {
    const first = !this.fix;
    this.fix = fix;
    if (this.running && (first || Date.now() - this.lastSentAt >= this.everyMs)) this.flush();
  }

  /** The last fix if it is at most `maxAgeMs` old. */
  fresh(maxAgeMs = 15000) {
    return this.fix && Date.now() - this.fix.at <= maxAgeMs ? this.fix : null;
  }

  /** Send the latest fix now (if any). */
  flush() {
    if (!this.fix) return;
    if (this.send(this.fix)) this.lastSentAt = Date.now();
  }
}
