// Small SVG charts, drawn here (no library): bars or a line over days, with axes, tick labels,
// a <title> per point (the browser's tooltip, also read by screen readers) and a data table as
// the text alternative. Optional second series on a right-hand axis (mean MOS over calls).

import { h, s } from './dom.js';

const W = 400, H = 190, L = 50, R = 34, T = 12, B = 28;

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 4, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

let seq = 0;

/**
 * chart({id, title, days: ['YYYY-MM-DD'...], values: [number|null], kind: 'bar'|'line',
 *        format: v => string, max?, second?: {label, values, max, format}})
 */
export function chart(o) {
  const id = o.id || `chart${++seq}`;
  const n = o.days.length;
  const vals = o.values.map((v) => (v === null || v === undefined ? null : Number(v)));
  const max = o.max ?? niceMax(Math.max(o.minMax || 4, ...vals.filter((v) => v !== null)));
  const pw = W - L - R, ph = H - T - B;
  const x = (i) => L + (n <= 1 ? pw / 2 : (i + 0.5) * (pw / n));
  const y = (v, m = max) => T + ph - (Math.min(v, m) / m) * ph;
  const total = vals.reduce((a, v) => a + (v || 0), 0);
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`, class: 'chart', role: 'img', 'aria-labelledby': `${id}-t ${id}-d`, 'data-chart': id,
  });
  svg.append(s('title', { id: `${id}-t` }, o.title));
  const lastDay = n ? o.days[n - 1] : '';
  svg.append(s('desc', { id: `${id}-d` }, `${o.title}, ${n} days from ${o.days[0] || ''} to ${lastDay}; the table below has every value.`));
  // Grid and left axis: 0, half, max.
  for (const f of [0, 0.5, 1]) {
    const yy = y(max * f);
    svg.append(s('line', { x1: L, x2: W - R, y1: yy, y2: yy, class: f === 0 ? 'axis' : 'grid' }));
    svg.append(s('text', { x: L - 6, y: yy + 4, class: 'tick', 'text-anchor': 'end' }, o.format(max * f)));
  }
  // Date labels: about six across.
  const every = Math.max(1, Math.ceil(n / 6));
  o.days.forEach((d, i) => {
    if (i % every === 0 || i === n - 1) {
      svg.append(s('text', { x: x(i), y: H - B + 15, class: 'tick', 'text-anchor': 'middle' }, d.slice(5)));
    }
  });
  const g = s('g', { class: `series ${o.kind}` });
  if (o.kind === 'bar') {
    const bw = Math.max(1, (pw / Math.max(n, 1)) * 0.7);
    vals.forEach((v, i) => {
      const vv = v || 0;
      const rect = s('rect', { x: x(i) - bw / 2, y: y(vv), width: bw, height: Math.max(0, T + ph - y(vv)), class: 'bar' });
      rect.append(s('title', {}, `${o.days[i]}: ${o.format(vv)}`));
      g.append(rect);
    });
  } else {
    let d = '';
    vals.forEach((v, i) => {
      if (v === null) return;
      d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    if (d) g.append(s('path', { d, class: 'line' }));
    vals.forEach((v, i) => {
      if (v === null) return;
      const c = s('circle', { cx: x(i), cy: y(v), r: 3, class: 'dot' });
      c.append(s('title', {}, `${o.days[i]}: ${o.format(v)}`));
      g.append(c);
    });
  }
  svg.append(g);
  if (o.second) {
    const sm = o.second.max;
    const sv = o.second.values;
    let d = '';
    const g2 = s('g', { class: 'series second' });
    sv.forEach((v, i) => {
      if (v === null || v === undefined) return;
      d += `${d ? 'L' : 'M'}${x(i).toFixed(1)},${y(v, sm).toFixed(1)}`;
      const c = s('circle', { cx: x(i), cy: y(v, sm), r: 3, class: 'dot2' });
      c.append(s('title', {}, `${o.days[i]}: ${o.second.label} ${o.second.format(v)}`));
      g2.append(c);
    });
    if (d) g2.prepend(s('path', { d, class: 'line2' }));
    for (const f of [0, 0.5, 1]) {
      svg.append(s('text', { x: W - R + 6, y: y(sm * f, sm) + 4, class: 'tick second' }, o.second.format(sm * f)));
    }
    svg.append(g2);
  }
  const empty = vals.every((v) => !v) && !(o.second && o.second.values.some((v) => v));
  const table = h('table', { class: 'data' },
    h('caption', {}, `${o.title} by day`),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Date'), h('th', { scope: 'col' }, o.label || 'Value'),
      o.second ? h('th', { scope: 'col' }, o.second.label) : null)),
    h('tbody', {}, o.days.map((d, i) => h('tr', {}, h('th', { scope: 'row' }, d),
      h('td', { class: 'num' }, vals[i] === null ? '—' : o.format(vals[i])),
      o.second ? h('td', { class: 'num' }, o.second.values[i] == null ? '—' : o.second.format(o.second.values[i])) : null))));
  return h('figure', { class: 'chart-card', 'data-chart-card': id },
    h('figcaption', {}, h('span', { class: 'chart-title' }, o.title),
      o.summary ? h('span', { class: 'chart-summary', 'data-summary': id }, o.summary(total)) : null),
    svg,
    empty ? h('p', { class: 'muted small' }, 'No data in this range yet.') : null,
    h('details', {}, h('summary', {}, 'Show as a table'), table));
}
