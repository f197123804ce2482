// `sf project convert source` (the Salesforce CLI from @salesforce/cli) turns the SFDX project
// into a metadata package without errors, and the package's manifest lists every component of
// the source; the permission sets cover what each of Tandem's users needs. Run from
// salesforce/: node --test tests/
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const project = path.join(__dirname, '..');
const source = path.join(project, 'force-app', 'main', 'default');
const list = (dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);
const strip = (name, suffix) => name.slice(0, -suffix.length);

// Every component of the source tree, as "Type:Member".
function sourceComponents() {
    const out = new Set();
    const bySuffix = {
        classes: ['.cls', 'ApexClass'],
        customPermissions: ['.customPermission-meta.xml', 'CustomPermission'],
        externalCredentials: ['.externalCredential-meta.xml', 'ExternalCredential'],
        namedCredentials: ['.namedCredential-meta.xml', 'NamedCredential'],
        flexipages: ['.flexipage-meta.xml', 'FlexiPage'],
        permissionsets: ['.permissionset-meta.xml', 'PermissionSet'],
        quickActions: ['.quickAction-meta.xml', 'QuickAction'],
        staticresources: ['.resource-meta.xml', 'StaticResource']
    };
    for (const [dir, [suffix, type]] of Object.entries(bySuffix))
        for (const f of list(path.join(source, dir))) if (f.endsWith(suffix)) out.add(`${type}:${strip(f, suffix)}`);
    for (const bundle of list(path.join(source, 'lwc'))) out.add(`LightningComponentBundle:${bundle}`);
    for (const object of list(path.join(source, 'objects'))) {
        if (fs.existsSync(path.join(source, 'objects', object, `${object}.object-meta.xml`)))
            out.add(`CustomObject:${object}`);
        for (const f of list(path.join(source, 'objects', object, 'fields')))
            out.add(`CustomField:${object}.${strip(f, '.field-meta.xml')}`);
    }
    return out;
}

function manifestComponents(packageXml) {
    const out = new Set();
    for (const types of packageXml.match(/<types>[\s\S]*?<\/types>/g) || []) {
        const name = types.match(/<name>([^<]+)<\/name>/)[1];
        for (const m of types.matchAll(/<members>([^<]+)<\/members>/g)) out.add(`${name}:${m[1]}`);
    }
    return out;
}

let converted; // the output folder, made once
function convert() {
    if (converted) return converted;
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-sf-convert-'));
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tandem-sf-home-'));
    const cli = path.join(project, 'node_modules', '@salesforce', 'cli', 'bin', 'run.js');
    const stdout = execFileSync(
        process.execPath,
        [cli, 'project', 'convert', 'source', '--root-dir', 'force-app', '--output-dir', path.join(out, 'mdapi'), '--json'],
        {
            cwd: project,
            encoding: 'utf8',
            timeout: 240000,
            // No telemetry, update check or state in the user's home: the CLI works offline here.
            env: {
                ...process.env,
                HOME: home,
                SF_DISABLE_TELEMETRY: 'true',
                SF_AUTOUPDATE_DISABLE: 'true',
                SF_SKIP_NEW_VERSION_CHECK: 'true',
                SF_USE_PROGRESS_BAR: 'false'
            }
        }
    );
    const answer = JSON.parse(stdout);
    assert.strictEqual(answer.status, 0, stdout);
    converted = path.join(out, 'mdapi');
    return converted;
}

