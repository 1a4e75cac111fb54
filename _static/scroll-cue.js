// reuse-ref: mark every box that scrolls sideways and has more to show (class rr-scrolls),
// and whether it is scrolled to its end (rr-at-end); reuse-ref.css draws the cue.
(function () {
  "use strict";
  var scrolls = function (el) {
    var x = getComputedStyle(el).overflowX;
    return (x === "auto" || x === "scroll") && el.scrollWidth > el.clientWidth + 1;
  };
  var atEnd = function (el) {
    return el.scrollLeft + el.clientWidth >= el.scrollWidth - 1;
  };
  var update = function (el) {
    var more = scrolls(el);
    el.classList.toggle("rr-scrolls", more);
    el.classList.toggle("rr-at-end", more && atEnd(el));
  };
  var mark = function () {
    var boxes = document.querySelectorAll("main pre, main .output, main .highlight, main .table-wrapper, " +
                                          "main .pst-scrollable-table-container, main div, main table");
    for (var i = 0; i < boxes.length; i++) {
      var el = boxes[i];
      update(el);
      if (!el.dataset.rrCue && el.classList.contains("rr-scrolls")) {
        el.dataset.rrCue = "1";
        el.addEventListener("scroll", function (event) { update(event.currentTarget); }, {passive: true});
      }
    }
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", mark);
  } else {
    mark();
  }
  window.addEventListener("load", mark);
  window.addEventListener("resize", mark);
}());
