"""The cheapest load generator ('blast'): many publishers, or many viewers, in one process, whose
media never goes through aiortc's per-packet Python path.

    python -m bench.blast publishers --url URL --token TOKEN [--target URL TOKEN ...] --media FILE
    python -m bench.blast viewers --url URL --token TOKEN [--target URL TOKEN ...] --count N

Each peer negotiates with real aiortc (WHIP/WHEP, ICE, DTLS-SRTP). Once it is connected, its
media path is taken off aiortc (relay/aiortc_hooks.py `media_path`: the selected pair's UDP
socket and remote address, and the DTLS transport's SRTP sessions, which are C):

- Publishers: the pre-encoded VP8 (bench/clients.py `preencode`) is packetized once (RFC 7741
  payload descriptor, as aiortc's packetizer does) and Opus packets taken as they are; one
  thread sends every publisher's media on time (30 fps, 20 ms; `Pacer`): an RTP header with the
  negotiated SSRC, payload type and header extensions (mid and abs-send-time, as aiortc's sender
  writes them), the VP8 picture id, `protect()` (an SRTP session of the thread's own, same keys:
  `own_tx_srtp`) and one sendmmsg(2) per publisher and wake-up; the thread wakes only on the
  send grids' ticks, audio going out with the next video tick. aiortc still handles what comes
  back (STUN consent checks, RTCP from the node) and sends sender reports, with the clock and
  counts set from here.
- Viewers: one thread reads every viewer's socket (the event loop stops reading them), counts
  RTP from the clear header (frames: marker bits on the video payload type; lost: gaps in the
  video sequence numbers) without decrypting it, counts and drops RTCP, and hands STUN and DTLS
  back to aioice on the event loop, so ICE consent keeps the connection alive.

It prints {"event": "ready"} once media flows (viewers: every viewer counted a video frame),
then answers each `stats` line on stdin with {"t": ..., "publishers"|"viewers": [...]}.
bench/relay_cpu.py starts one publishers process with `--publisher-mode blast` and one viewers
process with `--viewer-mode blast`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import errno
import math
import random
import select
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import HeaderExtensions, HeaderExtensionsMap
from aiortc.sdp import SessionDescription

from bench.clients import _client_setup, _emit, _post_sdp, _serve_stats, load_preencoded
from relay import aiortc_hooks

MAX_PUBLISHERS = 96
MAX_VIEWERS = 300
CONNECT_TIMEOUT_S = 30.0
VIDEO_FPS, VIDEO_TICKS = 30, 3000  # 90 kHz clock
AUDIO_PTIME, AUDIO_TICKS = 0.02, 960  # 48 kHz clock
# aiortc's VP8 packetizer cuts payloads (descriptor included) at 1,300 bytes.
VP8_PAYLOAD_MAX = 1300
VP8_DESCRIPTOR = 4  # X, I bits and a 15-bit picture id: what aiortc's packetizer writes
RECV_BYTES = 2048
# A thread drains at most this many datagrams from one socket before looking at the others.
DRAIN_BATCH = 64
# The viewers' thread sleeps this long after each wake-up (see ViewerPump).
BATCH_S = 0.010
# Sequence numbers remembered per viewer to tell a retransmission from a new packet.
SEQ_WINDOW = 4096
PUMP_JOIN_S = 5.0
# A publisher's datagrams a sendmmsg(2) call (more are sent in several), and room for each.
SEND_SLOTS, SEND_BYTES = 64, 2048
NTP_UNIX_OFFSET_S = 2_208_988_800
# Publishers' send grids, spread over a frame interval (see Pacer).
PHASES = 4
TICK_ROUNDING_S = 1e-6

_libc = ctypes.CDLL(None, use_errno=True)
_sendmmsg = _libc.sendmmsg
_sendmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int]
_sendmmsg.restype = ctypes.c_int


# --- pure: RTP ---------------------------------------------------------------------------------

def vp8_packets(frame: bytes) -> list[tuple[bytes, bytes]]:
    """One VP8 frame as RTP payloads (RFC 7741), each as (first two descriptor bytes, data):
    the picture id (bytes 2-3) is written at send time."""
    chunk = VP8_PAYLOAD_MAX - VP8_DESCRIPTOR
    out = []
    for pos in range(0, len(frame), chunk):
        # X=1 (extension byte follows), S=1 on the frame's first packet, PID 0; then I=1.
        out.append((bytes([0x90 if pos == 0 else 0x80, 0x80]), frame[pos:pos + chunk]))
    return out


def rtp_header(marker: bool, payload_type: int, seq: int, timestamp: int, ssrc: int,
               extension: bytes) -> bytes:
    """A 12-byte RTP header, and `extension` (profile, length and elements) after it."""
    first = 0x90 if extension else 0x80
    return struct.pack("!BBHII", first, (marker << 7) | payload_type, seq & 0xFFFF,
                       timestamp & 0xFFFFFFFF, ssrc) + extension


def header_extension(extensions: HeaderExtensionsMap, values: HeaderExtensions) -> bytes:
    """The negotiated header extension block for these values (b"" if none is negotiated)."""
    profile, value = extensions.set(values)
    return struct.pack("!HH", profile, len(value) >> 2) + value if value else b""


# --- pure: RTP headers counted ---------------------------------------------------------------

@dataclass
class StreamCounter:
    """What one viewer counted from clear RTP headers (written by one thread only).

    Scalars only are read from other threads: `lost` is the span of video sequence numbers seen
    less the number of distinct ones, so nothing is iterated while the thread adds to it.
    """

    video_pts: frozenset[int]
    audio_pts: frozenset[int]
    on_first_frame: Callable[[], None] = lambda: None
    frames: int = 0
    audio: int = 0
    octets: int = 0
    rtcp: int = 0
    distinct: int = 0
    low: int | None = None
    high: int | None = None
    recent: set[int] = field(default_factory=set)

    def on_rtp(self, data: bytes | bytearray, size: int) -> None:
        """Count one RTP packet, the first `size` bytes of `data` (header in the clear)."""
        self.octets += size
        if size < 12:
            return
        pt = data[1] & 0x7F
        if pt in self.audio_pts:
            self.audio += 1
            return
        if pt not in self.video_pts:
            return  # RTX or padding on its own payload type: not a new packet
        seq = (data[2] << 8) | data[3]
        high = self.high
        # Extend the 16-bit number around the highest one seen.
        ext = seq if high is None else high + ((seq - high + 0x8000) & 0xFFFF) - 0x8000
        if ext in self.recent or (high is not None and ext <= high - SEQ_WINDOW):
            return  # a retransmission of a packet already counted
        self.recent.add(ext)
        self.distinct += 1
        if high is None or ext > high:
            self.high = ext
        if self.low is None or ext < self.low:
            self.low = ext
        if len(self.recent) > 2 * SEQ_WINDOW:
            floor = (self.high or 0) - SEQ_WINDOW
            self.recent = {s for s in self.recent if s > floor}
        if data[1] & 0x80:
            self.frames += 1
            if self.frames == 1:
                self.on_first_frame()

    def stats(self) -> dict[str, Any]:
        low, high = self.low, self.high
        span = high - low + 1 if low is not None and high is not None else 0
        return {"frames": self.frames, "audio": self.audio, "bytes": self.octets,
                "lost": span - self.distinct, "rtcp": self.rtcp, "sizes": [[640, 480]]}


# --- sendmmsg(2) --------------------------------------------------------------------------------

class _IoVec(ctypes.Structure):
    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


class _MsgHdr(ctypes.Structure):
    _fields_ = [("msg_name", ctypes.c_void_p), ("msg_namelen", ctypes.c_uint32),
                ("msg_iov", ctypes.c_void_p), ("msg_iovlen", ctypes.c_size_t),
                ("msg_control", ctypes.c_void_p), ("msg_controllen", ctypes.c_size_t),
                ("msg_flags", ctypes.c_int)]


class _MMsgHdr(ctypes.Structure):
    _fields_ = [("msg_hdr", _MsgHdr), ("msg_len", ctypes.c_uint)]


class DatagramSender:
    """Preallocated slots for sendmmsg(2): what one publisher has due in a wake-up goes out in
    one system call (Linux), to one address from one socket."""

    def __init__(self, sock: socket.socket, remote: tuple[str, int],
                 slots: int = SEND_SLOTS) -> None:
        self.slots, self.count, self.errors = slots, 0, 0
        self._fd = sock.fileno()
        self._data = bytearray(slots * SEND_BYTES)
        self._name = bytearray(sockaddr(remote))
        self._iov = (_IoVec * slots)()
        self._msgs = (_MMsgHdr * slots)()
        data = ctypes.addressof(ctypes.c_char.from_buffer(self._data))
        name = ctypes.addressof(ctypes.c_char.from_buffer(self._name))
        for i in range(slots):
            self._iov[i].iov_base = data + i * SEND_BYTES
            hdr = self._msgs[i].msg_hdr
            hdr.msg_name, hdr.msg_namelen = name, len(self._name)
            hdr.msg_iov, hdr.msg_iovlen = ctypes.addressof(self._iov[i]), 1
        self._msgs_at = ctypes.addressof(self._msgs)
        self._lengths = np.frombuffer(memoryview(self._iov).cast("B"), np.uint64).reshape(
            slots, 2)[:, 1]

    def add(self, datagram: bytes) -> None:
        """Queue one datagram (sent by `flush`, or now if every slot is taken)."""
        if len(datagram) > SEND_BYTES:
            raise ValueError(f"a datagram of {len(datagram)} bytes")
        if self.count == self.slots:
            self.flush()
        at = self.count * SEND_BYTES
        self._data[at:at + len(datagram)] = datagram
        self._lengths[self.count] = len(datagram)
        self.count += 1

    def flush(self) -> None:
        """Send what is queued; what the socket refuses (a full buffer: EAGAIN) is lost, as
        on a wire, and counted in `errors`."""
        sent, size = 0, ctypes.sizeof(_MMsgHdr)
        while sent < self.count:
            n = _sendmmsg(self._fd, self._msgs_at + sent * size, self.count - sent,
                          socket.MSG_DONTWAIT)
            if n <= 0:
                err = ctypes.get_errno()
                if n < 0 and err == errno.EINTR:
                    continue
                self.errors += self.count - sent
                break
            sent += n
        self.count = 0


def sockaddr(address: tuple[str, int]) -> bytes:
    """struct sockaddr_in (or sockaddr_in6) for an IP address and port."""
    host, port = address[0], address[1]
    if ":" in host:
        return (struct.pack("=H", socket.AF_INET6) + struct.pack("!HI", port, 0)
                + socket.inet_pton(socket.AF_INET6, host) + bytes(4))
    return (struct.pack("=H", socket.AF_INET) + struct.pack("!H", port)
            + socket.inet_pton(socket.AF_INET, host) + bytes(8))


# --- negotiation -------------------------------------------------------------------------------

class _Silent(MediaStreamTrack):
    """A track that never yields: the sender negotiates SSRC, RTX and RTCP and starts its
    loop, which waits here for ever, so aiortc makes no encoder and sends no RTP itself."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    async def recv(self) -> Any:
        await asyncio.Event().wait()  # cancelled when the sender stops
        raise MediaStreamError