test('the project converts to a metadata package listing every component', () => {
    const dir = convert();
    const manifest = manifestComponents(fs.readFileSync(path.join(dir, 'package.xml'), 'utf8'));
    const expected = sourceComponents();
    assert.ok(expected.size > 90, `${expected.size} components in the source`);
    const missing = [...expected].filter((c) => !manifest.has(c));
    assert.deepStrictEqual(missing, [], 'in the source, not in the package');
    const extra = [...manifest].filter((c) => !expected.has(c));
    assert.deepStrictEqual(extra, [], 'in the package, not in the source');
    // The converted tree has the files themselves, not only their names.
    assert.ok(fs.existsSync(path.join(dir, 'classes', 'TandemClient.cls')));
    assert.ok(fs.existsSync(path.join(dir, 'lwc', 'tandemAccountPanel', 'tandemAccountPanel.js')));
    assert.ok(fs.existsSync(path.join(dir, 'staticresources', 'TandemApiContract.resource')));
    assert.ok(!fs.existsSync(path.join(dir, 'lwc', 'tandemAccountPanel', '__tests__')), 'tests are not deployed');
});

test('the manifest check would see a component missing', () => {
    const manifest = manifestComponents(
        '<Package><types><members>A</members><members>B</members><name>ApexClass</name></types></Package>'
    );
    assert.deepStrictEqual([...manifest], ['ApexClass:A', 'ApexClass:B']);
    assert.ok(!manifest.has('ApexClass:C'));
});

function permissionSet(name) {
    return fs.readFileSync(path.join(source, 'permissionsets', `${name}.permissionset-meta.xml`), 'utf8');
}
const fieldsOf = (xml, editable) =>
    new Set(
        [...xml.matchAll(/<fieldPermissions>\s*<editable>(\w+)<\/editable>\s*<field>([^<]+)<\/field>/g)]
            .filter((m) => !editable || m[1] === 'true')
            .map((m) => m[2])
    );
const classesOf = (xml) => new Set([...xml.matchAll(/<apexClass>([^<]+)<\/apexClass>/g)].map((m) => m[1]));
const allFields = () => [...sourceComponents()].filter((c) => c.startsWith('CustomField:')).map((c) => c.slice(12));
const appClasses = () =>
    list(path.join(source, 'classes'))
        .filter((f) => f.endsWith('.cls') && !/Test\.cls$|CalloutMock\.cls$/.test(f))
        .map((f) => strip(f, '.cls'));

test('the integration user may write every field Tandem keeps', () => {
    const editable = fieldsOf(permissionSet('Tandem_Integration'), true);
    assert.deepStrictEqual(allFields().filter((f) => !editable.has(f)), []);
});

test('a Tandem Admin runs every action; a Tandem User syncs, opens and compares', () => {
    const admin = permissionSet('Tandem_Admin');
    const user = permissionSet('Tandem_User');
    assert.deepStrictEqual(appClasses().filter((c) => !classesOf(admin).has(c)), []);
    assert.match(admin, /<name>Tandem_Admin_Actions<\/name>/);
    assert.doesNotMatch(user, /Tandem_Admin_Actions/);
    for (const c of ['TandemSyncAction', 'TandemOpenAction', 'TandemQueryAction', 'TandemAccountController'])
        assert.ok(classesOf(user).has(c), c);
    for (const c of ['TandemLinkAction', 'TandemUnlinkAction', 'TandemUpdateInvoicesAction', 'TandemWorkOrderAction'])
        assert.ok(!classesOf(user).has(c), `${c} is for admins`);
    for (const xml of [admin, user]) {
        assert.match(xml, /<externalCredentialPrincipal>Tandem-Tandem<\/externalCredentialPrincipal>/);
        const readable = fieldsOf(xml, false);
        for (const f of allFields().filter((x) => /^(Billing_Invoice__c|Billing_Payment__c|Service_Subscription__c|Account)\./.test(x)))
            assert.ok(readable.has(f), `${f} readable`);
    }
});

test('no secret is in the package: the token is entered in Setup', () => {
    const credential = fs.readFileSync(
        path.join(source, 'externalCredentials', 'Tandem.externalCredential-meta.xml'),
        'utf8'
    );
    assert.match(credential, /\$Credential\.Tandem\.Token/);
    assert.doesNotMatch(credential, /tdm_[A-Za-z0-9]/);
});
