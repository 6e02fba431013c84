/* Progressive enhancement only: every feature here also works (or degrades) without JS. */
(function () {
  "use strict";
  var root = document.documentElement;

  /* Dark / light toggle: remembers an explicit choice; otherwise the OS preference wins. */
  var toggle = document.querySelector("[data-theme-toggle]");
  if (toggle) {
    toggle.hidden = false;
    var isDark = function () {
      var t = root.getAttribute("data-theme");
      if (t) return t === "dark";
      return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;
    };
    var sync = function () { toggle.setAttribute("aria-pressed", isDark() ? "true" : "false"); };
    sync();
    toggle.addEventListener("click", function () {
      var next = isDark() ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("paperwire-theme", next); } catch (e) { /* not persisted */ }
      sync();
    });
  }

  /* Math in titles and abstracts: $...$, \(...\), $$...$$, \[...\].  Text stays text on failure. */
  if (window.renderMathInElement) {
    var opts = {
      delimiters: [
        { left: "$$", right: "$$", display: true },
        { left: "\\[", right: "\\]", display: true },
        { left: "$", right: "$", display: false },
        { left: "\\(", right: "\\)", display: false }
      ],
      throwOnError: false,
      strict: "ignore",
      trust: false,
      maxExpand: 200,
      maxSize: 20
    };
    document.querySelectorAll(".math").forEach(function (el) {
      try { window.renderMathInElement(el, opts); } catch (e) { /* leave the TeX as text */ }
    });
  }

  /* Copy BibTeX. */
  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) return;
    button.hidden = false;
    var status = document.querySelector(".copy-status");
    button.addEventListener("click", function () {
      navigator.clipboard.writeText(source.textContent).then(function () {
        if (status) status.textContent = "BibTeX copied to the clipboard.";
      }, function () {
        if (status) status.textContent = "Could not copy: select the text and copy it instead.";
      });
    });
  });

  /* Upvote without a page reload; anything unexpected falls back to the plain form post. */
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-upvote]") || !window.fetch) return;
    event.preventDefault();
    if (form.classList.contains("is-busy")) return;
    form.classList.add("is-busy");
    var token = form.querySelector("input[name=csrf_token]");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": token ? token.value : "" }
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.json();
    }).then(function (data) {
      if (typeof data.upvotes !== "number") throw new Error("unexpected answer");
      var voted = !!data.upvoted;
      document.querySelectorAll('form[data-upvote][action="' + form.getAttribute("action") + '"]').forEach(function (f) {
        f.classList.toggle("is-voted", voted);
        var b = f.querySelector("button");
        var c = f.querySelector("[data-count]");
        if (c) c.textContent = String(data.upvotes);
        if (b) {
          b.setAttribute("aria-pressed", voted ? "true" : "false");
          b.setAttribute("aria-label", "Upvote: " + data.upvotes + (data.upvotes === 1 ? " upvote" : " upvotes") + (voted ? " (you upvoted)" : ""));
          b.title = voted ? "Remove your upvote" : "Upvote";
        }
        f.classList.remove("is-busy");
      });
    }).catch(function () {
      form.classList.remove("is-busy");
      form.submit(); /* e.g. not logged in: the server answers with the login page */
    });
  });
})();
