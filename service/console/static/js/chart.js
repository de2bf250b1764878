// Small SVG charts: a line chart that takes points as they arrive (loss, accuracy, learning rate),
// a bar chart (a few labelled values) and a histogram (tokens per example). Drawn at the element's
// real pixel width, redrawn on resize, so text stays readable from a phone to a desktop.

import { h, uid } from "./dom.js";
import { integer, metric } from "./format.js";

const SVG_NS = "http://www.w3.org/2000/svg";
const HEIGHT = 220;
const MARGIN = { top: 12, right: 14, bottom: 30, left: 56 };
const MAX_MARKERS = 150; // beyond this many points a marker per point is only clutter
const MIN_LABELLED_BUCKET_PX = 18; // narrower histogram buckets get their count as a tooltip only

function svg(tag, attrs = {}, text) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/** About ``count`` round tick values covering [min, max]. */
export function niceTicks(min, max, count = 5) {
  if (min === max) {
    const pad = Math.abs(min) * 0.1 || 1;
    min -= pad;
    max += pad;
  }
  const rough = (max - min) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const normalized = rough / magnitude;
  const step = (normalized < 1.5 ? 1 : normalized < 3 ? 2 : normalized < 7 ? 5 : 10) * magnitude;
  const low = Math.floor(min / step) * step;
  const high = Math.ceil(max / step) * step;
  const ticks = [];
  for (let value = low; value <= high + step / 2; value += step) ticks.push(Number(value.toPrecision(12)));
  return ticks;
}

/** An <svg> in a <figure> that redraws itself at its rendered width. */
class ResponsiveChart {
  constructor(title, description) {
    this.title = title;
    this.svg = svg("svg", { role: "img", "aria-labelledby": uid("chart") });
    this.label = h("span", { id: this.svg.getAttribute("aria-labelledby"), class: "visually-hidden" }, description);
    this.element = h("figure", { class: "chart" }, h("figcaption", {}, title), this.label);
    this.element.append(this.svg);
    this.frame = null;
    this.observer = new ResizeObserver(() => this.schedule());
    this.observer.observe(this.svg);
  }

