import { ApiError, api } from '/dashboard/static/api.js';
import {
  budgets,
  callsView,
  drill,
  el,
  eventsView,
  insightsView,
  keysView,
  overview,
} from '/dashboard/static/views.js';

const VIEWS = {
  overview,
  drill,
  budgets,
  events: eventsView,
  calls: callsView,
  insights: insightsView,
  keys: keysView,
};

const ctx = { viewer: null, entities: null, onLive: null, confirm: (m) => window.confirm(m) };
const $ = (id) => document.getElementById(id);
let stream = null;
let renderSeq = 0;

async function render() {
  const seq = ++renderSeq;
  const [name, query] = (location.hash.replace(/^#\/?/, '') || 'overview').split('?');
  const view = VIEWS[name] ?? overview;
  const content = $('content');
  ctx.onLive = null;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.getAttribute('href') === `#/${name}`) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const root = el('div', { class: 'view', 'aria-busy': 'true' });
  content.replaceChildren(root);
  try {
    await view(root, ctx, new URLSearchParams(query ?? ''));
    if (seq !== renderSeq) return;
    root.removeAttribute('aria-busy');
    document.body.dataset.view = name;
    document.body.dataset.ready = String(seq);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return showSignIn();
    root.replaceChildren(el('p', { class: 'error', role: 'alert' }, err.message));
    root.removeAttribute('aria-busy');
  }
}

function connectLive() {
  stream?.close();
  stream = new EventSource('/dashboard/api/stream');
  const live = $('live');
  stream.addEventListener('open', () => {
    live.textContent = '● live';
    live.classList.add('on');
  });
  stream.addEventListener('error', () => {
    live.textContent = '○ reconnecting';
    live.classList.remove('on');
  });
  stream.addEventListener('summary', (e) => {
    const s = JSON.parse(e.data);
    document.body.dataset.liveAt = s.now;
    ctx.onLive?.(s);
  });
}

async function start(viewer) {
  ctx.viewer = viewer;
  ctx.entities = await api.get('/entities');
  $('signin').hidden = true;
  $('nav').hidden = false;
  $('who').hidden = false;
  $('whoami').textContent = viewer.role === 'admin' ? 'master key' : `team ${viewer.team} (read only)`;
  for (const n of document.querySelectorAll('[data-admin]')) n.hidden = viewer.role !== 'admin';
  document.body.dataset.role = viewer.role;
  connectLive();
  await render();
}

function showSignIn() {
  stream?.close();
  $('content').replaceChildren();
  $('nav').hidden = true;
  $('who').hidden = true;
  $('signin').hidden = false;
  document.body.dataset.view = 'signin';
  $('signin-key').focus();
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  $('signin-error').textContent = '';
  try {
    const viewer = await api.post('/session', { key: $('signin-key').value });
    $('signin-key').value = '';
    await start(viewer);
  } catch (err) {
    $('signin-error').textContent = err.message;
  }
});

$('signout').addEventListener('click', async () => {
  await api.del('/session');
  showSignIn();
});

window.addEventListener('hashchange', () => {
  if (ctx.viewer) render();
});

api.get('/session').then(start, showSignIn);
