// The H.264 decoder, in a Worker so decoding never competes with input handling on the page.
// Annex B chunks in (no `description`: SPS/PPS travel in band with every IDR), VideoFrames out:
// each decoded frame is transferred to the page, which draws it and closes it.

let decoder = null;
let config = null;
let waitingForKey = true;
const pending = new Map(); // chunk timestamp -> {frameNo, submitted}

function fail(message, tell = true) {
  waitingForKey = true;
  pending.clear();
  if (tell) postMessage({ type: "need-key", message });
  if (decoder && decoder.state !== "closed") {
    try { decoder.close(); } catch (_) { /* already closed */ }
  }
  decoder = null;
}

function open() {
  decoder = new VideoDecoder({
    output(frame) {
      const info = pending.get(frame.timestamp);
      pending.delete(frame.timestamp);
      const decodeMs = info ? performance.now() - info.submitted : 0;
      postMessage({ type: "frame", frame, frameNo: info ? info.frameNo : -1, decodeMs }, [frame]);
    },
    error(error) { fail(String(error && error.message || error)); },
  });
  decoder.configure({ codec: config.codec, optimizeForLatency: true, hardwareAcceleration: "no-preference" });
}

function chunk(message) {
  if (!config) return;
  if (waitingForKey && !message.key) return; // a decoder can only start at an IDR
  if (!decoder || decoder.state === "closed") open();
  waitingForKey = false;
  pending.set(message.timestamp, { frameNo: message.frameNo, submitted: performance.now() });
  if (pending.size > 120) pending.delete(pending.keys().next().value); // frames the decoder dropped
  try {
    decoder.decode(new EncodedVideoChunk({
      type: message.key ? "key" : "delta", timestamp: message.timestamp, data: message.data,
    }));
  } catch (error) {
    fail(String(error && error.message || error));
  }
}

onmessage = (event) => {
  const message = event.data;
  if (message.type === "configure") {
    const changed = !config || config.codec !== message.config.codec
      || config.coded_width !== message.config.coded_width || config.coded_height !== message.config.coded_height;
    config = message.config;
    if (changed && decoder) { try { decoder.close(); } catch (_) { /* closed */ } decoder = null; }
    if (changed) waitingForKey = true;
  } else if (message.type === "chunk") {
    chunk(message);
  } else if (message.type === "reset") {
    fail("reset", false); // a new connection: the server sends an IDR to every viewer that joins
  }
};