  schedule() {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.render();
    });
  }

  render() {
    const width = Math.max(200, this.svg.clientWidth || 600);
    this.svg.setAttribute("viewBox", `0 0 ${width} ${HEIGHT}`);
    this.svg.replaceChildren();
    this.draw(width);
  }

  dispose() {
    this.observer.disconnect();
    if (this.frame !== null) cancelAnimationFrame(this.frame);
  }

  axes(width, xTicks, yTicks, x, y, formatX, formatY) {
    const grid = svg("g", { class: "grid" });
    const axis = svg("g", { class: "axis" });
    for (const tick of yTicks) {
      grid.append(svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: y(tick), y2: y(tick) }));
      axis.append(svg("text", { x: MARGIN.left - 6, y: y(tick) + 4, "text-anchor": "end" }, formatY(tick)));
    }
    for (const tick of xTicks) {
      axis.append(svg("text", { x: x(tick), y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" }, formatX(tick)));
    }
    axis.append(svg("line", { x1: MARGIN.left, x2: width - MARGIN.right, y1: HEIGHT - MARGIN.bottom, y2: HEIGHT - MARGIN.bottom }));
    axis.append(svg("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }));
    this.svg.append(grid, axis);
  }

  emptyText(width, text) {
    this.svg.append(svg("text", { x: width / 2, y: HEIGHT / 2, "text-anchor": "middle", class: "empty-text" }, text));
  }
}

/** Lines over steps; ``add(key, step, value)`` appends a point and redraws on the next frame. */
export class LineChart extends ResponsiveChart {
  constructor({ title, series, xLabel = "step", format = metric }) {
    super(title, `${title}: no points yet.`);
    this.xLabel = xLabel;
    this.format = format;
    this.series = [];
    this.legendValues = new Map();
    this.legend = h("ul", { class: "legend" });
    this.element.append(this.legend);
    for (const { key, label } of series) this.ensureSeries(key, label);
    this.element.dataset.points = "0";
    this.emptyMessage = "Waiting for metrics…";
    this.schedule();
  }

  /** A line for ``key`` unless the chart has one: for series named by the data (a job's graders). */
  ensureSeries(key, label) {
    if (this.series.some((line) => line.key === key)) return;
    // Six colours (console.css); a seventh line reuses the first's.
    const line = { key, label, points: [], className: `series-${(this.series.length % 6) + 1}` };
    this.series.push(line);
    const value = h("span", { class: "legend-value" }, "—");
    this.legendValues.set(key, value);
    this.legend.append(h("li", { class: line.className }, h("span", { class: "swatch", "aria-hidden": "true" }), `${label}: `, value));
    this.schedule();
  }

  add(key, step, value) {
    const line = this.series.find((candidate) => candidate.key === key);
    if (!line || !Number.isFinite(value)) return;
    line.points.push([step, value]);
    this.schedule();
  }

  get pointCount() {
    return this.series.reduce((sum, line) => sum + line.points.length, 0);
  }

  describe() {
    const parts = this.series
      .filter((line) => line.points.length > 0)
      .map((line) => {
        const [step, value] = line.points[line.points.length - 1];
        return `${line.label} ${this.format(value)} at ${this.xLabel} ${step} (${line.points.length} points)`;
      });
    return `${this.title}: ${parts.length ? parts.join("; ") : "no points yet"}.`;
  }

  draw(width) {
    const all = this.series.flatMap((line) => line.points);
    this.element.dataset.points = String(all.length);
    this.label.textContent = this.describe();
    for (const line of this.series) {
      const last = line.points[line.points.length - 1];
      this.legendValues.get(line.key).textContent = last ? this.format(last[1]) : "—";
    }
    if (all.length === 0) {
      this.emptyText(width, this.emptyMessage);
      return;
    }
    const xs = all.map(([step]) => step);
    const ys = all.map(([, value]) => value);
    const xTicks = niceTicks(Math.min(...xs), Math.max(...xs), Math.max(2, Math.floor(width / 90)));
    const yTicks = niceTicks(Math.min(...ys), Math.max(...ys), 4);
    const [x0, x1] = [xTicks[0], xTicks[xTicks.length - 1]];
    const [y0, y1] = [yTicks[0], yTicks[yTicks.length - 1]];
    const x = (value) => MARGIN.left + ((value - x0) / (x1 - x0)) * (width - MARGIN.left - MARGIN.right);
    const y = (value) => HEIGHT - MARGIN.bottom - ((value - y0) / (y1 - y0)) * (HEIGHT - MARGIN.top - MARGIN.bottom);
    const integerSteps = xTicks.every(Number.isInteger);
    this.axes(width, integerSteps ? xTicks : xTicks.filter(Number.isInteger), yTicks, x, y, String, this.format);
    for (const line of this.series) {
      if (line.points.length === 0) continue;
      const group = svg("g", { class: `series ${line.className}`, "data-series": line.key, "data-points": line.points.length });
      if (line.points.length > 1) {
        const coordinates = line.points.map(([step, value]) => `${x(step).toFixed(1)},${y(value).toFixed(1)}`).join(" ");
        group.append(svg("polyline", { class: `series ${line.className}`, points: coordinates }));
      }
      if (line.points.length <= MAX_MARKERS) {
        for (const [step, value] of line.points) group.append(svg("circle", { cx: x(step), cy: y(value), r: 2.5 }));
      }
      this.svg.append(group);
    }
  }
}

/** Vertical bars with labels, and an optional dashed limit line (e.g. the max sequence length). */
export class BarChart extends ResponsiveChart {
  constructor({ title, bars, limit = null, format = String }) {
    const summary = bars.map(([label, value]) => `${label} ${format(value)}`).join(", ");
    super(title, `${title}: ${summary}${limit ? `; ${limit.label} ${format(limit.value)}` : ""}.`);
    this.bars = bars;
    this.limit = limit;
    this.format = format;
    this.element.classList.add("bars");
    this.schedule();
  }

  draw(width) {
    const values = this.bars.map(([, value]) => value).concat(this.limit ? [this.limit.value] : []);
    const yTicks = niceTicks(0, Math.max(1, ...values), 4);
    const top = yTicks[yTicks.length - 1];
    const y = (value) => HEIGHT - MARGIN.bottom - (value / top) * (HEIGHT - MARGIN.top - MARGIN.bottom);
    const slot = (width - MARGIN.left - MARGIN.right) / this.bars.length;
    this.axes(width, [], yTicks, () => 0, y, String, this.format);
    const group = svg("g");
    this.bars.forEach(([label, value], index) => {
      const left = MARGIN.left + index * slot + slot * 0.2;
      group.append(svg("rect", { x: left, y: y(value), width: slot * 0.6, height: Math.max(1, y(0) - y(value)) }));
      group.append(svg("text", { x: left + slot * 0.3, y: y(value) - 4, "text-anchor": "middle" }, this.format(value)));
      group.append(svg("text", { x: left + slot * 0.3, y: HEIGHT - MARGIN.bottom + 16, "text-anchor": "middle" }, label));
    });
    if (this.limit) {
      const level = y(this.limit.value);
      group.append(svg("line", { class: "limit", x1: MARGIN.left, x2: width - MARGIN.right, y1: level, y2: level }));
      group.append(svg("text", { x: width - MARGIN.right, y: level - 4, "text-anchor": "end" }, `${this.limit.label} ${this.format(this.limit.value)}`));
    }
    this.svg.append(group);
  }
}

/** Counts over contiguous buckets: ``counts[i]`` falls in [edges[i], edges[i + 1]). An optional
 * dashed vertical limit line (e.g. the max sequence length) is drawn on the x axis. */
export class HistogramChart extends ResponsiveChart {
  constructor({ title, edges, counts, unit, countUnit, limit = null }) {
    super(title, HistogramChart.summary(title, edges, counts, unit, countUnit, limit));
    this.edges = edges;
    this.counts = counts;
    this.unit = unit;
    this.countUnit = countUnit;
    this.limit = limit;
    this.element.classList.add("bars");
    this.element.dataset.buckets = String(counts.length);
    this.schedule();
  }

  static range(edges, index) {
    return `${integer(edges[index])}–${integer(edges[index + 1])}`;
  }

  /** The text a screen reader gets: the total, the bucket width and the fullest bucket. */
  static summary(title, edges, counts, unit, countUnit, limit) {
    const total = counts.reduce((sum, count) => sum + count, 0);
    if (total === 0) return `${title}: no ${countUnit}.`;
    const fullest = counts.indexOf(Math.max(...counts));
    const width = edges[1] - edges[0];
    const limitText = limit ? `; ${limit.label} ${integer(limit.value)}` : "";
    return `${title}: ${integer(total)} ${countUnit} in ${counts.length} buckets of ` +
      `${integer(width)} ${unit}; the most, ${integer(counts[fullest])}, have ` +
      `${HistogramChart.range(edges, fullest)} ${unit}${limitText}.`;
  }

  draw(width) {
    const last = this.edges[this.edges.length - 1];
    const yTicks = niceTicks(0, Math.max(1, ...this.counts), 4).filter(Number.isInteger);
    const top = yTicks[yTicks.length - 1];
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const x = (value) => MARGIN.left + (Math.min(value, last) / last) * plotWidth;
    const y = (value) => HEIGHT - MARGIN.bottom - (value / top) * (HEIGHT - MARGIN.top - MARGIN.bottom);
    const xTicks = niceTicks(0, last, Math.max(2, Math.floor(width / 90))).filter((tick) => tick <= last);
    this.axes(width, xTicks, yTicks, x, y, integer, integer);
    const group = svg("g");
    this.counts.forEach((count, index) => {
      const left = x(this.edges[index]);
      const slot = x(this.edges[index + 1]) - left;
      const bar = svg("rect", {
        x: left + 0.5, y: y(count), width: Math.max(1, slot - 1), height: Math.max(0, y(0) - y(count)),
        "data-count": count,
      });
      bar.append(svg("title", {}, `${HistogramChart.range(this.edges, index)} ${this.unit}: ${integer(count)} ${this.countUnit}`));
      group.append(bar);
      if (count > 0 && slot >= MIN_LABELLED_BUCKET_PX) {
        group.append(svg("text", { x: left + slot / 2, y: y(count) - 4, "text-anchor": "middle" }, integer(count)));
      }
    });
    if (this.limit) {
      const at = x(this.limit.value);
      group.append(svg("line", { class: "limit", x1: at, x2: at, y1: MARGIN.top, y2: HEIGHT - MARGIN.bottom }));
      group.append(svg("text", { x: at - 4, y: MARGIN.top + 8, "text-anchor": "end" }, `${this.limit.label} ${integer(this.limit.value)}`));
    }
    this.svg.append(group);
  }
}
