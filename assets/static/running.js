// The home page's "While you were away" and "Playing now in the house" stay current: a game just left
// shows as paused a moment after the page loaded, one that ended while you looked elsewhere says so.
// The server renders the sections (the same template as the page), so there is one way to draw them.
const living = document.getElementById("living");
const LOOK_MS = 5000;

async function look() {
  if (document.hidden) return;
  try {
    const response = await fetch("/home/running", { headers: { Accept: "text/html" } });
    if (response.ok) living.innerHTML = await response.text();
  } catch {
    // the next look tries again; the sections keep what they showed
  }
}

if (living) {
  setTimeout(look, 1000);
  setInterval(look, LOOK_MS);
  document.addEventListener("visibilitychange", look);
}
