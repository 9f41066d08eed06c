/**
 * Renders the benchmark summary as a small SVG bar chart: one panel per workload, each
 * library's median ratio to the raw API of the same runtime (raw = 1.0).
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
    `ratio to the runtime's raw API (raw = 1.0; memory: lower is better)</text></svg>\n`;
}

function panel(summaries: Summary[], workload: Workload, left: number): string {
  const y = (ratio: number) =>
    PLOT_TOP + PLOT_HEIGHT * (1 - Math.min(ratio, MAX_RATIO) / MAX_RATIO);
  const plotWidth = PANEL_WIDTH - 30;
  const out = [
    `<text x="${left + PANEL_WIDTH / 2 - 10}" y="14" text-anchor="middle" font-weight="bold">` +
    `${escape(workload.name)}</text>`,
    `<text x="${left + PANEL_WIDTH / 2 - 10}" y="27" text-anchor="middle">${
      escape(workload.unit)
    }</text>`,
    `<line x1="${left}" x2="${left + plotWidth}" y1="${y(1)}" y2="${y(1)}" stroke="black"/>`,
  ];
  if (workload.mode !== "idle") {
    out.push(
      `<line x1="${left}" x2="${left + plotWidth}" y1="${y(0.95)}" y2="${y(0.95)}" ` +
        `stroke="#d33" stroke-dasharray="3 3"/>`,
    );
  }
  RUNTIMES.forEach((runtime, group) => {
    const groupLeft = left + group * (plotWidth / 3);
    Object.keys(COLORS).forEach((library, bar) => {
      const row = summaries.find((s) =>
        s.workload === workload.name && s.runtime === runtime && s.library === library
      );
      if (row?.ratio === null || row?.ratio === undefined) return;
      const x = groupLeft + 8 + bar * 27;
      out.push(
        `<rect x="${x}" y="${y(row.ratio)}" width="24" height="${y(0) - y(row.ratio)}" ` +
          `fill="${COLORS[library]}"/>`,
        `<text x="${x + 12}" y="${y(row.ratio) - 3}" text-anchor="middle">` +
          `${row.ratio.toFixed(2)}</text>`,
      );
    });
    out.push(
      `<text x="${groupLeft + 35}" y="${PLOT_TOP + PLOT_HEIGHT + 14}" text-anchor="middle">` +
        `${runtime}</text>`,
    );
  });
  return out.join("");
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;");
}
