"""The commands that run nodes: `fieldrelay serve` (one node) and `fieldrelay cluster` (one
node per core, each an ordinary `serve` child of the supervisor)."""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import os
import resource
import secrets
import signal
import ssl
import sys
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from fieldrelay import logs
from fieldrelay.config import ENV_PREFIX, Config
from fieldrelay.errors import BadRequest
from fieldrelay.program import demo_portal, memory, settings, supervisor, tls
from fieldrelay.program.exits import EXIT_FAIL, EXIT_OK
from fieldrelay.program.portals import RunningPortal
from fieldrelay.program.settings import DEFAULTS, add_flag, env_help, env_or
from fieldrelay.users import UserStore
from recordings.archive.keys import parse_url
from recordings.signing import KeyExposed
from signaling import edge
from signaling.app import build_app

DEMO_ROLES = ("officer", "commander", "reviewer")
# What the supervisor sets for each node itself; a `--` flag may not override it.
PER_NODE_FLAGS = ("--port", "--node-id", "--data-dir", "--redis-url", "--cluster-url", "--host",
                  "--redis-password-file", "--cluster-secret-file")
MAX_NODES = 64
# The cluster's own two settings; the rest of its flags are Config's.
NODES_VAR, BASE_PORT_VAR = f"{ENV_PREFIX}NODES", f"{ENV_PREFIX}BASE_PORT"
REDIS_PASSWORD_VAR = settings.setting("redis_password").option.env_var


