// The live view of a training run: a progress bar and learning curves drawn on canvases.
// Streamlit mounts it once with the run's view and the URL of its live API; from then on the
// component fetches the view itself every `refresh_ms` and redraws. No Streamlit rerun, no page
// redraw: the browser leaves the CPU to the training. When the run's phase changes (it starts,
// ends, or moves up the queue) a trigger value makes Streamlit rerun the page once.

// CSS pixels: each chart's height, its margins and its fonts; projector mode draws it all larger
// (the numbers at 20 px and up, readable from the back of a room).
const SIZES = {
  normal: { height: 340, pad: { left: 58, right: 14, top: 38, bottom: 44 }, tick: 13, title: 16 },
  large: { height: 460, pad: { left: 84, right: 18, top: 54, bottom: 66 }, tick: 20, title: 26 },
};
const states = new WeakMap(); // root element -> what this mount knows

export default function liveRun({ data, parentElement, setTriggerValue }) {
  const root = parentElement.querySelector(".live-run");
  let state = states.get(root);
  if (!state) {
    state = { view: null, timer: null, busy: false };
    state.observer = new ResizeObserver(() => state.view && drawAll(root, state));
    state.observer.observe(root.querySelector(".charts"));
    states.set(root, state);
  }
  Object.assign(state, { url: data.url, setTriggerValue, phase: phaseOf(data.view) });
  state.size = data.large ? SIZES.large : SIZES.normal;
  root.classList.toggle("large", Boolean(data.large));
  show(root, state, data.view);
  clearInterval(state.timer);
  if (data.view.active) state.timer = setInterval(() => poll(root, state), data.refresh_ms);
  return () => {
    clearInterval(state.timer);
    state.observer.disconnect();
    states.delete(root);
  };
}

async function poll(root, state) {
  if (!root.isConnected) {
    clearInterval(state.timer); // the page moved on without telling us
    return;
  }
  if (state.busy) return; // the previous answer is still on its way
  state.busy = true;
  try {
    const reply = await fetch(state.url, { cache: "no-store" });
    if (!reply.ok) throw new Error(`HTTP ${reply.status}`);
    const view = await reply.json();
    root.classList.remove("offline");
    show(root, state, view);
    if (!view.active) clearInterval(state.timer); // it has ended: nothing more will move
    const phase = phaseOf(view);
    if (phase !== state.phase) {
      state.phase = phase;
      state.setTriggerValue("phase", phase); // Streamlit reruns the page once
    }
  } catch (error) {
    root.classList.add("offline"); // keep the last picture, dimmed, and keep asking
  } finally {
    state.busy = false;
  }
}

function phaseOf(view) {
  return `${view.status}/${view.active}/${view.queue_position}`;
}

function show(root, state, view) {
  state.view = view;
  root.dataset.status = view.status;
  root.querySelector(".status").textContent = view.text;
  const done = Math.min(Math.max(view.progress, 0), 1);
  root.querySelector(".fill").style.width = `${Math.round(done * 1000) / 10}%`;
  root.querySelector(".bar").setAttribute("aria-valuenow", String(Math.round(done * 100)));
  drawAll(root, state);
}

function drawAll(root, state) {
  const view = state.view;
  const holder = root.querySelector(".charts");
  while (holder.children.length < view.charts.length) {
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    holder.appendChild(canvas);
  }
  while (holder.children.length > view.charts.length) holder.lastChild.remove();
  const style = getComputedStyle(root);
  const theme = {
    text: style.getPropertyValue("--st-text-color").trim() || "#111827",
    font: style.fontFamily || "sans-serif",
  };
  view.charts.forEach((chart, i) =>
    drawChart(holder.children[i], chart, theme, view.lang, state.size),
  );
  updateLegend(root, view.charts);
}

