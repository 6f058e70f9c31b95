// The engineer console's analytics tab: per measurement of a sequence version (a picker, a period
// and a product variant) its n, mean, sigma, Cp and Cpk against its limits and a histogram, all
// computed by the daemon (GET /api/analytics/measurements); for the measurement picked, a
// histogram with its limits and a control chart across units in run order with the limits each
// run was judged by (the limit history, version changes marked; GET /api/analytics/control); and
// two versions side by side: yield per step and Cpk per measurement, before and after a change.
// Charts are uPlot (served at /vendor/uplot/). Values come from DUTs: shown as text only.
/* global uPlot, URLSearchParams */
import { api } from './api.js';
import { el, percent, setChildren, setText } from './dom.js';
import { dateTime } from './datetime.js';
import { ALL_RUNS, fillVariantSelect, fillVersionSelect, listVersions, stepYield, variantNames } from './yield.js';

const PERIODS = [
  ['0', 'all time'],
  ['8', 'the last 8 hours'],
  ['24', 'the last 24 hours'],
  ['168', 'the last 7 days'],
];

/** A number at 4 significant digits ("–" for none). */
export function num(x) {
  return typeof x === 'number' && Number.isFinite(x) ? String(Number(x.toPrecision(4))) : '–';
}

/** Cpk in words and a symbol: capable at 1.33 and above, marginal from 1.0, not capable below. */
export function cpkLook(cpk, note) {
  if (typeof cpk !== 'number') return { level: 'none', text: `– ${note || ''}`.trim() };
  const v = cpk.toFixed(2);
  if (cpk >= 1.33) return { level: 'good', text: `✓ ${v}` };
  if (cpk >= 1) return { level: 'marginal', text: `◐ ${v}` };
  return { level: 'poor', text: `✗ ${v}` };
}

/** The limits in words: "3.4 ≤ x ≤ 4.2", "x ≥ 100", "x ≤ -20", "no numeric limit". */
export function limitsText(low, high, unit) {
  const u = unit ? ` ${unit}` : '';
  if (low !== null && low !== undefined && high !== null && high !== undefined) return `${num(low)} ≤ x ≤ ${num(high)}${u}`;
  if (low !== null && low !== undefined) return `x ≥ ${num(low)}${u} (one-sided)`;
  if (high !== null && high !== undefined) return `x ≤ ${num(high)}${u} (one-sided)`;
  return 'no numeric limit';
}

function periodParams(hours) {
  const params = new URLSearchParams();
  if (hours > 0) params.set('from', new Date(Date.now() - hours * 3600_000).toISOString());
  return params;
}

function select(id, label, options = []) {
  const s = el(
    'select',
    { id, attrs: { 'aria-label': label } },
    options.map(([value, text]) => el('option', { value, text })),
  );
  return s;
}

/** A tiny histogram of CSS bars for a table row (the full one is drawn with uPlot on demand). */
function miniHistogram(h) {
  const max = Math.max(1, ...h.counts);
  return el(
    'span',
    { className: 'mini-hist', attrs: { 'aria-hidden': 'true' } },
    h.counts.map((c) => {
      const bar = el('span', { className: 'mini-bar' });
      bar.style.height = `${Math.round((c / max) * 100)}%`;
      return bar;
    }),
  );
}

/** Draws vertical marker lines (limits, version changes) on a uPlot chart. */
function markers(list) {
  return (u) => {
    const { ctx } = u;
    const { left, top, width, height } = u.bbox;
    const dpr = window.devicePixelRatio || 1;
    for (const m of list()) {
      const x = u.valToPos(m.at, 'x', true);
      if (!Number.isFinite(x) || x < left - 1 || x > left + width + 1) continue;
      ctx.save();
      ctx.strokeStyle = m.color;
      ctx.fillStyle = m.color;
      ctx.lineWidth = 2 * dpr;
      ctx.setLineDash([6 * dpr, 4 * dpr]);
      ctx.beginPath();
      ctx.moveTo(x, top);
      ctx.lineTo(x, top + height);
      ctx.stroke();
      ctx.font = `${13 * dpr}px system-ui`;
      ctx.fillText(m.label, x + 4 * dpr, top + 14 * dpr);
      ctx.restore();
    }
  };
}

const AXIS = { stroke: '#ccc', grid: { stroke: '#333' }, font: '13px system-ui' };

