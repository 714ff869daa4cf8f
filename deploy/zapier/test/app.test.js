'use strict';

// The app against a real passhub: PASSHUB_URL and PASSHUB_KEY (an admin
// key of a throwaway workspace) name it; check.sh starts one. Without
// them these tests are skipped, and say so.
const test = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const zapier = require('zapier-platform-core');

const App = require('..');

const baseUrl = process.env.PASSHUB_URL;
const apiKey = process.env.PASSHUB_KEY;
const skip = !baseUrl || !apiKey ? 'PASSHUB_URL and PASSHUB_KEY are not set (run deploy/zapier/check.sh)' : false;

const appTester = zapier.createAppTester(App);
const authData = { baseUrl: `${baseUrl}/`, apiKey }; // a trailing slash, as people paste it

// passhub is called directly (not through the app) to set the scene.
const api = async (method, path, body) => {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
};

test('against a running passhub', { skip }, async (t) => {
  const run = crypto.randomBytes(4).toString('hex');
  const tpl = await api('POST', '/v1/templates', {
    name: `Zapier loyalty ${run}`,
    style: 'storeCard',
    organizationName: 'Acme',
    fields: { primary: [{ key: 'points', label: 'Points' }] },
  });
  assert.equal(tpl.status, 201, JSON.stringify(tpl.body));
  const templateId = tpl.body.id;
  const externalId = `cust-${run}`;

  await t.test('the connection test answers the workspace, and the label names it', async () => {
    const me = await appTester(App.authentication.test, { authData });
    assert.equal(me.workspaceName, 'default');
    assert.equal(me.role, 'admin');
    const label = await appTester(App.authentication.connectionLabel, { authData, inputData: me });
    assert.equal(label, 'default (admin)');
  });

  await t.test('a wrong key fails the connection test with passhub\'s reason', async () => {
    await assert.rejects(appTester(App.authentication.test, { authData: { ...authData, apiKey: 'wrong-key-0123456789abc' } }), /passhub refused the API key/);
  });

  await t.test('a base URL that is not http(s) is refused before any request', async () => {
    await assert.rejects(appTester(App.authentication.test, { authData: { ...authData, baseUrl: 'passhub.example.com' } }), /must start with https:\/\//);
  });

  await t.test('the template dropdown lists the template', async () => {
    const templates = await appTester(App.triggers.template_list.operation.perform, { authData, meta: { page: 0 } });
    assert.ok(templates.some((x) => x.id === templateId && x.name === `Zapier loyalty ${run}`), JSON.stringify(templates));
  });

  await t.test('create or update: created first, then its data replaced', async () => {
    const perform = App.creates.pass_upsert.operation.perform;
    const created = await appTester(perform, { authData, inputData: { templateId, externalId, data: { points: '120', tier: 'gold', zip: '01234' } } });
    assert.equal(created.created, true);
    assert.equal(created.externalId, externalId);
    assert.deepEqual(created.data, { points: 120, tier: 'gold', zip: '01234' });
    assert.equal(created.lifecycle, 'active');
    const updated = await appTester(perform, { authData, inputData: { templateId, externalId, data: { points: '130' }, numbers: false } });
    assert.equal(updated.created, false);
    assert.equal(updated.id, created.id);
    assert.deepEqual(updated.data, { points: '130' });
    assert.ok(updated.version > created.version);
  });

  await t.test('an unknown template is passhub\'s 404, explained', async () => {
    await assert.rejects(
      appTester(App.creates.pass_upsert.operation.perform, { authData, inputData: { templateId: 'tpl_nope', externalId, data: {} } }),
      /passhub: no such resource/,
    );
  });

  await t.test('expire and void set the lifecycle', async () => {
    const expired = await appTester(App.creates.pass_expire.operation.perform, { authData, inputData: { templateId, externalId, message: 'Thanks for coming' } });
    assert.equal(expired.lifecycle, 'expired');
    const other = `${externalId}-b`;
    await appTester(App.creates.pass_upsert.operation.perform, { authData, inputData: { templateId, externalId: other, data: {} } });
    const voided = await appTester(App.creates.pass_void.operation.perform, { authData, inputData: { templateId, externalId: other } });
    assert.equal(voided.lifecycle, 'voided');
  });

  let recordAdded;
  await t.test('polling lists events of the trigger\'s type with stable ids, in the sample\'s shape', async () => {
    const op = App.triggers.pass_record_added.operation;
    const first = await appTester(op.performList, { authData });
    const again = await appTester(op.performList, { authData });
    const mine = first.filter((e) => e.data.templateId === templateId);
    assert.equal(mine.length, 2, JSON.stringify(first));
    assert.ok(first.every((e) => e.type === 'pass.record_added'));
    assert.equal(new Set(first.map((e) => e.id)).size, first.length, 'ids are unique');
    assert.deepEqual(again.map((e) => e.id), first.map((e) => e.id), 'ids are stable');
    assert.deepEqual(Object.keys(mine[0]).sort(), Object.keys(op.sample).sort());
    for (const key of ['passId', 'externalId', 'templateId', 'lifecycle', 'version', 'walletStatus', 'fields']) {
      assert.ok(key in mine[0].data, `data.${key}`);
    }
    recordAdded = mine.find((e) => e.data.externalId === externalId);
    assert.ok(recordAdded);
    const updates = await appTester(App.triggers.pass_updated.operation.performList, { authData });
    assert.ok(updates.some((e) => e.data.externalId === externalId), 'the data change is a pass.updated event');
  });

  await t.test('a hook delivery is returned as the event it carries', async () => {
    const out = await appTester(App.triggers.pass_record_added.operation.perform, { authData, cleanedRequest: recordAdded });
    assert.deepEqual(out, [recordAdded]);
  });

  await t.test('subscribe stores a webhook for the Zap\'s URL; unsubscribe deletes it', async (st) => {
    const probe = await api('GET', '/v1/webhooks');
    if (probe.status === 404 && /route-not-found$/.test(probe.body.type)) {
      st.skip('this passhub serves no /v1/webhooks (outbound webhooks not wired)');
      return;
    }
    assert.equal(probe.status, 200, JSON.stringify(probe.body));
    // A loopback stand-in for Zapier's hook URL: the check runs offline,
    // with PASSHUB_WEBHOOKS_ALLOW_PRIVATE (check.sh); no install happens,
    // so nothing is delivered to it.
    const targetUrl = `http://127.0.0.1:9/hooks/standard/1/${run}/`;
    const op = App.triggers.pass_installed.operation;
    const sub = await appTester(op.performSubscribe, { authData, targetUrl });
    assert.ok(sub.id, JSON.stringify(sub));
    const stored = await api('GET', `/v1/webhooks/${sub.id}`);
    assert.equal(stored.status, 200, JSON.stringify(stored.body));
    assert.equal(stored.body.url, targetUrl);
    assert.deepEqual(stored.body.events, ['pass.installed']);
    assert.deepEqual(await appTester(op.performUnsubscribe, { authData, subscribeData: sub }), {});
    assert.equal((await api('GET', `/v1/webhooks/${sub.id}`)).status, 404);
    // A second unsubscribe (Zapier retries) is not an error.
    assert.deepEqual(await appTester(op.performUnsubscribe, { authData, subscribeData: sub }), {});
  });
});
