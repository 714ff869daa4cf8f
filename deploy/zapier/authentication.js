'use strict';

const { apiUrl } = require('./lib');

// API key auth against a self-hosted passhub: the base URL is part of the
// connection. The test is GET /v1/me, which is one cheap lookup.
const test = async (z, bundle) => {
  const base = String(bundle.authData.baseUrl || '').trim();
  if (!/^https?:\/\/[^/]+/i.test(base)) {
    throw new z.errors.Error(
      'The passhub URL must start with https:// (or http://), e.g. https://passhub.example.com',
      'InvalidBaseUrl',
      400,
    );
  }
  const response = await z.request({ url: apiUrl(bundle, '/v1/me') });
  return response.data;
};

module.exports = {
  type: 'custom',
  fields: [
    {
      key: 'baseUrl',
      label: 'passhub URL',
      type: 'string',
      required: true,
      helpText: 'Where your passhub runs, e.g. `https://passhub.example.com` (PASSHUB_PUBLIC_URL).',
    },
    {
      key: 'apiKey',
      label: 'API key',
      type: 'password',
      required: true,
      helpText:
        'A passhub API key of the workspace. Triggers need role admin (they create webhook subscriptions); the actions need editor or admin.',
    },
  ],
  test,
  // Zapier calls it with the test's answer, {workspaceId, workspaceName,
  // role, keyId}, as bundle.inputData.
  connectionLabel: (z, bundle) => `${bundle.inputData.workspaceName} (${bundle.inputData.role})`,
};
