// Sign-in with an Ed25519 key that never leaves this browser.
//
// The private key is made by WebCrypto as non-extractable and kept in IndexedDB: script on this
// origin can ask it to sign, but nobody can read it out. Protocol (docs/design.md): ask
// /api/auth/challenge for our public key, sign "treazr-auth-v1|<origin>|<challenge_id>|<nonce>",
// send the signature to /api/auth/verify (or /api/auth/enroll with an invite).

const DB_NAME = "treazr-auth";
const STORE = "keys";
const RECORD = "device";
const SIGNED_OUT = "treazr-signed-out";

export class AuthError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

// ---- capability checks -------------------------------------------------------------------

export function secureContextProblem() {
  if (!window.isSecureContext || !window.crypto || !crypto.subtle) return "insecure";
  if (!window.indexedDB) return "no-storage";
  return null;
}

async function ed25519Supported() {
  try {
    await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    return true;
  } catch {
    return false;
  }
}

// ---- encoding ----------------------------------------------------------------------------

export function b64url(bytes) {
  let text = "";
  for (const byte of new Uint8Array(bytes)) text += String.fromCharCode(byte);
  return btoa(text).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

// ---- IndexedDB ---------------------------------------------------------------------------

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function openStore(mode) {
  const open = indexedDB.open(DB_NAME, 1);
  open.onupgradeneeded = () => open.result.createObjectStore(STORE);
  const db = await request(open);
  return { db, store: db.transaction(STORE, mode).objectStore(STORE) };
}

export async function loadKey() {
  const { db, store } = await openStore("readonly");
  try {
    return (await request(store.get(RECORD))) || null;
  } finally {
    db.close();
  }
}

async function saveKey(record) {
  const { db, store } = await openStore("readwrite");
  try {
    await request(store.put(record, RECORD));
  } finally {
    db.close();
  }
}

async function newKey() {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey); // public keys are always exportable
  return { privateKey: pair.privateKey, publicKey: b64url(raw), name: "", created: new Date().toISOString() };
}

// ---- protocol ----------------------------------------------------------------------------

async function post(path, body) {
  const response = await fetch(path, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = {};
  try {
    data = await response.json();
  } catch {
    // an empty or non-JSON answer: keep the status
  }
  if (!response.ok) {
    if (response.status === 429) {
      const wait = response.headers.get("Retry-After") || "a few";
      throw new AuthError(`Too many tries. Please wait ${wait} seconds and try again.`, 429);
    }
    throw new AuthError(data.error || `The server answered ${response.status}.`, response.status);
  }
  return data;
}

async function signedChallenge(key) {
  const challenge = await post("/api/auth/challenge", { public_key: key.publicKey });
  const message = `treazr-auth-v1|${location.origin}|${challenge.challenge_id}|${challenge.nonce}`;
  const signature = await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, new TextEncoder().encode(message));
  return { challenge_id: challenge.challenge_id, public_key: key.publicKey, signature: b64url(signature) };
}

export async function signIn() {
  const key = await loadKey();
  if (!key) throw new AuthError("This browser has no Treazr key yet.", 0);
  const me = await post("/api/auth/verify", await signedChallenge(key));
  sessionStorage.removeItem(SIGNED_OUT);
  if (me.user && key.name !== me.user.name) await saveKey({ ...key, name: me.user.name });
  return me;
}

export async function enroll(invite, deviceLabel) {
  const key = await newKey();
  const me = await post("/api/auth/enroll", { ...(await signedChallenge(key)), invite, device_label: deviceLabel });
  // Only now replace any older key: a failed enrolment leaves the browser as it was.
  await saveKey({ ...key, name: me.user.name });
  sessionStorage.removeItem(SIGNED_OUT);
  return me;
}

export async function signOut() {
  sessionStorage.setItem(SIGNED_OUT, "1");
  await post("/api/auth/logout");
}

export async function whoAmI() {
  const response = await fetch("/api/me", { credentials: "same-origin" });
  return response.ok ? response.json() : null;
}

// ---- pages -------------------------------------------------------------------------------

function show(id, text) {
  const node = document.getElementById(id);
  if (!node) return null;
  if (text !== undefined) node.textContent = text;
  node.hidden = false;
  return node;
}

function hide(id) {
  const node = document.getElementById(id);
  if (node) node.hidden = true;
}

function say(text, kind = "") {
  const node = show("auth-status", text);
  if (node) node.className = `notice ${kind}`.trim();
}

function safeNext(root) {
  const next = root.dataset.next || "/";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/";
}

export function guessDeviceLabel() {
  const ua = navigator.userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox" : /Chrome\//.test(ua) ? "Chrome"
    : /Safari\//.test(ua) ? "Safari" : "Browser";
  const system = /iPhone/.test(ua) ? "iPhone" : /iPad/.test(ua) ? "iPad" : /Android/.test(ua) ? "Android"
    : /Mac OS X/.test(ua) ? "Mac" : /Windows/.test(ua) ? "Windows" : /CrOS/.test(ua) ? "Chromebook"
    : /Linux/.test(ua) ? "Linux" : "computer";
  return `${browser} on ${system}`;
}

