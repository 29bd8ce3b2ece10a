// Pins on the command map for positions the portal's people sent: a party's clue, a grid
// worker's reply. Each pin's label is built as text (map-text.js), never as HTML.

import * as L from "/static/vendor/leaflet/leaflet-src.esm.js";
import { textElement } from "./map-text.js";
import { feedLine } from "./clues.js";
import { playAlarm } from "./sound.js";

const PINNED = new Set(["clue.received", "task.replied"]);
// A wall left open for days keeps the newest pins only: the oldest leave the map.
export const MAX_PINS = 200;

export class CluePins {
  /** @param {() => object|null} getMap  the OfficerMap, once it exists */
  constructor(getMap) {
    this.getMap = getMap;
    this.pins = [];
  }

  /** A WebSocket message: true when it was a case event (pinned if it has a position). */
  onMessage(msg) {
    if (msg.type !== "case.event") return false;
    const e = msg.event;
    if (!PINNED.has(e.kind)) return true;
    playAlarm("instruction");
    const map = this.getMap()?.map;
    if (!map || !Number.isFinite(e.lat) || !Number.isFinite(e.lon)) return true;
    const pin = textElement("", { className: "pin clue-pin", data: { kind: e.kind, case: msg.case } });
    pin.append(textElement("", { className: "pin-dot" }), textElement(`${msg.case}`, { className: "pin-label" }));
    const icon = L.divIcon({ className: "map-marker clue-marker", html: pin, iconSize: [22, 22], iconAnchor: [11, 11] });
    const marker = L.marker([e.lat, e.lon], { icon, title: feedLine(e), keyboard: true }).addTo(map);
    marker.bindTooltip(textElement(feedLine(e)));
    this.pins.push(marker);
    while (this.pins.length > MAX_PINS) this.pins.shift().remove();
    map.panTo([e.lat, e.lon]);
    return true;
  }
}
