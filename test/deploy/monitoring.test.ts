// The monitoring deployment files (deploy/prometheus, deploy/grafana) against promtool and
// against the metrics table in docs/operations.md, the contract between /metrics and them.
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { tool } from '../support/system-tool.js';

// Not test/support/index.ts: its helpers load the whole server, and nothing here needs it.
const ROOT = path.resolve(import.meta.dirname, '../..');
const PROMETHEUS_DIR = path.join(ROOT, 'deploy/prometheus');
const ALERTS = path.join(PROMETHEUS_DIR, 'alerts.yml');
const ALERT_TESTS = path.join(PROMETHEUS_DIR, 'alerts.test.yml');
const PROMETHEUS_CONFIG = path.join(PROMETHEUS_DIR, 'prometheus.yml');
const DASHBOARD = path.join(ROOT, 'deploy/grafana/pincer-dashboard.json');
const OPERATIONS = path.join(ROOT, 'docs/operations.md');
const TOKEN_FILE = '/etc/prometheus/pincer-token';

/** promtool comes from Debian's "prometheus" package. */
function promtool(args: string[]): { code: number | null; output: string } {
  return tool('promtool', args, 'prometheus', { cwd: ROOT });
}

interface KnownMetric {
  type: string;
  /** Label names, or undefined when not known (prom-client's default metrics). */
  labels: Set<string> | undefined;
}

/**
 * The metrics Pincer exports: every name in the first column of docs/operations.md's metrics
 * table ("`a_min` / `_max`" names a_min and a_max), with its type and labels, plus
 * prom-client's default metrics (what collectDefaultMetrics registers) and Prometheus' `up`.
 */
async function knownMetrics(): Promise<Map<string, KnownMetric>> {
  const doc = readFileSync(OPERATIONS, 'utf8');
  const section = doc.split(/^## Metrics$/m)[1]?.split(/^## /m)[0];
  if (!section) throw new Error('docs/operations.md has no "## Metrics" section');
  const known = new Map<string, KnownMetric>();
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const [, names = '', type = '', labels = ''] = line.split('|').map((cell) => cell.trim());
    // Labels are the backticked names outside parentheses: "`outcome` (`ok`, `error`)" is outcome.
    const labelNames = new Set([...labels.replace(/\([^)]*\)/g, '').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!));
    let first: string | undefined;
    for (const [, raw] of names.matchAll(/`([a-z_:][a-z0-9_:]*)`/g)) {
      let name = raw!;
      if (name.startsWith('_') && first) {
        const segments = name.split('_').length - 1;
        name = first.split('_').slice(0, -segments).join('_') + name;
      }
      first ??= name;
      known.set(name, { type, labels: labelNames });
    }
  }
  expect(known.size, 'metrics parsed from the docs/operations.md table').toBeGreaterThan(20);
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const metric of await registry.getMetricsAsJSON()) {
    if (!known.has(metric.name)) known.set(metric.name, { type: String(metric.type), labels: undefined });
  }
  registry.clear();
  known.set('up', { type: 'gauge', labels: new Set() });
  return known;
}

const PROMQL_KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'inf', 'nan']);

/** The metric names and the label names of their matchers in a PromQL expression. */
function promqlSelectors(expr: string): Array<{ metric: string; labels: string[] }> {
  const noStrings = expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
  const selectors: Array<{ metric: string; labels: string[] }> = [];
  const withoutMatchers = noStrings.replace(/([a-zA-Z_:][\w:]*)?\s*\{([^}]*)\}/g, (_all, metric: string | undefined, matchers: string) => {
    const labels = [...matchers.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((m) => m[1]!);
    const name = labels.includes('__name__') ? undefined : metric;
    if (name && !PROMQL_KEYWORDS.has(name)) selectors.push({ metric: name, labels });
    return ' ';
  });
  const bare = withoutMatchers
    .replace(/\[[^\]]*\]/g, ' ') // ranges and subqueries: [5m], [$__rate_interval]
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  for (const match of bare.matchAll(/(?<![\w.$:])[a-zA-Z_:][\w:]*/g)) {
    const rest = bare.slice(match.index + match[0].length);
    if (/^\s*\(/.test(rest) || PROMQL_KEYWORDS.has(match[0].toLowerCase())) continue; // a function or aggregation
    selectors.push({ metric: match[0], labels: [] });
  }
  return selectors;
}

