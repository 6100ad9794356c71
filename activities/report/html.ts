/**
 * The evaluation report as one self-contained HTML page: inline CSS and SVG, no scripts, no external resources.
 */
import { fmt, lowerIsBetter } from '../../ml/gates';
import type { EvaluationReport, Metrics } from './report';
import { barChart, escapeHtml, unitPlot, type Series } from './svg';

const CANDIDATE_COLOR = '#1f6feb';
const CHAMPION_COLOR = '#d9822b';
/** Features shown in the importance chart. */
const MAX_BARS = 20;

const STYLE = `
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 0; background: #f6f8fa; }
main { max-width: 1120px; margin: 0 auto; padding: 24px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 10px; }
.sub { color: #59636e; margin: 0 0 16px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 12px; font-weight: 600; font-size: 13px; vertical-align: middle; margin-left: 8px; }
.pass { background: #dafbe1; color: #116329; }
.fail { background: #ffebe9; color: #a40e26; }
.skip { background: #eaeef2; color: #59636e; }
.card { background: #fff; border: 1px solid #d1d9e0; border-radius: 8px; padding: 16px; margin-bottom: 16px; }
table { border-collapse: collapse; width: 100%; }
table.compact { width: auto; min-width: 420px; }
th, td { text-align: left; padding: 6px 10px; border-bottom: 1px solid #eaeef2; }
th { color: #59636e; font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { color: #59636e; }
dd { margin: 0; overflow-wrap: anywhere; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
.better { color: #116329; }
.worse { color: #a40e26; }
.error { color: #a40e26; }
svg .frame { fill: #fff; stroke: #d1d9e0; }
svg .grid { stroke: #eaeef2; }
svg .diagonal { stroke: #8c959f; stroke-dasharray: 4 4; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: #1f2328; }
svg .title { font-size: 14px; font-weight: 600; }
svg .tick, svg .value { font-size: 11px; fill: #59636e; }
svg .axis, svg .legend, svg .label { font-size: 12px; }
svg .bar { fill: ${CANDIDATE_COLOR}; }
`;

/**
 * @example
 * await store.put(`${prefix}/report.html`, renderReportHtml(report), { contentType: 'text/html; charset=utf-8' });
 */
