// How the officer's phone steps its media down and up for a weak uplink. Pure functions, no DOM,
// no WebRTC: adapt.js reads the sender statistics into samples and applies the step it is told.
//
// Steps, in the order they are taken when the link shrinks (and undone in reverse):
//   0 full video → 1 lower bitrate → 2 lower resolution → 3 lower frame rate →
//   4 audio only (a still photo every few seconds; voice and GPS continue).
// Down is quick (the link is failing now: voice and the SOS must not queue behind video);
// up is slow and grows slower after each step up that failed (hysteresis: no flapping).

/** The media of each step. `video: null` stops the camera's track from being sent.
 * The voice goes with RED (each packet also carries the one before) and 20 ms packets' headers:
 * on the wire it costs about twice its bitrate plus 28 kbit/s, so 16 kbit/s is 60 kbit/s and
 * 12 kbit/s 52 kbit/s. The lower steps keep it below a 64 kbit/s uplink, so that the step a
 * shrinking link finds the page in is not already more than the link carries in voice alone. */
export const STEPS = Object.freeze([
  { name: "full", label: "", video: { maxBitrate: 900_000, scaleResolutionDownBy: 1, maxFramerate: 30 }, audioBitrate: null },
  { name: "bitrate", label: "Weak signal: lower quality", video: { maxBitrate: 300_000, scaleResolutionDownBy: 1, maxFramerate: 30 }, audioBitrate: null },
  { name: "resolution", label: "Weak signal: lower resolution", video: { maxBitrate: 150_000, scaleResolutionDownBy: 2, maxFramerate: 20 }, audioBitrate: 16_000 },
  { name: "framerate", label: "Weak signal: low frame rate", video: { maxBitrate: 60_000, scaleResolutionDownBy: 4, maxFramerate: 6 }, audioBitrate: 12_000 },
  { name: "audio", label: "Weak signal: audio only", video: null, audioBitrate: 12_000 },
]);
export const AUDIO_ONLY = STEPS.length - 1;

/** Uplink (bits/s) each step needs: its video, its voice with redundancy, and the headers. */
export const NEED_BPS = Object.freeze([700_000, 360_000, 200_000, 110_000, 0]);

export const TUNING = Object.freeze({
  /** A step down needs the link bad for this long (two samples)… */
  downAfterMs: 1000,
  /** …and the step before it to have had this long to take effect. */
  settleMs: 1000,
  /** The link must be good this long before a step up; doubled after each failed step up,
   * up to upAfterMaxMs (upToVideoMaxMs for the step from audio only back to video, so that
   * video comes back within seconds of the link). */
  upAfterMs: 3000,
  upAfterMaxMs: 20000,
  upToVideoMaxMs: 6000,
  /** A step up that turns bad within this long counts as failed. */
  failWithinMs: 8000,
  /** Past this long without a failed step up, the wait goes back to upAfterMs. */
  forgiveMs: 30000,
  /** Loss is averaged over samples (5 % random loss alone must read as neither bad nor
   * good-enough-to-stop: reports over 50 packets jump around it). */
  lossWeight: 0.25,
  badLoss: 0.2,
  goodLoss: 0.12,
  /** One report losing this share is a full queue, not random loss (at 5 % random loss a
   * report over 25 packets reaches it about once in 7,000): it counts at once, unaveraged. */
  burstLoss: 0.25,
  /** A fall of the bitrate estimate by this share between two samples… */
  estimateFall: 0.3,
  /** …and loss count once the connection is this old. */
  warmUpMs: 6000,
  /** A queue building up shows as round-trip time long before loss. */
  badRttS: 0.45,
  goodRttS: 0.25,
  /** Just after a step up (the probe), a smaller rise already says the link has no room:
   * stepping back before the queue is full loses nothing, only delays a little. */
  probeRttS: 0.2,
  /** The node's own view of the queue (its `uplink` reports, from the voice's arrival times):
   * there within a few packets, where the round trip shows it a second or two late. One bar,
   * probe or not: a link that cannot carry the step passes it within a fraction of a second,
   * while a busy phone's hiccup (a keyframe encoded in software) stays under it. */
  badQueueS: 0.12,
  /** A queue this long says the step is far from what the link carries: straight to what the
   * estimate still carries, as for a round trip past badRttS. */
  deepQueueS: 0.25,
  /** A queue that grew by this much since the last sample still overflows whatever step the
   * page is at: the next step down goes at once, without waiting for the last to settle. */
  queueGrowthS: 0.05,
});

