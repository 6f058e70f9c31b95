// Units over the shift, in 10-minute buckets (uPlot, served by the daemon at /vendor/uplot/):
// units tested and units passed per bucket, beside the units-per-hour counter. Buckets with no
// units are drawn as zero, from the shift start to now; the current bucket is still filling.
/* global uPlot, ResizeObserver */
import { hourMinute, t } from './i18n.js';

const BUCKET_MS = 10 * 60 * 1000;

export class ShiftChart {
  constructor(container) {
    this.container = container;
    this.plot = null;
    this.buckets = new Map();
    this.shiftStartMs = null;
    this.available = typeof uPlot === 'function';
    if (!this.available) container.textContent = t('chart.unavailable');
  }

  /** Replaces every bucket (a snapshot). */
  reset(buckets, shiftStartedAt) {
    this.buckets.clear();
    for (const b of buckets || []) this.buckets.set(b.t, b);
    this.setShift(shiftStartedAt);
    this.draw();
  }

  /** One bucket changed (a delta). */
  update(bucket) {
    this.buckets.set(bucket.t, bucket);
    this.draw();
  }

  /** A new shift: buckets from before it are dropped. */
  setShift(shiftStartedAt) {
    const ms = shiftStartedAt === null || shiftStartedAt === undefined ? null : typeof shiftStartedAt === 'number' ? shiftStartedAt : Date.parse(shiftStartedAt);
    if (ms === this.shiftStartMs || Number.isNaN(ms)) return;
    this.shiftStartMs = ms;
    if (ms !== null) for (const t of [...this.buckets.keys()]) if (t < ms - BUCKET_MS) this.buckets.delete(t);
    this.draw();
  }

  series() {
    const known = [...this.buckets.keys()].sort((a, b) => a - b);
    const first = this.shiftStartMs !== null ? Math.floor(this.shiftStartMs / BUCKET_MS) * BUCKET_MS : known[0];
    const last = Math.max(Math.floor(Date.now() / BUCKET_MS) * BUCKET_MS, known.length ? known[known.length - 1] : 0);
    const xs = [];
    const units = [];
    const passed = [];
    if (first === undefined) return [xs, units, passed];
    for (let t = first; t <= last && xs.length < 200; t += BUCKET_MS) {
      const b = this.buckets.get(t);
      xs.push(t / 1000);
      units.push(b ? b.units : 0);
      passed.push(b ? b.passed : 0);
    }
    return [xs, units, passed];
  }

  draw() {
    if (!this.available) return;
    const data = this.series();
    this.container.dataset.buckets = String(this.buckets.size);
    if (!this.plot) {
      if (!data[0].length) return;
      const { width, height } = this.size();
      const bars = uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.7, 60] }) : undefined;
      this.plot = new uPlot(
        {
          width,
          height,
          legend: { show: true, live: false },
          cursor: { show: false },
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.15))] } },
          axes: [
            // The locale's HH:MM (24-hour) under each tick, spaced so the labels never overlap.
            { stroke: '#ccc', grid: { stroke: '#333' }, font: '14px system-ui', space: 70, values: (_u, ticks) => ticks.map((tick) => hourMinute(tick * 1000)) },
            { stroke: '#ccc', grid: { stroke: '#333' }, font: '14px system-ui', size: 50 },
          ],
          series: [
            {},
            { label: t('chart.tested'), stroke: '#64b5f6', fill: 'rgba(100,181,246,0.35)', width: 2, paths: bars },
            { label: t('chart.passed'), stroke: '#81c784', width: 3, points: { show: true, size: 6 } },
          ],
        },
        data,
        this.container,
      );
      if (typeof ResizeObserver === 'function' && !this.observed) {
        this.observed = true;
        new ResizeObserver(() => {
          const next = this.size();
          if (next.width > 0 && this.plot && (next.width !== this.plot.width || next.height !== this.plot.height)) this.plot.setSize(next);
        }).observe(this.container);
      }
      return;
    }
    this.plot.setData(data);
  }

  /** Draws the chart again in the screen's language (its legend and axis). */
  relabel() {
    if (!this.available) {
      this.container.textContent = t('chart.unavailable');
      return;
    }
    if (!this.plot) return;
    this.plot.destroy();
    this.plot = null;
    this.draw();
  }

  /** The plot's size: the container's width, and its height less the legend's (the panel gives the chart what the side column has left). */
  size() {
    const legend = this.container.querySelector('.u-legend');
    const legendHeight = legend ? legend.offsetHeight : 28;
    return { width: Math.max(200, this.container.clientWidth || 400), height: Math.max(90, Math.min(320, (this.container.clientHeight || 180) - legendHeight)) };
  }
}
