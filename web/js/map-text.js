// Leaflet reads a string handed to bindTooltip, bindPopup or divIcon({html}) as HTML. Officer
// names, notes and case numbers are user text, so the maps hand Leaflet elements built here:
// text goes in through textContent and can never become markup.

/**
 * A `<tag class="className">` element that shows `text` as plain text (Leaflet content such as a
 * tooltip, or a part of a marker icon). `data` sets data-* attributes.
 */
export function textElement(text, { tag = "span", className = "", data = {} } = {}) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  for (const [key, value] of Object.entries(data)) {
    if (value !== undefined && value !== null) el.dataset[key] = String(value);
  }
  el.textContent = text == null ? "" : String(text);
  return el;
}
