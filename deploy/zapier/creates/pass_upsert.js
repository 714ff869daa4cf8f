'use strict';

const { apiUrl, passPath, samplePass, passOutputFields, templateAndExternalIdFields } = require('../lib');

// Zapier's key-value fields are strings; a pass's points should be a
// number. Only plain decimals are converted (no leading zeros, at most 15
// digits), so "01234" (a postcode) and long IDs stay strings.
const NUMBER = /^-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?$/;

const dataOf = (bundle) => {
  const data = {};
  const parse = bundle.inputData.numbers !== false && bundle.inputData.numbers !== 'false';
  for (const [key, value] of Object.entries(bundle.inputData.data || {})) {
    data[key] = parse && typeof value === 'string' && NUMBER.test(value) ? Number(value) : value;
  }
  return data;
};

// PUT by external ID: creates the pass (201) or replaces its data (200);
// either way the wallets that hold it are updated.
const perform = async (z, bundle) => {
  const response = await z.request({
    url: apiUrl(bundle, passPath(bundle)),
    method: 'PUT',
    body: { data: dataOf(bundle) },
  });
  return { ...response.data, created: response.status === 201 };
};

module.exports = {
  key: 'pass_upsert',
  noun: 'Pass',
  display: {
    label: 'Create or Update Pass',
    description:
      "Creates a customer's wallet pass, or replaces its data if the customer already has one; installed passes update on the phone.",
  },
  operation: {
    inputFields: [
      ...templateAndExternalIdFields,
      {
        key: 'data',
        label: 'Data',
        dict: true,
        required: false,
        helpText:
          "The pass's fields, e.g. `points` → `120`, `tier` → `gold`. Replaces all of the pass's data: send every field.",
      },
      {
        key: 'numbers',
        label: 'Send numbers as numbers',
        type: 'boolean',
        default: 'true',
        required: false,
        helpText: 'Yes: values like `120` or `12.5` are sent as numbers. No: every value is sent as text.',
      },
    ],
    perform,
    sample: { ...samplePass, created: false },
    outputFields: [...passOutputFields, { key: 'created', label: 'Created (not updated)', type: 'boolean' }],
  },
};
