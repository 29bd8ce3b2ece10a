// The command center's map: where each officer is, whether they are live, and where help is
// needed. Leaflet comes from the node itself (web/vendor/leaflet, from the npm registry), and
// the tile layer is whatever the node is configured with: with no tiles the map still shows
// every officer and alert on a plain grid, so it works on a network with no tile server.

import * as L from "/static/vendor/leaflet/leaflet-src.esm.js";
import { textElement } from "./map-text.js";

const DEFAULT_VIEW = { center: [48.2082, 16.3738], zoom: 12 };

/** The marker's pin: a dot and the officer's name, built as elements so the name stays text. */
function pinElement(name, state, alertState) {
  const pin = textElement("", { className: "pin", data: { state, alert: alertState } });
  pin.append(textElement("", { className: "pin-dot" }), textElement(name, { className: "pin-label" }));
  return pin;
}

export class OfficerMap {
  /**
   * @param {HTMLElement} el  the map container
   * @param {object} opts
   * @param {string} [opts.tiles]  tile URL template ({z}/{x}/{y}); empty for none
   * @param {string} [opts.attribution]
   * @param {(officer: string) => void} opts.onSelect  a marker was clicked
   */
  constructor(el, { tiles = "", attribution = "", onSelect }) {
    this.el = el;
    this.onSelect = onSelect;
    this.map = L.map(el, { zoomControl: true, attributionControl: !!tiles, worldCopyJump: true });
    this.map.setView(DEFAULT_VIEW.center, DEFAULT_VIEW.zoom);
    el.dataset.tiles = tiles ? "on" : "off";
    if (tiles) L.tileLayer(tiles, { attribution, maxZoom: 19, crossOrigin: true }).addTo(this.map);
    /** officer → { marker, live, state, alert, lat, lon } */
    this.officers = new Map();
    this.fitted = false;
  }

  entry(name) {
    let e = this.officers.get(name);
    if (!e) {
      e = { marker: null, live: false, state: "offline", alert: null, lat: null, lon: null, at: 0 };
      this.officers.set(name, e);
    }
    return e;
  }

  /** Presence: live (and its state) or offline. */
  setPresence(name, { live, state }) {
    const e = this.entry(name);
    e.live = !!live;
    e.state = live ? state || "live" : "offline";
    this.render(name);
  }

  /** A position report (from the phone, or an alert's position). */
  setPosition(name, lat, lon, at = 0) {
    if (!Number.isFinite(lat) || !Number.isFinite(lon)) return;
    const e = this.entry(name);
    if (at && e.at && at < e.at) return; // an older report arriving late
    e.lat = lat;
    e.lon = lon;
    e.at = at || Date.now() / 1000;
    this.render(name);
    this.fitOnce();
  }

  /** The officer's most urgent open alert, or null: the marker pulses while one is open. */
  setAlert(name, alert) {
    const e = this.entry(name);
    e.alert = alert;
    if (alert && Number.isFinite(alert.lat) && Number.isFinite(alert.lon)) {
      this.setPosition(name, alert.lat, alert.lon, alert.raised_at);
    } else {
      this.render(name);
    }
  }

  render(name) {
    const e = this.officers.get(name);
    if (!e || e.lat === null) return;
    const state = e.alert ? "alert" : e.state;
    const html = pinElement(name, state, e.alert?.state);
    const icon = L.divIcon({ className: "map-marker", html, iconSize: [22, 22], iconAnchor: [11, 11] });
    if (!e.marker) {
      e.marker = L.marker([e.lat, e.lon], { icon, title: name, riseOnHover: true, keyboard: true }).addTo(this.map);
      e.marker.on("click", () => this.onSelect(name));
    } else {
      e.marker.setLatLng([e.lat, e.lon]);
      e.marker.setIcon(icon);
    }
    const root = e.marker.getElement();
    if (root) {
      root.dataset.officer = name;
      root.dataset.state = state;
    }
    e.marker.setZIndexOffset(e.alert ? 1000 : e.live ? 500 : 0);
  }

  /** Frame every known officer once the first positions arrive. */
  fitOnce() {
    if (this.fitted) return;
    const points = [...this.officers.values()].filter((e) => e.lat !== null).map((e) => [e.lat, e.lon]);
    if (!points.length) return;
    this.fitted = true;
    if (points.length === 1) this.map.setView(points[0], 15);
    else this.map.fitBounds(points, { padding: [30, 30], maxZoom: 16 });
  }

  /** Centre on an officer (e.g. when their alert is selected). */
  focus(name) {
    const e = this.officers.get(name);
    if (e && e.lat !== null) this.map.setView([e.lat, e.lon], Math.max(this.map.getZoom(), 15));
  }

  /** The container changed size (layout change). */
  resize() {
    this.map.invalidateSize();
  }
}
