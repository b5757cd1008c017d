// Live incident board: statuses, answers and counts arrive over Socket.IO, no reload.
//
// The counts per agency and per channel follow the rules of breakdown() in
// coordinator/views/console.py. They are kept in maps that each event changes
// by what it changed, never by rescanning the page. Until the first snapshot
// has been applied the page keeps the server's figures: only the snapshot says
// which message each earlier answer came through.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var incidentId = parseInt(board.dataset.incident, 10);
  var liveState = document.getElementById("live-state");

  // --- clocks: "sent 3 min 12 s ago", "in 1 min 48 s" ------------------------

  // Server time minus this browser's: a console PC with a wrong clock still
  // shows the right "ago".
  var skew = (Date.parse(board.dataset.renderedAt) || Date.now()) - Date.now();

  function duration(ms) {
    var s = Math.max(0, Math.floor(ms / 1000));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
    if (h) { return h + " h " + m + " min"; }
    if (m) { return m + " min " + (s % 60) + " s"; }
    return s + " s";
  }

  function tickOne(el) {
    var now = Date.now() + skew;
    if (el.hasAttribute("data-since")) {
      var at = Date.parse(el.getAttribute("datetime"));
      if (!isNaN(at)) { el.textContent = duration(now - at) + " ago"; }
      return;
    }
    var until = Date.parse(el.dataset.until);
    if (isNaN(until)) { return; }
    el.textContent = until > now ? "in " + duration(until - now) : (el.dataset.past || "due now");
  }

  function tick() {
    document.querySelectorAll("[data-since], [data-until]").forEach(tickOne);
  }
  tick();
  setInterval(tick, 1000);

  if (typeof io === "undefined") { return; }
  var socket = io();
  window.tocsinSocket = socket;

  // --- what the counts are made of ------------------------------------------

  // Statuses only move forward, as on the server: a stale snapshot or a late
  // event never undoes a newer one.
  var RANK = {pending: 0, queued: 1, sent: 2, delivered: 3, failed: 3, undelivered: 3, cancelled: 3};
  var SENT = {sent: true, delivered: true, undelivered: true};
  var FAILED = {failed: true, undelivered: true};
  var COLUMNS = ["notifications", "sent", "delivered", "failed", "answered"];

  var people = {};       // responder id -> {agency, cell, answerCell, answered}
  var notes = {};        // notification id -> {status, channel, agency, el}
  var answeredVia = {};  // notification id -> true once an answer came through it
  var waiting = {};      // responder id -> answers that came before their row
  var byStatus = {};     // status -> notifications
  var answeredCount = 0;
  var tallies = {agency: {}, channel: {}};
  var dirty = {agency: {}, channel: {}};
  var ready = false;     // the first snapshot has been applied

  function statusColumns(status) {
    var columns = [];
    if (SENT[status]) { columns.push("sent"); }
    if (status === "delivered") { columns.push("delivered"); }
    if (FAILED[status]) { columns.push("failed"); }
    return columns;
  }

  function bump(kind, key, column, by) {
    var tally = tallies[kind][key];
    if (!tally) {
      tally = tallies[kind][key] = {};
      COLUMNS.forEach(function (c) { tally[c] = 0; });
    }
    tally[column] += by;
    dirty[kind][key] = true;
  }

  function countStatus(note, status, by) {
    byStatus[status] = (byStatus[status] || 0) + by;
    statusColumns(status).forEach(function (c) {
      bump("agency", note.agency, c, by);
      bump("channel", note.channel, c, by);
    });
  }

  // --- the page's rows --------------------------------------------------------

  function personFromRow(row) {
    var person = {
      agency: row.dataset.agency || "",
      cell: row.querySelector("td.notifications"),
      answerCell: row.querySelector("td.answer"),
      answered: false,
    };
    people[row.dataset.responder] = person;
    return person;
  }

  // A responder the page has no row for (a backup team, another agency).
  function addResponder(n) {
    var row = document.createElement("tr");
    row.dataset.responder = n.responder_id;
    row.dataset.agency = n.agency_name || "";
    [n.responder_name, n.agency_name || "", "", "—"].forEach(function (text, i) {
      var td = document.createElement("td");
      td.textContent = text;
      if (i === 2) { td.className = "notifications"; }
      if (i === 3) { td.className = "answer answer-none"; td.dataset.answer = ""; }
      row.appendChild(td);
    });
    board.querySelector("tbody").appendChild(row);
    var person = personFromRow(row);
    (waiting[n.responder_id] || []).forEach(applyResponse);
    delete waiting[n.responder_id];
    return person;
  }

  function showStatus(note) {
    note.el.className = "status status-" + note.status;
    note.el.dataset.status = note.status;
    note.el.textContent = note.channel + ": " + note.status;
  }

  function track(n) {
    var person = people[n.responder_id] || (n.responder_name ? addResponder(n) : null);
    if (!person) { return null; }  // a snapshot or an added event will bring its row
    var el = document.createElement("span");
    el.dataset.notification = n.id;
    el.dataset.channel = n.channel;
    person.cell.appendChild(document.createTextNode(" "));
    person.cell.appendChild(el);
    var note = notes[n.id] = {status: "pending", channel: n.channel, agency: person.agency, el: el};
    showStatus(note);
    bump("agency", note.agency, "notifications", 1);
    bump("channel", note.channel, "notifications", 1);
    countStatus(note, "pending", 1);
    if (answeredVia[n.id]) { bump("channel", note.channel, "answered", 1); }
    return note;
  }

  function applyNotification(n) {
    var note = notes[n.id] || track(n);
    if (!note) { return; }
    if (n.error) { note.el.title = n.error; }
    if ((RANK[n.status] || 0) <= (RANK[note.status] || 0)) { return; }
    countStatus(note, note.status, -1);
    note.status = n.status;
    countStatus(note, note.status, 1);
    showStatus(note);
  }

  function applyResponse(r) {
    var person = people[r.responder_id];
    if (!person) {
      (waiting[r.responder_id] = waiting[r.responder_id] || []).push(r);
      return;
    }
    if (!person.answered) {
      person.answered = true;
      answeredCount += 1;
      bump("agency", person.agency, "answered", 1);
    }
    var via = r.notification_id;
    if (via != null && !answeredVia[via]) {
      answeredVia[via] = true;
      if (notes[via]) { bump("channel", notes[via].channel, "answered", 1); }
    }
    var cell = person.answerCell;
    if (cell.dataset.at && cell.dataset.at > r.at) { return; }
    cell.dataset.at = r.at;
    cell.className = "answer answer-" + r.answer;
    cell.dataset.answer = r.answer;
    cell.textContent = r.label + (r.eta_minutes != null ? " (ETA " + r.eta_minutes + " min)" : "");
  }

  // What the server rendered is where the maps start.
  board.querySelectorAll("tr[data-responder]").forEach(function (row) {
    var person = personFromRow(row);
    if (person.answerCell.dataset.answer) {
      person.answered = true;
      answeredCount += 1;
      bump("agency", person.agency, "answered", 1);
    }
    row.querySelectorAll("[data-notification]").forEach(function (el) {
      var note = notes[el.dataset.notification] = {
        status: el.dataset.status, channel: el.dataset.channel, agency: person.agency, el: el,
      };
      bump("agency", note.agency, "notifications", 1);
      bump("channel", note.channel, "notifications", 1);
      countStatus(note, note.status, 1);
    });
  });

  // --- showing the counts -----------------------------------------------------

  function tableOf(id) {
    var table = document.getElementById(id);
    var rows = {};
    if (table) {
      table.querySelectorAll("tbody tr[data-key]").forEach(function (row) {
        rows[row.dataset.key] = row;
      });
    }
    return {table: table, rows: rows, labels: table ? JSON.parse(table.dataset.labels || "{}") : {}};
  }
  var tables = {agency: tableOf("by-agency"), channel: tableOf("by-channel")};
  var CHANNEL_ORDER = Object.keys(tables.channel.labels);

  // Agencies by name, channels in the console's order: where the server puts them.
  function before(kind, a, b) {
    if (kind === "channel") {
      var ia = CHANNEL_ORDER.indexOf(a), ib = CHANNEL_ORDER.indexOf(b);
      ia = ia < 0 ? CHANNEL_ORDER.length : ia;
      ib = ib < 0 ? CHANNEL_ORDER.length : ib;
      if (ia !== ib) { return ia < ib; }
    }
    return a < b;
  }

  function newRow(kind, key) {
    var t = tables[kind];
    var row = document.createElement("tr");
    row.dataset.key = key;
    var th = document.createElement("th");
    th.scope = "row";
    th.textContent = t.labels[key] || key;
    row.appendChild(th);
    COLUMNS.forEach(function (c) {
      var td = document.createElement("td");
      td.dataset.col = c;
      row.appendChild(td);
    });
    var next = null;
    Object.keys(t.rows).forEach(function (other) {
      if (before(kind, key, other) && (!next || before(kind, other, next.dataset.key))) {
        next = t.rows[other];
      }
    });
    t.table.tBodies[0].insertBefore(row, next);
    t.rows[key] = row;
    return row;
  }

  function showRow(kind, key) {
    if (!tables[kind].table) { return; }
    var row = tables[kind].rows[key] || newRow(kind, key);
    var tally = tallies[kind][key];
    COLUMNS.forEach(function (c) {
      row.querySelector('[data-col="' + c + '"]').textContent = tally[c];
    });
  }

  var totals = {};
  document.querySelectorAll("#counts [data-count]").forEach(function (el) {
    totals[el.dataset.count] = el;
  });

  function show() {
    if (!ready) { return; }
    ["agency", "channel"].forEach(function (kind) {
      Object.keys(dirty[kind]).forEach(function (key) { showRow(kind, key); });
      dirty[kind] = {};
    });
    var s = function (status) { return byStatus[status] || 0; };
    var figures = {
      queued: s("pending") + s("queued"),
      sent: s("sent") + s("delivered") + s("undelivered"),
      delivered: s("delivered"),
      failed: s("failed") + s("undelivered"),
      cancelled: s("cancelled"),
      answered: answeredCount,
    };
    Object.keys(totals).forEach(function (key) { totals[key].textContent = figures[key]; });
  }

  // --- the room ---------------------------------------------------------------

  // Join first, then fetch the state: whatever changed between rendering the
  // page (or a reconnect) and joining the room is in the snapshot.
  socket.on("connect", function () {
    socket.emit("join", {incident_id: incidentId}, function (reply) {
      if (!(reply && reply.ok)) {
        liveState.textContent = "not live: " + (reply && reply.error);
        return;
      }
      loadSnapshot();
      refreshEscalation();
    });
  });

  function loadSnapshot() {
    fetch(board.dataset.stateUrl, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (snapshot) {
        snapshot.notifications.forEach(applyNotification);
        snapshot.responses.forEach(applyResponse);
        // The map script comes after this one; by now it has run. People an
        // escalation brought in before the page joined join the map too.
        if (typeof window.tocsinApplyResponse === "function") {
          snapshot.notifications.forEach(function (n) { window.tocsinAddResponder(n); });
          snapshot.responses.forEach(function (r) { window.tocsinApplyResponse(r); });
        }
        ready = true;
        show();
        liveState.textContent = "live";
      });
  }
  socket.on("disconnect", function () { liveState.textContent = "reconnecting…"; });
  socket.on("notifications", function (list) { list.forEach(applyNotification); show(); });
  socket.on("notification_added", function (n) { applyNotification(n); show(); });
  socket.on("responses", function (list) { list.forEach(applyResponse); show(); });
  socket.on("queues", showQueues);
  socket.on("quorum", function (q) {
    showQuorum(q);
    if (q.met) { refreshEscalation(); }  // a met quorum stops the alert's escalations
  });
  socket.on("escalation", function (e) {
    showEscalation(e);
    (e.notifications || []).forEach(applyNotification);
    show();
  });
  socket.on("alert", showAlert);

  // An update or stand-down sent from any console (or the API): its message
  // and a ticking "sent ... ago", as the page renders it. Text nodes only.
  function showAlert(a) {
    if (document.querySelector('blockquote[data-alert="' + a.id + '"]')) { return; }
    var kind = String(a.kind).replace(/_/g, " ");
    var quote = document.createElement("blockquote");
    quote.dataset.alert = a.id;
    quote.dataset.alertKind = a.kind;
    if (a.kind !== "alert") {
      var label = document.createElement("b");
      label.textContent = kind + ":";
      quote.appendChild(label);
      quote.appendChild(document.createTextNode(" "));
    }
    quote.appendChild(document.createTextNode(a.message));
    var footer = document.createElement("footer");
    footer.className = "muted";
    var at = document.createElement("time");
    at.setAttribute("datetime", a.at);
    at.setAttribute("data-since", "");
    footer.appendChild(document.createTextNode(kind + " sent "));
    footer.appendChild(at);
    quote.appendChild(footer);
    tickOne(at);
    var quotes = document.querySelectorAll("blockquote[data-alert]");
    var last = quotes[quotes.length - 1];
    if (last) {
      last.parentNode.insertBefore(quote, last.nextSibling);
    } else {  // the incident's first alert (it was opened without one, e.g. from CAP)
      var none = document.getElementById("no-alert-yet");
      if (none) { none.parentNode.removeChild(none); }
      document.getElementById("alerts").appendChild(quote);
    }
    // A new call-out reaches people the page has no row for: the snapshot brings them.
    if (a.kind === "alert") { loadSnapshot(); }
  }

  // Quorum and escalation lines: one <li> each, the server's text and a
  // countdown to the quorum's deadline or the next step.
  function showLine(listId, key, id, text, until, past) {
    var list = document.getElementById(listId);
    var li = list.querySelector("[data-" + key + '="' + id + '"]');
    if (!li) {
      li = document.createElement("li");
      li.dataset[key] = id;
      li.appendChild(document.createElement("span")).className = "line";
      list.appendChild(li);
    }
    li.querySelector(".line").textContent = text;
    var countdown = li.querySelector(".countdown");
    if (!until) {
      if (countdown) { countdown.remove(); }
      return li;
    }
    if (!countdown) {
      countdown = li.appendChild(document.createElement("span"));
      countdown.className = "countdown";
    }
    countdown.dataset.until = until;
    countdown.dataset.past = past;
    tickOne(countdown);
    return li;
  }

  function showQuorum(q) {
    var li = showLine("quorums", "quorum", q.alert_id, q.text, q.met ? null : q.deadline_at, "deadline passed");
    li.dataset.met = q.met ? "yes" : "no";
  }

  function showEscalation(e) {
    var li = showLine("escalations", "escalation", e.id, e.text, e.next ? e.next.at : null, "due now");
    li.dataset.state = e.state;
  }

  function refreshEscalation() {
    var section = document.getElementById("escalation");
    if (!section) { return; }
    fetch(section.dataset.url, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        s.quorums.forEach(showQuorum);
        s.escalations.forEach(showEscalation);
      });
  }

  var LABELS = {sms: "SMS", voice: "Voice", email: "Email", push: "Push"};

  function showQueues(queues) {
    var list = document.getElementById("queues");
    if (!list) { return; }
    list.textContent = "";
    Object.keys(queues).forEach(function (channel) {
      var q = queues[channel];
      if (!q.queued && !q.drill_waiting) { return; }
      var li = document.createElement("li");
      li.dataset.queue = channel;
      var eta = q.eta_seconds == null ? "estimating…" : "last in ~" + Math.ceil(q.eta_seconds) + " s";
      var text = (LABELS[channel] || channel) + ": " + q.queued.toLocaleString("en") + " queued, " + eta;
      // Drill messages wait behind live alerts; say so rather than count them as a backlog.
      if (q.drill_waiting) {
        text += " (" + q.drill_waiting.toLocaleString("en") + " drill messages held back for live alerts)";
      }
      li.textContent = text;
      list.appendChild(li);
    });
  }
})();
