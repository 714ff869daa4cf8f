'use strict';

// passhub on Zapier: a Zapier Platform CLI app. See README.md for
// installing it (zapier push) and for checking it against a passhub.
const { version: platformVersion } = require('zapier-platform-core');
const { version } = require('./package.json');

const authentication = require('./authentication');
const { addAuth, explainProblems } = require('./lib');
const passEvents = require('./triggers/pass_events');
const templateList = require('./triggers/template_list');
const passUpsert = require('./creates/pass_upsert');
const passLifecycle = require('./creates/pass_lifecycle');

const triggers = [passEvents.installed, passEvents.uninstalled, passEvents.updated, passEvents.recordAdded, templateList];
const creates = [passUpsert, passLifecycle.expire, passLifecycle.void];

const byKey = (list) => Object.fromEntries(list.map((x) => [x.key, x]));

module.exports = {
  version,
  platformVersion,
  authentication,
  beforeRequest: [addAuth],
  afterResponse: [explainProblems],
  triggers: byKey(triggers),
  creates: byKey(creates),
};