async def _connect(pc: RTCPeerConnection, url: str, token: str,
                   ready: list[asyncio.Event]) -> str:
    """Offer, POST (WHIP/WHEP), answer; wait until connected and every `ready` is set."""
    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def on_state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    answer = await _post_sdp(url, token, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer, type="answer"))
    async with asyncio.timeout(CONNECT_TIMEOUT_S):
        for event in (connected, *ready):
            await event.wait()
    return answer


# --- publishers --------------------------------------------------------------------------------

def abs_send_time(unix_time: float) -> int:
    """abs-send-time (6.18 fixed-point seconds, mod 64 s) as aiortc's sender writes it from
    NTP time; the NTP epoch is 2,208,988,800 s (a multiple of 64) before Unix's, so Unix time
    gives the same value."""
    return int(unix_time * (1 << 18)) & 0xFFFFFF


def ntp_time(unix_time: float) -> int:
    """64-bit NTP time (for RTCP sender reports)."""
    return int((unix_time + NTP_UNIX_OFFSET_S) * (1 << 32))


@dataclass
class _Outbound:
    """One sender's RTP numbering and header extension block, as negotiated."""

    sender: RTCRtpSender
    payload_type: int
    ssrc: int
    template: bytes  # the extension block, abs-send-time 0
    abs_at: int  # where abs-send-time's 3 bytes are in it (-1: not negotiated)
    seq: int = field(default_factory=lambda: random.randint(0, 0xFFFF))
    origin: int = field(default_factory=lambda: random.getrandbits(32))

    @classmethod
    def of(cls, sender: RTCRtpSender, params: RTCRtpSendParameters) -> _Outbound:
        extensions = HeaderExtensionsMap()
        extensions.configure(params)
        pt = params.codecs[0].payloadType
        assert pt is not None
        # aiortc's sender writes mid and abs-send-time (and the audio level, which pre-encoded
        # packets do not have); the block is built once, abs-send-time patched per frame.
        zero, ones = (header_extension(extensions, HeaderExtensions(
            mid=params.muxId, abs_send_time=t)) for t in (0, 0xFFFFFF))
        changed = [i for i, (a, b) in enumerate(zip(zero, ones, strict=True)) if a != b]
        return cls(sender, pt, aiortc_hooks.sender_ssrcs(sender)[0], zero,
                   changed[0] if changed else -1)

    def extension(self, unix_time: float) -> bytes:
        at = self.abs_at
        if at < 0:
            return self.template
        return (self.template[:at] + abs_send_time(unix_time).to_bytes(3, "big")
                + self.template[at + 3:])


