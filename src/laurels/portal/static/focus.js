// After a refused form the page comes back with its problems listed at the top:
// move the focus there, so a keyboard user starts from them (screen readers also
// announce them: role="alert"). Nothing to do on a page without problems.
document.addEventListener("DOMContentLoaded", () => {
  const problems = document.getElementById("errors") || document.getElementById("refusal");
  if (problems) {
    problems.focus();
  }
});
