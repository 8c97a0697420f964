// Controllers: keyboard (RetroArch-like defaults, remappable, kept in localStorage), gamepads (the
// standard mapping, one port per pad) and touch buttons. Every change of a port's state is sent as
// one sequence-numbered message carrying the whole state, so a lost or repeated one does no harm.

// libretro RETRO_DEVICE_ID_JOYPAD_* bits
export const BUTTONS = { B: 0, Y: 1, SELECT: 2, START: 3, UP: 4, DOWN: 5, LEFT: 6, RIGHT: 7, A: 8, X: 9,
                         L: 10, R: 11, L2: 12, R2: 13, L3: 14, R3: 15 };

export const DEFAULT_KEYS = {
  ArrowUp: "UP", ArrowDown: "DOWN", ArrowLeft: "LEFT", ArrowRight: "RIGHT",
  KeyX: "A", KeyZ: "B", KeyS: "X", KeyA: "Y", KeyQ: "L", KeyW: "R",
  Enter: "START", ShiftRight: "SELECT", ShiftLeft: "SELECT",
};

// Gamepad API standard mapping -> libretro (face buttons by position: bottom = B, right = A, ...)
const STANDARD = ["B", "A", "Y", "X", "L", "R", "L2", "R2", "SELECT", "START", "L3", "R3",
                  "UP", "DOWN", "LEFT", "RIGHT"];
const STICK_THRESHOLD = 0.5;
const STICK_DEAD_ZONE = 0.05;

// Gamepad API axes (-1..1, y down) to libretro's int16, in steps of 1/64 so a resting stick's noise
// does not send a message every poll.
function quantizeAxis(value) {
  if (Math.abs(value) < STICK_DEAD_ZONE) return 0;
  return Math.max(-32767, Math.min(32767, Math.round(value * 64) * 512));
}
const STORAGE_KEY = "treazr.keys";

export function loadKeymap() {
  try {
    const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
    if (saved && typeof saved === "object") return saved;
  } catch (_) { /* unreadable: defaults */ }
  return { ...DEFAULT_KEYS };
}

export function saveKeymap(map) { localStorage.setItem(STORAGE_KEY, JSON.stringify(map)); }

export class Controllers {
  // send(port, buttons, axes) is called for every change; ports() lists the ports this viewer holds.
  constructor(send, ports) {
    this.send = send;
    this.ports = ports;
    this.keymap = loadKeymap();
    this.keyboard = 0;
    this.touch = 0;
    this.pads = new Map(); // gamepad index -> {buttons, axes}
    this.sent = new Map(); // port -> last mask sent
    this.capture = null; // remapping: a function that takes the next key
    this.polling = false;
  }

  attach(target, touchRoot) {
    target.addEventListener("keydown", (event) => this.key(event, true));
    target.addEventListener("keyup", (event) => this.key(event, false));
    target.addEventListener("blur", () => { this.keyboard = 0; this.flush(); });
    if (touchRoot) this.attachTouch(touchRoot);
    addEventListener("gamepadconnected", () => this.startPolling());
    this.startPolling();
  }

  key(event, down) {
    if (this.capture && down) {
      event.preventDefault();
      this.capture(event.code);
      this.capture = null;
      return;
    }
    const name = this.keymap[event.code];
    if (!name || event.target.closest?.("input, select, textarea, dialog")) return;
    event.preventDefault();
    const bit = 1 << BUTTONS[name];
    this.keyboard = down ? this.keyboard | bit : this.keyboard & ~bit;
    this.flush();
  }

  attachTouch(root) {
    const held = new Map(); // pointerId -> bit
    const update = () => {
      this.touch = 0;
      for (const bit of held.values()) this.touch |= bit;
      for (const button of root.querySelectorAll("[data-button]")) {
        button.classList.toggle("held", [...held.values()].includes(1 << Number(button.dataset.button)));
      }
      this.flush();
    };
    root.addEventListener("pointerdown", (event) => {
      const button = event.target.closest("[data-button]");
      if (!button) return;
      event.preventDefault();
      try { button.setPointerCapture(event.pointerId); } catch (_) { /* not an active pointer */ }
      held.set(event.pointerId, 1 << Number(button.dataset.button));
      update();
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture"]) {
      root.addEventListener(type, (event) => { if (held.delete(event.pointerId)) update(); });
    }
    root.addEventListener("contextmenu", (event) => event.preventDefault());
  }

  startPolling() {
    if (this.polling) return;
    this.polling = true;
    const poll = () => {
      this.pollPads();
      requestAnimationFrame(poll);
    };
    requestAnimationFrame(poll);
    setInterval(() => this.pollPads(), 8); // rAF stops in background tabs and lags in some browsers
  }

  pollPads() {
    const pads = navigator.getGamepads ? navigator.getGamepads() : [];
    let changed = false;
    const connected = [...pads].filter((pad) => pad && pad.connected);
    const seen = new Set();
    connected.forEach((pad, order) => {
      seen.add(order);
      let mask = 0;
      STANDARD.forEach((name, index) => {
        const button = pad.buttons[index];
        if (button && (button.pressed || button.value > 0.5)) mask |= 1 << BUTTONS[name];
      });
      const [x = 0, y = 0] = pad.axes;
      if (x < -STICK_THRESHOLD) mask |= 1 << BUTTONS.LEFT;
      if (x > STICK_THRESHOLD) mask |= 1 << BUTTONS.RIGHT;
      if (y < -STICK_THRESHOLD) mask |= 1 << BUTTONS.UP;
      if (y > STICK_THRESHOLD) mask |= 1 << BUTTONS.DOWN;
      const axes = pad.axes.slice(0, 4).map(quantizeAxis);
      const previous = this.pads.get(order);
      if (!previous || previous.buttons !== mask || previous.axes.join() !== axes.join()) changed = true;
      this.pads.set(order, { buttons: mask, axes });
    });
    for (const order of [...this.pads.keys()]) {
      if (!seen.has(order)) { this.pads.delete(order); changed = true; }
    }
    if (changed) this.flush();
  }

  // The first pad shares the first port with the keyboard and the touch buttons.
  flush() {
    const ports = this.ports();
    ports.forEach((port, slot) => {
      const pad = this.pads.get(slot);
      let mask = pad ? pad.buttons : 0;
      if (slot === 0) mask |= this.keyboard | this.touch;
      const axes = pad ? pad.axes : [];
      const state = `${mask}|${axes.join()}`;
      if (this.sent.get(port) !== state) {
        this.sent.set(port, state);
        this.send(port, mask, axes);
      }
    });
  }

  resend() {
    this.sent.clear();
    this.flush();
  }
}
