// The player page: starts or rejoins a play session, keeps its WebSocket alive (reconnecting with
// exponential backoff into the same session), routes packets to the video and audio players, and
// sends controller input. `window.treazrPlayer.stats()` returns the numbers of the stats overlay.

import { AudioPlayer } from "/static/player/audio.js";
import { Controllers, DEFAULT_KEYS, BUTTONS, saveKeymap } from "/static/player/input.js";
import { VideoPlayer } from "/static/player/video.js";
import { Together, openShare } from "/static/player/together.js";

const PROTOCOL = 1;
const KIND_VIDEO = 1, KIND_AUDIO = 2, KIND_INPUT_ACK = 3, KIND_INPUT = 16;
const CLOSE_RELOAD = 4000, CLOSE_ENDED = 4001, CLOSE_REVOKED = 4003, CLOSE_MOVED = 4004, CLOSE_NOT_FOUND = 4404;
const CLOSE_FULL = 4429; // too many viewers: reconnecting at once would only be refused again
const FINAL_CLOSES = new Set([CLOSE_RELOAD, CLOSE_ENDED, CLOSE_REVOKED, CLOSE_MOVED, CLOSE_NOT_FOUND, CLOSE_FULL]);
const HIGH_444 = "avc1.F4001F";

const root = document.getElementById("player");
const messageBox = document.getElementById("message");
const banner = document.getElementById("banner");
const statsBox = document.getElementById("stats");
const soundButton = document.getElementById("sound");

function say(text, isError = false) {
  messageBox.textContent = text;
  messageBox.classList.toggle("error", isError);
}

// A passing note ("Saved to Slot 1.") clears itself, but never a message that replaced it meanwhile
// (the game ending a second later must stay on screen).
function sayBriefly(text, ms) {
  say(text);
  setTimeout(() => { if (messageBox.textContent === text) say(""); }, ms);
}

