// Lambda validator dashboard: reads the validator's JSON endpoints every
// REFRESH_MS and renders them. Plain JavaScript, no dependencies. Every
// value from the chain is inserted as text (never as HTML): zones,
// endpoints and object names come from transactions anyone can send.
'use strict';

const REFRESH_MS = 2000;
// Latest blocks and transactions shown (the JSON has ~20 of each).
const ROWS_SHOWN = 12;
const COLORS = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948',
  '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
const SVG = 'http://www.w3.org/2000/svg';

const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

const fmt = (n) => (n === null || n === undefined) ? '–' : Number(n).toLocaleString('en-US');
const pct = (x) => (100 * x).toFixed(1) + ' %';
const short = (s, n = 10) => (s && s.length > n) ? s.slice(0, n) + '…' : (s || '');
const clock = (d) => d.toTimeString().slice(0, 8);
const td = (text, cls, title) => el('td', Object.assign({ text: String(text) },
  cls ? { class: cls } : {}, title ? { title } : {}));
const badge = (text, cls) => el('span', { class: 'badge ' + (cls || text), text });

function fill(id, rows, rowFn, emptyText) {
  const table = $(id);
  const cols = table.tHead.rows[0].cells.length;
  const body = rows.length
    ? rows.map(rowFn)
    : [el('tr', {}, el('td', { class: 'empty', colspan: cols, text: emptyText }))];
  table.tBodies[0].replaceChildren(...body);
}

async function getJSON(path) {
  const r = await fetch(path, { cache: 'no-store' });
  const text = await r.text();
  if (!r.ok) {
    let reason = text.trim();
    try { reason = JSON.parse(text).error || reason; } catch (_) { /* not JSON */ }
    throw new Error(`${path}: HTTP ${r.status}${reason ? ' (' + reason + ')' : ''}`.slice(0, 300));
  }
  return JSON.parse(text);
}

// ---- header ----------------------------------------------------------

function renderHeader(chain, ring, pdp) {
  $('chain-id').textContent = `chain ${chain.chain_id}`;
  $('height').textContent = fmt(chain.height);
  const done = chain.epoch_length - chain.blocks_left_in_epoch;
  $('epoch').textContent = fmt(chain.epoch);
  $('epoch-bar').style.width = pct(done / chain.epoch_length).replace(' ', '');
  $('epoch-bar').parentElement.title =
    `${chain.blocks_left_in_epoch} of ${chain.epoch_length} blocks left in epoch ${chain.epoch}`;
  const observed = chain.observed_block_interval_ms;
  $('block-time').textContent = `${fmt(chain.block_time_ms)} ms` +
    (observed === null ? '' : ` · ${fmt(observed)} ms seen`);
  $('validator-count').textContent = fmt(chain.validators.length);
  const probed = ring.nodes.filter((n) => n.member);
  const up = probed.filter((n) => n.liveness.state === 'up').length;
  $('nodes-up').textContent = `${up} / ${probed.length}`;
  $('pdp-totals').textContent = `${fmt(pdp.passes)} / ${fmt(pdp.failures)}`;
}

// ---- ring ------------------------------------------------------------

function arcPath(a0, a1, r, r2) {
  const p = (a, rr) => `${(rr * Math.cos(a)).toFixed(2)} ${(rr * Math.sin(a)).toFixed(2)}`;
  const large = (a1 - a0) > Math.PI ? 1 : 0;
  return `M ${p(a0, r)} A ${r} ${r} 0 ${large} 1 ${p(a1, r)} ` +
    `L ${p(a1, r2)} A ${r2} ${r2} 0 ${large} 0 ${p(a0, r2)} Z`;
}

