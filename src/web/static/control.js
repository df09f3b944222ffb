// KinoYuBot control room script (SPEC §13), loaded only on the dashboard of
// a signed-in streamer. The server renders every control, label and hint
// (src/web/view/control.rs); this script
//  - takes the CSRF token from api/session and sends it (X-CSRF-Token) with
//    every change,
//  - fills in the values the JSON API answers (settings, prizes, viewers),
//  - sends draw, pause, resume, settings, prizes, resend and sign-out,
//  - keeps the probability table current while the prizes are edited, with
//    the numbers `kinoyubot check-items` prints,
//  - swaps in the history the server renders (partials/history/{login}).
// Every word it writes comes from the #control-words JSON block; user text
// (names, the server's messages) is only ever set as textContent.
(function () {
  'use strict';

  var wordsNode = document.getElementById('control-words');
  if (!wordsNode) return;
  var W = JSON.parse(wordsNode.textContent);
  var csrf = null;
  var HISTORY_MS = 5000;
  var VIEWERS_PAGE = 50;

  function fill(format, values) {
    return String(format).replace(/\{(\w+)\}/g, function (match, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : match;
    });
  }

  // A JSON API call: resolves to {status, ok, body}; rejects when the bot
  // cannot be reached. Refusals come back in the page's own language
  // (Accept-Language). Changes carry the CSRF token; the referrer policy
  // is relaxed for our own origin so the browser sends a real Origin
  // header (under the page's no-referrer policy it would send "null").
  function api(method, path, body) {
    var headers = { Accept: 'application/json' };
    if (document.documentElement.lang) headers['Accept-Language'] = document.documentElement.lang;
    if (method !== 'GET') headers['X-CSRF-Token'] = csrf || '';
    var init = { method: method, headers: headers, credentials: 'same-origin', cache: 'no-store' };
    if (method !== 'GET') init.referrerPolicy = 'same-origin';
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { status: response.status, ok: response.ok, body: data };
      });
    });
  }

  function errorOf(reply) {
    return (reply.body && typeof reply.body.error === 'string') ? reply.body.error : String(reply.status);
  }

  // Numbers in the page's language.
  var integerFormat = new Intl.NumberFormat(W.locale, { maximumFractionDigits: 0 });

  // Language::percent: one decimal, two below 0.1 %, the language's sign.
  function percent(fraction) {
    var value = fraction * 100;
    if (!isFinite(value)) return '?';
    var decimals = value !== 0 && Math.abs(value) < 0.1 ? 2 : 1;
    return value.toFixed(decimals).replace('.', W.decimal) + W.percent_sign;
  }

  // items::format_percent, as `kinoyubot check-items` prints it: two to
  // four decimals, then the reader's decimal separator.
  function tablePercent(fraction) {
    var text = (fraction * 100).toFixed(4);
    while (text.charAt(text.length - 1) === '0' && text.split('.')[1].length > 2) {
      text = text.slice(0, -1);
    }
    return (text + '%').replace('.', W.decimal);
  }

  // A probability as typed: a fraction with a dot or the reader's comma.
  function parseProbability(text) {
    var clean = String(text).trim().replace(',', '.');
    if (!/^(\d+\.?\d*|\.\d+)(e-?\d+)?$/i.test(clean)) return null;
    var value = Number(clean);
    return isFinite(value) ? value : null;
  }

  function parseStock(text) {
    var clean = String(text).trim();
    if (clean === '') return { ok: true, value: null };
    if (/^\d+$/.test(clean)) return { ok: true, value: Number(clean) };
    return { ok: false, value: clean };
  }

  function Control(node) {
    this.node = node;
    this.login = node.getAttribute('data-login');
    this.base = 'api/channels/' + encodeURIComponent(this.login) + '/';
    this.alertNode = node.querySelector('.control-alert');
    this.statusNode = node.querySelector('.control-status');
    this.loaded = {};
    this.cursor = null;
    this.bind();
  }

  Control.prototype.q = function (selector) { return this.node.querySelector(selector); };

  // One sentence in the status (polite) or the alert (assertive) region;
  // emptied first so the same sentence twice is announced twice.
  Control.prototype.say = function (text, isError) {
    var target = isError ? this.alertNode : this.statusNode;
    var other = isError ? this.statusNode : this.alertNode;
    other.textContent = '';
    target.textContent = '';
    window.setTimeout(function () { target.textContent = text; }, 30);
  };

  Control.prototype.refused = function (reply) {
    if (reply.status === 401) { this.say(W.session_gone, true); return; }
    this.say(fill(W.refused, { error: errorOf(reply) }), true);
  };

  Control.prototype.unreachable = function () { this.say(W.unreachable, true); };

  // Runs `action` for a button, ignoring clicks while it is on its way.
  Control.prototype.busy = function (button, action) {
    if (button.getAttribute('aria-disabled') === 'true') return;
    button.setAttribute('aria-disabled', 'true');
    var done = function () { button.removeAttribute('aria-disabled'); };
    action().then(done, done);
  };

  Control.prototype.bind = function () {
    var self = this;
    this.q('.draw').addEventListener('click', function (event) {
      self.busy(event.currentTarget, function () { return self.draw(); });
    });
    this.q('.pause').addEventListener('click', function (event) {
      self.busy(event.currentTarget, function () { return self.setPaused(true); });
    });
    this.q('.resume').addEventListener('click', function (event) {
      self.busy(event.currentTarget, function () { return self.setPaused(false); });
    });
    this.q('.sign-out').addEventListener('click', function (event) {
      self.busy(event.currentTarget, function () { return self.signOut(); });
    });
    this.q('form.settings').addEventListener('submit', function (event) {
      event.preventDefault();
      self.busy(self.q('.save-settings'), function () { return self.saveSettings(); });
    });
    this.node.querySelectorAll('.field .reset').forEach(function (button) {
      button.addEventListener('click', function () {
        var field = button.closest('.field');
        self.busy(button, function () { return self.resetSetting(field); });
      });
    });
    var prizes = this.q('form.prizes');
    prizes.addEventListener('submit', function (event) {
      event.preventDefault();
      self.busy(self.q('.save-prizes'), function () { return self.savePrizes(); });
    });
    prizes.addEventListener('input', function () { self.renderChances(); });
    this.q('.add-prize').addEventListener('click', function () {
      var row = self.addPrizeRow({ name: '', probability: '', stock: null });
      self.renumber();
      self.renderChances();
      row.querySelector('.prize-name').focus();
    });
    this.q('.prize-rows').addEventListener('click', function (event) {
      var button = event.target.closest('.remove-prize');
      if (!button) return;
      var row = button.closest('tr');
      var next = row.nextElementSibling || row.previousElementSibling;
      row.remove();
      self.renumber();
      self.renderChances();
      (next ? next.querySelector('.prize-name') : self.q('.add-prize')).focus();
    });
    this.q('.refresh-viewers').addEventListener('click', function (event) {
      self.busy(event.currentTarget, function () { return self.loadViewers(false); });
    });
    this.q('.load-more').addEventListener('click', function (event) {
      self.busy(event.currentTarget, function () { return self.loadViewers(true); });
    });
    this.q('.history-section').addEventListener('click', function (event) {
      var button = event.target.closest('.resend');
      if (!button) return;
      self.busy(button, function () { return self.resend(button.getAttribute('data-raffle')); });
    });
  };

  Control.prototype.start = function () {
    this.loadSettings();
    this.loadPrizes();
    this.loadViewers(false);
    var self = this;
    window.setInterval(function () { self.refreshHistory(); }, HISTORY_MS);
  };

  // Draw, pause, resume, sign out.

  Control.prototype.draw = function () {
    var self = this;
    this.say(W.working, false);
    return api('POST', this.base + 'draw').then(function (reply) {
      if (!reply.ok) { self.refused(reply); return; }
      var outcome = (W.outcomes && W.outcomes[reply.body.outcome]) || reply.body.outcome;
      self.say(fill(W.drawn, { id: reply.body.id, outcome: outcome }), false);
      self.refreshHistory();
      self.loadViewers(false, true);
    }, function () { self.unreachable(); });
  };

  Control.prototype.showPaused = function (paused) {
    var state = this.q('.state');
    state.setAttribute('data-paused', paused ? 'true' : 'false');
    state.textContent = paused ? W.state_paused : W.state_running;
    var pause = this.q('.pause');
    var resume = this.q('.resume');
    var hadFocus = document.activeElement === pause || document.activeElement === resume;
    pause.hidden = paused;
    resume.hidden = !paused;
    if (hadFocus) (paused ? resume : pause).focus();
  };

  Control.prototype.setPaused = function (paused) {
    var self = this;
    return api('POST', this.base + (paused ? 'pause' : 'resume')).then(function (reply) {
      if (!reply.ok) { self.refused(reply); return; }
      self.showPaused(reply.body.paused === true);
      self.say(reply.body.paused ? W.paused_done : W.resumed_done, false);
    }, function () { self.unreachable(); });
  };

  Control.prototype.signOut = function () {
    var self = this;
    return api('POST', 'auth/logout').then(function (reply) {
      if (!reply.ok && reply.status !== 401) { self.refused(reply); return; }
      self.say(W.signed_out, false);
      window.location.reload();
    }, function () { self.unreachable(); });
  };

  // Settings.

  function settingText(value) {
    if (value === null || value === undefined) return '';
    if (Array.isArray(value)) return value.join(',');
    return String(value);
  }

  Control.prototype.fields = function () {
    return Array.prototype.slice.call(this.node.querySelectorAll('.field[data-setting]'));
  };

  Control.prototype.clearFieldErrors = function () {
    this.fields().forEach(function (field) {
      field.querySelector('.field-error').textContent = '';
      field.querySelector('input, select').removeAttribute('aria-invalid');
    });
    this.q('form.settings .form-error').textContent = '';
  };

  Control.prototype.showSettings = function (settings) {
    var self = this;
    this.fields().forEach(function (field) {
      var name = field.getAttribute('data-setting');
      var entry = settings[name];
      if (!entry) return;
      var control = field.querySelector('input, select');
      var text = settingText(entry.value);
      control.value = text;
      self.loaded[name] = control.value;
      var source = field.querySelector('.source');
      source.textContent = entry.source === 'channel' ? W.source_channel : W.source_default;
      source.setAttribute('data-source', entry.source);
      var reset = field.querySelector('.reset');
      var hadFocus = document.activeElement === reset;
      reset.hidden = entry.source !== 'channel';
      if (hadFocus && reset.hidden) control.focus();
    });
  };

  Control.prototype.loadSettings = function () {
    var self = this;
    return api('GET', this.base + 'settings').then(function (reply) {
      if (!reply.ok) { self.refused(reply); return; }
      self.showSettings(reply.body.settings);
    }, function () { self.unreachable(); });
  };

  // A 400 names its field first ("claim_window: …"): the message goes
  // next to that field, which is marked invalid and focused (its error is
  // part of its description); anything else goes under the form.
  Control.prototype.showSettingError = function (message) {
    var name = message.split(':')[0].trim();
    var field = this.q('.field[data-setting="' + name.replace(/[^a-z_]/g, '') + '"]');
    if (!field) {
      this.q('form.settings .form-error').textContent = message;
      return;
    }
    field.querySelector('.field-error').textContent = message;
    var control = field.querySelector('input, select');
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  };

  Control.prototype.putSettings = function (body) {
    var self = this;
    var status = this.q('form.settings .form-status');
    this.clearFieldErrors();
    status.textContent = W.working;
    return api('PUT', this.base + 'settings', body).then(function (reply) {
      if (reply.status === 400) {
        status.textContent = '';
        self.showSettingError(errorOf(reply));
        return;
      }
      if (!reply.ok) { status.textContent = ''; self.refused(reply); return; }
      self.showSettings(reply.body.settings);
      status.textContent = W.saved;
      self.loadViewers(false, true);
    }, function () { status.textContent = ''; self.unreachable(); });
  };

  Control.prototype.saveSettings = function () {
    var self = this;
    var body = {};
    var changed = 0;
    this.fields().forEach(function (field) {
      var name = field.getAttribute('data-setting');
      var control = field.querySelector('input, select');
      if (control.value !== self.loaded[name]) {
        body[name] = control.value;
        changed += 1;
      }
    });
    if (changed === 0) {
      this.clearFieldErrors();
      this.q('form.settings .form-status').textContent = W.nothing_changed;
      return Promise.resolve();
    }
    return this.putSettings(body);
  };

  Control.prototype.resetSetting = function (field) {
    var body = {};
    body[field.getAttribute('data-setting')] = null;
    return this.putSettings(body);
  };

  // Prizes.

  Control.prototype.addPrizeRow = function (item) {
    var template = this.q('template.prize-row');
    var row = template.content.firstElementChild.cloneNode(true);
    row.querySelector('.prize-name').value = item.name || '';
    row.querySelector('.prize-probability').value =
      item.probability === null || item.probability === undefined ? '' : String(item.probability);
    row.querySelector('.prize-stock').value =
      item.stock === null || item.stock === undefined ? '' : String(item.stock);
    this.q('.prize-rows').appendChild(row);
    return row;
  };

  // Gives every row's inputs and button their accessible names.
  Control.prototype.renumber = function () {
    this.node.querySelectorAll('.prize-rows tr').forEach(function (row, index) {
      var n = { n: index + 1 };
      row.querySelector('.prize-name').setAttribute('aria-label', fill(W.name_row, n));
      row.querySelector('.prize-probability').setAttribute('aria-label', fill(W.probability_row, n));
      row.querySelector('.prize-stock').setAttribute('aria-label', fill(W.stock_row, n));
      row.querySelector('.remove-prize').setAttribute('aria-label', fill(W.remove_row, n));
    });
  };

  Control.prototype.prizeRows = function () {
    return Array.prototype.slice.call(this.node.querySelectorAll('.prize-rows tr')).map(function (row) {
      return {
        row: row,
        name: row.querySelector('.prize-name').value,
        probability: row.querySelector('.prize-probability').value,
        stock: row.querySelector('.prize-stock').value
      };
    });
  };

  function cell(tag, text, className) {
    var node = document.createElement(tag);
    node.textContent = text;
    if (className) node.className = className;
    return node;
  }

  // The table of `kinoyubot check-items` (ItemTable::render_table_in): each
  // prize, then no prize with the remainder, then the total.
  Control.prototype.renderChances = function () {
    var body = this.q('table.chances tbody');
    var rows = this.prizeRows();
    var sum = 0;
    body.textContent = '';
    rows.forEach(function (item) {
      var probability = parseProbability(item.probability);
      var stock = parseStock(item.stock);
      if (probability !== null) sum += probability;
      var tr = document.createElement('tr');
      tr.appendChild(cell('th', item.name.trim())).setAttribute('scope', 'row');
      tr.appendChild(cell('td', probability === null ? '?' : tablePercent(probability), 'number'));
      tr.appendChild(cell('td', stock.value === null ? W.unlimited : String(stock.value)));
      body.appendChild(tr);
    });
    var none = Math.max(0, 1 - sum);
    var last = document.createElement('tr');
    last.className = 'no-prize';
    last.appendChild(cell('th', W.no_prize)).setAttribute('scope', 'row');
    last.appendChild(cell('td', tablePercent(none), 'number'));
    last.appendChild(cell('td', '-'));
    body.appendChild(last);
    this.q('table.chances .total').textContent = tablePercent(sum + none);
  };

  Control.prototype.showPrizes = function (list) {
    this.q('.prize-rows').textContent = '';
    var self = this;
    (list.items || []).forEach(function (item) { self.addPrizeRow(item); });
    this.q('.prize-source').textContent = list.source === 'channel' ? W.prizes_own : W.prizes_default;
    this.q('.prize-source').setAttribute('data-source', list.source || '');
    this.renumber();
    this.renderChances();
  };

  Control.prototype.loadPrizes = function () {
    var self = this;
    return api('GET', this.base + 'items').then(function (reply) {
      if (!reply.ok) { self.refused(reply); return; }
      self.showPrizes(reply.body);
    }, function () { self.unreachable(); });
  };

  Control.prototype.savePrizes = function () {
    var self = this;
    var error = this.q('.prize-error');
    var status = this.q('form.prizes .form-status');
    var rows = this.prizeRows();
    error.textContent = '';
    rows.forEach(function (item) {
      item.row.querySelectorAll('input').forEach(function (input) { input.removeAttribute('aria-invalid'); });
    });
    // Sent as typed when they do not parse, so the server names the fault.
    var items = rows.map(function (item) {
      var probability = parseProbability(item.probability);
      var stock = parseStock(item.stock);
      return {
        name: item.name,
        probability: probability === null ? item.probability : probability,
        stock: stock.value
      };
    });
    status.textContent = W.working;
    return api('PUT', this.base + 'items', { items: items }).then(function (reply) {
      status.textContent = '';
      if (reply.status === 400) {
        var message = errorOf(reply);
        error.textContent = message;
        rows.forEach(function (item) {
          var name = item.name.trim();
          if (name && message.indexOf(name) !== -1) {
            item.row.querySelectorAll('input').forEach(function (input) {
              input.setAttribute('aria-invalid', 'true');
            });
          }
        });
        return;
      }
      if (!reply.ok) { self.refused(reply); return; }
      if (reply.body && reply.body.items) self.showPrizes(reply.body); else self.loadPrizes();
      status.textContent = W.saved;
      self.loadViewers(false, true);
    }, function () { status.textContent = ''; self.unreachable(); });
  };

  // Viewers.

  Control.prototype.showViewers = function (viewers, append) {
    var body = this.q('.viewer-table tbody');
    if (!append) body.textContent = '';
    viewers.forEach(function (viewer) {
      var tr = document.createElement('tr');
      var who = document.createElement('th');
      who.setAttribute('scope', 'row');
      who.appendChild(cell('span', viewer.display_name || viewer.login, 'viewer-name'));
      who.appendChild(document.createTextNode(' '));
      who.appendChild(cell('span', '@' + viewer.login, 'login'));
      tr.appendChild(who);
      tr.appendChild(cell('td', viewer.eligible ? W.yes : W.no, viewer.eligible ? 'eligible' : 'ineligible'));
      tr.appendChild(cell('td', typeof viewer.weight === 'number' ? integerFormat.format(viewer.weight) : '\u2014', 'number'));
      tr.appendChild(cell('td', typeof viewer.chance === 'number' ? percent(viewer.chance) : '\u2014', 'number chance'));
      var reason = viewer.reason ? (W.reasons[viewer.reason] || viewer.reason) : '';
      tr.appendChild(cell('td', reason, 'reason'));
      tr.setAttribute('data-user', viewer.user_id);
      body.appendChild(tr);
    });
    this.q('.no-viewers').hidden = body.children.length > 0;
  };

  // `quiet`: a reload after another action, which must not replace what
  // that action said.
  Control.prototype.loadViewers = function (more, quiet) {
    var self = this;
    var path = this.base + 'viewers?limit=' + VIEWERS_PAGE;
    if (more && this.cursor) path += '&cursor=' + encodeURIComponent(this.cursor);
    return api('GET', path).then(function (reply) {
      if (!reply.ok) { if (!quiet) self.refused(reply); return; }
      self.showViewers(reply.body.viewers || [], more);
      self.cursor = reply.body.next_cursor || null;
      var button = self.q('.load-more');
      var hadFocus = document.activeElement === button;
      button.hidden = !self.cursor;
      if (hadFocus && button.hidden) self.q('.refresh-viewers').focus();
    }, function () { if (!quiet) self.unreachable(); });
  };

  // History and resend.

  Control.prototype.refreshHistory = function () {
    var self = this;
    var lang = document.documentElement.lang || '';
    var path = 'partials/history/' + encodeURIComponent(this.login) + '?lang=' + encodeURIComponent(lang);
    return fetch(path, { cache: 'no-store', credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (response) {
        if (!response.ok) throw new Error('history answered ' + response.status);
        return response.text();
      })
      .then(function (html) {
        // DOMParser never runs scripts, and the server escaped every value.
        var fresh = new DOMParser().parseFromString(html, 'text/html').querySelector('.history');
        var current = self.q('.history');
        if (!fresh || !current) return;
        var focused = document.activeElement;
        var focusedRaffle = focused && current.contains(focused) ? focused.getAttribute('data-raffle') : null;
        current.replaceWith(document.adoptNode(fresh));
        if (focusedRaffle) {
          var again = self.q('.history .resend[data-raffle="' + focusedRaffle + '"]');
          (again || self.q('.history-section h3')).focus();
        }
      })
      .catch(function () { /* the board's notice says when the bot is away */ });
  };

  Control.prototype.resend = function (id) {
    var self = this;
    return api('POST', 'api/raffles/' + encodeURIComponent(id) + '/resend').then(function (reply) {
      if (!reply.ok) { self.refused(reply); return; }
      self.say(fill(W.resent, { id: id }), false);
      return self.refreshHistory();
    }, function () { self.unreachable(); });
  };

  var controls = Array.prototype.slice.call(document.querySelectorAll('section.control[data-login]'))
    .map(function (node) { return new Control(node); });

  api('GET', 'api/session').then(function (reply) {
    if (!reply.ok) {
      controls.forEach(function (control) { control.say(W.session_gone, true); });
      return;
    }
    csrf = reply.body.csrf_token;
    controls.forEach(function (control) { control.start(); });
  }, function () {
    controls.forEach(function (control) { control.unreachable(); });
  });
})();
