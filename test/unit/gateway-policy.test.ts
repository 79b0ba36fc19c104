import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/config/project-root.js';
import { loadUsageSettings } from '../../shared/config/settings.js';

/**
 * The gateway policy and the pipeline are two halves of one contract: metric names, namespace and dimension
 * names. This test reads the shipped policy as XML and the pipeline's defaults through the settings loader, so
 * renaming either side alone fails here.
 */

const POLICY_FILE = path.join(PROJECT_ROOT, 'infra/apim/claude-api-policy.xml');
const GATEWAY_DOC = path.join(PROJECT_ROOT, 'docs/gateway.md');

interface PolicyElement {
  readonly name: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly children: PolicyElement[];
  readonly text: string;
  /** Element names from the root down to the parent. */
  readonly ancestors: readonly string[];
  /** The condition attributes of every <when> around the element, outermost first. */
  readonly conditions: readonly string[];
}

type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

function toElements(nodes: OrderedNode[], ancestors: string[], conditions: string[]): PolicyElement[] {
  const elements: PolicyElement[] = [];
  for (const node of nodes) {
    const name = Object.keys(node).find((key) => key !== ':@');
    if (name === undefined || name === '#text' || name === '#comment') continue;
    const attributes = Object.fromEntries(Object.entries(node[':@'] ?? {}).map(([key, value]) => [key.replace(/^@_/, ''), String(value)]));
    const inner = node[name] as OrderedNode[];
    const nextConditions = name === 'when' ? [...conditions, attributes.condition ?? ''] : conditions;
    const text = inner
      .filter((child) => '#text' in child)
      .map((child) => String(child['#text']))
      .join('');
    elements.push({ name, attributes, text, ancestors, conditions, children: toElements(inner, [...ancestors, name], nextConditions) });
  }
  return elements;
}

function allElements(elements: readonly PolicyElement[]): PolicyElement[] {
  return elements.flatMap((element) => [element, ...allElements(element.children)]);
}

function readPolicy(): { xml: string; elements: PolicyElement[] } {
  const xml = readFileSync(POLICY_FILE, 'utf8');
  const parser = new XMLParser({ ignoreAttributes: false, preserveOrder: true, trimValues: true, parseAttributeValue: false, processEntities: true });
  const root = toElements(parser.parse(xml) as OrderedNode[], [], []);
  return { xml, elements: allElements(root) };
}

function appInsightsDefaults(extra: Record<string, string> = {}) {
  const settings = loadUsageSettings(
    { USAGE_SOURCE: 'app-insights', APPINSIGHTS_RESOURCE_ID: '/subscriptions/s/resourceGroups/g/providers/Microsoft.Insights/components/c', ...extra },
    { projectRoot: PROJECT_ROOT },
  );
  if (settings.usage.kind !== 'app-insights') throw new Error('expected the app-insights usage source');
  return { mapping: settings.metricMapping, namespace: settings.usage.query.metricNamespace };
}

/** The METRIC_TOKEN_KINDS value docs/gateway.md tells operators to set when the policy emits cache metrics. */
function documentedTokenKinds(): string {
  const doc = readFileSync(GATEWAY_DOC, 'utf8');
  const match = /^METRIC_TOKEN_KINDS=(.+)$/m.exec(doc);
  if (match === null) throw new Error('docs/gateway.md has no METRIC_TOKEN_KINDS=... line');
  return match[1]!.trim();
}

