// DOM helpers. Every piece of data becomes a text node (textContent); nothing is ever parsed as
// HTML, so user-provided text (names, messages, reasons) cannot inject markup or script.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.setAttribute('class', v);
    else if (k === 'text') el.textContent = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** An HTML element: h('td', {class: 'num'}, 'text', otherNode). */
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** An SVG element. */
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// Formatting.
export function money(m) {
  if (!m || typeof m.amount !== 'number') return '—';
  try {
    return new Intl.NumberFormat('en-IN', { style: 'currency', currency: m.currency || 'INR' }).format(m.amount / 100);
  } catch {
    return `${(m.amount / 100).toFixed(2)} ${m.currency}`;
  }
}
export const pct = (r) => (r === null || r === undefined ? '—' : `${(r * 100).toFixed(1)}%`);
export const num = (n) => (n === null || n === undefined ? '—' : new Intl.NumberFormat('en-IN').format(n));
export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString('en-IN', { dateStyle: 'medium', timeStyle: 'short' });
}
export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i ? 1 : 0)} ${u[i]}`;
}
export function duration(secs) {
  const d = Math.floor(secs / 86400), hr = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  return d ? `${d} d ${hr} h` : hr ? `${hr} h ${m} min` : `${m} min ${secs % 60} s`;
}
/** A status word as a badge (class from a fixed list only). */
export function badge(status) {
  const good = ['active', 'completed', 'succeeded', 'sent', 'resolved', 'ok', 'answered', 'closed', 'ended'];
  const bad = ['dead', 'failed', 'blocked', 'suspended', 'cancelled', 'rejected', 'expired', 'firing', 'locked', 'missed'];
  const cls = good.includes(status) ? 'good' : bad.includes(status) ? 'bad' : 'neutral';
  return h('span', { class: `badge ${cls}` }, status ?? '—');
}
