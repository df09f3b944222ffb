// KinoYuBot dashboard: refreshes the server-rendered page from /api/status
// and /api/raffles, and runs the countdowns. It builds the same markup as
// src/web/dashboard.rs, and only ever puts data in the page with
// textContent or attributes, never as HTML.
(function () {
  'use strict';

  var REFRESH_MS = 5000;
  var RECENT_RAFFLES = 200;
  var WINNERS_PER_CHANNEL = 5;
  var body = document.body;
  var connectUrl = body.getAttribute('data-connect-url');
  // Server clock minus ours, from the Date header; applied only when the
  // gap is larger than the header's one-second resolution.
  var clockOffset = 0;
  var lastSuccess = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function outcomeText(outcome) {
    switch (outcome) {
      case 'won': return 'Won';
      case 'no_prize': return 'No prize';
      case 'no_candidates': return 'No candidates';
      case 'skipped_offline': return 'Skipped (offline)';
      default: return String(outcome);
    }
  }

  function deliveryView(delivery) {
    if (!delivery) return ['none', 'Not announced'];
    var error = delivery.error;
    switch (delivery.status) {
      case 'sent': return ['sent', 'Announced'];
      case 'failed': return ['failed', 'Failed: ' + (error || 'unknown reason')];
      case 'pending': return ['pending', error ? 'Pending (retrying: ' + error + ')' : 'Pending'];
      default: return ['pending', String(delivery.status)];
    }
  }

  function renderWinner(raffle) {
    var li = el('li', 'winner');
    var winner = raffle.winner || {};
    li.appendChild(el('span', 'winner-name', winner.display_name || winner.login || '?'));
    var when = el('time', 'when', raffle.created_at);
    when.setAttribute('datetime', raffle.created_at);
    li.appendChild(when);
    li.appendChild(el('span', 'item', raffle.item || ''));
    var view = deliveryView(raffle.delivery);
    li.appendChild(el('span', 'delivery ' + view[0], view[1]));
    return li;
  }

  function stat(label, valueNode) {
    var div = el('div');
    div.appendChild(el('dt', null, label));
    div.appendChild(valueNode);
    return div;
  }

  function renderChannel(channel, raffles) {
    var card = el('article', 'card');
    card.setAttribute('data-login', channel.login);

    var head = el('header', 'card-head');
    var who = el('div', 'who');
    who.appendChild(el('h2', 'name', channel.display_name));
    who.appendChild(el('span', 'login', '@' + channel.login));
    head.appendChild(who);
    var badges = el('div', 'badges');
    if (channel.live === true) badges.appendChild(el('span', 'badge live', 'Live'));
    else if (channel.live === false) badges.appendChild(el('span', 'badge offline', 'Offline'));
    else badges.appendChild(el('span', 'badge unknown', 'Live status unknown'));
    if (channel.paused) badges.appendChild(el('span', 'badge paused', 'Paused'));
    if (channel.needs_reauth) {
      badges.appendChild(el('span', 'badge warn', 'Needs re-auth'));
      if (connectUrl) {
        var link = el('a', 'reconnect', 'Reconnect');
        link.setAttribute('href', connectUrl);
        badges.appendChild(link);
      }
    } else if (channel.connected) {
      badges.appendChild(el('span', 'badge ok', 'Connected'));
    }
    head.appendChild(badges);
    card.appendChild(head);

    var stats = el('dl', 'stats');
    stats.appendChild(stat('Active viewers', el('dd', 'viewers', channel.active_viewers)));
    var next = el('dd', 'next');
    if (channel.next_raffle_at) {
      var countdown = el('time', 'countdown', channel.next_raffle_at);
      countdown.setAttribute('datetime', channel.next_raffle_at);
      next.appendChild(countdown);
    } else {
      next.textContent = channel.paused ? 'Paused' : 'Not scheduled here';
    }
    stats.appendChild(stat('Next raffle', next));
    var mine = raffles.filter(function (r) { return r.channel === channel.login; });
    var last = el('dd', 'last', mine.length
      ? outcomeText(mine[0].outcome) + ' \u00b7 ' + mine[0].candidates +
        (mine[0].candidates === 1 ? ' candidate' : ' candidates')
      : 'None yet');
    stats.appendChild(stat('Last round', last));
    card.appendChild(stats);

    card.appendChild(el('h3', null, 'Latest winners'));
    var winners = mine.filter(function (r) { return r.outcome === 'won'; }).slice(0, WINNERS_PER_CHANNEL);
    if (winners.length === 0) {
      card.appendChild(el('p', 'none', 'No winners yet.'));
    } else {
      var list = el('ol', 'winners');
      winners.forEach(function (r) { list.appendChild(renderWinner(r)); });
      card.appendChild(list);
    }
    return card;
  }

  function render(channels, raffles) {
    var section = document.getElementById('channels');
    var cards = channels.map(function (c) { return renderChannel(c, raffles); });
    section.replaceChildren.apply(section, cards);
    document.getElementById('empty').hidden = channels.length > 0;
    tick();
  }

  function pad(n) { return n < 10 ? '0' + n : String(n); }

  function formatRemaining(ms) {
    var total = Math.ceil(ms / 1000);
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    return 'in ' + (h > 0 ? h + ':' + pad(m) : String(m)) + ':' + pad(s);
  }

  function formatWhen(date) {
    var now = new Date();
    var sameDay = date.toDateString() === now.toDateString();
    var time = date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    return sameDay ? 'today ' + time : date.toLocaleDateString() + ' ' + time;
  }

  // Runs every second: countdowns, and local times for past events.
  function tick() {
    var now = Date.now() + clockOffset;
    document.querySelectorAll('time.countdown').forEach(function (node) {
      var at = Date.parse(node.getAttribute('datetime'));
      if (isNaN(at)) return;
      var left = at - now;
      node.textContent = left > 0 ? formatRemaining(left) : 'drawing now\u2026';
      node.title = new Date(at).toLocaleString();
    });
    document.querySelectorAll('time.when').forEach(function (node) {
      var at = Date.parse(node.getAttribute('datetime'));
      if (isNaN(at)) return;
      node.textContent = formatWhen(new Date(at));
      node.title = new Date(at).toLocaleString();
    });
    var updated = document.getElementById('updated');
    if (lastSuccess !== null) {
      var ago = Math.max(0, Math.round((Date.now() - lastSuccess) / 1000));
      updated.textContent = ago < 2 ? 'Updated just now' : 'Updated ' + ago + ' s ago';
    }
  }

  function showNotice(text) {
    var notice = document.getElementById('notice');
    notice.textContent = text || '';
    notice.hidden = !text;
  }

  function getJson(url) {
    return fetch(url, { cache: 'no-store', headers: { Accept: 'application/json' } }).then(function (res) {
      if (!res.ok) throw new Error(url + ' answered ' + res.status);
      var date = Date.parse(res.headers.get('Date') || '');
      if (!isNaN(date)) {
        var offset = date - Date.now();
        clockOffset = Math.abs(offset) > 2000 ? offset : 0;
      }
      return res.json();
    });
  }

  function refresh() {
    Promise.all([getJson('api/status'), getJson('api/raffles?limit=' + RECENT_RAFFLES)])
      .then(function (answers) {
        render(answers[0].channels || [], answers[1].raffles || []);
        lastSuccess = Date.now();
        showNotice(null);
        tick();
      })
      .catch(function () {
        showNotice('Cannot reach the bot right now; retrying\u2026');
      })
      .then(function () { window.setTimeout(refresh, REFRESH_MS); });
  }

  tick();
  window.setInterval(tick, 1000);
  refresh();
})();
