// Live updates for the status page. Without this script the page still works: forms post
// and redirect (with a confirmation page), and a meta refresh reloads it every 10 s.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;

  function say(message, kind) {
    const box = document.getElementById("flashes");
    box.replaceChildren();
    const p = document.createElement("p");
    p.className = "flash flash--" + kind;
    p.textContent = message;
    box.append(p);
  }

  function announce(message) {
    document.getElementById("announcer").textContent = message;
  }

  // Actions: refuse what the API would refuse, ask first where the page would show a
  // confirmation step, then post in place; the badge follows through the live stream.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const target = form instanceof HTMLFormElement ? form.getAttribute("action") || "" : "";
    if (!target.startsWith("/services/")) return;
    event.preventDefault();
    const button = event.submitter || form.querySelector("button");
    if (button && button.getAttribute("aria-disabled") === "true") {
      say(document.getElementById(button.getAttribute("aria-describedby")).textContent, "error");
      return;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    const body = new FormData(form);
    body.set("csrf_token", csrf());
    body.set("confirm", "yes");
    try {
      const answer = await fetch(target, {
        method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      const reply = await answer.json();
      say(reply.message, reply.ok ? "success" : "error");
    } catch (error) {
      say("Steward did not answer: " + error, "error");
    }
  });

  // Live parts: rows, summary and banners re-rendered by the server, swapped in place.
  // Keyboard focus stays on the same button, and a status change is announced.
  function replaceRow(name, html) {
    const current = document.getElementById("service-" + name);
    if (!current) return false;
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const row = template.content.firstElementChild;
    row.querySelectorAll('input[name="csrf_token"]').forEach((input) => { input.value = csrf(); });
    const page = document.body.dataset.page;
    row.querySelectorAll('input[name="next"]').forEach((input) => { input.value = page || "fleet"; });
    const focused = current.contains(document.activeElement)
      ? document.activeElement.getAttribute("aria-label") : null;
    const before = current.dataset.status;
    current.replaceWith(row);
    if (focused) row.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    if (before !== row.dataset.status) {
      const title = row.querySelector("th a").textContent;
      announce(`${title} is now ${row.dataset.status}`);
    }
    return true;
  }

  function apply(changes) {
    let unknown = false;
    for (const [name, html] of Object.entries(changes.rows)) {
      unknown = !replaceRow(name, html) || unknown;
    }
    for (const name of changes.removed) document.getElementById("service-" + name)?.remove();
    if (changes.summary !== null && document.getElementById("summary")) {
      document.getElementById("summary").innerHTML = changes.summary;
    }
    if (changes.banners !== null) document.getElementById("banners").innerHTML = changes.banners;
    document.body.dataset.version = changes.position;
    if (unknown && document.body.dataset.page !== "service") window.location.reload();
  }

  // One stream per visible page: a hidden tab lets go of its connection (browsers allow
  // only a few per server) and catches up from where it was when it comes back.
  let source = null;

  function connect() {
    if (!window.EventSource || source || document.hidden) return;
    const live = document.getElementById("live");
    const since = encodeURIComponent(document.body.dataset.version);
    source = new EventSource("/api/system/stream?since=" + since);
    source.addEventListener("open", () => { live.hidden = false; });
    source.addEventListener("fleet", (event) => apply(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      live.hidden = true;
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        setTimeout(() => window.location.reload(), 10000);
      }
    });
  }

  function disconnect() {
    if (source) source.close();
    source = null;
    document.getElementById("live").hidden = true;
  }

  document.addEventListener("visibilitychange", () => (document.hidden ? disconnect() : connect()));

  // Uptimes count on between updates.
  setInterval(() => {
    document.querySelectorAll("[data-uptime]").forEach((node) => {
      const seconds = Number(node.dataset.uptime) + 1;
      node.dataset.uptime = seconds;
      node.textContent = human(seconds);
    });
  }, 1000);

  function human(seconds) {
    const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
    const parts = [];
    for (const [unit, size] of units) {
      if (seconds >= size || (unit === "s" && parts.length === 0)) {
        parts.push(Math.floor(seconds / size) + unit);
        seconds %= size;
      }
    }
    return parts.slice(0, 2).join(" ");
  }

  document.addEventListener("DOMContentLoaded", connect);
})();