export function renderReportHtml(report: EvaluationReport): string {
  const title = `Evaluation of ${report.model.name ?? 'model'}`;
  const verdict = report.passed ? '<span class="badge pass">passed</span>' : '<span class="badge fail">failed</span>';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
<h1>${escapeHtml(title)} ${verdict}</h1>
<p class="sub">${escapeHtml(describeRun(report))}</p>
${section('Gates', gatesTable(report))}
${section('Metrics', metricsTable(report))}
${chartsSection(report)}
${confusionSection(report)}
${importanceSection(report)}
${section('Inputs', inputsList(report))}
</main>
</body>
</html>
`;
}

function describeRun(r: EvaluationReport): string {
  const what = r.model.task === 'regression' ? 'regression' : `${r.model.task} classification`;
  return (
    `${what} on ${r.dataset.scoredRows.toLocaleString('en-US')} holdout rows, label "${r.dataset.label}"` +
    (r.threshold !== null && r.model.task === 'binary' ? `, threshold ${r.threshold}` : '') +
    ` · pipeline ${r.run.pipeline}, run ${r.run.runId}, step ${r.run.stepId} (attempt ${r.run.attempt}) · ${r.createdAt}`
  );
}

const section = (heading: string, body: string) => `<h2>${escapeHtml(heading)}</h2>\n<div class="card">${body}</div>`;

const num = (x: number | null | undefined) => (x === null || x === undefined ? '—' : escapeHtml(fmt(x)));

function gatesTable(r: EvaluationReport): string {
  if (!r.gates.length) return '<p>No gates were set: the model passes by default.</p>';
  const rows = r.gates
    .map((g) => {
      const badge = g.skipped
        ? '<span class="badge skip">skipped</span>'
        : g.passed
          ? '<span class="badge pass">pass</span>'
          : '<span class="badge fail">fail</span>';
      const lower = lowerIsBetter(g.metric);
      const rule =
        g.kind === 'vsChampion'
          ? `${lower ? '≤' : '≥'} champion ${lower ? '+' : '−'} ${fmt(g.maxDrop ?? 0)}`
          : `${g.kind === 'min' ? '≥' : '≤'} ${fmt(g.bound ?? NaN)}`;
      return (
        `<tr><td>${escapeHtml(g.gate === g.metric ? g.gate : `${g.gate} (${g.metric})`)}</td>` +
        `<td>${escapeHtml(rule)}</td>` +
        `<td class="num">${num(g.value)}</td><td class="num">${num(g.bound)}</td><td>${badge}</td>` +
        `<td><code>${escapeHtml(g.message)}</code></td></tr>`
      );
    })
    .join('');
  return (
    `<table><thead><tr><th>Gate</th><th>Rule</th><th class="num">Value</th><th class="num">Bound</th><th>Result</th><th>Detail</th></tr></thead>` +
    `<tbody>${rows}</tbody></table>`
  );
}

function metricsTable(r: EvaluationReport): string {
  const champion = r.champion?.metrics ?? null;
  const names = Object.keys(r.metrics);
  const head = champion
    ? '<tr><th>Metric</th><th class="num">Candidate</th><th class="num">Champion</th><th class="num">Δ</th></tr>'
    : '<tr><th>Metric</th><th class="num">Candidate</th></tr>';
  const rows = names
    .map((name) => {
      const cells = [`<td>${escapeHtml(name)}</td>`, `<td class="num">${num(r.metrics[name])}</td>`];
      if (champion) {
        const c = r.comparison.find((x) => x.metric === name);
        const cls = c?.candidateBetter === true ? 'better' : c?.candidateBetter === false ? 'worse' : '';
        cells.push(`<td class="num">${num(champion[name])}</td>`);
        cells.push(`<td class="num ${cls}">${c?.delta === null || !c ? '—' : signed(c.delta)}</td>`);
      }
      return `<tr>${cells.join('')}</tr>`;
    })
    .join('');
  const note = r.champion?.error
    ? `<p class="error">The champion could not be scored on this holdout: ${escapeHtml(r.champion.error)}</p>`
    : r.champion
      ? ''
      : '<p>No champion: this is the first model at the production alias, or none was given.</p>';
  return `<table class="compact"><thead>${head}</thead><tbody>${rows}</tbody></table>${note}`;
}

const signed = (x: number) => escapeHtml(x > 0 ? `+${fmt(x)}` : fmt(x));

function chartsSection(r: EvaluationReport): string {
  const charts: string[] = [];
  const champion = r.champion?.curves;
  const aucOf = (m: Metrics | null | undefined) =>
    m && m.auc !== null && m.auc !== undefined ? ` (AUC ${fmt(m.auc)})` : '';
  if (r.curves.roc) {
    const series: Series[] = [
      { name: `candidate${aucOf(r.metrics)}`, color: CANDIDATE_COLOR, x: r.curves.roc.fpr, y: r.curves.roc.tpr },
    ];
    if (champion?.roc) {
      series.push({
        name: `champion${aucOf(r.champion?.metrics)}`,
        color: CHAMPION_COLOR,
        x: champion.roc.fpr,
        y: champion.roc.tpr,
      });
    }
    charts.push(
      unitPlot({
        title: 'ROC curve',
        xLabel: 'false positive rate',
        yLabel: 'true positive rate',
        series,
        diagonal: 'chance',
      }),
    );
  }
  if (r.curves.calibration?.length) {
    const bins = r.curves.calibration;
    const series: Series[] = [
      {
        name: 'candidate',
        color: CANDIDATE_COLOR,
        x: bins.map((b) => b.meanPredicted),
        y: bins.map((b) => b.fractionPositive),
        dots: true,
        sizes: bins.map((b) => b.count),
      },
    ];
    if (champion?.calibration?.length) {
      const c = champion.calibration;
      series.push({
        name: 'champion',
        color: CHAMPION_COLOR,
        x: c.map((b) => b.meanPredicted),
        y: c.map((b) => b.fractionPositive),
        dots: true,
        sizes: c.map((b) => b.count),
      });
    }
    charts.push(
      unitPlot({
        title: 'Calibration (reliability)',
        xLabel: 'mean predicted probability',
        yLabel: 'fraction positive',
        series,
        diagonal: 'perfect calibration',
      }),
    );
  }
  if (!charts.length) return '';
  const caption =
    r.curves.calibration && r.metrics.ece !== undefined
      ? `<p>Calibration bins are 0.1 wide; dot size grows with the rows in the bin. ECE ${num(r.metrics.ece)}.</p>`
      : '';
  return section('Curves', `<div class="charts">${charts.join('')}</div>${caption}`);
}

function confusionSection(r: EvaluationReport): string {
  const c = r.curves.confusion;
  if (!c) return '';
  const classes = r.model.classes ?? ['0', '1'];
  const [neg, pos] = [escapeHtml(classes[0] ?? '0'), escapeHtml(classes[1] ?? '1')];
  return section(
    `Confusion at threshold ${r.threshold}`,
    `<table class="compact"><thead><tr><th></th><th class="num">predicted ${neg}</th><th class="num">predicted ${pos}</th></tr></thead><tbody>` +
      `<tr><th>actual ${neg}</th><td class="num">${c.tn.toLocaleString('en-US')}</td><td class="num">${c.fp.toLocaleString('en-US')}</td></tr>` +
      `<tr><th>actual ${pos}</th><td class="num">${c.fn.toLocaleString('en-US')}</td><td class="num">${c.tp.toLocaleString('en-US')}</td></tr>` +
      `</tbody></table>`,
  );
}

function importanceSection(r: EvaluationReport): string {
  if (!r.importance?.length) return '';
  const shown = r.importance.slice(0, MAX_BARS);
  const more = r.importance.length - shown.length;
  const chart = barChart(
    'Feature importance (share of total split gain)',
    shown.map((e) => ({ label: e.feature, value: e.share, text: `${(e.share * 100).toFixed(1)}%` })),
  );
  return section('Feature importance', chart + (more > 0 ? `<p>${more} more features not shown.</p>` : ''));
}

function inputsList(r: EvaluationReport): string {
  const item = (k: string, v: string) => `<dt>${escapeHtml(k)}</dt><dd>${v}</dd>`;
  const code = (s: string) => `<code>${escapeHtml(s)}</code>`;
  const parts = [
    item('model', code(r.model.uri)),
    item('model sha256', code(r.model.sha256)),
    item('features', escapeHtml(r.model.features.join(', '))),
  ];
  if (r.model.classes) parts.push(item('classes', escapeHtml(r.model.classes.join(', '))));
  parts.push(
    item('holdout', code(r.dataset.uri)),
    item('holdout sha256', code(r.dataset.sha256)),
    item(
      'rows',
      escapeHtml(
        `${r.dataset.rows.toLocaleString('en-US')} read, ${r.dataset.scoredRows.toLocaleString('en-US')} scored` +
          (r.dataset.unlabelledRows
            ? `, ${r.dataset.unlabelledRows.toLocaleString('en-US')} without a label skipped`
            : ''),
      ),
    ),
  );
  if (r.champion) {
    parts.push(item('champion', code(r.champion.uri)), item('champion sha256', code(r.champion.sha256)));
  }
  return `<dl>${parts.join('')}</dl>`;
}
