// Live counts: every element with data-live="<url>" has its [data-count="<group>-<field>"]
// figures refreshed from that same-origin JSON answer every few seconds (the session
// cookie goes with it). Without JavaScript, reloading the page shows the same figures.
"use strict";
(function () {
  var EVERY_MS = 5000;

  function refresh(box) {
    fetch(box.getAttribute("data-live"), {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (answer) {
        return answer.ok ? answer.json() : null;
      })
      .then(function (counts) {
        if (!counts) return;
        box.querySelectorAll("[data-count]").forEach(function (figure) {
          var path = figure.getAttribute("data-count").split("-");
          var group = counts[path[0]];
          var value = group ? group[path[1]] : undefined;
          if (typeof value === "number" && figure.textContent !== String(value)) {
            figure.textContent = String(value); // only changes are announced (aria-live)
          }
        });
      })
      .catch(function () {
        /* offline or signed out: keep the last figures */
      });
  }

  document.querySelectorAll("[data-live]").forEach(function (box) {
    window.setInterval(function () {
      if (!document.hidden) refresh(box);
    }, EVERY_MS);
  });
})();
