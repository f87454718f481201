// Live updates for the status page. Without this script the page still works: forms post
// and redirect (with a confirmation page), filters are GET forms, and a meta refresh
// reloads the page every 10 s.
"use strict";

(function () {
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const said = {}; // service -> [kind, message, until]: feedback kept across row swaps

  // -- Feedback: in the service's row or card, and as a toast fixed in the viewport. ----
  function toast(message, kind) {
    const box = $("toast");
    box.replaceChildren();
    const p = document.createElement("p");
    p.className = "toast__message toast__message--" + kind;
    p.textContent = message;
    box.append(p);
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => box.replaceChildren(), 8000);
  }

  function showFeedback(name) {
    const line = $("feedback-" + name);
    const entry = said[name];
    if (!line || !entry || entry[2] < Date.now()) return;
    line.hidden = false;
    line.className = "feedback feedback--" + entry[0];
    line.textContent = entry[1];
  }

  function feedback(name, message, kind) {
    said[name] = [kind, message, Date.now() + 15000];
    showFeedback(name);
    toast(message, kind);
  }

  function announce(message) {
    $("announcer").textContent = message;
  }

  // Actions: refuse what the API would refuse, ask first where the page would show a
  // confirmation step, then post in place; the badge follows through the live stream.
  document.addEventListener("submit", async (event) => {
    const form = event.target;
    const target = form instanceof HTMLFormElement ? form.getAttribute("action") || "" : "";
    if (!target.startsWith("/services/") || form.method !== "post") return;
    event.preventDefault();
    const name = target.split("/")[2];
    const button = event.submitter || form.querySelector("button");
    if (button && button.getAttribute("aria-disabled") === "true") {
      feedback(name, $(button.getAttribute("aria-describedby")).textContent, "error");
      return;
    }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
    form.closest("details")?.removeAttribute("open");
    const body = new FormData(form);
    body.set("csrf_token", csrf());
    body.set("confirm", "yes");
    try {
      const answer = await fetch(target, {
        method: "POST", body, headers: { Accept: "application/json" }, credentials: "same-origin",
      });
      const reply = await answer.json();
      feedback(name, reply.message, reply.ok ? "success" : "error");
    } catch (error) {
      feedback(name, "Steward did not answer: " + error, "error");
    }
  });

  // A disabled button says why on a tap as well as on focus.
  document.addEventListener("click", (event) => {
    const close = event.target.closest(".flash__close");
    if (close) close.parentElement.remove();
    for (const menu of document.querySelectorAll("details.menu[open]")) {
      if (!menu.contains(event.target)) menu.removeAttribute("open");
    }
  });

  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const menu = document.activeElement?.closest("details.menu[open]");
    if (menu) {
      menu.removeAttribute("open");
      menu.querySelector("summary").focus();
    }
  });

  // -- Filters: the same rules as the server's, applied as the operator types. ---------
  const ATTENTION = ["unhealthy", "stopped", "failed"];

  function matches(row) {
    const query = ($("q")?.value || "").trim().toLowerCase();
    const status = $("status-filter")?.value || "";
    if (query && !row.dataset.search.includes(query)) return false;
    if (status === "attention") return ATTENTION.includes(row.dataset.status);
    return !status || row.dataset.status === status;
  }

  function filterRows() {
    if (!$("q")) return;
    const rows = [...document.querySelectorAll("tr[data-service]")];
    rows.forEach((row) => { row.hidden = !matches(row); });
    const shown = rows.filter((row) => !row.hidden).length;
    const active = $("q").value.trim() || $("status-filter").value;
    $("filter-count").textContent = active ? `${shown} of ${rows.length} services shown` : "";
  }

  function filterUrl() {
    const params = new URLSearchParams(window.location.search);
    for (const [key, input] of [["q", $("q")], ["status", $("status-filter")]]) {
      if (input.value.trim()) params.set(key, input.value.trim()); else params.delete(key);
    }
    const query = params.toString();
    history.replaceState(null, "", query ? "/?" + query : "/");
  }

  document.addEventListener("input", (event) => {
    if (event.target.id === "q" || event.target.id === "status-filter") {
      filterRows();
      filterUrl();
    }
  });

  // -- Live parts: rows, headline, summary and banners re-rendered by the server. -------
  // Keyboard focus stays on the same control, and a status change is announced.
  function fromHtml(html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function replaceRow(name, html) {
    const current = $("service-" + name);
    if (!current) return false;
    if (current.tagName !== "TR") return true; // the service page refreshes its own state
    const row = fromHtml(html);
    row.querySelectorAll('input[name="csrf_token"]').forEach((input) => { input.value = csrf(); });
    const focused = current.contains(document.activeElement)
      ? document.activeElement.getAttribute("aria-label") : null;
    const before = current.dataset.status;
    current.replaceWith(row);
    row.hidden = !matches(row);
    showFeedback(name);
    if (focused) row.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
    if (before !== row.dataset.status) {
      announce(`${row.querySelector("th a").textContent} is now ${row.dataset.status}`);
    }
    return true;
  }

  function setLevel(title, level) {
    if (title && document.body.dataset.page === "fleet") document.title = title;
    if (!level) return;
    const colours = { ok: "%231a7f37", wait: "%23bf8700", bad: "%23cf222e" };
    $("favicon").href = "data:image/svg+xml,<svg xmlns='http://www.w3.org/2000/svg' " +
      `viewBox='0 0 16 16'><circle cx='8' cy='8' r='7' fill='${colours[level]}'/></svg>`;
  }

  function apply(changes) {
    let unknown = false;
    for (const [name, html] of Object.entries(changes.rows)) {
      unknown = !replaceRow(name, html) || unknown;
    }
    for (const [name, html] of Object.entries(changes.stats || {})) {
      const cell = $("stats-" + name);
      if (cell) cell.replaceWith(fromHtml(html));
    }
    for (const name of changes.removed) $("service-" + name)?.remove();
    if (changes.summary !== null && $("summary")) $("summary").innerHTML = changes.summary;
    if (changes.headline && $("headline")) $("headline").innerHTML = changes.headline;
    if (changes.banners !== null) $("banners").innerHTML = changes.banners;
    setLevel(changes.title, changes.level);
    document.body.dataset.version = changes.position;
    filterRows();
    if (document.body.dataset.page === "service" && Object.keys(changes.rows).length) {
      refreshService();
    }
    if (unknown && document.body.dataset.page !== "service") window.location.reload();
  }

  // -- The live indicator: "live — updated 2 s ago", a warning when the stream drops. ---
  let lastMessage = 0;
  let source = null;

  function liveState(state, text) {
    $("live").dataset.state = state;
    $("live-text").textContent = text;
  }

  function tickLive() {
    if (!source) return;
    if (source.readyState === EventSource.OPEN) {
      const seconds = Math.round((Date.now() - lastMessage) / 1000);
      liveState("on", seconds < 2 ? "live — updated just now" : `live — updated ${seconds} s ago`);
    } else {
      const seconds = Math.round((Date.now() - lastMessage) / 1000);
      liveState("lost", `connection lost ${seconds} s ago — reconnecting…`);
    }
  }

  // One stream per visible page: a hidden tab lets go of its connection (browsers allow
  // only a few per server) and catches up from where it was when it comes back.
  function connect() {
    if (!window.EventSource || source || document.hidden) return;
    const since = encodeURIComponent(document.body.dataset.version);
    source = new EventSource("/api/system/stream?since=" + since);
    lastMessage = Date.now();
    source.addEventListener("open", () => { lastMessage = Date.now(); tickLive(); });
    source.addEventListener("fleet", (event) => {
      lastMessage = Date.now();
      apply(JSON.parse(event.data));
      tickLive();
    });
    source.addEventListener("message", () => { lastMessage = Date.now(); });
    source.addEventListener("error", () => {
      tickLive();
      if (source && source.readyState === EventSource.CLOSED) {
        // The server refused (e.g. 503): try again on our own, from where we were.
        source = null;
        liveState("lost", "live updates stopped — reconnecting…");
        setTimeout(connect, 3000);
      }
    });
  }

  function disconnect() {
    if (source) source.close();
    source = null;
  }

  document.addEventListener("visibilitychange", () => (document.hidden ? disconnect() : connect()));

  // -- The service page: state and events refresh, logs follow until paused. ----------
  let following = true;

  async function refreshService() {
    const state = $("state");
    if (!state) return;
    try {
      const answer = await fetch(state.dataset.live + window.location.search,
        { headers: { Accept: "application/json" } });
      if (!answer.ok) return;
      const parts = await answer.json();
      const focused = document.activeElement?.getAttribute("aria-label");
      const openMenu = $("state-body").querySelector("details.menu[open]") !== null;
      $("state-body").innerHTML = parts.state;
      $("state-body").querySelectorAll('input[name="csrf_token"]').forEach((input) => {
        input.value = csrf();
      });
      if (openMenu) $("state-body").querySelector("details.menu")?.setAttribute("open", "");
      if (focused) $("state-body").querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
      $("events").innerHTML = parts.events;
      document.title = parts.title;
      showFeedback(document.querySelector("[data-service]")?.dataset.service);
    } catch (error) {
      // the next round tries again; the live indicator says whether Steward answers
    }
  }

  async function followLogs() {
    const logs = $("logs");
    if (!logs || !following) return;
    const name = $("state").dataset.live.split("/")[2];
    try {
      const answer = await fetch(`/services/${encodeURIComponent(name)}/logs`);
      const text = await answer.text();
      const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      if (logs.textContent !== text) logs.textContent = text; // text, never markup
      if (atBottom) logs.scrollTop = logs.scrollHeight;
      $("log-state").textContent = answer.ok ? "following" : "";
    } catch (error) {
      $("log-state").textContent = "Steward did not answer";
    }
  }

  function setUpServicePage() {
    const button = $("log-follow");
    if (!button) return;
    button.hidden = false;
    $("logs").scrollTop = $("logs").scrollHeight;
    button.addEventListener("click", () => {
      following = !following;
      button.setAttribute("aria-pressed", String(following));
      button.textContent = following ? "Pause" : "Resume";
      $("log-state").textContent = following ? "following" : "paused";
      if (following) followLogs();
    });
    setInterval(followLogs, 2000);
    setInterval(refreshService, 5000);
    followLogs();
  }

  // -- Clocks: uptimes count on, "12s ago" stays true, the live label ages. -----------
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

  setInterval(() => {
    document.querySelectorAll("[data-uptime]").forEach((node) => {
      const since = node.dataset.since ? Date.parse(node.dataset.since) : null;
      const seconds = since ? Math.max(0, Math.round((Date.now() - since) / 1000))
        : Number(node.dataset.uptime) + 1;
      node.dataset.uptime = seconds;
      node.textContent = human(seconds);
    });
    document.querySelectorAll("time[data-ago]").forEach((node) => {
      const seconds = Math.round((Date.now() - Date.parse(node.getAttribute("datetime"))) / 1000);
      const text = human(Math.abs(seconds)).split(" ")[0];
      node.textContent = seconds >= 0 ? `${text} ago` : `in ${text}`;
    });
    tickLive();
  }, 1000);

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".flash__close").forEach((button) => { button.hidden = false; });
    filterRows();
    setUpServicePage();
    connect();
  });
})();