/** The state a page starts in. */
export function initialState(now = 0) {
  return { step: 0, startedAt: now, badSince: null, goodSince: null, changedAt: now, upWaitMs: TUNING.upAfterMs, upAt: null, failedAt: null, loss: null, available: null, queueS: null };
}

/**
 * One sample of the sender statistics:
 *   { at: ms, availableBps: number|null, loss: 0..1|null, rttS: number|null, limited: bool,
 *     queueS: number|null }
 * `queueS`: the queue the node last reported on this uplink, while its report is fresh (null:
 * no report, which the node sends only while there is a queue).
 * `nodeSees`: the node has reported a queue on this page's uplink, so it measures it and its
 * silence says there is none now (see roundTrip).
 * `limited`: the video encoder says the bandwidth limits it (qualityLimitationReason; read,
 * not acted on).
 * `state.loss` is the running average the decision reads.
 */
export function isBad(state, s) {
  // A queue (round trip) and loss beyond the random kind say congestion. The bitrate estimate
  // counts only when it falls, and below what the step needs: a low estimate on its own may
  // be stale (with a few per cent of random loss the browser's loss-based estimate never
  // grows back), but a fall is the first sign of a link that just shrank.
  if (estimateFell(state, s)) return true;
  // The first reports of a connection cover a handful of packets: their loss means little.
  const warm = s.at - state.startedAt >= TUNING.warmUpMs;
  if (warm && state.loss != null && state.loss > TUNING.badLoss) return true;
  return linkFull(state, s);
}

/** The link is full now: a queue, or (past the warm-up) one report that lost a quarter of the
 * voice. Unlike the averaged loss, this steps down at once. */
export function linkFull(state, s) {
  const warm = s.at - state.startedAt >= TUNING.warmUpMs;
  return queued(state, s) || (warm && s.loss != null && s.loss >= TUNING.burstLoss);
}

/**
 * The round trip the decision reads: none once the node measures the uplink. A round trip is
 * only as fresh as the sender report it answers; with the voice alone (a report every few
 * seconds) it still read a drained queue 4-5 s later and held video back that long. The node's
 * view comes from every voice packet, so it replaces the round trip, and before the node's
 * first report the round trip is all the page has.
 */
export function roundTrip(s) {
  return s.nodeSees ? null : s.rttS;
}

/** The uplink holds a queue: the node says so, or the round trip is past what the link
 * carries without one (past less just after a step up). A queue is no noise: the step goes down
 * at the first sample that shows it, before the queue overflows into the voice. */
export function queued(state, s) {
  if (s.queueS != null && s.queueS > TUNING.badQueueS) return true;
  const rtt = roundTrip(s);
  if (rtt == null) return false;
  const probing = state.upAt != null && s.at - state.upAt <= TUNING.failWithinMs;
  return rtt > (probing ? TUNING.probeRttS : TUNING.badRttS);
}

/** The estimate just fell from what the step needs to below it: step down now, not after a
 * while. (Not in the first seconds of a connection, while the estimate finds its feet.) */
export function estimateFell(state, s) {
  return s.availableBps != null && state.available != null && state.step < AUDIO_ONLY
    && s.at - state.startedAt >= TUNING.warmUpMs
    && s.availableBps < state.available * (1 - TUNING.estimateFall)
    && state.available >= NEED_BPS[state.step] && s.availableBps < NEED_BPS[state.step];
}

