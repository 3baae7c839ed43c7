// The console's only script: live updates. A page with a #live region
// opens a Server-Sent Events stream for its view and swaps in each new
// rendering the server pushes. Without JavaScript the page still reads;
// it just does not update by itself.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!live || !window.EventSource) {
    return;
  }
  function say(text, cls) {
    if (status) {
      status.textContent = text;
      status.className = "live-status " + cls;
    }
  }
  var stream = new EventSource("/live?view=" + encodeURIComponent(live.getAttribute("data-live")));
  stream.onopen = function () { say("live", "good"); };
  stream.onerror = function () { say("reconnecting…", "busy"); };
  stream.addEventListener("view", function (e) {
    // Keep the keyboard where it was: remember the focused element's id.
    var focused = document.activeElement && document.activeElement.id;
    live.innerHTML = e.data;
    live.setAttribute("data-updated", String(Date.now()));
    if (focused) {
      var el = document.getElementById(focused);
      if (el) { el.focus(); }
    }
    say("live", "good");
  });
  stream.addEventListener("problem", function (e) {
    say("cannot update: " + e.data, "bad");
  });
})();
