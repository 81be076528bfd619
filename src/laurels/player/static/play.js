// The player page's real time (docs/realtime.md, "From a browser").
//
// Opens the RTA socket (the browser sends the session cookie), subscribes to the
// unlock notifications of every title the page shows (<body data-title-ids>) and to
// the progress of their SCIDs (data-scids). An unlock shows one "Achievement
// Unlocked" toast in #toasts, one after another when several arrive; an unlock or a
// progress event refetches the page's two live parts (data-fragment) and puts them
// in place of #achievements and #feed. When the socket drops, it connects again after
// a growing delay and resubscribes from the last event it saw ({"since": eventId}),
// so nothing is missed; the eventIds already shown are kept in sessionStorage, so
// nothing is shown twice. Without JavaScript the page is the same, reloaded by hand.
"use strict";
function startPlayerRealtime() {
  var SUBPROTOCOL = "rta.xboxlive.com.V2";
  var EVENT = 3;
  var SUBSCRIBE = 1;
  var RESYNC = 4;
  var SUCCESS = 0;
  var TOAST_MS = 5000; // how long each toast stays
  var LEAVE_MS = 250; // its fade-out (none with reduced motion)
  var REFRESH_DELAY_MS = 150; // one refetch for the events of one update
  var FIRST_RETRY_MS = 500;
  var MAX_RETRY_MS = 30000;
  var SHOWN_KEY = "laurels.play.shown";
  var SHOWN_KEPT = 200;

  var body = document.body;
  var container = document.getElementById("toasts");
  if (!container) return; // not a player page
  var reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  // --- What the page shows ---------------------------------------------------------

  function listed(name) {
    var value = body.getAttribute(name) || "";
    return value
      .split(",")
      .map(function (item) {
        return item.trim();
      })
      .filter(Boolean);
  }

  function resources() {
    var xuid = body.getAttribute("data-xuid");
    if (!xuid) return [];
    var notify = listed("data-title-ids").map(function (titleId) {
      return (
        "https://notify.xboxlive.com/users/xuid(" + xuid + ")/deviceId/current/titleId/" + titleId
      );
    });
    var progress = listed("data-scids").map(function (scid) {
      return "https://achievements.xboxlive.com/users/xuid(" + xuid + ")/achievements/" + scid;
    });
    return notify.concat(progress);
  }

  // --- Toasts shown: once per eventId, across reconnects and reloads ---------------

  function shownIds() {
    try {
      var kept = JSON.parse(window.sessionStorage.getItem(SHOWN_KEY) || "[]");
      return Array.isArray(kept) ? kept : [];
    } catch (error) {
      return []; // storage refused (privacy mode) or damaged: this page's memory only
    }
  }

  var shownHere = shownIds(); // the same list, when storage is refused

  function firstTime(id) {
    var kept = shownIds();
    if (kept.indexOf(id) >= 0 || shownHere.indexOf(id) >= 0) return false;
    var mine = shownHere.filter(function (seen) {
      return kept.indexOf(seen) < 0; // what storage refused to keep
    });
    shownHere = kept.concat(mine, [id]).slice(-SHOWN_KEPT);
    try {
      window.sessionStorage.setItem(SHOWN_KEY, JSON.stringify(shownHere));
    } catch (error) {
      /* full or refused: shownHere still remembers for this page */
    }
    return true;
  }

  // --- Toasts: one at a time -------------------------------------------------------

  var waiting = [];
  var showing = false;

  function sameOrigin(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.origin === window.location.origin;
    } catch (error) {
      return false;
    }
  }

  function line(className, text) {
    var element = document.createElement("p");
    element.className = className;
    element.textContent = text;
    return element;
  }

  function buildToast(unlock) {
    var toast = document.createElement("div");
    toast.className = "toast";
    toast.setAttribute("role", "status");
    var icon = unlock.achievementIcon;
    if (typeof icon === "string" && icon && sameOrigin(icon)) {
      var image = document.createElement("img");
      image.className = "toast-icon";
      image.src = icon;
      image.alt = ""; // the name follows in text
      image.width = 48;
      image.height = 48;
      toast.appendChild(image);
    }
    var lines = [
      line("toast-title", container.getAttribute("data-title-text") || ""),
      line("toast-name", String(unlock.achievementName || "")),
    ];
    if (typeof unlock.gamerscore === "number") {
      var unit = container.getAttribute("data-gamerscore-text") || "G";
      lines.push(line("toast-score", unlock.gamerscore + "\u00a0" + unit));
    }
    var text = document.createElement("div");
    text.className = "toast-text";
    lines.forEach(function (element, index) {
      if (index) text.appendChild(document.createTextNode(" ")); // words apart in its text
      text.appendChild(element);
    });
    toast.appendChild(text);
    return toast;
  }

  function showNext() {
    if (showing || !waiting.length || !container) return;
    showing = true;
    var toast = buildToast(waiting.shift());
    container.appendChild(toast); // complete before it is added: announced whole
    window.setTimeout(function () {
      dismiss(toast);
    }, TOAST_MS);
  }

  function dismiss(toast) {
    if (toast.matches(":hover")) {
      // Being read under the pointer: keep it a little longer.
      window.setTimeout(function () {
        dismiss(toast);
      }, 1000);
      return;
    }
    var gone = function () {
      toast.remove();
      showing = false;
      showNext();
    };
    if (reducedMotion.matches) {
      gone();
      return;
    }
    toast.classList.add("toast-leaving");
    window.setTimeout(gone, LEAVE_MS);
  }

  function notify(unlock) {
    var id = unlock.eventId || unlock.titleId + ":" + unlock.achievementId;
    if (!firstTime(String(id))) return;
    waiting.push(unlock);
    showNext();
  }

  // --- The live parts, refetched ---------------------------------------------------

  var refreshTimer = null;
  var refreshing = false;
  var refreshAgain = false;

  function refreshSoon() {
    if (!body.getAttribute("data-fragment") || refreshTimer !== null) return;
    refreshTimer = window.setTimeout(function () {
      refreshTimer = null;
      refresh();
    }, REFRESH_DELAY_MS);
  }

  function replaceSection(fresh, id) {
    var current = document.getElementById(id);
    var replacement = fresh.getElementById(id);
    if (!current || !replacement) return;
    var focused = document.activeElement;
    var focusedId = focused && current.contains(focused) ? focused.id : "";
    current.replaceWith(document.adoptNode(replacement));
    if (focusedId) {
      var again = document.getElementById(focusedId);
      if (again) again.focus();
    }
  }

  function refresh() {
    if (refreshing) {
      refreshAgain = true; // an event arrived while the last answer was on its way
      return;
    }
    refreshing = true;
    fetch(body.getAttribute("data-fragment"), {
      credentials: "same-origin",
      headers: { Accept: "text/html" },
    })
      .then(function (answer) {
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) return;
        var fresh = new DOMParser().parseFromString(html, "text/html");
        replaceSection(fresh, "achievements");
        replaceSection(fresh, "feed");
      })
      .catch(function () {
        /* offline or signed out: the next event or reconnect refetches */
      })
      .then(function () {
        refreshing = false;
        if (refreshAgain) {
          refreshAgain = false;
          refresh();
        }
      });
  }

  // --- The socket ------------------------------------------------------------------

  var wanted = resources();
  var lastEvent = {}; // resource URI -> the last eventId seen for it
  var socket = null;
  var failures = 0;
  var retryTimer = null;
  var stopped = false;
  var connectedBefore = false;

  function socketUrl() {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + "/connect";
  }

  function retryDelay(attempt) {
    var full = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * Math.pow(2, attempt));
    return full / 2 + Math.random() * (full / 2); // jitter: pages do not return in step
  }

  function subscribeAll(ws) {
    var bySeq = {};
    wanted.forEach(function (uri, index) {
      var seq = index + 1;
      var frame = [SUBSCRIBE, seq, uri];
      if (lastEvent[uri]) frame.push({ since: lastEvent[uri] });
      bySeq[seq] = uri;
      ws.send(JSON.stringify(frame));
    });
    return bySeq;
  }

  function connect() {
    retryTimer = null;
    if (stopped || !wanted.length) return;
    var ws = new WebSocket(socketUrl(), SUBPROTOCOL);
    var bySeq = {};
    var bySub = {};
    socket = ws;
    ws.onopen = function () {
      bySeq = subscribeAll(ws);
      if (connectedBefore) refreshSoon(); // what changed while away, progress included
      connectedBefore = true;
    };
    ws.onmessage = function (message) {
      var frame;
      try {
        frame = JSON.parse(message.data);
      } catch (error) {
        return;
      }
      if (!Array.isArray(frame)) return;
      if (frame[0] === SUBSCRIBE) subscribed(frame, bySeq, bySub);
      else if (frame[0] === EVENT) received(bySub[frame[1]], frame[2]);
      else if (frame[0] === RESYNC) resync(ws);
    };
    ws.onclose = function () {
      if (socket === ws) socket = null;
      if (stopped) return;
      retryTimer = window.setTimeout(connect, retryDelay(failures));
      failures += 1;
    };
  }

  function subscribed(frame, bySeq, bySub) {
    var uri = bySeq[frame[1]];
    if (!uri || frame[2] !== SUCCESS) return; // denied or unknown: nothing to wait for
    failures = 0; // the service answers: start again from a short delay next time
    bySub[frame[3]] = uri;
    var initial = frame[4] || {};
    // With `since` the replay follows this answer: the last event stays the one we saw.
    if (!lastEvent[uri] && initial.lastEventId) lastEvent[uri] = initial.lastEventId;
  }

  function received(uri, data) {
    if (!uri || !data || typeof data !== "object") return;
    if (data.eventId) lastEvent[uri] = data.eventId;
    if (uri.indexOf("https://notify.xboxlive.com/") === 0) notify(data);
    refreshSoon();
  }

  function resync(ws) {
    // Events were dropped for a slow reader: reconnect to replay them from `since`.
    refreshSoon();
    failures = 0;
    ws.close();
  }

  window.addEventListener("pagehide", function () {
    stopped = true;
    if (retryTimer !== null) window.clearTimeout(retryTimer);
    if (socket) socket.close(1000);
  });
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return; // back from the back-forward cache: connect again
    stopped = false;
    failures = 0;
    connect();
  });

  connect();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", startPlayerRealtime);
} else {
  startPlayerRealtime();
}
