'use strict';

// Shared by every trigger and action: where passhub is, how to call it,
// and what an event looks like to a Zap.

// baseUrl is the passhub the connection points at (self-hosted), without
// a trailing slash.
const baseUrl = (bundle) =>
  String((bundle.authData && bundle.authData.baseUrl) || '')
    .trim()
    .replace(/\/+$/, '');

const apiUrl = (bundle, path) => `${baseUrl(bundle)}${path}`;

// Every request carries the API key as a bearer token and asks for JSON.
const addAuth = (request, z, bundle) => {
  request.headers = request.headers || {};
  if (bundle.authData && bundle.authData.apiKey) {
    request.headers.Authorization = `Bearer ${bundle.authData.apiKey}`;
  }
  request.headers.Accept = 'application/json';
  return request;
};

// passhub answers errors as RFC 9457 problem documents (title, detail,
// field); show the detail rather than a bare status.
const explainProblems = (response, z) => {
  if (response.status < 400 || response.skipThrowForStatus) {
    return response;
  }
  let problem = {};
  try {
    problem = JSON.parse(response.content || '{}') || {};
  } catch (e) {
    problem = {};
  }
  const what = problem.detail || problem.title || `HTTP ${response.status}`;
  const where = problem.field ? ` (field ${problem.field})` : '';
  if (response.status === 401) {
    throw new z.errors.Error(
      `passhub refused the API key: ${what}`,
      'AuthenticationError',
      response.status,
    );
  }
  throw new z.errors.Error(
    `passhub: ${what}${where}`,
    (problem.type || 'error').replace(/^urn:passhub:problem:/, ''),
    response.status,
  );
};

// eventShape is an event as a Zap sees it: exactly what GET /v1/events
// lists and what a webhook delivery carries. id is the event ID, the
// same on every delivery, so Zapier deduplicates on it.
const eventShape = (e) => ({
  id: e.id,
  type: e.type,
  occurredAt: e.occurredAt,
  workspaceId: e.workspaceId,
  data: e.data || {},
});

const sampleEvent = (type) => ({
  id: 'evt_06h0kkmkb6yvcqnk999mht95xg',
  type,
  occurredAt: '2026-11-23T10:00:00.123456Z',
  workspaceId: 'ws_06h0kkmkb2t19dbp0eh5exbtar',
  data: {
    passId: 'pas_06h0kkmkb2t19dbp0eh5exbtb0',
    externalId: 'cust-1042',
    templateId: 'tpl_06h0kkmkb2t19dbp0eh5exbta0',
    platform: 'apple',
    lifecycle: 'active',
    version: 3,
    walletStatus: 'apple',
    appleWalletInstalledAt: '2026-11-23T10:00:00.123456Z',
    googleWalletInstalledAt: null,
    walletLastChangedAt: '2026-11-23T10:00:00.123456Z',
    walletLastEvent: 'pass.installed',
    fields: { points: 120, tier: 'gold' },
  },
});

const eventOutputFields = [
  { key: 'id', label: 'Event ID' },
  { key: 'type', label: 'Event type' },
  { key: 'occurredAt', label: 'Occurred at', type: 'datetime' },
  { key: 'data__passId', label: 'Pass ID' },
  { key: 'data__externalId', label: 'External ID' },
  { key: 'data__templateId', label: 'Template ID' },
  { key: 'data__platform', label: 'Platform (apple or google)' },
  { key: 'data__lifecycle', label: 'Lifecycle' },
  { key: 'data__version', label: 'Version', type: 'integer' },
  { key: 'data__walletStatus', label: 'Wallet status (none, apple, google, both)' },
  { key: 'data__appleWalletInstalledAt', label: 'Apple Wallet installed at', type: 'datetime' },
  { key: 'data__googleWalletInstalledAt', label: 'Google Wallet installed at', type: 'datetime' },
];

const samplePass = {
  id: 'pas_06h0kkmkb2t19dbp0eh5exbtb0',
  workspaceId: 'ws_06h0kkmkb2t19dbp0eh5exbtar',
  templateId: 'tpl_06h0kkmkb2t19dbp0eh5exbta0',
  externalId: 'cust-1042',
  data: { points: 120, tier: 'gold' },
  lifecycle: 'active',
  version: 3,
  walletStatus: 'apple',
  appleWalletInstalledAt: '2026-11-23T10:00:00.123456Z',
  googleWalletInstalledAt: null,
  walletLastChangedAt: '2026-11-23T10:00:00.123456Z',
  walletLastEvent: 'pass.installed',
  createdAt: '2026-11-20T08:00:00.123456Z',
  updatedAt: '2026-11-23T10:00:00.123456Z',
};

const passOutputFields = [
  { key: 'id', label: 'Pass ID' },
  { key: 'externalId', label: 'External ID' },
  { key: 'templateId', label: 'Template ID' },
  { key: 'lifecycle', label: 'Lifecycle' },
  { key: 'version', label: 'Version', type: 'integer' },
  { key: 'walletStatus', label: 'Wallet status' },
  { key: 'createdAt', label: 'Created at', type: 'datetime' },
  { key: 'updatedAt', label: 'Updated at', type: 'datetime' },
];

// passPath is the by-external-ID route of a pass.
const passPath = (bundle) =>
  `/v1/templates/${encodeURIComponent(bundle.inputData.templateId)}/passes/${encodeURIComponent(
    bundle.inputData.externalId,
  )}`;

const templateAndExternalIdFields = [
  {
    key: 'templateId',
    label: 'Template',
    required: true,
    dynamic: 'template_list.id.name',
    helpText: 'The pass template (its ID, tpl_…).',
  },
  {
    key: 'externalId',
    label: 'External ID',
    required: true,
    helpText: "Your system's ID for the customer or ticket; unique within the template, never changes.",
  },
];

module.exports = {
  baseUrl,
  apiUrl,
  addAuth,
  explainProblems,
  eventShape,
  sampleEvent,
  eventOutputFields,
  samplePass,
  passOutputFields,
  passPath,
  templateAndExternalIdFields,
};
