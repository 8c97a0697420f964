// The game page: favourite, load/delete states, upload a .srm, collections, a new cover picture.

import { api, say } from "/static/app.js";

const root = document.getElementById("game");
const gameId = Number(root.dataset.gameId);
const status = document.getElementById("game-status");

async function supports444() {
  if (typeof VideoDecoder === "undefined") return false;
  try {
    return (await VideoDecoder.isConfigSupported({ codec: "avc1.F4001F", optimizeForLatency: true })).supported === true;
  } catch {
    return false;
  }
}

async function startFrom(slot) {
  say(status, "Starting the game…");
  try {
    const body = { game_id: gameId, slot: Number(slot), chroma: (await supports444()) ? "444" : "420" };
    const { session } = await api("/api/play/sessions", { method: "POST", json: body });
    location.assign(session.url);
  } catch (error) {
    say(status, error.message, true);
    const oldest = error.data?.oldest_session;
    if (oldest && confirm(`${error.message}.\n\nEnd ${oldest.title} now and start this game?`)) {
      try {
        await api(`/api/play/sessions/${encodeURIComponent(oldest.token)}/end`, { method: "POST" });
      } catch (ended) {
        if (ended.status !== 404) return say(status, ended.message, true); // 404: it ended meanwhile
      }
      await startFrom(slot);
    }
  }
}

for (const button of document.querySelectorAll("[data-load-slot]")) {
  button.addEventListener("click", () => startFrom(button.dataset.loadSlot));
}

for (const button of document.querySelectorAll("[data-delete-slot]")) {
  button.addEventListener("click", async () => {
    const item = button.closest(".state");
    const label = item.querySelector("strong").textContent;
    if (!confirm(`Delete ${label}? This cannot be undone.`)) return;
    try {
      await api(`/api/games/${gameId}/states/${button.dataset.deleteSlot}`, { method: "DELETE" });
      item.remove();
      say(status, `${label} deleted.`);
    } catch (error) {
      say(status, error.message, true);
    }
  });
}

const favourite = document.getElementById("favourite");
favourite.addEventListener("click", async () => {
  const on = favourite.getAttribute("aria-pressed") !== "true";
  try {
    await api(`/api/games/${gameId}/favourite`, { method: on ? "PUT" : "DELETE" });
    favourite.setAttribute("aria-pressed", String(on));
    favourite.textContent = on ? "★ Favourite" : "☆ Add to favourites";
  } catch (error) {
    say(status, error.message, true);
  }
});

document.getElementById("srm-form")?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = document.getElementById("srm-file").files[0];
  if (!file) return say(status, "Choose a .srm file first.", true);
  try {
    await api(`/api/games/${gameId}/srm`, { method: "PUT", body: file,
                                            headers: { "Content-Type": "application/octet-stream" } });
    say(status, "Battery save replaced.");
    setTimeout(() => location.reload(), 600);
  } catch (error) {
    say(status, error.message, true);
  }
});

document.getElementById("srm-delete")?.addEventListener("click", async () => {
  if (!confirm("Delete your battery save for this game? The game then starts with no save. This cannot be undone.")) return;
  try {
    await api(`/api/games/${gameId}/srm`, { method: "DELETE" });
    say(status, "Battery save deleted.");
    setTimeout(() => location.reload(), 600);
  } catch (error) {
    say(status, error.message, true);
  }
});

document.getElementById("make-cover")?.addEventListener("click", async (event) => {
  const button = event.currentTarget;
  button.disabled = true;
  say(status, "Running the game for a few seconds to take a picture…");
  try {
    const { cover_url: url } = await api(`/api/games/${gameId}/cover`, { method: "POST" });
    const cover = document.querySelector(".cover.big");
    const img = document.createElement("img");
    img.alt = "";
    img.src = `${url}?t=${Date.now()}`;
    cover.replaceChildren(img);
    say(status, "New cover picture made.");
  } catch (error) {
    say(status, error.message, true);
  } finally {
    button.disabled = false;
  }
});

for (const box of document.querySelectorAll("#collection-boxes input")) {
  box.addEventListener("change", async () => {
    try {
      await api(`/api/collections/${box.value}/games/${gameId}`, { method: box.checked ? "PUT" : "DELETE" });
      say(status, box.checked ? "Added to the collection." : "Taken out of the collection.");
    } catch (error) {
      box.checked = !box.checked;
      say(status, error.message, true);
    }
  });
}
