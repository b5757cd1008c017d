// Responder page: "Share my position", added only where the browser can locate
// the phone. Without JavaScript or geolocation the form posts the answer alone.
(function () {
  "use strict";
  var form = document.getElementById("answer-form");
  var box = document.getElementById("position");
  // Browsers give a position only to secure pages (https, or this machine).
  if (!form || !box || !window.isSecureContext || !("geolocation" in navigator)) { return; }
  var button = box.querySelector("button.share");
  var status = document.getElementById("position-status");
  var lat = form.elements.lat;
  var lon = form.elements.lon;
  var PROBLEMS = {
    1: "Position not shared: this browser is not allowed to use it.",
    2: "Position not available: the phone could not find where it is.",
    3: "Position not found in time."
  };
  box.hidden = false;

  function say(text, problem) {
    status.textContent = text;
    status.classList.toggle("problem", Boolean(problem));
  }

  function located(position) {
    lat.value = position.coords.latitude.toFixed(6);
    lon.value = position.coords.longitude.toFixed(6);
    button.disabled = false;
    button.textContent = "Update my position";
    say("Position shared (±" + Math.round(position.coords.accuracy) +
        " m). It goes with your answer.");
  }

  function failed(error) {
    button.disabled = false;
    say((PROBLEMS[error.code] || "Position not found.") +
        " Your answer still goes through without it.", true);
  }

  button.addEventListener("click", function () {
    lat.value = "";  // never send an old position with a new answer
    lon.value = "";
    button.disabled = true;
    say("Finding your position…");
    navigator.geolocation.getCurrentPosition(located, failed,
      {enableHighAccuracy: true, timeout: 20000, maximumAge: 60000});
  });
})();
