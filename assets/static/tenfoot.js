// 10-foot (TV) mode: bigger layout, arrow keys and a gamepad move the focus between tiles.
//
// Arrow keys move between [data-nav] elements by their position on screen (nearest in that
// direction); a gamepad's d-pad or left stick does the same, A (button 0) activates, B (button 1)
// goes back. Arrow keys never steal typing from inputs and selects.

const KEY = "treazr-tenfoot";
const DIRECTIONS = { ArrowUp: [0, -1], ArrowDown: [0, 1], ArrowLeft: [-1, 0], ArrowRight: [1, 0] };

function centre(rect) {
  return [rect.left + rect.width / 2, rect.top + rect.height / 2];
}

function visible(node) {
  const rect = node.getBoundingClientRect();
  return rect.width > 0 && rect.height > 0 && !node.closest("[hidden]");
}

export function moveFocus(dx, dy) {
  const items = [...document.querySelectorAll("[data-nav], .filters input, .filters select, #tenfoot-toggle")]
    .filter(visible);
  if (!items.length) return false;
  const current = document.activeElement;
  if (!items.includes(current)) {
    items[0].focus();
    return true;
  }
  const [cx, cy] = centre(current.getBoundingClientRect());
  let best = null;
  let bestScore = Infinity;
  for (const item of items) {
    if (item === current) continue;
    const [x, y] = centre(item.getBoundingClientRect());
    const along = (x - cx) * dx + (y - cy) * dy;
    if (along <= 4) continue;
    const across = Math.abs((x - cx) * dy) + Math.abs((y - cy) * dx);
    const score = along + across * 2;
    if (score < bestScore) {
      bestScore = score;
      best = item;
    }
  }
  if (!best) return false;
  best.focus();
  best.scrollIntoView({ block: "nearest", inline: "nearest" });
  return true;
}

function typing(target) {
  return target instanceof HTMLInputElement || target instanceof HTMLSelectElement || target instanceof HTMLTextAreaElement;
}

function onKey(event) {
  const direction = DIRECTIONS[event.key];
  if (!direction || event.altKey || event.ctrlKey || event.metaKey) return;
  if (typing(event.target) && !(event.key === "ArrowDown" && event.target.type === "search")) return;
  if (!document.body.classList.contains("tenfoot") && !event.target.closest?.("[data-nav]")) return;
  if (moveFocus(...direction)) event.preventDefault();
}

function pollGamepads(state) {
  const pads = navigator.getGamepads ? [...navigator.getGamepads()].filter(Boolean) : [];
  for (const pad of pads) {
    const b = (i) => Boolean(pad.buttons[i]?.pressed);
    const x = pad.axes[0] || 0;
    const y = pad.axes[1] || 0;
    const now = { up: b(12) || y < -0.5, down: b(13) || y > 0.5, left: b(14) || x < -0.5, right: b(15) || x > 0.5,
                  a: b(0), back: b(1) };
    const was = state.get(pad.index) || {};
    const pressed = (name) => now[name] && !was[name];
    if (pressed("up")) moveFocus(0, -1);
    if (pressed("down")) moveFocus(0, 1);
    if (pressed("left")) moveFocus(-1, 0);
    if (pressed("right")) moveFocus(1, 0);
    if (pressed("a")) document.activeElement?.click();
    if (pressed("back") && history.length > 1) history.back();
    state.set(pad.index, now);
  }
  if (pads.length) requestAnimationFrame(() => pollGamepads(state));
  else state.running = false;
}

function setMode(on) {
  document.body.classList.toggle("tenfoot", on);
  const toggle = document.getElementById("tenfoot-toggle");
  if (toggle) {
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? "Leave TV mode" : "TV mode";
  }
  try {
    localStorage.setItem(KEY, on ? "1" : "0");
  } catch {
    // private mode: the choice lasts for this page only
  }
}

export function startTenfoot() {
  const params = new URLSearchParams(location.search);
  let stored = null;
  try {
    stored = localStorage.getItem(KEY);
  } catch {
    stored = null;
  }
  setMode(params.has("tv") ? params.get("tv") !== "0" : stored === "1");
  document.getElementById("tenfoot-toggle")?.addEventListener("click", () => {
    setMode(!document.body.classList.contains("tenfoot"));
  });
  addEventListener("keydown", onKey);
  const state = new Map();
  addEventListener("gamepadconnected", () => {
    if (!state.running) {
      state.running = true;
      setMode(true); // a controller in hand means the sofa
      requestAnimationFrame(() => pollGamepads(state));
    }
  });
}
