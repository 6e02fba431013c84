/* Apply the saved theme before first paint (no flash).  No saved choice: follow the OS. */
(function () {
  try {
    var t = localStorage.getItem("paperwire-theme");
    if (t === "dark" || t === "light") document.documentElement.setAttribute("data-theme", t);
  } catch (e) { /* storage blocked: the OS preference applies */ }
})();
