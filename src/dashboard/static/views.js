import { ApiError, api, qs } from '/dashboard/static/api.js';
import { timeChart } from '/dashboard/static/charts.js';

/** el('div', {class: 'x'}, child, 'text'): DOM without innerHTML, so ledger strings can never inject markup. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat())
    if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}

export const usd = (m) => `$${m.usd}`;
const usdNumber = (nanos) => nanos / 1e9;
const pct = (f) => (f === null || f === undefined ? '—' : `${(f * 100).toFixed(1)}%`);
const int = (n) => Number(n).toLocaleString('en-US');
const when = (iso) => (iso ? new Date(iso).toISOString().replace('T', ' ').slice(0, 19) : '—');

function duration(ms) {
  if (ms <= 0) return 'now';
  const m = Math.floor(ms / 60000);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

function stat(label, value, testid, hint) {
  return el(
    'div',
    { class: 'stat card' },
    el('div', { class: 'stat-label' }, label),
    el('div', { class: 'stat-value', 'data-testid': testid }, value),
    hint ? el('div', { class: 'stat-hint' }, hint) : null,
  );
}

function table(caption, headers, rows, testid) {
  return el(
    'div',
    { class: 'table-wrap' },
    el(
      'table',
      { 'data-testid': testid },
      el('caption', {}, caption),
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          headers.map((h) => el('th', { scope: 'col' }, h)),
        ),
      ),
      el(
        'tbody',
        {},
        rows.length ? rows : el('tr', {}, el('td', { colspan: headers.length, class: 'empty' }, 'No data.')),
      ),
    ),
  );
}

function windowSelect(current, onChange, options = ['today', '24h', '7d', '30d', 'month']) {
  const id = `win-${Math.random().toString(36).slice(2, 7)}`;
  return el(
    'span',
    { class: 'inline-field' },
    el('label', { for: id }, 'Window'),
    el(
      'select',
      { id, name: 'window', onchange: (e) => onChange(e.target.value) },
      options.map((o) => el('option', { value: o, selected: o === current }, o)),
    ),
  );
}

// ---------- Overview ----------

export async function overview(root, ctx) {
  const o = await api.get('/overview');
  const chartBox = el('div', { class: 'chart', 'aria-label': 'Spend per hour, last 24 hours', role: 'img' });
  root.replaceChildren(
    el('h2', {}, o.scope === 'organization' ? 'Organization overview' : `Team ${o.scope}`),
    el(
      'div',
      { class: 'stats' },
      stat('Spend today (UTC)', usd(o.today), 'spend-today', `${int(o.today.calls)} calls`),
      stat('Spend this month', usd(o.window.spent), 'spend-window', `${int(o.window.calls)} calls`),
      stat('Burn rate', `${usd(o.burnRatePerHour)}/h`, 'burn-rate', `last hour ${usd(o.lastHour)}`),
      stat('Forecast, end of month', usd(o.window.forecast), 'forecast', `window ends ${when(o.window.end)}`),
      stat('In flight', usd(o.inFlight.reserved), 'inflight', `${int(o.inFlight.calls)} calls reserved`),
      stat('Queue depth', o.queueDepth === null ? '—' : int(o.queueDepth), 'queue-depth'),
    ),
    el('section', { class: 'card' }, el('h3', {}, 'Spend per hour (last 24 h)'), chartBox),
    table(
      'Spend by team',
      ['Team', 'Today', 'This month', 'Calls', 'Denied'],
      o.teams.map((t) =>
        el(
          'tr',
          { dataset: { team: t.team ?? '' } },
          el(
            'th',
            { scope: 'row' },
            el('a', { href: `#/drill?team=${encodeURIComponent(t.team ?? '')}&by=project` }, t.team ?? '—'),
          ),
          el('td', { class: 'num', 'data-testid': 'team-today' }, usd(t.today)),
          el('td', { class: 'num', 'data-testid': 'team-month' }, usd(t.month)),
          el('td', { class: 'num' }, int(t.calls)),
          el('td', { class: 'num' }, int(t.denied)),
        ),
      ),
      'teams-table',
    ),
    el(
      'section',
      { class: 'card' },
      el('h3', {}, 'Latest calls (live)'),
      el('ul', { class: 'recent', id: 'recent', 'aria-live': 'polite' }),
    ),
  );
  timeChart(chartBox, {
    times: o.series.map((b) => b.t),
    series: [{ label: 'USD', values: o.series.map((b) => usdNumber(b.cost)), fill: true, bars: true }],
    money: true,
  });
  ctx.onLive = (s) => {
    const set = (id, v) => {
      const n = root.querySelector(`[data-testid="${id}"]`);
      if (n) n.textContent = v;
    };
    set('spend-today', usd(s.today));
    set('inflight', usd(s.inFlight.reserved));
    if (s.queueDepth !== null) set('queue-depth', int(s.queueDepth));
    const list = root.querySelector('#recent');
    if (list)
      list.replaceChildren(
        ...s.recent.map((c) =>
          el(
            'li',
            {},
            `${when(c.tsStart)} · ${c.team}/${c.project}/${c.env} · ${c.modelUsed} · ${c.status} · ${usd(c.cost)}`,
          ),
        ),
      );
  };
}

// ---------- Drill-down ----------

const NEXT = { team: 'project', project: 'env', env: 'key' };

export async function drill(root, ctx, params) {
  const state = {
    by: params.get('by') || (ctx.viewer.role === 'team' ? 'project' : 'team'),
    window: params.get('window') || 'month',
    team: params.get('team') || '',
    project: params.get('project') || '',
    env: params.get('env') || '',
  };
  const go = (patch) => {
    const next = { ...state, ...patch };
    location.hash = `#/drill${qs(next)}`;
  };
  const d = await api.get(`/drill${qs(state)}`);
  const crumbs = [
    el(
      'a',
      { href: '#/drill?by=team' },
      ctx.viewer.role === 'team' ? `team ${ctx.viewer.team}` : 'organization',
    ),
  ];
  if (state.team)
    crumbs.push(
      ' › ',
      el(
        'a',
        { href: `#/drill${qs({ team: state.team, by: 'project', window: state.window })}` },
        `team ${state.team}`,
      ),
    );
  if (state.project)
    crumbs.push(
      ' › ',
      el(
        'a',
        {
          href: `#/drill${qs({ team: state.team, project: state.project, by: 'env', window: state.window })}`,
        },
        `project ${state.project}`,
      ),
    );
  if (state.env) crumbs.push(' › ', el('span', {}, `env ${state.env}`));
  const leaf = state.env !== '';
  const max = Math.max(1, ...d.rows.map((r) => r.cost.nanos));
  root.replaceChildren(
    el('h2', {}, 'Drill-down'),
    el('nav', { 'aria-label': 'Breadcrumb', class: 'crumbs' }, crumbs),
    el(
      'div',
      { class: 'toolbar' },
      windowSelect(state.window, (w) => go({ window: w })),
      el(
        'span',
        { class: 'inline-field' },
        el('label', { for: 'drill-by' }, 'Group by'),
        el(
          'select',
          { id: 'drill-by', onchange: (e) => go({ by: e.target.value }) },
          ['team', 'project', 'env', 'key', 'feature', 'model', 'user', 'provider', 'cost_center'].map((o) =>
            el('option', { value: o, selected: o === state.by }, o),
          ),
        ),
      ),
      el('span', { class: 'total' }, 'Total ', el('strong', { 'data-testid': 'drill-total' }, usd(d.total))),
    ),
    table(
      `Spend by ${state.by}`,
      [state.by, 'Cost', 'Share', 'Calls', 'Input tok', 'Output tok', 'Denied', 'Errors', 'Retried'],
      d.rows.map((r) => {
        const nextBy = NEXT[state.by];
        const label = r.group ?? '—';
        const link =
          !leaf && nextBy && r.group !== null
            ? el('a', { href: `#/drill${qs({ ...state, [state.by]: r.group, by: nextBy })}` }, label)
            : label;
        return el(
          'tr',
          { dataset: { group: r.group ?? '' } },
          el('th', { scope: 'row' }, link),
          el('td', { class: 'num', 'data-testid': 'drill-cost' }, usd(r.cost)),
          el(
            'td',
            {},
            el('span', {
              class: 'bar',
              style: `--w:${((r.cost.nanos / max) * 100).toFixed(1)}%`,
              'aria-hidden': 'true',
            }),
          ),
          el('td', { class: 'num' }, int(r.calls)),
          el('td', { class: 'num' }, int(r.inputTokens)),
          el('td', { class: 'num' }, int(r.outputTokens)),
          el('td', { class: 'num' }, int(r.denied)),
          el('td', { class: 'num' }, int(r.errors)),
          el('td', { class: 'num' }, int(r.retried)),
        );
      }),
      'drill-table',
    ),
  );
}

// ---------- Budgets ----------

function budgetForm(existing, onSaved) {
  const error = el('p', { class: 'error', role: 'alert', 'data-testid': 'budget-error' });
  const idp = existing ? `edit-${existing.id}` : 'new-budget';
  const f = (name, label, attrs = {}) =>
    el(
      'div',
      { class: 'field' },
      el('label', { for: `${idp}-${name}` }, label),
      el('input', { id: `${idp}-${name}`, name, ...attrs }),
    );
  const form = el(
    'form',
    {
      class: 'budget-form',
      'data-testid': existing ? 'budget-edit-form' : 'budget-create-form',
      novalidate: true,
    },
    existing ? null : f('id', 'Budget id', { required: true, placeholder: 'search-monthly' }),
    existing ? null : f('team', 'Team (empty = whole org)', { placeholder: 'search' }),
    f('usd', 'Limit (USD)', { required: true, inputmode: 'decimal', value: existing?.limit?.usdExact ?? '' }),
    existing
      ? null
      : el(
          'div',
          { class: 'field' },
          el('label', { for: `${idp}-every` }, 'Window'),
          el(
            'select',
            { id: `${idp}-every`, name: 'every' },
            ['month', 'week', 'day'].map((o) => el('option', { value: o }, o)),
          ),
        ),
    existing
      ? null
      : el(
          'div',
          { class: 'field' },
          el('label', { for: `${idp}-mode` }, 'Mode'),
          el(
            'select',
            { id: `${idp}-mode`, name: 'mode' },
            ['hard', 'soft'].map((o) => el('option', { value: o }, o)),
          ),
        ),
    el('button', { type: 'submit' }, existing ? 'Save limit' : 'Create budget'),
    error,
  );
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const data = Object.fromEntries(new FormData(form));
    // The number goes to the server as typed: the admin API's validation decides, and its message is shown.
    const limitUsd = /^\s*-?\d+(\.\d+)?\s*$/.test(data.usd) ? Number(data.usd) : data.usd;
    try {
      if (existing)
        await api.patch(`/admin/budgets/${encodeURIComponent(existing.id)}`, { limit: { usd: limitUsd } });
      else
        await api.post('/admin/budgets', {
          id: data.id,
          match: data.team ? { team: data.team } : {},
          limit: { usd: limitUsd },
          window: { kind: 'calendar', every: data.every, tz: 'UTC' },
          mode: data.mode,
        });
      onSaved();
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : String(err);
      const bad = err.param && form.querySelector(`[name="${err.param.split('.').pop()}"]`);
      if (bad) bad.setAttribute('aria-invalid', 'true');
    }
  });
  return form;
}

export async function budgets(root, ctx) {
  const { data, now: serverNow } = await api.get('/budgets');
  // Time to reset is measured on the gateway's clock, not the browser's.
  const now = Date.parse(serverNow);
  const reload = () => budgets(root, ctx);
  root.replaceChildren(
    el('h2', {}, 'Budgets'),
    el(
      'div',
      { class: 'budget-grid' },
      data.map((b) => {
        const util = b.utilization ?? 0;
        const exposure = b.exposure ?? util;
        const hasUsd = b.limit.nanos != null;
        const limitText = hasUsd
          ? `$${b.limit.usdExact}`
          : b.limit.tokens != null
            ? `${int(b.limit.tokens)} tokens`
            : `${int(b.limit.requests)} requests`;
        const spentText = hasUsd
          ? `$${b.spent.usdExact}`
          : b.limit.tokens != null
            ? `${int(b.spent.tokens)} tokens`
            : `${int(b.spent.requests)} requests`;
        const reservedText = hasUsd
          ? `$${b.reserved.usdExact}`
          : b.limit.tokens != null
            ? `${int(b.reserved.tokens)} tokens`
            : `${int(b.reserved.requests)} requests`;
        const resetMs = b.resetsAt ? Date.parse(b.resetsAt) - now : null;
        return el(
          'article',
          { class: 'card budget', 'data-budget': b.id, 'aria-labelledby': `b-${b.id}` },
          el(
            'h3',
            { id: `b-${b.id}` },
            b.id,
            ' ',
            el('span', { class: `badge ${b.mode}` }, b.mode),
            b.source === 'config' ? el('span', { class: 'badge' }, 'config') : null,
          ),
          el(
            'p',
            { class: 'match' },
            Object.entries(b.match)
              .map(([k, v]) => `${k}=${v}`)
              .join(', ') || 'everything',
          ),
          el(
            'div',
            {
              class: 'meter',
              role: 'progressbar',
              'aria-valuemin': 0,
              'aria-valuemax': 100,
              'aria-valuenow': Math.round(Math.min(util, 1) * 100),
              'aria-label': `${b.id} utilization`,
            },
            el('span', {
              class: `fill ${util >= 1 ? 'over' : util >= 0.8 ? 'warn' : ''}`,
              style: `--w:${Math.min(util, 1) * 100}%`,
            }),
            el('span', {
              class: 'fill reserved',
              style: `--l:${Math.min(util, 1) * 100}%;--w:${Math.max(0, Math.min(exposure, 1) - Math.min(util, 1)) * 100}%`,
            }),
            (b.alerts ?? []).map((t) =>
              el('span', {
                class: 'tick',
                style: `--l:${Math.min(t, 1) * 100}%`,
                title: `alert at ${t * 100}%`,
              }),
            ),
          ),
          el(
            'dl',
            {},
            el('dt', {}, 'Spent'),
            el('dd', { 'data-testid': 'budget-spent' }, spentText),
            el('dt', {}, 'In flight'),
            el('dd', { 'data-testid': 'budget-reserved' }, reservedText),
            el('dt', {}, 'Limit'),
            el('dd', { 'data-testid': 'budget-limit' }, limitText),
            el('dt', {}, 'Utilization'),
            el('dd', { 'data-testid': 'budget-util' }, pct(b.utilization)),
            el('dt', {}, 'Thresholds'),
            el('dd', {}, (b.alerts ?? []).map((t) => `${t * 100}%`).join(' · ') || '—'),
            el('dt', {}, 'Resets in'),
            el('dd', {}, resetMs === null ? 'rolling' : duration(resetMs)),
          ),
          ctx.viewer.role === 'admin' && b.source === 'api'
            ? el('details', {}, el('summary', {}, 'Edit limit'), budgetForm(b, reload))
            : null,
        );
      }),
    ),
    ctx.viewer.role === 'admin'
      ? el('section', { class: 'card' }, el('h3', {}, 'New budget'), budgetForm(null, reload))
      : null,
  );
}

// ---------- Events ----------

export async function eventsView(root, _ctx, params) {
  const window = params.get('window') || '24h';
  const e = await api.get(`/events${qs({ window })}`);
  const chartBox = el('div', {
    class: 'chart',
    role: 'img',
    'aria-label': 'Denials, degradations, reroutes and queued calls over time',
  });
  const waitBox = el('div', { class: 'chart', role: 'img', 'aria-label': 'Queue wait over time' });
  root.replaceChildren(
    el('h2', {}, 'Denials, degradations, queue waits and reroutes'),
    el(
      'div',
      { class: 'toolbar' },
      windowSelect(window, (w) => (location.hash = `#/events${qs({ window: w })}`), ['24h', '7d', '30d']),
    ),
    el(
      'div',
      { class: 'stats' },
      stat('Denied', int(e.totals.denied), 'ev-denied'),
      stat('Degraded', int(e.totals.degraded), 'ev-degraded'),
      stat('Rerouted', int(e.totals.rerouted), 'ev-rerouted'),
      stat('Queued', int(e.totals.queued), 'ev-queued', `${int(e.totals.queueMs)} ms waited`),
      stat('Retried', int(e.totals.retried), 'ev-retried'),
      stat('Errors', int(e.totals.errors), 'ev-errors'),
    ),
    el('section', { class: 'card' }, el('h3', {}, 'Events per bucket'), chartBox),
    el('section', { class: 'card' }, el('h3', {}, 'Queue wait (ms) per bucket'), waitBox),
  );
  const times = e.series.map((b) => b.t);
  timeChart(chartBox, {
    times,
    series: [
      { label: 'denied', values: e.series.map((b) => b.denied) },
      { label: 'degraded', values: e.series.map((b) => b.degraded) },
      { label: 'rerouted', values: e.series.map((b) => b.rerouted) },
      { label: 'queued', values: e.series.map((b) => b.queued) },
      { label: 'errors', values: e.series.map((b) => b.errors) },
    ],
  });
  timeChart(waitBox, {
    times,
    series: [{ label: 'queue ms', values: e.series.map((b) => b.queueMs), bars: true }],
    height: 160,
  });
}

// ---------- Calls ----------

function traceView(t) {
  const a = t.attempts;
  return el(
    'section',
    { class: 'card trace', 'aria-labelledby': 'trace-title', 'data-testid': 'trace' },
    el('h3', { id: 'trace-title', tabindex: '-1' }, `Call ${t.callId}`),
    el(
      'p',
      {},
      'Total cost ',
      el('strong', { 'data-testid': 'trace-cost' }, usd(t.cost)),
      ' · reserved ',
      el('strong', { 'data-testid': 'trace-reserved' }, usd(t.reserved)),
      ` · ${a.length} attempt(s)`,
    ),
    table(
      'Attempts',
      [
        '#',
        'Status',
        'Model requested',
        'Model used',
        'Provider',
        'Input',
        'Output',
        'Cache read',
        'Cache write',
        'Reasoning',
        'Cost',
        'Reserved',
        'Latency',
        'TTFT',
        'Action',
        'Error',
      ],
      a.map((r) =>
        el(
          'tr',
          {},
          el('td', {}, r.attempt),
          el('td', {}, r.status),
          el('td', {}, r.modelRequested),
          el('td', {}, r.modelUsed),
          el('td', {}, r.provider),
          el('td', { class: 'num' }, int(r.inputTokens)),
          el('td', { class: 'num' }, int(r.outputTokens)),
          el('td', { class: 'num' }, int(r.cacheReadTokens)),
          el('td', { class: 'num' }, int(r.cacheWriteTokens)),
          el('td', { class: 'num' }, int(r.reasoningTokens)),
          el('td', { class: 'num' }, usd(r.cost)),
          el('td', { class: 'num' }, usd(r.reserved)),
          el('td', { class: 'num' }, r.latencyMs === null ? '—' : `${r.latencyMs} ms`),
          el('td', { class: 'num' }, r.ttftMs === null ? '—' : `${r.ttftMs} ms`),
          el('td', {}, r.action ?? ''),
          el('td', {}, r.errorCode ?? ''),
        ),
      ),
      'trace-table',
    ),
  );
}

export async function callsView(root, ctx, params) {
  const filter = Object.fromEntries(
    ['team', 'project', 'env', 'key', 'model', 'status', 'request_id', 'before'].map((k) => [
      k,
      params.get(k) || '',
    ]),
  );
  const page = await api.get(`/calls${qs({ ...filter, limit: 50 })}`);
  const traceBox = el('div', { id: 'trace-box' });
  const field = (name, label, options) =>
    el(
      'div',
      { class: 'field' },
      el('label', { for: `f-${name}` }, label),
      options
        ? el(
            'select',
            { id: `f-${name}`, name },
            el('option', { value: '' }, 'any'),
            options.map((o) => el('option', { value: o, selected: o === filter[name] }, o)),
          )
        : el('input', { id: `f-${name}`, name, value: filter[name] }),
    );
  const form = el(
    'form',
    { class: 'filters', 'aria-label': 'Filter calls' },
    ctx.viewer.role === 'admin' ? field('team', 'Team', ctx.entities.teams) : null,
    field('project', 'Project'),
    field('env', 'Env', ctx.entities.envs),
    field('key', 'Key id'),
    field('model', 'Model', ctx.entities.models),
    field('status', 'Status', ['ok', 'denied', 'upstream_error', 'client_aborted', 'orphaned', 'pending']),
    field('request_id', 'Request id'),
    el('button', { type: 'submit' }, 'Apply'),
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    location.hash = `#/calls${qs(Object.fromEntries(new FormData(form)))}`;
  });
  root.replaceChildren(
    el('h2', {}, 'Recent calls'),
    form,
    table(
      'Calls, newest first',
      [
        'Time (UTC)',
        'Team / project / env',
        'Feature',
        'Model',
        'Status',
        'Tokens in/out',
        'Cost',
        'Latency',
        '',
      ],
      page.data.map((c) =>
        el(
          'tr',
          { dataset: { call: c.callId } },
          el('td', {}, when(c.tsStart)),
          el('td', {}, `${c.team} / ${c.project} / ${c.env}`),
          el('td', {}, c.feature ?? '—'),
          el('td', {}, c.modelUsed),
          el('td', {}, el('span', { class: `status ${c.status}` }, c.status)),
          el('td', { class: 'num' }, `${int(c.inputTokens)} / ${int(c.outputTokens)}`),
          el('td', { class: 'num', 'data-testid': 'call-cost' }, usd(c.cost)),
          el('td', { class: 'num' }, c.latencyMs === null ? '—' : `${c.latencyMs} ms`),
          el(
            'td',
            {},
            el(
              'button',
              {
                type: 'button',
                class: 'link',
                'aria-label': `Trace of call ${c.callId}`,
                onclick: async () => {
                  const t = await api.get(
                    `/calls/${encodeURIComponent(c.callId)}${qs({ key: c.keyId, ts: c.tsStartMs })}`,
                  );
                  traceBox.replaceChildren(traceView(t));
                  traceBox.querySelector('#trace-title')?.focus();
                },
              },
              'Trace',
            ),
          ),
        ),
      ),
      'calls-table',
    ),
    el(
      'div',
      { class: 'pager' },
      filter.before ? el('a', { href: `#/calls${qs({ ...filter, before: '' })}` }, 'Newest') : null,
      page.nextBefore !== null
        ? el(
            'a',
            { href: `#/calls${qs({ ...filter, before: page.nextBefore })}`, 'data-testid': 'older' },
            'Older →',
          )
        : null,
    ),
    traceBox,
  );
}

// ---------- Insights ----------

export async function insightsView(root, _ctx, params) {
  const window = params.get('window') || '7d';
  const r = await api.get(`/insights${qs({ window })}`);
  root.replaceChildren(
    el('h2', {}, 'Insights'),
    el(
      'div',
      { class: 'toolbar' },
      windowSelect(window, (w) => (location.hash = `#/insights${qs({ window: w })}`), ['24h', '7d', '30d']),
    ),
    el('p', { class: 'note' }, r.note),
    el(
      'div',
      { class: 'stats' },
      stat(
        'Spend in window',
        `$${r.totals.cost.usd}`,
        'ins-total',
        `${int(r.totals.calls)} calls, ${int(r.totals.attempts)} attempts`,
      ),
    ),
    table(
      'Top expensive prompts (calls)',
      ['Call', 'Request', 'Feature', 'Team/project/env', 'Model', 'Attempts', 'In/out tokens', 'Cost'],
      r.topCalls.map((c) =>
        el(
          'tr',
          {},
          el('td', { class: 'mono' }, c.callId),
          el('td', { class: 'mono' }, c.requestId ?? '—'),
          el('td', {}, c.feature ?? '—'),
          el('td', {}, `${c.team}/${c.project}/${c.env}`),
          el('td', {}, c.model),
          el('td', { class: 'num' }, c.attempts),
          el('td', { class: 'num' }, `${int(c.inputTokens)} / ${int(c.outputTokens)}`),
          el('td', { class: 'num', 'data-testid': 'top-call-cost' }, `$${c.cost.usd}`),
        ),
      ),
      'top-calls',
    ),
    table(
      'Top features',
      ['Feature', 'Calls', 'Cost', 'Share'],
      r.topFeatures.map((f) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, f.feature ?? '(none)'),
          el('td', { class: 'num' }, int(f.calls)),
          el('td', { class: 'num', 'data-testid': 'feature-cost' }, `$${f.cost.usd}`),
          el('td', { class: 'num' }, pct(f.spendShare)),
        ),
      ),
      'top-features',
    ),
    table(
      'Retry and agent loops',
      ['Request / call', 'Calls', 'Attempts', 'Failures', 'Max attempt', 'Cost', 'Why', 'First → last'],
      r.retryLoops.map((l) =>
        el(
          'tr',
          {},
          el('td', { class: 'mono' }, l.requestId ?? l.callId ?? '—'),
          el('td', { class: 'num' }, l.calls),
          el('td', { class: 'num' }, l.attempts),
          el('td', { class: 'num' }, l.failures),
          el('td', { class: 'num' }, l.maxAttempt),
          el('td', { class: 'num' }, `$${l.cost.usd}`),
          el('td', {}, l.reasons.join(', ')),
          el('td', {}, `${when(l.first)} → ${when(l.last)}`),
        ),
      ),
      'retry-loops',
    ),
    table(
      'Model mix',
      ['Model', 'Calls', 'Cost', 'Share of spend', 'Share of calls'],
      r.modelMix.map((m) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, m.model),
          el('td', { class: 'num' }, int(m.calls)),
          el('td', { class: 'num' }, `$${m.cost.usd}`),
          el('td', { class: 'num' }, pct(m.spendShare)),
          el('td', { class: 'num' }, pct(m.callShare)),
        ),
      ),
      'model-mix',
    ),
  );
}

// ---------- Keys (master key only) ----------

export async function keysView(root, ctx) {
  const { data } = await api.get('/keys');
  const secretBox = el('div', { 'aria-live': 'polite' });
  const error = el('p', { class: 'error', role: 'alert', 'data-testid': 'key-error' });
  const showSecret = (title, id, secret) =>
    secretBox.replaceChildren(
      el(
        'div',
        { class: 'card secret', role: 'status' },
        el('h3', {}, title),
        el('p', {}, 'Copy it now: it is shown only once.'),
        el('p', {}, 'Key id ', el('code', { 'data-testid': 'new-key-id' }, id)),
        el('pre', { 'data-testid': 'new-key-secret' }, secret),
      ),
    );
  const field = (name, label, options, attrs = {}) =>
    el(
      'div',
      { class: 'field' },
      el('label', { for: `k-${name}` }, label),
      options
        ? el(
            'select',
            { id: `k-${name}`, name },
            options.map((o) => el('option', { value: o }, o)),
          )
        : el('input', { id: `k-${name}`, name, ...attrs }),
    );
  const form = el(
    'form',
    { 'data-testid': 'key-create-form', novalidate: true },
    field('team', 'Team', ctx.entities.teams),
    field(
      'project',
      'Project',
      ctx.entities.projects.map((p) => p.id),
    ),
    field('env', 'Env', ctx.entities.envs),
    field('name', 'Name', null, { placeholder: 'optional' }),
    field('role', 'Kind', ['llm', 'dashboard_read']),
    el('button', { type: 'submit' }, 'Create key'),
    error,
  );
  // Only the chosen team's projects: a key binds a project of its own team.
  const teamSelect = form.querySelector('#k-team');
  const projectSelect = form.querySelector('#k-project');
  const showProjects = () =>
    projectSelect.replaceChildren(
      ...ctx.entities.projects
        .filter((p) => p.team === teamSelect.value)
        .map((p) => el('option', { value: p.id }, p.id)),
    );
  teamSelect.addEventListener('change', showProjects);
  showProjects();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    error.textContent = '';
    const d = Object.fromEntries(new FormData(form));
    try {
      const body = { team: d.team, project: d.project, env: d.env, name: d.name || null };
      if (d.role === 'dashboard_read') body.role = 'dashboard_read';
      const k = await api.post('/admin/keys', body);
      await keysView(root, ctx);
      root.querySelector('#key-secret-box')?.replaceChildren();
      showSecretInto(root, 'New key', k.id, k.key);
    } catch (err) {
      error.textContent = err.message;
    }
  });
  root.replaceChildren(
    el('h2', {}, 'Keys'),
    el('div', { id: 'key-secret-box' }, secretBox),
    el('section', { class: 'card' }, el('h3', {}, 'Create a key'), form),
    table(
      'Active keys',
      ['Id', 'Name', 'Team / project / env', 'Kind', 'Prefix', 'Created', ''],
      data.map((k) =>
        el(
          'tr',
          { dataset: { key: k.id } },
          el('td', { class: 'mono' }, k.id),
          el('td', {}, k.name ?? '—'),
          el('td', {}, `${k.team} / ${k.project} / ${k.env}`),
          el('td', {}, k.scopes?.role ?? 'llm'),
          el('td', { class: 'mono' }, k.prefix),
          el('td', {}, when(k.createdAt)),
          el(
            'td',
            { class: 'actions' },
            el(
              'button',
              {
                type: 'button',
                'aria-label': `Rotate key ${k.id}`,
                onclick: async () => {
                  const r = await api.post(`/admin/keys/${encodeURIComponent(k.id)}/rotate`);
                  await keysView(root, ctx);
                  showSecretInto(root, 'Rotated key', r.id, r.key);
                },
              },
              'Rotate',
            ),
            el(
              'button',
              {
                type: 'button',
                class: 'danger',
                'aria-label': `Revoke key ${k.id}`,
                onclick: async () => {
                  if (!ctx.confirm(`Revoke key ${k.id}? Calls with it stop at once.`)) return;
                  await api.del(`/admin/keys/${encodeURIComponent(k.id)}`);
                  await keysView(root, ctx);
                },
              },
              'Revoke',
            ),
          ),
        ),
      ),
      'keys-table',
    ),
  );
  function showSecretInto(r, title, id, secret) {
    const box = r.querySelector('#key-secret-box');
    if (!box) return;
    box.replaceChildren(secretBox);
    showSecret(title, id, secret);
  }
}
