import uPlot from '/dashboard/static/uPlot.esm.js';

/** Axis labels: enough significant digits for sub-cent amounts. */
function fmtUsd(v) {
  if (v === 0) return '$0';
  if (Math.abs(v) >= 1) return `$${v.toFixed(2)}`;
  return `$${v.toLocaleString('en-US', { maximumSignificantDigits: 2, maximumFractionDigits: 12 })}`;
}

const COLORS = ['#2563eb', '#dc2626', '#d97706', '#059669', '#7c3aed', '#0891b2'];

/** A time-series chart; series values are plain numbers (USD for money, counts otherwise). */
export function timeChart(container, { title, times, series, height = 220, money = false }) {
  container.replaceChildren();
  const width = Math.max(280, Math.min(container.clientWidth || 600, 1100));
  const opts = {
    title,
    width,
    height,
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: COLORS[i % COLORS.length],
        width: 2,
        fill: i === 0 && s.fill ? `${COLORS[0]}22` : undefined,
        paths: s.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
      })),
    ],
    axes: [{}, { size: 80, values: (_u, vals) => vals.map((v) => (money ? fmtUsd(v) : String(v))) }],
    scales: { x: { time: true } },
  };
  const data = [times.map((t) => t / 1000), ...series.map((s) => s.values)];
  const chart = new uPlot(opts, data, container);
  const resize = () => chart.setSize({ width: Math.max(280, Math.min(container.clientWidth, 1100)), height });
  new ResizeObserver(resize).observe(container);
  return chart;
}
