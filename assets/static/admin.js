// Admin pages: people (A's account routes), grants, audit log, rescan progress, collections.

import { api, el, localTimes, say } from "/static/app.js";

const status = document.getElementById("admin-status");
const section = document.getElementById("admin").dataset.section;

function when(text) {
  return text ? new Date(text).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "never";
}

function showInvite(invite) {
  document.getElementById("invite-name").textContent = invite.user.name;
  document.getElementById("invite-expiry").textContent = when(invite.expires_at);
  document.getElementById("invite-qr").src = invite.qr_svg;
  const link = document.getElementById("invite-link");
  link.href = invite.url;
  link.textContent = invite.url;
  document.getElementById("invite-box").hidden = false;
}

function button(label, onClick, secondary = true) {
  const node = el("button", { type: "button", class: secondary ? "secondary small" : "small", text: label });
  node.addEventListener("click", async () => {
    node.disabled = true;
    try {
      await onClick();
    } catch (error) {
      say(status, error.message, true);
    } finally {
      node.disabled = false;
    }
  });
  return node;
}

async function editGrants(user) {
  const box = document.getElementById("grants-section");
  document.getElementById("grants-name").textContent = user.name;
  const grants = await api(`/api/admin/users/${user.id}/grants`);
  const form = document.getElementById("grants-form");
  for (const input of form.querySelectorAll("input[name=platform]")) input.checked = grants.platforms.includes(input.value);
  for (const input of form.querySelectorAll("input[name=collection]")) {
    input.checked = grants.collections.includes(Number(input.value));
  }
  form.dataset.userId = user.id;
  box.hidden = false;
  box.scrollIntoView({ block: "start" });
}

function deviceList(user) {
  const live = user.devices.filter((d) => !d.revoked_at);
  const items = live.map((d) => el("li", {}, `${d.label} (last seen ${when(d.last_seen_at)}) `,
    button("Remove", async () => {
      if (!confirm(`Remove ${user.name}'s "${d.label}"? It is signed out at once.`)) return;
      await api(`/api/admin/devices/${d.id}/revoke`, { method: "POST" });
      await loadUsers();
    })));
  return items.length ? el("ul", { class: "plain" }, ...items) : el("span", { class: "muted", text: "none yet" });
}

function roleSelect(user) {
  const select = el("select", { "aria-label": `Role of ${user.name}` },
    ...["admin", "member", "child"].map((role) => el("option", { value: role, text: role })));
  select.value = user.role;
  select.addEventListener("change", async () => {
    try {
      await api(`/api/admin/users/${user.id}/role`, { method: "PUT", json: { role: select.value } });
      say(status, `${user.name} is now ${select.value === "admin" ? "an admin" : `a ${select.value}`}.`);
      await Promise.all([loadUsers(), loadAudit()]);
    } catch (error) {
      select.value = user.role;
      say(status, error.message, true);
    }
  });
  return select;
}

async function loadUsers() {
  const { users } = await api("/api/admin/users");
  const rows = users.map((user) => el("tr", { dataset: { userId: user.id } },
    el("td", { text: user.name }), el("td", {}, roleSelect(user)), el("td", {}, deviceList(user)),
    el("td", {},
      button("New invite", async () => showInvite(await api(`/api/admin/users/${user.id}/invites`, { method: "POST" }))),
      user.role === "child" ? button("What they may see", () => editGrants(user)) : null,
      button("Revoke all devices", async () => {
        if (!confirm(`Sign ${user.name} out everywhere and remove all their devices? Their saves stay.`)) return;
        await api(`/api/admin/users/${user.id}/revoke`, { method: "POST" });
        await loadUsers();
      }))));
  document.querySelector("#users-table tbody").replaceChildren(...rows);
}

async function loadAudit() {
  const table = document.querySelector("#audit-table tbody");
  if (!table) return;
  const { entries } = await api("/api/admin/audit?limit=50");
  table.replaceChildren(...entries.map((e) => el("tr", {},
    el("td", { text: when(e.at || e.created_at) }), el("td", { text: e.event }),
    el("td", { text: e.user_name || e.user_id || "" }),
    el("td", { class: "muted", text: typeof e.detail === "string" ? e.detail : JSON.stringify(e.detail || {}) }))));
}