function drawChart(canvas, chart, theme, lang, size) {
  const { height: HEIGHT, pad: PAD } = size;
  canvas.style.height = `${HEIGHT}px`;
  const width = canvas.clientWidth || 480;
  const ratio = window.devicePixelRatio || 1;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(HEIGHT * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(HEIGHT * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, HEIGHT);
  const box = {
    x0: PAD.left, x1: width - PAD.right, y0: HEIGHT - PAD.bottom, y1: PAD.top,
  };
  // The x axis grows a whole epoch at a time up to the run's length, so the curve fills it.
  const reach = Math.max(0, ...chart.lines.map(lastX));
  const [xMin, xMax] = [0, Math.max(Math.min(chart.x_max || 1, Math.ceil(reach)), 1, reach)];
  const [yMin, yMax] = chart.y_range || [0, niceTop(chart.lines)];
  const sx = (x) => box.x0 + ((x - xMin) / (xMax - xMin)) * (box.x1 - box.x0);
  const sy = (y) => box.y0 - ((y - yMin) / (yMax - yMin || 1)) * (box.y0 - box.y1);
  const number = new Intl.NumberFormat(lang, { maximumFractionDigits: 3 });

  ctx.font = `${size.tick}px ${theme.font}`;
  ctx.fillStyle = theme.text;
  ctx.strokeStyle = theme.text;
  ctx.textBaseline = "middle";
  // grid and tick labels
  ctx.globalAlpha = 0.12;
  ctx.lineWidth = 1;
  const yTicks = ticks(yMin, yMax, 5);
  // whole epochs only: 1, 2, 3, never 0.5
  const xTicks = ticks(xMin, xMax, Math.min(8, Math.max(2, Math.floor((box.x1 - box.x0) / 70))), 1);
  for (const y of yTicks) line(ctx, box.x0, sy(y), box.x1, sy(y));
  for (const x of xTicks) line(ctx, sx(x), box.y0, sx(x), box.y1);
  ctx.globalAlpha = 0.75;
  ctx.textAlign = "right";
  for (const y of yTicks) ctx.fillText(number.format(y), box.x0 - 6, sy(y));
  ctx.textAlign = "center";
  for (const x of xTicks) ctx.fillText(number.format(x), sx(x), box.y0 + size.tick);
  ctx.fillText(chart.x_title, (box.x0 + box.x1) / 2, box.y0 + 2.5 * size.tick);
  ctx.globalAlpha = 1;
  ctx.textAlign = "left";
  ctx.font = `600 ${size.title}px ${theme.font}`;
  ctx.fillText(chart.title, box.x0, size.title);

  // the lines, clipped to the plot area
  ctx.save();
  ctx.beginPath();
  ctx.rect(box.x0, box.y1 - 6, box.x1 - box.x0 + 6, box.y0 - box.y1 + 6);
  ctx.clip();
  const dot = Math.min(4.5, Math.max(1.5, (box.x1 - box.x0) / xMax / 5));
  for (const series of chart.lines) drawLine(ctx, series, sx, sy, dot);
  ctx.restore();
  canvas.setAttribute("aria-label", describe(chart, reach, number));
  canvas.dataset.reach = String(reach);
}

function drawLine(ctx, series, sx, sy, dot) {
  ctx.strokeStyle = series.color;
  ctx.fillStyle = series.color;
  ctx.globalAlpha = series.opacity;
  ctx.lineWidth = series.width;
  ctx.setLineDash(series.dash ? [2, 4] : []);
  ctx.beginPath();
  let pen = false;
  series.x.forEach((x, i) => {
    const y = series.y[i];
    if (y === null || !Number.isFinite(y)) { pen = false; return; }
    if (pen) ctx.lineTo(sx(x), sy(y)); else ctx.moveTo(sx(x), sy(y));
    pen = true;
  });
  ctx.stroke();
  ctx.setLineDash([]);
  if (series.markers) {
    series.x.forEach((x, i) => {
      const y = series.y[i];
      if (y === null || !Number.isFinite(y)) return;
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), dot, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
  ctx.globalAlpha = 1;
}

function updateLegend(root, charts) {
  // Both charts draw the same kinds of line, so one legend above them serves both.
  const seen = new Map();
  for (const chart of charts) for (const series of chart.lines) seen.set(series.name, series);
  const key = [...seen.keys()].join("|");
  const legend = root.querySelector(".legend");
  if (legend.dataset.key === key) return;
  legend.dataset.key = key;
  legend.replaceChildren(
    ...[...seen.values()].map((series) => {
      const item = document.createElement("span");
      const swatch = document.createElement("i");
      swatch.style.borderTop = `${Math.max(series.width, 2)}px ${series.dash ? "dotted" : "solid"} ${series.color}`;
      swatch.style.opacity = String(Math.max(series.opacity, 0.4));
      item.append(swatch, series.name);
      return item;
    }),
  );
}

function describe(chart, reach, number) {
  const parts = chart.lines
    .filter((series) => series.opacity >= 1) // the raw per-batch line is too noisy to read out
    .map((series) => `${series.name}: ${number.format(lastY(series))}`);
  return `${chart.title} (${chart.x_title} ${number.format(reach)}) — ${parts.join("; ")}`;
}

function line(ctx, x0, y0, x1, y1) {
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x1, y1);
  ctx.stroke();
}

function lastX(series) {
  return series.x.length ? series.x[series.x.length - 1] : 0;
}

function lastY(series) {
  for (let i = series.y.length - 1; i >= 0; i--) if (series.y[i] !== null) return series.y[i];
  return NaN;
}

function niceTop(lines) {
  // The smoothed and per-epoch values set the scale; a noisy batch may poke out of the top.
  const values = lines.filter((s) => s.opacity >= 1).flatMap((s) => s.y).filter(Number.isFinite);
  const top = values.length ? Math.max(...values) : 1;
  const step = niceStep(top / 5);
  return Math.ceil((top * 1.05) / step) * step || 1;
}

function niceStep(raw) {
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  const n = raw / magnitude;
  return (n <= 1 ? 1 : n <= 2 ? 2 : n <= 5 ? 5 : 10) * magnitude;
}

function ticks(low, high, count, least = 0) {
  const step = Math.max(niceStep((high - low) / count), least);
  const out = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) {
    out.push(Math.round(v / step) * step);
  }
  return out;
}
