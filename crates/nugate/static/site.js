// Progressive enhancement only: every form works without this file.
(function () {
  "use strict";
  // Copy buttons: <button data-copy="element-id"> next to an input or a <pre>.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) return;
      var done = function () {
        var label = button.textContent;
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = label; }, 1500);
      };
      // Inputs copy their value; code blocks (<pre>) their text.
      var text = "value" in input ? input.value : input.textContent;
      var fallback = function () {
        if (input.select) {
          input.select();
        } else {
          var range = document.createRange();
          range.selectNodeContents(input);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
        }
        document.execCommand("copy");
        done();
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
    });
  });

  // Live preview of which owned packages the glob patterns match (same rules as the server:
  // '*' is the only wildcard, anchored, case-insensitive).
  var globs = document.getElementById("globs");
  var preview = document.getElementById("glob-preview");
  if (globs && preview) {
    var owned = Array.prototype.map.call(document.querySelectorAll("[data-package]"), function (el) {
      return el.getAttribute("data-package");
    });
    var toRegex = function (glob) {
      var escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
      return new RegExp("^" + escaped + "$", "i");
    };
    var update = function () {
      var patterns = globs.value.split(/[\s,;]+/).filter(Boolean);
      if (!patterns.length) { preview.textContent = ""; return; }
      var valid = patterns.every(function (p) { return /^[A-Za-z0-9_.*-]+$/.test(p); });
      if (!valid) { preview.textContent = "Glob patterns may use letters, digits, '.', '-', '_' and '*' only."; return; }
      var regexes = patterns.map(toRegex);
      var matches = owned.filter(function (id) { return regexes.some(function (r) { return r.test(id); }); });
      preview.textContent = matches.length
        ? "Matches your packages: " + matches.join(", ") + " (and any future package that matches)."
        : "Matches none of your packages yet (it will cover future packages that match).";
    };
    globs.addEventListener("input", update);
    update();
  }
})();