export function isGood(state, s) {
  const { step } = state;
  if (step === 0) return false;
  if (state.loss != null && state.loss >= TUNING.goodLoss) return false;
  if (s.queueS != null && s.queueS > TUNING.badQueueS) return false;
  // Not `limited`: the encoder held back by the estimate says little once the page caps its
  // bitrate, since the estimate then grows only as far as what is sent; the step up is the
  // probe, and a queue after it steps back.
  const rtt = roundTrip(s);
  return rtt == null || rtt < TUNING.goodRttS;
}

/** The lowest step (most media) the available bitrate carries. */
function stepFor(availableBps) {
  for (let i = 0; i < AUDIO_ONLY; i++) if (availableBps >= NEED_BPS[i]) return i;
  return AUDIO_ONLY;
}

/**
 * The next state for one sample: `{ state, changed }`. Steps down one step when loss or
 * delay says so (straight to what the estimate carries, when it is low); steps up one at a
 * time, each step up being the probe that shows whether the link has room for it.
 */
export function decide(state, s) {
  const now = s.at;
  const next = { ...state };
  if (s.loss != null) next.loss = state.loss == null ? s.loss : state.loss + TUNING.lossWeight * (s.loss - state.loss);
  const before = { ...next, available: state.available };
  const full = linkFull(before, s);
  const urgent = full || estimateFell(before, s);
  next.queueS = s.queueS ?? null;
  const growing = s.queueS != null && state.queueS != null && s.queueS > state.queueS + TUNING.queueGrowthS;
  const bad = isBad(before, s);
  if (s.availableBps != null) next.available = s.availableBps;
  const good = !bad && isGood(next, s);
  next.badSince = bad ? (state.badSince ?? now) : null;
  next.goodSince = good ? (state.goodSince ?? now) : null;
  if (state.failedAt != null && now - state.failedAt > TUNING.forgiveMs) {
    next.upWaitMs = TUNING.upAfterMs;
    next.failedAt = null;
  }

  // A step down waits for the one before it to take effect (the statistics lag it); a probe
  // that fills the link is taken back at once. (Not on the estimate alone: Chromium's estimate
  // drops for a moment when a sender's video comes back on, whatever the link.)
  // Nor while the node sees the queue still growing: the step taken was not enough.
  const settled = now - state.changedAt >= TUNING.settleMs
    || (full && state.upAt === state.changedAt) || (full && growing);
  if (bad && state.step < AUDIO_ONLY && (urgent || now - next.badSince >= TUNING.downAfterMs - 1) && settled) {
    let step = state.step + 1;
    // A queue is building up: go straight to what the estimate still carries.
    const rtt = roundTrip(s);
    const deep = (rtt != null && rtt > TUNING.badRttS)
      || (s.queueS != null && s.queueS > TUNING.deepQueueS);
    if (deep && s.availableBps != null) {
      step = Math.max(step, stepFor(s.availableBps * 0.9));
    }
    step = Math.min(step, AUDIO_ONLY);
    if (state.upAt != null && now - state.upAt <= TUNING.failWithinMs) {
      // The last step up did not hold: wait longer before the next one.
      next.upWaitMs = state.upWaitMs * 2;
      next.failedAt = now;
    }
    // Still bad after the next settle: the next step follows without a fresh wait.
    return { state: { ...next, step, changedAt: now, goodSince: null, upAt: null }, changed: true };
  }
  const wait = Math.min(next.upWaitMs, state.step === AUDIO_ONLY ? TUNING.upToVideoMaxMs : TUNING.upAfterMaxMs);
  if (good && now - next.goodSince >= wait - 1 && now - state.changedAt >= TUNING.settleMs) {
    return { state: { ...next, step: state.step - 1, changedAt: now, badSince: null, goodSince: null, upAt: now }, changed: true };
  }
  return { state: next, changed: false };
}
