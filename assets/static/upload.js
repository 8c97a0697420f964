// Drag-and-drop uploads: each file is sent as the raw request body (streamed by the browser), with
// a progress bar from XHR's upload events, then the server says what it recognised.

import { el, formatBytes } from "/static/app.js";

const zone = document.getElementById("dropzone");
const input = document.getElementById("files");
const list = document.getElementById("uploads");
const empty = document.getElementById("uploads-empty");
let queue = Promise.resolve();

function send(file, bar, line) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/uploads?name=${encodeURIComponent(file.name)}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        bar.max = event.total;
        bar.value = event.loaded;
        line.textContent = `Sending… ${formatBytes(event.loaded)} of ${formatBytes(event.total)}`;
      }
    });
    xhr.upload.addEventListener("load", () => {
      line.textContent = "Checking and recognising…";
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = {};
      }
      resolve({ ok: xhr.status >= 200 && xhr.status < 300, status: xhr.status, body });
    });
    xhr.addEventListener("error", () => resolve({ ok: false, status: 0, body: { error: "The connection was lost." } }));
    xhr.send(file);
  });
}

async function makeCover(gameId) {
  // Best effort: a picture for the new game's tile (the game page has a button to retry).
  await fetch(`/api/games/${gameId}/cover`, { method: "POST", credentials: "same-origin" }).catch(() => null);
}

async function upload(file) {
  const bar = el("progress", { max: file.size || 1, value: 0, "aria-label": `Upload of ${file.name}` });
  const line = el("p", { class: "muted", text: "Waiting…" });
  const item = el("li", { class: "upload" }, el("strong", { text: file.name }), bar, line);
  list.append(item);
  empty.hidden = true;
  const { ok, body } = await send(file, bar, line);
  bar.remove();
  if (!ok) {
    line.className = "error";
    line.textContent = `Not added: ${body.error || "the server refused it."}`;
    return;
  }
  line.className = "ok";
  const game = body.game;
  if (game) {
    line.replaceChildren(`Recognised as `, el("a", { href: game.url, text: game.title }),
      ` (${game.platform_name}${game.region ? `, ${game.region}` : ""}). `,
      body.report.added ? "Added to the library." : "It was already in the library.");
    item.dataset.gameId = game.id;
    if (body.report.added) makeCover(game.id);
  } else {
    line.textContent = "Stored, but no game was recognised in it.";
  }
}

function enqueue(files) {
  for (const file of files) queue = queue.then(() => upload(file));
}

input.addEventListener("change", () => {
  enqueue([...input.files]);
  input.value = "";
});
for (const name of ["dragenter", "dragover"]) {
  zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
}
for (const name of ["dragleave", "drop"]) {
  zone.addEventListener(name, () => zone.classList.remove("over"));
}
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  enqueue([...event.dataTransfer.files]);
});
