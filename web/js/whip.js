// A small WHIP (RFC 9725) / WHEP client: one offer, one POST, one answer, no trickle.
//
// The offer is sent only after ICE gathering completes (or a short deadline passes), so the
// node receives every candidate in the SDP and no PATCH round trips are needed on a LAN or
// through TURN. Reconnection policy is the page's job: a client is one attempt, closed for good.

import { ApiError, authHeaders, errorFrom, getIceServers } from "./api.js";

/** Longest wait for ICE gathering before the offer is sent with what has been gathered. */
const GATHER_TIMEOUT_MS = 2000;
/** Longest wait for the node to answer the POST. */
const POST_TIMEOUT_MS = 10000;
/** Longest wait for fresh ICE servers (TURN credentials) before the known ones are used. */
const ICE_SERVERS_TIMEOUT_MS = 3000;
/** Longest wait for the DELETE answer before the connection is closed anyway. */
const DELETE_WAIT_MS = 1500;

/** With no STUN/TURN servers, how long to wait for more UDP host candidates after the first. */
const HOST_SETTLE_MS = 40;

/**
 * Resolve when ICE gathering is complete, or after `timeoutMs`. Without STUN/TURN servers only
 * host candidates can appear; all UDP ones arrive within milliseconds, while Chromium takes
 * another ~110 ms to finish with an active-TCP candidate the node cannot use. So in that case,
 * resolve shortly after the first UDP candidate. This saves that time on each side of a Go Live.
 */
function waitForGathering(pc, timeoutMs, { hostOnly = false } = {}) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    let settle = 0;
    const done = () => {
      clearTimeout(timer);
      clearTimeout(settle);
      pc.removeEventListener("icegatheringstatechange", check);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const onCandidate = (ev) => {
      const c = ev.candidate;
      if (hostOnly && c && / udp /i.test(c.candidate) && c.candidate.includes(" typ host")) {
        clearTimeout(settle);
        settle = setTimeout(done, HOST_SETTLE_MS);
      }
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/**
 * One WHIP publication or WHEP subscription.
 *
 *   const c = new WhipClient({ endpoint: "/whip", iceServers, onState });
 *   await c.publish(stream);           // or: const stream = await c.view();
 *   await c.stop();                    // DELETE the resource and close the connection
 *
 * `onState(connectionState, client)` reports the RTCPeerConnection's connectionState.
 */
export class WhipClient {
  constructor({ endpoint, iceServers = [], onState = () => {} }) {
    this.endpoint = endpoint;
    this.iceServers = iceServers;
    this.onState = onState;
    /** Absolute URL of the created resource (from the Location header), once known. */
    this.resource = null;
    this.pc = null;
    /** The evidence session the node records this publication in (WHIP answer header). */
    this.session = null;
    this.closed = false;
    this._abort = new AbortController();
  }

  get state() {
    return this.closed ? "closed" : this.pc ? this.pc.connectionState : "new";
  }

  _createPc() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers, bundlePolicy: "max-bundle" });
    pc.addEventListener("connectionstatechange", () => {
      if (!this.closed) this.onState(pc.connectionState, this);
    });
    this.pc = pc;
    return pc;
  }

  /**
   * TURN credentials expire, so every attempt asks the node for fresh ones; the list given
   * to the constructor stays in use when the node cannot say.
   */
  async _freshIceServers() {
    try {
      // A link that hangs must not hold up the attempt: the POST has its own deadline.
      const late = new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), ICE_SERVERS_TIMEOUT_MS));
      const fresh = await Promise.race([getIceServers(), late]);
      if (Array.isArray(fresh.ice_servers)) this.iceServers = fresh.ice_servers;
    } catch {
      /* keep the configured servers */
    }
    this._checkOpen();
  }

  /** Publish every track of `stream` (sendonly). Resolves once the answer is applied. */
  async publish(stream) {
    await this._freshIceServers();
    const pc = this._createPc();
    for (const kind of ["audio", "video"]) {
      const track = stream.getTracks().find((t) => t.kind === kind);
      if (track) pc.addTransceiver(track, { direction: "sendonly", streams: [stream] });
    }
    await this._negotiate();
  }

  /** Subscribe (recvonly audio + video). Resolves to the MediaStream the tracks arrive on. */
  async view() {
    await this._freshIceServers();
    const pc = this._createPc();
    const stream = new MediaStream();
    pc.addEventListener("track", (ev) => {
      if (!stream.getTracks().includes(ev.track)) stream.addTrack(ev.track);
    });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.addTransceiver("video", { direction: "recvonly" });
    await this._negotiate();
    return stream;
  }

  async _negotiate() {
    const pc = this.pc;
    try {
      const gathered = waitForGathering(pc, GATHER_TIMEOUT_MS, { hostOnly: !this.iceServers.length });
      await pc.setLocalDescription(await pc.createOffer());
      await gathered;
      this._checkOpen();

      const timeout = setTimeout(() => this._abort.abort(new DOMException("timeout", "TimeoutError")), POST_TIMEOUT_MS);
      let resp;
      try {
        resp = await fetch(this.endpoint, {
          method: "POST",
          headers: authHeaders({ "Content-Type": "application/sdp" }),
          body: pc.localDescription.sdp,
          signal: this._abort.signal,
        });
      } catch (err) {
        this._checkOpen();
        throw new ApiError(0, "network", "Cannot reach the server.");
      } finally {
        clearTimeout(timeout);
      }
      if (!resp.ok) throw await errorFrom(resp);

      // The node names the evidence session (the same one again on a reconnect within grace),
      // so photos, pre-event and gap fill can be linked to it.
      this.session = resp.headers.get("Fieldrelay-Session") || null;
      const location = resp.headers.get("Location");
      if (location) this.resource = new URL(location, new URL(this.endpoint, window.location.href)).href;
      const answer = await resp.text();
      this._checkOpen();
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  _checkOpen() {
    if (this.closed) throw new ApiError(0, "aborted", "Stopped.");
  }

  /**
   * Close the connection and DELETE the resource (idempotent). `{release: false}` keeps the
   * server-side resource, e.g. so a reconnect continues the same stream.
   */
  async stop({ release = true } = {}) {
    if (this.closed) return;
    this.closed = true;
    this._abort.abort(new DOMException("stopped", "AbortError"));
    const resource = release ? this.resource : null;
    this.resource = null;
    if (resource) {
      // DELETE before closing the connection: the node then sees a deliberate end, not a
      // dropped connection (which it would hold open for a reconnect). keepalive lets the
      // request finish even while the page unloads; an unreachable node does not hold us up.
      const deleted = fetch(resource, { method: "DELETE", headers: authHeaders(), keepalive: true })
        .catch(() => {});
      await Promise.race([deleted, new Promise((r) => setTimeout(r, DELETE_WAIT_MS))]);
    }
    try {
      this.pc?.close();
    } catch {
      /* already closed */
    }
  }
}
