// How the officer's phone steps its media down and up for a weak uplink. Pure functions, no DOM,
// no WebRTC: adapt.js reads the sender statistics into samples and applies the step it is told.
//
// Steps, in the order they are taken when the link shrinks (and undone in reverse):
//   0 full video → 1 lower bitrate → 2 lower resolution → 3 lower frame rate →
//   4 audio only (a still photo every few seconds; voice and GPS continue).
// Down is quick (the link is failing now: voice and the SOS must not queue behind video);
// up is slow and grows slower after each step up that failed (hysteresis: no flapping).

/** The media of each step. `video: null` stops the camera's track from being sent. */
export const STEPS = Object.freeze([
  { name: "full", label: "", video: { maxBitrate: 900_000, scaleResolutionDownBy: 1, maxFramerate: 30 }, audioBitrate: null },
  { name: "bitrate", label: "Weak signal: lower quality", video: { maxBitrate: 300_000, scaleResolutionDownBy: 1, maxFramerate: 30 }, audioBitrate: null },
  { name: "resolution", label: "Weak signal: lower resolution", video: { maxBitrate: 150_000, scaleResolutionDownBy: 2, maxFramerate: 20 }, audioBitrate: 24_000 },
  { name: "framerate", label: "Weak signal: low frame rate", video: { maxBitrate: 60_000, scaleResolutionDownBy: 4, maxFramerate: 6 }, audioBitrate: 16_000 },
  { name: "audio", label: "Weak signal: audio only", video: null, audioBitrate: 12_000 },
]);
export const AUDIO_ONLY = STEPS.length - 1;

/** Uplink (bits/s) each step needs: its video, its voice with redundancy, and the headers. */
export const NEED_BPS = Object.freeze([700_000, 360_000, 200_000, 110_000, 0]);

export const TUNING = Object.freeze({
  /** A step down needs the link bad for this long (two samples)… */
  downAfterMs: 1000,
  /** …and the step before it to have had this long to take effect. */
  settleMs: 1500,
  /** The link must be good this long before a step up; doubled after each failed step up. */
  upAfterMs: 3000,
  upAfterMaxMs: 6000,
  /** A step up that turns bad within this long counts as failed. */
  failWithinMs: 8000,
  /** Past this long without a failed step up, the wait goes back to upAfterMs. */
  forgiveMs: 30000,
  /** Bad: loss or round trip beyond these (5 % random loss alone is not congestion). */
  badLoss: 0.15,
  badRttS: 0.6,
  /** Good: loss and round trip below these. */
  goodLoss: 0.1,
  goodRttS: 0.4,
});

/** The state a page starts in. */
export function initialState(now = 0) {
  return { step: 0, badSince: null, goodSince: null, changedAt: now, upWaitMs: TUNING.upAfterMs, upAt: null, failedAt: null };
}

/**
 * One sample of the sender statistics:
 *   { at: ms, availableBps: number|null, loss: 0..1|null, rttS: number|null, limited: bool }
 * `limited`: the video encoder says the bandwidth limits it (qualityLimitationReason).
 */
export function isBad(step, s) {
  if (s.availableBps != null && step < AUDIO_ONLY && s.availableBps < NEED_BPS[step] * 0.9) return true;
  if (s.loss != null && s.loss > TUNING.badLoss) return true;
  if (s.rttS != null && s.rttS > TUNING.badRttS) return true;
  return !!s.limited && step < AUDIO_ONLY && s.availableBps != null && s.availableBps < NEED_BPS[step];
}

export function isGood(step, s) {
  if (step === 0) return false;
  if (s.loss != null && s.loss >= TUNING.goodLoss) return false;
  if (s.rttS != null && s.rttS >= TUNING.goodRttS) return false;
  if (s.limited) return false;
  // Audio only sends no video to estimate with: the step up to video is itself the probe.
  if (step === AUDIO_ONLY || s.availableBps == null) return true;
  return s.availableBps >= NEED_BPS[step - 1];
}

/** The lowest step (most media) the available bitrate carries. */
function stepFor(availableBps) {
  for (let i = 0; i < AUDIO_ONLY; i++) if (availableBps >= NEED_BPS[i]) return i;
  return AUDIO_ONLY;
}

/**
 * The next state for one sample: `{ state, changed }`. Steps down at once to what the estimate
 * carries (or one step when only loss or delay says so); steps up one at a time.
 */
export function decide(state, s) {
  const now = s.at;
  const next = { ...state };
  const bad = isBad(state.step, s);
  const good = !bad && isGood(state.step, s);
  next.badSince = bad ? (state.badSince ?? now) : null;
  next.goodSince = good ? (state.goodSince ?? now) : null;
  if (state.failedAt != null && now - state.failedAt > TUNING.forgiveMs) {
    next.upWaitMs = TUNING.upAfterMs;
    next.failedAt = null;
  }

  if (bad && state.step < AUDIO_ONLY && now - next.badSince >= TUNING.downAfterMs - 1
      && now - state.changedAt >= TUNING.settleMs) {
    let step = state.step + 1;
    if (s.availableBps != null) step = Math.max(step, stepFor(s.availableBps * 0.9));
    step = Math.min(step, AUDIO_ONLY);
    if (state.upAt != null && now - state.upAt <= TUNING.failWithinMs) {
      // The last step up did not hold: wait longer before the next one.
      next.upWaitMs = Math.min(state.upWaitMs * 2, TUNING.upAfterMaxMs);
      next.failedAt = now;
    }
    return { state: { ...next, step, changedAt: now, badSince: null, goodSince: null, upAt: null }, changed: true };
  }
  if (good && now - next.goodSince >= next.upWaitMs - 1 && now - state.changedAt >= TUNING.settleMs) {
    return { state: { ...next, step: state.step - 1, changedAt: now, badSince: null, goodSince: null, upAt: now }, changed: true };
  }
  return { state: next, changed: false };
}
