// Eddy console: a single page with hash routes (#/topics, #/groups/NAME, ...)
// over the JSON API under api/. Plain JavaScript, no libraries: it must work
// offline. Data from the cluster is only ever put into the page as text
// (textContent), never as HTML.
'use strict';
(function () {
  const main = document.getElementById('main');
  const REFRESH_MS = 5000;
  const COLORS = ['#0b7285', '#e67700', '#5f3dc4', '#2f9e44', '#c2255c', '#1864ab', '#a61e4d', '#5c940d'];

  // ---- small helpers ------------------------------------------------------

  // h builds an element: h('td', {class: 'num'}, 'text', childNode, ...).
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else if (k === 'class') el.className = v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
    append(el, children);
    return el;
  }
  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue;
      el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  // fill replaces an element's children; null, false and undefined are
  // skipped (replaceChildren would show them as text).
  function fill(el, ...children) {
    el.replaceChildren();
    return append(el, children);
  }
  function svg(tag, attrs, ...children) {
    const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
    for (const c of children) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
    return el;
  }
  function num(n) { return n === null || n === undefined ? '–' : Number(n).toLocaleString('en-US'); }
  function rate(r) {
    if (r === null || r === undefined) return '–';
    return r >= 100 ? Math.round(r).toLocaleString('en-US') : r.toFixed(1);
  }
  function bytes(n) {
    if (n === null || n === undefined) return 'unknown';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
  }
  function time(ms) {
    if (!ms || ms < 0) return '–';
    const d = new Date(ms);
    return isNaN(d) ? String(ms) : d.toISOString().replace('T', ' ').replace('Z', ' UTC');
  }
  function stateClass(s) {
    switch (String(s || '').toUpperCase()) {
      case 'RUNNING': case 'STABLE': return 'ok';
      case 'PAUSED': case 'PREPARINGREBALANCE': case 'COMPLETINGREBALANCE': case 'RESTARTING': return 'warn';
      case 'FAILED': case 'DEAD': return 'bad';
      default: return '';
    }
  }
  // badge shows a state (or label, coloured by state) as a coloured pill.
  function badge(s, title, label) { return h('span', { class: 'badge ' + stateClass(s), title: title }, label || s || 'unknown'); }
  function errorBox(msg) { return h('div', { class: 'error', role: 'alert' }, msg); }
  function note(msg) { return h('div', { class: 'note' }, msg); }
  function enc(s) { return encodeURIComponent(s); }

  // api fetches api/PATH and returns its JSON, or throws an Error with the
  // console's explanation.
  async function api(path, opts) {
    let resp;
    try {
      resp = await fetch('api/' + path, opts);
    } catch (e) {
      throw new Error('The console does not answer (is it still running?): ' + e.message);
    }
    let body = null;
    try { body = await resp.json(); } catch (e) { /* not JSON */ }
    if (!resp.ok) throw new Error((body && body.error) || (resp.status + ' ' + resp.statusText));
    return body;
  }
  function post(path) {
    return api(path, { method: 'POST', headers: { 'X-Eddy-Console': '1' } });
  }

  // ---- page lifecycle -----------------------------------------------------

  // Each route renders into main; a page's refresh runs now and every
  // REFRESH_MS until the route changes. gen guards against late answers
  // from a page that is no longer shown.
  let gen = 0;
  let timer = null;

  function page(title, sub) {
    fill(main, h('h1', null, title, sub ? h('span', { class: 'sub' }, sub) : null));
    return main;
  }
  function every(fn) {
    const my = gen;
    let busy = false; // a slow cluster: skip a tick rather than pile up requests
    const run = async () => {
      if (busy) return;
      busy = true;
      try {
        await fn(my);
        if (my === gen) document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
      } catch (e) {
        if (my === gen) showError(e);
      } finally {
        busy = false;
      }
    };
    run();
    timer = setInterval(run, REFRESH_MS);
  }
  function showError(e) {
    let box = document.getElementById('page-error');
    if (!box) {
      box = errorBox('');
      box.id = 'page-error';
      main.insertBefore(box, main.children[1] || null);
    }
    box.textContent = e.message;
  }
  function clearError() {
    const box = document.getElementById('page-error');
    if (box) box.remove();
  }
  // slot returns a container kept across refreshes, created once.
  function slot(id, parent) {
    let el = document.getElementById(id);
    if (!el) { el = h('div', { id: id }); (parent || main).appendChild(el); }
    return el;
  }

  const routes = [
    [/^$/, overviewPage, 'overview'],
    [/^topics$/, topicsPage, 'topics'],
    [/^topics\/(.+)$/, topicPage, 'topics'],
    [/^groups$/, groupsPage, 'groups'],
    [/^groups\/(.+)$/, groupPage, 'groups'],
    [/^connectors$/, connectorsPage, 'connectors'],
    [/^streams$/, streamsPage, 'streams'],
  ];

  function route() {
    gen++;
    if (timer) clearInterval(timer);
    timer = null;
    const path = location.hash.replace(/^#\/?/, '').replace(/\/$/, '');
    for (const [re, fn, nav] of routes) {
      const m = path.match(re);
      if (!m) continue;
      for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', a.dataset.page === nav);
      let args;
      try {
        args = m.slice(1).map(decodeURIComponent);
      } catch (e) {
        break; // a malformed %-escape: not found
      }
      fn(...args);
      return;
    }
    page('Not found').appendChild(errorBox('No page at #/' + path + '.'));
  }

  // ---- charts -------------------------------------------------------------

  // lineChart draws series ([{name, color, points: [[ms, value], ...]}]) on
  // a canvas, with a time axis and a value axis starting at zero.
  function lineChart(canvas, seriesList, emptyText) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth || 600, hgt = canvas.clientHeight || 220;
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(hgt * dpr);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    ctx.font = '11px system-ui, sans-serif';
    const pad = { l: 56, r: 12, t: 10, b: 24 };
    const all = seriesList.flatMap(s => s.points);
    canvas.chart = null;
    if (all.length < 1) {
      ctx.fillStyle = '#868e96';
      ctx.textAlign = 'center';
      ctx.fillText(emptyText, w / 2, hgt / 2);
      return;
    }
    let tMin = Math.min(...all.map(p => p[0])), tMax = Math.max(...all.map(p => p[0]));
    if (tMax === tMin) tMin -= 1000;
    canvas.chart = { seriesList, tMin, tMax, left: pad.l, right: w - pad.r }; // for the tooltip
    let vMax = Math.max(...all.map(p => p[1]));
    vMax = niceMax(vMax);
    const x = t => pad.l + (t - tMin) / (tMax - tMin) * (w - pad.l - pad.r);
    const y = v => hgt - pad.b - v / vMax * (hgt - pad.t - pad.b);
    ctx.strokeStyle = '#e9ecef';
    ctx.fillStyle = '#868e96';
    ctx.lineWidth = 1;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const v = vMax * i / 4, yy = Math.round(y(v)) + .5;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(w - pad.r, yy); ctx.stroke();
      ctx.fillText(String(Number(v.toPrecision(3))), pad.l - 6, yy);
    }
    ctx.textAlign = 'center';
    ctx.textBaseline = 'top';
    for (let i = 0; i <= 4; i++) {
      const t = tMin + (tMax - tMin) * i / 4;
      ctx.fillText(new Date(t).toLocaleTimeString(), Math.min(Math.max(x(t), pad.l + 24), w - pad.r - 24), hgt - pad.b + 6);
    }
    for (const s of seriesList) {
      if (!s.points.length) continue;
      ctx.strokeStyle = s.color;
      ctx.lineWidth = s.width || 2;
      ctx.beginPath();
      s.points.forEach((p, i) => (i ? ctx.lineTo(x(p[0]), y(p[1])) : ctx.moveTo(x(p[0]), y(p[1]))));
      ctx.stroke();
      if (s.points.length === 1) {
        ctx.fillStyle = s.color;
        ctx.beginPath(); ctx.arc(x(s.points[0][0]), y(s.points[0][1]), 3, 0, 2 * Math.PI); ctx.fill();
      }
    }
  }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }
  function legend(seriesList) {
    return h('div', { class: 'legend' }, seriesList.map(s =>
      h('span', null, h('i', { style: 'background:' + s.color }), s.name)));
  }
  // chartPanel keeps a canvas and legend in a slot and redraws them.
  function drawThroughput(id, title, seriesList, emptyText) {
    const panel = slot(id);
    if (!panel.firstChild) {
      panel.className = 'panel';
      const canvas = h('canvas', { class: 'chart' }), tip = h('div', { class: 'tip' });
      canvas.addEventListener('mousemove', (e) => showTip(canvas, tip, e.offsetX));
      canvas.addEventListener('mouseleave', () => { tip.style.display = 'none'; });
      panel.append(h('h3', { style: 'margin-top:0' }, title), h('div', { class: 'chart-wrap' }, canvas, tip), h('div'));
    }
    lineChart(panel.querySelector('canvas'), seriesList, emptyText);
    panel.lastChild.replaceWith(legend(seriesList));
  }
  // showTip shows, beside the mouse, each series' value at the sample
  // nearest to it.
  function showTip(canvas, tip, x) {
    const c = canvas.chart;
    if (!c || x < c.left || x > c.right) { tip.style.display = 'none'; return; }
    const t = c.tMin + (x - c.left) / (c.right - c.left) * (c.tMax - c.tMin);
    const rows = [];
    let at = null;
    for (const s of c.seriesList) {
      let best = null;
      for (const p of s.points) if (!best || Math.abs(p[0] - t) < Math.abs(best[0] - t)) best = p;
      if (!best) continue;
      at = at === null ? best[0] : at;
      rows.push(h('div', null, h('i', { style: 'background:' + s.color }), s.name + ': ' + rate(best[1]) + '/s'));
    }
    if (at === null) { tip.style.display = 'none'; return; }
    fill(tip, h('b', null, new Date(at).toLocaleTimeString()), rows);
    tip.style.display = 'block';
    tip.style.left = Math.min(x + 14, canvas.clientWidth - tip.offsetWidth - 4) + 'px';
  }
  function samplingText(t) {
    return t.error ? 'no samples: ' + t.error
      : 'collecting samples (one every ' + Math.round(t.sample_interval_ms / 1000) + ' s)…';
  }

  // ---- overview -----------------------------------------------------------

  function overviewPage() {
    page('Overview');
    every(async (my) => {
      const [o, t] = await Promise.all([api('overview'), api('throughput')]);
      if (my !== gen) return;
      clearError();
      document.getElementById('cluster').textContent = 'cluster ' + (o.cluster_id || '?');
      const cards = slot('ov-cards');
      cards.className = 'cards';
      const card = (label, value, title) => h('div', { class: 'card', title: title },
        h('div', { class: 'label' }, label), h('div', { class: 'value' }, value));
      fill(cards,
        card('Brokers', num(o.brokers.length)),
        card('Topics', num(o.topics), o.internal_topics + ' internal topics not counted'),
        card('Partitions', num(o.partitions)),
        card('Records', num(o.records), 'sum of end minus start offsets'),
        card('Size', bytes(o.size_bytes), o.sizes_error ? 'sizes unknown: ' + o.sizes_error : ''),
        card('Records/s', rate(o.records_per_second)),
        card('Consumer groups', o.groups_error ? '?' : num(o.groups), o.groups_error || ''));
      const series = [{ name: 'all topics', color: '#1e3a5f', width: 2.5, points: t.total.points }];
      const top = t.topics.map(s => ({ s, last: s.points.length ? s.points[s.points.length - 1][1] : 0 }))
        .sort((a, b) => b.last - a.last).slice(0, 6);
      top.forEach((x, i) => series.push({ name: x.s.topic, color: COLORS[i % COLORS.length], points: x.s.points }));
      drawThroughput('ov-chart', 'Throughput, records/s (last ' + Math.round(t.history_ms / 60000) + ' min)', series, samplingText(t));
      const brokers = slot('ov-brokers');
      fill(brokers, h('h2', null, 'Brokers'), h('div', { class: 'panel' }, h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Node'), h('th', null, 'Host'), h('th', null, 'Port'), h('th', null, 'Rack'), h('th', null, 'Role'))),
        h('tbody', null, o.brokers.map(b => h('tr', null, h('td', null, b.node_id), h('td', { class: 'mono' }, b.host),
          h('td', null, b.port), h('td', null, b.rack || '–'), h('td', null, b.node_id === o.controller ? 'controller' : '')))))));
      const links = slot('ov-links');
      fill(links, h('p', { class: 'muted' },
        o.connect_url ? ['Kafka Connect: ', h('span', { class: 'mono' }, o.connect_url), '. '] : 'No Kafka Connect URL configured. ',
        o.sizes_error ? 'Sizes are unknown: the cluster did not answer DescribeLogDirs (' + o.sizes_error + ').' : ''));
    });
  }

  // ---- topics -------------------------------------------------------------

  let topicFilter = '', showInternal = false;
  function topicsPage() {
    page('Topics');
    const filter = h('input', { type: 'search', placeholder: 'filter topics', value: topicFilter, id: 'topic-filter' });
    const internal = h('input', { type: 'checkbox', id: 'topic-internal' });
    internal.checked = showInternal;
    main.appendChild(h('div', { class: 'toolbar' }, filter, h('label', null, internal, 'show internal topics')));
    let last = null;
    const render = () => {
      if (!last) return;
      const rows = last.topics.filter(t => t.name.includes(topicFilter));
      const table = slot('topics-table');
      table.className = 'panel';
      fill(table, rows.length === 0 ? h('div', { class: 'empty' }, last.topics.length ? 'No topic matches.' : 'No topics.') :
        h('table', { id: 'topics' },
          h('thead', null, h('tr', null, h('th', null, 'Topic'), h('th', { class: 'num' }, 'Partitions'), h('th', { class: 'num' }, 'Replicas'),
            h('th', { class: 'num' }, 'Records'), h('th', { class: 'num' }, 'Size'), h('th', { class: 'num' }, 'Records/s'))),
          h('tbody', null, rows.map(t => h('tr', { 'data-topic': t.name },
            h('td', null, h('a', { href: '#/topics/' + enc(t.name) }, t.name), t.internal ? h('span', { class: 'tag' }, 'internal') : null,
              t.error ? h('div', { class: 'muted' }, t.error) : null),
            h('td', { class: 'num' }, num(t.partitions)), h('td', { class: 'num' }, num(t.replication_factor)),
            h('td', { class: 'num records' }, num(t.records)), h('td', { class: 'num' }, bytes(t.size_bytes)),
            h('td', { class: 'num' }, rate(t.records_per_second)))))));
      const sz = slot('topics-note');
      fill(sz, last.sizes_error ? h('p', { class: 'muted' }, 'Sizes unknown: ' + last.sizes_error) : '');
    };
    filter.addEventListener('input', () => { topicFilter = filter.value; render(); });
    internal.addEventListener('change', () => { showInternal = internal.checked; route(); });
    every(async (my) => {
      const ans = await api('topics?internal=' + showInternal);
      if (my !== gen) return;
      clearError();
      last = ans;
      render();
    });
  }

  function topicPage(name) {
    page(name, 'topic');
    const my0 = gen;
    let browserReady = false;
    every(async (my) => {
      const [t, tp] = await Promise.all([api('topics/' + enc(name)), api('throughput?topic=' + enc(name))]);
      if (my !== gen) return;
      clearError();
      const parts = slot('topic-partitions');
      fill(parts, h('div', { class: 'cards' },
        h('div', { class: 'card' }, h('div', { class: 'label' }, 'Partitions'), h('div', { class: 'value' }, num(t.partitions))),
        h('div', { class: 'card' }, h('div', { class: 'label' }, 'Records'), h('div', { class: 'value' }, num(t.records))),
        h('div', { class: 'card', title: t.sizes_error || '' }, h('div', { class: 'label' }, 'Size'), h('div', { class: 'value' }, bytes(t.size_bytes))),
        h('div', { class: 'card' }, h('div', { class: 'label' }, 'Records/s'), h('div', { class: 'value' }, rate(t.records_per_second)))),
      h('div', { class: 'panel' }, h('table', null,
        h('thead', null, h('tr', null, h('th', null, 'Partition'), h('th', null, 'Leader'), h('th', null, 'Replicas'), h('th', null, 'ISR'),
          h('th', { class: 'num' }, 'Log start'), h('th', { class: 'num' }, 'Log end'), h('th', { class: 'num' }, 'Records'), h('th', { class: 'num' }, 'Size'))),
        h('tbody', null, (t.partition_list || []).map(p => h('tr', null,
          h('td', null, p.partition, p.error ? h('div', { class: 'muted' }, p.error) : null), h('td', null, p.leader),
          h('td', null, (p.replicas || []).join(', ')), h('td', null, (p.isr || []).join(', ')),
          h('td', { class: 'num' }, num(p.log_start_offset)), h('td', { class: 'num' }, num(p.log_end_offset)),
          h('td', { class: 'num' }, num(p.records)), h('td', { class: 'num' }, bytes(p.size_bytes))))))));
      const s = tp.topics[0];
      drawThroughput('topic-chart', 'Throughput, records/s', [{ name: name, color: COLORS[0], points: s ? s.points : [] }], samplingText(tp));
      const cfg = slot('topic-configs');
      fill(cfg, h('h2', null, 'Settings that are not the default'), h('div', { class: 'panel' },
        t.configs_error ? h('div', { class: 'muted' }, 'Settings unknown: ' + t.configs_error) :
          t.configs.length === 0 ? h('div', { class: 'empty' }, 'All settings are the cluster defaults.') :
            h('dl', { class: 'kv' }, t.configs.map(c => [h('dt', null, c.name), h('dd', { title: c.source }, c.sensitive ? '(sensitive)' : c.value)]))));
      if (!browserReady && my === my0) {
        browserReady = true;
        main.appendChild(recordBrowser(name, t.partitions));
      }
    });
  }

  // recordBrowser is the message browser of a topic: read N records of a
  // partition from the beginning, the end, an offset or a time.
  function recordBrowser(topic, partitions) {
    const part = h('select', { id: 'rb-partition' }, Array.from({ length: partitions }, (_, i) => h('option', { value: i }, i)));
    const from = h('select', { id: 'rb-from' },
      h('option', { value: 'beginning' }, 'from the beginning'), h('option', { value: 'end' }, 'the last records'),
      h('option', { value: 'offset' }, 'from offset'), h('option', { value: 'timestamp' }, 'from time'));
    const offset = h('input', { type: 'number', id: 'rb-offset', min: 0, value: 0 });
    const ts = h('input', { type: 'datetime-local', id: 'rb-time', step: 1 });
    const limit = h('input', { type: 'number', id: 'rb-limit', min: 1, max: 500, value: 50 });
    const read = h('button', { class: 'primary', id: 'rb-read' }, 'Read');
    const next = h('button', { id: 'rb-next', disabled: true }, 'Next page');
    const out = h('div', { id: 'rb-out' });
    const offLabel = h('label', null, 'offset', offset), tsLabel = h('label', null, 'time', ts);
    const sync = () => {
      offLabel.style.display = from.value === 'offset' ? '' : 'none';
      tsLabel.style.display = from.value === 'timestamp' ? '' : 'none';
    };
    from.addEventListener('change', sync);
    sync();
    let nextOffset = null;
    const load = async (q) => {
      const my = gen;
      read.disabled = true;
      fill(out, h('div', { class: 'empty' }, 'Reading…'));
      try {
        const ans = await api('topics/' + enc(topic) + '/records?' + q);
        if (my !== gen) return;
        nextOffset = ans.next_offset;
        next.disabled = !(ans.next_offset < ans.log_end_offset);
        fill(out, recordsTable(ans));
      } catch (e) {
        if (my === gen) fill(out, errorBox(e.message));
      } finally {
        read.disabled = false;
      }
    };
    const base = () => 'partition=' + part.value + '&limit=' + enc(limit.value);
    read.addEventListener('click', () => {
      let q = base() + '&from=' + from.value;
      if (from.value === 'offset') q += '&offset=' + enc(offset.value);
      if (from.value === 'timestamp') {
        const ms = new Date(ts.value).getTime();
        if (isNaN(ms)) { fill(out, errorBox('Pick a time to read from.')); return; }
        q += '&timestamp=' + ms;
      }
      load(q);
    });
    next.addEventListener('click', () => load(base() + '&from=offset&offset=' + nextOffset));
    read.click(); // show the first records right away
    return h('div', { id: 'record-browser' }, h('h2', null, 'Records'), h('div', { class: 'panel' },
      h('div', { class: 'toolbar' }, h('label', null, 'partition', part), from, offLabel, tsLabel, h('label', null, 'count', limit), read, next),
      out));
  }

  function payloadCell(p) {
    if (p === null || p === undefined) return h('span', { class: 'muted' }, 'null');
    const parts = [];
    if (p.encoding === 'binary') {
      parts.push(h('div', { class: 'muted' }, 'binary, ' + num(p.size) + ' bytes (hex)'), h('pre', { title: 'base64: ' + p.base64 }, p.hex));
    } else {
      parts.push(h('pre', { class: 'payload ' + p.encoding }, p.text));
    }
    if (p.truncated) parts.push(h('div', { class: 'muted' }, 'first ' + num(p.text ? p.text.length : 65536) + ' of ' + num(p.size) + ' bytes'));
    return parts;
  }

  function recordsTable(ans) {
    const head = h('p', { class: 'muted' }, 'Partition ' + ans.partition + ': offsets ' + num(ans.log_start_offset) + ' to ' +
      num(ans.log_end_offset) + '; ' + ans.records.length + ' records from offset ' + num(ans.start_offset) + '.');
    const rows = ans.records.map(r => h('tr', { 'data-offset': r.offset },
      h('td', { class: 'num' }, r.offset),
      h('td', { title: r.timestamp_type }, time(r.timestamp_ms)),
      h('td', { class: 'key' }, payloadCell(r.key)),
      h('td', { class: 'value' }, payloadCell(r.value)),
      h('td', null, r.headers.length === 0 ? h('span', { class: 'muted' }, '–') :
        r.headers.map(hd => h('div', null, h('b', null, hd.key), ': ', hd.value === null ? 'null' :
          hd.value.encoding === 'binary' ? '0x' + hd.value.hex : hd.value.text)))));
    return h('div', null, ans.note ? note(ans.note) : null, head,
      ans.records.length === 0 ? h('div', { class: 'empty' }, 'No records there.') :
        h('table', { id: 'records' }, h('thead', null, h('tr', null, h('th', { class: 'num' }, 'Offset'), h('th', null, 'Timestamp'),
          h('th', null, 'Key'), h('th', null, 'Value'), h('th', null, 'Headers'))), h('tbody', null, rows)));
  }

  // ---- consumer groups ----------------------------------------------------

  function groupsPage() {
    page('Consumer groups');
    every(async (my) => {
      const ans = await api('groups');
      if (my !== gen) return;
      clearError();
      const panel = slot('groups-table');
      panel.className = 'panel';
      fill(panel, ans.groups.length === 0 ? h('div', { class: 'empty' }, 'No consumer groups.') :
        h('table', { id: 'groups' },
          h('thead', null, h('tr', null, h('th', null, 'Group'), h('th', null, 'State'), h('th', null, 'Type'),
            h('th', { class: 'num' }, 'Members'), h('th', null, 'Topics'), h('th', { class: 'num' }, 'Total lag'))),
          h('tbody', null, ans.groups.map(g => h('tr', { 'data-group': g.group },
            h('td', null, h('a', { href: '#/groups/' + enc(g.group) }, g.group), g.error ? h('div', { class: 'muted' }, g.error) : null),
            h('td', null, badge(g.state)), h('td', null, g.protocol_type || '–'),
            h('td', { class: 'num' }, num(g.members)), h('td', null, (g.topics || []).join(', ') || '–'),
            h('td', { class: 'num lag' }, num(g.total_lag)))))));
    });
  }

  function groupPage(name) {
    page(name, 'consumer group');
    every(async (my) => {
      const g = await api('groups/' + enc(name));
      if (my !== gen) return;
      clearError();
      const body = slot('group-body');
      fill(body,
        h('div', { class: 'cards' },
          h('div', { class: 'card' }, h('div', { class: 'label' }, 'State'), h('div', { class: 'value' }, badge(g.state))),
          h('div', { class: 'card' }, h('div', { class: 'label' }, 'Members'), h('div', { class: 'value' }, num(g.members))),
          h('div', { class: 'card' }, h('div', { class: 'label' }, 'Total lag'), h('div', { class: 'value', id: 'group-lag' }, num(g.total_lag))),
          h('div', { class: 'card' }, h('div', { class: 'label' }, 'Coordinator'), h('div', { class: 'value' }, g.coordinator))),
        g.error ? errorBox(g.error) : null,
        h('h2', null, 'Members'),
        h('div', { class: 'panel' }, g.member_list.length === 0 ? h('div', { class: 'empty' }, 'No members: nobody is consuming now.') :
          h('table', null, h('thead', null, h('tr', null, h('th', null, 'Member'), h('th', null, 'Client'), h('th', null, 'Host'), h('th', null, 'Assigned'))),
            h('tbody', null, g.member_list.map(m => h('tr', null, h('td', { class: 'mono' }, m.member_id), h('td', null, m.client_id),
              h('td', { class: 'mono' }, m.client_host),
              h('td', null, m.assigned.map(a => h('div', null, a.topic + ': ' + a.partitions.join(', '))))))))),
        h('h2', null, 'Lag per partition'),
        h('div', { class: 'panel' }, g.partitions.length === 0 ? h('div', { class: 'empty' }, 'No committed offsets.') :
          h('table', { id: 'group-partitions' }, h('thead', null, h('tr', null, h('th', null, 'Topic'), h('th', { class: 'num' }, 'Partition'),
            h('th', { class: 'num' }, 'Committed'), h('th', { class: 'num' }, 'Log end'), h('th', { class: 'num' }, 'Lag'), h('th', null, 'Member'))),
            h('tbody', null, g.partitions.map(p => h('tr', null, h('td', null, h('a', { href: '#/topics/' + enc(p.topic) }, p.topic)),
              h('td', { class: 'num' }, p.partition), h('td', { class: 'num' }, p.committed_offset < 0 ? '–' : num(p.committed_offset)),
              h('td', { class: 'num' }, num(p.log_end_offset)), h('td', { class: 'num lag' }, p.lag < 0 ? '–' : num(p.lag)),
              h('td', null, p.client_id || p.member_id || '–', p.error ? h('div', { class: 'muted' }, p.error) : null)))))));
    });
  }

  // ---- connectors ---------------------------------------------------------

  function connectorsPage() {
    page('Connectors');
    const status = h('div', { id: 'connector-action' });
    main.appendChild(status);
    let refresh = null;
    const act = async (name, action, btn) => {
      btn.disabled = true;
      try {
        await post('connectors/' + enc(name) + '/' + action);
        fill(status, note(action + ' of ' + name + ' accepted; its state follows below.'));
      } catch (e) {
        fill(status, errorBox(action + ' ' + name + ': ' + e.message));
      }
      // Connect changes states asynchronously: look again soon.
      for (const d of [0, 300, 1000, 2500]) setTimeout(refresh, d);
    };
    const load = async (my) => {
      const ans = await api('connectors');
      if (my !== gen) return;
      clearError();
      const panel = slot('connectors-table');
      if (!ans.configured) {
        fill(panel, note('No Kafka Connect REST URL configured: start the console with --connect http://HOST:8083 to see and manage connectors.'));
        return;
      }
      panel.className = 'panel';
      fill(panel, h('p', { class: 'muted', style: 'margin-top:0' }, 'Kafka Connect at ', h('span', { class: 'mono' }, ans.url)),
        ans.connectors.length === 0 ? h('div', { class: 'empty' }, 'No connectors.') :
          h('table', { id: 'connectors' },
            h('thead', null, h('tr', null, h('th', null, 'Connector'), h('th', null, 'Type'), h('th', null, 'Class'), h('th', null, 'Topics'),
              h('th', null, 'State'), h('th', null, 'Tasks'), h('th', null, 'Actions'))),
            h('tbody', null, ans.connectors.map(c => h('tr', { 'data-connector': c.name },
              h('td', null, h('b', null, c.name), c.trace ? h('pre', { class: 'muted' }, c.trace.split('\n')[0]) : null),
              h('td', null, c.type || '–'), h('td', { class: 'mono' }, c.class || '–'), h('td', null, c.topics || '–'),
              h('td', { class: 'state' }, badge(c.state, c.worker_id ? 'on worker ' + c.worker_id : '')),
              h('td', null, c.tasks.length === 0 ? h('span', { class: 'muted' }, 'none') :
                c.tasks.map(t => badge(t.state, (t.worker_id ? 'on ' + t.worker_id : '') + (t.trace ? '\n' + t.trace : ''), t.id + ': ' + t.state))),
              h('td', { class: 'actions' },
                h('button', { 'data-connector': c.name, 'data-action': 'pause', disabled: c.state === 'PAUSED', onclick: (e) => act(c.name, 'pause', e.target) }, 'Pause'),
                h('button', { 'data-connector': c.name, 'data-action': 'resume', disabled: c.state !== 'PAUSED' && c.state !== 'STOPPED', onclick: (e) => act(c.name, 'resume', e.target) }, 'Resume'),
                h('button', { 'data-connector': c.name, 'data-action': 'restart', onclick: (e) => act(c.name, 'restart', e.target) }, 'Restart')))))));
    };
    const my0 = gen;
    refresh = () => { if (my0 === gen) load(my0).catch(e => { if (my0 === gen) showError(e); }); };
    every(load);
  }

  // ---- streams apps -------------------------------------------------------

  function streamsPage() {
    page('Streams apps');
    every(async (my) => {
      const ans = await api('streams');
      if (my !== gen) return;
      clearError();
      const body = slot('streams-body');
      if (ans.apps.length === 0) {
        fill(body, note('No streams apps registered (nothing in the topic ' + ans.topic + (ans.topic_exists ? '' : ', which does not exist yet') +
          '). Eddy streams apps register themselves there when they start.'));
        return;
      }
      fill(body, ...ans.apps.map(app => h('div', { class: 'panel app', 'data-app': app.application_id },
        h('h2', { style: 'margin-top:0' }, app.application_id),
        h('p', { class: 'muted' }, 'Instances: ' + num(app.instances) + ' · registered ' + time(app.updated_ms) + ' · consumer group ',
          app.group_state ? [h('a', { href: '#/groups/' + enc(app.application_id) }, app.application_id), ' ', badge(app.group_state),
            ' · lag ', h('b', { class: 'lag' }, num(app.total_lag))] : [app.application_id, ' (none yet)'],
          app.lag_error ? ' (' + app.lag_error + ')' : ''),
        app.error ? errorBox(app.error) : null,
        app.subtopologies.map(st => [h('h3', null, 'Sub-topology ' + st.id), h('div', { class: 'graph' }, topologyGraph(st))]))));
    });
  }

  // topologyGraph draws a sub-topology top to bottom: topics (grey pills)
  // feed sources (green), processors (blue, with their stores) and sinks
  // (orange) that write topics. Each node sits one layer below its deepest
  // predecessor.
  function topologyGraph(st) {
    const nodes = new Map(), edges = [];
    const add = (id, label, kind, extra) => { if (!nodes.has(id)) nodes.set(id, { id, label, kind, extra, in: [], out: [] }); return nodes.get(id); };
    for (const n of st.nodes) add('n:' + n.name, n.name, n.type, (n.stores || []).length ? 'stores: ' + n.stores.join(', ') : '');
    const edge = (a, b) => { if (nodes.has(a) && nodes.has(b)) { edges.push([a, b]); nodes.get(a).out.push(b); nodes.get(b).in.push(a); } };
    for (const n of st.nodes) {
      if (n.type === 'source') for (const t of n.topics || []) { add('t:' + t, t, 'topic'); edge('t:' + t, 'n:' + n.name); }
      for (const s of n.successors || []) edge('n:' + n.name, 'n:' + s);
      if (n.type === 'sink') for (const t of n.topics || []) { add('t:' + t, t, 'topic'); edge('n:' + n.name, 't:' + t); }
    }
    // Longest-path layering; a cycle cannot push a node below the node count.
    const layer = new Map();
    for (const id of nodes.keys()) layer.set(id, 0);
    for (let i = 0, changed = true; changed && i < nodes.size; i++) {
      changed = false;
      for (const [a, b] of edges) if (layer.get(b) < layer.get(a) + 1) { layer.set(b, layer.get(a) + 1); changed = true; }
    }
    const rows = [];
    for (const n of nodes.values()) (rows[layer.get(n.id)] = rows[layer.get(n.id)] || []).push(n);
    const CH = 7.2, GAP = 24, ROW = 78, PADX = 20, PADY = 16;
    let width = 0;
    for (const row of rows.filter(Boolean)) {
      for (const n of row) { n.w = Math.max(n.label.length, n.extra ? n.extra.length : 0) * CH + 24; n.h = n.extra ? 42 : 28; }
      width = Math.max(width, row.reduce((s, n) => s + n.w, 0) + GAP * (row.length - 1));
    }
    width += 2 * PADX;
    rows.filter(Boolean).forEach((row, r) => {
      let x = (width - (row.reduce((s, n) => s + n.w, 0) + GAP * (row.length - 1))) / 2;
      for (const n of row) { n.x = x; n.y = PADY + r * ROW; x += n.w + GAP; }
    });
    const height = PADY * 2 + (rows.length - 1) * ROW + 42;
    const root = svg('svg', { width: width, height: height, viewBox: '0 0 ' + width + ' ' + height, role: 'img', 'aria-label': 'sub-topology ' + st.id, class: 'topology' });
    root.appendChild(svg('defs', {}, svg('marker', { id: 'arrow' + st.id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
      svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', fill: '#868e96' }))));
    for (const [a, b] of edges) {
      const p = nodes.get(a), q = nodes.get(b);
      const x1 = p.x + p.w / 2, y1 = p.y + p.h, x2 = q.x + q.w / 2, y2 = q.y - 2, my = (y1 + y2) / 2;
      root.appendChild(svg('path', { d: `M ${x1} ${y1} C ${x1} ${my}, ${x2} ${my}, ${x2} ${y2}`, fill: 'none', stroke: '#adb5bd', 'stroke-width': 1.5, 'marker-end': 'url(#arrow' + st.id + ')' }));
    }
    const style = { source: ['#ebfbee', '#2f9e44'], processor: ['#e7f5ff', '#1864ab'], sink: ['#fff4e6', '#e67700'], topic: ['#f1f3f5', '#868e96'] };
    for (const n of nodes.values()) {
      const [fill, stroke] = style[n.kind] || style.processor;
      const g = svg('g', { class: 'node ' + n.kind, 'data-name': n.label });
      g.appendChild(svg('title', {}, n.kind + ': ' + n.label + (n.extra ? '\n' + n.extra : '')));
      g.appendChild(svg('rect', { x: n.x, y: n.y, width: n.w, height: n.h, rx: n.kind === 'topic' ? n.h / 2 : 5, fill: fill, stroke: stroke, 'stroke-width': 1.5 }));
      g.appendChild(svg('text', { x: n.x + n.w / 2, y: n.y + 18, 'text-anchor': 'middle', fill: '#1f2933' }, n.label));
      if (n.extra) g.appendChild(svg('text', { x: n.x + n.w / 2, y: n.y + 34, 'text-anchor': 'middle', fill: '#616e7c' }, n.extra));
      root.appendChild(g);
    }
    return root;
  }

  window.addEventListener('hashchange', route);
  route();
})();
