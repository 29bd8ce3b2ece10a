"""The `fieldrelay` command: flags and environment in, a Config out, then the work."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import ipaddress
import os
import secrets
import signal
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

from fieldrelay import logs
from fieldrelay.config import ROLES, Config, default_web_dir
from fieldrelay.errors import BadRequest, Conflict
from fieldrelay.tokens import TokenIssuer, load_or_create_secret
from fieldrelay.users import UserStore

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DEMO_ROLES = ("officer", "commander", "reviewer")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(f"FIELDRELAY_{name}", default)


OSM_TILES = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
OSM_ATTRIBUTION = "© OpenStreetMap contributors"


def _env_list(name: str) -> list[str]:
    raw = _env(name)
    return [x.strip() for x in raw.split(",") if x.strip()] if raw else []


def _data_dir_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-dir", type=Path, default=Path(_env("DATA_DIR", "data") or "data"),
                   help="where users, keys and evidence live (FIELDRELAY_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; every serve flag has a FIELDRELAY_* environment variable."""
    parser = argparse.ArgumentParser(prog="fieldrelay", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run one node")
    serve.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    serve.add_argument("--port", type=int, default=int(_env("PORT", "8080") or 8080))
    _data_dir_arg(serve)
    serve.add_argument("--redis-url", default=_env("REDIS_URL"),
                       help="share presence and alerts with other nodes through Redis")
    serve.add_argument("--node-id", default=_env("NODE_ID", "node-1"))
    serve.add_argument("--public-url", default=_env("PUBLIC_URL"),
                       help="the URL browsers use to reach this node")
    serve.add_argument("--tls-cert", type=Path, default=_env("TLS_CERT"))
    serve.add_argument("--tls-key", type=Path, default=_env("TLS_KEY"))
    serve.add_argument("--ice-host", action="append", default=None,
                       help="local address offered as an ICE host candidate (repeatable)")
    serve.add_argument("--ice-public-ip", default=_env("ICE_PUBLIC_IP"),
                       help="advertise this 1:1 NAT address beside the host candidates")
    serve.add_argument("--ice-server", action="append", default=None,
                       help="STUN/TURN URL handed to peers (repeatable)")
    serve.add_argument("--reconnect-grace", type=float,
                       default=float(_env("RECONNECT_GRACE", "60") or 60),
                       help="seconds a dropped publisher may take to come back")
    serve.add_argument("--escalate-after", type=float,
                       default=float(_env("ESCALATE_AFTER", "30") or 30),
                       help="seconds before an unacknowledged alert escalates")
    serve.add_argument("--dispatch-count", type=int,
                       default=int(_env("DISPATCH_COUNT", "3") or 3),
                       help="how many of the nearest live officers an escalation dispatches")
    serve.add_argument("--dispatch-radius", type=float,
                       default=float(_env("DISPATCH_RADIUS", "5000") or 5000),
                       help="metres within which officers are dispatched")
    serve.add_argument("--alerts-per-minute", type=float,
                       default=float(_env("ALERTS_PER_MINUTE", "30") or 30),
                       help="alerts one officer may raise per minute after a burst of 30")
    serve.add_argument("--token-ttl", type=int, default=int(_env("TOKEN_TTL", "3600") or 3600))
    serve.add_argument("--allowed-origin", action="append", default=None,
                       help="extra browser Origin allowed on the WebSocket (repeatable)")
    serve.add_argument("--demo-users", action="store_true",
                       default=_env("DEMO_USERS", "") in ("1", "true", "yes"),
                       help="create officer, commander and reviewer users on first start")
    serve.add_argument("--map-tiles", default=_env("MAP_TILES", OSM_TILES),
                       help="map tile URL template with {z}/{x}/{y}; empty for no tiles "
                            "(the map still shows officers and alerts)")
    serve.add_argument("--map-attribution", default=_env("MAP_ATTRIBUTION", OSM_ATTRIBUTION),
                       help="attribution text shown on the map for those tiles")
    serve.add_argument("--log-level", default=_env("LOG_LEVEL", "INFO"))
    serve.add_argument("--gop-cache-kb", type=int,
                       default=int(_env("GOP_CACHE_KB", "2048") or 2048),
                       help="per stream, video kept since the last keyframe so new viewers "
                            "start at once (0 turns it off)")
    serve.add_argument("--cluster-secret", default=_env("CLUSTER_SECRET"),
                       help="shared by all nodes (32+ bytes): lets a node pull an officer's "
                            "stream from the node it is live on; prefer the environment "
                            "variable FIELDRELAY_CLUSTER_SECRET, which `ps` does not show")
    serve.add_argument("--cluster-url", default=_env("CLUSTER_URL"),
                       help="the URL other nodes reach this one at (default: --public-url, "
                            "else http://HOST:PORT)")
    serve.add_argument("--turn-url", action="append", default=None,
                       help="TURN URL handed to logged-in users with short-lived credentials "
                            "(repeatable; needs --turn-secret)")
    serve.add_argument("--turn-secret", default=_env("TURN_SECRET"),
                       help="the shared secret of coturn's static-auth-secret")
    serve.add_argument("--tls-self-signed", action="store_true",
                       default=_env("TLS_SELF_SIGNED", "") in ("1", "true", "yes"),
                       help="serve HTTPS with a self-signed certificate kept in the data dir "
                            "(for a LAN trial; prints its fingerprint)")
    serve.add_argument("--trusted-proxy", action="append", default=None,
                       help="address or network of a reverse proxy whose X-Forwarded-* "
                            "headers are believed (repeatable)")
    serve.add_argument("--turn-ttl", type=int, default=int(_env("TURN_TTL", "43200") or 43200),
                       help="lifetime of a TURN credential in seconds")

    user = sub.add_parser("user", help="manage users")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    add = user_sub.add_parser("add", help="create a user")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--password-stdin", action="store_true",
                     help="read the password from standard input")
    _data_dir_arg(add)

    token = sub.add_parser("token", help="print a signed token for an existing user")
    token.add_argument("name")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    _data_dir_arg(token)

    verify = sub.add_parser("verify", help="check a session folder, a data dir or an export "
                                           "bundle, and name the first broken link")
    verify.add_argument("path", type=Path,
                        help="a session folder, a data dir, or an export bundle (.zip or "
                             "its extracted folder)")
    verify.add_argument("--key", type=Path, default=None,
                        help="check signatures against this public key (PEM) instead of the "
                             "one that comes with the evidence")

    cluster = sub.add_parser(
        "cluster", help="run one node per core on this machine, sharing one Redis",
        description="Runs N `fieldrelay serve` nodes (node-1 on --base-port, node-2 on the "
                    "next port, ...) with data dirs DATA_DIR/node-I, one Redis (its own "
                    "redis-server unless --redis-url) and one cluster secret. Users and the "
                    "token key in DATA_DIR are copied to every node at start. Arguments "
                    "after `--` go to every node's `serve`.")
    cluster.add_argument("--nodes", type=int,
                         default=int(_env("NODES", str(os.cpu_count() or 1)) or 1),
                         help="how many nodes (default: one per core)")
    cluster.add_argument("--base-port", type=int,
                         default=int(_env("BASE_PORT", "8080") or 8080))
    cluster.add_argument("--host", default=_env("HOST", "127.0.0.1"))
    _data_dir_arg(cluster)
    cluster.add_argument("--redis-url", default=_env("REDIS_URL"),
                         help="an existing Redis; without it the cluster starts its own "
                              "redis-server on loopback")
    cluster.add_argument("--cluster-secret", default=_env("CLUSTER_SECRET"),
                         help="shared by the nodes for cascades (default: random per run)")
    cluster.add_argument("serve_args", nargs=argparse.REMAINDER,
                         help="-- then flags for every node's serve")

    export = sub.add_parser("export", help="write a sealed session's bundle (zip) with a "
                                           "standalone verifier")
    export.add_argument("session_id")
    export.add_argument("-o", "--output", type=Path, required=True, help="the zip to write")
    _data_dir_arg(export)

    reindex = sub.add_parser("reindex", help="rebuild the search index from the evidence files")
    _data_dir_arg(reindex)

    retention = sub.add_parser("retention", help="remove sessions older than the retention "
                                                 "period, except those on legal hold")
    retention.add_argument("--older-than", type=float,
                           default=float(_env("RETENTION_DAYS", "90") or 90),
                           help="days since a session ended (FIELDRELAY_RETENTION_DAYS)")
    retention.add_argument("--dry-run", action="store_true",
                           help="only say what would be removed")
    _data_dir_arg(retention)
    return parser