// One ring of arcs, one per member, sized by `count(n)`.
function arcs(members, count, r, r2, colorOf, what) {
  const total = members.reduce((s, n) => s + count(n), 0);
  const parts = [];
  let a0 = -Math.PI / 2;
  for (const n of members) {
    const frac = total ? count(n) / total : 0;
    const a1 = a0 + frac * 2 * Math.PI;
    // Halves, so that a node holding everything still draws a ring.
    const mid = (a0 + a1) / 2;
    for (const [s, e] of [[a0, mid], [mid, a1]]) {
      if (e - s < 1e-4) continue;
      parts.push(svg('path', {
        d: arcPath(s, e, r, r2),
        fill: colorOf(n.id),
        class: n.liveness.state === 'down' ? 'down' : '',
      }, svg('title', {}, `${n.id} (${n.zone}): ${pct(frac)} of ${what}`)));
    }
    a0 = a1;
  }
  return parts;
}

// Outer ring: every replica slot; inner ring: the partitions each node leads.
function renderRingSvg(ring, colorOf) {
  const members = ring.nodes.filter((n) => n.member);
  const parts = [
    ...arcs(members, (n) => n.primary + n.replica, 104, 80, colorOf, 'the replica slots'),
    ...arcs(members, (n) => n.primary, 76, 56, colorOf, 'the partitions led (primary)'),
  ];
  parts.push(svg('text', { y: '-2', 'font-size': '17', 'font-weight': '600' },
    ring.placement_error ? 'no ring' : `Q = ${fmt(ring.partitions)}`));
  parts.push(svg('text', { y: '15', 'font-size': '10', fill: '#6b7585' },
    `N = ${ring.list_len} · epoch ${ring.epoch}`));
  $('ring-svg').replaceChildren(...parts);
}

function renderRing(ring) {
  const colors = new Map(ring.nodes.map((n, i) => [n.id, COLORS[i % COLORS.length]]));
  const colorOf = (id) => colors.get(id) || '#ccc';
  renderRingSvg(ring, colorOf);
  $('ring-summary').textContent = ring.placement_error
    ? `· ${ring.placement_error}`
    : `· ${ring.members} members, ${fmt(ring.partitions)} partitions × ${ring.list_len} replicas`;
  fill('ring-table', ring.nodes, (n) => el('tr', { 'data-node': n.id },
    el('td', {}, el('span', { class: 'swatch', style: `background:${colorOf(n.id)}` })),
    td(n.id, 'mono id'),
    td(n.zone, 'zone'),
    el('td', { title: n.liveness.detail }, badge(n.status), badge(n.liveness.state)),
    td(fmt(n.stake), 'num'),
    td(fmt(n.capacity_gib), 'num'),
    td(fmt(n.bandwidth_mbps), 'num'),
    td(fmt(n.weight), 'num'),
    td(fmt(n.primary), 'num primary'),
    td(fmt(n.replica), 'num replica'),
    td(n.member ? pct(n.share) : '–', 'num'),
    td(n.endpoint, 'mono'),
    td(short(n.owner, 8), 'mono', n.owner),
  ), 'no storage node has pledged yet');
  $('ring-note').textContent = 'Outer ring: share of all replica slots; inner ring: partitions led. ' +
    'primary: partitions the node leads (first in the preference list); ' +
    'replica: partitions it holds further down the list. Up/down: the chain\'s verdict, ' +
    'else a TCP probe of the endpoint every 2 s (hover for details).';
}

// ---- chain -----------------------------------------------------------

function renderChain(chain) {
  fill('blocks-table', chain.blocks.slice(0, ROWS_SHOWN), (b) => el('tr', { 'data-height': String(b.height) },
    td(fmt(b.height), 'num'),
    td(clock(new Date(b.time_ms))),
    td(short(b.proposer), 'mono', b.proposer),
    td(fmt(b.txs), 'num'),
    el('td', {}, ...Object.entries(b.kinds).map(([k, c]) => badge(c > 1 ? `${k} ×${c}` : k, 'kind'))),
  ), 'no blocks yet');
  fill('txs-table', chain.transactions.slice(0, ROWS_SHOWN), (t) => el('tr', {},
    td(fmt(t.height), 'num'),
    el('td', {}, badge(t.kind, 'kind')),
    td(short(t.sender), 'mono', t.sender),
    td(short(t.hash, 12), 'mono', t.hash),
    td(t.summary, 'what'),
  ), 'no transactions yet');
  const power = chain.total_power || 1;
  $('validators-summary').textContent = `· total power ${fmt(chain.total_power)}`;
  fill('validators-table', chain.validators, (v) => el('tr', {},
    td(short(v.address, 16), 'mono', v.address),
    td(fmt(v.power), 'num'),
    td(pct(v.power / power), 'num'),
    el('td', {}, badge(v.status)),
    td(`${v.proposed} / ${chain.blocks.length}`, 'num'),
  ), 'no validators');
}

