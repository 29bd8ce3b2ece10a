// The session's GPS track on a Leaflet map, with a marker that follows playback.
//
// Tiles come from the node's config (`map.tiles`); without them the track is drawn on a plain
// dark background with a scale, so a node with no tile server (an air-gapped court) still shows
// where the officer went.

import * as L from "/static/vendor/leaflet/leaflet-src.esm.js";
import { textElement } from "./map-text.js";
import { positionAt } from "./review-events.js";

const TRACK = { color: "#3d8bfd", weight: 4, opacity: 0.9, lineJoin: "round" };
const TRAVELLED = { color: "#9cc4ff", weight: 5, opacity: 1, lineJoin: "round" };

export class TrackMap {
  /** `el`: the map container; `tiles`/`attribution` from GET /api/config. */
  constructor(el, { tiles = "", attribution = "" } = {}) {
    this.el = el;
    this.map = L.map(el, {
      zoomControl: true,
      attributionControl: !!tiles,
      preferCanvas: false,
      zoomSnap: 0.25,
    });
    el.dataset.tiles = tiles ? "yes" : "no";
    // The map is narrow: keep only the data's attribution so it and the scale both fit.
    this.map.attributionControl?.setPrefix(false);
    if (tiles) {
      L.tileLayer(tiles, { maxZoom: 19, attribution }).addTo(this.map);
    }
    L.control.scale({ imperial: false }).addTo(this.map);
    this.layer = L.layerGroup().addTo(this.map);
    this.track = [];
    this.travelled = null;
    this.marker = null;
    this.map.setView([0, 0], 2);
  }

  /** Draw a session's track and alert points; returns false when there is nothing to draw. */
  show(track, alerts = []) {
    this.layer.clearLayers();
    this.track = track;
    this.travelled = null;
    this.marker = null;
    if (!track.length) return false;
    const line = track.map((p) => [p.lat, p.lon]);
    L.polyline(line, TRACK).addTo(this.layer);
    this.travelled = L.polyline([], TRAVELLED).addTo(this.layer);
    const start = track[0];
    const end = track[track.length - 1];
    L.circleMarker([start.lat, start.lon], { radius: 6, color: "#eef3f8", weight: 2, fillColor: "#34d17f", fillOpacity: 1 })
      .bindTooltip(textElement("Start"))
      .addTo(this.layer);
    if (track.length > 1) {
      L.circleMarker([end.lat, end.lon], { radius: 6, color: "#eef3f8", weight: 2, fillColor: "#9db0c3", fillOpacity: 1 })
        .bindTooltip(textElement("Last position"))
        .addTo(this.layer);
    }
    for (const a of alerts) {
      L.circleMarker([a.lat, a.lon], { radius: 9, color: "#fff", weight: 2, fillColor: "#e5281f", fillOpacity: 1, className: "rv-map-alert" })
        // The label carries officer names, notes and case numbers: text, never HTML.
        .bindTooltip(textElement(a.label))
        .addTo(this.layer);
    }
    const icon = L.divIcon({ className: "rv-map-me", iconSize: [22, 22], html: textElement("") });
    this.marker = L.marker([start.lat, start.lon], { icon, keyboard: false, interactive: false, zIndexOffset: 1000 }).addTo(this.layer);
    this.fit();
    return true;
  }

  /** Frame the whole track (a single fix gets a street-level zoom). */
  fit() {
    this.map.invalidateSize();
    if (!this.track.length) return;
    const bounds = L.latLngBounds(this.track.map((p) => [p.lat, p.lon]));
    if (bounds.getNorthEast().distanceTo(bounds.getSouthWest()) < 30) {
      this.map.setView(bounds.getCenter(), 17, { animate: false });
    } else {
      // No animation: a zoom in flight would draw the marker and the track out of step.
      this.map.fitBounds(bounds, { padding: [28, 28], maxZoom: 18, animate: false });
    }
  }

  /** Move the marker to where the officer was at `tMs` on the media timeline; returns that position. */
  follow(tMs) {
    if (!this.marker || !this.track.length) return null;
    const pos = positionAt(this.track, tMs);
    if (!pos) return null;
    this.marker.setLatLng([pos.lat, pos.lon]);
    this.el.dataset.markerT = String(Math.round(tMs));
    const done = this.track.filter((p) => p.t_ms <= tMs).map((p) => [p.lat, p.lon]);
    if (!pos.before) done.push([pos.lat, pos.lon]);
    this.travelled.setLatLngs(done);
    // Keep the officer in view without jumping around: pan only when the marker leaves the map.
    if (!this.map.getBounds().pad(-0.08).contains([pos.lat, pos.lon])) {
      this.map.panTo([pos.lat, pos.lon], { animate: true, duration: 0.4 });
    }
    return pos;
  }

  /** The container became visible or changed size: show the whole track again. */
  resized() {
    this.fit();
  }
}