export class AnalyticsPanel {
  constructor(root) {
    this.root = root;
    this.version = select('analytics-version', 'sequence version');
    this.period = select('analytics-since', 'period', PERIODS);
    this.variant = select('analytics-variant', 'product variant');
    this.status = el('p', { className: 'muted analytics-status', attrs: { role: 'status' } });
    this.table = el('div', { className: 'analytics-table' });
    this.detail = el('div', { className: 'analytics-detail' });
    this.compareA = select('compare-a', 'version before');
    this.compareB = select('compare-b', 'version after');
    this.compareOut = el('div', { className: 'compare-out' });
    this.charts = [];
    this.list = null;
    for (const s of [this.version, this.period, this.variant]) s.addEventListener('change', () => this.loadMeasurements());
    root.replaceChildren(
      el(
        'p',
        { className: 'analytics-controls' },
        el('label', { htmlFor: 'analytics-version', text: 'Version' }),
        ' ',
        this.version,
        ' ',
        el('label', { htmlFor: 'analytics-since', text: 'runs started in' }),
        ' ',
        this.period,
        ' ',
        el('label', { htmlFor: 'analytics-variant', text: 'judged by' }),
        ' ',
        this.variant,
        ' ',
        el('button', { type: 'button', text: 'Refresh', on: { click: () => this.load() } }),
      ),
      el('p', {
        className: 'muted',
        text: 'Per measurement: n, mean, sample sigma, Cp and Cpk against its limits (one-sided with one limit; Cp needs both). Cpk ✓ at 1.33 and above, ◐ from 1.00, ✗ below. Pick a measurement for its histogram and its control chart across units.',
      }),
      this.status,
      this.table,
      this.detail,
      el('h3', { text: 'Before and after a change: two versions side by side' }),
      el(
        'form',
        {
          className: 'compare-form',
          on: {
            submit: (ev) => {
              ev.preventDefault();
              this.compare();
            },
          },
        },
        el('label', { htmlFor: 'compare-a', text: 'before' }),
        this.compareA,
        el('label', { htmlFor: 'compare-b', text: 'after' }),
        this.compareB,
        el('button', { type: 'submit', className: 'primary', text: 'Compare' }),
      ),
      this.compareOut,
    );
  }

  async load() {
    try {
      this.list = await listVersions();
      fillVersionSelect(this.version, this.list);
      const versions = this.list.versions;
      fillVersionSelect(this.compareB, this.list);
      // "before": by default the version before the one after, when there is one.
      const b = Number(this.compareB.value);
      const before = versions.find((v) => v.version < b);
      fillVersionSelect(this.compareA, this.list, before ? before.version : b);
    } catch (err) {
      setText(this.status, `Cannot list the sequence versions: ${err.message}`);
      return;
    }
    await this.loadMeasurements();
  }

  chosenVersion() {
    return (this.list && this.list.versions.find((v) => String(v.version) === this.version.value)) || null;
  }

  async loadMeasurements() {
    const v = this.chosenVersion();
    if (!v) return;
    try {
      fillVariantSelect(this.variant, await variantNames(v.hash));
      const params = periodParams(Number(this.period.value));
      params.set('version', String(v.version));
      if (this.variant.value !== ALL_RUNS) params.set('variant', this.variant.value);
      const { data } = await api(`/api/analytics/measurements?${params}`);
      this.data = data;
      this.root.dataset.version = String(data.version);
      setText(
        this.status,
        `Version ${data.version}: ${data.rowsRead} reading${data.rowsRead === 1 ? '' : 's'} of ${data.measurements.length} measurement${data.measurements.length === 1 ? '' : 's'}${
          data.from ? ` since ${dateTime(data.from)}` : ''
        }.${data.capped ? ` Only the newest ${data.maxRows} readings are counted: narrow the period for older ones.` : ''}`,
      );
      this.status.dataset.capped = String(data.capped);
      setChildren(this.table, data.measurements.length ? this.measurementTable(data.measurements) : el('p', { className: 'muted', text: 'No numeric readings for this version in this period.' }));
      const keep = this.picked && data.measurements.find((m) => m.step === this.picked.step && m.name === this.picked.name);
      if (keep) this.showMeasurement(keep);
      else this.clearDetail();
    } catch (err) {
      setText(this.status, `Cannot load the analytics: ${err.message}`);
    }
  }