/** Why `selector` is not something Pincer exports, or undefined when it is. */
function unknownSelector(known: Map<string, KnownMetric>, selector: { metric: string; labels: string[] }): string | undefined {
  let metric = known.get(selector.metric);
  const extraLabels = ['job', 'instance'];
  if (!metric) {
    const series = /^(.*)_(bucket|sum|count)$/.exec(selector.metric);
    const base = series ? known.get(series[1]!) : undefined;
    if (!base || !['histogram', 'summary'].includes(base.type)) return `${selector.metric} is not in the docs/operations.md metrics table`;
    metric = base;
    if (series![2] === 'bucket') extraLabels.push('le');
  }
  if (!metric.labels) return undefined;
  const bad = selector.labels.filter((label) => !metric.labels!.has(label) && !extraLabels.includes(label));
  return bad.length ? `${selector.metric} has no label ${bad.join(', ')} in the docs/operations.md metrics table` : undefined;
}

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

function alertRules(): AlertRule[] {
  const doc = parseYaml(readFileSync(ALERTS, 'utf8')) as { groups: Array<{ name: string; rules: AlertRule[] }> };
  const group = doc.groups.find((g) => g.name === 'pincer');
  expect(group, 'alerts.yml has a group "pincer"').toBeDefined();
  return group!.rules;
}

/** The number an alert compares against, when its expression ends in an ordering comparison. */
function threshold(expr: string): number | undefined {
  const match = /(?:>=|<=|>|<)\s*([0-9.]+)\s*$/.exec(expr.trim());
  return match ? Number(match[1]) : undefined;
}

describe('Prometheus rules and config (promtool)', () => {
  it('promtool check rules accepts alerts.yml', () => {
    const { code, output } = promtool(['check', 'rules', ALERTS]);
    expect(output).toMatch(/SUCCESS: \d+ rules found/);
    expect(code, output).toBe(0);
  });

  it('promtool test rules passes alerts.test.yml', () => {
    const { code, output } = promtool(['test', 'rules', ALERT_TESTS]);
    expect(code, output).toBe(0);
    expect(output).toContain('SUCCESS');
  });

  describe('prometheus.yml', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'pincer-prometheus-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('promtool check config accepts it (with the token file pointed at a temp file)', () => {
      // check config stats the credentials file, which only exists on a real Prometheus host.
      const text = readFileSync(PROMETHEUS_CONFIG, 'utf8');
      expect(text).toContain(TOKEN_FILE);
      const token = path.join(dir, 'pincer-token');
      writeFileSync(token, 'test-token\n', { mode: 0o600 });
      writeFileSync(path.join(dir, 'prometheus.yml'), text.replaceAll(TOKEN_FILE, token));
      copyFileSync(ALERTS, path.join(dir, 'alerts.yml')); // rule_files are relative to the config
      const { code, output } = promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
      expect(output).toMatch(/SUCCESS: 1 rule files found/);
      expect(code, output).toBe(0);
    });

    it('scrapes the three Pincer nodes with the bearer token file and loads the alerts', () => {
      const config = parseYaml(readFileSync(PROMETHEUS_CONFIG, 'utf8')) as any;
      expect(config.rule_files).toEqual(['alerts.yml']);
      const job = config.scrape_configs.find((c: any) => c.job_name === 'pincer');
      expect(job).toMatchObject({
        metrics_path: '/metrics',
        scrape_interval: '15s',
        authorization: { type: 'Bearer', credentials_file: TOKEN_FILE },
      });
      expect(job.static_configs.flatMap((s: any) => s.targets)).toEqual(['pincer1:7700', 'pincer2:7700', 'pincer3:7700']);
      // The model service has no /metrics: deliberately not scraped (see the comment there).
      expect(config.scrape_configs.map((c: any) => c.job_name)).toEqual(['pincer']);
    });
  });
});

