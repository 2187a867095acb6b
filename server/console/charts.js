// Small line charts on a <canvas>, for the console's Training and Serving
// panels: no library, no markup, nothing but the 2D context. A chart is
// redrawn whole from its series each time (they hold at most a few
// thousand points).
(function (root) {
  'use strict';

  // Draws `series` on `canvas`:
  //   series: [{ name, color, points: [[x, y], ...], dots: bool }]
  //   opts:   { yMin, yMax (fixed bounds, else from the data), xMin, xMax,
  //             yFormat(v) -> text, xLabel }
  // Canvas pixels are scaled by devicePixelRatio so lines stay sharp.
  function lineChart(canvas, series, opts) {
    opts = opts || {};
    const ratio = root.devicePixelRatio || 1;
    const cssW = canvas.clientWidth || canvas.width, cssH = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(cssW * ratio)) canvas.width = Math.round(cssW * ratio);
    if (canvas.height !== Math.round(cssH * ratio)) canvas.height = Math.round(cssH * ratio);
    const ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, cssW, cssH);
    const fmt = opts.yFormat || ((v) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3)));
    let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
    for (const s of series) {
      for (const [x, y] of s.points) {
        if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
        x0 = Math.min(x0, x); x1 = Math.max(x1, x);
        y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
    }
    if (opts.yMin !== undefined) y0 = opts.yMin;
    if (opts.yMax !== undefined) y1 = opts.yMax;
    if (opts.xMin !== undefined) x0 = opts.xMin;
    if (opts.xMax !== undefined) x1 = Math.max(opts.xMax, x1 === -Infinity ? opts.xMax : x1);
    const empty = !Number.isFinite(x0) || !Number.isFinite(y0);
    if (empty) { x0 = 0; x1 = 1; y0 = 0; y1 = 1; }
    if (x1 <= x0) x1 = x0 + 1;
    if (y1 <= y0) { y1 = y0 + (Math.abs(y0) || 1) * 0.1; y0 -= (y1 - y0); }
    const left = 44, right = 8, top = 18, bottom = 18;
    const w = cssW - left - right, h = cssH - top - bottom;
    const px = (x) => left + (x - x0) / (x1 - x0) * w;
    const py = (y) => top + (1 - (y - y0) / (y1 - y0)) * h;
    ctx.font = '11px system-ui, sans-serif';
    ctx.strokeStyle = '#d9dee7';
    ctx.fillStyle = '#667085';
    ctx.lineWidth = 1;
    ctx.textBaseline = 'middle';
    for (let i = 0; i <= 4; ++i) {
      const y = y0 + (y1 - y0) * i / 4;
      ctx.beginPath(); ctx.moveTo(left, py(y)); ctx.lineTo(left + w, py(y)); ctx.stroke();
      ctx.textAlign = 'right';
      ctx.fillText(fmt(y), left - 4, py(y));
    }
    if (opts.xLabel) {
      ctx.textAlign = 'right';
      ctx.fillText(opts.xLabel, left + w, cssH - 7);
    }
    if (empty) {
      ctx.textAlign = 'center';
      ctx.fillText('no data yet', left + w / 2, top + h / 2);
    }
    let legend = left;
    for (const s of series) {
      ctx.strokeStyle = s.color;
      ctx.fillStyle = s.color;
      ctx.lineWidth = 1.6;
      if (s.dots) {
        for (const [x, y] of s.points) {
          ctx.beginPath(); ctx.arc(px(x), py(y), 3, 0, 2 * Math.PI); ctx.fill();
        }
      } else {
        ctx.beginPath();
        s.points.forEach(([x, y], i) => (i ? ctx.lineTo(px(x), py(y)) : ctx.moveTo(px(x), py(y))));
        ctx.stroke();
      }
      ctx.textAlign = 'left';
      ctx.fillRect(legend, 5, 10, 3);
      ctx.fillText(s.name, legend + 13, 7);
      legend += 18 + ctx.measureText(s.name).width + 10;
    }
  }

  root.nnCharts = { lineChart };
})(window);