def config_from_args(args: argparse.Namespace) -> Config:
    """The node's Config from parsed flags (which already fell back to the environment)."""
    if (args.tls_cert is None) != (args.tls_key is None):
        raise BadRequest("--tls-cert and --tls-key go together")
    if args.tls_self_signed and args.tls_cert is not None:
        raise BadRequest("--tls-self-signed and --tls-cert exclude each other")
    trusted_proxies = tuple(args.trusted_proxy or _env_list("TRUSTED_PROXY"))
    for proxy in trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise BadRequest(f"--trusted-proxy {proxy!r} is not an address or network") from None
    turn_urls = tuple(args.turn_url or _env_list("TURN_URL"))
    if turn_urls and not args.turn_secret:
        raise BadRequest("--turn-url needs --turn-secret (coturn's static-auth-secret)")
    if args.turn_ttl <= 0:
        raise BadRequest("--turn-ttl must be a positive number of seconds")
    return Config(
        host=args.host, port=args.port, data_dir=args.data_dir, redis_url=args.redis_url,
        node_id=args.node_id, public_url=args.public_url, tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        ice_hosts=tuple(args.ice_host or _env_list("ICE_HOST")),
        ice_public_ip=args.ice_public_ip,
        ice_servers=tuple(args.ice_server or _env_list("ICE_SERVER")),
        web_dir=Path(_env("WEB_DIR") or default_web_dir()),
        token_ttl_s=args.token_ttl, reconnect_grace_s=args.reconnect_grace,
        escalate_after_s=args.escalate_after, dispatch_count=args.dispatch_count,
        dispatch_radius_m=args.dispatch_radius, alerts_per_minute=args.alerts_per_minute,
        allowed_origins=tuple(args.allowed_origin or _env_list("ALLOWED_ORIGIN")),
        demo_users=args.demo_users,
        map_tiles=args.map_tiles,
        map_attribution=args.map_attribution if args.map_tiles else "",
        gop_cache_bytes=max(0, args.gop_cache_kb) * 1024,
        cluster_secret=_cluster_secret(args.cluster_secret),
        cluster_url=args.cluster_url,
        turn_urls=turn_urls, turn_secret=args.turn_secret or None, turn_ttl_s=args.turn_ttl,
        tls_self_signed=args.tls_self_signed, trusted_proxies=trusted_proxies,
    )


