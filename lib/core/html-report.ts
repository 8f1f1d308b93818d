// report.html: one self-contained page (no script, no external file) of what a job did, the kind
// a user attaches to a ticket: the counts, throughput over time as a chart, failures by error
// code, the slowest objects. Every figure is also an element with a `data-figure` attribute, so a
// test (or a script) reads the page's numbers back.
import type { Report } from './report.ts';
import { formatBytes } from './size.ts';

/** When each manifest finished, and what it moved: the chart's points. */
export interface Finished {
  readonly at: number;
  readonly objects: number;
  readonly bytes: number;
}

export interface SlowObject {
  readonly key: string;
  readonly size: number;
  readonly ms: number;
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const n = (x: number) => x.toLocaleString('en-US');

/** Cumulative MB over time, as an SVG polyline (x: seconds since the start). */
function throughputChart(report: Report, finished: readonly Finished[]): string {
  const start = Date.parse(report.startedAt);
  const end = Math.max(Date.parse(report.finishedAt), ...finished.map((f) => f.at));
  const span = Math.max(1, end - start);
  const total = Math.max(1, finished.reduce((s, f) => s + f.bytes, 0));
  const w = 640;
  const h = 200;
  let done = 0;
  const points = ['0,200'];
  for (const f of [...finished].sort((a, b) => a.at - b.at)) {
    done += f.bytes;
    points.push(`${(((f.at - start) / span) * w).toFixed(1)},${(h - (done / total) * h).toFixed(1)}`);
  }
  const axis = (seconds: number) => `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  return `<svg viewBox="-80 -10 740 240" width="740" height="240" role="img" aria-label="bytes copied over time">
  <rect x="0" y="0" width="${w}" height="${h}" fill="#f6f8fa" stroke="#d0d7de"/>
  <polyline points="${points.join(' ')}" fill="none" stroke="#0969da" stroke-width="2"/>
  <text x="0" y="220" font-size="12">0 s</text><text x="${w}" y="220" font-size="12" text-anchor="end">${axis(span / 1000)}</text>
  <text x="-6" y="10" font-size="12" text-anchor="end">${escape(formatBytes(total))}</text><text x="-6" y="${h}" font-size="12" text-anchor="end">0</text>
</svg>`;
}

/** The page for `report`; `finished` and `slowest` come from the manifests' results. */
export function renderHtmlReport(report: Report, finished: readonly Finished[], slowest: readonly SlowObject[]): string {
  const seconds = report.durationMs / 1000;
  const figure = (name: string, value: number, text = n(value)) => `<td data-figure="${name}" data-value="${value}">${escape(text)}</td>`;
  const codes = Object.entries(report.failuresByCode).sort(([, a], [, b]) => b - a);
  const widest = Math.max(1, ...codes.map(([, c]) => c));
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ferry job ${escape(report.jobId)}: ${report.status}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:760px;color:#1f2328}
h1{font-size:20px} h2{font-size:16px;margin-top:1.6em}
table{border-collapse:collapse} td,th{padding:3px 10px;border-bottom:1px solid #d0d7de;text-align:right} th{text-align:left}
.status{padding:2px 8px;border-radius:4px;color:#fff;background:${report.status === 'succeeded' ? '#1a7f37' : report.status === 'failed' ? '#cf222e' : '#6e7781'}}
.bar{display:inline-block;height:10px;background:#cf222e}
code{font-size:13px}
</style></head>
<body>
<h1>ferry job <code>${escape(report.jobId)}</code> <span class="status" data-figure="status">${report.status}</span></h1>
<p>${escape(report.source)} &rarr; ${escape(report.destination)}<br>
started ${escape(report.startedAt)}, finished ${escape(report.finishedAt)} (<span data-figure="durationSeconds" data-value="${seconds}">${seconds.toFixed(1)} s</span>)</p>
<h2>Counts</h2>
<table>
<tr><th></th><th>total</th><th>copied</th><th>skipped</th><th>failed</th></tr>
<tr><th>objects</th>${figure('objects.total', report.objects.total)}${figure('objects.copied', report.objects.copied)}${figure('objects.skipped', report.objects.skipped)}${figure('objects.failed', report.objects.failed)}</tr>
<tr><th>bytes</th>${figure('bytes.total', report.bytes.total, formatBytes(report.bytes.total))}${figure('bytes.copied', report.bytes.copied, formatBytes(report.bytes.copied))}<td></td><td></td></tr>
</table>
<table>
<tr><th>throughput</th>${figure('objectsPerSecond', Math.round(report.objects.copied / Math.max(0.001, seconds)), `${n(Math.round(report.objects.copied / Math.max(0.001, seconds)))} objects/s`)}${figure('megabytesPerSecond', Number((report.bytes.copied / 1e6 / Math.max(0.001, seconds)).toFixed(2)), `${(report.bytes.copied / 1e6 / Math.max(0.001, seconds)).toFixed(2)} MB/s`)}</tr>
<tr><th>retries</th>${figure('retries', report.retries)}<th>throttles</th>${figure('throttles', report.throttles)}</tr>
<tr><th>manifests</th>${figure('manifests', report.manifests)}${report.deletes ? `<th>deleted</th>${figure('deletes.deleted', report.deletes.deleted)}` : ''}</tr>
</table>
${report.error ? `<p><strong>The job stopped:</strong> ${escape(report.error)}</p>` : ''}
<h2>Bytes copied over time</h2>
${throughputChart(report, finished)}
<h2>Failures by error code</h2>
${
  codes.length === 0
    ? '<p data-figure="failureCodes" data-value="0">None.</p>'
    : `<table data-figure="failureCodes" data-value="${codes.length}">${codes
        .map(([code, count]) => `<tr><th><code>${escape(code)}</code></th>${figure(`failures.${code}`, count)}<td style="text-align:left"><span class="bar" style="width:${Math.round((count / widest) * 300)}px"></span></td></tr>`)
        .join('\n')}</table><p>Every failed object, with its message, is in <code>${escape(report.failuresKey)}</code>.</p>`
}
<h2>Slowest objects</h2>
<p>From the start of each object (its waits in the pool included) to its end.</p>
${
  slowest.length === 0
    ? '<p>None recorded.</p>'
    : `<table>${slowest.map((s) => `<tr><th><code>${escape(s.key)}</code></th><td>${escape(formatBytes(s.size))}</td><td>${(s.ms / 1000).toFixed(2)} s</td></tr>`).join('\n')}</table>`
}
</body></html>
`;
}
