'use strict';

// The app definition against the schema of the pinned zapier-platform-core
// (what `zapier validate` checks locally), through the same handler the
// CLI and Zapier's runtime use.
const test = require('node:test');
const assert = require('node:assert/strict');
const core = require('zapier-platform-core');

const App = require('..');
const pkg = require('../package.json');

const validate = (app) =>
  new Promise((resolve, reject) => {
    core.createAppHandler(app)({ command: 'validate', platformVersion: core.version }, {}, (err, res) =>
      err ? reject(err) : resolve(res.results),
    );
  });

test('the installed zapier-platform-core is the pinned one', () => {
  assert.equal(core.version, pkg.dependencies['zapier-platform-core']);
  assert.equal(App.platformVersion, core.version);
});

test('the app definition validates against the schema', async () => {
  assert.deepEqual(await validate(App), []);
});

test('a broken definition does not (the validation can fail)', async () => {
  const broken = { ...App, triggers: { ...App.triggers, pass_installed: { ...App.triggers.pass_installed, noun: undefined, key: 'pass installed' } } };
  const errors = await validate(broken);
  assert.ok(errors.length > 0, 'expected schema errors');
});

test('every trigger and action has the expected key, label and sample', () => {
  assert.deepEqual(Object.keys(App.triggers).sort(), ['pass_installed', 'pass_record_added', 'pass_uninstalled', 'pass_updated', 'template_list']);
  assert.deepEqual(Object.keys(App.creates).sort(), ['pass_expire', 'pass_upsert', 'pass_void']);
  const hooks = { pass_installed: 'pass.installed', pass_uninstalled: 'pass.uninstalled', pass_updated: 'pass.updated', pass_record_added: 'pass.record_added' };
  for (const [key, event] of Object.entries(hooks)) {
    const op = App.triggers[key].operation;
    assert.equal(op.type, 'hook', key);
    assert.equal(op.sample.type, event, key);
    for (const fn of ['performSubscribe', 'performUnsubscribe', 'perform', 'performList']) {
      assert.equal(typeof op[fn], 'function', `${key}.${fn}`);
    }
  }
});
