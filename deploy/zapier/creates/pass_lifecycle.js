'use strict';

const { apiUrl, passPath, samplePass, passOutputFields, templateAndExternalIdFields } = require('../lib');

// lifecycleAction moves a pass to a lifecycle with PATCH by external ID
// ({"lifecycle": …, "message": …}); the pass stays in the wallet, marked.
const lifecycleAction = ({ key, lifecycle, label, description }) => ({
  key,
  noun: 'Pass',
  display: { label, description },
  operation: {
    inputFields: [
      ...templateAndExternalIdFields,
      {
        key: 'message',
        label: 'Lock-screen message',
        required: false,
        helpText: 'Optional text shown with the change (Apple change message, Google message).',
      },
    ],
    perform: async (z, bundle) => {
      const body = { lifecycle };
      if (bundle.inputData.message) {
        body.message = bundle.inputData.message;
      }
      const response = await z.request({
        url: apiUrl(bundle, passPath(bundle)),
        method: 'PATCH',
        body,
      });
      return response.data;
    },
    sample: { ...samplePass, lifecycle },
    outputFields: passOutputFields,
  },
});

module.exports = {
  expire: lifecycleAction({
    key: 'pass_expire',
    lifecycle: 'expired',
    label: 'Expire Pass',
    description: 'Marks a pass expired (e.g. a used ticket or an ended membership).',
  }),
  void: lifecycleAction({
    key: 'pass_void',
    lifecycle: 'voided',
    label: 'Void Pass',
    description: 'Marks a pass voided (e.g. a refunded ticket or a revoked coupon).',
  }),
};
