"""The node's configuration: one frozen dataclass, built by the CLI and passed down.

Config is the one place where a setting and its default are written. A field that the command
line can set carries an `Option` in its metadata (made by `option()`): its flag, its
FIELDRELAY_* environment variable and its help text. The program derives the flags from these,
so neither a default nor a name is written a second time.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

ROLES = ("officer", "commander", "reviewer", "admin")
ENV_PREFIX = "FIELDRELAY_"


def default_web_dir() -> Path:
    """The pages shipped beside the packages (an editable install or a source tree)."""
    return Path(__file__).resolve().parent.parent / "web"


@dataclass(frozen=True)
class Option:
    """How the command line and the environment set one Config field.

    `flag` is the long option without its dashes (None: the environment only sets it), `env`
    the variable's name after FIELDRELAY_, and `command` the CLI command that has the flag.
    With `scale` the flag counts in units of that many of the field's (the field holds bytes,
    the flag KiB); a negative count there means 0.
    """

    help: str
    flag: str | None
    env: str
    command: str = "serve"
    scale: int = 1

    @property
    def env_var(self) -> str:
        """The full environment variable name, e.g. FIELDRELAY_PORT."""
        return ENV_PREFIX + self.env


def option(help: str, *, flag: str | None, env: str | None = None, command: str = "serve",
           scale: int = 1) -> dict[str, Option]:
    """Field metadata: the field is set by `--flag` and FIELDRELAY_<ENV> (by default the flag in
    capitals with underscores for dashes), e.g. `field(default=8080, metadata=option(...))`."""
    if env is None:
        if flag is None:
            raise ValueError("an option without a flag needs an environment variable")
        env = flag.upper().replace("-", "_")
    return {"option": Option(help=help, flag=flag, env=env, command=command, scale=scale)}


def option_of(spec: dataclasses.Field[object]) -> Option | None:
    """The Option of a Config field, or None for a field no flag or variable sets."""
    meta = spec.metadata.get("option")
    return meta if isinstance(meta, Option) else None


@dataclass(frozen=True)
class Config:
    """Everything one node needs to run; read from flags and environment only in the CLI."""

    host: str = field(default="127.0.0.1",
                      metadata=option("the address to listen on", flag="host"))
    port: int = field(default=8080, metadata=option("the TCP port to listen on", flag="port"))
    data_dir: Path = field(default=Path("data"), metadata=option(
        "where users, keys and evidence live", flag="data-dir"))
    redis_url: str | None = field(default=None, metadata=option(
        "share presence and alerts with other nodes through Redis", flag="redis-url"))
    node_id: str = field(default="node-1", metadata=option(
        "this node's name among the nodes", flag="node-id"))
    public_url: str | None = field(default=None, metadata=option(
        "the URL browsers use to reach this node", flag="public-url"))
    tls_cert: Path | None = field(default=None, metadata=option(
        "the certificate chain (PEM) to serve HTTPS with", flag="tls-cert"))
    tls_key: Path | None = field(default=None, metadata=option(
        "the private key (PEM) of --tls-cert", flag="tls-key"))
    ice_hosts: tuple[str, ...] = field(default=(), metadata=option(
        "local address offered as an ICE host candidate (repeatable; default: every "
        "non-loopback interface)", flag="ice-host"))
    ice_public_ip: str | None = field(default=None, metadata=option(
        "advertise this 1:1 NAT address beside the host candidates", flag="ice-public-ip"))
    # Empty by default, so that nothing leaves the network.
    ice_servers: tuple[str, ...] = field(default=(), metadata=option(
        "STUN/TURN URL handed to peers (repeatable)", flag="ice-server"))
    web_dir: Path = field(default=default_web_dir(), metadata=option(
        "the folder of the pages and their scripts", flag=None, env="WEB_DIR"))
    token_ttl_s: int = field(default=3600, metadata=option(
        "lifetime of a login token in seconds", flag="token-ttl"))
    jwt_issuer: str = "fieldrelay"
    jwt_audience: str = "fieldrelay"
    allowed_origins: tuple[str, ...] = field(default=(), metadata=option(
        "extra browser Origin allowed on the WebSocket besides the node's own (repeatable)",
        flag="allowed-origin"))
    # Per-viewer queue bound in packets: a slow viewer drops its own packets beyond this.
    viewer_queue_packets: int = 512
    # Shortest interval between two keyframe requests to one publisher.
    pli_interval_s: float = 0.5
    reconnect_grace_s: float = field(default=60.0, metadata=option(
        "seconds a dropped publisher may take to come back", flag="reconnect-grace"))
    # Evidence segments are cut on the first keyframe after this many seconds.
    segment_s: float = 6.0
    # While recording, a keyframe is requested whenever this long passes without one.
    keyframe_interval_s: float = 2.0
    escalate_after_s: float = field(default=30.0, metadata=option(
        "seconds before an unacknowledged alert escalates", flag="escalate-after"))
    dispatch_count: int = field(default=3, metadata=option(
        "how many of the nearest live officers an escalation dispatches",
        flag="dispatch-count"))
    dispatch_radius_m: float = field(default=5000.0, metadata=option(
        "metres within which officers are dispatched", flag="dispatch-radius"))
    # Per officer: a burst of alerts at once, then alerts_per_minute (429 beyond).
    alert_burst: int = 30
    alerts_per_minute: float = field(default=30.0, metadata=option(
        f"alerts one officer may raise per minute after a burst of {alert_burst}",
        flag="alerts-per-minute"))
    max_sdp_bytes: int = 32 * 1024
    max_json_bytes: int = 16 * 1024
    shutdown_grace_s: float = 5.0
    demo_users: bool = field(default=False, metadata=option(
        "create officer, commander and reviewer users on first start", flag="demo-users"))
    # No tiles unless configured: every tile request tells the tile host where the map looks,
    # that is where officers are. Without tiles the map is a plain grid that still shows
    # officers and alerts, and the pages' image policy names only the configured tile host.
    map_tiles: str = field(default="", metadata=option(
        "map tile URL template with {z}/{x}/{y}, e.g. https://tile.openstreetmap.org/{z}/{x}/"
        "{y}.png (default: none, a grid map; tile requests reveal where officers are)",
        flag="map-tiles"))
    map_attribution: str = field(default="", metadata=option(
        "attribution text shown on the map for those tiles", flag="map-attribution"))
    log_level: str = field(default="INFO", metadata=option(
        "the lowest level of log lines written to stderr", flag="log-level"))
    # Each stream keeps its video since the last keyframe, within these bounds, so a new
    # viewer starts at once; 0 turns the cache off (new viewers then wait for a PLI).
    gop_cache_packets: int = 1024
    gop_cache_bytes: int = field(default=2 * 1024 * 1024, metadata=option(
        "per stream, KiB of video kept since the last keyframe so new viewers start at once "
        "(0 turns it off)", flag="gop-cache-kb", scale=1024))
    # Cascades: nodes pull each other's streams only with tokens signed by this secret.
    # None: this node neither pulls nor serves pulls.
    cluster_secret: str | None = field(default=None, metadata=option(
        "shared by all nodes (32+ bytes): lets a node pull an officer's stream from the node "
        "it is live on; prefer the environment variable, which `ps` does not show",
        flag="cluster-secret"))
    cluster_url: str | None = field(default=None, metadata=option(
        "the URL other nodes reach this one at (default: --public-url, else "
        "http://HOST:PORT)", flag="cluster-url"))
    # TURN servers (coturn `use-auth-secret`): logged-in users get credentials that are an
    # HMAC of this shared secret and expire after turn_ttl_s. An hour: a leaked credential
    # soon stops working, and the pages fetch fresh ones before every publish, view and
    # reconnect (coturn keeps an allocation made before the expiry alive until it closes).
    turn_urls: tuple[str, ...] = field(default=(), metadata=option(
        "TURN URL handed to logged-in users with short-lived credentials (repeatable; "
        "needs --turn-secret)", flag="turn-url"))
    turn_secret: str | None = field(default=None, metadata=option(
        "the shared secret of coturn's static-auth-secret", flag="turn-secret"))
    turn_ttl_s: int = field(default=3600, metadata=option(
        "lifetime of a TURN credential in seconds", flag="turn-ttl"))
    tls_self_signed: bool = field(default=False, metadata=option(
        "serve HTTPS with a self-signed certificate kept in the data dir (for a LAN trial; "
        "prints its fingerprint)", flag="tls-self-signed"))
    trusted_proxies: tuple[str, ...] = field(default=(), metadata=option(
        "address or network of a reverse proxy whose X-Forwarded-* headers are believed "
        "(repeatable)", flag="trusted-proxy"))
    # What one WebSocket may send: a burst, then this many messages a second (closed beyond).
    ws_message_burst: int = 60
    ws_messages_per_s: float = 20.0
    # One SDP offer or trickle fragment: m-lines, candidates and lines (bytes: max_sdp_bytes).
    max_sdp_media: int = 4
    max_sdp_candidates: int = 64
    max_sdp_lines: int = 1000
    # `fieldrelay retention` removes sessions that ended longer ago than this.
    retention_days: float = field(default=90.0, metadata=option(
        "days since a session ended", flag="older-than", env="RETENTION_DAYS",
        command="retention"))
    # Cluster trust: node tokens and bus messages go only to and come only from these peers.
    cluster_peers: tuple[str, ...] = field(default=(), metadata=option(
        "URL of another node of the cluster (repeatable); with any given, this node sends "
        "node tokens only to these URLs and refuses directory entries naming other URLs",
        flag="cluster-peer"))
    # Accounts: password cost, session lifetime and revocation, login back-off, tickets.
    password_cost: int = field(default=17, metadata=option(
        "scrypt cost of new password hashes as log2(N), 10-20 (17: 128 MiB, about 0.4 s; "
        "older hashes are raised to it at the next login; lower only for tests)",
        flag="password-cost"))
    session_max_s: int = field(default=12 * 3600, metadata=option(
        "seconds since the password was given after which no token of that login is valid "
        "and none is refreshed (log in again)", flag="session-max"))
    # How often an open WebSocket checks that its user, role and token version still hold.
    ws_recheck_s: float = 2.0
    # Wrong passwords per (user, address) before each further one doubles the wait.
    login_free_failures: int = 5
    login_backoff_s: float = 1.0
    login_backoff_max_s: float = 900.0
    # Wrong passwords from one address, over every user name (password spraying).
    login_failures_per_address: int = 30
    # Password hashes computed at once (each holds 128 MiB at cost 17); logins beyond wait.
    login_concurrency: int = 2
    # A one-use ticket for one path (a <video src>, the WebSocket) lasts this long unused.
    ticket_ttl_s: float = 30.0

    # Secrets kept off command lines (`ps` and /proc show every argument to every local user):
    # each can come from a file (a Docker secret, a systemd credential) or its variable.
    turn_secret_file: Path | None = field(default=None, metadata=option(
        "a file holding the TURN secret, kept off the command line", flag="turn-secret-file"))
    cluster_secret_file: Path | None = field(default=None, metadata=option(
        "a file holding the cluster secret, kept off the command line",
        flag="cluster-secret-file"))
    redis_password_file: Path | None = field(default=None, metadata=option(
        "a file holding the password of the Redis of the Redis URL (requirepass or an ACL "
        "user's)",
        flag="redis-password-file"))
    # The same password from the environment only, like redis-cli's REDISCLI_AUTH.
    redis_password: str | None = field(default=None, metadata=option(
        "the password of --redis-url's Redis", flag=None, env="REDIS_PASSWORD"))
    # Legal holds (audit hardening): lifting a hold is for admins; with this on, a lift takes
    # effect only once a second, different admin confirms it.
    hold_two_person_release: bool = field(default=False, metadata=option(
        "a legal hold is lifted only when a second admin confirms the first one's release",
        flag="hold-two-person-release"))
    # Slow clients and connection limits (issue 15): a client has header_timeout_s to send
    # a request's headers, body_timeout_s to send its body (and to take a response it has
    # stopped reading), keepalive_timeout_s of silence between requests. Past
    # max_connections in all or max_connections_per_address from one address, only
    # reserve_connections more are taken, and those only for /api/alerts and /api/login.
    header_timeout_s: float = field(default=5.0, metadata=option(
        "seconds a client has to send a request's headers", flag="header-timeout"))
    body_timeout_s: float = field(default=30.0, metadata=option(
        "seconds a client has to send a request body, or to read on when it stalls a "
        "response", flag="body-timeout"))
    keepalive_timeout_s: float = field(default=75.0, metadata=option(
        "seconds an idle keep-alive connection stays open", flag="keepalive-timeout"))
    max_connections: int = field(default=2000, metadata=option(
        "open HTTP and WebSocket connections in all, beyond the reserve",
        flag="max-connections"))
    max_connections_per_address: int = field(default=200, metadata=option(
        "open connections from one client address (trusted proxies are exempt)",
        flag="max-connections-per-address"))
    reserve_connections: int = field(default=64, metadata=option(
        "connections kept for alerts and logins once a connection cap is hit",
        flag="reserve-connections"))
    # Witnessed checkpoints: every chain's length and head is signed at least this often and
    # at every seal, and handed to witnesses (the other nodes over the bus, a time-stamping
    # authority, a directory on another disk). The key may live on another disk too.
    checkpoint_interval_s: float = field(default=10.0, metadata=option(
        "seconds between two checkpoints of every chain (one also follows every seal)",
        flag="checkpoint-interval"))
    witness_dir: Path | None = field(default=None, metadata=option(
        "a directory on another disk where every checkpoint is also written (fsync)",
        flag="witness-dir"))
    tsa_url: str | None = field(default=None, metadata=option(
        "an RFC 3161 time-stamping authority that stamps every checkpoint", flag="tsa-url"))
    key_file: Path | None = field(default=None, metadata=option(
        "the node's private signing key (default: DATA_DIR/keys/node-ed25519.pem); may be on "
        "another disk; file 0600, folder 0700", flag="key-file"))

    # The whole trail (materials over tus at /api/uploads): the largest item of each kind,
    # how many unfinished uploads one officer may hold, and how long an unfinished upload
    # waits for its next byte before its bytes are deleted.
    upload_max_photo: int = field(default=64 << 20, metadata=option(
        "MiB a photo may have", flag="upload-max-photo-mb", scale=1 << 20))
    upload_max_audio: int = field(default=512 << 20, metadata=option(
        "MiB an audio note may have", flag="upload-max-audio-mb", scale=1 << 20))
    upload_max_video: int = field(default=4096 << 20, metadata=option(
        "MiB a video clip may have", flag="upload-max-video-mb", scale=1 << 20))
    upload_max_file: int = field(default=256 << 20, metadata=option(
        "MiB a document or other file may have", flag="upload-max-file-mb", scale=1 << 20))
    upload_max_preevent: int = field(default=512 << 20, metadata=option(
        "MiB the seconds before a session (pre-event) may have",
        flag="upload-max-preevent-mb", scale=1 << 20))
    upload_max_gapfill: int = field(default=4096 << 20, metadata=option(
        "MiB the phone's recording of a dropout (gap fill) may have",
        flag="upload-max-gapfill-mb", scale=1 << 20))
    uploads_per_officer: int = field(default=50, metadata=option(
        "unfinished uploads one officer may hold at once", flag="uploads-per-officer"))
    upload_expire_s: float = field(default=7 * 24 * 3600.0, metadata=option(
        "seconds an unfinished upload waits for its next byte before it is deleted",
        flag="upload-expire"))
    # A large upload body on a plain TCP connection is taken off the socket by threads of
    # its own (moved into its file by splice, hashed behind), not by the event loop that
    # also relays the live streams (signaling/socket_body.py). Past this many at once, and
    # with 0, bodies are read on the loop.
    upload_receive_threads: int = field(default=8, metadata=option(
        "upload bodies taken off the socket by threads at once (0: all read on the event "
        "loop)", flag="upload-receive-threads"))

    # Archive and catalog: every sealed file and chain line is copied to S3-compatible
    # storage as it seals (the S3 API only: MinIO, Ceph RGW, cloud stores). Credentials come
    # from the standard AWS_* variables or an AWS credentials file, never from a flag.
    archive_url: str | None = field(default=None, metadata=option(
        "copy every sealed segment, chain line and seal to this S3 bucket and prefix "
        "(s3://BUCKET/PREFIX; credentials from AWS_* variables or --archive-credentials-file)",
        flag="archive-url"))
    archive_endpoint: str | None = field(default=None, metadata=option(
        "the S3 endpoint URL of a store other than AWS (MinIO, Ceph RGW, ...)",
        flag="archive-endpoint"))
    archive_region: str = field(default="us-east-1", metadata=option(
        "the archive bucket's region", flag="archive-region"))
    archive_credentials_file: Path | None = field(default=None, metadata=option(
        "an AWS credentials file (INI, [default] aws_access_key_id / aws_secret_access_key) "
        "for the archive", flag="archive-credentials-file"))
    archive_lock_days: float = field(default=90.0, metadata=option(
        "days each archived copy stays under Object Lock COMPLIANCE retention, where the "
        "bucket has Object Lock (set it to the node's retention period)",
        flag="archive-lock-days"))
    archive_concurrency: int = field(default=4, metadata=option(
        "copies to the archive in flight at once", flag="archive-concurrency"))
    archive_behind_s: float = field(default=60.0, metadata=option(
        "seconds the oldest item may wait for the archive before the wall shows "
        "\"Archive behind\"", flag="archive-behind"))
    # The drainer waits at most this long between retries while the store is down.
    archive_max_backoff_s: float = 30.0
    # One catalog for every node: PostgreSQL when given (a password comes from PGPASSWORD or
    # ~/.pgpass, as libpq reads them, never from the URL on a command line); else SQLite in
    # the data dir.
    database_url: str | None = field(default=None, metadata=option(
        "the PostgreSQL catalog every node shares (postgresql://HOST/DB or "
        "postgresql:///DB?host=/var/run/postgresql); default: SQLite in the data dir",
        flag="database-url"))
    database_password_file: Path | None = field(default=None, metadata=option(
        "a file holding the password of --database-url's PostgreSQL user",
        flag="database-password-file"))
    database_password: str | None = field(default=None, metadata=option(
        "the password of --database-url's PostgreSQL user", flag=None,
        env="DATABASE_PASSWORD"))
    # How often a node publishes its sessions' changes to the catalog without being woken.
    catalog_sync_s: float = 30.0
    # How long a node waits on the node that holds a session (to connect, then between bytes)
    # before it fetches the session from the archive instead.
    evidence_fetch_timeout_s: float = 5.0

    # Weak links: the node's answers ask for Opus in-band FEC and take RED (RFC 2198) from
    # publishers and viewers that offer it; this turns both off, as the relay did before
    # (only to measure what they buy).
    plain_audio: bool = field(default=False, metadata=option(
        "answer Opus without in-band FEC and without RED redundancy", flag="plain-audio"))

    # The people around a case: cases, the portal and the ferry to it. A node connects OUT to
    # the portal (the internet side never reaches in) and exchanges signed messages with it;
    # the shared secret comes from a file or the environment, never from a flag's value.
    portal_url: str | None = field(default=None, metadata=option(
        "the portal this node ferries case messages to and from (it connects out)",
        flag="portal-url"))
    portal_secret: str | None = field(default=None, metadata=option(
        "the secret shared with the portal (signs every ferry message)", flag=None,
        env="PORTAL_SECRET"))
    portal_secret_file: Path | None = field(default=None, metadata=option(
        "a file holding the secret shared with the portal", flag="portal-secret-file"))
    # The steps an officer publishes to a case's parties, one tap each.
    published_steps: tuple[str, ...] = field(default=(
        "account search and freezing", "property found", "property seized", "auction",
        "sanction", "payment received", "case closed"), metadata=option(
        "a step an officer may publish to a case's parties (repeatable; replaces the list)",
        flag="published-step"))
    # A long poll of the ferry waits this long for the portal's news before asking again.
    ferry_poll_s: float = 20.0
    # The portal process (`fieldrelay portal`): its own address, port and data dir.
    portal_host: str = field(default="127.0.0.1", metadata=option(
        "the address the portal listens on", flag="host", env="PORTAL_HOST",
        command="portal"))
    portal_port: int = field(default=8090, metadata=option(
        "the TCP port the portal listens on", flag="port", env="PORTAL_PORT",
        command="portal"))
    portal_data_dir: Path = field(default=Path("portal-data"), metadata=option(
        "where the portal keeps its users and messages (never evidence)", flag="data-dir",
        env="PORTAL_DATA_DIR", command="portal"))
    # An invitation code lasts this long unused, and an officer issues at most this many an hour.
    invitation_ttl_s: float = 7 * 24 * 3600.0
    invitations_per_hour: float = 30.0
    # Failed invitation redemptions per address, before each further one waits.
    redeem_free_failures: int = 5

    def replace(self, **changes: object) -> Config:
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def upload_limit(self, kind: str) -> int:
        """The largest upload of a material kind (photo, audio, ...), in bytes."""
        limit: int = getattr(self, f"upload_max_{kind}")
        return limit
