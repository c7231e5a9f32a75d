// The console's only script of its own (htmx does the rest from hx-* attributes).
//
// A page swapped in by htmx takes the focus as a freshly loaded page would: htmx would put it back
// on the field that had it when that field's id is on the new page too, which keeps a cashier in the
// search box when the answer asks for a name next. Letting go of the focus before the swap leaves it
// to the new page's `autofocus`.
document.addEventListener("htmx:beforeSwap", function () {
  if (document.activeElement && document.activeElement !== document.body) {
    document.activeElement.blur();
  }
});
