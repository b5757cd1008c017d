// Live incident board: statuses and answers arrive over Socket.IO, no reload.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board || typeof io === "undefined") { return; }
  var incidentId = parseInt(board.dataset.incident, 10);
  var state = document.getElementById("live-state");
  var socket = io();
  window.tocsinSocket = socket;

  function recount() {
    var counts = {};
    board.querySelectorAll("[data-notification]").forEach(function (el) {
      var s = el.dataset.status;
      counts[s] = (counts[s] || 0) + 1;
    });
    document.querySelectorAll("[data-count]").forEach(function (el) {
      var key = el.dataset.count;
      if (key === "answered") {
        el.textContent = board.querySelectorAll("td.answer[data-answer]:not([data-answer=''])").length;
      } else {
        el.textContent = counts[key] || 0;
      }
    });
  }

  // Join first, then fetch the state: whatever changed between rendering the
  // page (or a reconnect) and joining the room is in the snapshot.
  socket.on("connect", function () {
    socket.emit("join", {incident_id: incidentId}, function (reply) {
      if (!(reply && reply.ok)) {
        state.textContent = "not live: " + (reply && reply.error);
        return;
      }
      fetch(board.dataset.stateUrl, {credentials: "same-origin"})
        .then(function (r) { return r.json(); })
        .then(function (snapshot) {
          snapshot.notifications.forEach(addNotification);
          snapshot.responses.forEach(showResponse);
          state.textContent = "live";
        });
      refreshEscalation();
    });
  });
  socket.on("disconnect", function () { state.textContent = "reconnecting…"; });
  socket.on("notifications", function (list) { list.forEach(showNotification); });
  socket.on("notification_added", addNotification);
  socket.on("response", showResponse);
  socket.on("queues", showQueues);
  socket.on("quorum", function (q) {
    showLine("quorums", "quorum", q.alert_id, q.text).dataset.met = q.met ? "yes" : "no";
    if (q.met) { refreshEscalation(); }  // a met quorum stops the alert's escalations
  });
  socket.on("escalation", function (e) {
    showLine("escalations", "escalation", e.id, e.text).dataset.state = e.state;
    (e.notifications || []).forEach(addNotification);
  });

  // Quorum and escalation lines: one <li> each, replaced by the server's text.
  function showLine(listId, key, id, text) {
    var list = document.getElementById(listId);
    var li = list.querySelector("[data-" + key + '="' + id + '"]');
    if (!li) {
      li = document.createElement("li");
      li.dataset[key] = id;
      list.appendChild(li);
    }
    li.textContent = text;
    return li;
  }

  function refreshEscalation() {
    var section = document.getElementById("escalation");
    if (!section) { return; }
    fetch(section.dataset.url, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(function (s) {
        s.quorums.forEach(function (q) {
          showLine("quorums", "quorum", q.alert_id, q.text).dataset.met = q.met ? "yes" : "no";
        });
        s.escalations.forEach(function (e) {
          showLine("escalations", "escalation", e.id, e.text).dataset.state = e.state;
        });
      });
  }

  var LABELS = {sms: "SMS", voice: "Voice", email: "Email", push: "Push"};

  function showQueues(queues) {
    var list = document.getElementById("queues");
    if (!list) { return; }
    list.textContent = "";
    Object.keys(queues).forEach(function (channel) {
      var q = queues[channel];
      if (!q.queued) { return; }
      var li = document.createElement("li");
      li.dataset.queue = channel;
      var eta = q.eta_seconds == null ? "estimating…" : "last in ~" + Math.ceil(q.eta_seconds) + " s";
      li.textContent = LABELS[channel] + ": " + q.queued.toLocaleString("en") + " queued, " + eta;
      list.appendChild(li);
    });
  }

  // A fallback, a replay or an escalation step: a notification the page has not
  // seen yet, perhaps to a responder it has no row for (a backup team, another agency).
  function addNotification(n) {
    if (board.querySelector('[data-notification="' + n.id + '"]')) { return showNotification(n); }
    var cell = board.querySelector('tr[data-responder="' + n.responder_id + '"] td.notifications');
    if (!cell && n.responder_name) { cell = addResponder(n); }
    if (!cell) { return; }
    var el = document.createElement("span");
    el.dataset.notification = n.id;
    el.dataset.status = "pending";
    cell.appendChild(document.createTextNode(" "));
    cell.appendChild(el);
    showNotification(n);
  }

  function addResponder(n) {
    var row = document.createElement("tr");
    row.dataset.responder = n.responder_id;
    [n.responder_name, n.agency_name || "", "", "—"].forEach(function (text, i) {
      var td = document.createElement("td");
      td.textContent = text;
      if (i === 2) { td.className = "notifications"; }
      if (i === 3) { td.className = "answer answer-none"; td.dataset.answer = ""; }
      row.appendChild(td);
    });
    board.querySelector("tbody").appendChild(row);
    return row.querySelector("td.notifications");
  }

  // Statuses only move forward, as on the server: a stale snapshot or a late
  // event never undoes a newer one.
  var RANK = {pending: 0, queued: 1, sent: 2, delivered: 3, failed: 3, undelivered: 3, cancelled: 3};

  function showNotification(n) {
    var el = board.querySelector('[data-notification="' + n.id + '"]');
    if (!el) { return addNotification(n); }
    if (n.error) { el.title = n.error; }
    if ((RANK[n.status] || 0) <= (RANK[el.dataset.status] || 0)) { return; }
    el.className = "status status-" + n.status;
    el.dataset.status = n.status;
    el.textContent = n.channel + ": " + n.status;
    recount();
  }

  function showResponse(r) {
    var cell = board.querySelector('tr[data-responder="' + r.responder_id + '"] td.answer');
    if (!cell || (cell.dataset.at && cell.dataset.at > r.at)) { return; }
    cell.dataset.at = r.at;
    cell.className = "answer answer-" + r.answer;
    cell.dataset.answer = r.answer;
    cell.textContent = r.label + (r.eta_minutes != null ? " (ETA " + r.eta_minutes + " min)" : "");
    recount();
  }
})();