def _cluster_secret(secret: str | None) -> str | None:
    if secret and len(secret.encode()) < 32:
        raise BadRequest("--cluster-secret must be at least 32 bytes (e.g. openssl rand -hex 32)")
    return secret or None


def create_demo_users(store: UserStore) -> list[tuple[str, str, str]]:
    """Create the demo users that do not exist yet; returns (name, role, password) created."""
    created = []
    for role in DEMO_ROLES:
        if store.get(role) is None:
            password = secrets.token_urlsafe(9)
            store.add(role, role, password)
            created.append((role, role, password))
    return created


def _with_self_signed(config: Config) -> Config:
    """Use (or make) the data dir's self-signed certificate and say how to recognise it."""
    from urllib.parse import urlsplit

    from fieldrelay import tls

    extra = [config.host, *config.ice_hosts]
    if config.public_url:
        extra.append(urlsplit(config.public_url).hostname or "")
    if config.ice_public_ip:
        extra.append(config.ice_public_ip)
    cert = tls.load_or_create(config.data_dir, tuple(extra))
    made = "made" if cert.created else "kept"
    print(f"TLS: self-signed certificate {cert.cert} ({made}); check that a browser shows "
          f"this SHA-256 fingerprint before trusting it:\n  {cert.fingerprint}", flush=True)
    return config.replace(tls_cert=cert.cert, tls_key=cert.key)