@dataclass
class Media:
    """The pre-encoded loop, packetized once."""

    video: list[list[tuple[bytes, bytes]]]
    audio: list[bytes]

    @classmethod
    def load(cls, path: Path) -> Media:
        frames, opus = load_preencoded(path)
        return cls([vp8_packets(f) for f in frames], opus)


class BlastPublisher:
    """One WHIP publisher whose RTP is written, encrypted and sent from here (see `Pacer`)."""

    def __init__(self, pc: RTCPeerConnection, path: aiortc_hooks.MediaPath,
                 video: _Outbound, audio: _Outbound, media: Media) -> None:
        self.pc, self.path, self.video, self.audio, self.media = pc, path, video, audio, media
        # The pacer's thread encrypts with a session of its own (aiortc's is the loop's).
        self.srtp = aiortc_hooks.own_tx_srtp(pc)
        # Positions on the pacer's grid (frame k is due at epoch + k / 30 s, audio packet m at
        # epoch + m * 20 ms): every publisher of the process sends in the same wake-ups.
        self.epoch = time.monotonic()
        self.video_first = self.video_next = 0
        self.audio_first = self.audio_next = 0
        self.video_bytes = 0
        self.out = DatagramSender(path.sock, path.remote)

    def join(self, epoch: float, now: float) -> None:
        """Start sending at the grid's next slots (the loop's first frame is a keyframe)."""
        self.epoch = epoch
        self.video_first = self.video_next = math.ceil((now - epoch) * VIDEO_FPS)
        self.audio_first = self.audio_next = math.ceil((now - epoch) / AUDIO_PTIME)

    @property
    def frames(self) -> int:
        """Video frames sent."""
        return self.video_next - self.video_first

    def _send(self, out: _Outbound, marker: bool, timestamp: int, extension: bytes,
              payload: bytes) -> int:
        data = rtp_header(marker, out.payload_type, out.seq, timestamp, out.ssrc,
                          extension) + payload
        out.seq = (out.seq + 1) & 0xFFFF
        self.out.add(self.srtp.protect(data))
        return len(payload)

    @property
    def send_errors(self) -> int:
        """Datagrams the socket refused (lost, as on a wire)."""
        return self.out.errors

    def send_due(self, now: float) -> float:
        """Send every video frame and audio packet due by `now`; return when the next is due."""
        wall = time.time()
        video_due = self.epoch + self.video_next / VIDEO_FPS
        while video_due <= now:
            n = self.frames
            packets = self.media.video[n % len(self.media.video)]
            timestamp = self.video.origin + n * VIDEO_TICKS
            extension = self.video.extension(wall)
            picture_id = struct.pack("!H", 0x8000 | (n & 0x7FFF))
            octets = 0
            for i, (head, body) in enumerate(packets):
                octets += self._send(self.video, i == len(packets) - 1, timestamp, extension,
                                     head + picture_id + body)
            self.video_bytes += octets
            aiortc_hooks.note_sent_batch(self.video.sender, len(packets), octets,
                                         ntp_time(wall), timestamp & 0xFFFFFFFF)
            self.video_next += 1
            video_due = self.epoch + self.video_next / VIDEO_FPS
        audio_due = self.epoch + self.audio_next * AUDIO_PTIME
        while audio_due <= now:
            m = self.audio_next - self.audio_first
            timestamp = self.audio.origin + m * AUDIO_TICKS
            # aiortc marks every audio packet (the last payload of its frame).
            octets = self._send(self.audio, True, timestamp, self.audio.extension(wall),
                                self.media.audio[m % len(self.media.audio)])
            aiortc_hooks.note_sent_batch(self.audio.sender, 1, octets, ntp_time(wall),
                                         timestamp & 0xFFFFFFFF)
            self.audio_next += 1
            audio_due = self.epoch + self.audio_next * AUDIO_PTIME
        self.out.flush()
        return min(video_due, audio_due)

    def stats(self) -> dict[str, Any]:
        # first_frame_t: time.monotonic() (system-wide) when the first video frame was due.
        return {"frames": self.frames, "audio": self.audio_next - self.audio_first,
                "video_bytes": self.video_bytes,
                "first_frame_t": self.epoch + self.video_first / VIDEO_FPS,
                "send_errors": self.send_errors}


