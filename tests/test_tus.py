"""The tus header parsing (pure): metadata pairs, counts and versions, against the protocol's
own examples and hostile input."""

from __future__ import annotations

import base64
import hashlib

import pytest

from fieldrelay import tus
from fieldrelay.errors import BadRequest


def test_metadata_pairs_decode_as_the_protocol_example_says() -> None:
    # tus 1.0.0, "Upload-Metadata": the example header and its values.
    header = "filename d29ybGRfZG9taW5hdGlvbl9wbGFuLnBkZg==,is_confidential"
    assert tus.parse_metadata(header) == {"filename": "world_domination_plan.pdf",
                                          "is_confidential": ""}
    assert tus.parse_metadata(None) == {} and tus.parse_metadata("  ") == {}
    meta = {"kind": "photo", "note": "Tür, Straße 7 — €", "empty": ""}
    assert tus.parse_metadata(tus.encode_metadata(meta)) == meta


@pytest.mark.parametrize("header", [
    "kind !!!",                                   # not base64
    "kind cGhvdG8",                               # base64 without its padding
    "kind " + base64.b64encode(b"\xff\xfe").decode(),  # not UTF-8
    "kind cGhvdG8= extra",                        # three parts
    "ki/nd cGhvdG8=",                             # a key with a slash
    "kind cGhvdG8=,kind YXVkaW8=",                # a key twice
    ",".join(f"k{i}" for i in range(tus.MAX_METADATA_PAIRS + 1)),
    "k " + "A" * (tus.MAX_METADATA_BYTES + 4),
    " , ",
])
def test_hostile_metadata_is_refused(header: str) -> None:
    with pytest.raises(BadRequest):
        tus.parse_metadata(header)


@pytest.mark.parametrize("value", [None, "", "-1", "1.5", "0x10", "\uff11\uff12", "1" * 21, " 7 8"])
def test_counts_are_plain_non_negative_integers(value: str | None) -> None:
    with pytest.raises(BadRequest):
        tus.parse_count("Upload-Offset", value)


def test_counts_versions_and_headers() -> None:
    assert tus.parse_count("Upload-Length", " 1048576 ") == 1 << 20
    with pytest.raises(BadRequest):
        tus.parse_count("Upload-Length", "11", limit=10)
    tus.check_version("1.0.0")
    for other in (None, "0.2.2", "1.0"):
        with pytest.raises(tus.VersionUnsupported) as caught:
            tus.check_version(other)
        assert caught.value.status == 412
    assert tus.offset_headers(5, 10) == {"Tus-Resumable": "1.0.0", "Upload-Offset": "5",
                                         "Cache-Control": "no-store", "Upload-Length": "10"}
    found = tus.discovery_headers(99)
    assert found["Tus-Version"] == "1.0.0" and found["Tus-Max-Size"] == "99"
    assert found["Tus-Extension"].split(",")[:2] == ["creation", "termination"]
    assert tus.expires_header(0) == "Thu, 01 Jan 1970 00:00:00 GMT"


def test_a_body_checksum_names_its_algorithm_and_a_digest_of_its_length() -> None:
    digest = hashlib.sha1(b"hello").digest()
    header = "sha1 " + base64.b64encode(digest).decode()
    assert tus.parse_checksum(header) == ("sha1", digest)
    assert tus.parse_checksum(None) is None
    for bad in ("sha1", "crc32 AAAA", "sha1 !!!", "sha256 " + base64.b64encode(digest).decode(),
                "sha1 " + base64.b64encode(digest).decode() + " x"):
        with pytest.raises(BadRequest):
            tus.parse_checksum(bad)
    assert tus.discovery_headers(1)["Tus-Checksum-Algorithm"] == "sha1,sha256,md5"