describe('the gateway policy (infra/apim/claude-api-policy.xml)', () => {
  it('is well-formed XML with the four policy sections', () => {
    const { xml, elements } = readPolicy();
    expect(XMLValidator.validate(xml)).toBe(true);
    const sections = elements.filter((e) => e.ancestors.length === 1 && e.ancestors[0] === 'policies').map((e) => e.name);
    expect(sections).toEqual(['inbound', 'backend', 'outbound', 'on-error']);
  });

  it('emits the token metrics in the namespace and with the dimension names the pipeline reads by default', () => {
    const { elements } = readPolicy();
    const { mapping, namespace } = appInsightsDefaults();
    const tokenMetrics = elements.filter((e) => e.name === 'llm-emit-token-metric');
    expect(tokenMetrics).toHaveLength(1);
    const [emit] = tokenMetrics;
    expect(emit!.ancestors).toContain('inbound');
    expect(emit!.attributes.namespace).toBe(namespace);
    const dimensions = emit!.children.filter((c) => c.name === 'dimension').map((c) => c.attributes.name);
    expect(dimensions).toEqual([mapping.dimensions.userId, mapping.dimensions.model, mapping.dimensions.tier]);
    // APIM allows 5 custom dimensions on this policy (the other 5 of Azure Monitor's 10 are its own).
    expect(dimensions.length).toBeLessThanOrEqual(5);
    // The policy's three fixed metrics are exactly what the default mapping prices, totals and counts.
    const read = new Set([...Object.keys(mapping.tokenKinds), mapping.totalTokensMetric, mapping.requestCountMetric]);
    expect([...read].sort()).toEqual(['Completion Tokens', 'Prompt Tokens', 'Total Tokens']);
  });

  it('meters only POST .../v1/messages: the metric sits under the metered condition, which count_tokens fails', () => {
    const { elements } = readPolicy();
    const [emit] = elements.filter((e) => e.name === 'llm-emit-token-metric');
    expect(emit!.conditions.join(' ')).toContain('context.Variables["chargeback-metered"]');
    const metered = elements.find((e) => e.name === 'set-variable' && e.attributes.name === 'chargeback-metered');
    const expression = metered!.attributes.value!;
    expect(expression).toContain('context.Request.Method == "POST"');
    expect(expression).toContain('.EndsWith("/v1/messages"');
    // EndsWith("/v1/messages") is false for ".../v1/messages/count_tokens": the path test itself, in JS terms.
    const endsWithMessages = (p: string) => p.replace(/\/+$/, '').toLowerCase().endsWith('/v1/messages');
    expect(endsWithMessages('/anthropic/v1/messages')).toBe(true);
    expect(endsWithMessages('/anthropic/v1/messages/count_tokens')).toBe(false);
    // Every cache metric is metered under the same condition.
    for (const cache of elements.filter((e) => e.name === 'emit-metric')) {
      expect(cache.conditions[0]).toContain('context.Variables["chargeback-metered"]');
      expect(cache.ancestors).toContain('outbound');
    }
  });

  it('takes UserId from oid, Tier from the app roles with Premium first, Model from the request body', () => {
    const { elements } = readPolicy();
    const variable = (name: string) => elements.find((e) => e.name === 'set-variable' && e.attributes.name === name)!.attributes.value!;
    expect(variable('chargeback-user-id')).toContain('GetValueOrDefault("oid"');
    const tier = variable('chargeback-tier');
    expect(tier.indexOf('Claude.Premium')).toBeGreaterThan(-1);
    expect(tier.indexOf('Claude.Premium')).toBeLessThan(tier.indexOf('Claude.Standard'));
    expect(variable('chargeback-model')).toContain('["model"]');
    expect(variable('chargeback-model')).toContain('preserveContent: true');
    const [emit] = elements.filter((e) => e.name === 'llm-emit-token-metric');
    const values = Object.fromEntries(emit!.children.map((c) => [c.attributes.name, c.attributes.value]));
    expect(values).toEqual({
      UserId: '@((string)context.Variables["chargeback-user-id"])',
      Model: '@((string)context.Variables["chargeback-model"])',
      Tier: '@((string)context.Variables["chargeback-tier"])',
    });
  });

  it('validates the Entra token against tenant and audience named values, before anything is metered', () => {
    const { elements } = readPolicy();
    const inbound = elements.find((e) => e.name === 'inbound')!;
    const order = inbound.children.map((c) => c.name);
    expect(order.indexOf('validate-azure-ad-token')).toBeGreaterThan(-1);
    expect(order.indexOf('validate-azure-ad-token')).toBeLessThan(order.indexOf('choose'));
    const validate = inbound.children.find((c) => c.name === 'validate-azure-ad-token')!;
    expect(validate.attributes['tenant-id']).toBe('{{chargeback-tenant-id}}');
    expect(allElements(validate.children).filter((e) => e.name === 'audience').map((e) => e.text)).toEqual(['{{chargeback-gateway-audience}}']);
    const roles = allElements(validate.children).filter((e) => e.name === 'value').map((e) => e.text);
    expect(roles.sort()).toEqual(['Claude.Premium', 'Claude.Standard']);
  });

  it("emits cache metrics that docs/gateway.md's METRIC_TOKEN_KINDS maps to the cache token kinds, with the same dimensions", () => {
    const { elements } = readPolicy();
    const { mapping, namespace } = appInsightsDefaults({ METRIC_TOKEN_KINDS: documentedTokenKinds() });
    const cacheMetrics = elements.filter((e) => e.name === 'emit-metric');
    const kinds = Object.fromEntries(cacheMetrics.map((e) => [e.attributes.name, mapping.tokenKinds[e.attributes.name!]]));
    expect(kinds).toEqual({ 'Cache Read Tokens': 'cacheRead', 'Cache Write 5m Tokens': 'cacheWrite5m', 'Cache Write 1h Tokens': 'cacheWrite1h' });
    // The documented value keeps the two fixed kinds too.
    expect(mapping.tokenKinds['Prompt Tokens']).toBe('input');
    expect(mapping.tokenKinds['Completion Tokens']).toBe('output');
    for (const metric of cacheMetrics) {
      expect(metric.attributes.namespace).toBe(namespace);
      expect(metric.children.map((c) => c.attributes.name)).toEqual([mapping.dimensions.userId, mapping.dimensions.model, mapping.dimensions.tier]);
    }
  });

  it('needs exactly the named values the Bicep module creates', () => {
    const { xml } = readPolicy();
    const used = [...new Set([...xml.matchAll(/\{\{([A-Za-z0-9._-]+)\}\}/g)].map((m) => m[1]))].sort();
    expect(used).toEqual(['chargeback-blocked-oids', 'chargeback-gateway-audience', 'chargeback-tenant-id', 'foundry-api-key']);
    const bicep = readFileSync(path.join(PROJECT_ROOT, 'infra/apim/apim-chargeback.bicep'), 'utf8');
    for (const name of used) expect(bicep).toContain(`'${name}'`);
  });
});
