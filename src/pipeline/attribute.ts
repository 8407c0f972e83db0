import type { IncomingHttpHeaders } from 'node:http';
import type { AttributionRules } from '../config/compile.ts';
import { denial } from '../errors.ts';
import type { CallIdentity } from '../identity/types.ts';
import { fail, ok, type Result } from '../result.ts';
import type { KeyRecord } from '../store/interface.ts';

export interface Attribution {
  identity: CallIdentity;
  requestId: string | null;
  sessionId: string | null;
}

const CONTEXT_VALUE = /^[A-Za-z0-9][A-Za-z0-9._:@/+-]{0,127}$/;

/** W3C Baggage members (key=value, comma separated, percent-encoded values). */
export function parseBaggage(header: string | string[] | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const text = Array.isArray(header) ? header.join(',') : header;
  // W3C Baggage limits: at most 8192 bytes and 180 list members; a header past them is dropped whole.
  if (!text || Buffer.byteLength(text) > 8192) return out;
  const members = text.split(',');
  if (members.length > 180) return out;
  for (const member of members) {
    const [pair] = member.split(';');
    const eq = pair?.indexOf('=') ?? -1;
    if (!pair || eq <= 0) continue;
    const key = pair.slice(0, eq).trim();
    try {
      out.set(key, decodeURIComponent(pair.slice(eq + 1).trim()));
    } catch {
      // A malformed percent-encoding drops that member only, as the W3C spec allows.
    }
  }
  return out;
}

/**
 * A feature must be on its project's allowlist when the project has one. An unknown feature is
 * billed under the `unattributed` label (so it stands out in the allocation) or refused.
 */
function allowedFeature(
  project: string,
  feature: string | null,
  rules: AttributionRules | null,
): Result<string | null> {
  if (feature === null || rules === null) return ok(feature);
  const allowed = rules.features.get(project);
  if (!allowed || allowed.has(feature)) return ok(feature);
  if (rules.unknownFeature === 'unattributed') return ok(rules.unattributedLabel);
  return fail(
    denial(
      'invalid_request',
      `feature '${feature}' is not one of project ${project}'s features (${[...allowed].join(', ')})`,
      { param: 'x-tollgate-feature' },
    ),
  );
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Who the call belongs to. Org, team, project, env and cost center come only from the key
 * record; request context (feature, request, session, end user) from x-tollgate-* headers,
 * W3C Baggage or the OpenAI `user` field, validated.
 */
export function attribute(
  key: KeyRecord,
  headers: IncomingHttpHeaders,
  body: Record<string, unknown>,
  rules: AttributionRules | null = null,
): Result<Attribution> {
  const baggage = parseBaggage(headers.baggage);
  const context = (name: string, headerName: string, baggageName: string): Result<string | null> => {
    const value = header(headers, headerName) ?? baggage.get(baggageName);
    if (value === undefined || value === '') return ok(null);
    if (!CONTEXT_VALUE.test(value)) {
      return fail(
        denial(
          'invalid_request',
          `${headerName} (${name}) must be 1-128 characters of A-Z a-z 0-9 . _ : @ / + -`,
          {
            param: headerName,
          },
        ),
      );
    }
    return ok(value);
  };
  const claimedFeature = context('feature', 'x-tollgate-feature', 'feature_id');
  if (!claimedFeature.ok) return claimedFeature;
  const feature = allowedFeature(key.project, claimedFeature.value, rules);
  if (!feature.ok) return feature;
  const requestId = context('request id', 'x-tollgate-request-id', 'request_id');
  if (!requestId.ok) return requestId;
  const sessionId = context('session id', 'x-tollgate-session-id', 'session_id');
  if (!sessionId.ok) return sessionId;
  let user: string | null = key.user;
  if (user === null) {
    const claimed =
      header(headers, 'x-tollgate-user') ?? (typeof body.user === 'string' ? body.user : undefined);
    if (claimed !== undefined && claimed !== '') {
      if (!CONTEXT_VALUE.test(claimed)) {
        return fail(
          denial('invalid_request', 'user must be 1-128 characters of A-Z a-z 0-9 . _ : @ / + -', {
            param: 'user',
          }),
        );
      }
      user = claimed;
    }
  }
  return ok({
    identity: {
      keyId: key.id,
      org: key.org,
      team: key.team,
      project: key.project,
      env: key.env,
      costCenter: key.costCenter,
      user,
      feature: feature.value,
      model: typeof body.model === 'string' ? body.model : '',
      provider: '',
    },
    requestId: requestId.value,
    sessionId: sessionId.value,
  });
}
