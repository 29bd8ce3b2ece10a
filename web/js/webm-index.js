// An index of a WebM byte stream as MediaRecorder writes it, read as it grows: where the
// header ends, where each Cluster starts, its time, and whether its first video frame is a
// keyframe. With it the page cuts a playable file out of a long recording without decoding:
// the header bytes followed by whole clusters from a keyframe on (gap fill, pre-event).
//
// Pure: bytes in, numbers out. Only the elements needed are read; everything else is skipped
// by its size, so memory stays a few bytes whatever the stream's length.

const ID = {
  EBML: 0x1a45dfa3,
  Segment: 0x18538067,
  Info: 0x1549a966,
  TimecodeScale: 0x2ad7b1,
  Tracks: 0x1654ae6b,
  TrackEntry: 0xae,
  TrackNumber: 0xd7,
  TrackType: 0x83,
  Cluster: 0x1f43b675,
  Timecode: 0xe7,
  SimpleBlock: 0xa3,
};
/** Elements whose children are read rather than skipped. */
const ENTER = new Set([ID.Segment, ID.Info, ID.Tracks, ID.TrackEntry, ID.Cluster]);
/** Elements whose value (an unsigned integer) is read. */
const UINT = new Set([ID.TimecodeScale, ID.TrackNumber, ID.TrackType, ID.Timecode]);
const VIDEO = 1;

/** Length of a variable-size integer from its first byte (0 when invalid). */
function vintLength(first) {
  for (let i = 0; i < 8; i++) if (first & (0x80 >> i)) return i + 1;
  return 0;
}

export class WebmIndex {
  constructor() {
    this.pending = new Uint8Array(0);
    /** Absolute offset of pending[0]. */
    this.offset = 0;
    this.skip = 0;
    /** Byte length of everything before the first Cluster, once known. */
    this.headerEnd = null;
    /** Nanoseconds per Timecode unit (Matroska default: 1 ms). */
    this.timecodeScale = 1000000;
    this.videoTracks = new Set();
    this.track = null;
    /** [{offset, ms, key}] in stream order; `key` null until the first video frame is seen. */
    this.clusters = [];
    this.broken = false;
  }

  /** Total bytes seen. */
  get length() {
    return this.offset + this.pending.length;
  }

  /** Feed the next bytes of the stream. */
  push(bytes) {
    if (this.broken) return;
    const joined = new Uint8Array(this.pending.length + bytes.length);
    joined.set(this.pending);
    joined.set(bytes, this.pending.length);
    this.pending = joined;
    let pos = 0;
    for (;;) {
      if (this.skip) {
        const n = Math.min(this.skip, this.pending.length - pos);
        this.skip -= n;
        pos += n;
        if (this.skip) break;
      }
      const used = this.element(pos);
      if (used === 0) break;
      pos += used;
    }
    this.offset += pos;
    this.pending = this.pending.slice(pos);
  }

  /** Read one element header at `pos`; returns bytes consumed, 0 when more are needed. */
  element(pos) {
    const buf = this.pending;
    if (pos >= buf.length) return 0;
    const idLen = vintLength(buf[pos]);
    if (!idLen || idLen > 4) {
      this.broken = true;
      return 0;
    }
    if (pos + idLen >= buf.length) return 0;
    const sizeLen = vintLength(buf[pos + idLen]);
    if (!sizeLen) {
      this.broken = true;
      return 0;
    }
    if (pos + idLen + sizeLen > buf.length) return 0;
    let id = 0;
    for (let i = 0; i < idLen; i++) id = id * 256 + buf[pos + i];
    let size = buf[pos + idLen] & (0xff >> sizeLen);
    let unknown = size === (0xff >> sizeLen);
    for (let i = 1; i < sizeLen; i++) {
      const b = buf[pos + idLen + i];
      size = size * 256 + b;
      if (b !== 0xff) unknown = false;
    }
    const head = idLen + sizeLen;
    const at = this.offset + pos;
    if (id === ID.Cluster) {
      if (this.headerEnd === null) this.headerEnd = at;
      this.clusters.push({ offset: at, ms: null, key: null });
      return head;
    }
    if (ENTER.has(id) || unknown) {
      if (id === ID.TrackEntry) this.track = { number: null, type: null };
      return head;
    }
    if (UINT.has(id)) {
      if (pos + head + size > buf.length) return 0;
      let v = 0;
      for (let i = 0; i < size; i++) v = v * 256 + buf[pos + head + i];
      this.value(id, v);
      return head + size;
    }
    if (id === ID.SimpleBlock) {
      // track number (a vint, in practice one byte), 16-bit relative time, flags
      const cluster = this.clusters[this.clusters.length - 1];
      if (cluster && cluster.key === null) {
        if (pos + head + 4 > buf.length) return 0;
        const tLen = vintLength(buf[pos + head]);
        if (tLen !== 1) {
          this.skip = size;
          return head;
        }
        const track = buf[pos + head] & 0x7f;
        if (this.videoTracks.has(track)) cluster.key = (buf[pos + head + 3] & 0x80) !== 0;
      }
      this.skip = size;
      return head;
    }
    this.skip = size;
    return head;
  }

  value(id, v) {
    if (id === ID.TimecodeScale) this.timecodeScale = v;
    else if (id === ID.Timecode) {
      const cluster = this.clusters[this.clusters.length - 1];
      if (cluster) cluster.ms = (v * this.timecodeScale) / 1e6;
    } else if (this.track) {
      if (id === ID.TrackNumber) this.track.number = v;
      if (id === ID.TrackType) this.track.type = v;
      if (this.track.type === VIDEO && this.track.number !== null) this.videoTracks.add(this.track.number);
    }
  }

  /** Forget clusters before `offset` (the caller dropped those bytes). */
  dropBefore(offset) {
    this.clusters = this.clusters.filter((c) => c.offset >= offset);
  }
}
