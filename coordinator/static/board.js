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

  socket.on("connect", function () {
    socket.emit("join", {incident_id: incidentId}, function (reply) {
      state.textContent = reply && reply.ok ? "live" : "not live: " + (reply && reply.error);
    });
  });
  socket.on("disconnect", function () { state.textContent = "reconnecting…"; });

  socket.on("notification", function (n) {
    var el = board.querySelector('[data-notification="' + n.id + '"]');
    if (!el) { return; }
    el.className = "status status-" + n.status;
    el.dataset.status = n.status;
    el.textContent = n.channel + ": " + n.status;
    el.title = n.error || "";
    recount();
  });

  socket.on("response", function (r) {
    var cell = board.querySelector('tr[data-responder="' + r.responder_id + '"] td.answer');
    if (!cell) { return; }
    cell.className = "answer answer-" + r.answer;
    cell.dataset.answer = r.answer;
    cell.textContent = r.label + (r.eta_minutes != null ? " (ETA " + r.eta_minutes + " min)" : "");
    recount();
  });
})();