function percentile(values, p) {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function supports444() {
  if (typeof VideoDecoder === "undefined") return false;
  try {
    const answer = await VideoDecoder.isConfigSupported({ codec: HIGH_444, optimizeForLatency: true });
    return answer.supported === true;
  } catch (_) {
    return false;
  }
}

class Player {
  constructor() {
    this.token = root.dataset.token;
    this.gameId = Number(root.dataset.gameId);
    this.chroma444 = false;
    this.socket = null;
    this.lastHeard = 0;
    this.attempt = 0;
    this.ended = false;
    this.ports = [];
    this.seq = 0;
    this.paused = false;
    this.sentInputs = []; // [seq, performance.now()] not yet seen on screen
    this.ackedSeq = -1;
    this.ackFrames = new Map(); // frameNo -> seq reflected by that frame
    this.inputLatency = [];
    this.unreported = [];
    this.rtt = [];
    this.bytes = [];
    this.frameTimes = [];
    this.counters = { video: 0, audio: 0, keyframes: 0, reconnects: 0, errors: 0, lastError: "" };
    this.video = new VideoPlayer(document.getElementById("screen-canvas"), root.dataset.decoderWorker,
                                 (frameNo) => this.frameShown(frameNo), (why) => this.needKey(why));
    this.audio = new AudioPlayer();
    this.controllers = new Controllers((port, mask, axes) => this.sendInput(port, mask, axes), () => this.ports);
    this.together = new Together(root, (type, fields) => this.command(type, fields));
    this.chatSeen = [];
    this.notice = "";
    this.saveError = ""; // the worker could not write the battery save (a full disk): shown until it can
  }

  showBanner() {
    const lines = [];
    if (this.saveError) lines.push(`Your game is not being saved: ${this.saveError}`);
    if (this.degraded) lines.push("The server is falling behind: frames are late");
    banner.hidden = lines.length === 0;
    banner.textContent = lines.join(" · ");
    banner.classList.toggle("error", !!this.saveError);
  }

  async start() {
    if (typeof VideoDecoder === "undefined" || typeof EncodedVideoChunk === "undefined") {
      say("This browser cannot play Treazr games: it has no WebCodecs video decoder. Try a current Chrome, Edge or Safari.", true);
      return;
    }
    this.chroma444 = await supports444();
    if (!this.token) {
      const response = await fetch("/api/play/sessions", {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ game_id: this.gameId, chroma: this.chroma444 ? "444" : "420" }),
      });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        say(body.error || `The game could not start (HTTP ${response.status}).`, true);
        if (body.oldest_session) this.offerToEnd(body.oldest_session);
        return;
      }
      this.token = body.session.token;
      this.notice = body.session.notice || ""; // e.g. a saved state that did not fit: the game started fresh
      history.replaceState(null, "", `/play/${this.token}`);
    }
    this.controllers.attach(window, document.getElementById("touch"));
    this.connect();
    setInterval(() => this.heartbeat(), 1000);
    setInterval(() => this.renderStats(), 500);
    addEventListener("resize", () => this.video.fit());
    document.addEventListener("fullscreenchange", () => this.video.fit());
  }

  // One person may run only a few games at once: offer to end their oldest and start this one.
  offerToEnd(oldest) {
    const button = document.createElement("button");
    button.type = "button";
    button.id = "end-oldest";
    button.className = "button small";
    button.textContent = `End ${oldest.title} and play this`;
    button.addEventListener("click", async () => {
      button.disabled = true;
      say(`Ending ${oldest.title}…`);
      const ended = await fetch(`/api/play/sessions/${encodeURIComponent(oldest.token)}/end`, { method: "POST" });
      if (!ended.ok && ended.status !== 404) { // 404: it ended meanwhile, which is as good
        const body = await ended.json().catch(() => ({}));
        say(body.error || `${oldest.title} could not be ended (HTTP ${ended.status}).`, true);
        return;
      }
      say("Starting the game…");
      this.start();
    }, { once: true });
    messageBox.append(" ", button);
  }

  // -- connection ----------------------------------------------------------------------------
  connect() {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${location.host}/api/play/sessions/${this.token}/ws`);
    socket.binaryType = "arraybuffer";
    this.socket = socket;
    socket.onopen = () => {
      socket.send(JSON.stringify({ type: "hello", protocol: PROTOCOL, chroma444: this.chroma444,
                                   device: navigator.userAgent.slice(0, 80) }));
    };
    this.lastHeard = performance.now();
    socket.onmessage = (event) => {
      this.lastHeard = performance.now();
      if (typeof event.data === "string") this.control(JSON.parse(event.data));
      else this.binary(event.data);
    };
    socket.onclose = (event) => this.closed(event);
  }

  closed(event) {
    if (event.target !== this.socket) return; // an older socket this page already gave up on
    this.socket = null;
    if (this.ended) return;
    if (FINAL_CLOSES.has(event.code)) {
      this.ended = true;
      const why = { [CLOSE_RELOAD]: "Treazr was updated: reload the page to keep playing.",
                    [CLOSE_ENDED]: `The game has ended${event.reason ? `: ${event.reason}` : "."}`,
                    [CLOSE_REVOKED]: "You were signed out.",
                    [CLOSE_MOVED]: "This game moved to your other device. Reload this page to play here again.",
                    [CLOSE_NOT_FOUND]: "This game is not running any more." }[event.code];
      say(why, event.code !== CLOSE_ENDED);
      return;
    }
    this.attempt += 1;
    this.counters.reconnects += 1;
    const delay = Math.min(8000, 250 * 2 ** (this.attempt - 1)) * (0.75 + Math.random() / 2);
    say(`Connection lost; reconnecting in ${(delay / 1000).toFixed(1)} s…`);
    setTimeout(() => this.connect(), delay);
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(message);
  }

  heartbeat() {
    // The server answers every ping, even while paused: five silent seconds mean a dead connection
    // that the browser has not noticed yet (a suspended laptop, a changed Wi-Fi), so start over.
    if (this.socket && this.socket.readyState === WebSocket.OPEN && performance.now() - this.lastHeard > 5000) {
      this.socket.close();
      return;
    }
    const inputMs = this.unreported.splice(0, 64);
    this.send(JSON.stringify({ type: "ping", t: performance.now(), input_ms: inputMs }));
  }

  // -- messages ------------------------------------------------------------------------------
  control(message) {
    switch (message.type) {
      case "welcome":
        this.attempt = 0;
        this.ports = message.ports || [];
        this.mayControl = !!message.control;
        this.together.welcome(message);
        this.video.reset();
        this.audio.reset();
        if (message.video) this.video.configure(message.video);
        this.saveError = (message.session && message.session.save_error) || "";
        this.showBanner();
        say(this.notice || "");
        if (this.notice) {
          const shown = this.notice;
          this.notice = "";
          setTimeout(() => { if (messageBox.textContent === shown) say(""); }, 12000);
        }
        this.controllers.resend();
        break;
      case "video_config": this.video.configure(message); break;
      case "rights": // an admin changed this person's role while they played
        this.mayControl = !!message.control;
        this.together.setControl(message.control);
        this.together.render(); // the port list becomes (or stops being) editable
        sayBriefly(message.message, 6000);
        break;
      case "ports":
        this.ports = message.ports || [];
        this.together.setPorts(this.ports);
        this.controllers.resend();
        break;
      case "chat": this.chatSeen.push(message.text); this.together.chat(message); break;
      case "moved": this.ended = true; say(`${message.message} Reload this page to play here again.`, true); break;
      case "state":
        this.together.state(message);
        this.paused = message.paused;
        root.querySelector("[data-action=pause]").textContent = message.paused ? "Resume" : "Pause";
        break;
      case "pong": this.rtt.push(performance.now() - message.t); if (this.rtt.length > 30) this.rtt.shift(); break;
      case "degraded":
        this.degraded = !!message.on;
        this.showBanner();
        break;
      case "save_status":
        this.saveError = message.ok ? "" : message.message;
        this.showBanner();
        if (message.ok) sayBriefly(message.message, 4000);
        break;
      case "saved": sayBriefly(`Saved to ${message.label}.`, 2000); break;
      case "loaded": sayBriefly(`Loaded ${message.label}.`, 2000); break;
      case "ended":
        this.ended = true;
        say(message.warning ? `The game has ended (${message.reason}), but ${message.warning}.`
                            : `The game has ended: ${message.reason}`, !!message.warning);
        break;
      case "error":
        this.counters.errors += 1;
        this.counters.lastError = message.message;
        say(message.message, true);
        if (message.reload) this.ended = true;
        else setTimeout(() => { if (messageBox.textContent === message.message) say(""); }, 6000);
        break;
      default: break;
    }
  }

  binary(buffer) {
    const view = new DataView(buffer);
    const kind = view.getUint8(0);
    this.bytes.push([performance.now(), buffer.byteLength]);
    if (kind === KIND_VIDEO) {
      const key = (view.getUint8(1) & 1) === 1;
      const frameNo = view.getUint32(4);
      const timestamp = view.getFloat64(8);
      this.counters.video += 1;
      if (key) this.counters.keyframes += 1;
      this.video.chunk(key, frameNo, timestamp, buffer.slice(16));
    } else if (kind === KIND_AUDIO) {
      this.counters.audio += 1;
      this.audio.push(view.getFloat64(8), view.getUint32(4), new Uint8Array(buffer, 16));
      if (this.audio.suspended && soundButton.hidden) soundButton.hidden = false;
    } else if (kind === KIND_INPUT_ACK) {
      this.ackFrames.set(view.getUint32(8), view.getUint32(4));
    }
  }

  frameShown(frameNo) {
    const now = performance.now();
    this.frameTimes.push(now);
    const seq = this.ackFrames.get(frameNo);
    if (seq === undefined) return;
    this.ackFrames.delete(frameNo);
    while (this.sentInputs.length && this.sentInputs[0][0] <= seq) {
      const latency = now - this.sentInputs.shift()[1];
      this.inputLatency.push(latency);
      this.unreported.push(Math.round(latency * 10) / 10);
    }
    if (this.inputLatency.length > 200) this.inputLatency.splice(0, this.inputLatency.length - 200);
    if (this.ackFrames.size > 240) this.ackFrames.clear();
  }

  needKey(why) {
    this.counters.lastError = why;
    this.send(JSON.stringify({ type: "keyframe" }));
  }

  sendInput(port, mask, axes) {
    this.seq += 1;
    const message = new DataView(new ArrayBuffer(10 + 2 * axes.length));
    message.setUint8(0, KIND_INPUT);
    message.setUint8(1, port);
    message.setUint8(2, axes.length);
    message.setUint32(4, this.seq);
    message.setUint16(8, mask);
    axes.forEach((value, index) => message.setInt16(10 + 2 * index, value));
    this.send(message.buffer);
    this.sentInputs.push([this.seq, performance.now()]);
    if (this.sentInputs.length > 200) this.sentInputs.shift();
  }

  command(type, fields = {}) { this.send(JSON.stringify({ type, ...fields })); }

  // -- stats ---------------------------------------------------------------------------------
  stats() {
    const now = performance.now();
    this.frameTimes = this.frameTimes.filter((t) => t > now - 1000);
    this.bytes = this.bytes.filter(([t]) => t > now - 1000);
    const decode = this.video.decodeMs;
    return {
      fps: this.frameTimes.length,
      decode_ms: decode.length ? decode.reduce((a, b) => a + b, 0) / decode.length : null,
      bitrate_kbps: this.bytes.reduce((sum, [, size]) => sum + size, 0) * 8 / 1000,
      rtt_ms: percentile(this.rtt, 0.5),
      input_to_frame_ms: percentile(this.inputLatency, 0.5),
      input_to_frame_p95_ms: percentile(this.inputLatency, 0.95),
      frames_drawn: this.video.drawn,
      last_frame_no: this.video.lastFrameNo,
      video_packets: this.counters.video,
      audio_packets: this.counters.audio,
      audio_decoded: this.audio.decoded,
      audio_resyncs: this.audio.resyncs,
      keyframes: this.counters.keyframes,
      reconnects: this.counters.reconnects,
      errors: this.counters.errors,
      last_error: this.counters.lastError,
      chroma: this.video.config ? this.video.config.chroma : null,
      codec: this.video.config ? this.video.config.codec : null,
      scale: this.video.scale,
      connected: !!this.socket && this.socket.readyState === WebSocket.OPEN,
      ports: this.ports,
      control: !!this.mayControl,
      degraded: !!this.degraded,
      chat: this.chatSeen.slice(-20),
      inputs_sent: this.seq,
      token: this.token,
    };
  }

  renderStats() {
    if (statsBox.hidden) return;
    const s = this.stats();
    const fmt = (v, d = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(d));
    statsBox.textContent = [
      `fps ${s.fps}  decode ${fmt(s.decode_ms, 2)} ms`,
      `bitrate ${fmt(s.bitrate_kbps, 0)} kbit/s  rtt ${fmt(s.rtt_ms)} ms`,
      `input→frame ${fmt(s.input_to_frame_ms)} ms (p95 ${fmt(s.input_to_frame_p95_ms)})`,
      `${s.codec || ""} ${s.chroma ? `${s.chroma} ×${s.scale}` : ""}`,
    ].join("\n");
  }
}

function keysDialog(player) {
  const dialog = document.getElementById("keys-dialog");
  const table = document.getElementById("keys-table");
  const render = () => {
    table.replaceChildren();
    for (const name of Object.keys(BUTTONS).filter((n) => !["L3", "R3"].includes(n))) {
      const keys = Object.entries(player.controllers.keymap).filter(([, v]) => v === name).map(([k]) => k);
      const row = table.insertRow();
      row.insertCell().textContent = name;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = keys.join(", ") || "(none)";
      button.addEventListener("click", () => {
        button.classList.add("listening");
        button.textContent = "press a key…";
        player.controllers.capture = (code) => {
          const map = player.controllers.keymap;
          for (const [k, v] of Object.entries(map)) if (v === name) delete map[k];
          map[code] = name;
          saveKeymap(map);
          render();
        };
      });
      row.insertCell().append(button);
    }
  };
  document.getElementById("keys-reset").addEventListener("click", () => {
    player.controllers.keymap = { ...DEFAULT_KEYS };
    saveKeymap(player.controllers.keymap);
    render();
  });
  render();
  dialog.showModal();
}

function wireToolbar(player) {
  const screen = document.getElementById("screen");
  const slot = () => Number(document.getElementById("slot").value);
  const actions = {
    pause: () => player.command(player.paused ? "resume" : "pause"),
    reset: () => player.command("reset"),
    save: () => player.command("save_state", { slot: slot() }),
    load: () => player.command("load_state", { slot: slot() }),
    fullscreen: () => (document.fullscreenElement ? document.exitFullscreen() : screen.requestFullscreen()),
    stats: () => { statsBox.hidden = !statsBox.hidden; player.renderStats(); },
    keys: () => keysDialog(player),
    share: () => openShare(player.token).catch((error) => say(`Could not share: ${error.message}`, true)),
    end: () => { if (confirm("End the game? It is saved so you can continue later.")) player.command("end"); },
  };
  root.querySelector(".toolbar").addEventListener("click", (event) => {
    const button = event.target.closest("[data-action]");
    if (button) actions[button.dataset.action]();
  });
  document.getElementById("share-copy").addEventListener("click", async () => {
    const field = document.getElementById("share-url");
    field.select();
    try { await navigator.clipboard.writeText(field.value); } catch (_) { document.execCommand("copy"); }
  });
  soundButton.addEventListener("click", async () => { await player.audio.resume(); soundButton.hidden = true; });
  if (matchMedia("(pointer: coarse)").matches) document.getElementById("touch").hidden = false;
}

const player = new Player();
window.treazrPlayer = {
  stats: () => player.stats(),
  player,
};
wireToolbar(player);
player.start().then(async () => {
  // Sound needs a user gesture in most browsers; try at once (it works when autoplay is allowed).
  try { await player.audio.resume(); } catch (_) { /* waits for the Tap for sound button */ }
  if (!player.audio.suspended) soundButton.hidden = true;
});
