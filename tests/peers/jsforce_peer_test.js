// jsforce (Salesforce's most used JavaScript client) against Tandem's Salesforce sandbox:
// proof that the emulator speaks the real REST, Collections and Bulk API 2.0 wire formats.
//   node jsforce_peer_test.js TANDEM_BINARY            the checks; exits 1 on any mismatch
//   node jsforce_peer_test.js TANDEM_BINARY --bench [--latency MS]
//       20,000 Accounts by Collections and by Bulk 2.0: wall time, API calls, CPU, peak RSS;
//       every sandbox request waiting MS (real Salesforce: ~300)
'use strict';
const { spawn } = require('child_process');
const jsforce = require('jsforce');

const binary = process.argv[2];
const benchMode = process.argv.includes('--bench');
const latencyAt = process.argv.indexOf('--latency');
const latency = latencyAt > 0 ? process.argv[latencyAt + 1] : '0';
let passed = 0;
let failed = 0;

function check(ok, what) {
  if (ok) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}`);
  }
}

function startSandbox() {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--log-level', 'warn', 'sandbox', '--crm-port', '0',
                                 '--crm-latency', latency],
                        { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const m = buffered.match(/crm (http:\/\/\S+)/);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`tandem sandbox exited with ${code}`)));
    setTimeout(() => reject(new Error('tandem sandbox did not start in 10 s')), 10000);
  });
}

async function stats(url) {
  const res = await fetch(`${url}/__sandbox/stats`);
  return res.json();
}

async function connect(url) {
  const conn = new jsforce.Connection({
    oauth2: { clientId: 'tandem-sandbox', clientSecret: 'sandbox-secret', loginUrl: url },
    loginUrl: url,
    version: '61.0',
  });
  await conn.authorize({ grant_type: 'client_credentials' });
  return conn;
}

function accounts(prefix, n) {
  const out = [];
  for (let i = 0; i < n; i++) out.push({ Name: `${prefix} ${i}`, Ext__c: `${prefix}-${i}` });
  return out;
}

async function checks(url) {
  const conn = await connect(url);
  check(conn.accessToken && conn.instanceUrl === url, 'client_credentials grant gives a token and instance_url');

  // 5,000 Accounts through sObject Collections (jsforce splits by 200 with allowRecursive).
  const created = await conn.sobject('Account').create(accounts('Peer', 5000), { allowRecursive: true });
  check(created.length === 5000 && created.every((r) => r.success && /^001\w{15}$/.test(r.id)),
        'Collections create: 5,000 successes with 18-character ids');
  const before = await stats(url);
  check(before.by_endpoint['POST /composite/sobjects'] === 25, 'Collections create took 25 calls of 200');

  // Read them back through several pages of 2,000.
  const result = await conn.query("SELECT Id, Name FROM Account WHERE Name LIKE 'Peer %'")
                           .execute({ autoFetch: true, maxFetch: 100000 });
  const records = Array.isArray(result) ? result : result.records;
  check(records.length === 5000, `query with autoFetch returns all 5,000 records (got ${records.length})`);
  const ids = new Set(created.map((r) => r.id));
  check(records.every((r) => ids.has(r.Id)), 'every queried record is one that was created');
  const afterQuery = await stats(url);
  check((afterQuery.by_endpoint['GET /query/{locator}'] || 0) >= 2, 'the query went through nextRecordsUrl pages');

  // Per-record errors keep their place.
  const mixed = await conn.sobject('Account').create([{ Name: 'Good' }, { Phone: '555' }]);
  check(mixed[0].success && !mixed[1].success && mixed[1].errors[0].statusCode === 'REQUIRED_FIELD_MISSING',
        'a record without Name fails alone with REQUIRED_FIELD_MISSING');

  // Upsert by external id: created, then updated.
  const up = [{ Ext__c: 'UP-1', Name: 'U1' }, { Ext__c: 'UP-2', Name: 'U2' }];
  const first = await conn.sobject('Account').upsert(up, 'Ext__c');
  check(first.every((r) => r.success && r.created === true), 'upsert by Ext__c creates new records');
  const second = await conn.sobject('Account').upsert(up.map((r) => ({ ...r, Name: r.Name + '!' })), 'Ext__c');
  check(second.every((r) => r.success && r.created === false), 'upsert again updates them');
  const single = await conn.sobject('Account').upsert({ Ext__c: 'UP-3', Name: 'U3' }, 'Ext__c');
  check(single.success && single.created === true, 'single-record upsert by external id');
  const u1 = await conn.query("SELECT Name FROM Account WHERE Ext__c = 'UP-1'");
  check(u1.records.length === 1 && u1.records[0].Name === 'U1!', 'the upserted record holds the new value');

  // 20,000 rows with Bulk API 2.0.
  const bulk = await conn.bulk2.loadAndWaitForResults({
    object: 'Account', operation: 'insert', input: accounts('Bulk', 20000),
    pollInterval: 200, pollTimeout: 120000,
  });
  check(bulk.successfulResults.length === 20000, `bulk2 insert: 20,000 successful results (got ${bulk.successfulResults.length})`);
  check(bulk.failedResults.length === 0 && bulk.unprocessedRecords.length === 0, 'bulk2 insert: nothing failed or unprocessed');
  check(bulk.successfulResults.every((r) => /^001\w{15}$/.test(r.sf__Id) && r.sf__Created === 'true'),
        'bulk2 results carry sf__Id and sf__Created');
  const count = await conn.query("SELECT COUNT() FROM Account WHERE Name LIKE 'Bulk %'");
  check(count.totalSize === 20000, `COUNT() after bulk2 is 20,000 (got ${count.totalSize})`);

  const bulkUpsert = await conn.bulk2.loadAndWaitForResults({
    object: 'Account', operation: 'upsert', externalIdFieldName: 'Ext__c',
    input: [{ Ext__c: 'Bulk-0', Name: 'Bulk zero' }, { Ext__c: 'NEW-1', Name: 'New one' }, { Ext__c: 'NEW-2', Name: '#N/A' }],
    pollInterval: 200, pollTimeout: 60000,
  });
  check(bulkUpsert.successfulResults.length === 2 && bulkUpsert.failedResults.length === 1,
        'bulk2 upsert: two rows land, the one nulling Name fails');

  const final = await stats(url);
  check(final.records.Account === 5000 + 1 + 3 + 20000 + 1, `Account count is exact (${final.records.Account})`);

  // An expired session: jsforce refreshes with its refresh token and repeats the call.
  const refreshing = new jsforce.Connection({
    oauth2: { clientId: 'tandem-sandbox', clientSecret: 'sandbox-secret', loginUrl: url },
    instanceUrl: url, accessToken: 'EXPIRED', refreshToken: 'sandbox-refresh-token', version: '61.0',
  });
  const afterRefresh = await refreshing.query('SELECT Id FROM Account LIMIT 1');
  check(afterRefresh.records.length === 1 && refreshing.accessToken !== 'EXPIRED',
        '401 INVALID_SESSION_ID is refreshed with the refresh_token grant');
}

async function bench(url) {
  const conn = await connect(url);
  const runs = [
    ['collections', () => conn.sobject('Account').create(accounts('JsCol', 20000), { allowRecursive: true })],
    ['bulk2', () => conn.bulk2.loadAndWaitForResults({ object: 'Account', operation: 'insert',
                                                       input: accounts('JsBulk', 20000), pollInterval: 100, pollTimeout: 300000 })],
  ];
  for (const [name, run] of runs) {
    const before = await stats(url);
    const cpu0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    await run();
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu = process.cpuUsage(cpu0);
    const after = await stats(url);
    console.log(`jsforce ${name} (CRM ${latency} ms): 20000 accounts in ${wall.toFixed(2)} s, ` +
                `${after.api_calls - before.api_calls} API calls, client CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s`);
  }
  console.log(`jsforce client peak RSS: ${Math.round(process.resourceUsage().maxRSS / 1024)} MiB`);
}

(async () => {
  if (!binary) {
    console.error('usage: node jsforce_peer_test.js TANDEM_BINARY [--bench]');
    process.exit(2);
  }
  const { child, url } = await startSandbox();
  try {
    if (benchMode) await bench(url);
    else await checks(url);
  } catch (e) {
    failed++;
    console.log(`FAIL ${e.stack || e}`);
  } finally {
    child.kill('SIGTERM');
  }
  if (!benchMode) console.log(`jsforce peer: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
