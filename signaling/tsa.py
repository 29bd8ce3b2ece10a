"""An RFC 3161 time-stamping authority as a witness of checkpoints (`--tsa-url`).

The request's message imprint is the SHA-256 of the checkpoint's canonical form, which is the
checkpoint's `hash`; the token (the DER TimeStampResp) is kept beside the checkpoint. The
RFC 3161 messages are built and read by `rfc3161-client`.
"""

from __future__ import annotations

import aiohttp
from rfc3161_client import HashAlgorithm, TimestampRequestBuilder, decode_timestamp_response

QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
MAX_REPLY_BYTES = 64 * 1024
TIMEOUT_S = 10.0
# PKIStatus granted and grantedWithMods.
GRANTED = (0, 1)


class TimeStamper:
    """Asks one TSA for a token over each checkpoint."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def stamp(self, body: bytes) -> bytes:
        """The TSA's token (DER TimeStampResp) over SHA-256(`body`); ValueError when the TSA
        refuses or answers with a token for something else, OSError when it is unreachable."""
        request = (TimestampRequestBuilder().data(body).hash_algorithm(HashAlgorithm.SHA256)
                   .nonce(nonce=True).cert_request(cert_request=True).build())
        timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.post(
                    self.url, data=request.as_bytes(),
                    headers={"Content-Type": QUERY_TYPE}) as response:
                if response.status != 200:
                    raise ValueError(f"the TSA answered {response.status}")
                reply = await response.content.read(MAX_REPLY_BYTES + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise OSError(f"the TSA {self.url} cannot be reached: {exc}") from None
        if len(reply) > MAX_REPLY_BYTES:
            raise ValueError("the TSA's answer is too large")
        decoded = decode_timestamp_response(reply)
        if decoded.status not in GRANTED:
            raise ValueError(f"the TSA refused: status {decoded.status}")
        imprint = decoded.tst_info.message_imprint.message
        if imprint != request.message_imprint.message:
            raise ValueError("the TSA stamped another hash than the checkpoint's")
        if decoded.tst_info.nonce != request.nonce:
            raise ValueError("the TSA's answer is for another request (nonce)")
        return reply
