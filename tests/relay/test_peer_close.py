"""Closing a peer connection always ends, and every later close of it returns.

aiortc's close() keeps its progress in one future that every later close() awaits. These
tests stop a first close half-way the ways the node can (a cancelled owner task at shutdown,
a cancelled waiter, a state listener that raises) and check that the peer still ends closed,
that a later close returns, and that the node's shutdown does not wait for ever. Each would
hang on a plain `await pc.close()`; the timeout mark turns that into a failure.
"""

from __future__ import annotations

import asyncio

import pytest
from aiortc import RTCPeerConnection

from fieldrelay.tasks import TaskGroupOwner
from relay import peers
from relay.stream import Publication
from tests.live import LiveNode
from tests.media import Publisher, publish

pytestmark = [pytest.mark.media, pytest.mark.timeout(60)]

# Far more than a close takes on a loaded machine; far less than the test's timeout.
SETTLES_S = 10.0


async def live_publication(node: LiveNode) -> tuple[Publisher, Publication]:
    """A real publisher, connected, and its publication on the node."""
    live = await publish(node.http, node.base, await node.login("o1"))
    publication = next(iter(node.registry.publications.values()))
    for _ in range(int(SETTLES_S / 0.02)):
        if publication.pc.connectionState == "connected":
            return live, publication
        await asyncio.sleep(0.02)
    raise AssertionError(f"the publication did not connect: {publication.pc.connectionState}")


async def close_under_way(pc: RTCPeerConnection) -> None:
    """Return once a close of `pc` has begun and not yet ended (aiortc marks the signaling
    state closed before its first await, and its transports stop turns of the loop later)."""
    while pc.signalingState != "closed":
        await asyncio.sleep(0)
    assert pc.connectionState != "closed", "the close ended before the test could step in"


async def test_a_close_cancelled_half_way_still_ends_and_the_node_shuts_down(
        live_node: LiveNode) -> None:
    # The registry's task owner cancels a `close-<publication>` task at shutdown; a WHIP
    # DELETE handler is cancelled when its node stops.
    live, publication = await live_publication(live_node)
    try:
        closing = asyncio.get_running_loop().create_task(publication.aclose())
        await close_under_way(publication.pc)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        await asyncio.wait_for(publication.pc.close(), SETTLES_S)
        assert publication.pc.connectionState == "closed"
        # The node's shutdown closes the publication again (its stream still holds it).
        await asyncio.wait_for(live_node.registry.aclose(), SETTLES_S)
    finally:
        await live.pc.close()


async def test_a_cancelled_waiter_does_not_break_the_close_under_way(
        live_node: LiveNode) -> None:
    # The `_lost` task waits for the close aiortc starts when the phone ends DTLS; the
    # shutdown cancels that task while the close is still under way.
    live, publication = await live_publication(live_node)
    pc = publication.pc
    try:
        first = asyncio.get_running_loop().create_task(peers.close(pc))
        await close_under_way(pc)
        waiter = asyncio.get_running_loop().create_task(peers.close(pc))
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        await asyncio.wait_for(first, SETTLES_S)
        assert pc.connectionState == "closed"
        await asyncio.wait_for(pc.close(), SETTLES_S)
        await asyncio.wait_for(live_node.registry.aclose(), SETTLES_S)
    finally:
        await live.pc.close()


async def test_a_close_failed_half_way_is_finished_and_a_later_close_returns(
        live_node: LiveNode) -> None:
    # A state listener that raises while the peer closes (here: one whose task owner has
    # already shut down, as a desk's can be) stops aiortc's close() half-way.
    live, publication = await live_publication(live_node)
    pc = publication.pc
    owner = TaskGroupOwner("closed before the peer")
    await owner.aclose()

    @pc.on("connectionstatechange")
    def spawn_on_close() -> None:
        if pc.connectionState == "closed":
            owner.spawn(asyncio.sleep(0), name="too late")

    try:
        await asyncio.wait_for(peers.close(pc), SETTLES_S)
        await asyncio.wait_for(pc.close(), SETTLES_S)
        for transceiver in pc.getTransceivers():
            ice = transceiver.receiver.transport.transport
            # aioice's sockets (one protocol per local candidate) are all closed.
            assert ice.state == "closed" and not ice._connection._protocols
        await asyncio.wait_for(live_node.registry.aclose(), SETTLES_S)
    finally:
        await live.pc.close()