def add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay serve`: every flag comes from a Config field."""
    parser = commands.add_parser("serve", help="run one node")
    settings.add_flags(parser, "serve")
    parser.set_defaults(run=cmd_serve)


def config_from_args(args: argparse.Namespace) -> Config:
    """The node's Config from parsed flags (which already fell back to the environment)."""
    config = settings.with_secrets(DEFAULTS.replace(**settings.values_from_args(args, "serve")))
    if (config.tls_cert is None) != (config.tls_key is None):
        raise BadRequest("--tls-cert and --tls-key go together")
    if config.tls_self_signed and config.tls_cert is not None:
        raise BadRequest("--tls-self-signed and --tls-cert exclude each other")
    for proxy in config.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise BadRequest(f"--trusted-proxy {proxy!r} is not an address or network") from None
    if config.turn_urls and not config.turn_secret:
        raise BadRequest("--turn-url needs --turn-secret (coturn's static-auth-secret)")
    if config.turn_ttl_s <= 0:
        raise BadRequest("--turn-ttl must be a positive number of seconds")
    check_edge_limits(config)
    check_archive(config)
    if config.portal_url and len((config.portal_secret or "").encode()) < 32:
        raise BadRequest("--portal-url needs the portal secret, 32 bytes or more "
                         "(FIELDRELAY_PORTAL_SECRET or --portal-secret-file)")
    return config.replace(
        # The attribution belongs to the tiles: a map without tiles credits no one.
        map_attribution=config.map_attribution if config.map_tiles else "",
        cluster_secret=checked_cluster_secret(config.cluster_secret),
        turn_secret=config.turn_secret or None)


def check_edge_limits(config: Config) -> None:
    """BadRequest for slow-client timeouts or connection caps that cannot work."""
    for flag, seconds in (("--header-timeout", config.header_timeout_s),
                          ("--body-timeout", config.body_timeout_s),
                          ("--keepalive-timeout", config.keepalive_timeout_s)):
        if not seconds > 0:
            raise BadRequest(f"{flag} must be a positive number of seconds")
    if config.max_connections < 1 or config.max_connections_per_address < 1:
        raise BadRequest("--max-connections and --max-connections-per-address must be 1 or "
                         "more")
    if config.reserve_connections < 0:
        raise BadRequest("--reserve-connections must be 0 or more")


def check_archive(config: Config) -> None:
    """BadRequest for an archive set-up that cannot work."""
    if config.archive_url:
        try:
            parse_url(config.archive_url)
        except ValueError as exc:
            raise BadRequest(f"--archive-url: {exc}") from None
    if config.archive_concurrency < 1:
        raise BadRequest("--archive-concurrency must be 1 or more")
    if not config.archive_lock_days > 0:
        raise BadRequest("--archive-lock-days must be a positive number of days")


def checked_cluster_secret(secret: str | None) -> str | None:
    """The cluster secret, None when empty; BadRequest when it is too short to sign with."""
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


def _print_demo_users(created: list[tuple[str, str, str]]) -> None:
    if created:
        print("Demo users (shown once; change them before real use):")
        for name, role, password in created:
            print(f"  {role:<10} user {name!r:<12} password {password}")
        print(flush=True)


def _with_self_signed(config: Config) -> Config:
    """Use (or make) the data dir's self-signed certificate and say how to recognise it."""
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


def _ssl_context(config: Config) -> ssl.SSLContext | None:
    if not (config.tls_cert and config.tls_key):
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(config.tls_cert, config.tls_key)
    except (OSError, ssl.SSLError) as exc:
        raise BadRequest(f"cannot use --tls-cert {config.tls_cert} with --tls-key "
                         f"{config.tls_key}: {exc}") from None
    return context


# Descriptors beyond the connection caps: evidence files, media sockets, Redis, logs.
FD_HEADROOM = 1024


@dataclass
class RunningNode:
    """A node's app behind its connection guard, listening; `aclose()` stops it."""

    runner: web.AppRunner
    server: asyncio.Server
    guard: edge.ConnectionGuard

    @property
    def port(self) -> int:
        """The port it listens on (the one asked for, or the one given for port 0)."""
        return int(self.server.sockets[0].getsockname()[1])

    async def aclose(self) -> None:
        """Stop accepting, then shut the app down (its connections within the grace)."""
        self.server.close()
        await self.runner.cleanup()
        await self.server.wait_closed()


async def start_node(config: Config, ssl_context: ssl.SSLContext | None = None) -> RunningNode:
    """Build the node's app and listen on config.host:config.port with the slow-client
    timeouts and connection caps of signaling/edge.py in front of it."""
    app = build_app(config)
    guard = edge.ConnectionGuard(edge.EdgeLimits.from_config(config))
    # Outermost, so a refused reserve request costs nothing further down.
    app.middlewares.insert(0, guard.middleware)
    runner = web.AppRunner(app, shutdown_timeout=config.shutdown_grace_s, access_log=None,
                           keepalive_timeout=config.keepalive_timeout_s,
                           logger=edge.http_logger())
    await runner.setup()
    try:
        server = await edge.listen(runner, guard, config.host, config.port, ssl_context)
    except BaseException:
        await runner.cleanup()
        raise
    return RunningNode(runner, server, guard)


def raise_fd_limit(config: Config) -> None:
    """Let the process hold every connection the caps allow, and tell when it cannot."""
    needed = config.max_connections + config.reserve_connections + FD_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        print(f"warning: the open-file limit ({hard}) is below the {needed} that "
              f"--max-connections {config.max_connections} needs; raise it (ulimit -n) or "
              "lower --max-connections", file=sys.stderr, flush=True)


async def _serve(config: Config) -> int:
    if config.tls_self_signed:
        config = _with_self_signed(config)
    ssl_context = _ssl_context(config)
    portal = None
    if config.demo_users and not config.portal_url:
        demo = demo_portal.plan(config)
        try:
            portal = await demo_portal.start(demo)
            config = demo.node_config
        except OSError as exc:
            # The trial still runs: a node without a portal is what it was before.
            print(f"warning: the demo portal cannot listen on port "
                  f"{demo.portal_config.portal_port} ({exc.strerror}); running without one",
                  file=sys.stderr, flush=True)
    try:
        return await _run_node(config, ssl_context, portal)
    finally:
        if portal is not None:
            await portal.aclose()


async def _run_node(config: Config, ssl_context: ssl.SSLContext | None,
                    portal: RunningPortal | None) -> int:
    node = await start_node(config, ssl_context)
    try:
        if portal is not None:
            try:
                created = await demo_portal.seed(node.runner.app, portal, DEMO_ROLES[0])
            except Exception as exc:
                # The demo's people are a convenience: the node serves without them.
                print(f"fieldrelay: the demo portal's case and users could not be made "
                      f"({type(exc).__name__}: {exc}); the node runs without them",
                      file=sys.stderr, flush=True)
                created = []
            demo_portal.print_created(created, f"http://{config.host}:{portal.port}")
            print(f"fieldrelay portal (demo) listening on http://{config.host}:{portal.port}",
                  flush=True)
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
        await node.aclose()
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Run one node until SIGINT/SIGTERM."""
    config = config_from_args(args)
    os.umask(0o077)  # whatever the node or a library creates (evidence, keys): owner only
    logs.configure(config.log_level, secrets=settings.secret_values(config))
    memory.limit_malloc_arenas()
    raise_fd_limit(config)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    if config.demo_users:
        _print_demo_users(create_demo_users(UserStore(config.data_dir, config.password_cost)))
    try:
        return asyncio.run(_serve(config))
    except KeyExposed as exc:
        # The evidence must not be signed with a key others can read, or a second key.
        print(f"fieldrelay serve: {exc.detail}", file=sys.stderr)
        return EXIT_FAIL


def add_cluster(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`fieldrelay cluster`: its node flags are serve's (Config's), with cluster help."""
    parser = commands.add_parser(
        "cluster", help="run one node per core on this machine, sharing one Redis",
        description="Runs N `fieldrelay serve` nodes (node-1 on --base-port, node-2 on the "
                    "next port, ...) with data dirs DATA_DIR/node-I, one Redis (its own "
                    "redis-server unless --redis-url) and one cluster secret. Users and the "
                    "token key in DATA_DIR are copied to every node at start. Arguments "
                    "after `--` go to every node's `serve`.")
    parser.add_argument("--nodes", type=int, default=env_or(NODES_VAR, os.cpu_count() or 1),
                        help=env_help("how many nodes (default: one per core)", NODES_VAR))
    parser.add_argument("--base-port", type=int, default=env_or(BASE_PORT_VAR, DEFAULTS.port),
                        help=env_help("node-1's port; each next node takes the next one",
                                      BASE_PORT_VAR))
    add_flag(parser, "host")
    add_flag(parser, "data_dir")
    add_flag(parser, "redis_url", help="an existing Redis; without it the cluster starts its "
                                       "own redis-server on loopback")
    add_flag(parser, "redis_password_file")
    add_flag(parser, "cluster_secret",
             help="shared by the nodes for cascades (default: random per run)")
    add_flag(parser, "cluster_secret_file")
    parser.add_argument("serve_args", nargs=argparse.REMAINDER,
                        help="-- then flags for every node's serve")
    parser.set_defaults(run=cmd_cluster)


def cmd_cluster(args: argparse.Namespace) -> int:
    """Run one node per core until SIGINT/SIGTERM."""
    if not 1 <= args.nodes <= MAX_NODES:
        raise BadRequest(f"--nodes must be between 1 and {MAX_NODES}")
    if not 1 <= args.base_port <= 65535 - args.nodes:
        raise BadRequest("--base-port leaves no room for that many nodes")
    extra = tuple(a for a in args.serve_args if a != "--")
    for flag in PER_NODE_FLAGS:
        if any(a == flag or a.startswith(flag + "=") for a in extra):
            raise BadRequest(f"{flag} is set by the cluster for each node")
    shared = settings.with_secrets(DEFAULTS.replace(
        redis_url=args.redis_url, redis_password=env_or(REDIS_PASSWORD_VAR, None),
        redis_password_file=args.redis_password_file, cluster_secret=args.cluster_secret,
        cluster_secret_file=args.cluster_secret_file))
    return supervisor.run(args.nodes, args.base_port, args.host, args.data_dir,
                          shared.redis_url, checked_cluster_secret(shared.cluster_secret), extra)
