import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type EgressProxyConfig } from '../../proxy-app/src/config/index.js';
import {
  EXPORTED_METRICS,
  prometheusAgentSection,
  scrapeConfig,
  SCRAPE_CONFIG_PATH,
  type MetricDeclaration,
} from '../../lib/prometheus-metrics.js';
import { exchange } from '../proxy-app/client.js';
import { run, startProxy, type Fleet, type Running } from '../proxy-app/harness.js';
import { parsePrometheusText, type Sample } from '../support/prometheus-text.js';

interface ScrapeJob {
  job_name: string;
  static_configs: { targets: string[]; labels: Record<string, string> }[];
}

let fleet: Fleet;
let sidecar: Running;
let config: EgressProxyConfig;
/** Every sample the agent would read, with the labels its scrape config adds. */
let scraped: Sample[];

/** Scrapes every target of the generated scrape config, as the agent does. */
async function scrapeAll(): Promise<Sample[]> {
  const { scrape_configs } = scrapeConfig(config, {
    instanceId: 'i-0123456789abcdef0',
    availabilityZone: 'zone-a',
  }) as {
    scrape_configs: ScrapeJob[];
  };
  const samples: Sample[] = [];
  for (const job of scrape_configs) {
    for (const { targets, labels } of job.static_configs) {
      for (const target of targets) {
        const response = await fetch(`http://${target}/metrics`, { signal: AbortSignal.timeout(5_000) });
        expect(response.status, `${job.job_name} at ${target}`).toBe(200);
        for (const sample of parsePrometheusText(await response.text())) {
          samples.push({
            ...sample,
            labels: { ...sample.labels, ...labels, job: job.job_name, instance: target },
          });
        }
      }
    }
  }
  return samples;
}

/**
 * What a metric declaration makes of the samples, as the CloudWatch user guide describes the
 * agent: histograms are dropped; `source_labels` values joined with ";" must match
 * `label_matcher`; a selector picks samples by name; each dimension set names labels of them.
 */
function selected(declaration: MetricDeclaration, selector: string): Sample[] {
  const matcher = new RegExp(declaration.label_matcher);
  const byName = new RegExp(selector);
  return scraped.filter(
    (s) =>
      s.type !== 'histogram' &&
      matcher.test(declaration.source_labels.map((label) => s.labels[label] ?? '').join(';')) &&
      byName.test(s.name),
  );
}

// The real proxy and sidecar, scraped through the scrape config the CDK app writes to every
// instance, checked against the agent config's metric declarations: a metric renamed or a label
// dropped in proxy-app, or a histogram selected, turns this red.
describe('the CloudWatch agent metric path', () => {
  beforeAll(async () => {
    fleet = await startProxy({ allow: ['example.com'], probe: { timeoutMs: 1_000, cacheMs: 0 } });
    config = parseConfig(fleet.config);
    sidecar = run('sidecar', fleet.configFile);
    await sidecar.waitForLog((line) => line.msg === 'sidecar listening');
    // Traffic for every series: a health check probes through the proxy in both modes (allowed
    // requests, bytes, upstream connects, probe results), and one request is denied.
    const health = await exchange(
      fleet.config.health.port,
      'GET /healthcheck HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(health.status).toBe(200);
    const denied = await exchange(
      fleet.config.proxy.port,
      'GET http://example.org/ HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n',
    );
    expect(denied.status).toBe(403);
    scraped = await scrapeAll();
  });

  afterAll(async () => {
    await Promise.all([fleet?.stop(), sidecar?.stop()]);
  });

  const section = prometheusAgentSection({
    namespace: 'EgressProxy/Test',
    logGroupName: 'metrics',
    scrapeConfigPath: SCRAPE_CONFIG_PATH,
  }) as {
    emf_processor: { metric_declaration: MetricDeclaration[]; metric_unit: Record<string, string> };
  };
  const declarations = section.emf_processor.metric_declaration;

  it('declares every exported metric, with a unit', () => {
    const selectors = declarations.flatMap((d) => d.metric_selectors);
    for (const metric of Object.values(EXPORTED_METRICS)) {
      expect(selectors).toContain(`^${metric.name}$`);
      expect(section.emf_processor.metric_unit[metric.name]).toBe(metric.unit);
    }
  });

  it.each(declarations.flatMap((d) => d.metric_selectors.map((selector) => [selector, d] as const)))(
    'selector %s matches real samples that carry every dimension label',
    (selector, declaration) => {
      const samples = selected(declaration, selector);
      expect(samples.length, `no ${selector} from ${declaration.label_matcher}`).toBeGreaterThan(0);
      for (const dimensions of declaration.dimensions) {
        for (const sample of samples) {
          for (const label of dimensions) {
            expect(sample.labels[label], `${sample.name} has no label ${label}`).toBeTruthy();
          }
        }
      }
    },
  );

  it('labels every sample with its instance and zone, and keeps summaries to their quantiles', () => {
    expect(new Set(scraped.map((s) => s.labels.instance_id))).toEqual(new Set(['i-0123456789abcdef0']));
    expect(new Set(scraped.map((s) => s.labels.availability_zone))).toEqual(new Set(['zone-a']));
    const quantiles = scraped
      .filter((s) => s.name === EXPORTED_METRICS.probeLatency.name)
      .map((s) => s.labels.quantile);
    expect(new Set(quantiles)).toEqual(new Set(['0.5', '0.99']));
  });
});
