// Opus packets -> AudioDecoder -> Web Audio, through a small jitter buffer.
//
// Each decoded block is scheduled right after the previous one, about JITTER_S ahead of the audio
// clock. When the schedule drifts (the server's and this device's clocks differ, a network stall,
// a tab in the background) beyond MAX_AHEAD_S or behind the clock, it snaps back to JITTER_S:
// one audible click instead of a growing delay.

const JITTER_S = 0.04;
const MAX_AHEAD_S = 0.12;

export class AudioPlayer {
  constructor() {
    this.context = null;
    this.decoder = null;
    this.nextTime = 0;
    this.packets = 0;
    this.decoded = 0;
    this.resyncs = 0;
    this.errors = 0;
  }

  get suspended() { return !this.context || this.context.state !== "running"; }

  async resume() {
    if (!this.context) this.context = new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
    if (this.context.state !== "running") await this.context.resume();
  }

  configure() {
    if (typeof AudioDecoder === "undefined") return false;
    if (!this.context) this.context = new AudioContext({ sampleRate: 48000, latencyHint: "interactive" });
    this.decoder = new AudioDecoder({
      output: (data) => this.play(data),
      error: () => { this.errors += 1; this.decoder = null; },
    });
    this.decoder.configure({ codec: "opus", sampleRate: 48000, numberOfChannels: 2 });
    return true;
  }

  push(timestampUs, durationUs, payload) {
    this.packets += 1;
    if (!this.decoder || this.decoder.state === "closed") {
      if (!this.configure()) return;
    }
    try {
      this.decoder.decode(new EncodedAudioChunk({ type: "key", timestamp: timestampUs, duration: durationUs,
                                                  data: payload }));
    } catch (_) {
      this.errors += 1;
    }
  }

  play(data) {
    try {
      this.decoded += 1;
      const context = this.context;
      if (!context || context.state !== "running") return;
      const buffer = context.createBuffer(data.numberOfChannels, data.numberOfFrames, data.sampleRate);
      for (let channel = 0; channel < data.numberOfChannels; channel += 1) {
        data.copyTo(buffer.getChannelData(channel), { planeIndex: channel, format: "f32-planar" });
      }
      const now = context.currentTime;
      if (this.nextTime < now || this.nextTime > now + MAX_AHEAD_S) {
        if (this.nextTime !== 0) this.resyncs += 1;
        this.nextTime = now + JITTER_S;
      }
      const source = context.createBufferSource();
      source.buffer = buffer;
      source.connect(context.destination);
      source.start(this.nextTime);
      this.nextTime += buffer.duration;
    } finally {
      data.close();
    }
  }

  reset() {
    if (this.decoder && this.decoder.state !== "closed") {
      try { this.decoder.close(); } catch (_) { /* closed */ }
    }
    this.decoder = null;
    this.nextTime = 0;
  }
}
