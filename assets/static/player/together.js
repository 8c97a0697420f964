// Playing together in the player page: who holds which controller port (the owner assigns, swaps
// and frees them), a badge saying which port this viewer holds, the chat shown over the game, and
// the Share dialog (link + QR code) that lets other members of the household join.

const CHAT_SHOWN_MS = 10000;

function el(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

export class Together {
  // command(type, fields) sends a JSON command over the player's socket.
  constructor(root, command) {
    this.root = root;
    this.command = command;
    this.userId = null;
    this.control = false;
    this.ports = [];
    this.holders = [];
    this.people = new Map(); // user id -> name, of everyone watching now
    this.chatLog = root.querySelector("#chat-log");
    this.panel = root.querySelector("#ports-panel");
    this.badge = root.querySelector("#my-ports");
    this.wire();
  }

  wire() {
    const form = this.root.querySelector("#chat-form");
    const input = this.root.querySelector("#chat-input");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      this.command("chat", { text });
      input.value = "";
    });
    this.panel.addEventListener("change", (event) => {
      const select = event.target.closest("select[data-port]");
      if (!select) return;
      const port = Number(select.dataset.port);
      if (select.value === "") this.command("free_port", { port });
      else this.command("assign_port", { port, user_id: Number(select.value) });
    });
    this.panel.addEventListener("click", (event) => {
      const button = event.target.closest("button[data-swap], button[data-free]");
      if (!button) return;
      if (button.dataset.swap) this.command("swap_ports", { ports: button.dataset.swap.split(",").map(Number) });
      else this.command("free_port", { port: Number(button.dataset.free) });
    });
  }

  welcome(message) {
    this.userId = message.user_id;
    this.setControl(message.control);
    this.setPorts(message.ports || []);
    this.chatLog.replaceChildren();
    for (const line of (message.chat || []).slice(-5)) this.chat(line, false);
    if (message.session && message.session.holders) this.holders = message.session.holders;
    this.render();
  }

  // Whether this person may run the session (owner or admin); an admin's role change updates it live.
  setControl(control) {
    this.control = !!control;
    this.root.classList.toggle("spectating", !this.control);
    for (const button of this.root.querySelectorAll("[data-owner-only]")) button.hidden = !this.control;
  }

  setPorts(ports) {
    this.ports = ports;
    this.badge.textContent = ports.length
      ? `You hold port${ports.length > 1 ? "s" : ""} ${ports.map((p) => p + 1).join(" + ")}`
      : "Watching (no controller port)";
    this.badge.dataset.ports = ports.map((p) => p + 1).join(",");
  }

  state(message) {
    this.holders = message.holders || [];
    this.people = new Map((message.players || []).map((p) => [p.user_id, p.name]));
    this.render();
  }

  render() {
    this.panel.replaceChildren();
    if (!this.holders.length) return;
    const list = el("ul", { class: "ports" });
    for (const holder of this.holders) {
      const item = el("li");
      const label = el("span", { class: "port-label" }, `Port ${holder.port + 1}`);
      item.append(label);
      const who = holder.user_id === null ? "free" : `${holder.name || "someone"}${holder.present ? "" : " (away)"}`;
      if (this.control) {
        const select = el("select", { "data-port": String(holder.port), id: `port-${holder.port}-holder`,
                                      "aria-label": `Who holds port ${holder.port + 1}` });
        select.append(el("option", { value: "" }, "— free —"));
        const people = new Map(this.people);
        if (holder.user_id !== null && !people.has(holder.user_id)) people.set(holder.user_id, holder.name);
        for (const [id, name] of people) {
          const option = el("option", { value: String(id) }, id === this.userId ? `${name} (you)` : name);
          if (id === holder.user_id) option.selected = true;
          select.append(option);
        }
        item.append(select);
        if (holder.port + 1 < this.holders.length) {
          item.append(el("button", { type: "button", class: "secondary small", "data-swap": `${holder.port},${holder.port + 1}`,
                                     title: `Swap ports ${holder.port + 1} and ${holder.port + 2}` }, "⇅"));
        }
      } else {
        item.append(el("span", { class: "port-holder" }, holder.user_id === this.userId ? `${who} — you` : who));
        if (holder.user_id === this.userId) {
          item.append(el("button", { type: "button", class: "secondary small", "data-free": String(holder.port) },
                         "Give back"));
        }
      }
      list.append(item);
    }
    this.panel.append(list);
  }

  chat(message, fresh = true) {
    const line = el("p", { class: "chat-line" });
    line.append(el("strong", {}, `${message.name}: `), document.createTextNode(message.text));
    this.chatLog.append(line);
    while (this.chatLog.children.length > 6) this.chatLog.firstElementChild.remove();
    setTimeout(() => line.classList.add("faded"), fresh ? CHAT_SHOWN_MS : 2000);
  }
}

export async function openShare(token) {
  const dialog = document.getElementById("share-dialog");
  const response = await fetch(`/api/play/sessions/${token}/share`);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  document.getElementById("share-url").value = body.url;
  document.getElementById("share-qr").src = body.qr;
  dialog.showModal();
}
