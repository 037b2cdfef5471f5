// Prefills the time zone from the browser; without JavaScript the select still works on its own.
(function () {
  var select = document.getElementById('timeZone');
  if (!select || select.getAttribute('data-prefill') !== 'yes') return;
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && select.querySelector('option[value="' + zone + '"]')) select.value = zone;
  } catch (e) {
    /* keep the default */
  }
})();