  measurementTable(list) {
    return el(
      'table',
      { className: 'data analytics' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['step', 'measurement', 'limits', 'n', 'mean', 'sigma', 'min', 'max', 'Cp', 'Cpk', '✗ fail', 'histogram'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        list.map((m) => {
          const look = cpkLook(m.cpk, m.note);
          const u = m.unit ? ` ${m.unit}` : '';
          return el(
            'tr',
            { dataset: { step: m.step, measurement: m.name, cpk: m.cpk ?? '', n: m.n }, className: `cpk-${look.level}` },
            el('td', { text: m.step }),
            el(
              'td',
              {},
              el('button', { type: 'button', className: 'linklike', text: m.name, on: { click: () => this.showMeasurement(m) } }),
              m.variants.length > 1 || (m.variants[0] ?? '') !== '' ? el('span', { className: 'muted', text: ` · ${m.variants.map((x) => x || 'base').join(', ')}` }) : null,
            ),
            el('td', { className: 'mono limits', text: limitsText(m.low, m.high, m.unit) }),
            el('td', { className: 'n', text: m.n }),
            el('td', { className: 'mono mean', text: `${num(m.mean)}${u}` }),
            el('td', { className: 'mono sigma', text: num(m.sigma) }),
            el('td', { className: 'mono', text: num(m.min) }),
            el('td', { className: 'mono', text: num(m.max) }),
            el('td', { className: 'mono cp', text: num(m.cp) }),
            el('td', { className: `cpk cpk-${look.level}`, text: look.text }),
            el('td', { text: m.outcomes.fail }),
            el('td', {}, miniHistogram(m.histogram)),
          );
        }),
      ),
    );
  }

  clearDetail() {
    for (const c of this.charts) c.destroy();
    this.charts = [];
    this.picked = null;
    setChildren(this.detail);
  }

  async showMeasurement(m) {
    this.clearDetail();
    this.picked = m;
    const histBox = el('div', { className: 'chart-box', dataset: { chart: 'histogram', n: m.n, bins: m.histogram.counts.length } });
    const controlBox = el('div', { className: 'chart-box', dataset: { chart: 'control' } });
    const look = cpkLook(m.cpk, m.note);
    const farLimits = [
      m.low !== null && m.histogram.edges.length && m.low < m.histogram.edges[0] ? `low limit ${num(m.low)} is left of the chart` : null,
      m.high !== null && m.histogram.edges.length && m.high > m.histogram.edges.at(-1) ? `high limit ${num(m.high)} is right of the chart` : null,
    ].filter(Boolean);
    const controlNote = el('p', { className: 'muted control-note' });
    setChildren(
      this.detail,
      el('h3', { text: `${m.step} · ${m.name}${m.unit ? ` (${m.unit})` : ''}` }),
      el(
        'p',
        { className: 'detail-figures', dataset: { cpk: m.cpk ?? '' } },
        `n ${m.n} · mean ${num(m.mean)} · sigma ${num(m.sigma)} · Cp ${num(m.cp)} · Cpk `,
        el('span', { className: `cpk cpk-${look.level}`, text: look.text }),
        ` · limits ${limitsText(m.low, m.high, m.unit)}`,
      ),
      el(
        'div',
        { className: 'two-col charts' },
        el('div', {}, el('h4', { text: 'Histogram (this version)' }), histBox, farLimits.length ? el('p', { className: 'muted', text: farLimits.join('; ') }) : null),
        el('div', {}, el('h4', { text: 'Control chart across units (every version, run order)' }), controlBox, controlNote),
      ),
    );
    this.drawHistogram(histBox, m);
    try {
      const params = periodParams(Number(this.period.value));
      params.set('step', m.step);
      params.set('measurement', m.name);
      if (this.variant.value !== ALL_RUNS) params.set('variant', this.variant.value);
      const { data } = await api(`/api/analytics/control?${params}`);
      if (this.picked !== m) return;
      this.drawControl(controlBox, data);
      const versions = [...new Set(data.points.map((p) => p.version))];
      setText(
        controlNote,
        `${data.points.length} reading${data.points.length === 1 ? '' : 's'} in run order from version${versions.length === 1 ? '' : 's'} ${versions.map((v) => (v === null ? '?' : `v${v}`)).join(', ')}; the red lines are the limits each run was judged by, the dashed grey ones the mean ± 3 sigma of these readings.${
          data.capped ? ` Only the newest ${data.maxPoints} are shown.` : ''
        }`,
      );
    } catch (err) {
      setText(controlNote, `Cannot load the control chart: ${err.message}`);
    }
  }

  drawHistogram(box, m) {
    if (typeof uPlot !== 'function') {
      box.textContent = 'chart unavailable (uPlot did not load)';
      return;
    }
    const { edges, counts } = m.histogram;
    if (!counts.length) return;
    const xs = counts.map((_, i) => (edges[i] + edges[i + 1]) / 2);
    const width = edges[1] - edges[0];
    const lo = Math.min(edges[0], m.low !== null && m.low >= edges[0] - width * counts.length ? m.low : edges[0]) - width;
    const hi = Math.max(edges.at(-1), m.high !== null && m.high <= edges.at(-1) + width * counts.length ? m.high : edges.at(-1)) + width;
    const lines = [
      m.low !== null ? { at: m.low, label: 'LSL', color: '#ff8a80' } : null,
      m.high !== null ? { at: m.high, label: 'USL', color: '#ff8a80' } : null,
      m.mean !== null ? { at: m.mean, label: 'mean', color: '#90caf9' } : null,
    ].filter(Boolean);
    const plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth || 480),
        height: 240,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [lo, hi] }, y: { range: (_u, _min, max) => [0, Math.max(1, Math.ceil(max * 1.15))] } },
        axes: [
          { ...AXIS, space: 60 },
          { ...AXIS, size: 45 },
        ],
        series: [{}, { label: 'readings', stroke: '#64b5f6', fill: 'rgba(100,181,246,0.45)', paths: uPlot.paths.bars({ size: [0.95, Infinity], align: 0 }), points: { show: false } }],
        hooks: { draw: [markers(() => lines)] },
      },
      [xs, counts],
      box,
    );
    this.charts.push(plot);
  }

  drawControl(box, data) {
    const pts = data.points;
    box.dataset.points = String(pts.length);
    box.dataset.versions = [...new Set(pts.map((p) => p.version))].join(',');
    box.dataset.highs = [...new Set(pts.map((p) => p.high).filter((h) => h !== null))].join(',');
    box.dataset.lows = [...new Set(pts.map((p) => p.low).filter((h) => h !== null))].join(',');
    if (typeof uPlot !== 'function') {
      box.textContent = 'chart unavailable (uPlot did not load)';
      return;
    }
    if (!pts.length) {
      box.textContent = 'No readings.';
      return;
    }
    const xs = pts.map((_, i) => i + 1);
    const changes = [];
    pts.forEach((p, i) => {
      if (i > 0 && p.version !== pts[i - 1].version) changes.push({ at: i + 0.5, label: p.version === null ? '?' : `v${p.version}`, color: '#ffd54f' });
    });
    const mean = data.mean;
    const sigma = data.sigma;
    const band = (k) => xs.map(() => (typeof mean === 'number' && typeof sigma === 'number' ? mean + k * sigma : null));
    const stepped = uPlot.paths.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined;
    const plot = new uPlot(
      {
        width: Math.max(280, box.clientWidth || 480),
        height: 240,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: { x: { time: false } },
        axes: [
          { ...AXIS, space: 50 },
          { ...AXIS, size: 60 },
        ],
        series: [
          { label: 'run' },
          { label: 'reading', stroke: '#64b5f6', width: 1, points: { show: true, size: 5, fill: '#64b5f6' } },
          { label: 'low limit', stroke: '#ff8a80', width: 2, paths: stepped, points: { show: false } },
          { label: 'high limit', stroke: '#ff8a80', width: 2, paths: stepped, points: { show: false } },
          { label: 'mean + 3σ', stroke: '#9e9e9e', width: 1, dash: [4, 4], points: { show: false } },
          { label: 'mean − 3σ', stroke: '#9e9e9e', width: 1, dash: [4, 4], points: { show: false } },
        ],
        hooks: { draw: [markers(() => changes)] },
      },
      [xs, pts.map((p) => p.value), pts.map((p) => p.low), pts.map((p) => p.high), band(3), band(-3)],
      box,
    );
    this.charts.push(plot);
  }

  /** Two versions side by side: yield per step and Cpk per measurement, over the chosen period and variant. */
  async compare() {
    const a = Number(this.compareA.value);
    const b = Number(this.compareB.value);
    setChildren(this.compareOut, el('p', { className: 'muted', text: 'Loading…' }));
    try {
      const get = async (version) => {
        const params = periodParams(Number(this.period.value));
        params.set('version', String(version));
        if (this.variant.value !== ALL_RUNS) params.set('variant', this.variant.value);
        const y = params.has('from') ? new URLSearchParams({ version: String(version), since: params.get('from') }) : new URLSearchParams({ version: String(version) });
        if (params.has('variant')) y.set('variant', params.get('variant'));
        const [yieldAnswer, stats] = await Promise.all([api(`/api/yield/steps?${y}`), api(`/api/analytics/measurements?${params}`)]);
        return { yield: yieldAnswer.data, stats: stats.data };
      };
      const [before, after] = await Promise.all([get(a), get(b)]);
      this.compareOut.dataset.before = String(a);
      this.compareOut.dataset.after = String(b);
      setChildren(
        this.compareOut,
        el('div', { className: 'compare-grid' }, compareYield(a, b, before.yield.steps, after.yield.steps), compareCpk(a, b, before.stats.measurements, after.stats.measurements)),
      );
    } catch (err) {
      setChildren(this.compareOut, el('p', { className: 'error', text: `Cannot compare: ${err.message}` }));
    }
  }
}

