// @ts-check
/**
 * Trend charts drawn as SVG: one or two series of values over time, with axes, a legend, and a
 * text alternative (a summary read as the image's description, and the values as a table).
 * The second series is dashed with square points, so the two differ by more than colour.
 */

import { h, svg } from './dom.js';
import { t, number, shortDate, dateTime } from './i18n.js';

/**
 * @typedef {{at: Date, value: number, pending?: boolean}} Point
 * @typedef {{label: string, points: Point[]}} Series
 */

const WIDTH = 320;
const HEIGHT = 180;
const MARGIN = { top: 12, right: 12, bottom: 28, left: 40 };

/**
 * @param {number} low
 * @param {number} high
 * @returns {number[]} about four round ticks covering the range
 */
function ticks(low, high) {
  if (low === high) {
    low -= 1;
    high += 1;
  }
  const rough = (high - low) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 5, 10].map((factor) => factor * magnitude).find((candidate) => candidate >= rough) ?? rough;
  const out = [];
  for (let value = Math.floor(low / step) * step; value <= high + step / 2; value += step) {
    out.push(Math.round(value * 1e6) / 1e6);
  }
  return out;
}

/**
 * A figure with the chart, its caption and its data.
 * @param {{title: string, unit: string, series: Series[], id: string}} chart
 * @returns {HTMLElement}
 */
export function trendChart({ title, unit, series, id }) {
  const all = series.flatMap((line) => line.points);
  const caption = h('figcaption', { id: `${id}-title` }, title, unit ? ` (${unit})` : '');
  if (all.length === 0) {
    return h('figure', { class: 'chart' }, caption, h('p', { class: 'muted' }, t('chart.empty')));
  }
  const times = all.map((point) => point.at.getTime());
  const values = all.map((point) => point.value);
  const first = Math.min(...times);
  const last = Math.max(...times);
  const yTicks = ticks(Math.min(...values), Math.max(...values));
  const low = yTicks[0];
  const high = yTicks[yTicks.length - 1];
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const x = (/** @type {number} */ time) =>
    MARGIN.left + (last === first ? plotWidth / 2 : ((time - first) / (last - first)) * plotWidth);
  const y = (/** @type {number} */ value) =>
    MARGIN.top + plotHeight - ((value - low) / (high - low || 1)) * plotHeight;

  const grid = yTicks.map((tick) => svg('g', { class: 'tick' },
    svg('line', { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(tick), y2: y(tick) }),
    svg('text', { x: MARGIN.left - 6, y: y(tick) + 4, 'text-anchor': 'end' }, number(tick))));
  const days = [first, (first + last) / 2, last].filter((time, index, list) => list.indexOf(time) === index);
  const xLabels = days.map((time, index) => svg('text', {
    class: 'axis-label', x: x(time), y: HEIGHT - 8,
    'text-anchor': days.length === 1 ? 'middle' : index === 0 ? 'start' : index === days.length - 1 ? 'end' : 'middle',
  }, shortDate(new Date(time))));
  const lines = series.map((line, index) => {
    const sorted = [...line.points].sort((a, b) => a.at.getTime() - b.at.getTime());
    const path = sorted.map((point) => `${x(point.at.getTime()).toFixed(1)},${y(point.value).toFixed(1)}`).join(' ');
    const marks = sorted.map((point) => {
      const cx = x(point.at.getTime());
      const cy = y(point.value);
      const pending = point.pending ? ' pending' : '';
      return index === 0
        ? svg('circle', { class: `point${pending}`, cx, cy, r: 3 })
        : svg('rect', { class: `point${pending}`, x: cx - 3, y: cy - 3, width: 6, height: 6 });
    });
    return svg('g', { class: `series series-${index}` }, svg('polyline', { points: path }), marks);
  });
  const summaryId = `${id}-summary`;
  const image = svg('svg', {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-labelledby': `${id}-title`,
    'aria-describedby': summaryId, preserveAspectRatio: 'xMidYMid meet', focusable: 'false',
  }, grid, xLabels, lines);
  const legend = series.length > 1
    ? h('ul', { class: 'legend' }, series.map((line, index) => h('li', { class: `series-${index}` },
      h('span', { class: 'swatch', 'aria-hidden': 'true' }), line.label)))
    : null;
  return h('figure', { class: 'chart' }, caption, image, legend,
    h('p', { id: summaryId, class: 'chart-summary' }, series.map((line) => summarise(line, unit)).join(' ')),
    dataTable(series, unit));
}

/**
 * @param {Series} line
 * @param {string} unit
 */
function summarise(line, unit) {
  if (line.points.length === 0) return '';
  const sorted = [...line.points].sort((a, b) => a.at.getTime() - b.at.getTime());
  const values = sorted.map((point) => point.value);
  return t('chart.summary', {
    label: line.label,
    count: values.length,
    from: shortDate(sorted[0].at),
    to: shortDate(sorted[sorted.length - 1].at),
    min: number(Math.min(...values)),
    max: number(Math.max(...values)),
    latest: unit ? `${number(values[values.length - 1])} ${unit}` : number(values[values.length - 1]),
  });
}

/**
 * @param {Series[]} series
 * @param {string} unit
 */
function dataTable(series, unit) {
  const rows = series.flatMap((line) => line.points.map((point) => ({ line: line.label, point })))
    .sort((a, b) => b.point.at.getTime() - a.point.at.getTime());
  return h('details', { class: 'chart-data' },
    h('summary', {}, t('chart.show_table')),
    h('div', { class: 'table-scroll', tabindex: '0', role: 'region', 'aria-label': t('chart.table') },
      h('table', {},
        h('thead', {}, h('tr', {},
          h('th', { scope: 'col' }, t('chart.when')),
          h('th', { scope: 'col' }, t('chart.measure')),
          h('th', { scope: 'col' }, t('chart.value')))),
        h('tbody', {}, rows.map(({ line, point }) => h('tr', {},
          h('td', {}, dateTime(point.at)),
          h('td', {}, line),
          h('td', {}, `${number(point.value)} ${unit}`, point.pending ? ` (${t('queue.pending')})` : '')))))));
}