// ---- PDP -------------------------------------------------------------

function renderPdp(pdp) {
  $('pdp-summary').textContent =
    `· ${pdp.active_contracts} active contracts of ${pdp.contracts}`;
  fill('pdp-table', pdp.nodes, (n) => {
    const last = n.last
      ? el('td', { title: `contract ${n.last.contract}, recorded at height ${n.last.height} by ${n.last.validator}` },
        badge(n.last.passed ? 'passed' : 'failed'), `epoch ${fmt(n.last.epoch)}`)
      : td('no audit yet', 'muted');
    return el('tr', { 'data-node': n.id },
      td(short(n.id, 12), 'mono', n.id),
      td(n.zone),
      el('td', {}, badge(n.status)),
      td(fmt(n.stake), 'num'),
      td(fmt(n.passes), 'num'),
      td(fmt(n.failures), 'num'),
      td(fmt(n.paid), 'num'),
      td(fmt(n.slashed), 'num'),
      last);
  }, 'no storage nodes');
}

// ---- accounts --------------------------------------------------------

function renderAccounts(acc) {
  $('accounts-summary').textContent = `· ${fmt(acc.accounts.length)}` +
    (acc.accounts_truncated ? '+' : '') + ` accounts, ${fmt(acc.total_balance)} in total`;
  fill('accounts-table', acc.accounts, (a) => el('tr', { 'data-address': a.address },
    td(a.address, 'mono address'),
    el('td', {}, ...a.roles.map((r) => badge(r, 'kind'))),
    td(fmt(a.balance), 'num balance'),
    td(fmt(a.nonce), 'num'),
  ), 'no accounts');
  fill('clients-table', acc.clients, (c) => el('tr', { 'data-client': c.client },
    td(short(c.client), 'mono', c.client),
    td(fmt(c.epochs), 'num'),
    td(fmt(c.requests), 'num requests'),
    td(fmt(c.charged), 'num'),
  ), 'no usage settled yet');
  $('usage-summary').textContent = acc.usage_truncated ? '(latest of many)' : '';
  fill('usage-table', acc.usage.slice(0, ROWS_SHOWN), (u) => el('tr', {},
    td(short(u.client), 'mono', u.client),
    td(fmt(u.epoch), 'num'),
    td(fmt(u.requests), 'num'),
    td(fmt(u.charged), 'num'),
    td(fmt(u.nodes), 'num', `coordinator ${u.coordinator}, settled at height ${u.height}`),
  ), 'no usage settled yet');
}

// ---- refresh loop ----------------------------------------------------

let lastOk = null;

async function refresh() {
  try {
    const [ring, chain, pdp, accounts] = await Promise.all(
      ['api/ring', 'api/chain', 'api/pdp', 'api/accounts'].map(getJSON));
    renderHeader(chain, ring, pdp);
    renderRing(ring);
    renderChain(chain);
    renderPdp(pdp);
    renderAccounts(accounts);
    lastOk = new Date();
    $('updated').textContent = `updated ${clock(lastOk)}`;
    $('updated').classList.remove('stale');
    $('error').hidden = true;
  } catch (e) {
    const since = lastOk ? ` Showing data from ${clock(lastOk)}.` : '';
    $('error').textContent = `Cannot reach the validator: ${e.message}.${since} Retrying every ${REFRESH_MS / 1000} s.`;
    $('error').hidden = false;
    $('updated').textContent = lastOk ? `last updated ${clock(lastOk)}` : 'not updated yet';
    $('updated').classList.add('stale');
  }
}

async function loop() {
  await refresh();
  setTimeout(loop, REFRESH_MS);
}

loop();