describe('alerts.yml against the metrics table', () => {
  let known: Map<string, KnownMetric>;
  beforeAll(async () => {
    known = await knownMetrics();
  });

  it('has the alerts operations expects, each with for, severity, summary and a description that says what to do', () => {
    const rules = alertRules();
    expect(rules.map((r) => r.alert).sort()).toEqual(
      expect.arrayContaining([
        'PincerDeadLettersGrowing', 'PincerDown', 'PincerEventLoopLag', 'PincerHighCpu', 'PincerLowDisk',
        'PincerLowSuccessRate', 'PincerModelCooldown', 'PincerQueueBacklogNearCap',
      ]),
    );
    expect(new Set(rules.map((r) => r.alert)).size).toBe(rules.length);
    for (const rule of rules) {
      expect(rule.for, `${rule.alert}: for`).toMatch(/^\d+[smh]$/);
      expect(['critical', 'warning', 'info'], `${rule.alert}: labels.severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert}: summary`).toBeTruthy();
      expect(rule.annotations?.description, `${rule.alert}: description`).toContain('docs/operations.md#alerts');
    }
  });

  it('every metric (and matcher label) in an alert expression is one Pincer exports', () => {
    for (const rule of alertRules()) {
      const selectors = promqlSelectors(rule.expr);
      expect(selectors.length, `${rule.alert} names no metric`).toBeGreaterThan(0);
      for (const selector of selectors) expect(unknownSelector(known, selector), rule.alert).toBeUndefined();
    }
  });

  it('every alert is named in alerts.test.yml, with a case where it fires and one where it does not', () => {
    const tests = parseYaml(readFileSync(ALERT_TESTS, 'utf8')) as {
      rule_files: string[];
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts?: unknown[] }> }>;
    };
    expect(tests.rule_files).toEqual(['alerts.yml']);
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const { alert } of alertRules()) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} fires in some test`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} is quiet in some test`).toBe(true);
    }
  });

  it('the PromQL metric-name extraction these checks rely on works', () => {
    expect(promqlSelectors('sum by (job, le) (rate(a_total{job="x", status!~"5.."}[5m])) / on (job) b or c * 0 > 0.8')).toEqual([
      { metric: 'a_total', labels: ['job', 'status'] },
      { metric: 'b', labels: [] },
      { metric: 'c', labels: [] },
    ]);
    expect(unknownSelector(known, { metric: 'pincer_end_to_end_seconds_bucket', labels: ['le', 'instance'] })).toBeUndefined();
    expect(unknownSelector(known, { metric: 'pincer_queue_depth', labels: ['state'] })).toMatch(/no label state/);
    expect(unknownSelector(known, { metric: 'pincer_nonexistent_total', labels: [] })).toMatch(/not in/);
    expect(unknownSelector(known, { metric: 'pincer_workers_concurrency_max', labels: [] })).toBeUndefined();
  });
});

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type?: string; uid?: string };
  targets?: Array<{ expr?: string; datasource?: { type?: string; uid?: string } }>;
  fieldConfig?: { defaults?: { thresholds?: { steps?: Array<{ value: number | null }> } } };
  panels?: Panel[];
}

/**
 * There is no official JSON Schema for Grafana dashboards to validate against offline, so this
 * checks the structure Grafana's import needs and what the dashboard promises: title, uid,
 * schemaVersion, templating.list (with `instance`), __inputs (DS_PROMETHEUS), panels with unique
 * ids and non-overlapping gridPos on the 24-column grid, every query on ${DS_PROMETHEUS} and
 * only on exported metrics, every alert metric on a panel with the alert's threshold.
 */
