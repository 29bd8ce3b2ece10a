"""The user store: names, roles and scrypt password hashes in the data dir."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from fieldrelay.config import ROLES
from fieldrelay.errors import BadRequest, Conflict, NotFound

# scrypt cost: about 50 ms per hash on this class of machine, 16 MiB of memory.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
NAME_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789._-")


@dataclass(frozen=True)
class User:
    """A user as stored: the hash never leaves this module's callers' trust."""

    name: str
    role: str
    salt: bytes
    password_hash: bytes
    n: int
    r: int
    p: int
    created_at: float


def hash_password(password: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> bytes:
    """The scrypt hash of a password."""
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=64 * 1024 * 1024,
                          dklen=32)


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


def _encode(user: User) -> dict[str, object]:
    return {
        "role": user.role,
        "salt": base64.b64encode(user.salt).decode(),
        "hash": base64.b64encode(user.password_hash).decode(),
        "n": user.n,
        "r": user.r,
        "p": user.p,
        "created_at": user.created_at,
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
    )


class UserStore:
    """Users kept in `<data_dir>/users.json`, rewritten atomically on every change."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "users.json"
        # Every request checks its user: read the file again only when it changed.
        self._cache: tuple[tuple[int, int], dict[str, User]] | None = None

    def _load(self) -> dict[str, User]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return {}
        version = (stat.st_mtime_ns, stat.st_size)
        if self._cache is not None and self._cache[0] == version:
            return dict(self._cache[1])
        raw = json.loads(self.path.read_text())
        users = {name: _decode(name, entry) for name, entry in raw.items()}
        self._cache = (version, users)
        return dict(users)

    def _save(self, users: dict[str, User]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump({name: _encode(u) for name, u in sorted(users.items())}, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def get(self, name: str) -> User | None:
        """The user of that name, or None."""
        return self._load().get(name)

    def all(self) -> list[User]:
        """Every user, sorted by name."""
        return sorted(self._load().values(), key=lambda u: u.name)

    def add(self, name: str, role: str, password: str) -> User:
        """Create a user; Conflict if the name is taken."""
        validate_name(name)
        if role not in ROLES:
            raise BadRequest(f"role must be one of {', '.join(ROLES)}")
        if len(password) < 8:
            raise BadRequest("a password has at least 8 characters")
        users = self._load()
        if name in users:
            raise Conflict(f"user {name!r} already exists")
        salt = secrets.token_bytes(16)
        user = User(name, role, salt, hash_password(password, salt), SCRYPT_N, SCRYPT_R, SCRYPT_P,
                    time.time())
        users[name] = user
        self._save(users)
        return user

    def remove(self, name: str) -> None:
        """Delete a user; NotFound if absent."""
        users = self._load()
        if users.pop(name, None) is None:
            raise NotFound(f"no user {name!r}")
        self._save(users)

    def authenticate(self, name: str, password: str) -> User | None:
        """The user when the password matches; None otherwise (same cost either way)."""
        user = self.get(name)
        if user is None:
            # Spend the same time as a real check, so a timing probe cannot list users.
            hash_password(password, b"\0" * 16)
            return None
        return user if check_password(user, password) else None
