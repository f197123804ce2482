// Stripe's own Node library against Tandem's Stripe sandbox: proof that the emulator speaks
// Stripe's wire format (form encoding, errors, idempotency, pagination, webhooks).
//   node stripe_peer_test.js TANDEM_BINARY        the checks; exits 1 on any mismatch
//   node stripe_peer_test.js --webhook-fixtures   prints webhook headers signed by stripe-node
//                                                 (JSON), for Tandem's verifier tests
'use strict';
const http = require('http');
const { spawn } = require('child_process');
const Stripe = require('stripe');

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

function webhookFixtures() {
  const stripe = Stripe('sk_test_unused');
  const secret = 'whsec_peer_fixture_secret';
  const now = Math.floor(Date.now() / 1000);
  const payload = JSON.stringify({
    id: 'evt_peer_1', object: 'event', type: 'invoice.paid', created: now,
    data: { object: { id: 'in_peer_1', object: 'invoice', customer: 'cus_peer_1', amount_paid: 4200 } },
  });
  const header = (timestamp, sec = secret) =>
    stripe.webhooks.generateTestHeaderString({ payload, secret: sec, timestamp });
  const cases = [
    { name: 'valid', payload, header: header(now), expect: 'ok' },
    { name: 'changed payload', payload: payload.replace('4200', '4300'), header: header(now), expect: 'rejected' },
    { name: 'wrong secret', payload, header: header(now, 'whsec_other'), expect: 'rejected' },
    { name: 'old timestamp', payload, header: header(now - 3600), expect: 'rejected' },
  ];
  console.log(JSON.stringify({ secret, now, cases }));
}

function startSandbox(binary) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['--log-level', 'warn', 'sandbox'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let buffered = '';
    child.stdout.on('data', (chunk) => {
      buffered += chunk.toString();
      const m = buffered.match(/billing (http:\/\/\S+)/);
      if (m) resolve({ child, url: m[1] });
    });
    child.on('exit', (code) => reject(new Error(`tandem sandbox exited with ${code}`)));
    setTimeout(() => reject(new Error('tandem sandbox did not start in 10 s')), 10000);
  });
}

async function expectError(promise, type, what) {
  try {
    await promise;
    check(false, `${what} (no error)`);
    return null;
  } catch (e) {
    check(e.type === type, `${what} → ${e.type} (${e.code || ''} ${e.message})`);
    return e;
  }
}

