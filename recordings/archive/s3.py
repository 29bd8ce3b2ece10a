"""The archive's object store, through the S3 API alone (aiobotocore), so that MinIO, Ceph
RGW and every cloud store take it unchanged.

Each copy carries `x-amz-checksum-sha256` (`ChecksumSHA256`), so the store itself refuses
bytes that differ from the ones hashed on the node, and, where the bucket has Object Lock,
COMPLIANCE retention until the node's retention period has passed. Credentials come from the
standard `AWS_*` variables or an AWS credentials file (never from a flag).

A copy is one PUT signed with botocore's own SigV4 signer and sent on a kept-alive aiohttp
session, not through the generated client: the client's per-call machinery (events, endpoint
rules, parameter validation, response parsing) cost more CPU than the relay work an archived
stream adds (BENCHMARKS.md "Relay CPU with the archive on and off"). The payload is signed
with the SHA-256 the node already has, so the body is hashed once. Everything else (Object
Lock, listing, reading back) goes through the client.
"""

from __future__ import annotations

import base64
import datetime
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError

from recordings.archive.confirmed import Copy
from recordings.archive.keys import parse_url


class _KnownPayload(S3SigV4Auth):  # type: ignore[misc]  # botocore has no types
    """SigV4 for S3 with the body's SHA-256 given, not computed again (always signed, so
    over plain HTTP too the signature covers the bytes)."""

    def __init__(self, credentials: Any, region: str, sha256_hex: str) -> None:
        super().__init__(credentials, "s3", region)
        self._sha256_hex = sha256_hex

    def payload(self, request: Any) -> str:
        return self._sha256_hex


class StoreUnavailable(Exception):
    """The store could not be reached or refused the request; try again later."""


@dataclass(frozen=True)
class StoreSettings:
    """Where the archive is and how long its copies are locked."""

    url: str  # s3://BUCKET/PREFIX
    endpoint: str | None = None
    region: str = "us-east-1"
    credentials_file: Path | None = None
    lock_days: float = 90.0
    timeout_s: float = 10.0


