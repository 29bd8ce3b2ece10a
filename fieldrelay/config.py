"""The node's configuration: one frozen dataclass, built by the CLI and passed down."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("officer", "commander", "reviewer", "admin")


def default_web_dir() -> Path:
    """The pages shipped beside the packages (an editable install or a source tree)."""
    return Path(__file__).resolve().parent.parent / "web"


@dataclass(frozen=True)
class Config:
    """Everything one node needs to run; read from flags and environment only in the CLI."""

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    redis_url: str | None = None
    node_id: str = "node-1"
    public_url: str | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    # Addresses offered as ICE host candidates; empty means every non-loopback interface.
    ice_hosts: tuple[str, ...] = ()
    ice_public_ip: str | None = None
    # STUN/TURN URLs handed to peers; none by default so nothing leaves the network.
    ice_servers: tuple[str, ...] = ()
    web_dir: Path = field(default_factory=default_web_dir)
    token_ttl_s: int = 3600
    jwt_issuer: str = "fieldrelay"
    jwt_audience: str = "fieldrelay"
    # Extra Origins allowed on the WebSocket besides the node's own.
    allowed_origins: tuple[str, ...] = ()
    # Per-viewer queue bound in packets: a slow viewer drops its own packets beyond this.
    viewer_queue_packets: int = 512
    # Shortest interval between two keyframe requests to one publisher.
    pli_interval_s: float = 0.5
    # How long a dropped publisher may take to come back into the same stream.
    reconnect_grace_s: float = 60.0
    # Evidence segments are cut on the first keyframe after this many seconds.
    segment_s: float = 6.0
    # While recording, a keyframe is requested whenever this long passes without one.
    keyframe_interval_s: float = 2.0
    # An alert nobody acknowledges within this time escalates and dispatches officers.
    escalate_after_s: float = 30.0
    dispatch_count: int = 3
    dispatch_radius_m: float = 5000.0
    # Per officer: a burst of alerts at once, then this many a minute (429 beyond).
    alert_burst: int = 30
    alerts_per_minute: float = 30.0
    max_sdp_bytes: int = 32 * 1024
    max_json_bytes: int = 16 * 1024
    shutdown_grace_s: float = 5.0
    demo_users: bool = False
    # Map tiles for the pages ({z}/{x}/{y} URL template); empty shows the map without tiles,
    # which keeps markers and alerts usable on a network with no tile server.
    map_tiles: str = ""
    map_attribution: str = ""
    # Each stream keeps its video since the last keyframe, within these bounds, so a new
    # viewer starts at once; 0 turns the cache off (new viewers then wait for a PLI).
    gop_cache_packets: int = 1024
    gop_cache_bytes: int = 2 * 1024 * 1024
    # Shared by every node of a cluster: nodes pull each other's streams (cascade) only
    # with tokens signed by it. None: this node neither pulls nor serves pulls.
    cluster_secret: str | None = None
    # The URL other nodes reach this one at (default: public_url, else http://host:port).
    cluster_url: str | None = None
    # TURN servers (coturn `use-auth-secret`): logged-in users get credentials that are an
    # HMAC of this shared secret and expire after turn_ttl_s. A shift is long, and coturn
    # checks the expiry again on every allocation refresh, so the default outlasts one.
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_s: int = 12 * 3600
    # Serve HTTPS with a certificate made and kept in the data dir (a LAN trial, no CA).
    tls_self_signed: bool = False
    # Reverse proxies whose X-Forwarded-For/-Proto/-Host are believed (addresses or networks).
    trusted_proxies: tuple[str, ...] = ()
    # What one WebSocket may send: a burst, then this many messages a second (closed beyond).
    ws_message_burst: int = 60
    ws_messages_per_s: float = 20.0
    # One SDP offer or trickle fragment: m-lines, candidates and lines (bytes: max_sdp_bytes).
    max_sdp_media: int = 4
    max_sdp_candidates: int = 64
    max_sdp_lines: int = 1000

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]