async def _serve(config: Config) -> int:
    from aiohttp import web

    from signaling.app import build_app

    if config.tls_self_signed:
        config = _with_self_signed(config)
    ssl_context = None
    if config.tls_cert and config.tls_key:
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            ssl_context.load_cert_chain(config.tls_cert, config.tls_key)
        except (OSError, ssl.SSLError) as exc:
            raise BadRequest(f"cannot use --tls-cert {config.tls_cert} with --tls-key "
                             f"{config.tls_key}: {exc}") from None
    runner = web.AppRunner(build_app(config), shutdown_timeout=config.shutdown_grace_s,
                           access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port, ssl_context=ssl_context)
        await site.start()
        scheme = "https" if ssl_context else "http"
        print(f"fieldrelay {config.node_id} listening on {scheme}://{config.host}:{config.port}"
              f" (data in {config.data_dir})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        print("fieldrelay shutting down", flush=True)
    finally:
        await runner.cleanup()
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one node until SIGINT/SIGTERM."""
    config = config_from_args(args)
    logs.configure(args.log_level)
    from fieldrelay.memory import limit_malloc_arenas

    limit_malloc_arenas()
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if config.demo_users:
        created = create_demo_users(UserStore(config.data_dir))
        if created:
            print("Demo users (shown once; change them before real use):")
            for name, role, password in created:
                print(f"  {role:<10} user {name!r:<12} password {password}")
            print(flush=True)
    return asyncio.run(_serve(config))


def cmd_user_add(args: argparse.Namespace) -> int:
    """Create a user in the data dir."""
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return EXIT_USAGE
    try:
        UserStore(args.data_dir).add(args.name, args.role, password)
    except Conflict as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_FAIL
    except BadRequest as exc:
        print(exc.detail, file=sys.stderr)
        return EXIT_USAGE
    print(f"created {args.role} {args.name}")
    return EXIT_OK


def cmd_token(args: argparse.Namespace) -> int:
    """Print a token for an existing user."""
    user = UserStore(args.data_dir).get(args.name)
    if user is None:
        print(f"no user {args.name!r} in {args.data_dir}", file=sys.stderr)
        return EXIT_FAIL
    config = Config(data_dir=args.data_dir)
    issuer = TokenIssuer(load_or_create_secret(args.data_dir), config.jwt_issuer,
                         config.jwt_audience, config.token_ttl_s)
    token, _ = issuer.issue(user.name, user.role, ttl_s=args.ttl)
    print(token)
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Check evidence; 0 intact, 1 broken, 2 when PATH is not evidence."""
    from recordings import verify

    return verify.run(args.path, public_key=args.key)


def cmd_export(args: argparse.Namespace) -> int:
    """Write the export bundle of one sealed or interrupted session."""
    from fieldrelay.errors import FieldRelayError
    from recordings.provenance import export_with_playable
    from recordings.verifier import TextProgress

    bar = TextProgress(sys.stderr)
    try:
        result = export_with_playable(args.data_dir, args.session_id, args.output, progress=bar)
    except FieldRelayError as exc:
        bar.close()
        print(f"fieldrelay export: {exc.detail}", file=sys.stderr)
        return EXIT_FAIL
    except OSError as exc:
        bar.close()
        print(f"fieldrelay export: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
        return EXIT_FAIL
    bar.close()
    _audit_cli_export(args.data_dir, result.session, result.path)
    print(f"wrote {result.path}: session {result.session}, {result.segments} segment files "
          f"({result.media_bytes} bytes of media)")
    print(f"check it with: fieldrelay verify {result.path}   (or: python3 verify.py "
          f"{result.path.name}, see README.txt inside)")
    return EXIT_OK


def _audit_cli_export(data_dir: Path, session: str, path: Path) -> None:
    """An export from the shell is an access by a person too: it goes on the audit chain."""
    from recordings.audit import AuditLog
    from recordings.signing import NodeKey

    AuditLog(data_dir, NodeKey.load_or_create(data_dir)).append(
        f"cli:{getpass.getuser()}", "admin", "export", session, "ok", detail=str(path))


def cmd_reindex(args: argparse.Namespace) -> int:
    """Rebuild the search index from the session ledgers, the node ledger and the audit log."""
    from recordings.index import reindex

    count, path = reindex(args.data_dir)
    print(f"indexed {count} session{'s' if count != 1 else ''} into {path}")
    return EXIT_OK


def cmd_retention(args: argparse.Namespace) -> int:
    """Remove expired sessions not on legal hold, each with a tombstone in the node ledger."""
    from recordings.retention import run_retention

    if args.older_than < 0:
        print("fieldrelay retention: --older-than must be 0 or more days", file=sys.stderr)
        return EXIT_USAGE
    removed = run_retention(args.data_dir, args.older_than, f"cli:{getpass.getuser()}",
                            args.dry_run, print)
    verb = "would remove" if args.dry_run else "removed"
    print(f"{verb} {len(removed)} session{'s' if len(removed) != 1 else ''} that ended more "
          f"than {args.older_than:g} days ago")
    return EXIT_OK


def cmd_cluster(args: argparse.Namespace) -> int:
    """Run one node per core until SIGINT/SIGTERM."""
    from fieldrelay import cluster

    if not 1 <= args.nodes <= 64:
        raise BadRequest("--nodes must be between 1 and 64")
    if not 1 <= args.base_port <= 65535 - args.nodes:
        raise BadRequest("--base-port leaves no room for that many nodes")
    extra = tuple(a for a in args.serve_args if a != "--")
    for flag in ("--port", "--node-id", "--data-dir", "--redis-url", "--cluster-url", "--host"):
        if any(a == flag or a.startswith(flag + "=") for a in extra):
            raise BadRequest(f"{flag} is set by the cluster for each node")
    return cluster.run(args.nodes, args.base_port, args.host, args.data_dir, args.redis_url,
                       _cluster_secret(args.cluster_secret), extra)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `fieldrelay` console script."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return cmd_serve(args)
        if args.command == "user":
            return cmd_user_add(args)
        if args.command == "token":
            return cmd_token(args)
        if args.command == "verify":
            return cmd_verify(args)
        if args.command == "export":
            return cmd_export(args)
        if args.command == "reindex":
            return cmd_reindex(args)
        if args.command == "retention":
            return cmd_retention(args)
        if args.command == "cluster":
            return cmd_cluster(args)
    except BadRequest as exc:
        print(f"fieldrelay: {exc.detail}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