class ArchiveStore:
    """One S3 client for the node's lifetime: `async with ArchiveStore(settings) as store`."""

    def __init__(self, settings: StoreSettings) -> None:
        self.settings = settings
        self.bucket, self.prefix = parse_url(settings.url)
        self._stack = AsyncExitStack()
        self._client: Any = None
        self._locked: bool | None = None  # learned from the bucket on first use
        self._session: AioSession | None = None
        self._http: aiohttp.ClientSession | None = None
        self._endpoint = ""

    async def __aenter__(self) -> ArchiveStore:
        session = self._session = AioSession()
        if self.settings.credentials_file is not None:
            session.set_config_variable("credentials_file", str(self.settings.credentials_file))
        # One attempt per call: the drainer backs off itself, in order, and counts the failures.
        config = AioConfig(connect_timeout=self.settings.timeout_s,
                           read_timeout=self.settings.timeout_s,
                           retries={"max_attempts": 1, "mode": "standard"},
                           s3={"addressing_style": "path"})
        self._client = await self._stack.enter_async_context(session.create_client(
            "s3", endpoint_url=self.settings.endpoint, region_name=self.settings.region,
            config=config))
        self._endpoint = str(self._client.meta.endpoint_url).rstrip("/")
        timeout = aiohttp.ClientTimeout(sock_connect=self.settings.timeout_s,
                                        sock_read=self.settings.timeout_s)
        self._http = await self._stack.enter_async_context(aiohttp.ClientSession(
            timeout=timeout, auto_decompress=False))
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client (idempotent)."""
        self._client = self._http = None
        await self._stack.aclose()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise StoreUnavailable("the archive store is closed")
        return self._client

    async def object_lock(self) -> bool:
        """Whether the bucket has Object Lock enabled (asked once, then remembered)."""
        if self._locked is None:
            try:
                answer = await self.client.get_object_lock_configuration(Bucket=self.bucket)
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in ("ObjectLockConfigurationNotFoundError", "NoSuchObjectLockConfiguration",
                            "InvalidRequest"):
                    self._locked = False
                    return False
                raise StoreUnavailable(f"the archive bucket {self.bucket}: {exc}") from exc
            except Exception as exc:  # connection refused, timeouts: the store is not there
                raise StoreUnavailable(f"the archive store: {exc}") from exc
            conf = answer.get("ObjectLockConfiguration", {})
            self._locked = conf.get("ObjectLockEnabled") == "Enabled"
        return self._locked

    async def put(self, key: str, body: bytes, sha256_hex: str, now: float) -> Copy:
        """Store `body` under `key` (full key), checked by the store against `sha256_hex`."""
        checksum = base64.b64encode(bytes.fromhex(sha256_hex)).decode()
        # AWS takes an Object Lock PUT only with Content-MD5 or the SDK checksum algorithm.
        headers = {"x-amz-checksum-sha256": checksum, "x-amz-sdk-checksum-algorithm": "SHA256"}
        retain_until: float | None = None
        if await self.object_lock():
            retain_until = now + self.settings.lock_days * 86400
            headers["x-amz-object-lock-mode"] = "COMPLIANCE"
            headers["x-amz-object-lock-retain-until-date"] = datetime.datetime.fromtimestamp(
                retain_until, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        # Path-style, as the client is configured; keys hold only [A-Za-z0-9._/-] (keys.py).
        url = f"{self._endpoint}/{self.bucket}/{quote(key, safe='/-_.~')}"
        try:
            answer_headers = await self._put(key, url, body, headers, sha256_hex)
        except StoreUnavailable:
            raise
        except Exception as exc:  # connection errors, timeouts, credentials: all "not now"
            raise StoreUnavailable(f"copying {key}: {exc}") from exc
        returned = answer_headers.get("x-amz-checksum-sha256")
        if returned is not None and returned != checksum:
            raise StoreUnavailable(f"the store confirmed {key} with another checksum")
        return Copy(key=key, version=answer_headers.get("x-amz-version-id"), sha256=sha256_hex,
                    size=len(body), retain_until=retain_until)

    async def _put(self, key: str, url: str, body: bytes, headers: dict[str, str],
                   sha256_hex: str) -> dict[str, str]:
        """One signed PUT; the answer's headers (StoreUnavailable for any refusal)."""
        http, session = self._http, self._session
        if http is None or session is None or self._client is None:
            raise StoreUnavailable("the archive store is closed")
        # The session keeps what it found; refreshable credentials renew below.
        credentials = await session.get_credentials()
        if credentials is None:
            raise StoreUnavailable("no credentials for the archive store (AWS_* or a file)")
        frozen = await credentials.get_frozen_credentials()
        request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
        _KnownPayload(frozen, self.settings.region, sha256_hex).add_auth(request)
        # A redirect (another region) is a refusal: the signature names this host.
        async with http.put(url, data=body, headers=dict(request.headers.items()),
                            allow_redirects=False) as answer:
            text = await answer.read()
            if answer.status != 200:
                raise StoreUnavailable(f"the store refused {key}: HTTP {answer.status} "
                                       f"{text[:300].decode(errors='replace')}")
            return {k.lower(): v for k, v in answer.headers.items()}

    def full_key(self, node: str, relative: str) -> str:
        """`<prefix>/<node>/<relative>`."""
        return "/".join(p for p in (self.prefix, node, relative) if p)

    async def keys(self, under: str) -> list[str]:
        """Every object key that starts with `<prefix>/<under>`."""
        start = "/".join(p for p in (self.prefix, under) if p)
        out: list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            async for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                out.extend(str(o["Key"]) for o in page.get("Contents", []))
        except Exception as exc:
            raise StoreUnavailable(f"listing {start}: {exc}") from exc
        return out

    async def get(self, key: str) -> bytes:
        """One object's bytes."""
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=key)
            async with answer["Body"] as stream:
                data: bytes = await stream.read()
        except Exception as exc:
            raise StoreUnavailable(f"reading {key}: {exc}") from exc
        return data
