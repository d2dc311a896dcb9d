// The product page's own behaviour, in a file rather than inline so the page runs under a
// strict Content Security Policy (script-src 'self') as well.
var count = 0;
document.getElementById("add").addEventListener("click", function () {
  document.getElementById("cart-count").textContent = String(++count);
});
// The "photo" loads late and grows the page (what image-heavy pages do to scroll depth).
window.addEventListener("load", function () {
  setTimeout(function () {
    document.getElementById("photo").style.height = "1400px";
    document.documentElement.dataset.grown = "yes";
  }, 200);
});