function usersPage() {
  document.getElementById("add-user").addEventListener("submit", async (event) => {
    event.preventDefault();
    const name = document.getElementById("new-name").value.trim();
    const role = document.getElementById("new-role").value;
    try {
      showInvite(await api("/api/admin/users", { method: "POST", json: { name, role } }));
      document.getElementById("new-name").value = "";
      await Promise.all([loadUsers(), loadAudit()]);
      say(status, `${name} was added. Send them the invite.`);
    } catch (error) {
      say(status, error.message, true);
    }
  });
  document.getElementById("grants-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const form = event.currentTarget;
    const platforms = [...form.querySelectorAll("input[name=platform]:checked")].map((i) => i.value);
    const collections = [...form.querySelectorAll("input[name=collection]:checked")].map((i) => Number(i.value));
    try {
      await api(`/api/admin/users/${form.dataset.userId}/grants`, { method: "PUT", json: { platforms, collections } });
      say(status, `Saved what ${document.getElementById("grants-name").textContent} may see.`);
      await loadAudit();
    } catch (error) {
      say(status, error.message, true);
    }
  });
  return Promise.all([loadUsers(), loadAudit()]);
}

function showJob(job) {
  const box = document.getElementById("rescan-progress");
  const bar = document.getElementById("rescan-bar");
  const text = document.getElementById("rescan-text");
  box.hidden = false;
  bar.max = Math.max(job.files_total, 1);
  bar.value = job.files_done;
  const what = job.kind === "covers" ? "cover pictures" : "files";
  if (job.state === "running") {
    text.textContent = job.kind === "covers" ? `Making cover pictures: ${job.files_done} of ${job.files_total} games…`
      : `Reading ${job.files_done} of ${job.files_total} ${what}…`;
  } else if (job.state === "failed") text.textContent = `That failed: ${job.error}`;
  else if (job.state === "stopped") text.textContent = "Stopped when the server stopped.";
  else if (job.kind === "covers") {
    text.textContent = `Done: ${job.report.made} cover pictures made`
      + (job.report.without ? `; ${job.report.without} games showed only a blank screen.` : ".");
  } else {
    const r = job.report;
    text.textContent = `Done: ${r.added} added, ${r.updated} updated, ${r.unchanged} unchanged, ${r.missing} missing,`
      + ` ${r.failed.length} could not be read.`;
  }
  text.classList.toggle("error", job.state === "failed");
}

async function pollJob() {
  const { job } = await api("/api/admin/library/rescan");
  if (!job) return;
  showJob(job);
  if (job.state === "running") setTimeout(pollJob, 500);
}

function libraryPage() {
  document.getElementById("rescan-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const path = document.getElementById("rescan-path").value.trim();
    const dat = document.getElementById("rescan-dat").value.trim();
    const body = { ...(path ? { paths: [path] } : {}), ...(dat ? { dats: [dat] } : {}) };
    try {
      const { job } = await api("/api/admin/library/rescan", { method: "POST", json: body });
      showJob(job);
      setTimeout(pollJob, 300);
    } catch (error) {
      say(status, error.message, true);
    }
  });
  document.getElementById("make-covers").addEventListener("click", async () => {
    try {
      const { job } = await api("/api/admin/library/covers", { method: "POST" });
      showJob(job);
      setTimeout(pollJob, 300);
    } catch (error) {
      say(status, error.message, true);
    }
  });
  document.getElementById("collection-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("/api/collections", { method: "POST", json: { name: document.getElementById("collection-name").value } });
      location.reload();
    } catch (error) {
      say(status, error.message, true);
    }
  });
  for (const node of document.querySelectorAll("[data-delete-collection]")) {
    node.addEventListener("click", async () => {
      if (!confirm("Delete this collection? The games stay in the library.")) return;
      try {
        await api(`/api/collections/${node.dataset.deleteCollection}`, { method: "DELETE" });
        node.closest("li").remove();
      } catch (error) {
        say(status, error.message, true);
      }
    });
  }
  return pollJob();
}

const pages = { users: usersPage, library: libraryPage, server: loadAudit };
try {
  await pages[section]?.();
  localTimes();
} catch (error) {
  say(status, error.message, true);
}