/** Rows of two lists joined by a key, in the first list's order, then the second's new ones. */
function joinBy(keyOf, left, right) {
  const keys = [];
  const l = new Map();
  const r = new Map();
  for (const x of left) {
    const k = keyOf(x);
    if (!l.has(k)) keys.push(k);
    if (!l.has(k) || x.n > l.get(k).n) l.set(k, x);
  }
  for (const x of right) {
    const k = keyOf(x);
    if (!l.has(k) && !r.has(k)) keys.push(k);
    if (!r.has(k) || x.n > r.get(k).n) r.set(k, x);
  }
  return keys.map((k) => [k, l.get(k) ?? null, r.get(k) ?? null]);
}

function delta(before, after, fmt) {
  if (typeof before !== 'number' || typeof after !== 'number') return '–';
  const d = after - before;
  return `${d > 0 ? '▲ +' : d < 0 ? '▼ ' : '= '}${fmt(d)}`;
}

function compareYield(a, b, before, after) {
  return el(
    'section',
    { className: 'compare-yield' },
    el('h4', { text: `Yield per step: v${a} | v${b}` }),
    el(
      'table',
      { className: 'data compare' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['step', `v${a} runs`, `v${a} yield`, `v${b} runs`, `v${b} yield`, 'change'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        joinBy((s) => s.name, before, after).map(([name, x, y]) => {
          const yx = x ? stepYield(x) : null;
          const yy = y ? stepYield(y) : null;
          return el(
            'tr',
            { dataset: { step: name } },
            el('td', { text: name }),
            el('td', { className: 'before runs', text: x ? x.runs : '–' }),
            el('td', { className: 'before yield', text: percent(yx) }),
            el('td', { className: 'after runs', text: y ? y.runs : '–' }),
            el('td', { className: 'after yield', text: percent(yy) }),
            el('td', { text: delta(yx, yy, (d) => `${(d * 100).toFixed(1)} pts`) }),
          );
        }),
      ),
    ),
  );
}

function compareCpk(a, b, before, after) {
  return el(
    'section',
    { className: 'compare-cpk' },
    el('h4', { text: `Cpk per measurement: v${a} | v${b}` }),
    el(
      'table',
      { className: 'data compare' },
      el(
        'thead',
        {},
        el(
          'tr',
          {},
          ['measurement', `v${a} limits`, `v${a} n`, `v${a} Cpk`, `v${b} limits`, `v${b} n`, `v${b} Cpk`, 'change'].map((h) => el('th', { text: h })),
        ),
      ),
      el(
        'tbody',
        {},
        joinBy((m) => `${m.step} · ${m.name}`, before, after).map(([key, x, y]) => {
          const lx = x ? cpkLook(x.cpk, x.note) : null;
          const ly = y ? cpkLook(y.cpk, y.note) : null;
          return el(
            'tr',
            { dataset: { measurement: key } },
            el('td', { text: key }),
            el('td', { className: 'mono before limits', text: x ? limitsText(x.low, x.high, x.unit) : '–' }),
            el('td', { className: 'before n', text: x ? x.n : '–' }),
            el('td', { className: `before cpk cpk-${lx ? lx.level : 'none'}`, dataset: { cpk: x?.cpk ?? '' }, text: lx ? lx.text : '–' }),
            el('td', { className: 'mono after limits', text: y ? limitsText(y.low, y.high, y.unit) : '–' }),
            el('td', { className: 'after n', text: y ? y.n : '–' }),
            el('td', { className: `after cpk cpk-${ly ? ly.level : 'none'}`, dataset: { cpk: y?.cpk ?? '' }, text: ly ? ly.text : '–' }),
            el('td', { text: delta(x?.cpk, y?.cpk, (d) => d.toFixed(2)) }),
          );
        }),
      ),
    ),
  );
}