describe('Grafana dashboard', () => {
  let dashboard: any;
  let panels: Panel[];
  let known: Map<string, KnownMetric>;
  beforeAll(async () => {
    dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    panels = (dashboard.panels as Panel[]).flatMap((p) => [p, ...(p.panels ?? [])]);
    known = await knownMetrics();
  });
  const queryPanels = (): Panel[] => panels.filter((p) => p.type !== 'row');
  const panelMetrics = (p: Panel): Set<string> => new Set((p.targets ?? []).flatMap((t) => promqlSelectors(t.expr ?? '').map((s) => s.metric)));

  it('has what an import needs: title, uid, schemaVersion, __inputs, templating', () => {
    expect(dashboard.title).toBe('Pincer');
    expect(dashboard.uid).toMatch(/^[a-zA-Z0-9_-]{1,40}$/);
    expect(dashboard.schemaVersion).toBeGreaterThanOrEqual(36);
    expect(dashboard.__inputs).toContainEqual(expect.objectContaining({ name: 'DS_PROMETHEUS', type: 'datasource', pluginId: 'prometheus' }));
    const variables = dashboard.templating.list as Array<{ name: string; type: string; datasource?: unknown }>;
    expect(variables.find((v) => v.name === 'instance')).toMatchObject({ type: 'query', datasource: { type: 'prometheus', uid: '${DS_PROMETHEUS}' } });
    // Provisioned dashboards do not get __inputs filled in; this variable resolves ${DS_PROMETHEUS} there.
    expect(variables.find((v) => v.name === 'DS_PROMETHEUS')).toMatchObject({ type: 'datasource', query: 'prometheus' });
  });

  it('has panels with unique ids and gridPos that fit the grid without overlapping', () => {
    expect(queryPanels().length).toBeGreaterThan(10);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) {
      expect(p.title, `panel ${p.id} title`).toBeTruthy();
      const { x, y, w, h } = p.gridPos;
      for (const n of [x, y, w, h]) expect(Number.isInteger(n), `${p.title}: gridPos`).toBe(true);
      expect(x >= 0 && y >= 0 && w > 0 && h > 0 && x + w <= 24, `${p.title}: gridPos ${JSON.stringify(p.gridPos)}`).toBe(true);
    }
    for (const [i, a] of panels.entries()) {
      for (const b of panels.slice(i + 1)) {
        const overlap = a.gridPos.x < b.gridPos.x + b.gridPos.w && b.gridPos.x < a.gridPos.x + a.gridPos.w &&
          a.gridPos.y < b.gridPos.y + b.gridPos.h && b.gridPos.y < a.gridPos.y + a.gridPos.h;
        expect(overlap, `"${a.title}" overlaps "${b.title}"`).toBe(false);
      }
    }
  });

  it('queries only ${DS_PROMETHEUS}, filtered by $instance, and only metrics Pincer exports', () => {
    for (const p of queryPanels()) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
      expect(p.targets?.length, `${p.title}: targets`).toBeGreaterThan(0);
      for (const t of p.targets ?? []) {
        expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${DS_PROMETHEUS}' });
        expect(t.expr, p.title).toBeTruthy();
        const selectors = promqlSelectors(t.expr!);
        expect(selectors.length, `${p.title}: ${t.expr}`).toBeGreaterThan(0);
        for (const s of selectors) {
          expect(unknownSelector(known, s), `${p.title}: ${t.expr}`).toBeUndefined();
          expect(s.labels, `${p.title}: ${s.metric} is filtered by the instance variable`).toContain('instance');
        }
      }
    }
    expect(JSON.stringify(dashboard)).toContain('instance=~\\"$instance\\"');
  });

  it('shows every alert metric, with the alert threshold on its panel', () => {
    for (const rule of alertRules()) {
      const metrics = [...new Set(promqlSelectors(rule.expr).map((s) => s.metric))];
      const showing = queryPanels().filter((p) => metrics.every((m) => panelMetrics(p).has(m)));
      expect(showing.length, `${rule.alert}: a panel shows ${metrics.join(', ')}`).toBeGreaterThan(0);
      const value = threshold(rule.expr);
      if (value === undefined) continue; // state alerts (== 0, == 1) have no line to draw
      const steps = showing.flatMap((p) => p.fieldConfig?.defaults?.thresholds?.steps ?? []).map((s) => s.value);
      expect(steps, `${rule.alert}: threshold ${value} on the panel showing it`).toContain(value);
    }
  });

  it('has the throughput, latency, queue, worker, model and plugin panels', () => {
    const all = new Set(queryPanels().flatMap((p) => [...panelMetrics(p)]));
    for (const metric of [
      'pincer_messages_processed_total', 'pincer_end_to_end_seconds_bucket', 'pincer_enqueue_to_start_seconds_bucket',
      'pincer_queue_depth', 'pincer_queue_limit', 'pincer_workers_concurrency', 'pincer_workers_busy',
      'pincer_model_calls_total', 'pincer_model_errors_total', 'pincer_model_tokens_total', 'pincer_plugin_calls_total',
    ]) {
      expect(all, metric).toContain(metric);
    }
    const latency = queryPanels().flatMap((p) => p.targets ?? []).map((t) => t.expr ?? '');
    for (const histogram of ['pincer_end_to_end_seconds_bucket', 'pincer_enqueue_to_start_seconds_bucket']) {
      for (const q of ['0.5', '0.99']) {
        expect(latency.some((e) => e.includes(`histogram_quantile(${q},`) && e.includes(histogram)), `${histogram} p${q}`).toBe(true);
      }
    }
  });

  it('is loaded by the provisioning files', () => {
    const provider = parseYaml(readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/dashboards/pincer.yml'), 'utf8')) as any;
    expect(provider.providers[0]).toMatchObject({ type: 'file', options: { path: expect.any(String) } });
    const sources = parseYaml(readFileSync(path.join(ROOT, 'deploy/grafana/provisioning/datasources/prometheus.yml'), 'utf8')) as any;
    expect(sources.datasources).toContainEqual(expect.objectContaining({ type: 'prometheus', isDefault: true }));
  });
});
