// Shared pieces of the pages: error reporting, the confirmation dialog, the generic list page
// (filters, search, cursor paging, responsive table) and description lists.

import { h, $, clear } from './dom.js';
import { get, ApiError } from './api.js';

export function showError(e) {
  const box = $('#errors');
  const msg = e instanceof ApiError ? e.message : (e && e.message) || String(e);
  clear(box, h('p', {}, msg, ' ', h('button', { type: 'button', class: 'link', onclick: () => clear(box) }, 'Dismiss')));
}
export function clearError() { clear($('#errors')); }

export function notice(text) {
  const box = $('#errors');
  clear(box, h('p', { class: 'ok' }, text));
  setTimeout(() => { if (box.textContent.includes(text)) clear(box); }, 6000);
}

/**
 * Asks before an action. `input` adds a required text field (a reason). Resolves to null when
 * cancelled, else {value}.
 */
export function confirmAction({ title, message, confirmLabel = 'Confirm', danger = false, input = null }) {
  const dlg = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-message').textContent = message;
  const ok = $('#confirm-ok');
  ok.textContent = confirmLabel;
  ok.className = danger ? 'danger' : '';
  const extra = $('#confirm-extra');
  let field = null;
  if (input) {
    field = h('textarea', { id: 'confirm-input', name: 'value', rows: 3, required: true, maxlength: input.max || 2000 });
    clear(extra, h('label', { for: 'confirm-input' }, input.label), field);
  } else {
    clear(extra);
  }
  const opener = document.activeElement;
  return new Promise((resolve) => {
    const form = $('#confirm-form');
    const done = (v) => {
      form.removeEventListener('submit', onSubmit);
      $('#confirm-cancel').removeEventListener('click', onCancel);
      dlg.removeEventListener('cancel', onCancel);
      if (dlg.open) dlg.close();
      if (opener && opener.focus) opener.focus();
      resolve(v);
    };
    const onSubmit = (ev) => {
      ev.preventDefault();
      if (field && !field.value.trim()) { field.focus(); return; }
      done({ value: field ? field.value.trim() : null });
    };
    const onCancel = (ev) => { ev.preventDefault(); done(null); };
    form.addEventListener('submit', onSubmit);
    $('#confirm-cancel').addEventListener('click', onCancel);
    dlg.addEventListener('cancel', onCancel);
    dlg.showModal();
    (field || ok).focus();
  });
}

/** Runs an action after confirmation, reports its outcome, then calls `after`. */
export function actionButton(label, opts, run, after) {
  return h('button', {
    type: 'button', class: opts.danger ? 'danger small' : 'small', 'aria-label': opts.ariaLabel || label,
    'data-action': opts.name || label.toLowerCase(),
    onclick: async (ev) => {
      const btn = ev.currentTarget; // read before any await: it is reset once dispatch ends
      const c = await confirmAction({ title: opts.title || `${label}?`, message: opts.message, confirmLabel: label, danger: opts.danger, input: opts.input });
      if (!c) return;
      btn.disabled = true;
      try {
        await run(c.value);
        notice(opts.done || `${label}: done.`);
        if (after) await after();
      } catch (e) {
        showError(e);
      } finally {
        btn.disabled = false;
      }
    },
  }, label);
}

export function dl(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v ?? '—')]));
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== '' && v !== null && v !== undefined) q.set(k, v);
  const t = q.toString();
  return t ? `?${t}` : '';
}

/**
 * A list page: title, filters (search/select/date), a table of `columns`, cursor paging.
 * filters: [{name, label, type: 'search'|'text'|'select'|'date', options: [[value, label]]}]
 * columns: [{label, cell: item => string|Node, num?}]
 */
export function listPage(main, o, initial = {}) {
  const state = { params: { ...initial }, cursors: [null], page: 0 };
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': `Filter ${o.title.toLowerCase()}` });
  for (const f of o.filters || []) {
    const id = `f-${o.key}-${f.name}`;
    let input;
    if (f.type === 'select') {
      input = h('select', { id, name: f.name }, f.options.map(([v, l]) => h('option', { value: v }, l)));
    } else {
      input = h('input', { id, name: f.name, type: f.type === 'search' ? 'search' : f.type === 'date' ? 'date' : 'text', autocomplete: 'off', placeholder: f.placeholder || '' });
    }
    if (initial[f.name] !== undefined) input.value = initial[f.name];
    form.append(h('div', { class: 'field' }, h('label', { for: id }, f.label), input));
  }
  form.append(h('div', { class: 'field buttons' }, h('button', { type: 'submit' }, 'Apply'),
    h('button', { type: 'reset', class: 'secondary' }, 'Clear')));
  const status = h('p', { class: 'muted small', 'aria-live': 'polite' });
  const tbody = h('tbody');
  const table = h('table', { class: 'list', 'data-list': o.key },
    h('caption', { class: 'sr-only' }, o.title),
    h('thead', {}, h('tr', {}, o.columns.map((c) => h('th', { scope: 'col', class: c.num ? 'num' : null }, c.label)))),
    tbody);
  const prev = h('button', { type: 'button', class: 'secondary', disabled: true }, '← Newer');
  const next = h('button', { type: 'button', class: 'secondary', disabled: true }, 'Older →');
  const pager = h('nav', { class: 'pager', 'aria-label': `${o.title} pages` }, prev, next);

  async function load() {
    status.textContent = 'Loading…';
    try {
      const cursor = state.cursors[state.page];
      const page = await get(o.path + query({ ...(o.fixed || {}), ...state.params, limit: o.limit || 20, cursor }));
      const items = page.items || [];
      clear(tbody, items.length
        ? items.map((it) => h('tr', { 'data-id': it.id ?? null }, o.columns.map((c) => h('td', { 'data-label': c.label, class: c.num ? 'num' : null }, c.cell(it, load)))))
        : h('tr', {}, h('td', { colspan: o.columns.length, class: 'muted' }, o.empty || 'Nothing here.')));
      state.cursors[state.page + 1] = page.nextCursor || null;
      prev.disabled = state.page === 0;
      next.disabled = !page.nextCursor;
      status.textContent = `${items.length} shown${page.nextCursor ? ', more on the next page' : ''} (page ${state.page + 1}).`;
    } catch (e) {
      clear(tbody);
      status.textContent = '';
      showError(e);
    }
  }
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    state.params = Object.fromEntries(new FormData(form).entries());
    state.cursors = [null];
    state.page = 0;
    load();
  });
  form.addEventListener('reset', () => setTimeout(() => form.requestSubmit(), 0));
  prev.addEventListener('click', () => { state.page = Math.max(0, state.page - 1); load(); });
  next.addEventListener('click', () => { state.page += 1; load(); });
  clear(main,
    h('div', { class: 'page-head' }, h('h1', {}, o.title), o.tools ? o.tools(() => state.params) : null),
    o.intro ? h('p', { class: 'muted' }, o.intro) : null,
    form, status, h('div', { class: 'table-wrap' }, table), pager);
  return load();
}