async def open_publisher(url: str, token: str, media: Media) -> BlastPublisher:
    """Negotiate one WHIP publisher (VP8 + Opus) with aiortc; its media is sent by a Pacer."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        params: dict[str, tuple[RTCRtpSender, RTCRtpSendParameters]] = {}
        started = {"audio": asyncio.Event(), "video": asyncio.Event()}
        for kind in ("audio", "video"):
            transceiver = pc.addTransceiver(_Silent(kind), direction="sendonly")
            if kind == "video":
                caps = RTCRtpSender.getCapabilities("video")
                transceiver.setCodecPreferences(
                    [c for c in caps.codecs if c.mimeType in ("video/VP8", "video/rtx")])

            def on_params(p: RTCRtpSendParameters, kind: str = kind,
                          sender: RTCRtpSender = transceiver.sender) -> None:
                params[kind] = (sender, p)
                started[kind].set()

            aiortc_hooks.on_send_parameters(transceiver.sender, on_params)
        await _connect(pc, url, token, list(started.values()))
        path = aiortc_hooks.media_path(pc)
        return BlastPublisher(pc, path, _Outbound.of(*params["video"]),
                              _Outbound.of(*params["audio"]), media)
    except BaseException:
        await aiortc_hooks.close_peer(pc)
        raise


class Pacer:
    """Sends every publisher's media on time from one thread (owned here: `aclose` joins it).

    A thread, not a task: a wake-up of the event loop (timer, future, task step, two polls)
    cost several times a thread's sleep, and there are up to 70 per grid a second. The thread
    encrypts with SRTP sessions of its own and updates the senders' report counters (ints the
    loop only reads).

    Publishers are spread over `phases` grids of send times, a frame interval apart divided by
    `phases` (publisher k on grid k mod phases): phones are not in step, and a node that got
    every publisher's frame at the same instant would queue them (more latency) and handle them
    in fewer wake-ups (less CPU).

    The thread wakes only on those grids' ticks, 30 x `phases` times a second however many
    publishers there are (absolute deadlines: no drift), and each publisher sends at a tick
    what is due by then: video on time, audio up to one tick late (8.3 ms at 4 phases) instead
    of a wake-up of its own. Wake-ups, not packets, were most of the thread's cost: timed
    alone the send path is 7.8 us a packet, and the thread used about four times that in a run
    when it woke for audio and video apart (up to 70 times a second a grid); ticks only cut
    its CPU by a quarter (BENCHMARKS.md, "blast"). Why a wake-up costs that much on the shared
    cores was not measured apart.
    """

    def __init__(self, phases: int = 1) -> None:
        # Replaced, never changed in place: the thread reads whichever list is current.
        self.publishers: list[BlastPublisher] = []
        self._epoch = time.monotonic()
        self._phases = max(1, phases)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: Exception | None = None
        self.wakeups = 0

    def add(self, publisher: BlastPublisher) -> None:
        phase = len(self.publishers) % self._phases
        publisher.join(self._epoch + phase / (VIDEO_FPS * self._phases), time.monotonic())
        self.publishers = [*self.publishers, publisher]
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="blast-pacer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        tick = 1 / (VIDEO_FPS * self._phases)
        try:
            n = math.ceil((time.monotonic() - self._epoch) / tick)
            while not self._stop.is_set():
                at = self._epoch + n * tick
                # A plain sleep to the deadline: less work a wake-up than an Event's wait.
                time.sleep(max(0.0, at - time.monotonic()))
                self.wakeups += 1
                for publisher in self.publishers:
                    # Grid times are sums of floats: what is due at this tick, rounding aside.
                    publisher.send_due(at + TICK_ROUNDING_S)
                # Late by more than a tick (a stall): go on from now, what was due is sent.
                n = max(n + 1, math.floor((time.monotonic() - self._epoch) / tick))
        except Exception as exc:  # kept for stats(), which then fails: the owner sees it
            self.error = exc

    async def aclose(self) -> None:
        """Stop sending and join the thread (idempotent); the connections stay their owner's."""
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, PUMP_JOIN_S)


