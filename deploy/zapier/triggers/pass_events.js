'use strict';

const { apiUrl, eventShape, sampleEvent, eventOutputFields } = require('../lib');

// hookTrigger is one REST Hook trigger for one passhub event type.
// Subscribing stores a webhook subscription in passhub pointing at the
// Zap's URL; passhub then POSTs each event there (signed, retried).
const hookTrigger = ({ key, event, noun, label, description }) => ({
  key,
  noun,
  display: { label, description },
  operation: {
    type: 'hook',

    performSubscribe: async (z, bundle) => {
      const response = await z.request({
        url: apiUrl(bundle, '/v1/webhooks'),
        method: 'POST',
        body: { target_url: bundle.targetUrl, event },
      });
      // {id, ...}: the id is what performUnsubscribe deletes.
      return response.data;
    },

    performUnsubscribe: async (z, bundle) => {
      const id = bundle.subscribeData && bundle.subscribeData.id;
      if (!id) {
        return {};
      }
      const response = await z.request({
        url: apiUrl(bundle, `/v1/webhooks/${encodeURIComponent(id)}`),
        method: 'DELETE',
        skipThrowForStatus: true,
      });
      // Already gone (deleted in passhub, or a repeated unsubscribe) is done.
      if (response.status !== 404) {
        response.throwForStatus();
      }
      return {};
    },

    // The delivery's body is the event itself.
    perform: (z, bundle) => [eventShape(bundle.cleanedRequest)],

    // Recent events of this type, newest first, for samples and testing.
    performList: async (z, bundle) => {
      const response = await z.request({
        url: apiUrl(bundle, '/v1/events'),
        params: { type: event, limit: 25 },
      });
      return (response.data.data || []).map(eventShape);
    },

    sample: sampleEvent(event),
    outputFields: eventOutputFields,
  },
});

module.exports = {
  installed: hookTrigger({
    key: 'pass_installed',
    event: 'pass.installed',
    noun: 'Pass',
    label: 'Pass Installed',
    description: 'Triggers when a customer adds a pass to Apple Wallet or Google Wallet.',
  }),
  uninstalled: hookTrigger({
    key: 'pass_uninstalled',
    event: 'pass.uninstalled',
    noun: 'Pass',
    label: 'Pass Uninstalled',
    description: 'Triggers when a customer removes a pass from Apple Wallet or Google Wallet.',
  }),
  updated: hookTrigger({
    key: 'pass_updated',
    event: 'pass.updated',
    noun: 'Pass',
    label: 'Pass Updated',
    description: "Triggers when a pass's data changes (a new version is pushed to the wallets).",
  }),
  recordAdded: hookTrigger({
    key: 'pass_record_added',
    event: 'pass.record_added',
    noun: 'Pass',
    label: 'Pass Record Added',
    description: 'Triggers when a new pass is created for a customer.',
  }),
};
