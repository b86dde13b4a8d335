// netlint's HTML report checks itself when it opens: any script error, any blocked fetch (the page's
// Content-Security-Policy allows none), a link whose target is missing or a chart whose marks do not
// match its layer count is written into <body data-problems>, and data-ok says "true" only when there
// is none. A link to something inside a closed <details> opens it.
(function () {
  "use strict";
  var problems = [];
  function problem(text) {
    problems.push(String(text));
    if (document.body) {
      document.body.dataset.ok = "false";
      document.body.dataset.problems = problems.join("\n");
    }
  }
  window.addEventListener("error", function (e) {
    var t = e.target;
    problem(e.message || "could not load " + ((t && (t.src || t.href)) || "a resource"));
  }, true);
  window.addEventListener("unhandledrejection", function (e) { problem(e.reason); });
  document.addEventListener("securitypolicyviolation", function (e) {
    problem("blocked by the page's policy: " + e.blockedURI);
  });
  function target(hash) {
    return hash.length > 1 ? document.getElementById(decodeURIComponent(hash.slice(1))) : null;
  }
  function reveal(hash) {
    var node = target(hash);
    for (var d = node && node.closest("details"); d; d = d.parentElement && d.parentElement.closest("details")) {
      d.open = true;
    }
    return node;
  }
  window.addEventListener("hashchange", function () { reveal(location.hash); });
  document.addEventListener("click", function (e) {
    var a = e.target.closest && e.target.closest("a");
    var href = a && a.getAttribute("href");
    if (href && href.charAt(0) === "#") { reveal(href); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("a[href^='#']").forEach(function (a) {
      if (!target(a.getAttribute("href"))) { problem("a link to a missing target: " + a.getAttribute("href")); }
    });
    document.querySelectorAll("svg[data-marks]").forEach(function (svg) {
      var marks = svg.querySelectorAll(".mark").length;
      if (marks !== Number(svg.dataset.marks)) {
        problem(svg.id + ": " + marks + " marks for " + svg.dataset.marks + " BatchNorm layers");
      }
    });
    var node = reveal(location.hash);
    if (node) { node.scrollIntoView(); }
    if (!problems.length) { document.body.dataset.ok = "true"; }
  });
})();