async def run_publishers(targets: list[tuple[str, str]], media_path: Path, phases: int) -> None:
    media = Media.load(media_path)
    pacer = Pacer(phases)
    publishers: list[BlastPublisher] = []
    try:
        for url, token in targets:
            publisher = await open_publisher(url, token, media)
            publishers.append(publisher)
            pacer.add(publisher)
        _emit({"event": "ready"})

        async def stats() -> dict[str, Any]:
            if pacer.error is not None:
                raise RuntimeError("the publishers' thread failed") from pacer.error
            return {"t": time.monotonic(), "publishers": [p.stats() for p in publishers]}

        await _serve_stats(stats)
    finally:
        await pacer.aclose()
        for publisher in publishers:
            await aiortc_hooks.close_peer(publisher.pc)


# --- viewers -----------------------------------------------------------------------------------

class ViewerPump:
    """One thread that reads every viewer socket of the process (owned here: `aclose` joins it).

    It counts RTP from the clear header, counts and drops RTCP, and hands STUN (first byte
    0..3) and DTLS (20..63) back to aioice on the event loop. After each wake-up it sleeps
    BATCH_S, so that the next one finds several datagrams waiting instead of one: the counts
    are a few milliseconds late, and a socket's buffer holds far more than that.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._poll = select.epoll()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._pending: list[tuple[aiortc_hooks.MediaPath, StreamCounter]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="blast-viewers", daemon=True)
        self.handed_back = 0
        self.error: Exception | None = None
        self._buffer = bytearray(RECV_BYTES)  # the thread's only
        self._thread.start()

    def add(self, path: aiortc_hooks.MediaPath, counter: StreamCounter) -> None:
        """Take this viewer's socket from the event loop (call on the loop)."""
        path.take_reading()  # datagrams wait in the kernel until the thread registers it
        with self._lock:
            self._pending.append((path, counter))
        self._wake_w.send(b"\0")

    def _run(self) -> None:
        try:
            wake = self._wake_r.fileno()
            self._poll.register(wake, select.EPOLLIN)
            viewers: dict[int, tuple[socket.socket, aiortc_hooks.MediaPath, StreamCounter]] = {}
            while not self._stop.is_set():
                ready = self._poll.poll(0.5)
                for fd, _ in ready:
                    if fd == wake:
                        self._take_pending(viewers)
                    else:
                        self._drain(fd, viewers)
                if ready:
                    time.sleep(BATCH_S)
        except Exception as exc:  # kept for stats(), which then fails: the owner sees it
            self.error = exc

    def _take_pending(
            self, viewers: dict[int, tuple[socket.socket, aiortc_hooks.MediaPath, StreamCounter]]
    ) -> None:
        with contextlib.suppress(BlockingIOError):
            while self._wake_r.recv(512):
                pass
        with self._lock:
            pending, self._pending = self._pending, []
        for path, counter in pending:
            fd = path.sock.fileno()
            viewers[fd] = (path.sock, path, counter)
            self._poll.register(fd, select.EPOLLIN)

    def _drain(self, fd: int,
               viewers: dict[int, tuple[socket.socket, aiortc_hooks.MediaPath, StreamCounter]]
               ) -> None:
        sock, path, counter = viewers[fd]
        on_rtp, buf = counter.on_rtp, self._buffer
        for _ in range(DRAIN_BATCH):
            try:
                size, addr = sock.recvfrom_into(buf)  # no bytes object per RTP packet
            except BlockingIOError:
                return
            except OSError:  # closed under us: the peer is going away
                with contextlib.suppress(OSError, ValueError):
                    self._poll.unregister(fd)
                del viewers[fd]
                return
            first = buf[0] if size else 255
            if 128 <= first < 192:
                if 192 <= buf[1] <= 223:  # RTCP (RFC 5761)
                    counter.rtcp += 1
                else:
                    on_rtp(buf, size)
            elif first < 4 or 20 <= first < 64:
                self.handed_back += 1
                self._loop.call_soon_threadsafe(path.deliver, bytes(buf[:size]), addr)

    async def aclose(self) -> None:
        """Stop and join the thread (idempotent); sockets stay their connections'."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"\0")
        await asyncio.to_thread(self._thread.join, PUMP_JOIN_S)
        if not self._thread.is_alive():
            self._poll.close()
            self._wake_r.close()
            self._wake_w.close()


@dataclass
class BlastViewer:
    pc: RTCPeerConnection
    counter: StreamCounter
    first: asyncio.Event


async def open_viewer(url: str, token: str, pump: ViewerPump) -> BlastViewer:
    """Negotiate one WHEP viewer with aiortc, then give its socket to `pump`."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        for kind in ("audio", "video"):
            pc.addTransceiver(kind, direction="recvonly")
        answer = await _connect(pc, url, token, [])
        video: set[int] = set()
        audio: set[int] = set()
        for media in SessionDescription.parse(answer).media:
            for codec in media.rtp.codecs:
                if codec.payloadType is None or codec.mimeType.lower().endswith("/rtx"):
                    continue
                (video if media.kind == "video" else audio).add(codec.payloadType)
        loop = asyncio.get_running_loop()
        first = asyncio.Event()

        def on_first_frame() -> None:  # on the pump's thread
            loop.call_soon_threadsafe(first.set)

        counter = StreamCounter(frozenset(video), frozenset(audio), on_first_frame)
        pump.add(aiortc_hooks.media_path(pc), counter)
        return BlastViewer(pc, counter, first)
    except BaseException:
        await aiortc_hooks.close_peer(pc)
        raise


