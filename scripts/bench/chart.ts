/**
 * Renders the benchmark summary as a small SVG bar chart: one panel per workload, each
 * library's median ratio to the raw API of the same runtime (raw = 1.0). A workload with no raw
 * baseline (e.g. "redis", coro-ws only) shows its medians instead, on their own scale.
 */

import type { Summary, Workload } from "./run.ts";

const PANEL_WIDTH = 250;
const PANEL_HEIGHT = 190;
const PLOT_TOP = 40;
const PLOT_HEIGHT = 110;
const MAX_RATIO = 1.5;
const COLORS: Record<string, string> = { "coro-ws": "#2f6fdf", crossws: "#b0b0b0" };
const RUNTIMES = ["bun", "deno", "node"] as const;

/** The chart as SVG text. */
export function renderChart(summaries: Summary[], workloads: Workload[]): string {
  const shown = workloads.filter((w) => summaries.some((s) => s.workload === w.name));
  const width = Math.max(1, shown.length) * PANEL_WIDTH + 20;
  const parts: string[] = [];
  shown.forEach((workload, index) =>
    parts.push(panel(summaries, workload, 10 + index * PANEL_WIDTH))
  );
  const legend = Object.entries(COLORS).map(([library, color], i) =>
    `<rect x="${12 + i * 90}" y="${PANEL_HEIGHT + 8}" width="10" height="10" fill="${color}"/>` +
    `<text x="${26 + i * 90}" y="${PANEL_HEIGHT + 17}">${library}</text>`
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${PANEL_HEIGHT + 30}" ` +
    `font-family="sans-serif" font-size="10">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join("")}${legend}` +
    `<text x="${width - 10}" y="${PANEL_HEIGHT + 17}" text-anchor="end">` +
    `ratio to the runtime's raw API (raw = 1.0; memory: lower is better)${
      shown.some((workload) => absolute(summaries, workload)) ? "; no raw baseline: medians" : ""
    }</text></svg>\n`;
}

function panel(summaries: Summary[], workload: Workload, left: number): string {
  const rows = summaries.filter((s) => s.workload === workload.name);
  const medians = absolute(summaries, workload);
  const top = medians ? Math.max(...rows.map((row) => row.value)) * 1.2 || 1 : MAX_RATIO;
  const y = (bar: number) => PLOT_TOP + PLOT_HEIGHT * (1 - Math.min(bar, top) / top);
  const plotWidth = PANEL_WIDTH - 30;
  const out = [
    `<text x="${left + PANEL_WIDTH / 2 - 10}" y="14" text-anchor="middle" font-weight="bold">` +
    `${escape(workload.name)}</text>`,
    `<text x="${left + PANEL_WIDTH / 2 - 10}" y="27" text-anchor="middle">${
      escape(medians ? `${workload.unit} (no raw baseline)` : workload.unit)
    }</text>`,
    `<line x1="${left}" x2="${left + plotWidth}" y1="${y(medians ? 0 : 1)}" ` +
    `y2="${y(medians ? 0 : 1)}" stroke="black"/>`,
  ];
  if (!medians && workload.mode !== "idle") {
    // The targets: 0.9 of raw for handshakes, 0.95 for messages.
    const target = workload.mode === "handshake" ? 0.9 : 0.95;
    out.push(
      `<line x1="${left}" x2="${left + plotWidth}" y1="${y(target)}" y2="${y(target)}" ` +
        `stroke="#d33" stroke-dasharray="3 3"/>`,
    );
  }
  RUNTIMES.forEach((runtime, group) => {
    const groupLeft = left + group * (plotWidth / 3);
    Object.keys(COLORS).forEach((library, bar) => {
      // Mounted servers' ratios are to coro-ws listening: not on a chart of ratios to raw.
      const row = rows.find((s) =>
        s.runtime === runtime && s.library === library && s.baseline === `raw/${runtime}`
      );
      const height = medians ? row?.value : row?.ratio;
      if (height === null || height === undefined) return;
      const x = groupLeft + 8 + bar * 27;
      out.push(
        `<rect x="${x}" y="${y(height)}" width="24" height="${y(0) - y(height)}" ` +
          `fill="${COLORS[library]}"/>`,
        `<text x="${x + 12}" y="${y(height) - 3}" text-anchor="middle">` +
          `${medians ? short(height) : height.toFixed(2)}</text>`,
      );
    });
    out.push(
      `<text x="${groupLeft + 35}" y="${PLOT_TOP + PLOT_HEIGHT + 14}" text-anchor="middle">` +
        `${runtime}</text>`,
    );
  });
  return out.join("");
}

/** 123456 → "123k", 1234567 → "1.2M": fits over a bar. */
function short(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(1)}M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(0)}k`;
  return value.toFixed(0);
}

/** Whether `workload` has no raw baseline: its bars are then the medians, scaled to the largest. */
function absolute(summaries: Summary[], workload: Workload): boolean {
  return summaries.every((s) => s.workload !== workload.name || s.ratio === null);
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}
