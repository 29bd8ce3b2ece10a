"""The user store: names, roles, scrypt password hashes and token versions in the data dir."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from fieldrelay.config import ROLES
from fieldrelay.errors import BadRequest, Conflict, NotFound

# scrypt cost as log2(N): 2^17 with r=8 is today's guidance (OWASP), about 0.3-0.6 s and
# 128 MiB per hash. Config.password_cost sets it per node; tests lower it there.
DEFAULT_COST = 17
MIN_COST, MAX_COST = 10, 20
SCRYPT_R = 8
SCRYPT_P = 1
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")
# The salt of the decoy hash spent on unknown names, so they cost what a real check costs.
_DECOY_SALT = secrets.token_bytes(16)


@dataclass(frozen=True)
class User:
    """A user as stored: the hash never leaves this module's callers' trust.

    `token_version` is written into every token issued to the user; bumping it (password or
    role change, removal) makes every earlier token of the user invalid at once.
    """

    name: str
    role: str
    salt: bytes
    password_hash: bytes
    n: int
    r: int
    p: int
    created_at: float
    token_version: int = 0


def check_cost(cost: int) -> int:
    """`cost` (log2 of scrypt's N) when it is in the supported range; BadRequest otherwise."""
    if not MIN_COST <= cost <= MAX_COST:
        raise BadRequest(f"the password cost is log2 of scrypt's N, {MIN_COST} to {MAX_COST}")
    return cost


def hash_password(password: str, salt: bytes, n: int = 2**DEFAULT_COST, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> bytes:
    """The scrypt hash of a password."""
    # scrypt needs 128 * r * n bytes; leave room for its own bookkeeping.
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * r * n + 2**20, dklen=32)


def check_password(user: User, password: str) -> bool:
    """True when the password matches, compared in constant time."""
    candidate = hash_password(password, user.salt, user.n, user.r, user.p)
    return hmac.compare_digest(candidate, user.password_hash)


def validate_name(name: str) -> None:
    """Reject names that could not be a stream name or a file name."""
    if not (1 <= len(name) <= 64) or not set(name) <= NAME_CHARS or name[0] in ".-":
        raise BadRequest(
            "a user name is 1-64 characters of a-z, 0-9, '.', '_' or '-', not starting with . or -"
        )


def validate_role(role: str, roles: tuple[str, ...] = ROLES) -> None:
    """Reject a role the node (or the portal, with its own roles) does not know."""
    if role not in roles:
        raise BadRequest(f"role must be one of {', '.join(roles)}")


def validate_password(password: str) -> None:
    """Reject passwords too short to be one."""
    if len(password) < 8:
        raise BadRequest("a password has at least 8 characters")


def _encode(user: User) -> dict[str, object]:
    return {
        "role": user.role,
        "salt": base64.b64encode(user.salt).decode(),
        "hash": base64.b64encode(user.password_hash).decode(),
        "n": user.n,
        "r": user.r,
        "p": user.p,
        "created_at": user.created_at,
        "token_version": user.token_version,
    }


def _decode(name: str, raw: dict[str, object]) -> User:
    return User(
        name=name,
        role=str(raw["role"]),
        salt=base64.b64decode(str(raw["salt"])),
        password_hash=base64.b64decode(str(raw["hash"])),
        n=int(str(raw["n"])),
        r=int(str(raw["r"])),
        p=int(str(raw["p"])),
        created_at=float(str(raw["created_at"])),
        token_version=int(str(raw.get("token_version", 0))),
    )


@dataclass(frozen=True)
class _Snapshot:
    """users.json as read: the live users, and the token versions of removed names."""

    users: dict[str, User]
    removed: dict[str, int]


class UserStore:
    """Users kept in `<data_dir>/users.json`, rewritten atomically on every change.

    A removed user stays in the file as a tombstone holding its token version, so a user
    created again under the same name never accepts the old user's tokens. Another process
    (the CLI) may change the file at any time: every read notices.
    """

    def __init__(self, data_dir: Path, cost: int = DEFAULT_COST,
                 roles: tuple[str, ...] = ROLES) -> None:
        self.path = data_dir / "users.json"
        self.cost = check_cost(cost)
        # The portal keeps users of its own roles (party, grid) in its own data dir.
        self.roles = roles
        # Every request checks its user: read the file again only when it changed.
        self._cache: tuple[tuple[int, int, int], _Snapshot] | None = None
        # Each change reads, changes and rewrites the whole file: changes made at once from
        # worker threads (the portal's redemptions) take turns, or one would undo another.
        self._changing = threading.Lock()

    def _snapshot(self) -> _Snapshot:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return _Snapshot({}, {})
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if self._cache is not None and self._cache[0] == version:
            return self._cache[1]
        raw = json.loads(self.path.read_text())
        users = {name: _decode(name, entry) for name, entry in raw.items()
                 if not entry.get("removed")}
        removed = {name: int(entry.get("token_version", 0)) for name, entry in raw.items()
                   if entry.get("removed")}
        snapshot = _Snapshot(users, removed)
        self._cache = (version, snapshot)
        return snapshot

    def _save(self, users: dict[str, User], removed: dict[str, int]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entries: dict[str, object] = {
            name: {"removed": True, "token_version": version}
            for name, version in removed.items() if name not in users}
        entries.update({name: _encode(u) for name, u in users.items()})
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(dict(sorted(entries.items())), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def get(self, name: str) -> User | None:
        """The user of that name, or None."""
        return self._snapshot().users.get(name)

    def all(self) -> list[User]:
        """Every user, sorted by name."""
        return sorted(self._snapshot().users.values(), key=lambda u: u.name)

    def _new_hash(self, password: str) -> tuple[bytes, bytes, int]:
        salt = secrets.token_bytes(16)
        n = 2**self.cost
        return salt, hash_password(password, salt, n), n

    def add(self, name: str, role: str, password: str) -> User:
        """Create a user; Conflict if the name is taken."""
        validate_name(name)
        validate_role(role, self.roles)
        validate_password(password)
        if name in self._snapshot().users:
            raise Conflict(f"user {name!r} already exists")
        salt, digest, n = self._new_hash(password)
        with self._changing:
            snapshot = self._snapshot()  # read again: hashing took a while
            if name in snapshot.users:
                raise Conflict(f"user {name!r} already exists")
            # A name used before continues its token versions: the old user's tokens stay dead.
            version = snapshot.removed.get(name, -1) + 1
            user = User(name, role, salt, digest, n, SCRYPT_R, SCRYPT_P, time.time(), version)
            self._save({**snapshot.users, name: user}, snapshot.removed)
        return user

    def _change(self, name: str, **changes: object) -> User:
        """Store a changed user with its token version bumped; NotFound if absent."""
        with self._changing:
            snapshot = self._snapshot()
            user = snapshot.users.get(name)
            if user is None:
                raise NotFound(f"no user {name!r}")
            changed = replace(user, **changes)  # type: ignore[arg-type]
            changed = replace(changed, token_version=user.token_version + 1)
            self._save({**snapshot.users, name: changed}, snapshot.removed)
        return changed

    def remove(self, name: str) -> None:
        """Delete a user, ending every token it holds; NotFound if absent."""
        with self._changing:
            snapshot = self._snapshot()
            user = snapshot.users.get(name)
            if user is None:
                raise NotFound(f"no user {name!r}")
            users = {k: u for k, u in snapshot.users.items() if k != name}
            self._save(users, {**snapshot.removed, name: user.token_version + 1})

    def set_password(self, name: str, password: str) -> User:
        """Change a password, ending every token the user holds; NotFound if absent."""
        validate_password(password)
        if name not in self._snapshot().users:
            raise NotFound(f"no user {name!r}")
        salt, digest, n = self._new_hash(password)
        return self._change(name, salt=salt, password_hash=digest, n=n, r=SCRYPT_R, p=SCRYPT_P)

    def set_role(self, name: str, role: str) -> User:
        """Change a role, ending every token the user holds; NotFound if absent."""
        validate_role(role, self.roles)
        return self._change(name, role=role)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches; None otherwise (same cost either way).

        A hash made at a lower cost than the store's is made again at the store's cost on a
        successful login (the password is only known then). The token version is kept: the
        password did not change.
        """
        user = self.get(name)
        if user is None:
            # Spend the same time as a real check, so a timing probe cannot list users.
            hash_password(password, _DECOY_SALT, 2**self.cost)
            return None
        ok = check_password(user, password)
        if user.n >= 2**self.cost:
            return user if ok else None
        if not ok:
            # A weaker hash checks quicker: pad to the cost of a current one.
            hash_password(password, _DECOY_SALT, 2**self.cost)
            return None
        return self._upgrade(user, password)

    def _upgrade(self, user: User, password: str) -> User:
        salt, digest, n = self._new_hash(password)
        with self._changing:
            snapshot = self._snapshot()
            current = snapshot.users.get(user.name)
            if current is None or current.password_hash != user.password_hash:
                return user  # changed meanwhile (removed, new password): leave it as it is now
            upgraded = replace(current, salt=salt, password_hash=digest, n=n, r=SCRYPT_R,
                               p=SCRYPT_P)
            self._save({**snapshot.users, user.name: upgraded}, snapshot.removed)
        return upgraded
