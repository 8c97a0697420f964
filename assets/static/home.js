// The home grid: filtering, searching, sorting and paging through /api/games without reloading.

import { api, el } from "/static/app.js";

const form = document.getElementById("filters");
const grid = document.getElementById("game-grid");
const count = document.getElementById("result-count");
const pager = document.getElementById("pager");
const search = document.getElementById("q");
let page = Number(pager?.dataset.page || 1);
let generation = 0;

function params() {
  const data = new FormData(form);
  const out = new URLSearchParams();
  for (const [key, value] of data) if (value) out.set(key, value);
  if (page > 1) out.set("page", String(page));
  return out;
}

function coverImage(game) {
  return el("img", { src: game.cover_url, alt: "", loading: "lazy", decoding: "async" });
}

function card(game) {
  const cover = el("span", { class: "cover", dataset: { platform: game.platform } },
    game.cover_url ? coverImage(game)
      : el("span", { class: "cover-fallback", "aria-hidden": "true", text: game.title.slice(0, 2) }));
  const meta = el("span", { class: "game-meta", text: game.platform_name + (game.region ? ` · ${game.region}` : "") });
  if (game.favourite) meta.append(" ", el("span", { class: "star", "aria-label": "favourite", text: "★" }));
  return el("li", { class: "game-card" },
    el("a", { href: game.url, "data-nav": true }, cover, el("span", { class: "game-title", text: game.title }), meta));
}

function renderPager(result) {
  pager.hidden = result.pages < 2;
  const link = (label, target, rel) => {
    const a = el("a", { class: "button secondary", rel, href: `?${new URLSearchParams({ ...Object.fromEntries(params()), page: target })}`,
                        "data-nav": true, text: label });
    a.addEventListener("click", (event) => {
      event.preventDefault();
      page = target;
      refresh(true);
    });
    return a;
  };
  pager.replaceChildren(
    ...(result.page > 1 ? [link("Previous", result.page - 1, "prev")] : []),
    el("span", { text: `Page ${result.page} of ${result.pages}` }),
    ...(result.page < result.pages ? [link("Next", result.page + 1, "next")] : []));
}

async function refresh(scroll = false) {
  const mine = ++generation;
  const query = params();
  try {
    const result = await api(`/api/games?${query}`);
    if (mine !== generation) return; // a newer search already answered
    const focused = grid.contains(document.activeElement) ? document.activeElement.getAttribute("href") : null;
    grid.replaceChildren(...result.games.map(card));
    // a redraw must not drop the focus of someone moving through the tiles with a remote
    if (focused) (grid.querySelector(`a[href="${CSS.escape(focused)}"]`) || grid.querySelector("a"))?.focus();
    document.getElementById("empty")?.remove();
    count.textContent = `${result.total} game${result.total === 1 ? "" : "s"}`;
    if (!result.games.length) count.textContent = "No games match.";
    renderPager(result);
    watchCovers();
    history.replaceState(null, "", query.toString() ? `/?${query}` : "/");
    if (scroll) document.getElementById("library-heading").scrollIntoView({ block: "start" });
  } catch (error) {
    count.textContent = error.message;
  }
}

// Covers are made in the background after an import: tiles still showing letters get their picture as
// it arrives. One look at this page every few seconds, while the server says it is making covers (a few
// looks more after it stops) and at most for ten minutes.
const COVER_LOOK_MS = 4000;
const COVER_LOOKS = 150;
const IDLE_LOOKS = 3;
let watching = false;

function letterTile(game) {
  const cover = grid.querySelector(`a[href="${CSS.escape(game.url)}"] .cover`);
  return cover?.querySelector(".cover-fallback") ? cover : null;
}

async function watchCovers() {
  if (watching) return;
  watching = true;
  try {
    for (let look = 0, idle = 0; look < COVER_LOOKS && idle < IDLE_LOOKS; look++) {
      if (!grid.querySelector(".cover-fallback")) return;
      await new Promise((resolve) => setTimeout(resolve, COVER_LOOK_MS));
      const result = await api(`/api/games?${params()}`);
      let waiting = false;
      for (const game of result.games) {
        const tile = letterTile(game);
        if (tile && game.cover_url) tile.replaceChildren(coverImage(game));
        else if (tile && game.playable) waiting = true;
      }
      if (!waiting) return;
      idle = result.covers_being_made ? 0 : idle + 1;
    }
  } catch {
    // a look that fails (signed out, offline) just ends the watch; the next page load starts another
  } finally {
    watching = false;
  }
}
watchCovers();

let timer = 0;
search.addEventListener("input", () => {
  clearTimeout(timer);
  page = 1;
  timer = setTimeout(() => refresh(), 200);
});
// A filter change or a submit asks with the whole form, search box included: a search still
// waiting on its timer would only redraw the same grid again a moment later.
form.addEventListener("change", (event) => {
  if (event.target === search) return;
  clearTimeout(timer);
  page = 1;
  refresh();
});
form.addEventListener("submit", (event) => {
  event.preventDefault();
  clearTimeout(timer);
  page = 1;
  refresh();
});
for (const a of pager.querySelectorAll("a")) {
  a.addEventListener("click", (event) => {
    event.preventDefault();
    page = Number(new URLSearchParams(a.search).get("page") || 1);
    refresh(true);
  });
}