async def run_viewers(targets: list[tuple[str, str]], count: int) -> None:
    pump = ViewerPump(asyncio.get_running_loop())
    viewers: list[BlastViewer] = []
    try:
        for url, token in targets:
            for _ in range(count):
                viewers.append(await open_viewer(url, token, pump))
        async with asyncio.timeout(60):
            for viewer in viewers:
                await viewer.first.wait()
        _emit({"event": "ready"})

        async def stats() -> dict[str, Any]:
            if pump.error is not None:
                raise RuntimeError("the viewers' thread failed") from pump.error
            return {"t": time.monotonic(), "viewers": [v.counter.stats() for v in viewers]}

        await _serve_stats(stats)
    finally:
        await pump.aclose()
        for viewer in viewers:
            await aiortc_hooks.close_peer(viewer.pc)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("role", choices=("publishers", "viewers"))
    p.add_argument("--url", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--target", nargs=2, action="append", default=[], metavar=("URL", "TOKEN"),
                   help="another publisher (WHIP) or publication to view (WHEP)")
    p.add_argument("--media", type=Path, help="publishers: pre-encoded media (bench.clients)")
    p.add_argument("--count", type=int, default=3, help="viewers per target")
    p.add_argument("--phases", type=int, default=PHASES,
                   help="publishers: grids of send times, spread over a frame interval "
                        "(1: every publisher's frames go out together)")
    a = p.parse_args()
    targets = [(a.url, a.token), *[(u, t) for u, t in a.target]]
    if a.role == "publishers":
        if a.media is None or not 1 <= len(targets) <= MAX_PUBLISHERS:
            p.error(f"publishers need --media and 1..{MAX_PUBLISHERS} targets")
    elif not 1 <= a.count * len(targets) <= MAX_VIEWERS:
        p.error(f"1..{MAX_VIEWERS} viewers in all")
    _client_setup()
    if a.role == "publishers":
        asyncio.run(run_publishers(targets, a.media, a.phases))
    else:
        asyncio.run(run_viewers(targets, a.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