async function checks(url) {
  const u = new URL(url);
  const stripe = Stripe('sk_test_sandbox', {
    host: u.hostname, port: u.port, protocol: 'http', apiVersion: '2023-08-16', maxNetworkRetries: 2,
  });

  // Webhooks: a local endpoint receives the sandbox's deliveries; stripe-node verifies them.
  const received = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => { body += c; });
    req.on('end', () => {
      received.push({ body, signature: req.headers['stripe-signature'] });
      res.writeHead(200);
      res.end('{}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const endpoint = await stripe.webhookEndpoints.create({
    url: `http://127.0.0.1:${server.address().port}/hook`, enabled_events: ['customer.created', 'invoice.paid'],
  });
  check(endpoint.secret && endpoint.secret.startsWith('whsec_'), 'webhook endpoint created with a signing secret');

  const customer = await stripe.customers.create({ name: 'Peer Co', email: 'ap@peer.example', metadata: { crm_id: '001PEER' } });
  check(/^cus_/.test(customer.id) && customer.metadata.crm_id === '001PEER', 'customers.create with metadata');
  const updated = await stripe.customers.update(customer.id, { metadata: { tier: 'gold' } });
  check(updated.metadata.crm_id === '001PEER' && updated.metadata.tier === 'gold', 'customers.update merges metadata');
  const found = await stripe.customers.search({ query: "metadata['crm_id']:'001PEER'" });
  check(found.data.length === 1 && found.data[0].id === customer.id, 'customers.search by metadata');

  const k1 = await stripe.customers.create({ name: 'Idem' }, { idempotencyKey: 'peer-key-1' });
  const k2 = await stripe.customers.create({ name: 'Idem' }, { idempotencyKey: 'peer-key-1' });
  check(k1.id === k2.id, 'the same Idempotency-Key replays the same customer');
  await expectError(stripe.customers.create({ name: 'Other' }, { idempotencyKey: 'peer-key-1' }),
                    'StripeIdempotencyError', 'the same key with other parameters');
  const missing = await expectError(stripe.customers.retrieve('cus_missing'), 'StripeInvalidRequestError', 'retrieve a missing customer');
  check(missing && missing.code === 'resource_missing' && missing.statusCode === 404, 'missing customer: 404 resource_missing');
  await expectError(stripe.subscriptions.create({ customer: customer.id }), 'StripeInvalidRequestError', 'subscription without items');

  const product = await stripe.products.create({ name: 'Virtual Server', metadata: { tandem_kind: 'base' } });
  const price = await stripe.prices.create({ product: product.id, currency: 'usd', unit_amount: 5000, recurring: { interval: 'month' } });
  const addonProduct = await stripe.products.create({ name: 'Backup' });
  const addon = await stripe.prices.create({ product: addonProduct.id, currency: 'usd', unit_amount: 1000, recurring: { interval: 'month' } });
  check(price.recurring.interval === 'month' && price.unit_amount === 5000, 'products.create and prices.create');

  const sub = await stripe.subscriptions.create({
    customer: customer.id, items: [{ price: price.id, quantity: 2 }], metadata: { crm_order: '801PEER' },
  });
  check(sub.status === 'active' && sub.items.data[0].quantity === 2, 'subscriptions.create with nested items');
  const changed = await stripe.subscriptions.update(sub.id, { items: [{ id: sub.items.data[0].id, quantity: 3 }] });
  check(changed.items.data[0].quantity === 3, 'subscriptions.update changes an item quantity');
  const item = await stripe.subscriptionItems.create({ subscription: sub.id, price: addon.id, quantity: 1 });
  const item2 = await stripe.subscriptionItems.update(item.id, { quantity: 4 });
  check(item2.quantity === 4, 'subscriptionItems.create and update');
  const usage = await stripe.subscriptionItems.createUsageRecord(item.id, { quantity: 7, timestamp: Math.floor(Date.now() / 1000) });
  check(usage.object === 'usage_record' && usage.quantity === 7, 'usage record');
  const deleted = await stripe.subscriptionItems.del(item.id);
  check(deleted.deleted === true, 'subscriptionItems.del');
  const ii = await stripe.invoiceItems.create({ customer: customer.id, amount: 12345, currency: 'usd', description: 'Early termination fee' });
  check(/^ii_/.test(ii.id), 'invoiceItems.create');

  await fetch(`${url}/__sandbox/bill-run`, { method: 'POST', body: '{}' });
  const invoices = await stripe.invoices.list({ customer: customer.id }).autoPagingToArray({ limit: 100 });
  check(invoices.length === 2 && invoices.every((i) => i.status === 'paid'), `invoices.list: ${invoices.length} paid invoices`);
  // Its pending items: the fee and the prorations of the mid-period changes above.
  const pending = await stripe.invoiceItems.list({ customer: customer.id, limit: 100 });
  const itemsBilled = pending.data.filter((i) => i.invoice === invoices[0].id);
  const itemsTotal = itemsBilled.reduce((sum, i) => sum + i.amount, 0);
  check(itemsBilled.some((i) => i.amount === 12345) && invoices[0].amount_due === 3 * 5000 + itemsTotal,
        `the cycle invoice holds the items, the prorations and the fee (${invoices[0].amount_due})`);
  const charges = await stripe.charges.list({ customer: customer.id });
  check(charges.data.length === 2 && charges.data.every((c) => c.status === 'succeeded'), 'charges.list');

  const refund = await stripe.refunds.create({ charge: charges.data[0].id, amount: 1000, reason: 'requested_by_customer' });
  check(/^re_/.test(refund.id) && refund.amount === 1000 && refund.status === 'succeeded', 'refunds.create (partial)');
  const refundedCharge = await stripe.charges.retrieve(charges.data[0].id);
  check(refundedCharge.amount_refunded === 1000 && refundedCharge.refunded === false, 'the charge shows amount_refunded');
  const refunds = await stripe.refunds.list({ charge: refundedCharge.id });
  check(refunds.data.length === 1 && refunds.data[0].id === refund.id, 'refunds.list by charge');
  await expectError(stripe.refunds.create({ charge: refundedCharge.id, amount: 100000000 }),
                    'StripeInvalidRequestError', 'refunding more than is left');
  const creditNote = await stripe.creditNotes.create({ invoice: invoices[0].id, amount: 500, credit_amount: 500 });
  check(/^cn_/.test(creditNote.id) && creditNote.type === 'post_payment' && creditNote.status === 'issued',
        'creditNotes.create on a paid invoice');
  const creditNotes = await stripe.creditNotes.list({ invoice: invoices[0].id });
  check(creditNotes.data.length === 1 && creditNotes.data[0].id === creditNote.id, 'creditNotes.list by invoice');
  const credited = await stripe.invoices.retrieve(invoices[0].id);
  check(credited.post_payment_credit_notes_amount === 500, 'the invoice counts the credit note');

  for (let i = 0; i < 120; i++) await stripe.customers.create({ name: `Page ${i}` });
  let count = 0;
  for await (const c of stripe.customers.list({ limit: 50 })) if (c) count++;
  check(count === 122, `auto-pagination reads every customer (${count})`);

  const events = await stripe.events.list({ type: 'customer.created', limit: 100 });
  check(events.data.length === 100 && events.has_more === true, 'events.list with a type filter and has_more');

  const canceled = await stripe.subscriptions.cancel(sub.id);
  check(canceled.status === 'canceled', 'subscriptions.cancel');

  await fetch(`${url}/__sandbox/stats`);  // let deliveries run
  for (let i = 0; i < 50 && received.length < 3; i++) await new Promise((r) => setTimeout(r, 50));
  check(received.length >= 3, `webhooks delivered (${received.length})`);
  let verified = 0;
  for (const r of received) {
    try {
      const e = stripe.webhooks.constructEvent(r.body, r.signature, endpoint.secret);
      if (e.type === 'customer.created' || e.type === 'invoice.paid') verified++;
    } catch (e) {
      console.log(`  constructEvent: ${e.message}`);
    }
  }
  check(verified === received.length, 'stripe-node verifies every delivery signature');
  server.close();
}

(async () => {
  if (process.argv[2] === '--webhook-fixtures') {
    webhookFixtures();
    return;
  }
  const binary = process.argv[2];
  if (!binary) {
    console.error('usage: node stripe_peer_test.js TANDEM_BINARY | --webhook-fixtures');
    process.exit(2);
  }
  const { child, url } = await startSandbox(binary);
  try {
    await checks(url);
  } catch (e) {
    failed++;
    console.log(`FAIL ${e.stack || e}`);
  } finally {
    child.kill('SIGTERM');
  }
  console.log(`stripe peer: ${passed} passed, ${failed} failed`);
  process.exit(failed === 0 ? 0 : 1);
})();
