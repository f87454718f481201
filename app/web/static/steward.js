// Live updates for the status page. Without this script the page still works: forms post
// and redirect, and a meta refresh reloads it every 10 s.
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

  // Actions: ask first where the page would show a confirmation step, then post in place.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const target = form instanceof HTMLFormElement ? form.getAttribute("action") || "" : "";
    if (!target.startsWith("/services/")) return;
    event.preventDefault();
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
  function replaceRow(name, html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const row = template.content.firstElementChild;
    row.querySelectorAll('input[name="csrf_token"]').forEach((input) => { input.value = csrf(); });
    const page = document.body.dataset.page;
    row.querySelectorAll('input[name="next"]').forEach((input) => { input.value = page || "fleet"; });
    const current = document.getElementById("service-" + name);
    if (current) current.replaceWith(row);
  }

  function apply(changes) {
    for (const [name, html] of Object.entries(changes.rows)) replaceRow(name, html);
    for (const name of changes.removed) document.getElementById("service-" + name)?.remove();
    if (changes.summary !== null && document.getElementById("summary")) {
      document.getElementById("summary").innerHTML = changes.summary;
    }
    if (changes.banners !== null) document.getElementById("banners").innerHTML = changes.banners;
    const unknown = Object.keys(changes.rows).some((n) => !document.getElementById("service-" + n));
    if (unknown && document.body.dataset.page !== "service") window.location.reload();
    document.body.dataset.version = changes.position;
  }

  function connect() {
    if (!window.EventSource) return;
    const live = document.getElementById("live");
    const since = encodeURIComponent(document.body.dataset.version);
    const source = new EventSource("/api/system/stream?since=" + since);
    source.addEventListener("open", () => { live.hidden = false; });
    source.addEventListener("fleet", (event) => apply(JSON.parse(event.data)));
    source.addEventListener("error", () => {
      live.hidden = true;
      if (source.readyState === EventSource.CLOSED) setTimeout(() => window.location.reload(), 10000);
    });
  }

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
