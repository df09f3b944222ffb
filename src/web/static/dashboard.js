// KinoYuBot dashboard script. The server renders every element and every
// word (src/web/view/dashboard.rs); this script only
//  - swaps in a fresh board (#board) from partials/channels every few seconds,
//  - turns <time class="countdown"> into a running countdown and
//    <time class="when"> into the visitor's local time,
//  - says when the data was last refreshed, or that the bot is unreachable.
// The words it writes come from data- attributes the server rendered, and
// dates are written with Intl in the board's language (its lang attribute),
// not the browser's. It never builds markup and never looks at what the
// data means.
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  // Server clock minus ours, from the Date header; applied only when the
  // gap is larger than the header's one-second resolution.
  var clockOffset = 0;
  var lastSuccess = null;

  // A server-rendered format from a data- attribute, with {name} filled in.
  function words(node, attribute, name, value) {
    var format = (node && node.getAttribute('data-' + attribute)) || '';
    return name ? format.replace('{' + name + '}', value) : format;
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function remaining(ms) {
    var total = Math.ceil(ms / 1000);
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    return (h > 0 ? h + ':' + pad(m) : String(m)) + ':' + pad(s);
  }

  // The page's language for Intl: the board's lang, else the page's.
  function locale(board) {
    var lang = (board && board.getAttribute('lang')) || document.documentElement.lang;
    return lang ? [lang] : [];
  }

  function localWhen(board, date) {
    var time = date.toLocaleTimeString(locale(board), { hour: '2-digit', minute: '2-digit' });
    if (date.toDateString() === new Date().toDateString()) return words(board, 'today', 'time', time);
    return date.toLocaleDateString(locale(board)) + ' ' + time;
  }

  // Runs every second: countdowns, local times, the refresh stamp.
  function tick() {
    var board = document.getElementById('board');
    var now = Date.now() + clockOffset;
    document.querySelectorAll('time.countdown').forEach(function (node) {
      var at = Date.parse(node.getAttribute('datetime'));
      if (isNaN(at)) return;
      var left = at - now;
      node.textContent = left > 0 ? words(board, 'countdown', 'time', remaining(left)) : words(board, 'due');
      node.title = new Date(at).toLocaleString(locale(board));
    });
    document.querySelectorAll('time.when').forEach(function (node) {
      var at = Date.parse(node.getAttribute('datetime'));
      if (isNaN(at)) return;
      node.textContent = localWhen(board, new Date(at));
      node.title = new Date(at).toLocaleString(locale(board));
    });
    var updated = document.getElementById('updated');
    if (updated && lastSuccess !== null) {
      var ago = Math.max(0, Math.round((Date.now() - lastSuccess) / 1000));
      updated.textContent = ago < 2 ? words(updated, 'just-now') : words(updated, 'ago', 'seconds', ago);
    }
  }

  function showOffline(offline) {
    var notice = document.getElementById('notice');
    if (!notice) return;
    notice.textContent = offline ? words(notice, 'offline') : '';
    notice.hidden = !offline;
  }

  function noteServerClock(response) {
    var date = Date.parse(response.headers.get('Date') || '');
    if (!isNaN(date)) {
      var offset = date - Date.now();
      clockOffset = Math.abs(offset) > 2000 ? offset : 0;
    }
  }

  // Replaces #board with the one the server just rendered. DOMParser never
  // runs scripts, and the server escaped every value it put in.
  function swapBoard(html) {
    var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('board');
    var current = document.getElementById('board');
    if (!fresh || !current) throw new Error('no board');
    current.replaceWith(document.adoptNode(fresh));
  }

  function refresh() {
    // In the page's own language (a signed-in streamer's page speaks
    // their channel's, which the board alone cannot know).
    var headers = { Accept: 'text/html' };
    if (document.documentElement.lang) headers['Accept-Language'] = document.documentElement.lang;
    fetch('partials/channels', { cache: 'no-store', headers: headers })
      .then(function (response) {
        if (!response.ok) throw new Error('partials/channels answered ' + response.status);
        noteServerClock(response);
        return response.text();
      })
      .then(function (html) {
        swapBoard(html);
        lastSuccess = Date.now();
        showOffline(false);
        tick();
      })
      .catch(function () { showOffline(true); })
      .then(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  tick();
  window.setInterval(tick, 1000);
  refresh();
})();
