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
        // Screen readers hear it through the page's live region.
        var announce = document.getElementById("announce");
        if (announce) {
          announce.textContent = "Copied";
          setTimeout(function () { announce.textContent = ""; }, 1500);
        }
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

  // A key just created or regenerated: focus moves to it, so it is read out and copied first.
  var fresh = document.getElementById("new-key");
  var notice = document.getElementById("notice");
  if (fresh) {
    fresh.focus();
  } else if (notice) {
    // After a change the page says what happened, and focus starts there so it is read out.
    notice.focus();
  }

  // "Package owner" on the key page: the package checkboxes and the lifetimes on offer follow the
  // chosen owner in place (without this script, "Show packages" reloads the form with them).
  var owner = document.getElementById("owner");
  var packageList = document.getElementById("owner-packages");
  var chosenOwner = function () {
    return owner ? owner.options[owner.selectedIndex] : null;
  };
  var updatePreview = function () {};

  // Live preview of which of the owner's packages the glob patterns match (same rules as the
  // server: '*' is the only wildcard, anchored, case-insensitive).
  var globs = document.getElementById("globs");
  var preview = document.getElementById("glob-preview");
  if (globs && preview) {
    var toRegex = function (glob) {
      var escaped = glob.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
      return new RegExp("^" + escaped + "$", "i");
    };
    updatePreview = function () {
      var owned = Array.prototype.map.call(document.querySelectorAll("[data-package]"), function (el) {
        return el.getAttribute("data-package");
      });
      var option = chosenOwner();
      var whose = !option || option.hasAttribute("data-self") ? "your packages" : "the packages of " + option.value;
      var patterns = globs.value.split(/[\s,;]+/).filter(Boolean);
      if (!patterns.length) { preview.textContent = ""; return; }
      var valid = patterns.every(function (p) { return /^[A-Za-z0-9_.*-]+$/.test(p); });
      if (!valid) { preview.textContent = "Glob patterns may use letters, digits, '.', '-', '_' and '*' only."; return; }
      var regexes = patterns.map(toRegex);
      var matches = owned.filter(function (id) { return regexes.some(function (r) { return r.test(id); }); });
      preview.textContent = matches.length
        ? "Matches " + whose + ": " + matches.join(", ") + " (and any future package that matches)."
        : "Matches none of " + whose + " yet (it will cover future packages that match).";
    };
    globs.addEventListener("input", updatePreview);
    updatePreview();
  }

  if (owner && packageList) {
    var show = document.getElementById("show-packages");
    if (show) show.parentNode.removeChild(show);
    var shownOwner = document.getElementById("shown-owner");
    var expires = document.getElementById("expires-in");
    owner.addEventListener("change", function () {
      var option = chosenOwner();
      var ticked = {};
      packageList.querySelectorAll("input[data-package]").forEach(function (box) {
        if (box.checked) ticked[box.value.toLowerCase()] = true;
      });
      var ids = (option.getAttribute("data-packages") || "").split(" ").filter(Boolean);
      while (packageList.firstChild) packageList.removeChild(packageList.firstChild);
      ids.forEach(function (id, i) {
        var row = document.createElement("div");
        row.className = "check";
        var box = document.createElement("input");
        box.type = "checkbox";
        box.id = "pkg-" + (i + 1);
        box.name = "packages";
        box.value = id;
        box.setAttribute("data-package", id);
        box.checked = !!ticked[id.toLowerCase()];
        var label = document.createElement("label");
        label.htmlFor = box.id;
        label.textContent = id;
        row.appendChild(box);
        row.appendChild(label);
        packageList.appendChild(row);
      });
      if (!ids.length) {
        var empty = document.createElement("p");
        empty.className = "muted";
        empty.textContent = (option.hasAttribute("data-self") ? "You own" : option.value + " owns") +
          " no packages yet: use a glob pattern.";
        packageList.appendChild(empty);
      }
      if (shownOwner) shownOwner.value = option.value;
      if (expires) {
        // Lifetimes past the owner's cap are disabled; a disabled choice moves to the longest allowed.
        var max = parseInt(option.getAttribute("data-max-days"), 10) || Infinity;
        var longest = null;
        Array.prototype.forEach.call(expires.options, function (o) {
          o.disabled = parseInt(o.value, 10) > max;
          if (!o.disabled) longest = o;
        });
        var selected = expires.options[expires.selectedIndex];
        if ((!selected || selected.disabled) && longest) longest.selected = true;
      }
      updatePreview();
    });
  }
})();
