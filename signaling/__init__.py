"""The node's front door: HTTP API, WHIP/WHEP, WebSocket events and pages (aiohttp)."""
