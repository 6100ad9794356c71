/**
 * Small inline-SVG charts for the evaluation report: no scripts, no external fonts, readable when printed.
 */

/** Escapes text for HTML and SVG content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** One plotted series in the unit square. */
export interface Series {
  name: string;
  color: string;
  x: readonly number[];
  y: readonly number[];
  /** Draw a dot at each point (with the point's `sizes` scaling its radius, if given). */
  dots?: boolean;
  sizes?: readonly number[];
}

export interface UnitPlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  /** Draw the y = x reference line (chance for ROC, perfect calibration for reliability). */
  diagonal: string;
}

const SIZE = 360;
const MARGIN = { left: 52, right: 16, top: 34, bottom: 46 };
const PLOT = SIZE - MARGIN.left - MARGIN.right;
const PLOT_H = SIZE - MARGIN.top - MARGIN.bottom;

const px = (x: number) => (MARGIN.left + x * PLOT).toFixed(1);
const py = (y: number) => (MARGIN.top + (1 - y) * PLOT_H).toFixed(1);

/** A square chart of series on [0, 1] × [0, 1] (ROC curves, reliability diagrams). */
export function unitPlot(options: UnitPlotOptions): string {
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const grid = ticks
    .map(
      (t) =>
        `<line x1="${px(t)}" y1="${py(0)}" x2="${px(t)}" y2="${py(1)}" class="grid"/>` +
        `<line x1="${px(0)}" y1="${py(t)}" x2="${px(1)}" y2="${py(t)}" class="grid"/>` +
        `<text x="${px(t)}" y="${(+py(0) + 16).toFixed(1)}" text-anchor="middle" class="tick">${t}</text>` +
        `<text x="${(+px(0) - 6).toFixed(1)}" y="${(+py(t) + 4).toFixed(1)}" text-anchor="end" class="tick">${t}</text>`,
    )
    .join('');
  const diagonal =
    `<line x1="${px(0)}" y1="${py(0)}" x2="${px(1)}" y2="${py(1)}" class="diagonal"/>` +
    `<title>${escapeHtml(options.diagonal)}</title>`;
  const series = options.series
    .map((s) => {
      const points = s.x.map((x, i) => `${px(x)},${py(s.y[i])}`).join(' ');
      const maxSize = s.sizes ? Math.max(1, ...s.sizes) : 1;
      const dots = s.dots
        ? s.x
            .map((x, i) => {
              const r = s.sizes ? 2.5 + 4 * Math.sqrt(s.sizes[i] / maxSize) : 3;
              return `<circle cx="${px(x)}" cy="${py(s.y[i])}" r="${r.toFixed(1)}" fill="${s.color}"/>`;
            })
            .join('')
        : '';
      return `<g><title>${escapeHtml(s.name)}</title><polyline points="${points}" fill="none" stroke="${s.color}" stroke-width="2"/>${dots}</g>`;
    })
    .join('');
  // The legend goes under the chart, where it can cover no curve.
  const legend = options.series
    .map((s, i) => {
      const y = SIZE + 10 + i * 16;
      return (
        `<rect x="${MARGIN.left}" y="${y - 5}" width="14" height="3" fill="${s.color}"/>` +
        `<text x="${MARGIN.left + 20}" y="${y}" class="legend">${escapeHtml(s.name)}</text>`
      );
    })
    .join('');
  const height = SIZE + 6 + options.series.length * 16;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${SIZE} ${height}" width="${SIZE}" height="${height}" ` +
    `role="img" aria-label="${escapeHtml(options.title)}">` +
    `<text x="${SIZE / 2}" y="20" text-anchor="middle" class="title">${escapeHtml(options.title)}</text>` +
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${PLOT}" height="${PLOT_H}" class="frame"/>` +
    grid +
    diagonal +
    series +
    legend +
    `<text x="${px(0.5)}" y="${SIZE - 8}" text-anchor="middle" class="axis">${escapeHtml(options.xLabel)}</text>` +
    `<text transform="translate(14 ${py(0.5)}) rotate(-90)" text-anchor="middle" class="axis">${escapeHtml(options.yLabel)}</text>` +
    `</svg>`
  );
}

export interface Bar {
  label: string;
  value: number;
  /** Printed after the bar. */
  text: string;
}

/** Horizontal bars, longest first as given, scaled to the largest value. */
export function barChart(title: string, bars: readonly Bar[]): string {
  const width = 560;
  const labelWidth = 160;
  const row = 22;
  const top = 30;
  const height = top + bars.length * row + 10;
  const max = Math.max(...bars.map((b) => b.value), 0) || 1;
  const barSpace = width - labelWidth - 80;
  const rows = bars
    .map((b, i) => {
      const y = top + i * row;
      const w = Math.max(1, (b.value / max) * barSpace);
      return (
        `<g><title>${escapeHtml(`${b.label}: ${b.text}`)}</title>` +
        `<text x="${labelWidth - 8}" y="${y + 15}" text-anchor="end" class="label">${escapeHtml(truncate(b.label, 24))}</text>` +
        `<rect x="${labelWidth}" y="${y + 4}" width="${w.toFixed(1)}" height="${row - 8}" class="bar"/>` +
        `<text x="${(labelWidth + w + 6).toFixed(1)}" y="${y + 15}" class="value">${escapeHtml(b.text)}</text></g>`
      );
    })
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" ` +
    `role="img" aria-label="${escapeHtml(title)}">` +
    `<text x="${width / 2}" y="18" text-anchor="middle" class="title">${escapeHtml(title)}</text>` +
    rows +
    `</svg>`
  );
}

const truncate = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
