"""The archive's object store, through the S3 API alone (aiobotocore), so that MinIO, Ceph
RGW and every cloud store take it unchanged.

Each copy carries `x-amz-checksum-sha256` (`ChecksumSHA256`), so the store itself refuses
bytes that differ from the ones hashed on the node, and, where the bucket has Object Lock,
COMPLIANCE retention until the node's retention period has passed. Credentials come from the
standard `AWS_*` variables or an AWS credentials file (never from a flag).
"""

from __future__ import annotations

import base64
import datetime
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from recordings.archive.confirmed import Copy
from recordings.archive.keys import parse_url


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

    async def __aenter__(self) -> ArchiveStore:
        session = AioSession()
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
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client (idempotent)."""
        self._client = None
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
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "Body": body,
                                "ChecksumAlgorithm": "SHA256", "ChecksumSHA256": checksum}
        retain_until: float | None = None
        if await self.object_lock():
            retain_until = now + self.settings.lock_days * 86400
            args["ObjectLockMode"] = "COMPLIANCE"
            args["ObjectLockRetainUntilDate"] = datetime.datetime.fromtimestamp(
                retain_until, datetime.UTC)
        try:
            answer = await self.client.put_object(**args)
        except Exception as exc:  # ClientError, connection errors, timeouts: all "not now"
            raise StoreUnavailable(f"copying {key}: {exc}") from exc
        returned = answer.get("ChecksumSHA256")
        if returned is not None and returned != checksum:
            raise StoreUnavailable(f"the store confirmed {key} with another checksum")
        return Copy(key=key, version=answer.get("VersionId"), sha256=sha256_hex,
                    size=len(body), retain_until=retain_until)

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