async function capabilityProblem() {
  const problem = secureContextProblem();
  if (problem === "insecure") {
    show("auth-insecure");
    hide("auth-ready");
    return true;
  }
  if (problem === "no-storage" || !(await ed25519Supported())) {
    show("auth-unsupported");
    hide("auth-ready");
    return true;
  }
  return false;
}

async function signInPage(root) {
  if (await capabilityProblem()) return;
  const next = safeNext(root);
  const key = await loadKey();
  const button = document.getElementById("signin-button");
  if (!key) {
    show("auth-no-key");
    hide("auth-ready");
    return;
  }
  if (key.name) button.textContent = `Sign in as ${key.name}`;
  const attempt = async () => {
    button.disabled = true;
    say("Signing in…");
    try {
      await signIn();
      say("Signed in.", "ok");
      location.assign(next);
    } catch (error) {
      say(error.status === 401
        ? "This browser's key was not accepted (it may have been removed). Ask whoever runs Treazr for a new invite link."
        : error.message, "error");
      button.disabled = false;
    }
  };
  button.addEventListener("click", attempt);
  show("auth-ready");
  // Sign in by itself, unless the person just signed out on purpose.
  if (!sessionStorage.getItem(SIGNED_OUT) && root.dataset.signedIn !== "true") await attempt();
}

async function invitePage() {
  if (await capabilityProblem()) return;
  const invite = decodeURIComponent(location.hash.replace(/^#/, "")).trim();
  if (!invite) {
    say("This link is missing its invite code. Open the whole link you were sent, or ask for a new one.", "error");
    hide("auth-ready");
    return;
  }
  const form = document.getElementById("enroll-form");
  const label = document.getElementById("device-label");
  label.value = guessDeviceLabel();
  show("auth-ready");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    say("Setting up this browser…");
    try {
      const me = await enroll(invite, label.value || guessDeviceLabel());
      history.replaceState(null, "", "/invite"); // the code is spent; keep it out of history
      say(`Welcome, ${me.user.name}! This browser is now signed in.`, "ok");
      location.assign("/");
    } catch (error) {
      say(error.message, "error");
      button.disabled = false;
    }
  });
}

function deviceRow(device, onRevoke) {
  const item = document.createElement("li");
  const label = document.createElement("strong");
  label.textContent = device.label;
  const meta = document.createElement("span");
  meta.className = "muted";
  const when = (text) => (text ? new Date(text).toLocaleString() : "never");
  meta.textContent = device.revoked_at ? ` removed ${when(device.revoked_at)}`
    : ` added ${when(device.created_at)}, last seen ${when(device.last_seen_at)}${device.this_device ? " (this one)" : ""}`;
  item.append(label, meta);
  if (!device.revoked_at) {
    const button = document.createElement("button");
    button.className = "secondary";
    button.textContent = device.this_device ? "Remove this browser" : "Remove";
    button.addEventListener("click", () => onRevoke(device));
    item.append(" ", button);
  }
  return item;
}

async function devicesPage() {
  const list = document.getElementById("device-list");
  const refresh = async () => {
    const response = await fetch("/api/me/devices", { credentials: "same-origin" });
    if (!response.ok) return location.assign("/signin?next=/devices");
    const { devices } = await response.json();
    list.replaceChildren(...devices.map((d) => deviceRow(d, revoke)));
  };
  const revoke = async (device) => {
    if (!confirm(`Remove "${device.label}"? It will be signed out at once.`)) return;
    await post(`/api/me/devices/${device.id}/revoke`);
    if (device.this_device) return location.assign("/signin");
    await refresh();
  };
  document.getElementById("add-device").addEventListener("click", async () => {
    try {
      const invite = await post("/api/me/invites");
      const link = show("invite-link");
      link.href = invite.url;
      link.textContent = invite.url;
      show("invite-qr").src = invite.qr_svg;
      show("invite-expiry", `Works once, until ${new Date(invite.expires_at).toLocaleString()}.`);
      show("invite-box");
    } catch (error) {
      say(error.message, "error");
    }
  });
  document.getElementById("signout-button")?.addEventListener("click", async () => {
    await signOut();
    location.assign("/signin");
  });
  await refresh();
}

function wireSignOut() {
  for (const button of document.querySelectorAll("[data-signout]")) {
    button.addEventListener("click", async () => {
      await signOut();
      location.assign("/signin");
    });
  }
}

async function main() {
  const root = document.getElementById("auth");
  wireSignOut();
  if (!root) return;
  const pages = { signin: signInPage, invite: invitePage, devices: devicesPage };
  try {
    await pages[root.dataset.page]?.(root);
  } catch (error) {
    say(`Something went wrong: ${error.message}`, "error");
  }
}

main();
